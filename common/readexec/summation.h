/*
 * summation.h - $sum and $avg as mongod computes them: one helper for the
 * $group accumulators (aggregate_group.c) and the expression operators
 * (aggexpr_arith.c), as mongod uses one AccumulatorSum/AccumulatorAvg for
 * both (mongo/util/summation.h, db/pipeline/accumulator_sum.cpp and
 * accumulator_avg.cpp).
 *
 * Two layers:
 *
 *   struct summation      mongod's DoubleDoubleSummation: a running sum
 *                         kept as an unevaluated pair (sum, addend) with
 *                         Fast2Sum + 2Sum, plus a plain sum for NaN/inf.
 *   struct summation_acc  an accumulator over values: numbers only
 *                         (others ignored), the widest input type, the
 *                         count; gives $sum's and $avg's result value.
 *
 *   value --summation_acc_add--> int32/int64: add as exact halves
 *                                double:      add
 *                                decimal128:  SUMMATION_DECIMAL (callers
 *                                             answer UNSUPPORTED)
 *         --summation_acc_sum--> int32 (fits) / int64 (fits) / double
 *         --summation_acc_avg--> null (no numbers) / double
 *
 * Invariants: a zeroed struct is the empty sum (type int32, count 0).
 * Results follow mongod exactly, including where that is not the nearest
 * double: the final result is `sum` alone (getDouble), the last addend is
 * not added in, so [1e16, 1.0, -1e16] sums to 0.0 in that order and to 1.0
 * as [1e16, -1e16, 1.0].  The result therefore depends on the order of the
 * inputs in rare cases (typically the last bit, more under cancellation).
 */
#ifndef TANDEM_SUMMATION_H
#define TANDEM_SUMMATION_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

/* mongod's DoubleDoubleSummation. */
struct summation {
	double sum;     /* the running sum, rounded to nearest */
	double addend;  /* what sum misses; folded into the next addition */
	double special; /* plain running sum, the answer when sum is NaN */
};

/* Widest numeric input so far (mongod's Value::getWidestNumeric). */
enum summation_type { SUMMATION_INT32, SUMMATION_INT64, SUMMATION_DOUBLE };

struct summation_acc {
	struct summation dd;
	enum summation_type type;
	int64_t count; /* numbers added */
};

enum summation_add {
	SUMMATION_ADDED,   /* a number: added and counted */
	SUMMATION_IGNORED, /* not a number (missing, null, string, array...) */
	SUMMATION_DECIMAL, /* decimal128: not computed here; nothing changed */
};

void summation_add_double(struct summation *s, double x);
/* Adds x split in two halves that are exact doubles, so integer sums stay
 * exact while intermediate sums stay below 2^106 in magnitude. */
void summation_add_int64(struct summation *s, int64_t x);
/* mongod's getDouble(): sum, or the plain sum when sum is NaN. */
double summation_double(const struct summation *s);
/* Whether the sum rounds to an int64 (mongod's fitsLong). */
bool summation_fits_int64(const struct summation *s);
/* The sum rounded to the nearest integer, halves away from zero (mongod's
 * getLong); only when summation_fits_int64. */
int64_t summation_int64(const struct summation *s);

/* Adds v to a when it is a number; see enum summation_add. */
enum summation_add summation_acc_add(struct summation_acc *a, const bson_value_t *v);
/* $sum's result: int32 while int32 inputs fit (int64 past that), int64
 * with int64 inputs, double when a double was added or the sum does not
 * fit an int64.  0 (int32) when nothing was added. */
void summation_acc_sum(const struct summation_acc *a, bson_value_t *out);
/* $avg's result: the double sum divided by the count; null for count 0. */
void summation_acc_avg(const struct summation_acc *a, bson_value_t *out);

#endif
