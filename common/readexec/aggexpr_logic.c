/*
 * aggexpr_logic.c - comparison, boolean and conditional operators:
 *
 *   $eq $ne $gt $gte $lt $lte $cmp  [a, b]   full BSON order (aggx_cmp):
 *                                            types compare by bracket, so
 *                                            {$gt: ["a", 1]} is true
 *   $and $or [e...]  $not [e]               truthiness of aggx_truthy;
 *                                            $and/$or stop at the first
 *                                            deciding operand, as mongod
 *   $cond [if, then, else] | {if, then, else}
 *   $ifNull [e..., replacement]             first not null/missing/undefined
 *   $switch {branches: [{case, then}...], default}
 *
 * Only the taken branch of $cond/$switch is evaluated, so an error in the
 * other branch does not surface (mongod likewise).
 */
#include <string.h>

#include "aggexpr_internal.h"

enum { CMP_EQ, CMP_NE, CMP_GT, CMP_GTE, CMP_LT, CMP_LTE, CMP_CMP };

static enum agg_status compare(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, int op)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);
	int c;

	if (st != AGG_OK)
		return st;
	if (n != 2)
		return aggx_unsupported(ctx, "invalid:args");
	c = aggx_cmp(&vals[0], &vals[1]);
	switch (op) {
	case CMP_EQ: aggx_set_bool(out, c == 0); break;
	case CMP_NE: aggx_set_bool(out, c != 0); break;
	case CMP_GT: aggx_set_bool(out, c > 0); break;
	case CMP_GTE: aggx_set_bool(out, c >= 0); break;
	case CMP_LT: aggx_set_bool(out, c < 0); break;
	case CMP_LTE: aggx_set_bool(out, c <= 0); break;
	default: aggx_set_i32(out, (c > 0) - (c < 0)); break;
	}
	return AGG_OK;
}

#define CMP_OP(fn, op)                                                                      \
	static enum agg_status fn(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out) \
	{                                                                                   \
		return compare(arg, ctx, out, op);                                          \
	}
CMP_OP(op_eq, CMP_EQ)
CMP_OP(op_ne, CMP_NE)
CMP_OP(op_gt, CMP_GT)
CMP_OP(op_gte, CMP_GTE)
CMP_OP(op_lt, CMP_LT)
CMP_OP(op_lte, CMP_LTE)
CMP_OP(op_cmp, CMP_CMP)

static enum agg_status and_or(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, bool is_and)
{
	bson_value_t argv[AGGX_MAX_ARGS];
	size_t n = aggx_args(arg, argv, AGGX_MAX_ARGS);

	for (size_t i = 0; i < n && i < AGGX_MAX_ARGS; i++) {
		bson_value_t v;
		enum agg_status st = aggx_eval_in(&argv[i], ctx, &v);
		if (st != AGG_OK)
			return st;
		if (aggx_truthy(&v) != is_and) {
			aggx_set_bool(out, !is_and);
			return AGG_OK;
		}
	}
	aggx_set_bool(out, is_and);
	return AGG_OK;
}

static enum agg_status op_and(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return and_or(arg, ctx, out, true);
}

static enum agg_status op_or(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return and_or(arg, ctx, out, false);
}

static enum agg_status op_not(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);

	if (st != AGG_OK)
		return st;
	if (n != 1)
		return aggx_unsupported(ctx, "invalid:args");
	aggx_set_bool(out, !aggx_truthy(&vals[0]));
	return AGG_OK;
}

/* ---- $cond ----------------------------------------------------------------- */

/* The three parts of either form; false when the shape is wrong. */
static bool cond_parts(const bson_value_t *arg, bson_value_t parts[3])
{
	bson_iter_t it;
	bool seen[3] = { false, false, false };
	static const char *const names[3] = { "if", "then", "else" };

	if (arg->value_type == BSON_TYPE_ARRAY)
		return aggx_args(arg, parts, 3) == 3;
	if (arg->value_type != BSON_TYPE_DOCUMENT || !aggx_iter_array(arg, &it))
		return false;
	while (bson_iter_next(&it)) {
		int k = -1;
		for (int i = 0; i < 3; i++)
			if (strcmp(bson_iter_key(&it), names[i]) == 0)
				k = i;
		if (k < 0 || seen[k])
			return false;
		seen[k] = true;
		parts[k] = *bson_iter_value(&it);
	}
	return seen[0] && seen[1] && seen[2];
}

static enum agg_status check_cond(const bson_value_t *arg, int depth, bson_error_t *err)
{
	bson_value_t parts[3];

	if (!cond_parts(arg, parts))
		return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:$cond");
	for (int i = 0; i < 3; i++) {
		enum agg_status st = aggx_check_in(&parts[i], depth + 1, err);
		if (st != AGG_OK)
			return st;
	}
	return AGG_OK;
}

static enum agg_status op_cond(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t parts[3], c;
	enum agg_status st;

	if (!cond_parts(arg, parts))
		return aggx_unsupported(ctx, "invalid:$cond");
	if ((st = aggx_eval_in(&parts[0], ctx, &c)) != AGG_OK)
		return st;
	return aggx_eval_in(&parts[aggx_truthy(&c) ? 1 : 2], ctx, out);
}

/* ---- $ifNull --------------------------------------------------------------- */

static enum agg_status op_ifnull(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t argv[AGGX_MAX_ARGS];
	size_t n = aggx_args(arg, argv, AGGX_MAX_ARGS);

	if (n < 2 || n > AGGX_MAX_ARGS)
		return aggx_unsupported(ctx, "invalid:args");
	for (size_t i = 0; i + 1 < n; i++) {
		enum agg_status st = aggx_eval_in(&argv[i], ctx, out);
		if (st != AGG_OK)
			return st;
		if (!aggx_nullish(out))
			return AGG_OK;
	}
	return aggx_eval_in(&argv[n - 1], ctx, out);
}

/* ---- $switch ------------------------------------------------------------------ */

struct sw {
	bson_value_t branches, dflt;
	bool has_branches, has_default;
};

static bool switch_parts(const bson_value_t *arg, struct sw *s)
{
	bson_iter_t it;

	memset(s, 0, sizeof *s);
	if (arg->value_type != BSON_TYPE_DOCUMENT || !aggx_iter_array(arg, &it))
		return false;
	while (bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), "branches") == 0 && !s->has_branches) {
			s->branches = *bson_iter_value(&it);
			s->has_branches = true;
		} else if (strcmp(bson_iter_key(&it), "default") == 0 && !s->has_default) {
			s->dflt = *bson_iter_value(&it);
			s->has_default = true;
		} else {
			return false;
		}
	}
	return s->has_branches && s->branches.value_type == BSON_TYPE_ARRAY && aggx_array_len(&s->branches) > 0;
}

/* One {case, then} branch. */
static bool branch_parts(const bson_value_t *b, bson_value_t *c, bson_value_t *t)
{
	bson_iter_t it;
	int seen = 0;

	if (b->value_type != BSON_TYPE_DOCUMENT || !aggx_iter_array(b, &it))
		return false;
	while (bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), "case") == 0 && !(seen & 1)) {
			*c = *bson_iter_value(&it);
			seen |= 1;
		} else if (strcmp(bson_iter_key(&it), "then") == 0 && !(seen & 2)) {
			*t = *bson_iter_value(&it);
			seen |= 2;
		} else {
			return false;
		}
	}
	return seen == 3;
}

static enum agg_status check_switch(const bson_value_t *arg, int depth, bson_error_t *err)
{
	struct sw s;
	bson_iter_t it;
	enum agg_status st;

	if (!switch_parts(arg, &s) || !aggx_iter_array(&s.branches, &it))
		return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:$switch");
	while (bson_iter_next(&it)) {
		bson_value_t c, t;
		if (!branch_parts(bson_iter_value(&it), &c, &t))
			return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:$switch");
		if ((st = aggx_check_in(&c, depth + 1, err)) != AGG_OK || (st = aggx_check_in(&t, depth + 1, err)) != AGG_OK)
			return st;
	}
	return s.has_default ? aggx_check_in(&s.dflt, depth + 1, err) : AGG_OK;
}

static enum agg_status op_switch(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	struct sw s;
	bson_iter_t it;

	if (!switch_parts(arg, &s) || !aggx_iter_array(&s.branches, &it))
		return aggx_unsupported(ctx, "invalid:$switch");
	while (bson_iter_next(&it)) {
		bson_value_t c, t, v;
		enum agg_status st;
		if (!branch_parts(bson_iter_value(&it), &c, &t))
			return aggx_unsupported(ctx, "invalid:$switch");
		if ((st = aggx_eval_in(&c, ctx, &v)) != AGG_OK)
			return st;
		if (aggx_truthy(&v))
			return aggx_eval_in(&t, ctx, out);
	}
	if (s.has_default)
		return aggx_eval_in(&s.dflt, ctx, out);
	return agg_fail(ctx->err, AGG_ERROR, 40066,
			"$switch could not find a matching branch for an input, and no default was specified.");
}

const struct aggx_op aggx_logic_ops[] = {
	{ "$eq", op_eq, 2, 2, NULL },
	{ "$ne", op_ne, 2, 2, NULL },
	{ "$gt", op_gt, 2, 2, NULL },
	{ "$gte", op_gte, 2, 2, NULL },
	{ "$lt", op_lt, 2, 2, NULL },
	{ "$lte", op_lte, 2, 2, NULL },
	{ "$cmp", op_cmp, 2, 2, NULL },
	{ "$and", op_and, 0, -1, NULL },
	{ "$or", op_or, 0, -1, NULL },
	{ "$not", op_not, 1, 1, NULL },
	{ "$cond", op_cond, 3, 3, check_cond },
	{ "$ifNull", op_ifnull, 2, -1, NULL },
	{ "$switch", op_switch, 1, 1, check_switch },
	{ NULL, NULL, 0, 0, NULL },
};
