/*
 * rowcodec_enc.c - BSON -> jsonb text, lossless (format: docs/storage.md).
 *
 *   bson_t --enc_doc--> fields (first occurrence of each key)
 *                       "~o": [every key, in order]
 *                       "~d": [values of repeated keys]   (only if any)
 *          --enc_value--> JSON scalar / array / {"~t": code, ...} wrapper
 *
 * Invariants: the output is valid JSON and valid UTF-8 with no \u0000, so
 * jsonb accepts it unchanged; doubles are written positionally with a '.'
 * (jsonb's numeric keeps that text exactly), everything JSON cannot carry
 * exactly is wrapped; nesting is limited to ROWCODEC_MAX_BSON_DEPTH.
 */
#include "rowcodec_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* ---- output helpers ---------------------------------------------------- */
static void sb_str(struct strbuf *sb, const char *s)
{
	rowcodec_sb_put(sb, s, strlen(s));
}

static void sb_i64(struct strbuf *sb, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
	rowcodec_sb_put(sb, tmp, (size_t)n);
}

/* JSON string of n valid-UTF-8 bytes without NUL; prefix is written first
 * (used for the '~' key escape). */
static void sb_jstr(struct strbuf *sb, const char *prefix, const char *s,
		    size_t n)
{
	rowcodec_sb_put(sb, "\"", 1);
	sb_str(sb, prefix);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rowcodec_sb_put(sb, s + run, i - run);
		char esc[8];
		snprintf(esc, sizeof esc, "\\u%04x", c);
		sb_str(sb, c == '"' ? "\\\"" : c == '\\' ? "\\\\" : esc);
		run = i + 1;
	}
	rowcodec_sb_put(sb, s + run, n - run);
	rowcodec_sb_put(sb, "\"", 1);
}

/* Text field inside a wrapper: a JSON string, or {"b64":...} when the bytes
 * are not valid UTF-8 or hold a NUL. */
static void sb_text(struct strbuf *sb, const char *s, size_t n)
{
	if (utf8_valid(s, n) && !memchr(s, 0, n)) {
		sb_jstr(sb, "", s, n);
		return;
	}
	sb_str(sb, "{\"b64\":\"");
	rowcodec_sb_base64(sb, (const uint8_t *)s, n);
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
	rowcodec_sb_put(sb, out, (size_t)o);
}

struct enc {
	struct strbuf sb;
	bson_error_t *err;
	const struct rowcodec_hooks *hooks; /* NULL: plain rowcodec */
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
	rowcodec_sb_put(&e->sb, "[", 1);
	bson_iter_init(&ai, &arr);
	while (bson_iter_next(&ai)) {
		if (!first)
			rowcodec_sb_put(&e->sb, ",", 1);
		first = false;
		if (!enc_value(e, &ai, depth + 1))
			return false;
	}
	rowcodec_sb_put(&e->sb, "]", 1);
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
		rowcodec_sb_hex(sb, bson_iter_oid(it)->bytes, 12);
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
		rowcodec_sb_hex(sb, oid->bytes, 12);
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
	rowcodec_sb_base64(&e->sb, data, len);
	sb_str(&e->sb, "\"}");
}

static void enc_utf8(struct enc *e, const bson_iter_t *it)
{
	uint32_t len;
	const char *s = bson_iter_utf8(it, &len);

	if (utf8_valid(s, len) && !memchr(s, 0, len)) {
		sb_jstr(&e->sb, "", s, len);
		return;
	}
	sb_str(&e->sb, "{\"~t\":\"s\",\"b64\":\"");
	rowcodec_sb_base64(&e->sb, (const uint8_t *)s, len);
	sb_str(&e->sb, "\"}");
}

static bool enc_value(struct enc *e, const bson_iter_t *it, int depth)
{
	bson_t sub;
	int64_t l;
	const char *marker;

	if (e->hooks && e->hooks->enc_marker &&
	    (marker = e->hooks->enc_marker(e->hooks->ctx, it))) {
		sb_str(&e->sb, marker);
		return true;
	}
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
		if (!utf8_valid(k, strlen(k))) {
			ERR(e->err, ROWCODEC_ERR_BSON, "key is not valid UTF-8");
			return false;
		}
		if (dup[i++]) {
			*any_dup = true;
			continue;
		}
		if (!first)
			rowcodec_sb_put(&e->sb, ",", 1);
		first = false;
		sb_jstr(&e->sb, k[0] == '~' ? "~" : "", k, strlen(k));
		rowcodec_sb_put(&e->sb, ":", 1);
		if (!enc_value(e, &it, depth))
			return false;
	}
	if (!first)
		rowcodec_sb_put(&e->sb, ",", 1);
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
			rowcodec_sb_put(&e->sb, ",", 1);
		first = false;
		sb_jstr(&e->sb, "", bson_iter_key(&it), strlen(bson_iter_key(&it)));
	}
	rowcodec_sb_put(&e->sb, "]", 1);
	if (!any_dup)
		return true;
	sb_str(&e->sb, ",\"~d\":[");
	first = true;
	bson_iter_init(&it, doc);
	while (bson_iter_next(&it)) {
		if (!dup[i++])
			continue;
		if (!first)
			rowcodec_sb_put(&e->sb, ",", 1);
		first = false;
		if (!enc_value(e, &it, depth))
			return false;
	}
	rowcodec_sb_put(&e->sb, "]", 1);
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
	rowcodec_sb_put(&e->sb, "{", 1);
	ok = enc_fields(e, doc, dup, depth, &any_dup) &&
	     enc_order(e, doc, dup, any_dup, depth);
	rowcodec_sb_put(&e->sb, "}", 1);
	bson_free(dup);
	return ok;
}

bool rowcodec_to_json(const bson_t *doc, char **json, size_t *len,
		      bson_error_t *err)
{
	return rowcodec_to_json_hooked(doc, NULL, json, len, err);
}

bool rowcodec_value_to_json(const bson_iter_t *it, char **json, size_t *len,
			    bson_error_t *err)
{
	struct enc e = { { NULL, 0, 0 }, err, NULL };

	*json = NULL;
	*len = 0;
	if (!enc_value(&e, it, 1)) {
		bson_free(e.sb.p);
		return false;
	}
	*json = e.sb.p;
	*len = e.sb.len;
	return true;
}

bool rowcodec_to_json_hooked(const bson_t *doc, const struct rowcodec_hooks *h,
			     char **json, size_t *len, bson_error_t *err)
{
	struct enc e = { { NULL, 0, 0 }, err, h };
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
