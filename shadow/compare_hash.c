/*
 * compare_hash.c - 64-bit hashes of BSON values that agree with
 * cmp_walk_value's equality (equal values, equal hashes), so that result
 * sets can be matched by sorting on the hash and comparing only values
 * whose hashes collide.
 *
 * Agreement rules: a number hashes by value (an integral value in int64
 * range as that int64, any other as the bits of the nearest double; NaN as
 * one tag), with its type mixed in only under strict_types, and as one tag
 * when float_epsilon is set; an ObjectId hashes as its lowercase hex text,
 * like a 24-hex-digit string under oid_as_string; documents combine their
 * non-ignored fields with a sum (order-free) unless ordered_fields;
 * past COMPARE_MAX_DEPTH the bytes are hashed, as the walk compares bytes.
 */
#include "compare_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { H_NUM = 1, H_NAN, H_STR, H_OID, H_DOC, H_ARR, H_RAW };

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t w;

	h = mix(h ^ n);
	for (; n >= 8; n -= 8, s += 8) {
		memcpy(&w, s, 8);
		h = mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
	}
	w = 0;
	if (n)
		memcpy(&w, s, n);
	return mix(h ^ w ^ ((uint64_t)n << 56));
}

static uint64_t hash_ld(long double x)
{
	if (isnan(x))
		return mix(H_NAN);
	if (x == truncl(x) && x >= -9223372036854775808.0L && x < 9223372036854775808.0L) {
		int64_t i = (int64_t)x;
		return mix(H_NUM ^ mix((uint64_t)i));
	}
	double d = (double)x;
	uint64_t bits;
	memcpy(&bits, &d, 8);
	return mix(H_NUM + 7 * mix(bits));
}

static uint64_t hash_number(const struct compare_opts *o, const bson_value_t *v)
{
	char buf[BSON_DECIMAL128_STRING];
	uint64_t h;

	if (o->float_epsilon > 0)
		h = mix(H_NUM);
	else if (v->value_type == BSON_TYPE_INT32)
		h = hash_ld(v->value.v_int32);
	else if (v->value_type == BSON_TYPE_INT64)
		h = mix(H_NUM ^ mix((uint64_t)v->value.v_int64));
	else if (v->value_type == BSON_TYPE_DOUBLE)
		h = hash_ld(v->value.v_double);
	else {
		bson_decimal128_to_string(&v->value.v_decimal128, buf);
		h = hash_ld(strtold(buf, NULL));
	}
	return o->strict_types ? mix(h ^ v->value_type) : h;
}

static uint64_t hash_oid_hex(const bson_oid_t *oid)
{
	char hex[25];

	bson_oid_to_string(oid, hex);
	return hash_bytes(H_OID, hex, 24);
}

static uint64_t hash_string(const struct compare_opts *o, const char *s, size_t len)
{
	char low[24];

	if (o->oid_as_string && len == 24) {
		for (size_t i = 0; i < 24; i++) {
			if (!s[i] || !strchr("0123456789abcdefABCDEF", s[i]))
				return hash_bytes(H_STR, s, len);
			low[i] = (char)(s[i] | 0x20);
		}
		return hash_bytes(H_OID, low, 24);
	}
	return hash_bytes(H_STR, s, len);
}

static uint64_t hash_container(struct cmp_ctx *c, const bson_value_t *v)
{
	bool doc = v->value_type == BSON_TYPE_DOCUMENT;
	bool ordered = !doc || c->o->ordered_fields;
	uint64_t h = doc ? H_DOC : H_ARR, sum = 0;
	bson_iter_t it;

	if (c->depth >= COMPARE_MAX_DEPTH || !cmp_doc_ok(v) ||
	    !bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
		return hash_bytes(H_RAW, v->value.v_doc.data, v->value.v_doc.data_len);
	c->depth++;
	while (bson_iter_next(&it)) {
		uint64_t fh;
		if (doc) {
			struct cmp_mark m = cmp_path_key(c, bson_iter_key(&it));
			bool skip = cmp_ignored(c);
			fh = skip ? 0 : mix(hash_bytes(H_STR, bson_iter_key(&it), bson_iter_key_len(&it)) +
					    3 * cmp_hash_value(c, bson_iter_value(&it)));
			cmp_path_pop(c, m);
			if (skip)
				continue;
		} else {
			fh = cmp_hash_value(c, bson_iter_value(&it));
		}
		if (ordered)
			h = mix(h ^ fh) + 0x9e3779b97f4a7c15ULL;
		else
			sum += fh;
	}
	c->depth--;
	return ordered ? h : mix(h ^ sum);
}

uint64_t cmp_hash_value(struct cmp_ctx *c, const bson_value_t *v)
{
	const bson_value_t *x = v;
	uint64_t t = (uint64_t)v->value_type << 48;

	if (cmp_is_number(v->value_type))
		return hash_number(c->o, v);
	switch (v->value_type) {
	case BSON_TYPE_UTF8:
		return hash_string(c->o, x->value.v_utf8.str, x->value.v_utf8.len);
	case BSON_TYPE_OID:
		return hash_oid_hex(&x->value.v_oid);
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		return hash_container(c, v);
	case BSON_TYPE_SYMBOL:
		return hash_bytes(t, x->value.v_symbol.symbol, x->value.v_symbol.len);
	case BSON_TYPE_CODE:
		return hash_bytes(t, x->value.v_code.code, x->value.v_code.code_len);
	case BSON_TYPE_BINARY:
		return hash_bytes(t ^ x->value.v_binary.subtype, x->value.v_binary.data,
				  x->value.v_binary.data_len);
	case BSON_TYPE_DATE_TIME:
		return mix(t ^ mix((uint64_t)x->value.v_datetime));
	case BSON_TYPE_BOOL:
		return mix(t ^ (x->value.v_bool ? 1 : 0));
	case BSON_TYPE_TIMESTAMP:
		return mix(t ^ mix(((uint64_t)x->value.v_timestamp.timestamp << 32) |
				   x->value.v_timestamp.increment));
	case BSON_TYPE_REGEX:
		return hash_bytes(t, x->value.v_regex.regex, strlen(x->value.v_regex.regex));
	case BSON_TYPE_DBPOINTER:
		return hash_bytes(t, x->value.v_dbpointer.oid.bytes, 12);
	default: /* null, undefined, min/max key, code with scope: the type */
		return mix(t);
	}
}
