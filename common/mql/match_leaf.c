/*
 * match_leaf.c - predicates on one value for the matcher: comparisons
 * ($eq/$gt/... within a type bracket, null matching missing, NaN only
 * equal to NaN, MinKey/MaxKey bounds), $type, $mod, $size, the bit
 * operators, and $exists' truthiness.  Each *_check validates an operator's
 * argument with MongoDB's message; each predicate assumes a checked
 * argument.  No allocation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"
#include "match_internal.h"

static const bson_value_t null_value = {.value_type = BSON_TYPE_NULL};

static bool is_number(const bson_value_t *v)
{
	return bsoncmp_bracket(v->value_type) == bsoncmp_bracket(BSON_TYPE_INT32);
}

static long double number_ld(const bson_value_t *v)
{
	switch (v->value_type) {
	case BSON_TYPE_INT32: return v->value.v_int32;
	case BSON_TYPE_INT64: return (long double)v->value.v_int64;
	case BSON_TYPE_DOUBLE: return v->value.v_double;
	case BSON_TYPE_DECIMAL128: {
		char buf[BSON_DECIMAL128_STRING];
		bson_decimal128_to_string(&v->value.v_decimal128, buf);
		return strtold(buf, NULL);
	}
	default: return NAN;
	}
}

/* The value truncated toward zero as an int64; false if NaN/inf/out of range. */
static bool number_trunc_i64(const bson_value_t *v, int64_t *out)
{
	if (v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64) {
		*out = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
		return true;
	}
	long double d = number_ld(v);
	if (isnan(d) || d < -9223372036854775808.0L || d >= 9223372036854775808.0L)
		return false;
	*out = (int64_t)d; /* truncates toward zero */
	return true;
}

/* Like number_trunc_i64, but only for values that are whole numbers. */
static bool number_exact_i64(const bson_value_t *v, int64_t *out)
{
	if (!is_number(v) || !number_trunc_i64(v, out))
		return false;
	return v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64 ||
	       (long double)*out == number_ld(v);
}

bool match_truthy(const bson_value_t *v)
{
	switch (v->value_type) {
	case BSON_TYPE_BOOL: return v->value.v_bool;
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED:
	case BSON_TYPE_EOD: return false;
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
	case BSON_TYPE_DOUBLE:
	case BSON_TYPE_DECIMAL128: return number_ld(v) != 0;
	default: return true;
	}
}

/* ---- comparisons ------------------------------------------------------ */

enum match_status match_cmp_elem(const struct match_elem *e, const bson_value_t *rhs, int op)
{
	const bson_value_t *v = e->v ? e->v : &null_value;
	int lb = bsoncmp_bracket(v->value_type), rb = bsoncmp_bracket(rhs->value_type);

	if (lb != rb) {
		if (rhs->value_type == BSON_TYPE_MINKEY)
			return op == MATCH_CMP_GT || op == MATCH_CMP_GTE ? MATCH_YES : MATCH_NO;
		if (rhs->value_type == BSON_TYPE_MAXKEY)
			return op == MATCH_CMP_LT || op == MATCH_CMP_LTE ? MATCH_YES : MATCH_NO;
		return MATCH_NO;
	}
	if (is_number(v)) {
		bool nl = isnan(number_ld(v)), nr = isnan(number_ld(rhs));
		if (nl || nr)
			return nl && nr && op != MATCH_CMP_GT && op != MATCH_CMP_LT ? MATCH_YES : MATCH_NO;
	}
	int c = bsoncmp_value(v, rhs);
	bool ok;
	switch (op) {
	case MATCH_CMP_EQ: ok = c == 0; break;
	case MATCH_CMP_GT: ok = c > 0; break;
	case MATCH_CMP_GTE: ok = c >= 0; break;
	case MATCH_CMP_LT: ok = c < 0; break;
	default: ok = c <= 0; break;
	}
	return ok ? MATCH_YES : MATCH_NO;
}

enum match_status match_pred_eq(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	(void)ctx;
	return match_cmp_elem(e, arg, MATCH_CMP_EQ);
}

/* ---- $type ------------------------------------------------------------ */

static const struct {
	const char *name;
	int code;
} type_aliases[] = {
	{"double", 1},    {"string", 2},     {"object", 3},  {"array", 4},      {"binData", 5},
	{"undefined", 6}, {"objectId", 7},   {"bool", 8},    {"date", 9},       {"null", 10},
	{"regex", 11},    {"dbPointer", 12}, {"javascript", 13}, {"symbol", 14},
	{"javascriptWithScope", 15},         {"int", 16},    {"timestamp", 17}, {"long", 18},
	{"decimal", 19},  {"minKey", -1},    {"maxKey", 127}, {"number", 1000},
};

/* One $type operand as a code (1000 = "number"); false + err if invalid. */
static enum match_status type_code(const bson_value_t *v, int *code, bson_error_t *err)
{
	if (v->value_type == BSON_TYPE_UTF8) {
		for (size_t i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++)
			if (strcmp(v->value.v_utf8.str, type_aliases[i].name) == 0) {
				*code = type_aliases[i].code;
				return MATCH_YES;
			}
		return match_fail(err, MATCH_ERROR, "Unknown type name alias: %s", v->value.v_utf8.str);
	}
	int64_t n;
	if (!is_number(v))
		return match_fail(err, MATCH_ERROR, "type must be represented as a number or a string");
	if (!number_exact_i64(v, &n) || !((n >= 1 && n <= 19) || n == -1 || n == 127))
		return match_fail(err, MATCH_ERROR, "Invalid numerical type code: %.17Lg", number_ld(v));
	*code = (int)n;
	return MATCH_YES;
}

enum match_status match_type_check(const bson_value_t *arg, bson_error_t *err)
{
	int code;
	if (arg->value_type != BSON_TYPE_ARRAY)
		return type_code(arg, &code, err);
	bson_iter_t it;
	if (!bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return match_fail(err, MATCH_ERROR, "invalid $type array");
	while (bson_iter_next(&it)) {
		enum match_status st = type_code(bson_iter_value(&it), &code, err);
		if (st != MATCH_YES)
			return st;
	}
	return MATCH_YES;
}

static bool type_is(const bson_value_t *v, int code)
{
	if (code == 1000)
		return is_number(v);
	if (code == -1)
		return v->value_type == BSON_TYPE_MINKEY;
	return (int)v->value_type == code;
}

enum match_status match_pred_type(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	const bson_value_t *a = arg;
	int code;

	if (!e->v)
		return MATCH_NO;
	if (a->value_type != BSON_TYPE_ARRAY)
		return type_code(a, &code, ctx->err) == MATCH_YES && type_is(e->v, code) ? MATCH_YES : MATCH_NO;
	bson_iter_t it;
	if (!bson_iter_init_from_data(&it, a->value.v_doc.data, a->value.v_doc.data_len))
		return MATCH_NO;
	while (bson_iter_next(&it))
		if (type_code(bson_iter_value(&it), &code, ctx->err) == MATCH_YES && type_is(e->v, code))
			return MATCH_YES;
	return MATCH_NO;
}

/* ---- $mod ------------------------------------------------------------- */

static enum match_status mod_args(const bson_value_t *arg, int64_t *div, int64_t *rem, bson_error_t *err)
{
	bson_iter_t it;
	bson_value_t v[3]; /* copies: bson_iter_value's storage is reused */
	int n = 0;

	if (arg->value_type != BSON_TYPE_ARRAY ||
	    !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return match_fail(err, MATCH_ERROR, "malformed mod, needs to be an array");
	while (n < 3 && bson_iter_next(&it))
		v[n++] = *bson_iter_value(&it);
	if (n < 2)
		return match_fail(err, MATCH_ERROR, "malformed mod, not enough elements");
	if (n > 2)
		return match_fail(err, MATCH_ERROR, "malformed mod, too many elements");
	if (!is_number(&v[0]))
		return match_fail(err, MATCH_ERROR, "malformed mod, divisor not a number");
	if (!is_number(&v[1]))
		return match_fail(err, MATCH_ERROR, "malformed mod, remainder not a number");
	if (!number_trunc_i64(&v[0], div))
		return match_fail(err, MATCH_ERROR, "malformed mod, divisor value is invalid");
	if (!number_trunc_i64(&v[1], rem))
		return match_fail(err, MATCH_ERROR, "malformed mod, remainder value is invalid");
	if (*div == 0)
		return match_fail(err, MATCH_ERROR, "divisor cannot be 0");
	return MATCH_YES;
}

enum match_status match_mod_check(const bson_value_t *arg, bson_error_t *err)
{
	int64_t d, r;
	return mod_args(arg, &d, &r, err);
}

enum match_status match_pred_mod(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	int64_t d, r, x;

	if (!e->v || !is_number(e->v) || mod_args(arg, &d, &r, ctx->err) != MATCH_YES)
		return MATCH_NO;
	if (!number_trunc_i64(e->v, &x))
		return MATCH_NO;
	int64_t m = d == -1 ? 0 : x % d;
	return m == r ? MATCH_YES : MATCH_NO;
}

/* ---- $size ------------------------------------------------------------ */

enum match_status match_size_check(const bson_value_t *arg, bson_error_t *err)
{
	int64_t n;
	if (!is_number(arg))
		return match_fail(err, MATCH_ERROR, "Failed to parse $size. Expected a number in: $size");
	if (!number_exact_i64(arg, &n))
		return match_fail(err, MATCH_ERROR, "Failed to parse $size. Expected an integer in: $size: %.17Lg",
				  number_ld(arg));
	if (n < 0)
		return match_fail(err, MATCH_ERROR,
				  "Failed to parse $size. Expected a non-negative number in: $size: %lld", (long long)n);
	return MATCH_YES;
}

enum match_status match_pred_size(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	int64_t want, count = 0;
	bson_iter_t it;

	(void)ctx;
	if (!e->v || e->v->value_type != BSON_TYPE_ARRAY || !number_exact_i64(arg, &want))
		return MATCH_NO;
	if (!bson_iter_init_from_data(&it, e->v->value.v_doc.data, e->v->value.v_doc.data_len))
		return MATCH_NO;
	while (bson_iter_next(&it))
		count++;
	return count == want ? MATCH_YES : MATCH_NO;
}

/* ---- bit operators ---------------------------------------------------- */

enum bits_kind { BITS_ALL_SET, BITS_ANY_SET, BITS_ALL_CLEAR, BITS_ANY_CLEAR };

struct bits_arg {
	enum bits_kind kind;
	const bson_value_t *mask;
};

enum match_status match_bits_check(const char *op, const bson_value_t *arg, bson_error_t *err)
{
	int64_t n;
	if (arg->value_type == BSON_TYPE_BINARY)
		return MATCH_YES;
	if (is_number(arg)) {
		if (!number_exact_i64(arg, &n))
			return match_fail(err, MATCH_ERROR, "%s bitmask must be an integer", op);
		if (n < 0)
			return match_fail(err, MATCH_ERROR, "%s bitmask must be a non-negative number", op);
		return MATCH_YES;
	}
	if (arg->value_type != BSON_TYPE_ARRAY)
		return match_fail(err, MATCH_ERROR, "%s takes an Array, a number, or a BinData", op);
	bson_iter_t it;
	if (!bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return match_fail(err, MATCH_ERROR, "%s: invalid array", op);
	while (bson_iter_next(&it)) {
		const bson_value_t *p = bson_iter_value(&it);
		if (!is_number(p) || !number_exact_i64(p, &n))
			return match_fail(err, MATCH_ERROR, "bit positions must be an integer");
		if (n < 0)
			return match_fail(err, MATCH_ERROR, "bit positions cannot be negative");
	}
	return MATCH_YES;
}

/* Bit p of a document value that is an integer or BinData. */
static bool bit_at(const bson_value_t *v, int64_t x, uint64_t p)
{
	if (v->value_type == BSON_TYPE_BINARY) {
		uint64_t byte = p / 8;
		return byte < v->value.v_binary.data_len && (v->value.v_binary.data[byte] >> (p % 8)) & 1;
	}
	if (p >= 64)
		return x < 0; /* sign extension */
	return ((uint64_t)x >> p) & 1;
}

/* Visit each bit position of the mask; stop early once the answer is known. */
static bool bits_test(const struct bits_arg *a, const bson_value_t *v, int64_t x)
{
	bool want = a->kind == BITS_ALL_SET || a->kind == BITS_ANY_SET;
	bool any = a->kind == BITS_ANY_SET || a->kind == BITS_ANY_CLEAR;
	const bson_value_t *m = a->mask;
	int64_t n;

#define BITS_VISIT(pos)                                          \
	do {                                                     \
		bool hit = bit_at(v, x, (pos)) == want;          \
		if (any && hit)                                  \
			return true;                             \
		if (!any && !hit)                                \
			return false;                            \
	} while (0)

	if (m->value_type == BSON_TYPE_BINARY) {
		for (uint64_t i = 0; i < (uint64_t)m->value.v_binary.data_len * 8; i++)
			if ((m->value.v_binary.data[i / 8] >> (i % 8)) & 1)
				BITS_VISIT(i);
	} else if (m->value_type == BSON_TYPE_ARRAY) {
		bson_iter_t it;
		if (bson_iter_init_from_data(&it, m->value.v_doc.data, m->value.v_doc.data_len))
			while (bson_iter_next(&it))
				if (number_exact_i64(bson_iter_value(&it), &n) && n >= 0)
					BITS_VISIT((uint64_t)n);
	} else if (number_exact_i64(m, &n)) {
		for (uint64_t i = 0; i < 64; i++)
			if (((uint64_t)n >> i) & 1)
				BITS_VISIT(i);
	}
#undef BITS_VISIT
	return !any;
}

static enum match_status pred_bits(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	int64_t x = 0;
	(void)ctx;
	if (!e->v)
		return MATCH_NO;
	if (e->v->value_type != BSON_TYPE_BINARY && !number_exact_i64(e->v, &x))
		return MATCH_NO;
	return bits_test(arg, e->v, x) ? MATCH_YES : MATCH_NO;
}

enum match_status match_bits_eval(const char *op, const bson_value_t *arg, const struct match_src *src,
				  struct match_ctx *ctx)
{
	struct bits_arg a = {BITS_ALL_SET, arg};
	if (strcmp(op, "$bitsAnySet") == 0)
		a.kind = BITS_ANY_SET;
	else if (strcmp(op, "$bitsAllClear") == 0)
		a.kind = BITS_ALL_CLEAR;
	else if (strcmp(op, "$bitsAnyClear") == 0)
		a.kind = BITS_ANY_CLEAR;
	return match_path_any(src, true, pred_bits, &a, ctx);
}
