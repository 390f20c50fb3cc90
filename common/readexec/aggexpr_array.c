/*
 * aggexpr_array.c - array operators:
 *
 *   $size e                 int32 length; error 17124 unless an array
 *   $arrayElemAt [a, i]     element i (negative: from the end); missing when
 *                           out of range; null when a or i is nullish
 *   $first e / $last e      element 0 / -1 ($arrayElemAt's rules)
 *   $slice [a, n] | [a, pos, n]
 *   $in [x, a]              x equal (aggx_cmp) to an element; error 40081
 *                           unless a is an array
 *   $isArray e              bool
 *   $concatArrays [a...]    null if any operand is nullish
 *
 * Argument errors whose codes/messages we have not pinned down are
 * UNSUPPORTED.
 */
#include <math.h>
#include <stdio.h>

#include "aggexpr_internal.h"

static enum agg_status eval_n(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *vals, size_t lo, size_t hi,
			      size_t *n)
{
	enum agg_status st = aggx_eval_args(arg, ctx, vals, n);

	if (st != AGG_OK)
		return st;
	if (*n < lo || *n > hi)
		return aggx_unsupported(ctx, "invalid:args");
	return AGG_OK;
}

/* An index representable as int32 (int32, int64 or integral double). */
static bool int32_arg(const bson_value_t *v, int64_t *x)
{
	double d;

	switch (v->value_type) {
	case BSON_TYPE_INT32: *x = v->value.v_int32; return true;
	case BSON_TYPE_INT64: *x = v->value.v_int64; return *x >= INT32_MIN && *x <= INT32_MAX;
	case BSON_TYPE_DOUBLE:
		d = v->value.v_double;
		if (!(d >= INT32_MIN && d <= INT32_MAX) || floor(d) != d)
			return false;
		*x = (int64_t)d;
		return true;
	default: return false;
	}
}

static bool elem_at(const bson_value_t *arr, int64_t i, bson_value_t *out)
{
	bson_iter_t it;
	int64_t len = aggx_array_len(arr), k = 0;

	out->value_type = BSON_TYPE_EOD;
	if (i < 0)
		i += len;
	if (i < 0 || i >= len || !aggx_iter_array(arr, &it))
		return true;
	while (bson_iter_next(&it))
		if (k++ == i) {
			*out = *bson_iter_value(&it);
			break;
		}
	return true;
}

static enum agg_status op_size(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v[AGGX_MAX_ARGS];
	size_t n;
	enum agg_status st = eval_n(arg, ctx, v, 1, 1, &n);

	if (st != AGG_OK)
		return st;
	if (v[0].value_type != BSON_TYPE_ARRAY)
		return agg_fail(ctx->err, AGG_ERROR, 17124, "The argument to $size must be an array. Type of argument is: %s",
				aggx_type_name(&v[0]));
	aggx_set_i32(out, (int32_t)aggx_array_len(&v[0]));
	return AGG_OK;
}

static enum agg_status elem_common(const bson_value_t *a, const bson_value_t *i, struct aggx_ctx *ctx,
				   bson_value_t *out)
{
	int64_t idx;

	if (aggx_nullish(a) || aggx_nullish(i)) {
		aggx_set_null(out);
		return AGG_OK;
	}
	if (a->value_type != BSON_TYPE_ARRAY || !int32_arg(i, &idx))
		return aggx_unsupported(ctx, "expr:$arrayElemAt_args");
	elem_at(a, idx, out);
	return AGG_OK;
}

static enum agg_status op_elemat(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v[AGGX_MAX_ARGS];
	size_t n;
	enum agg_status st = eval_n(arg, ctx, v, 2, 2, &n);

	return st != AGG_OK ? st : elem_common(&v[0], &v[1], ctx, out);
}

static enum agg_status first_last(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, int32_t i)
{
	bson_value_t v[AGGX_MAX_ARGS], idx;
	size_t n;
	enum agg_status st = eval_n(arg, ctx, v, 1, 1, &n);

	if (st != AGG_OK)
		return st;
	aggx_set_i32(&idx, i);
	return elem_common(&v[0], &idx, ctx, out);
}

static enum agg_status op_first(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return first_last(arg, ctx, out, 0);
}

static enum agg_status op_last(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return first_last(arg, ctx, out, -1);
}

/* Elements [from, from + count) of arr as a new array. */
static enum agg_status sub_array(const bson_value_t *arr, int64_t from, int64_t count, struct aggx_ctx *ctx,
				 bson_value_t *out)
{
	bson_iter_t it;
	bson_t b;
	int64_t k = 0;
	uint32_t o = 0;
	char key[24];

	bson_init(&b);
	if (aggx_iter_array(arr, &it))
		while (bson_iter_next(&it)) {
			if (k >= from && k - from < count) {
				snprintf(key, sizeof key, "%u", o++);
				bson_append_value(&b, key, -1, bson_iter_value(&it));
			}
			k++;
		}
	return aggx_finish(ctx, &b, BSON_TYPE_ARRAY, out);
}

static enum agg_status op_slice(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v[AGGX_MAX_ARGS];
	size_t n;
	int64_t len, pos, cnt;
	enum agg_status st = eval_n(arg, ctx, v, 2, 3, &n);

	if (st != AGG_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		if (aggx_nullish(&v[i])) {
			aggx_set_null(out);
			return AGG_OK;
		}
	if (v[0].value_type != BSON_TYPE_ARRAY || !int32_arg(&v[1], &pos) || (n == 3 && !int32_arg(&v[2], &cnt)))
		return aggx_unsupported(ctx, "expr:$slice_args");
	len = aggx_array_len(&v[0]);
	if (n == 2) {
		cnt = pos;
		if (cnt >= 0)
			return sub_array(&v[0], 0, cnt, ctx, out);
		return sub_array(&v[0], len + cnt < 0 ? 0 : len + cnt, len, ctx, out);
	}
	if (cnt <= 0)
		return aggx_unsupported(ctx, "expr:$slice_args");
	if (pos < 0)
		pos = len + pos < 0 ? 0 : len + pos;
	return sub_array(&v[0], pos, cnt, ctx, out);
}

static enum agg_status op_in(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v[AGGX_MAX_ARGS];
	bson_iter_t it;
	size_t n;
	enum agg_status st = eval_n(arg, ctx, v, 2, 2, &n);

	if (st != AGG_OK)
		return st;
	if (v[1].value_type != BSON_TYPE_ARRAY)
		return agg_fail(ctx->err, AGG_ERROR, 40081, "$in requires an array as a second argument, found: %s",
				aggx_type_name(&v[1]));
	aggx_set_bool(out, false);
	if (aggx_iter_array(&v[1], &it))
		while (bson_iter_next(&it))
			if (aggx_cmp(&v[0], bson_iter_value(&it)) == 0) {
				aggx_set_bool(out, true);
				break;
			}
	return AGG_OK;
}

static enum agg_status op_isarray(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v[AGGX_MAX_ARGS];
	size_t n;
	enum agg_status st = eval_n(arg, ctx, v, 1, 1, &n);

	if (st == AGG_OK)
		aggx_set_bool(out, v[0].value_type == BSON_TYPE_ARRAY);
	return st;
}

static enum agg_status op_concatarrays(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v[AGGX_MAX_ARGS];
	size_t n;
	bson_t b;
	uint32_t o = 0;
	char key[24];
	enum agg_status st = eval_n(arg, ctx, v, 0, AGGX_MAX_ARGS, &n);

	if (st != AGG_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		if (aggx_nullish(&v[i])) {
			aggx_set_null(out);
			return AGG_OK;
		}
		if (v[i].value_type != BSON_TYPE_ARRAY)
			return aggx_unsupported(ctx, "expr:$concatArrays_type");
	}
	bson_init(&b);
	for (size_t i = 0; i < n; i++) {
		bson_iter_t it;
		if (aggx_iter_array(&v[i], &it))
			while (bson_iter_next(&it)) {
				snprintf(key, sizeof key, "%u", o++);
				bson_append_value(&b, key, -1, bson_iter_value(&it));
			}
	}
	return aggx_finish(ctx, &b, BSON_TYPE_ARRAY, out);
}

const struct aggx_op aggx_array_ops[] = {
	{ "$size", op_size, 1, 1, NULL },
	{ "$arrayElemAt", op_elemat, 2, 2, NULL },
	{ "$first", op_first, 1, 1, NULL },
	{ "$last", op_last, 1, 1, NULL },
	{ "$slice", op_slice, 2, 3, NULL },
	{ "$in", op_in, 2, 2, NULL },
	{ "$isArray", op_isarray, 1, 1, NULL },
	{ "$concatArrays", op_concatarrays, 0, -1, NULL },
	{ NULL, NULL, 0, 0, NULL },
};
