/*
 * summation.c - mongod's double-double summation and the $sum/$avg
 * accumulator over values built on it (see summation.h for the contract).
 *
 * Adding x to (sum, addend), each step exact (error-free transformations;
 * no multiplications, so no contraction into FMA can change a result):
 *
 *   x', addend' = Fast2Sum(x, addend)   x' = x + addend rounded, addend'
 *                                       its rounding error
 *   sum', err   = 2Sum(sum, x')         sum' = sum + x' rounded, err its
 *                                       rounding error (any magnitudes)
 *   addend''    = addend' + err         kept for the next addition
 *
 * With infinities or NaN inputs the pair turns into NaN; special, the
 * plain sum of every input, is then the answer (so +inf stays +inf, and
 * +inf with -inf is NaN), as in mongod.
 */
#include <math.h>

#include "summation.h"

void summation_add_double(struct summation *s, double x)
{
	double t, n, sp, xp, err;

	s->special += x;
	/* Fast2Sum(x, addend): addend is the smaller of the two */
	t = x + s->addend;
	s->addend -= t - x;
	x = t;
	/* 2Sum(sum, x) */
	n = s->sum + x;
	sp = n - x;
	xp = n - sp;
	err = (s->sum - sp) + (x - xp);
	s->sum = n;
	s->addend += err;
}

void summation_add_int64(struct summation *s, int64_t x)
{
	int64_t high = x / ((int64_t)1 << 32) * ((int64_t)1 << 32); /* toward zero */
	int64_t low = x - high;                                       /* |low| < 2^32 */

	summation_add_double(s, (double)low);
	summation_add_double(s, (double)high);
}

double summation_double(const struct summation *s)
{
	return isnan(s->sum) ? s->special : s->sum;
}

#define TWO63 9223372036854775808.0 /* 2^63: INT64_MAX rounds to it */

bool summation_fits_int64(const struct summation *s)
{
	if (s->sum > -TWO63 && s->sum < TWO63)
		return true; /* NaN and infinities fail both tests */
	if (s->sum == TWO63)
		return s->addend < -0.5; /* rounds below 2^63 */
	if (s->sum == -TWO63)
		return s->addend >= -0.5; /* does not round below -2^63 */
	return false;
}

int64_t summation_int64(const struct summation *s)
{
	int64_t r;

	if (s->sum == TWO63) /* addend < -0.5: 2^63 + llround(addend), without overflow */
		return llround(s->addend) - INT64_MIN;
	r = llround(s->sum);
	return r + llround((s->sum - (double)r) + s->addend);
}

enum summation_add summation_acc_add(struct summation_acc *a, const bson_value_t *v)
{
	switch (v->value_type) {
	case BSON_TYPE_INT32:
		summation_add_double(&a->dd, v->value.v_int32); /* exact: mongod's addInt */
		break;
	case BSON_TYPE_INT64:
		summation_add_int64(&a->dd, v->value.v_int64);
		if (a->type < SUMMATION_INT64)
			a->type = SUMMATION_INT64;
		break;
	case BSON_TYPE_DOUBLE:
		summation_add_double(&a->dd, v->value.v_double);
		a->type = SUMMATION_DOUBLE;
		break;
	case BSON_TYPE_DECIMAL128: return SUMMATION_DECIMAL;
	default: return SUMMATION_IGNORED;
	}
	a->count++;
	return SUMMATION_ADDED;
}

void summation_acc_sum(const struct summation_acc *a, bson_value_t *out)
{
	int64_t r;

	if (a->type != SUMMATION_DOUBLE && summation_fits_int64(&a->dd)) {
		r = summation_int64(&a->dd);
		if (a->type == SUMMATION_INT32 && r >= INT32_MIN && r <= INT32_MAX) {
			out->value_type = BSON_TYPE_INT32;
			out->value.v_int32 = (int32_t)r;
		} else {
			out->value_type = BSON_TYPE_INT64;
			out->value.v_int64 = r;
		}
		return;
	}
	out->value_type = BSON_TYPE_DOUBLE;
	out->value.v_double = summation_double(&a->dd);
}

void summation_acc_avg(const struct summation_acc *a, bson_value_t *out)
{
	if (a->count == 0) {
		out->value_type = BSON_TYPE_NULL;
		return;
	}
	out->value_type = BSON_TYPE_DOUBLE;
	out->value.v_double = summation_double(&a->dd) / (double)a->count;
}
