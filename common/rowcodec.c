/*
 * rowcodec.c - BSON <-> jsonb text, lossless (format: docs/storage.md).
 *
 *   encode:  bson_t --enc_doc/enc_value--> strbuf (JSON text)
 *   decode:  text --jp_value (strict parser)--> jnode tree
 *                 --dec_doc/dec_value--> bson_t
 *
 * The decoder reads what PostgreSQL returns but trusts none of it: the parser
 * is bounds-checked and depth-limited, and every shape check names the
 * problem. Types libbson's append helpers would normalise (regex options are
 * sorted, code is strlen'd) are written as raw elements so bytes survive.
 * Sections: buffer, text helpers, encoder, parser, decoder, entry points.
 */
#include "rowcodec.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR(e, code, ...) \
	bson_set_error((e), ROWCODEC_ERROR_DOMAIN, (code), __VA_ARGS__)

/* ---- growable output buffer ------------------------------------------ */

struct strbuf {
	char *p;
	size_t len, cap;
};

static void sb_put(struct strbuf *sb, const void *s, size_t n)
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

static void sb_str(struct strbuf *sb, const char *s)
{
	sb_put(sb, s, strlen(s));
}

static void sb_i64(struct strbuf *sb, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
	sb_put(sb, tmp, (size_t)n);
}

/* ---- text helpers: UTF-8, base64, hex ---------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates or > U+10FFFF), as PostgreSQL. */
static bool utf8_valid(const uint8_t *s, size_t n)
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

static void sb_base64(struct strbuf *sb, const uint8_t *d, size_t n)
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
		sb_put(sb, q, 4);
	}
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_alpha, c) : NULL;
	return p ? (int)(p - b64_alpha) : -1;
}

/* Strict base64 (padded, canonical). out must hold n/4*3 bytes. */
static bool base64_decode(const char *s, size_t n, uint8_t *out, size_t *olen)
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

static void sb_hex(struct strbuf *sb, const uint8_t *d, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char two[2] = { hx[d[i] >> 4], hx[d[i] & 15] };
		sb_put(sb, two, 2);
	}
}

static bool hex_decode(const char *s, size_t n, uint8_t *out, size_t want)
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

/* ---- encoder ----------------------------------------------------------- */

/* JSON string of n valid-UTF-8 bytes without NUL; prefix is written first
 * (used for the '~' key escape). */
static void sb_jstr(struct strbuf *sb, const char *prefix, const char *s,
		    size_t n)
{
	sb_put(sb, "\"", 1);
	sb_str(sb, prefix);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sb_put(sb, s + run, i - run);
		char esc[8];
		snprintf(esc, sizeof esc, "\\u%04x", c);
		sb_str(sb, c == '"' ? "\\\"" : c == '\\' ? "\\\\" : esc);
		run = i + 1;
	}
	sb_put(sb, s + run, n - run);
	sb_put(sb, "\"", 1);
}

/* Text field inside a wrapper: a JSON string, or {"b64":...} when the bytes
 * are not valid UTF-8 or hold a NUL. */
static void sb_text(struct strbuf *sb, const char *s, size_t n)
{
	if (utf8_valid((const uint8_t *)s, n) && !memchr(s, 0, n)) {
		sb_jstr(sb, "", s, n);
		return;
	}
	sb_str(sb, "{\"b64\":\"");
	sb_base64(sb, (const uint8_t *)s, n);
	sb_str(sb, "\"}");
}

/* A finite, non-negative-zero double in positional notation with a '.',
 * shortest digits that round-trip. jsonb's numeric keeps such text exactly
 * (never switches to exponent form), so the '.' marks the double type. */
static void sb_double(struct strbuf *sb, double v)
{
	char e[40], digits[24], out[400];
	int p, exp, nd = 0, o = 0;

	for (p = 15; p < 17; p++) {
		snprintf(e, sizeof e, "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof e, "%.*e", p - 1, v);
	const char *c = e;
	if (*c == '-')
		out[o++] = *c++;
	for (; *c != 'e'; c++)
		if (*c != '.')
			digits[nd++] = *c;
	exp = atoi(c + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	int point = exp + 1; /* digits before the decimal point */
	if (point <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (int i = 0; i < -point; i++)
			out[o++] = '0';
		memcpy(out + o, digits, (size_t)nd);
		o += nd;
	} else {
		for (int i = 0; i < point; i++)
			out[o++] = i < nd ? digits[i] : '0';
		out[o++] = '.';
		if (point >= nd)
			out[o++] = '0';
		for (int i = point; i < nd; i++)
			out[o++] = digits[i];
	}
	sb_put(sb, out, (size_t)o);
}

struct enc {
	struct strbuf sb;
	bson_error_t *err;
};

static bool enc_doc(struct enc *e, const bson_t *doc, int depth);

static bool enc_subdoc(struct enc *e, const bson_iter_t *it, bool array,
		       bson_t *sub)
{
	uint32_t len;
	const uint8_t *data;

	if (array)
		bson_iter_array(it, &len, &data);
	else
		bson_iter_document(it, &len, &data);
	if (!bson_init_static(sub, data, len)) {
		ERR(e->err, ROWCODEC_ERR_BSON, "corrupt embedded document");
		return false;
	}
	return true;
}

/* Whether an array's keys are "0", "1", ... in order (else it is encoded as
 * a wrapped document so odd keys survive). */
static bool array_keys_canonical(const bson_t *arr)
{
	bson_iter_t it;
	char want[16];
	uint32_t i = 0;

	if (!bson_iter_init(&it, arr))
		return false;
	while (bson_iter_next(&it)) {
		snprintf(want, sizeof want, "%" PRIu32, i++);
		if (strcmp(want, bson_iter_key(&it)) != 0)
			return false;
	}
	return true;
}

static bool enc_value(struct enc *e, const bson_iter_t *it, int depth);

static bool enc_array(struct enc *e, const bson_iter_t *it, int depth)
{
	bson_t arr;
	bson_iter_t ai;
	bool first = true;

	if (!enc_subdoc(e, it, true, &arr))
		return false;
	if (!array_keys_canonical(&arr)) {
		sb_str(&e->sb, "{\"~t\":\"arr\",\"v\":");
		if (!enc_doc(e, &arr, depth + 1))
			return false;
		sb_str(&e->sb, "}");
		return true;
	}
	sb_put(&e->sb, "[", 1);
	bson_iter_init(&ai, &arr);
	while (bson_iter_next(&ai)) {
		if (!first)
			sb_put(&e->sb, ",", 1);
		first = false;
		if (!enc_value(e, &ai, depth + 1))
			return false;
	}
	sb_put(&e->sb, "]", 1);
	return true;
}

static void enc_double(struct enc *e, double v)
{
	uint64_t bits;

	if (isfinite(v) && !(v == 0 && signbit(v))) {
		sb_double(&e->sb, v);
		return;
	}
	memcpy(&bits, &v, 8);
	char hx[20];
	snprintf(hx, sizeof hx, "%016" PRIx64, bits);
	sb_str(&e->sb, "{\"~t\":\"d\",\"x\":\"");
	sb_str(&e->sb, hx);
	sb_str(&e->sb, "\"}");
}

static void enc_decimal(struct enc *e, const bson_iter_t *it)
{
	bson_decimal128_t d, back;
	char s[BSON_DECIMAL128_STRING];

	bson_iter_decimal128(it, &d);
	bson_decimal128_to_string(&d, s);
	sb_str(&e->sb, "{\"~t\":\"m\",\"v\":\"");
	sb_str(&e->sb, s);
	sb_str(&e->sb, "\"");
	/* Non-canonical bits (NaN payloads, oversize coefficients) are not in
	 * the string form: keep the exact 128 bits too. */
	if (!bson_decimal128_from_string(s, &back) || back.high != d.high ||
	    back.low != d.low) {
		char hx[40];
		snprintf(hx, sizeof hx, "%016" PRIx64 "%016" PRIx64, d.high,
			 d.low);
		sb_str(&e->sb, ",\"x\":\"");
		sb_str(&e->sb, hx);
		sb_str(&e->sb, "\"");
	}
	sb_str(&e->sb, "}");
}

static bool enc_codewscope(struct enc *e, const bson_iter_t *it, int depth)
{
	uint32_t clen, slen;
	const uint8_t *sdata;
	bson_t scope;
	const char *code = bson_iter_codewscope(it, &clen, &slen, &sdata);

	if (!bson_init_static(&scope, sdata, slen)) {
		ERR(e->err, ROWCODEC_ERR_BSON, "corrupt code-with-scope");
		return false;
	}
	sb_str(&e->sb, "{\"~t\":\"jss\",\"v\":");
	sb_text(&e->sb, code, clen);
	sb_str(&e->sb, ",\"scope\":");
	if (!enc_doc(e, &scope, depth + 1))
		return false;
	sb_str(&e->sb, "}");
	return true;
}

/* Types with only text, numbers or nothing inside. */
static void enc_scalar_wrapped(struct enc *e, const bson_iter_t *it)
{
	struct strbuf *sb = &e->sb;
	uint32_t len, a, b;
	const char *s, *opt;
	const bson_oid_t *oid;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_UNDEFINED: sb_str(sb, "{\"~t\":\"u\"}"); return;
	case BSON_TYPE_MINKEY: sb_str(sb, "{\"~t\":\"min\"}"); return;
	case BSON_TYPE_MAXKEY: sb_str(sb, "{\"~t\":\"max\"}"); return;
	case BSON_TYPE_OID:
		sb_str(sb, "{\"~t\":\"oid\",\"v\":\"");
		sb_hex(sb, bson_iter_oid(it)->bytes, 12);
		sb_str(sb, "\"}");
		return;
	case BSON_TYPE_DATE_TIME:
		sb_str(sb, "{\"~t\":\"dt\",\"v\":");
		sb_i64(sb, bson_iter_date_time(it));
		sb_str(sb, "}");
		return;
	case BSON_TYPE_TIMESTAMP:
		bson_iter_timestamp(it, &a, &b);
		sb_str(sb, "{\"~t\":\"ts\",\"t\":");
		sb_i64(sb, a);
		sb_str(sb, ",\"i\":");
		sb_i64(sb, b);
		sb_str(sb, "}");
		return;
	case BSON_TYPE_REGEX:
		s = bson_iter_regex(it, &opt);
		sb_str(sb, "{\"~t\":\"re\",\"p\":");
		sb_text(sb, s, strlen(s));
		sb_str(sb, ",\"o\":");
		sb_text(sb, opt, strlen(opt));
		sb_str(sb, "}");
		return;
	case BSON_TYPE_DBPOINTER:
		bson_iter_dbpointer(it, &len, &s, &oid);
		sb_str(sb, "{\"~t\":\"dbp\",\"ns\":");
		sb_text(sb, s, len);
		sb_str(sb, ",\"id\":\"");
		sb_hex(sb, oid->bytes, 12);
		sb_str(sb, "\"}");
		return;
	case BSON_TYPE_CODE:
	case BSON_TYPE_SYMBOL:
		s = bson_iter_type(it) == BSON_TYPE_CODE ? bson_iter_code(it, &len)
							 : bson_iter_symbol(it, &len);
		sb_str(sb, bson_iter_type(it) == BSON_TYPE_CODE
				   ? "{\"~t\":\"js\",\"v\":" : "{\"~t\":\"sym\",\"v\":");
		sb_text(sb, s, len);
		sb_str(sb, "}");
		return;
	default:
		abort(); /* caller dispatches only the types above */
	}
}

static void enc_binary(struct enc *e, const bson_iter_t *it)
{
	bson_subtype_t st;
	uint32_t len;
	const uint8_t *data;

	bson_iter_binary(it, &st, &len, &data);
	sb_str(&e->sb, "{\"~t\":\"b\",\"st\":");
	sb_i64(&e->sb, (int64_t)st);
	sb_str(&e->sb, ",\"b64\":\"");
	sb_base64(&e->sb, data, len);
	sb_str(&e->sb, "\"}");
}

static void enc_utf8(struct enc *e, const bson_iter_t *it)
{
	uint32_t len;
	const char *s = bson_iter_utf8(it, &len);

	if (utf8_valid((const uint8_t *)s, len) && !memchr(s, 0, len)) {
		sb_jstr(&e->sb, "", s, len);
		return;
	}
	sb_str(&e->sb, "{\"~t\":\"s\",\"b64\":\"");
	sb_base64(&e->sb, (const uint8_t *)s, len);
	sb_str(&e->sb, "\"}");
}

static bool enc_value(struct enc *e, const bson_iter_t *it, int depth)
{
	bson_t sub;
	int64_t l;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_DOUBLE: enc_double(e, bson_iter_double(it)); return true;
	case BSON_TYPE_UTF8: enc_utf8(e, it); return true;
	case BSON_TYPE_DOCUMENT:
		return enc_subdoc(e, it, false, &sub) &&
		       enc_doc(e, &sub, depth + 1);
	case BSON_TYPE_ARRAY: return enc_array(e, it, depth);
	case BSON_TYPE_BINARY: enc_binary(e, it); return true;
	case BSON_TYPE_BOOL:
		sb_str(&e->sb, bson_iter_bool(it) ? "true" : "false");
		return true;
	case BSON_TYPE_NULL: sb_str(&e->sb, "null"); return true;
	case BSON_TYPE_INT32: sb_i64(&e->sb, bson_iter_int32(it)); return true;
	case BSON_TYPE_INT64:
		l = bson_iter_int64(it);
		if (l >= INT32_MIN && l <= INT32_MAX) {
			sb_str(&e->sb, "{\"~t\":\"l\",\"v\":");
			sb_i64(&e->sb, l);
			sb_str(&e->sb, "}");
		} else {
			sb_i64(&e->sb, l);
		}
		return true;
	case BSON_TYPE_DECIMAL128: enc_decimal(e, it); return true;
	case BSON_TYPE_CODEWSCOPE: return enc_codewscope(e, it, depth);
	case BSON_TYPE_UNDEFINED: case BSON_TYPE_MINKEY: case BSON_TYPE_MAXKEY:
	case BSON_TYPE_OID: case BSON_TYPE_DATE_TIME: case BSON_TYPE_TIMESTAMP:
	case BSON_TYPE_REGEX: case BSON_TYPE_DBPOINTER: case BSON_TYPE_CODE:
	case BSON_TYPE_SYMBOL:
		enc_scalar_wrapped(e, it);
		return true;
	default:
		ERR(e->err, ROWCODEC_ERR_BSON, "unsupported BSON type 0x%02x",
		    (unsigned)bson_iter_type(it));
		return false;
	}
}

struct keyref {
	const char *key;
	uint32_t idx;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Mark in dup[] every field whose key already occurred earlier. */
static uint32_t find_dups(const bson_t *doc, bool **dup_out)
{
	bson_iter_t it;
	uint32_t n = bson_count_keys(doc), i = 0;
	struct keyref *refs = bson_malloc0(sizeof *refs * (n ? n : 1));
	bool *dup = bson_malloc0(n ? n : 1);

	bson_iter_init(&it, doc);
	while (bson_iter_next(&it) && i < n) {
		refs[i].key = bson_iter_key(&it);
		refs[i].idx = i;
		i++;
	}
	qsort(refs, n, sizeof *refs, keyref_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(refs[i].key, refs[i - 1].key) == 0)
			dup[refs[i].idx] = true;
	bson_free(refs);
	*dup_out = dup;
	return n;
}

/* Emit fields (first occurrences), then "~o" and, if needed, "~d". */
static bool enc_fields(struct enc *e, const bson_t *doc, const bool *dup,
		       int depth, bool *any_dup)
{
	bson_iter_t it;
	uint32_t i = 0;
	bool first = true;

	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (!utf8_valid((const uint8_t *)k, strlen(k))) {
			ERR(e->err, ROWCODEC_ERR_BSON, "key is not valid UTF-8");
			return false;
		}
		if (dup[i++]) {
			*any_dup = true;
			continue;
		}
		if (!first)
			sb_put(&e->sb, ",", 1);
		first = false;
		sb_jstr(&e->sb, k[0] == '~' ? "~" : "", k, strlen(k));
		sb_put(&e->sb, ":", 1);
		if (!enc_value(e, &it, depth))
			return false;
	}
	if (!first)
		sb_put(&e->sb, ",", 1);
	return true;
}

static bool enc_order(struct enc *e, const bson_t *doc, const bool *dup,
		      bool any_dup, int depth)
{
	bson_iter_t it;
	uint32_t i = 0;
	bool first = true;

	sb_str(&e->sb, "\"~o\":[");
	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		if (!first)
			sb_put(&e->sb, ",", 1);
		first = false;
		sb_jstr(&e->sb, "", bson_iter_key(&it), strlen(bson_iter_key(&it)));
	}
	sb_put(&e->sb, "]", 1);
	if (!any_dup)
		return true;
	sb_str(&e->sb, ",\"~d\":[");
	first = true;
	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		if (!dup[i++])
			continue;
		if (!first)
			sb_put(&e->sb, ",", 1);
		first = false;
		if (!enc_value(e, &it, depth))
			return false;
	}
	sb_put(&e->sb, "]", 1);
	return true;
}

static bool enc_doc(struct enc *e, const bson_t *doc, int depth)
{
	bool *dup, any_dup = false, ok;

	if (depth > ROWCODEC_MAX_BSON_DEPTH) {
		ERR(e->err, ROWCODEC_ERR_BSON, "document nested deeper than %d",
		    ROWCODEC_MAX_BSON_DEPTH);
		return false;
	}
	find_dups(doc, &dup);
	sb_put(&e->sb, "{", 1);
	ok = enc_fields(e, doc, dup, depth, &any_dup) &&
	     enc_order(e, doc, dup, any_dup, depth);
	sb_put(&e->sb, "}", 1);
	bson_free(dup);
	return ok;
}

bool rowcodec_to_json(const bson_t *doc, char **json, size_t *len,
		      bson_error_t *err)
{
	struct enc e = { { NULL, 0, 0 }, err };
	size_t off;

	*json = NULL;
	*len = 0;
	if (!bson_validate(doc, BSON_VALIDATE_NONE, &off)) {
		ERR(err, ROWCODEC_ERR_BSON, "invalid BSON at offset %zu (corrupt, or a "
		    "key that is not UTF-8)", off);
		return false;
	}
	if (!enc_doc(&e, doc, 1)) {
		bson_free(e.sb.p);
		return false;
	}
	*json = e.sb.p;
	*len = e.sb.len;
	return true;
}

/* ---- strict JSON parser into a tree ------------------------------------ */

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

struct jp {
	const char *p, *start, *end;
	bson_error_t *err;
};

#define JP_FAIL(jp, ...) \
	(ERR((jp)->err, ROWCODEC_ERR_SYNTAX, __VA_ARGS__), false)

static void jnode_free(struct jnode *n)
{
	if (n->t == J_ARR)
		for (size_t i = 0; i < n->n; i++)
			jnode_free(&n->items[i]);
	if (n->t == J_OBJ)
		for (size_t i = 0; i < n->n; i++) {
			bson_free(n->mem[i].key);
			jnode_free(&n->mem[i].val);
		}
	bson_free(n->s);
	bson_free(n->items);
	bson_free(n->mem);
	memset(n, 0, sizeof *n);
}

static void jp_ws(struct jp *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
				   *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static size_t jp_off(const struct jp *jp)
{
	return (size_t)(jp->p - jp->start);
}

static bool jp_hex4(struct jp *jp, uint32_t *v)
{
	*v = 0;
	if (jp->end - jp->p < 4)
		return JP_FAIL(jp, "truncated \\u escape at %zu", jp_off(jp));
	for (int i = 0; i < 4; i++) {
		char c = *jp->p++;
		int d = c >= '0' && c <= '9' ? c - '0'
		      : c >= 'a' && c <= 'f' ? c - 'a' + 10
		      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return JP_FAIL(jp, "bad \\u escape at %zu", jp_off(jp));
		*v = *v << 4 | (uint32_t)d;
	}
	return true;
}

/* \uXXXX (with surrogate pairs) appended as UTF-8; U+0000 is refused, as
 * jsonb does. */
static bool jp_unicode(struct jp *jp, struct strbuf *sb)
{
	uint32_t cp, lo;
	char u[4];
	int n;

	if (!jp_hex4(jp, &cp))
		return false;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return JP_FAIL(jp, "lone low surrogate at %zu", jp_off(jp));
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (jp->end - jp->p < 2 || jp->p[0] != '\\' || jp->p[1] != 'u')
			return JP_FAIL(jp, "lone high surrogate at %zu", jp_off(jp));
		jp->p += 2;
		if (!jp_hex4(jp, &lo))
			return false;
		if (lo < 0xdc00 || lo > 0xdfff)
			return JP_FAIL(jp, "bad surrogate pair at %zu", jp_off(jp));
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return JP_FAIL(jp, "\\u0000 not allowed at %zu", jp_off(jp));
	if (cp < 0x80) { u[0] = (char)cp; n = 1; }
	else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); n = 2; }
	else if (cp < 0x10000) { u[0] = (char)(0xe0 | cp >> 12); n = 3; }
	else { u[0] = (char)(0xf0 | cp >> 18); n = 4; }
	for (int i = 1; i < n; i++)
		u[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
	sb_put(sb, u, (size_t)n);
	return true;
}

static bool jp_escape(struct jp *jp, struct strbuf *sb)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *f;

	if (jp->p >= jp->end)
		return JP_FAIL(jp, "truncated escape");
	char c = *jp->p++;
	if (c == 'u')
		return jp_unicode(jp, sb);
	if (!(f = strchr(from, c)) || !c)
		return JP_FAIL(jp, "bad escape at %zu", jp_off(jp));
	sb_put(sb, &to[f - from], 1);
	return true;
}

/* String starting at '"': decoded, checked to be valid UTF-8. */
static bool jp_string(struct jp *jp, char **out, size_t *len)
{
	struct strbuf sb = { NULL, 0, 0 };

	jp->p++; /* opening quote */
	sb_put(&sb, "", 0);
	for (;;) {
		const char *run = jp->p;
		while (jp->p < jp->end && *jp->p != '"' && *jp->p != '\\' &&
		       (uint8_t)*jp->p >= 0x20)
			jp->p++;
		sb_put(&sb, run, (size_t)(jp->p - run));
		if (jp->p >= jp->end) {
			bson_free(sb.p);
			return JP_FAIL(jp, "unterminated string");
		}
		char c = *jp->p++;
		if (c == '"')
			break;
		if (c != '\\' || !jp_escape(jp, &sb)) {
			if (c != '\\')
				ERR(jp->err, ROWCODEC_ERR_SYNTAX,
				    "control character in string at %zu", jp_off(jp));
			bson_free(sb.p);
			return false;
		}
	}
	if (!utf8_valid((const uint8_t *)sb.p, sb.len)) {
		bson_free(sb.p);
		return JP_FAIL(jp, "string is not valid UTF-8 near %zu", jp_off(jp));
	}
	*out = sb.p;
	*len = sb.len;
	return true;
}

#define JP_MAX_NUMBER 400 /* positional DBL_MAX / denormals fit */

static bool jp_number(struct jp *jp, struct jnode *n)
{
	const char *s = jp->p;
	const char *p = s;
	const char *e = jp->end;

	if (p < e && *p == '-') p++;
	if (p < e && *p == '0') p++;
	else if (p < e && *p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9') p++;
	else return JP_FAIL(jp, "bad number at %zu", jp_off(jp));
	if (p < e && *p == '.') {
		if (++p >= e || *p < '0' || *p > '9')
			return JP_FAIL(jp, "bad fraction at %zu", jp_off(jp));
		while (p < e && *p >= '0' && *p <= '9') p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-')) p++;
		if (p >= e || *p < '0' || *p > '9')
			return JP_FAIL(jp, "bad exponent at %zu", jp_off(jp));
		while (p < e && *p >= '0' && *p <= '9') p++;
	}
	if (p - s > JP_MAX_NUMBER)
		return JP_FAIL(jp, "number too long at %zu", jp_off(jp));
	n->t = J_NUM;
	n->n = (size_t)(p - s);
	/* Not bson_strndup: it strncpy's n + 1 bytes and so reads one past an
	 * input that is not NUL-terminated (found by fuzz_rowcodec). */
	n->s = bson_malloc(n->n + 1);
	memcpy(n->s, s, n->n);
	n->s[n->n] = '\0';
	jp->p = p;
	return true;
}

static bool jp_value(struct jp *jp, struct jnode *n, int depth);

static bool jp_array(struct jp *jp, struct jnode *n, int depth)
{
	size_t cap = 0;

	n->t = J_ARR;
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == ']') {
		jp->p++;
		return true;
	}
	for (;;) {
		if (n->n == cap) {
			cap = cap ? cap * 2 : 4;
			n->items = bson_realloc(n->items, cap * sizeof *n->items);
		}
		memset(&n->items[n->n], 0, sizeof *n->items);
		if (!jp_value(jp, &n->items[n->n++], depth + 1))
			return false;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') { jp->p++; continue; }
		if (jp->p < jp->end && *jp->p == ']') { jp->p++; return true; }
		return JP_FAIL(jp, "expected ',' or ']' at %zu", jp_off(jp));
	}
}

static bool jp_object(struct jp *jp, struct jnode *n, int depth)
{
	size_t cap = 0;

	n->t = J_OBJ;
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == '}') {
		jp->p++;
		return true;
	}
	for (;;) {
		if (n->n == cap) {
			cap = cap ? cap * 2 : 4;
			n->mem = bson_realloc(n->mem, cap * sizeof *n->mem);
		}
		struct jmember *m = &n->mem[n->n++];
		memset(m, 0, sizeof *m);
		jp_ws(jp);
		if (jp->p >= jp->end || *jp->p != '"')
			return JP_FAIL(jp, "expected key at %zu", jp_off(jp));
		if (!jp_string(jp, &m->key, &m->klen))
			return false;
		jp_ws(jp);
		if (jp->p >= jp->end || *jp->p != ':')
			return JP_FAIL(jp, "expected ':' at %zu", jp_off(jp));
		jp->p++;
		if (!jp_value(jp, &m->val, depth + 1))
			return false;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') { jp->p++; continue; }
		if (jp->p < jp->end && *jp->p == '}') { jp->p++; return true; }
		return JP_FAIL(jp, "expected ',' or '}' at %zu", jp_off(jp));
	}
}

static bool jp_word(struct jp *jp, const char *w, struct jnode *n,
		    enum jtype t)
{
	size_t l = strlen(w);

	if ((size_t)(jp->end - jp->p) < l || memcmp(jp->p, w, l) != 0)
		return JP_FAIL(jp, "unexpected character at %zu", jp_off(jp));
	jp->p += l;
	n->t = t;
	return true;
}

static bool jp_value(struct jp *jp, struct jnode *n, int depth)
{
	if (depth > ROWCODEC_MAX_JSON_DEPTH)
		return JP_FAIL(jp, "JSON nested deeper than %d",
			       ROWCODEC_MAX_JSON_DEPTH);
	jp_ws(jp);
	if (jp->p >= jp->end)
		return JP_FAIL(jp, "unexpected end of input");
	switch (*jp->p) {
	case '{': return jp_object(jp, n, depth);
	case '[': return jp_array(jp, n, depth);
	case '"':
		n->t = J_STR;
		return jp_string(jp, &n->s, &n->n);
	case 't': return jp_word(jp, "true", n, J_TRUE);
	case 'f': return jp_word(jp, "false", n, J_FALSE);
	case 'n': return jp_word(jp, "null", n, J_NULL);
	default: return jp_number(jp, n);
	}
}

/* ---- decoder: tree -> BSON --------------------------------------------- */

struct dec {
	bson_error_t *err;
};

#define DEC_FAIL(d, ...) (ERR((d)->err, ROWCODEC_ERR_SHAPE, __VA_ARGS__), false)

static const struct jnode *obj_get(const struct jnode *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->mem[i].key, key) == 0 &&
		    strlen(key) == o->mem[i].klen)
			return &o->mem[i].val;
	return NULL;
}

static bool num_i64(const struct jnode *n, int64_t *v)
{
	char *end;

	if (!n || n->t != J_NUM || strpbrk(n->s, ".eE"))
		return false;
	errno = 0;
	long long x = strtoll(n->s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

static bool num_u32(const struct jnode *n, uint32_t *v)
{
	int64_t x;

	if (!num_i64(n, &x) || x < 0 || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* A wrapper text field: JSON string or {"b64":...}. *buf is malloc'd. */
static bool get_text(struct dec *d, const struct jnode *n, char **buf,
		     size_t *len, const char *what)
{
	const struct jnode *b;

	if (n && n->t == J_STR) {
		*buf = bson_malloc(n->n + 1);
		memcpy(*buf, n->s, n->n + 1);
		*len = n->n;
		return true;
	}
	if (!n || n->t != J_OBJ || n->n != 1 || !(b = obj_get(n, "b64")) ||
	    b->t != J_STR)
		return DEC_FAIL(d, "%s: expected string or {\"b64\":...}", what);
	*buf = bson_malloc(b->n / 4 * 3 + 1);
	if (!base64_decode(b->s, b->n, (uint8_t *)*buf, len)) {
		bson_free(*buf);
		*buf = NULL;
		return DEC_FAIL(d, "%s: bad base64", what);
	}
	(*buf)[*len] = '\0';
	return true;
}

/* Append one element from raw payload bytes (keeps bytes libbson's typed
 * appenders would change). */
static bool append_raw(struct dec *d, bson_t *out, const char *key,
		       size_t klen, uint8_t type, const uint8_t *pl, size_t plen)
{
	size_t total = 4 + 1 + klen + 1 + plen + 1;
	uint8_t *buf;
	bson_t tmp;
	bool ok;

	if (total > INT32_MAX)
		return DEC_FAIL(d, "element too large");
	buf = bson_malloc(total);
	uint32_t t32 = BSON_UINT32_TO_LE((uint32_t)total);
	memcpy(buf, &t32, 4);
	buf[4] = type;
	memcpy(buf + 5, key, klen);
	buf[5 + klen] = 0;
	memcpy(buf + 6 + klen, pl, plen);
	buf[total - 1] = 0;
	ok = bson_init_static(&tmp, buf, total) && bson_concat(out, &tmp);
	bson_free(buf);
	return ok ? true : DEC_FAIL(d, "cannot append element");
}

static void put_le32(struct strbuf *sb, uint32_t v)
{
	uint32_t le = BSON_UINT32_TO_LE(v);
	sb_put(sb, &le, 4);
}

/* BSON "string" payload: int32 length incl. NUL, bytes, NUL. */
static void put_bstring(struct strbuf *sb, const char *s, size_t n)
{
	put_le32(sb, (uint32_t)n + 1);
	sb_put(sb, s, n);
	sb_put(sb, "", 1); /* the literal's NUL byte */
}

static bool dec_doc(struct dec *d, const struct jnode *o, bson_t *out,
		    int depth);
static bool dec_value(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *v, int depth);

/* Wrapper codes and their member names; "x" of "m" is optional. */
static const struct wrapper_spec {
	const char *code;
	const char *keys[3];
} wrapper_specs[] = {
	{ "d", { "x" } },	{ "s", { "b64" } },	{ "arr", { "v" } },
	{ "b", { "st", "b64" } }, { "u", { NULL } },	{ "min", { NULL } },
	{ "max", { NULL } },	{ "oid", { "v" } },	{ "dt", { "v" } },
	{ "re", { "p", "o" } },	{ "dbp", { "ns", "id" } }, { "js", { "v" } },
	{ "sym", { "v" } },	{ "jss", { "v", "scope" } },
	{ "ts", { "t", "i" } },	{ "l", { "v" } },	{ "m", { "v" } },
};

/* Find the spec of wrapper o and check it has exactly its members. */
static const struct wrapper_spec *wrapper_check(struct dec *d,
						const struct jnode *o)
{
	const struct jnode *t = obj_get(o, "~t");
	size_t want = 1;

	if (!t || t->t != J_STR)
		return ERR(d->err, ROWCODEC_ERR_SHAPE, "object is neither document (~o) nor typed "
			       "value (~t)"), NULL;
	for (size_t i = 0; i < sizeof wrapper_specs / sizeof *wrapper_specs; i++) {
		const struct wrapper_spec *w = &wrapper_specs[i];
		if (strcmp(w->code, t->s) != 0)
			continue;
		for (int k = 0; k < 3 && w->keys[k]; k++, want++)
			if (!obj_get(o, w->keys[k]))
				return ERR(d->err, ROWCODEC_ERR_SHAPE, "typed value \"%s\" lacks \"%s\"",
						w->code, w->keys[k]), NULL;
		if (!strcmp(w->code, "m") && obj_get(o, "x"))
			want++;
		if (o->n != want)
			return ERR(d->err, ROWCODEC_ERR_SHAPE, "typed value \"%s\" has extra members",
					w->code), NULL;
		return w;
	}
	return ERR(d->err, ROWCODEC_ERR_SHAPE, "unknown type code \"%.20s\"", t->s), NULL;
}

static bool get_hex(struct dec *d, const struct jnode *n, uint8_t *out,
		    size_t bytes, const char *what)
{
	if (!n || n->t != J_STR || !hex_decode(n->s, n->n, out, bytes))
		return DEC_FAIL(d, "%s: expected %zu lowercase hex digits", what,
				bytes * 2);
	return true;
}

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static bool dec_decimal(struct dec *d, bson_t *out, const char *key,
			size_t klen, const struct jnode *o)
{
	const struct jnode *v = obj_get(o, "v"), *x = obj_get(o, "x");
	bson_decimal128_t dec;
	uint8_t b[16];

	if (x) {
		if (!get_hex(d, x, b, 16, "decimal128 bits"))
			return false;
		dec.high = be64(b);
		dec.low = be64(b + 8);
	} else if (v->t != J_STR || !bson_decimal128_from_string(v->s, &dec)) {
		return DEC_FAIL(d, "bad decimal128 value");
	}
	return bson_append_decimal128(out, key, (int)klen, &dec);
}

/* Text-bearing raw types: regex, DBPointer, code, symbol, code w/ scope. */
static bool dec_textual(struct dec *d, bson_t *out, const char *key,
			size_t klen, const struct jnode *o, const char *c,
			int depth)
{
	struct strbuf pl = { NULL, 0, 0 };
	char *a = NULL, *b = NULL;
	size_t al, bl;
	uint8_t type, oid[12];
	bson_t scope = BSON_INITIALIZER;
	bool ok = false;

	if (!strcmp(c, "re")) {
		type = BSON_TYPE_REGEX;
		if (!get_text(d, obj_get(o, "p"), &a, &al, "regex pattern") ||
		    !get_text(d, obj_get(o, "o"), &b, &bl, "regex options"))
			goto out;
		if (memchr(a, 0, al) || memchr(b, 0, bl)) {
			ERR(d->err, ROWCODEC_ERR_SHAPE, "regex holds a NUL");
			goto out;
		}
		sb_put(&pl, a, al + 1);
		sb_put(&pl, b, bl + 1);
	} else if (!strcmp(c, "dbp")) {
		type = BSON_TYPE_DBPOINTER;
		if (!get_text(d, obj_get(o, "ns"), &a, &al, "dbpointer ns") ||
		    !get_hex(d, obj_get(o, "id"), oid, 12, "dbpointer id"))
			goto out;
		put_bstring(&pl, a, al);
		sb_put(&pl, oid, 12);
	} else if (!strcmp(c, "jss")) {
		type = BSON_TYPE_CODEWSCOPE;
		if (!get_text(d, obj_get(o, "v"), &a, &al, "code") ||
		    !dec_doc(d, obj_get(o, "scope"), &scope, depth + 1))
			goto out;
		put_le32(&pl, (uint32_t)(4 + 4 + al + 1 + scope.len));
		put_bstring(&pl, a, al);
		sb_put(&pl, bson_get_data(&scope), scope.len);
	} else {
		type = !strcmp(c, "js") ? BSON_TYPE_CODE : BSON_TYPE_SYMBOL;
		if (!get_text(d, obj_get(o, "v"), &a, &al, "code/symbol"))
			goto out;
		put_bstring(&pl, a, al);
	}
	ok = append_raw(d, out, key, klen, type, (const uint8_t *)pl.p, pl.len);
out:
	bson_free(a);
	bson_free(b);
	bson_free(pl.p);
	bson_destroy(&scope);
	return ok;
}

static bool dec_bytes(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *o, bool binary)
{
	const struct jnode *b64 = obj_get(o, "b64");
	int64_t st = 0;
	uint8_t *buf;
	size_t len;
	bool ok;

	if (binary && (!num_i64(obj_get(o, "st"), &st) || st < 0 || st > 255))
		return DEC_FAIL(d, "binary subtype must be 0..255");
	if (b64->t != J_STR)
		return DEC_FAIL(d, "b64 must be a string");
	buf = bson_malloc(b64->n / 4 * 3 + 1);
	if (!base64_decode(b64->s, b64->n, buf, &len)) {
		bson_free(buf);
		return DEC_FAIL(d, "bad base64");
	}
	if (binary && st == BSON_SUBTYPE_BINARY_DEPRECATED && len > INT32_MAX - 4)
		len = 0;
	ok = binary ? bson_append_binary(out, key, (int)klen, (bson_subtype_t)st,
					 buf, (uint32_t)len)
		    : bson_append_utf8(out, key, (int)klen, (const char *)buf,
				       (int)len);
	bson_free(buf);
	return ok ? true : DEC_FAIL(d, "cannot append bytes");
}

static bool dec_wrapper(struct dec *d, bson_t *out, const char *key,
			size_t klen, const struct jnode *o, int depth)
{
	const struct wrapper_spec *w = wrapper_check(d, o);
	const char *c;
	const struct jnode *v;
	int64_t i64;
	uint32_t t, inc;
	uint8_t b[12];
	bson_t child;
	bool ok;

	if (!w)
		return false;
	c = w->code;
	v = obj_get(o, "v");
	if (!strcmp(c, "d")) {
		if (!get_hex(d, obj_get(o, "x"), b, 8, "double bits"))
			return false;
		uint64_t bits = be64(b);
		double dv;
		memcpy(&dv, &bits, 8);
		return bson_append_double(out, key, (int)klen, dv);
	}
	if (!strcmp(c, "s") || !strcmp(c, "b"))
		return dec_bytes(d, out, key, klen, o, c[0] == 'b');
	if (!strcmp(c, "arr")) {
		bson_append_array_begin(out, key, (int)klen, &child);
		ok = dec_doc(d, v, &child, depth + 1);
		bson_append_array_end(out, &child);
		return ok;
	}
	if (!strcmp(c, "u")) return bson_append_undefined(out, key, (int)klen);
	if (!strcmp(c, "min")) return bson_append_minkey(out, key, (int)klen);
	if (!strcmp(c, "max")) return bson_append_maxkey(out, key, (int)klen);
	if (!strcmp(c, "oid")) {
		if (!get_hex(d, v, b, 12, "ObjectId"))
			return false;
		bson_oid_t oid;
		memcpy(oid.bytes, b, 12);
		return bson_append_oid(out, key, (int)klen, &oid);
	}
	if (!strcmp(c, "dt") || !strcmp(c, "l")) {
		if (!num_i64(v, &i64))
			return DEC_FAIL(d, "\"%s\" needs an int64", c);
		return c[0] == 'l' ? bson_append_int64(out, key, (int)klen, i64)
				   : bson_append_date_time(out, key, (int)klen, i64);
	}
	if (!strcmp(c, "ts")) {
		if (!num_u32(obj_get(o, "t"), &t) || !num_u32(obj_get(o, "i"), &inc))
			return DEC_FAIL(d, "timestamp needs two uint32");
		return bson_append_timestamp(out, key, (int)klen, t, inc);
	}
	if (!strcmp(c, "m"))
		return dec_decimal(d, out, key, klen, o);
	return dec_textual(d, out, key, klen, o, c, depth);
}

static bool dec_number(struct dec *d, bson_t *out, const char *key,
		       size_t klen, const struct jnode *v)
{
	int64_t i;

	if (strpbrk(v->s, ".eE")) {
		double x = strtod(v->s, NULL);
		if (!isfinite(x))
			return DEC_FAIL(d, "number out of double range");
		return bson_append_double(out, key, (int)klen, x);
	}
	if (!num_i64(v, &i))
		return DEC_FAIL(d, "integer out of int64 range");
	if (i >= INT32_MIN && i <= INT32_MAX)
		return bson_append_int32(out, key, (int)klen, (int32_t)i);
	return bson_append_int64(out, key, (int)klen, i);
}

static bool dec_array(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *v, int depth)
{
	bson_t child;
	char idx[16];
	bool ok = true;

	if (depth > ROWCODEC_MAX_BSON_DEPTH)
		return DEC_FAIL(d, "nested deeper than %d", ROWCODEC_MAX_BSON_DEPTH);
	bson_append_array_begin(out, key, (int)klen, &child);
	for (size_t i = 0; ok && i < v->n; i++) {
		int n = snprintf(idx, sizeof idx, "%zu", i);
		ok = dec_value(d, &child, idx, (size_t)n, &v->items[i], depth + 1);
	}
	bson_append_array_end(out, &child);
	return ok;
}

static bool dec_value(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *v, int depth)
{
	bson_t child;
	bool ok;

	switch (v->t) {
	case J_NULL: return bson_append_null(out, key, (int)klen);
	case J_TRUE: return bson_append_bool(out, key, (int)klen, true);
	case J_FALSE: return bson_append_bool(out, key, (int)klen, false);
	case J_STR: return bson_append_utf8(out, key, (int)klen, v->s, (int)v->n);
	case J_NUM: return dec_number(d, out, key, klen, v);
	case J_ARR: return dec_array(d, out, key, klen, v, depth);
	case J_OBJ:
		if (!obj_get(v, "~o"))
			return dec_wrapper(d, out, key, klen, v, depth);
		bson_append_document_begin(out, key, (int)klen, &child);
		ok = dec_doc(d, v, &child, depth + 1);
		bson_append_document_end(out, &child);
		return ok;
	}
	return DEC_FAIL(d, "impossible node");
}

/* Order of member pointers by key bytes (no context: thread-safe qsort). */
static int member_cmp(const void *a, const void *b)
{
	const struct jmember *x = *(const struct jmember *const *)a;
	const struct jmember *y = *(const struct jmember *const *)b;
	int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Members sorted by key; refuses duplicate and unknown '~' keys. */
static const struct jmember **dec_index(struct dec *d, const struct jnode *o)
{
	const struct jmember **ix = bson_malloc(sizeof *ix * (o->n ? o->n : 1));

	for (size_t i = 0; i < o->n; i++) {
		const char *k = o->mem[i].key;
		ix[i] = &o->mem[i];
		if (k[0] == '~' && k[1] != '~' && strcmp(k, "~o") && strcmp(k, "~d")) {
			bson_free((void *)ix);
			return ERR(d->err, ROWCODEC_ERR_SHAPE,
				   "unknown meta key \"%.20s\"", k), NULL;
		}
	}
	qsort(ix, o->n, sizeof *ix, member_cmp);
	for (size_t i = 1; i < o->n; i++)
		if (member_cmp(&ix[i - 1], &ix[i]) == 0) {
			bson_free((void *)ix);
			return ERR(d->err, ROWCODEC_ERR_SHAPE,
				   "duplicate key in object"), NULL;
		}
	return ix;
}

/* Index in o->mem of the member whose key is ek (eklen bytes), or -1. */
static long dec_find(const struct jnode *o, const struct jmember **ix,
		     const char *ek, size_t eklen)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct jmember *m = ix[mid];
		int c = memcmp(m->key, ek, m->klen < eklen ? m->klen : eklen);
		if (c == 0)
			c = (m->klen > eklen) - (m->klen < eklen);
		if (c == 0)
			return (long)(m - o->mem);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Walk "~o": first occurrence of a key takes the member, repeats take the
 * next "~d" value. Every member and every "~d" value must be used once. */
static bool dec_fields(struct dec *d, const struct jnode *o,
		       const struct jmember **ix,
		       const struct jnode *ord, const struct jnode *dups,
		       bson_t *out, int depth)
{
	bool *used = bson_malloc0(o->n ? o->n : 1);
	struct strbuf ek = { NULL, 0, 0 };
	size_t di = 0, nmeta = 1 + (dups != NULL), nused = 0;
	bool ok = true;

	for (size_t i = 0; ok && i < ord->n; i++) {
		const struct jnode *k = &ord->items[i], *v;
		if (k->t != J_STR) {
			ok = DEC_FAIL(d, "~o entries must be strings");
			break;
		}
		ek.len = 0;
		sb_put(&ek, "~", k->s[0] == '~');
		sb_put(&ek, k->s, k->n);
		long m = dec_find(o, ix, ek.p, ek.len);
		if (m < 0) {
			ok = DEC_FAIL(d, "key \"%.40s\" in ~o has no value", k->s);
			break;
		}
		if (used[m]) {
			if (!dups || di >= dups->n) {
				ok = DEC_FAIL(d, "repeated key \"%.40s\" lacks a ~d value",
					      k->s);
				break;
			}
			v = &dups->items[di++];
		} else {
			used[m] = true;
			nused++;
			v = &o->mem[m].val;
		}
		ok = dec_value(d, out, k->s, k->n, v, depth);
	}
	if (ok && (nused + nmeta != o->n || (dups && di != dups->n)))
		ok = DEC_FAIL(d, "object has values not listed in ~o");
	bson_free(used);
	bson_free(ek.p);
	return ok;
}

static bool dec_doc(struct dec *d, const struct jnode *o, bson_t *out,
		    int depth)
{
	const struct jnode *ord, *dups;
	const struct jmember **ix;
	bool ok;

	if (depth > ROWCODEC_MAX_BSON_DEPTH)
		return DEC_FAIL(d, "nested deeper than %d", ROWCODEC_MAX_BSON_DEPTH);
	if (!o || o->t != J_OBJ || !(ord = obj_get(o, "~o")) || ord->t != J_ARR)
		return DEC_FAIL(d, "document must be an object with a ~o array");
	dups = obj_get(o, "~d");
	if (dups && dups->t != J_ARR)
		return DEC_FAIL(d, "~d must be an array");
	if (!(ix = dec_index(d, o)))
		return false;
	ok = dec_fields(d, o, ix, ord, dups, out, depth);
	bson_free((void *)ix);
	return ok;
}

/* ---- entry point ------------------------------------------------------- */

bool rowcodec_from_json(const char *json, size_t len, bson_t *out,
			bson_error_t *err)
{
	struct jp jp = { json, json, json + len, err };
	struct dec d = { err };
	struct jnode root;
	bool ok;

	memset(&root, 0, sizeof root);
	bson_init(out);
	ok = jp_value(&jp, &root, 0);
	if (ok) {
		jp_ws(&jp);
		if (jp.p != jp.end)
			ok = JP_FAIL(&jp, "trailing data at %zu", jp_off(&jp));
	}
	ok = ok && dec_doc(&d, &root, out, 1);
	jnode_free(&root);
	if (!ok)
		bson_reinit(out);
	return ok;
}
