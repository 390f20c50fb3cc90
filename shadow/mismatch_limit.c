/*
 * mismatch_limit.c - per-tenant token buckets for the mismatch log (see
 * mismatch.h).
 *
 * A bucket holds up to burst tokens and gains per_sec tokens a second;
 * a line costs one token.  A refused line is counted in the bucket and the
 * count is handed to the next line that passes ("suppressed").  Buckets
 * live in an open-addressing table sized once for max_tenants; tenants
 * beyond that share the overflow bucket, so memory stays bounded whatever
 * tenant names clients send.  A clock that goes backwards adds no tokens.
 */
#include "mismatch.h"

#include <string.h>

#include "hash.h"

struct bucket {
	char *tenant;		/* NULL: free slot */
	double tokens;
	int64_t last_ms;
	uint64_t suppressed;
};

struct mismatch_limiter {
	double per_sec, burst;
	size_t max_tenants, used, cap;	/* cap: power of two >= 2 * max */
	struct bucket *slots;
	struct bucket overflow;
};

struct mismatch_limiter *mismatch_limiter_new(double per_sec, double burst, size_t max_tenants)
{
	struct mismatch_limiter *l = bson_malloc0(sizeof *l);

	l->per_sec = per_sec;
	l->burst = burst < 1 ? 1 : burst;
	l->max_tenants = max_tenants;
	l->cap = 4;
	while (l->cap < 2 * max_tenants)
		l->cap *= 2;
	l->slots = bson_malloc0(l->cap * sizeof *l->slots);
	l->overflow.tokens = l->burst;
	l->overflow.last_ms = INT64_MIN;
	return l;
}

void mismatch_limiter_free(struct mismatch_limiter *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->cap; i++)
		bson_free(l->slots[i].tenant);
	bson_free(l->slots);
	bson_free(l);
}

static struct bucket *bucket_of(struct mismatch_limiter *l, const char *tenant)
{
	/* Keyed (SipHash): tenant names come from clients; the value never
	 * leaves this table, so it need not agree between processes. */
	size_t mask = l->cap - 1, i = (size_t)hash_sip(tenant, strlen(tenant)) & mask;

	for (; l->slots[i].tenant; i = (i + 1) & mask)
		if (strcmp(l->slots[i].tenant, tenant) == 0)
			return &l->slots[i];
	if (l->used >= l->max_tenants)
		return &l->overflow;
	l->used++;
	l->slots[i].tenant = bson_strdup(tenant);
	l->slots[i].tokens = l->burst;
	l->slots[i].last_ms = INT64_MIN;
	return &l->slots[i];
}

bool mismatch_limiter_take(struct mismatch_limiter *l, const char *tenant, int64_t now_ms,
			   uint64_t *suppressed)
{
	struct bucket *b = bucket_of(l, tenant ? tenant : "");

	*suppressed = 0;
	if (b->last_ms != INT64_MIN && now_ms > b->last_ms && l->per_sec > 0) {
		b->tokens += (double)(now_ms - b->last_ms) * l->per_sec / 1000.0;
		if (b->tokens > l->burst)
			b->tokens = l->burst;
	}
	if (b->last_ms == INT64_MIN || now_ms > b->last_ms)
		b->last_ms = now_ms;
	if (l->per_sec > 0) {
		if (b->tokens < 1.0) {
			b->suppressed++;
			return false;
		}
		b->tokens -= 1.0;
	}
	*suppressed = b->suppressed;
	b->suppressed = 0;
	return true;
}
