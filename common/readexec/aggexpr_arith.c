/*
 * aggexpr_arith.c - arithmetic operators, following mongod's
 * ExpressionAdd/Subtract/Multiply/Divide/Mod/Abs/Ceil/Floor/Round/Trunc:
 *
 *   - a null, undefined or missing operand gives null;
 *   - int32 and int64 combine in 64-bit arithmetic; an int-only result is
 *     int32 when it fits (createIntOrLong), int64 otherwise; on int64
 *     overflow the operation continues in double;
 *   - a double operand makes the result double; $divide is always double;
 *   - decimal128 operands, and type errors whose code/message differ across
 *     server versions, are UNSUPPORTED rather than guessed.
 *
 * $sum and $avg are mongod's accumulators applied to the arguments
 * (ExpressionFromAccumulator): non-numbers are ignored rather than giving
 * null, and the adding is summation.h's, shared with $group.  $add adds
 * naively, as mongod's ExpressionAdd does.
 */
#include <math.h>
#include <string.h>

#include "aggexpr_internal.h"
#include "summation.h"

static double to_double(const bson_value_t *v)
{
	switch (v->value_type) {
	case BSON_TYPE_INT32: return v->value.v_int32;
	case BSON_TYPE_INT64: return (double)v->value.v_int64;
	case BSON_TYPE_DOUBLE: return v->value.v_double;
	default: return 0;
	}
}

static int64_t to_long(const bson_value_t *v)
{
	return v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
}

/* Rank of a numeric type for widening: 0 int32, 1 int64, 2 double. */
static int widen(int a, const bson_value_t *v)
{
	int r = v->value_type == BSON_TYPE_INT32 ? 0 : v->value_type == BSON_TYPE_INT64 ? 1 : 2;
	return r > a ? r : a;
}

static enum agg_status check_num(const bson_value_t *v, struct aggx_ctx *ctx, const char *op)
{
	char r[64];

	if (v->value_type == BSON_TYPE_DECIMAL128)
		return aggx_unsupported(ctx, "expr:decimal");
	if (aggx_numeric(v))
		return AGG_OK;
	snprintf(r, sizeof r, "expr:%s_type", op);
	return aggx_unsupported(ctx, r);
}

/* ---- $add / $multiply ------------------------------------------------------ */

struct numacc {
	int type; /* widest so far: 0 int, 1 long, 2 double */
	int64_t l;
	double d;
	bool date;
};

static void acc_add(struct numacc *s, const bson_value_t *v, int64_t lv, bool isdate)
{
	int old = s->type;
	int64_t r;

	if (!isdate)
		s->type = widen(s->type, v);
	if (old != s->type && s->type == 2)
		s->d = (double)s->l;
	if (s->type == 2) {
		s->d += isdate ? (double)lv : to_double(v);
	} else if (__builtin_add_overflow(s->l, lv, &r)) {
		s->type = 2;
		s->d = (double)s->l + (isdate ? (double)lv : to_double(v));
	} else {
		s->l = r;
	}
}

static enum agg_status op_add(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t argv[AGGX_MAX_ARGS];
	size_t n = aggx_args(arg, argv, AGGX_MAX_ARGS);
	struct numacc s = { 0 };

	for (size_t i = 0; i < n && i < AGGX_MAX_ARGS; i++) {
		bson_value_t v;
		enum agg_status st = aggx_eval_in(&argv[i], ctx, &v);
		if (st != AGG_OK)
			return st;
		if (aggx_nullish(&v)) {
			aggx_set_null(out);
			return AGG_OK;
		}
		if (v.value_type == BSON_TYPE_DATE_TIME) {
			if (s.date)
				return agg_fail(ctx->err, AGG_ERROR, 16612, "only one date allowed in an $add expression");
			s.date = true;
			acc_add(&s, &v, v.value.v_datetime, true);
			continue;
		}
		if ((st = check_num(&v, ctx, "$add")) != AGG_OK)
			return st;
		acc_add(&s, &v, v.value_type == BSON_TYPE_DOUBLE ? 0 : to_long(&v), false);
	}
	if (s.date) {
		if (s.type < 2) {
			out->value_type = BSON_TYPE_DATE_TIME;
			out->value.v_datetime = s.l;
			return AGG_OK;
		}
		if (!(s.d >= -9223372036854775808.0 && s.d < 9223372036854775808.0))
			return aggx_unsupported(ctx, "expr:$add_date_overflow");
		out->value_type = BSON_TYPE_DATE_TIME;
		out->value.v_datetime = llround(s.d);
		return AGG_OK;
	}
	if (s.type == 0)
		aggx_set_int_or_long(out, s.l);
	else if (s.type == 1)
		aggx_set_i64(out, s.l);
	else
		aggx_set_double(out, s.d);
	return AGG_OK;
}

static enum agg_status op_multiply(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t argv[AGGX_MAX_ARGS];
	size_t n = aggx_args(arg, argv, AGGX_MAX_ARGS);
	struct numacc s = { .l = 1 };

	for (size_t i = 0; i < n && i < AGGX_MAX_ARGS; i++) {
		bson_value_t v;
		int old = s.type;
		int64_t r;
		enum agg_status st = aggx_eval_in(&argv[i], ctx, &v);
		if (st != AGG_OK)
			return st;
		if (aggx_nullish(&v)) {
			aggx_set_null(out);
			return AGG_OK;
		}
		if ((st = check_num(&v, ctx, "$multiply")) != AGG_OK)
			return st;
		s.type = widen(s.type, &v);
		if (old != s.type && s.type == 2)
			s.d = (double)s.l;
		if (s.type == 2) {
			s.d *= to_double(&v);
		} else if (__builtin_mul_overflow(s.l, to_long(&v), &r)) {
			s.type = 2;
			s.d = (double)s.l * to_double(&v);
		} else {
			s.l = r;
		}
	}
	if (s.type == 0)
		aggx_set_int_or_long(out, s.l);
	else if (s.type == 1)
		aggx_set_i64(out, s.l);
	else
		aggx_set_double(out, s.d);
	return AGG_OK;
}

/* ---- $sum / $avg ---------------------------------------------------------------- */

/* Feed the arguments to acc as mongod's ExpressionFromAccumulator does: a
 * single argument that is an array adds its elements, any other single
 * argument adds itself, several arguments add each (an array among them
 * is not a number: ignored, like any non-number). */
static enum agg_status sum_args(const bson_value_t *arg, struct aggx_ctx *ctx, struct summation_acc *acc)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0;
	bson_iter_t it;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);

	if (st != AGG_OK)
		return st;
	if (n == 1 && vals[0].value_type == BSON_TYPE_ARRAY) {
		if (aggx_iter_array(&vals[0], &it))
			while (bson_iter_next(&it))
				if (summation_acc_add(acc, bson_iter_value(&it)) == SUMMATION_DECIMAL)
					return aggx_unsupported(ctx, "expr:decimal");
		return AGG_OK;
	}
	for (size_t i = 0; i < n; i++)
		if (summation_acc_add(acc, &vals[i]) == SUMMATION_DECIMAL)
			return aggx_unsupported(ctx, "expr:decimal");
	return AGG_OK;
}

static enum agg_status op_sum_avg(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, bool avg)
{
	struct summation_acc acc = { 0 };
	enum agg_status st = sum_args(arg, ctx, &acc);

	if (st == AGG_OK)
		(avg ? summation_acc_avg : summation_acc_sum)(&acc, out);
	return st;
}

static enum agg_status op_sum(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_sum_avg(arg, ctx, out, false);
}

static enum agg_status op_avg(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_sum_avg(arg, ctx, out, true);
}

/* ---- binary operators --------------------------------------------------------- */

static enum agg_status eval2(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *a, bson_value_t *b)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);

	if (st != AGG_OK)
		return st;
	if (n != 2)
		return aggx_unsupported(ctx, "invalid:args");
	*a = vals[0];
	*b = vals[1];
	return AGG_OK;
}

static enum agg_status op_subtract(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t a, b;
	enum agg_status st = eval2(arg, ctx, &a, &b);
	int64_t r;

	if (st != AGG_OK)
		return st;
	if (a.value_type == BSON_TYPE_DECIMAL128 || b.value_type == BSON_TYPE_DECIMAL128)
		return aggx_unsupported(ctx, "expr:decimal");
	if (aggx_numeric(&a) && aggx_numeric(&b)) {
		int w = widen(widen(0, &a), &b);
		if (w == 2)
			aggx_set_double(out, to_double(&a) - to_double(&b));
		else if (__builtin_sub_overflow(to_long(&a), to_long(&b), &r))
			aggx_set_double(out, to_double(&a) - to_double(&b));
		else if (w == 1)
			aggx_set_i64(out, r);
		else
			aggx_set_int_or_long(out, r);
		return AGG_OK;
	}
	if (aggx_nullish(&a) || aggx_nullish(&b)) {
		aggx_set_null(out);
		return AGG_OK;
	}
	if (a.value_type == BSON_TYPE_DATE_TIME && b.value_type == BSON_TYPE_DATE_TIME) {
		if (__builtin_sub_overflow(a.value.v_datetime, b.value.v_datetime, &r))
			return aggx_unsupported(ctx, "expr:$subtract_overflow");
		aggx_set_i64(out, r);
		return AGG_OK;
	}
	if (a.value_type == BSON_TYPE_DATE_TIME &&
	    (b.value_type == BSON_TYPE_INT32 || b.value_type == BSON_TYPE_INT64)) {
		if (__builtin_sub_overflow(a.value.v_datetime, to_long(&b), &r))
			return aggx_unsupported(ctx, "expr:$subtract_overflow");
		out->value_type = BSON_TYPE_DATE_TIME;
		out->value.v_datetime = r;
		return AGG_OK;
	}
	return aggx_unsupported(ctx, "expr:$subtract_type");
}

static enum agg_status op_divide(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t a, b;
	enum agg_status st = eval2(arg, ctx, &a, &b);

	if (st != AGG_OK)
		return st;
	if (a.value_type == BSON_TYPE_DECIMAL128 || b.value_type == BSON_TYPE_DECIMAL128)
		return aggx_unsupported(ctx, "expr:decimal");
	if (aggx_numeric(&a) && aggx_numeric(&b)) {
		if (to_double(&b) == 0)
			return agg_fail(ctx->err, AGG_ERROR, 2, "can't $divide by zero");
		aggx_set_double(out, to_double(&a) / to_double(&b));
		return AGG_OK;
	}
	if (aggx_nullish(&a) || aggx_nullish(&b)) {
		aggx_set_null(out);
		return AGG_OK;
	}
	return aggx_unsupported(ctx, "expr:$divide_type");
}

/* overflow::safeMod: x % -1 is 0 (no INT_MIN / -1 trap). */
static int64_t safe_mod(int64_t a, int64_t b)
{
	return b == -1 ? 0 : a % b;
}

static enum agg_status op_mod(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t a, b;
	enum agg_status st = eval2(arg, ctx, &a, &b);

	if (st != AGG_OK)
		return st;
	if (a.value_type == BSON_TYPE_DECIMAL128 || b.value_type == BSON_TYPE_DECIMAL128)
		return aggx_unsupported(ctx, "expr:decimal");
	if (aggx_numeric(&a) && aggx_numeric(&b)) {
		double right = to_double(&b);
		bool b_int32ish = b.value_type == BSON_TYPE_INT32 ||
				  (b.value_type == BSON_TYPE_DOUBLE && right == (double)(int32_t)right &&
				   fabs(right) < 2147483648.0);
		if (right == 0)
			return aggx_unsupported(ctx, "expr:$mod_zero");
		if (a.value_type == BSON_TYPE_DOUBLE || (b.value_type == BSON_TYPE_DOUBLE && !b_int32ish)) {
			aggx_set_double(out, fmod(to_double(&a), right));
			return AGG_OK;
		}
		if (b.value_type == BSON_TYPE_DOUBLE && a.value_type == BSON_TYPE_INT64) {
			aggx_set_i64(out, safe_mod(a.value.v_int64, (int64_t)right));
			return AGG_OK;
		}
		if (b.value_type == BSON_TYPE_DOUBLE) {
			aggx_set_i32(out, (int32_t)safe_mod(a.value.v_int32, (int32_t)right));
			return AGG_OK;
		}
		if (a.value_type == BSON_TYPE_INT64 || b.value_type == BSON_TYPE_INT64)
			aggx_set_i64(out, safe_mod(to_long(&a), to_long(&b)));
		else
			aggx_set_i32(out, (int32_t)safe_mod(a.value.v_int32, b.value.v_int32));
		return AGG_OK;
	}
	if (aggx_nullish(&a) || aggx_nullish(&b)) {
		aggx_set_null(out);
		return AGG_OK;
	}
	return aggx_unsupported(ctx, "expr:$mod_type");
}

/* ---- unary operators ------------------------------------------------------------ */

static enum agg_status eval1(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *v, bool *done,
			     bson_value_t *out, const char *op)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);

	*done = false;
	if (st != AGG_OK)
		return st;
	if (n != 1)
		return aggx_unsupported(ctx, "invalid:args");
	*v = vals[0];
	if (aggx_nullish(v)) {
		aggx_set_null(out);
		*done = true;
		return AGG_OK;
	}
	return check_num(v, ctx, op);
}

static enum agg_status op_abs(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_value_t v;
	bool done;
	enum agg_status st = eval1(arg, ctx, &v, &done, out, "$abs");

	if (st != AGG_OK || done)
		return st;
	if (v.value_type == BSON_TYPE_DOUBLE) {
		aggx_set_double(out, fabs(v.value.v_double));
		return AGG_OK;
	}
	if (to_long(&v) == INT64_MIN)
		return agg_fail(ctx->err, AGG_ERROR, 28680, "can't take $abs of long long min");
	if (v.value_type == BSON_TYPE_INT64)
		aggx_set_i64(out, llabs(v.value.v_int64));
	else
		aggx_set_int_or_long(out, llabs(to_long(&v)));
	return AGG_OK;
}

static enum agg_status op_ceil_floor(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, bool ceil_)
{
	bson_value_t v;
	bool done;
	enum agg_status st = eval1(arg, ctx, &v, &done, out, ceil_ ? "$ceil" : "$floor");

	if (st != AGG_OK || done)
		return st;
	if (v.value_type == BSON_TYPE_DOUBLE)
		aggx_set_double(out, ceil_ ? ceil(v.value.v_double) : floor(v.value.v_double));
	else
		*out = v;
	return AGG_OK;
}

static enum agg_status op_ceil(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_ceil_floor(arg, ctx, out, true);
}

static enum agg_status op_floor(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_ceil_floor(arg, ctx, out, false);
}

/* $round / $trunc of a double at place 0.  mongod goes through Decimal128;
 * the result equals nearbyint()/trunc() unless x lies within a relative
 * 1e-14 of the rounding boundary, where the decimal conversion's precision
 * could decide: those are UNSUPPORTED. */
static enum agg_status round_double(double x, bool trunc_, struct aggx_ctx *ctx, bson_value_t *out)
{
	double boundary, r;

	if (!isfinite(x) || fabs(x) >= 4503599627370496.0 || x == floor(x)) {
		aggx_set_double(out, x);
		return AGG_OK;
	}
	boundary = trunc_ ? round(x) : floor(x) + 0.5;
	r = trunc_ ? trunc(x) : nearbyint(x);
	if (x != boundary && fabs(x - boundary) <= fabs(x) * 1e-14)
		return aggx_unsupported(ctx, trunc_ ? "expr:$trunc_precision" : "expr:$round_precision");
	aggx_set_double(out, r);
	return AGG_OK;
}

static enum agg_status op_round_trunc(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out, bool trunc_)
{
	bson_value_t vals[AGGX_MAX_ARGS];
	size_t n = 0;
	enum agg_status st = aggx_eval_args(arg, ctx, vals, &n);
	const char *op = trunc_ ? "$trunc" : "$round";

	if (st != AGG_OK)
		return st;
	if (n < 1 || n > 2)
		return aggx_unsupported(ctx, "invalid:args");
	if (aggx_nullish(&vals[0]) || (n == 2 && aggx_nullish(&vals[1]))) {
		aggx_set_null(out);
		return AGG_OK;
	}
	if ((st = check_num(&vals[0], ctx, op)) != AGG_OK)
		return st;
	if (n == 2) {
		const bson_value_t *p = &vals[1];
		bool zero = (p->value_type == BSON_TYPE_INT32 && p->value.v_int32 == 0) ||
			    (p->value_type == BSON_TYPE_INT64 && p->value.v_int64 == 0) ||
			    (p->value_type == BSON_TYPE_DOUBLE && p->value.v_double == 0);
		bool pos_int = (p->value_type == BSON_TYPE_INT32 && p->value.v_int32 > 0 && p->value.v_int32 <= 100) ||
			       (p->value_type == BSON_TYPE_INT64 && p->value.v_int64 > 0 && p->value.v_int64 <= 100);
		if (!zero && !(pos_int && vals[0].value_type != BSON_TYPE_DOUBLE))
			return aggx_unsupported(ctx, trunc_ ? "expr:$trunc_place" : "expr:$round_place");
	}
	if (vals[0].value_type != BSON_TYPE_DOUBLE) {
		*out = vals[0];
		return AGG_OK;
	}
	return round_double(vals[0].value.v_double, trunc_, ctx, out);
}

static enum agg_status op_round(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_round_trunc(arg, ctx, out, false);
}

static enum agg_status op_trunc(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	return op_round_trunc(arg, ctx, out, true);
}

const struct aggx_op aggx_arith_ops[] = {
	{ "$add", op_add, 0, -1, NULL },
	{ "$multiply", op_multiply, 0, -1, NULL },
	{ "$sum", op_sum, 0, -1, NULL },
	{ "$avg", op_avg, 0, -1, NULL },
	{ "$subtract", op_subtract, 2, 2, NULL },
	{ "$divide", op_divide, 2, 2, NULL },
	{ "$mod", op_mod, 2, 2, NULL },
	{ "$abs", op_abs, 1, 1, NULL },
	{ "$ceil", op_ceil, 1, 1, NULL },
	{ "$floor", op_floor, 1, 1, NULL },
	{ "$round", op_round, 1, 2, NULL },
	{ "$trunc", op_trunc, 1, 2, NULL },
	{ NULL, NULL, 0, 0, NULL },
};
