/*
 * rowcodec_text.c - byte-level helpers shared by the rowcodec encoder,
 * JSON parser and decoder: the growable output buffer, base64 and
 * lowercase hex.  (Strict UTF-8 validation is utf8_valid, common/runtime.)
 *
 * Invariants: rowcodec_sb_put keeps sb->p NUL-terminated after every call
 * (so a finished buffer is a C string); the decoders are strict (canonical
 * padded base64, lowercase hex of an exact length) so that every accepted
 * text maps back to exactly one byte string; no function reads past n.
 */
#include "rowcodec_internal.h"

#include <string.h>

/* ---- growable output buffer ------------------------------------------ */

void rowcodec_sb_put(struct strbuf *sb, const void *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		while (cap < sb->len + n + 1)
			cap *= 2;
		sb->p = bson_realloc(sb->p, cap);
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

/* ---- text helpers: base64, hex (UTF-8: common/runtime/utf8.h) ---------- */

static const char b64_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void rowcodec_sb_base64(struct strbuf *sb, const uint8_t *d, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;
		if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n) v |= d[i + 2];
		q[0] = b64_alpha[(v >> 18) & 63];
		q[1] = b64_alpha[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64_alpha[v & 63] : '=';
		rowcodec_sb_put(sb, q, 4);
	}
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_alpha, c) : NULL;
	return p ? (int)(p - b64_alpha) : -1;
}

/* Strict base64 (padded, canonical). out must hold n/4*3 bytes. */
bool rowcodec_base64_decode(const char *s, size_t n, uint8_t *out, size_t *olen)
{
	size_t o = 0;

	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
		int v[4];
		if (pad && !last)
			return false;
		for (int j = 0; j < 4 - pad; j++)
			if ((v[j] = b64_val(s[i + j])) < 0)
				return false;
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
		if (pad < 2) w |= (uint32_t)v[2] << 6;
		if (pad < 1) w |= (uint32_t)v[3];
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return false; /* non-canonical trailing bits */
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2) out[o++] = (uint8_t)(w >> 8);
		if (pad < 1) out[o++] = (uint8_t)w;
	}
	*olen = o;
	return true;
}

void rowcodec_sb_hex(struct strbuf *sb, const uint8_t *d, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char two[2] = { hx[d[i] >> 4], hx[d[i] & 15] };
		rowcodec_sb_put(sb, two, 2);
	}
}

bool rowcodec_hex_decode(const char *s, size_t n, uint8_t *out, size_t want)
{
	if (n != 2 * want)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0'
		      : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return false;
		out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : (v << 4));
	}
	return true;
}
