/*
 * dwqueue.h - the durable side of dual-write: operations PostgreSQL did not
 * take go to the tenant's Redis list (rqueue.h), or to the local spool
 * (spool.h) when Redis is down too, and are drained back into the apply
 * engine when PostgreSQL returns.
 *
 * Queue-behind rule: once a tenant has queued operations, every later
 * operation of that tenant is queued behind them, until a drain has emptied
 * the queue; so one document's writes keep MongoDB's order.  Draining takes
 * a per-tenant lock in Redis (tandem:drainlock:<tenant>), so the proxy and
 * `tandemctl replay` never drain one tenant at the same time.
 *
 * Runs on the applier's thread (or tandemctl's); blocking hiredis with
 * short timeouts, never on a client's path.
 */
#ifndef TANDEM_DWQUEUE_H
#define TANDEM_DWQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "dwapply.h"

struct dwqueue;

struct dwqueue_opts {
	const char *redis_url;     /* redisurl.h syntax (db, AUTH); "" = no Redis: spool only */
	const char *spool_path;    /* "" = no spool */
	const char *spool_fsync;   /* always | batch | never */
	const char *node;          /* this instance's name (queue entries, lock owner) */
};

struct dwqueue_stats {
	uint64_t applied, deadlettered, queued, spooled;
	uint64_t depth;            /* entries known waiting (Redis + spool) */
	unsigned tenants;          /* tenants in queued state */
};

struct dwqueue *dwqueue_new(const struct dwqueue_opts *o, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void dwqueue_free(struct dwqueue *q);

/* Whether tenant's operations must queue behind earlier ones. */
bool dwqueue_is_queued(struct dwqueue *q, const char *tenant);

/* Store e durably (Redis, else spool) and put its tenant in queued state.
 * Takes e.  False only when neither Redis nor the spool took it (logged
 * loudly; the caller keeps counting it as pending). */
bool dwqueue_put(struct dwqueue *q, struct dwentry *e, const char *why);

/* The engine may start e now: a live entry of a queued tenant may not (it
 * must queue behind), nor a drained entry behind a failed one. */
bool dwqueue_admit(struct dwqueue *q, const struct dwentry *e);

/* PostgreSQL refused a live entry for good: keep it in the tenant's dead
 * letter list (or queue it when Redis is down: the replay dead-letters it).
 * Takes e. */
void dwqueue_deadletter(struct dwqueue *q, struct dwentry *e, const char *why);

/* Find tenants with queues left by earlier runs (SCAN); mark them queued. */
void dwqueue_discover(struct dwqueue *q, const char *only_tenant);

/* Move spooled entries to Redis, then drain queued tenants into a (when
 * PostgreSQL is up), at most max entries per call.  Entries pushed into a
 * are owned by the queue: pass their callbacks to dwqueue_entry_done. */
void dwqueue_drain(struct dwqueue *q, struct dwapply *a, unsigned max);

/* The engine's verdict on an entry dwqueue_drain pushed (e->owner == q). */
void dwqueue_entry_done(struct dwqueue *q, struct dwentry *e, enum dwapply_outcome o,
			const char *why);

void dwqueue_stats(struct dwqueue *q, struct dwqueue_stats *out);

#endif
