/*
 * rowcodec_internal.h - declarations shared by the rowcodec_*.c files only
 * (not part of the public API in rowcodec.h; include nowhere else).
 *
 *   rowcodec_text.c    output buffer, UTF-8, base64, hex
 *   rowcodec_enc.c     bson_t -> JSON text          (rowcodec_to_json)
 *   rowcodec_json.c    strict JSON text -> jnode tree
 *   rowcodec_dec.c     jnode tree -> bson_t         (rowcodec_from_json)
 *
 * The hooked variants at the end are for rowstore_*.c (mapped tables), the
 * one other user of this header: a mapped table's `extras` column is the
 * rowcodec encoding of the document with every value that lives in a typed
 * column replaced by a marker {"~t":"c","c":NAME,"y":TYPE[,"st":SUBTYPE]}
 * (docs/storage.md, "Mapped tables").  Without hooks a marker is refused.
 *
 * Invariants: every function here that reads input is bounds-checked by
 * the lengths it is given; the jnode tree owns all its memory and is freed
 * with rowcodec_jnode_free.
 */
#ifndef TANDEM_ROWCODEC_INTERNAL_H
#define TANDEM_ROWCODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "rowcodec.h"

#define ERR(e, code, ...) \
	bson_set_error((e), ROWCODEC_ERROR_DOMAIN, (code), __VA_ARGS__)

/* ---- growable output buffer, text codecs (rowcodec_text.c) ------------ */

struct strbuf {
	char *p;
	size_t len, cap;
};

/* Append n bytes (grows with bson_realloc; p stays NUL-terminated). */
void rowcodec_sb_put(struct strbuf *sb, const void *s, size_t n);

/* Strict UTF-8 (no overlongs, surrogates or > U+10FFFF), as PostgreSQL. */
bool rowcodec_utf8_valid(const uint8_t *s, size_t n);

/* Padded base64 of d[0..n) appended to sb. */
void rowcodec_sb_base64(struct strbuf *sb, const uint8_t *d, size_t n);

/* Strict base64 (padded, canonical). out must hold n/4*3 bytes. */
bool rowcodec_base64_decode(const char *s, size_t n, uint8_t *out, size_t *olen);

/* Lowercase hex of d[0..n) appended to sb. */
void rowcodec_sb_hex(struct strbuf *sb, const uint8_t *d, size_t n);

/* Exactly 2 * want lowercase hex digits into out[0..want). */
bool rowcodec_hex_decode(const char *s, size_t n, uint8_t *out, size_t want);

/* ---- parsed JSON tree (rowcodec_json.c) -------------------------------- */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jmember;

struct jnode {
	enum jtype t;
	size_t n;		/* string bytes, number chars, items, members */
	char *s;		/* J_STR: decoded bytes (NUL-terminated); J_NUM: token */
	struct jnode *items;	/* J_ARR */
	struct jmember *mem;	/* J_OBJ */
};

struct jmember {
	char *key;
	size_t klen;
	struct jnode val;
};

/* Free everything n owns and zero it (n itself is not freed). */
void rowcodec_jnode_free(struct jnode *n);

/* Parse json[0..len) as one JSON value with nothing but whitespace after
 * it, nesting at most ROWCODEC_MAX_JSON_DEPTH. *root must be zeroed; it is
 * filled (possibly partly, on failure) and must be freed with
 * rowcodec_jnode_free either way. Errors are ROWCODEC_ERR_SYNTAX. */
bool rowcodec_json_parse(const char *json, size_t len, struct jnode *root,
			 bson_error_t *err) __attribute__((warn_unused_result));

/* ---- hooks for mapped tables (rowstore_*.c) ----------------------------- */

struct rowcodec_hooks {
	/* Encoder: the marker JSON text to write in place of the element `it`
	 * points at (identified by bson_iter_key(it)'s address inside the
	 * document being encoded), or NULL to encode the value normally. */
	const char *(*enc_marker)(void *ctx, const bson_iter_t *it);
	/* Decoder: append the value a marker stands for under key.  c is the
	 * marker's "c", y its "y", st its "st" (-1 when absent).  Sets err
	 * and returns false when the row cannot give the value. */
	bool (*dec_marker)(void *ctx, const char *c, int64_t y, int64_t st,
			   bson_t *out, const char *key, size_t klen,
			   bson_error_t *err);
	void *ctx;
};

/* rowcodec_to_json / rowcodec_from_json with marker hooks (h may be NULL). */
bool rowcodec_to_json_hooked(const bson_t *doc, const struct rowcodec_hooks *h,
			     char **json, size_t *len, bson_error_t *err)
	__attribute__((warn_unused_result));
bool rowcodec_from_json_hooked(const char *json, size_t len,
			       const struct rowcodec_hooks *h, bson_t *out,
			       bson_error_t *err) __attribute__((warn_unused_result));

/* One value (not a document) as rowcodec JSON, e.g. for a jsonb column or
 * legacy_id: the same text the value would have inside a document.  *json
 * is bson_malloc'd. */
bool rowcodec_value_to_json(const bson_iter_t *it, char **json, size_t *len,
			    bson_error_t *err) __attribute__((warn_unused_result));

/* Inverse: parse json (untrusted) and append the value under key. */
bool rowcodec_value_from_json(const char *json, size_t len, bson_t *out,
			      const char *key, size_t klen, bson_error_t *err)
	__attribute__((warn_unused_result));

#endif
