/*
 * rowcodec_text.h - the text helpers of the codec that the row store uses
 * too: a growable output buffer, base64 and hex (rowcodec_text.c).  Every
 * decoder is bounds-checked by the length given.  Strict UTF-8 (as
 * PostgreSQL) is utf8_valid in common/runtime/utf8.h.
 */
#ifndef TANDEM_ROWCODEC_TEXT_H
#define TANDEM_ROWCODEC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *p;
	size_t len, cap;
};

/* Append n bytes (grows with bson_realloc; p stays NUL-terminated). */
void rowcodec_sb_put(struct strbuf *sb, const void *s, size_t n);

/* Padded base64 of d[0..n) appended to sb. */
void rowcodec_sb_base64(struct strbuf *sb, const uint8_t *d, size_t n);

/* Strict base64 (padded, canonical). out must hold n/4*3 bytes. */
bool rowcodec_base64_decode(const char *s, size_t n, uint8_t *out, size_t *olen);

/* Lowercase hex of d[0..n) appended to sb. */
void rowcodec_sb_hex(struct strbuf *sb, const uint8_t *d, size_t n);

/* Exactly 2 * want lowercase hex digits into out[0..want). */
bool rowcodec_hex_decode(const char *s, size_t n, uint8_t *out, size_t want);

#endif
