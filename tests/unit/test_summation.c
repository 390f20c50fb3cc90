/*
 * test_summation.c - summation.h against mongod's DoubleDoubleSummation
 * and AccumulatorSum/AccumulatorAvg (mongo/util/summation.h,
 * db/pipeline/accumulator_sum.cpp): double-double results where naive
 * adding differs, order (in)dependence, int32 -> int64 -> double, NaN and
 * infinities, decimal128 left alone, $avg.
 *
 * MIXED and its sums are shared with tests/upstream/test_refsum.py, which
 * checks the reference upstream's $sum/$avg against the same numbers.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "summation.h"

static double dd_sum(const double *x, size_t n)
{
	struct summation s = { 0 };

	for (size_t i = 0; i < n; i++)
		summation_add_double(&s, x[i]);
	return summation_double(&s);
}

static double naive_sum(const double *x, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += x[i];
	return s;
}

static void acc_doubles(struct summation_acc *a, const double *x, size_t n)
{
	bson_value_t v = { .value_type = BSON_TYPE_DOUBLE };

	for (size_t i = 0; i < n; i++) {
		v.value.v_double = x[i];
		cr_assert_eq(summation_acc_add(a, &v), SUMMATION_ADDED);
	}
}

static void acc_int(struct summation_acc *a, bson_type_t t, int64_t x)
{
	bson_value_t v = { .value_type = t };

	if (t == BSON_TYPE_INT32)
		v.value.v_int32 = (int32_t)x;
	else
		v.value.v_int64 = x;
	cr_assert_eq(summation_acc_add(a, &v), SUMMATION_ADDED);
}

/* Mixed magnitudes and signs; the double-double sum is the correctly
 * rounded one (math.fsum) in every order tried, the naive sum is not. */
static const double MIXED[] = {
	-64581136152.0, 42993.8456,      0.382,       3891146.37642, -1936.0,         -12000206098.88,
	147657.9,       -1286904.1202,   3165952001.0, 6025.78316,   -3787303252.894821, -48755206563.8,
	-1566601.4,     0.2109,          84221011819.0, -1616494.812, -11023272.0,     -2803219141.69504,
	29.2,           279660314.688361, 0.399,      -248268.6,     -13230.1,        6043247.437048,
};
#define NMIXED (sizeof MIXED / sizeof MIXED[0])
#define MIXED_SUM (-44266072680.079575)
#define MIXED_NAIVE (-44266072680.07956) /* in the order listed */
#define MIXED_AVG (-1844419695.0033157)

Test(summation, cancellation_kept_where_naive_loses_it)
{
	const double x[] = { 1e16, 1.0, 1.0, -1e16 };

	cr_assert_eq(naive_sum(x, 4), 0.0);
	cr_assert_eq(dd_sum(x, 4), 2.0);
}

/* mongod answers `sum` without the last addend (getDouble), so the residual
 * of the final addition is lost: 0.0 in this order, 1.0 in another. */
Test(summation, last_addend_is_not_added_as_mongod)
{
	const double a[] = { 1e16, 1.0, -1e16 }, b[] = { 1e16, -1e16, 1.0 };
	struct summation s = { 0 };

	for (size_t i = 0; i < 3; i++)
		summation_add_double(&s, a[i]);
	cr_assert_eq(summation_double(&s), 0.0);
	cr_assert_eq(s.addend, 1.0);
	cr_assert_eq(dd_sum(b, 3), 1.0);
}

Test(summation, tenths_as_mongod)
{
	double x[10];
	const double y[] = { 0.1, 0.2, 0.3 };

	for (size_t i = 0; i < 10; i++)
		x[i] = 0.1;
	cr_assert_eq(naive_sum(x, 10), 0.9999999999999999);
	cr_assert_eq(dd_sum(x, 10), 1.0);
	cr_assert_eq(naive_sum(y, 3), 0.6000000000000001);
	cr_assert_eq(dd_sum(y, 3), 0.6);
}

Test(summation, mixed_magnitudes_same_in_every_order)
{
	double x[NMIXED];
	uint64_t r = 0x9e3779b97f4a7c15ull;

	memcpy(x, MIXED, sizeof x);
	cr_assert_eq(naive_sum(x, NMIXED), MIXED_NAIVE);
	cr_assert_eq(dd_sum(x, NMIXED), MIXED_SUM);
	for (int round = 0; round < 2000; round++) {
		for (size_t i = NMIXED - 1; i > 0; i--) { /* Fisher-Yates, xorshift64 */
			size_t j;
			double t;
			r ^= r << 13;
			r ^= r >> 7;
			r ^= r << 17;
			j = (size_t)(r % (i + 1));
			t = x[i];
			x[i] = x[j];
			x[j] = t;
		}
		cr_assert_eq(dd_sum(x, NMIXED), MIXED_SUM, "round %d: %.17g", round, dd_sum(x, NMIXED));
	}
}

Test(summation, int32_overflows_to_int64)
{
	struct summation_acc a = { 0 };
	bson_value_t out;

	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_INT32 && out.value.v_int32 == 0);
	acc_int(&a, BSON_TYPE_INT32, INT32_MAX);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_INT32 && out.value.v_int32 == INT32_MAX);
	acc_int(&a, BSON_TYPE_INT32, 1);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_INT64 && out.value.v_int64 == (int64_t)INT32_MAX + 1);
	acc_int(&a, BSON_TYPE_INT32, -1);
	summation_acc_sum(&a, &out); /* back in range: int32 again (createIntOrLong) */
	cr_assert(out.value_type == BSON_TYPE_INT32 && out.value.v_int32 == INT32_MAX);
}

Test(summation, int64_stays_int64_and_exact)
{
	struct summation_acc a = { 0 };
	bson_value_t out;

	acc_int(&a, BSON_TYPE_INT64, 1);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_INT64 && out.value.v_int64 == 1);
	acc_int(&a, BSON_TYPE_INT64, (INT64_C(1) << 53) + 1); /* not a double */
	acc_int(&a, BSON_TYPE_INT32, 1);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_INT64 && out.value.v_int64 == (INT64_C(1) << 53) + 3);
}

Test(summation, int64_overflows_to_double)
{
	struct summation_acc a = { 0 };
	bson_value_t out;

	acc_int(&a, BSON_TYPE_INT64, INT64_MAX);
	acc_int(&a, BSON_TYPE_INT64, 1);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == 9223372036854775808.0);
	/* the pair keeps the overflowed sum exactly: back in range is exact */
	acc_int(&a, BSON_TYPE_INT64, INT64_MAX);
	acc_int(&a, BSON_TYPE_INT64, -INT64_MAX);
	acc_int(&a, BSON_TYPE_INT64, -1);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_INT64 && out.value.v_int64 == INT64_MAX);
	memset(&a, 0, sizeof a);
	acc_int(&a, BSON_TYPE_INT64, INT64_MIN);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_INT64 && out.value.v_int64 == INT64_MIN);
	acc_int(&a, BSON_TYPE_INT32, -1);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == -9223372036854775808.0);
}

Test(summation, fits_int64_at_the_edges)
{
	struct summation s = { 0 };

	summation_add_int64(&s, INT64_MAX);
	cr_assert_eq(s.sum, 9223372036854775808.0); /* INT64_MAX rounds up */
	cr_assert(summation_fits_int64(&s));
	cr_assert_eq(summation_int64(&s), INT64_MAX);
	summation_add_int64(&s, 1);
	cr_assert(!summation_fits_int64(&s));
}

Test(summation, a_double_makes_the_sum_double)
{
	struct summation_acc a = { 0 };
	const double half = 0.5;
	bson_value_t out;

	acc_int(&a, BSON_TYPE_INT32, 1);
	acc_doubles(&a, &half, 1);
	acc_int(&a, BSON_TYPE_INT64, 2);
	summation_acc_sum(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == 3.5);
	acc_doubles(&a, &half, 1);
	summation_acc_sum(&a, &out); /* integral, still double */
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == 4.0);
}

Test(summation, nan_and_infinities)
{
	const double inf[] = { 1.0, INFINITY, 5.0 }, both[] = { INFINITY, 1.0, -INFINITY };
	const double nan[] = { 1.0, NAN, 2.0 }, over[] = { 1e308, 1e308, -1e308 };
	const double minus[] = { -INFINITY, -1e308, 1.0 };

	cr_assert_eq(dd_sum(inf, 3), INFINITY);
	cr_assert(isnan(dd_sum(both, 3)));
	cr_assert(isnan(dd_sum(nan, 3)));
	cr_assert_eq(dd_sum(over, 3), INFINITY); /* the plain sum overflowed first */
	cr_assert_eq(dd_sum(minus, 3), -INFINITY);
}

Test(summation, decimal_leaves_the_sum_alone)
{
	struct summation_acc a = { 0 };
	bson_value_t d = { .value_type = BSON_TYPE_DECIMAL128 }, s = { .value_type = BSON_TYPE_UTF8 };

	acc_int(&a, BSON_TYPE_INT32, 3);
	cr_assert_eq(summation_acc_add(&a, &d), SUMMATION_DECIMAL);
	s.value.v_utf8.str = "x";
	s.value.v_utf8.len = 1;
	cr_assert_eq(summation_acc_add(&a, &s), SUMMATION_IGNORED);
	cr_assert_eq(a.count, 1);
	cr_assert_eq(a.type, SUMMATION_INT32);
	cr_assert_eq(summation_double(&a.dd), 3.0);
}

Test(summation, avg_of_the_same_inputs)
{
	struct summation_acc a = { 0 };
	const double cancel[] = { 1e16, 1.0, 1.0, -1e16 };
	double tenths[10];
	bson_value_t out;

	summation_acc_avg(&a, &out);
	cr_assert_eq(out.value_type, BSON_TYPE_NULL);
	acc_doubles(&a, cancel, 4);
	summation_acc_avg(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == 0.5);
	memset(&a, 0, sizeof a);
	for (size_t i = 0; i < 10; i++)
		tenths[i] = 0.1;
	acc_doubles(&a, tenths, 10);
	summation_acc_avg(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == 0.1);
	memset(&a, 0, sizeof a);
	acc_doubles(&a, MIXED, NMIXED);
	summation_acc_avg(&a, &out);
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == MIXED_AVG);
	memset(&a, 0, sizeof a);
	acc_int(&a, BSON_TYPE_INT32, 1);
	acc_int(&a, BSON_TYPE_INT32, 2);
	summation_acc_avg(&a, &out); /* ints average to a double */
	cr_assert(out.value_type == BSON_TYPE_DOUBLE && out.value.v_double == 1.5);
}
