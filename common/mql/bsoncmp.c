/*
 * bsoncmp.c - MongoDB's comparison order for BSON values (see bsoncmp.h).
 *
 * Mirrors the server's compareElementValues(): first the type bracket, then
 * a per-bracket comparison.  Numbers compare exactly across int32, int64 and
 * double; decimal128 goes through its string form and strtold (an
 * approximation: exact for values long double represents, which covers
 * every int64, every double and decimals of up to ~19 significant digits).
 *
 * Nested documents recurse; past BSONCMP_MAX_DEPTH levels (MongoDB itself
 * refuses documents nested deeper than 200) the remaining bytes compare with
 * memcmp so that hostile input cannot exhaust the stack.  No allocation.
 */
#include "bsoncmp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BSONCMP_MAX_DEPTH 200

static int cmp_value(const bson_value_t *a, const bson_value_t *b, int depth);

static int sign_of(long long x)
{
	return (x > 0) - (x < 0);
}

int bsoncmp_bracket(bson_type_t t)
{
	switch (t) {
	case BSON_TYPE_MINKEY: return 0;
	case BSON_TYPE_UNDEFINED:
	case BSON_TYPE_NULL: return 1;
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
	case BSON_TYPE_DECIMAL128: return 2;
	case BSON_TYPE_SYMBOL:
	case BSON_TYPE_UTF8: return 3;
	case BSON_TYPE_DOCUMENT: return 4;
	case BSON_TYPE_ARRAY: return 5;
	case BSON_TYPE_BINARY: return 6;
	case BSON_TYPE_OID: return 7;
	case BSON_TYPE_BOOL: return 8;
	case BSON_TYPE_DATE_TIME: return 9;
	case BSON_TYPE_TIMESTAMP: return 10;
	case BSON_TYPE_REGEX: return 11;
	case BSON_TYPE_DBPOINTER: return 12;
	case BSON_TYPE_CODE: return 13;
	case BSON_TYPE_CODEWSCOPE: return 14;
	case BSON_TYPE_MAXKEY: return 15;
	default: return 1; /* EOD: treated like a missing value (null bracket) */
	}
}

/* ---- numbers ---------------------------------------------------------- */

static long double dec128_to_ld(const bson_decimal128_t *d)
{
	char buf[BSON_DECIMAL128_STRING];

	bson_decimal128_to_string(d, buf);
	return strtold(buf, NULL);
}

/* int64 against double, exactly: NaN is below everything. */
static int cmp_i64_double(int64_t i, double d)
{
	if (isnan(d))
		return 1;
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	/* d is within [-2^63, 2^63): the cast truncates it to an exact int64,
	 * and (double)t is exact too (|d| >= 2^53 means d is already whole). */
	int64_t t = (int64_t)d;
	if (i != t)
		return i < t ? -1 : 1;
	double frac = d - (double)t;
	return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int cmp_ld(long double x, long double y)
{
	bool nx = isnan(x), ny = isnan(y);
	if (nx || ny)
		return (int)ny - (int)nx; /* NaN == NaN, NaN < anything */
	return (x > y) - (x < y);
}

static bool is_int(const bson_value_t *v, int64_t *out)
{
	if (v->value_type == BSON_TYPE_INT32) {
		*out = v->value.v_int32;
		return true;
	}
	if (v->value_type == BSON_TYPE_INT64) {
		*out = v->value.v_int64;
		return true;
	}
	return false;
}

static long double num_as_ld(const bson_value_t *v)
{
	int64_t i;
	if (is_int(v, &i))
		return (long double)i;
	if (v->value_type == BSON_TYPE_DOUBLE)
		return v->value.v_double;
	return dec128_to_ld(&v->value.v_decimal128);
}

static int cmp_number(const bson_value_t *a, const bson_value_t *b)
{
	int64_t ia, ib;
	bool ai = is_int(a, &ia), bi = is_int(b, &ib);

	if (ai && bi)
		return (ia > ib) - (ia < ib);
	if (ai && b->value_type == BSON_TYPE_DOUBLE)
		return cmp_i64_double(ia, b->value.v_double);
	if (bi && a->value_type == BSON_TYPE_DOUBLE)
		return -cmp_i64_double(ib, a->value.v_double);
	if (a->value_type == BSON_TYPE_DOUBLE && b->value_type == BSON_TYPE_DOUBLE)
		return cmp_ld(a->value.v_double, b->value.v_double);
	return cmp_ld(num_as_ld(a), num_as_ld(b));
}

/* ---- strings, documents ----------------------------------------------- */

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c < 0 ? -1 : 1;
	return (alen > blen) - (alen < blen);
}

static int cmp_docs(const uint8_t *ad, size_t alen, const uint8_t *bd, size_t blen, int depth)
{
	bson_iter_t ia, ib;

	if (depth > BSONCMP_MAX_DEPTH)
		return cmp_bytes((const char *)ad, alen, (const char *)bd, blen);
	if (!bson_iter_init_from_data(&ia, ad, alen) || !bson_iter_init_from_data(&ib, bd, blen))
		return cmp_bytes((const char *)ad, alen, (const char *)bd, blen);
	for (;;) {
		bool ma = bson_iter_next(&ia), mb = bson_iter_next(&ib);
		if (!ma || !mb)
			return (int)ma - (int)mb;
		int c = bsoncmp_bracket(bson_iter_type(&ia)) - bsoncmp_bracket(bson_iter_type(&ib));
		if (c)
			return c < 0 ? -1 : 1;
		c = strcmp(bson_iter_key(&ia), bson_iter_key(&ib));
		if (c)
			return c < 0 ? -1 : 1;
		c = cmp_value(bson_iter_value(&ia), bson_iter_value(&ib), depth + 1);
		if (c)
			return c;
	}
}

/* ---- per-bracket comparison ------------------------------------------- */

static int cmp_binary(const bson_value_t *a, const bson_value_t *b)
{
	uint32_t la = a->value.v_binary.data_len, lb = b->value.v_binary.data_len;
	if (la != lb)
		return la < lb ? -1 : 1;
	if (a->value.v_binary.subtype != b->value.v_binary.subtype)
		return a->value.v_binary.subtype < b->value.v_binary.subtype ? -1 : 1;
	int c = la ? memcmp(a->value.v_binary.data, b->value.v_binary.data, la) : 0;
	return sign_of(c);
}

static int cmp_same_bracket(const bson_value_t *a, const bson_value_t *b, int depth)
{
	switch (a->value_type) {
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
	case BSON_TYPE_DECIMAL128:
		return cmp_number(a, b);
	case BSON_TYPE_UTF8:
	case BSON_TYPE_SYMBOL: {
		/* v_utf8 and v_symbol share their layout: (str, len). */
		const char *sa = a->value_type == BSON_TYPE_UTF8 ? a->value.v_utf8.str : a->value.v_symbol.symbol;
		size_t na = a->value_type == BSON_TYPE_UTF8 ? a->value.v_utf8.len : a->value.v_symbol.len;
		const char *sb = b->value_type == BSON_TYPE_UTF8 ? b->value.v_utf8.str : b->value.v_symbol.symbol;
		size_t nb = b->value_type == BSON_TYPE_UTF8 ? b->value.v_utf8.len : b->value.v_symbol.len;
		return cmp_bytes(sa, na, sb, nb);
	}
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		return cmp_docs(a->value.v_doc.data, a->value.v_doc.data_len, b->value.v_doc.data,
				b->value.v_doc.data_len, depth);
	case BSON_TYPE_BINARY:
		return cmp_binary(a, b);
	case BSON_TYPE_OID:
		return sign_of(memcmp(a->value.v_oid.bytes, b->value.v_oid.bytes, 12));
	case BSON_TYPE_BOOL:
		return (int)a->value.v_bool - (int)b->value.v_bool;
	case BSON_TYPE_DATE_TIME:
		return (a->value.v_datetime > b->value.v_datetime) - (a->value.v_datetime < b->value.v_datetime);
	case BSON_TYPE_TIMESTAMP: {
		uint64_t ta = ((uint64_t)a->value.v_timestamp.timestamp << 32) | a->value.v_timestamp.increment;
		uint64_t tb = ((uint64_t)b->value.v_timestamp.timestamp << 32) | b->value.v_timestamp.increment;
		return (ta > tb) - (ta < tb);
	}
	case BSON_TYPE_REGEX: {
		int c = strcmp(a->value.v_regex.regex, b->value.v_regex.regex);
		if (c)
			return sign_of(c);
		return sign_of(strcmp(a->value.v_regex.options, b->value.v_regex.options));
	}
	case BSON_TYPE_DBPOINTER: {
		int c = cmp_bytes(a->value.v_dbpointer.collection, a->value.v_dbpointer.collection_len,
				  b->value.v_dbpointer.collection, b->value.v_dbpointer.collection_len);
		if (c)
			return c;
		return sign_of(memcmp(a->value.v_dbpointer.oid.bytes, b->value.v_dbpointer.oid.bytes, 12));
	}
	case BSON_TYPE_CODE:
		return cmp_bytes(a->value.v_code.code, a->value.v_code.code_len, b->value.v_code.code,
				 b->value.v_code.code_len);
	case BSON_TYPE_CODEWSCOPE: {
		int c = cmp_bytes(a->value.v_codewscope.code, a->value.v_codewscope.code_len,
				  b->value.v_codewscope.code, b->value.v_codewscope.code_len);
		if (c)
			return c;
		return cmp_docs(a->value.v_codewscope.scope_data, a->value.v_codewscope.scope_len,
				b->value.v_codewscope.scope_data, b->value.v_codewscope.scope_len, depth);
	}
	default: /* MinKey, MaxKey, Null, Undefined: one value per bracket */
		return 0;
	}
}

static int cmp_value(const bson_value_t *a, const bson_value_t *b, int depth)
{
	int ba = bsoncmp_bracket(a->value_type), bb = bsoncmp_bracket(b->value_type);
	if (ba != bb)
		return ba < bb ? -1 : 1;
	return cmp_same_bracket(a, b, depth);
}

int bsoncmp_value(const bson_value_t *a, const bson_value_t *b)
{
	return cmp_value(a, b, 0);
}

int bsoncmp_iter(const bson_iter_t *a, const bson_iter_t *b)
{
	bson_iter_t ca = *a, cb = *b;
	return cmp_value(bson_iter_value(&ca), bson_iter_value(&cb), 0);
}

int bsoncmp_doc(const bson_t *a, const bson_t *b)
{
	return cmp_docs(bson_get_data(a), a->len, bson_get_data(b), b->len, 0);
}

bool bsoncmp_equal(const bson_value_t *a, const bson_value_t *b)
{
	return bsoncmp_bracket(a->value_type) == bsoncmp_bracket(b->value_type) && cmp_value(a, b, 0) == 0;
}

const char *bsoncmp_type_name(bson_type_t t)
{
	switch (t) {
	case BSON_TYPE_DOUBLE: return "double";
	case BSON_TYPE_UTF8: return "string";
	case BSON_TYPE_DOCUMENT: return "object";
	case BSON_TYPE_ARRAY: return "array";
	case BSON_TYPE_BINARY: return "binData";
	case BSON_TYPE_UNDEFINED: return "undefined";
	case BSON_TYPE_OID: return "objectId";
	case BSON_TYPE_BOOL: return "bool";
	case BSON_TYPE_DATE_TIME: return "date";
	case BSON_TYPE_NULL: return "null";
	case BSON_TYPE_REGEX: return "regex";
	case BSON_TYPE_DBPOINTER: return "dbPointer";
	case BSON_TYPE_CODE: return "javascript";
	case BSON_TYPE_SYMBOL: return "symbol";
	case BSON_TYPE_CODEWSCOPE: return "javascriptWithScope";
	case BSON_TYPE_INT32: return "int";
	case BSON_TYPE_TIMESTAMP: return "timestamp";
	case BSON_TYPE_INT64: return "long";
	case BSON_TYPE_DECIMAL128: return "decimal";
	case BSON_TYPE_MINKEY: return "minKey";
	case BSON_TYPE_MAXKEY: return "maxKey";
	default: return NULL;
	}
}
