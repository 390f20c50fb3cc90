/*
 * aggexpr_str.c - string operators, $type and $toString:
 *
 *   $concat [s...]             null if any operand is nullish; error 16702
 *                              on another type
 *   $toLower/$toUpper e        ASCII case mapping of the operand coerced to
 *                              a string (nullish -> "", integers -> digits;
 *                              doubles and dates UNSUPPORTED: their text
 *                              form is mongod's own)
 *   $strLenBytes/$strLenCP e   int32; error 34473/34471 unless a string
 *   $substrBytes/$substr [s, start, len]   byte range; a negative len means
 *                              "to the end"; ranges cutting a UTF-8
 *                              sequence are UNSUPPORTED
 *   $split [s, delim]          array of pieces
 *   $type e                    the type's name ("missing" when missing)
 *   $toString e                strings, integers, booleans, ObjectIds; other
 *                              conversions UNSUPPORTED
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "aggexpr_internal.h"
#include "bsoncmp.h"

const char *aggx_type_name(const bson_value_t *v)
{
	const char *n = bsoncmp_type_name(v->value_type);

	return n ? n : "missing";
}

static enum agg_status one_arg(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *v)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);

	if (st != AGG_OK)
		return st;
	if (n != 1)
		return aggx_unsupported(ctx, "invalid:args");
	*v = vals[0];
	return AGG_OK;
}

/* mongod's coerceToString for the types whose text we know exactly. */
static enum agg_status coerce_string(const bson_value_t *v, struct aggx_ctx *ctx, const char *op, const char **s,
				     size_t *len, char *buf, size_t buflen)
{
	char r[64];

	switch (v->value_type) {
	case BSON_TYPE_UTF8:
		*s = v->value.v_utf8.str;
		*len = v->value.v_utf8.len;
		return AGG_OK;
	case BSON_TYPE_EOD:
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED:
		*s = "";
		*len = 0;
		return AGG_OK;
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
		*len = (size_t)snprintf(buf, buflen, "%" PRId64,
					v->value_type == BSON_TYPE_INT32 ? (int64_t)v->value.v_int32 : v->value.v_int64);
		*s = buf;
		return AGG_OK;
	default:
		snprintf(r, sizeof r, "expr:%s_type", op);
		return aggx_unsupported(ctx, r);
	}
}

static enum agg_status op_concat(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0, total = 0;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);
	char *p;

	if (st != AGG_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		if (aggx_nullish(&vals[i])) {
			aggx_set_null(out);
			return AGG_OK;
		}
		if (vals[i].value_type != BSON_TYPE_UTF8)
			return agg_fail(ctx->err, AGG_ERROR, 16702, "$concat only supports strings, not %s",
					aggx_type_name(&vals[i]));
		total += vals[i].value.v_utf8.len;
	}
	if (total > 16 * 1024 * 1024 || !(p = aggx_alloc(ctx, total + 1)))
		return aggx_unsupported(ctx, "limit:memory");
	total = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(p + total, vals[i].value.v_utf8.str, vals[i].value.v_utf8.len);
		total += vals[i].value.v_utf8.len;
	}
	p[total] = '\0';
	out->value_type = BSON_TYPE_UTF8;
	out->value.v_utf8.str = p;
	out->value.v_utf8.len = (uint32_t)total;
	return AGG_OK;
}

static enum agg_status change_case(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, bool upper)
{
	bson_value_t v;
	const char *s;
	size_t len;
	char buf[32];
	enum agg_status st = one_arg(arg, ctx, &v);

	if (st != AGG_OK ||
	    (st = coerce_string(&v, ctx, upper ? "$toUpper" : "$toLower", &s, &len, buf, sizeof buf)) != AGG_OK ||
	    (st = aggx_string(ctx, s, len, out)) != AGG_OK)
		return st;
	for (size_t i = 0; i < len; i++) {
		char c = out->value.v_utf8.str[i];
		if (upper && c >= 'a' && c <= 'z')
			out->value.v_utf8.str[i] = (char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			out->value.v_utf8.str[i] = (char)(c - 'A' + 'a');
	}
	return AGG_OK;
}

static enum agg_status op_tolower(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return change_case(arg, ctx, out, false);
}

static enum agg_status op_toupper(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return change_case(arg, ctx, out, true);
}

static enum agg_status op_strlen(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, bool cp)
{
	bson_value_t v;
	enum agg_status st = one_arg(arg, ctx, &v);
	int32_t n = 0;

	if (st != AGG_OK)
		return st;
	if (v.value_type != BSON_TYPE_UTF8)
		return agg_fail(ctx->err, AGG_ERROR, cp ? 34471 : 34473, "%s requires a string argument, found: %s",
				cp ? "$strLenCP" : "$strLenBytes", aggx_type_name(&v));
	if (!cp) {
		aggx_set_i32(out, (int32_t)v.value.v_utf8.len);
		return AGG_OK;
	}
	for (uint32_t i = 0; i < v.value.v_utf8.len; i++)
		n += ((unsigned char)v.value.v_utf8.str[i] & 0xc0) != 0x80;
	aggx_set_i32(out, n);
	return AGG_OK;
}

static enum agg_status op_strlenbytes(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_strlen(arg, ctx, out, false);
}

static enum agg_status op_strlencp(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_strlen(arg, ctx, out, true);
}

/* A whole number in int64 range, from int32/int64/integral double. */
static bool whole(const bson_value_t *v, int64_t *x)
{
	if (v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64) {
		*x = v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
		return true;
	}
	if (v->value_type == BSON_TYPE_DOUBLE && v->value.v_double > -9e15 && v->value.v_double < 9e15 &&
	    floor(v->value.v_double) == v->value.v_double) {
		*x = (int64_t)v->value.v_double;
		return true;
	}
	return false;
}

static bool continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

static enum agg_status op_substrbytes(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0, len;
	const char *s;
	char buf[32];
	int64_t start, count;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);

	if (st != AGG_OK)
		return st;
	if (n != 3)
		return aggx_unsupported(ctx, "invalid:args");
	if ((st = coerce_string(&vals[0], ctx, "$substrBytes", &s, &len, buf, sizeof buf)) != AGG_OK)
		return st;
	if (!whole(&vals[1], &start) || !whole(&vals[2], &count) || start < 0)
		return aggx_unsupported(ctx, "expr:$substrBytes_args");
	if ((uint64_t)start >= len)
		return aggx_string(ctx, "", 0, out);
	if (count < 0 || (uint64_t)count > len - (size_t)start)
		count = (int64_t)(len - (size_t)start);
	if (continuation((unsigned char)s[start]) ||
	    ((size_t)(start + count) < len && continuation((unsigned char)s[start + count])))
		return aggx_unsupported(ctx, "expr:$substrBytes_utf8");
	return aggx_string(ctx, s + start, (size_t)count, out);
}

static enum agg_status op_split(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0, start = 0, len, dlen;
	const char *s, *d;
	bson_t b;
	uint32_t k = 0;
	char key[24];
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);

	if (st != AGG_OK)
		return st;
	if (n != 2)
		return aggx_unsupported(ctx, "invalid:args");
	if (aggx_nullish(&vals[0])) {
		aggx_set_null(out);
		return AGG_OK;
	}
	if (vals[0].value_type != BSON_TYPE_UTF8 || vals[1].value_type != BSON_TYPE_UTF8 ||
	    vals[1].value.v_utf8.len == 0)
		return aggx_unsupported(ctx, "expr:$split_args");
	s = vals[0].value.v_utf8.str;
	len = vals[0].value.v_utf8.len;
	d = vals[1].value.v_utf8.str;
	dlen = vals[1].value.v_utf8.len;
	bson_init(&b);
	for (size_t i = 0; i + dlen <= len;) {
		if (memcmp(s + i, d, dlen) == 0) {
			snprintf(key, sizeof key, "%u", k++);
			bson_append_utf8(&b, key, -1, s + start, (int)(i - start));
			i += dlen;
			start = i;
		} else {
			i++;
		}
	}
	snprintf(key, sizeof key, "%u", k);
	bson_append_utf8(&b, key, -1, s + start, (int)(len - start));
	return aggx_finish(ctx, &b, BSON_TYPE_ARRAY, out);
}

static enum agg_status op_type(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v;
	enum agg_status st = one_arg(arg, ctx, &v);
	const char *name;

	if (st != AGG_OK)
		return st;
	name = aggx_type_name(&v);
	out->value_type = BSON_TYPE_UTF8;
	out->value.v_utf8.str = (char *)name;
	out->value.v_utf8.len = (uint32_t)strlen(name);
	return AGG_OK;
}

static enum agg_status op_tostring(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v;
	char buf[32];
	const char *s;
	size_t len;
	enum agg_status st = one_arg(arg, ctx, &v);

	if (st != AGG_OK)
		return st;
	if (aggx_nullish(&v)) {
		aggx_set_null(out);
		return AGG_OK;
	}
	if (v.value_type == BSON_TYPE_BOOL)
		return aggx_string(ctx, v.value.v_bool ? "true" : "false", v.value.v_bool ? 4 : 5, out);
	if (v.value_type == BSON_TYPE_OID) {
		char hex[25];
		bson_oid_to_string(&v.value.v_oid, hex);
		return aggx_string(ctx, hex, 24, out);
	}
	if ((st = coerce_string(&v, ctx, "$toString", &s, &len, buf, sizeof buf)) != AGG_OK)
		return st;
	return aggx_string(ctx, s, len, out);
}

const struct aggx_op aggx_str_ops[] = {
	{ "$concat", op_concat, 0, -1, NULL },
	{ "$toLower", op_tolower, 1, 1, NULL },
	{ "$toUpper", op_toupper, 1, 1, NULL },
	{ "$strLenBytes", op_strlenbytes, 1, 1, NULL },
	{ "$strLenCP", op_strlencp, 1, 1, NULL },
	{ "$substrBytes", op_substrbytes, 3, 3, NULL },
	{ "$substr", op_substrbytes, 3, 3, NULL },
	{ "$split", op_split, 2, 2, NULL },
	{ "$type", op_type, 1, 1, NULL },
	{ "$toString", op_tostring, 1, 1, NULL },
	{ NULL, NULL, 0, 0, NULL },
};
