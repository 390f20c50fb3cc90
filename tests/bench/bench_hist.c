/*
 * bench_hist.c - log-linear histogram (see bench_hist.h).
 *
 * Index of v >= SUB: with msb the top set bit and shift = msb - SUB_BITS + 1,
 * v >> shift lies in [SUB/2, SUB), and index = shift * SUB/2 + (v >> shift).
 * The ranges of consecutive shifts are adjacent, so indexes are dense.
 */
#include "bench_hist.h"

#include <math.h>

static unsigned bhist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < BHIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - BHIST_SUB_BITS + 1;
	return shift * (BHIST_SUB / 2) + (unsigned)(v >> shift);
}

/* Midpoint of the values that map to bucket i. */
static uint64_t bhist_value(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < BHIST_SUB)
		return i;
	shift = i / (BHIST_SUB / 2) - 1;
	m = i - (uint64_t)shift * (BHIST_SUB / 2);
	return (m << shift) + ((1ull << shift) >> 1);
}

void bhist_record(struct bhist *h, uint64_t v)
{
	h->buckets[bhist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

void bhist_merge(struct bhist *dst, const struct bhist *src)
{
	unsigned i;

	for (i = 0; i < BHIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t bhist_quantile(const struct bhist *h, double q)
{
	uint64_t rank, seen = 0;
	unsigned i;

	if (h->count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < BHIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return bhist_value(i) > h->max ? h->max : bhist_value(i);
	}
	return h->max;
}
