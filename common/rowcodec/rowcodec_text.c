/*
 * rowcodec_text.c - byte-level helpers shared by the rowcodec encoder,
 * JSON parser and decoder: the growable output buffer, strict UTF-8
 * validation, base64 and lowercase hex.
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

/* ---- text helpers: UTF-8, base64, hex ---------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates or > U+10FFFF), as PostgreSQL. */
bool rowcodec_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) { i++; continue; }
		if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; }
		else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; }
		else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; }
		else return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

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
