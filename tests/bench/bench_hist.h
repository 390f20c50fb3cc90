/*
 * bench_hist.h - a fixed-size log-linear latency histogram (HDR-like).
 *
 * Values (nanoseconds) below 128 get one bucket each; above, every power of
 * two is split into 64 buckets, so a reported percentile is within 1/64
 * (1.6 %) of the true sample.  Fixed memory (~34 KB), O(1) record, mergeable:
 * each load-generator thread owns one and the totals are summed at the end.
 */
#ifndef TANDEM_BENCH_HIST_H
#define TANDEM_BENCH_HIST_H

#include <stdint.h>

#define BHIST_SUB_BITS 7
#define BHIST_SUB (1u << BHIST_SUB_BITS)
#define BHIST_BUCKETS (64u * (BHIST_SUB / 2) + BHIST_SUB)

struct bhist {
	uint64_t count;
	uint64_t sum;
	uint64_t max;
	uint64_t buckets[BHIST_BUCKETS];
};

/* Adds one sample. */
void bhist_record(struct bhist *h, uint64_t v);

/* Adds every sample of src to dst. */
void bhist_merge(struct bhist *dst, const struct bhist *src);

/* The value at quantile q (0 < q <= 1): the midpoint of its bucket; 0 if empty. */
uint64_t bhist_quantile(const struct bhist *h, double q);

#endif
