/*
 * rqueue.h - the per-tenant durable write queue in Redis (synchronous
 * hiredis; the libevent variant comes later and keeps these semantics).
 *
 *   tandem:queue:<tenant>             pending entries, oldest at the head
 *   tandem:queue:<tenant>:processing  claimed by the drainer, not yet acked
 *   tandem:deadletter:<tenant>        rejected for good, kept for an engineer
 *
 *   push ──RPUSH──▶ queue ──LMOVE LEFT RIGHT──▶ processing ──LTRIM──▶ (acked)
 *                     ▲                              │
 *                     └──── recover: LMOVE RIGHT LEFT┘──MULTI RPUSH/LPOP──▶ deadletter
 *
 * Why a processing list and not LPOP: an entry is never only in the
 * drainer's memory.  LMOVE moves it atomically, so a drainer that crashes
 * between claim and apply leaves it in processing, and rqueue_recover puts
 * it back at the head of the queue, in order.  Delivery is therefore at
 * least once; the applier is idempotent.
 *
 * One drainer per tenant at a time (the caller ensures it, e.g. a lock key):
 * PostgreSQL must see one document's writes in queue order, and ack/dead
 * letter act on the head of the processing list.  Pushers may be many.
 * Entries are opaque bytes here (qentry encodings).
 */
#ifndef TANDEM_RQUEUE_H
#define TANDEM_RQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define RQUEUE_TENANT_MAX 255u
#define RQUEUE_CLAIM_MAX 1000u /* entries per rqueue_claim */

/* Which of the tenant's three lists. */
enum rqueue_list {
	RQUEUE_PENDING,
	RQUEUE_PROCESSING,
	RQUEUE_DEADLETTER,
};

struct rqueue_depth {
	uint64_t pending;
	uint64_t processing;
	uint64_t deadletter;
};

/* Claimed entries: items[i] is malloc'd (len lens[i]); rqueue_batch_free. */
struct rqueue_batch {
	size_t count;
	uint8_t **items;
	size_t *lens;
};

/* The key of tenant's list into buf; false if it does not fit or the tenant
 * is empty / longer than RQUEUE_TENANT_MAX. */
bool rqueue_key(enum rqueue_list which, const char *tenant, char *buf, size_t buflen)
	__attribute__((warn_unused_result));

/* Append one entry at the tail of the tenant's queue. */
bool rqueue_push(redisContext *rc, const char *tenant, const void *entry, size_t len, char *err,
		 size_t errlen) __attribute__((warn_unused_result));

/*
 * Move up to max (1..RQUEUE_CLAIM_MAX) entries from the head of the queue to
 * the tail of processing, in one pipelined round trip of atomic LMOVEs, and
 * return them in queue order.  An empty queue gives count 0.  On an error
 * after some moves, the moved ones are in processing (recover finds them).
 */
bool rqueue_claim(redisContext *rc, const char *tenant, size_t max, struct rqueue_batch *out,
		  char *err, size_t errlen) __attribute__((warn_unused_result));

void rqueue_batch_free(struct rqueue_batch *b);

/* The first n claimed entries are applied: drop them from processing. */
bool rqueue_ack(redisContext *rc, const char *tenant, size_t n, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * The head of processing was rejected for good: atomically (MULTI/EXEC)
 * push entry (usually the head re-encoded with its error) to the dead-letter
 * list and drop the head.
 */
bool rqueue_deadletter(redisContext *rc, const char *tenant, const void *entry, size_t len,
		       char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Put every entry left in processing (a crashed drainer's claim) back at
 * the head of the queue, keeping their order.  *moved gets the count.
 * Each move is one atomic LMOVE; bounded by max_moves.
 */
bool rqueue_recover(redisContext *rc, const char *tenant, uint64_t max_moves, uint64_t *moved,
		    char *err, size_t errlen) __attribute__((warn_unused_result));

/* LLEN of the three lists (three round trips; not a snapshot). */
bool rqueue_depth(redisContext *rc, const char *tenant, struct rqueue_depth *out, char *err,
		  size_t errlen) __attribute__((warn_unused_result));

#endif
