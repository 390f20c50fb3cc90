/*
 * dwapply.h - apply dual-write operations to PostgreSQL, in order, through
 * an asynchronous pgpool on one event_base.  Used by the proxy's applier
 * thread (live writes) and by `tandemctl replay` (queued writes).
 *
 * An entry is one operation document in the dwtrans.h format ({k: "i"|"u"|
 * "d"|"r"|"x", db, c, ...}) or, for a committed transaction, {k: "t",
 * ops: [...]}.  Entries are grouped into units, one PostgreSQL transaction
 * each:
 *
 *   run of inserts  -> one batch of idempotent upserts (several in flight)
 *   update / delete -> SELECT the candidates, decode, match and update in C
 *                      (match.h, update.h), then one write batch; nothing
 *                      else is in flight meanwhile (later writes may touch
 *                      the same rows)
 *   transaction     -> as update/delete for each op, with an overlay of the
 *                      unit's own earlier results; one write batch at the end
 *
 * Where C cannot reproduce MongoDB exactly (a single-document write whose
 * filter matches several rows, $currentDate, a pipeline update, a count
 * that disagrees with MongoDB's), the documents are re-read from MongoDB by
 * _id and written whole ("resync").  Non-idempotent units write a marker
 * row (tandem_applied) in the same transaction, so a unit whose outcome was
 * in doubt is not applied twice when it is retried.
 *
 * Every pushed entry gets exactly one call of opts.done, in push order.
 */
#ifndef TANDEM_DWAPPLY_H
#define TANDEM_DWAPPLY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <bson/bson.h>
#include <event2/event.h>

struct dwserve_ops;
struct mapping;

struct dwentry {
	bson_t op;                /* operation document (owned) */
	char tenant[256];
	char key[96];             /* unique across instances: node:seq (applied marker) */
	uint64_t ts_ms;           /* wall clock when MongoDB's reply reached tandem */
	uint64_t t_us;            /* monotonic time of that reply (lag), 0 = unknown */
	uint64_t job_seq;         /* the dual-write job it came from (0: none) */
	uint64_t tseq;            /* that job's number on the touch clock (dwtouch.h; 0: none) */
	uint64_t sent_us, ack_us; /* wall µs: forwarded to MongoDB, reply back (0: unknown) */
	void *owner;              /* the caller's */
	struct pgserve *serve;    /* k:"s": PostgreSQL answers this write (dwserve_ops) */
	TAILQ_ENTRY(dwentry) link;
};
TAILQ_HEAD(dwentry_list, dwentry);

enum dwapply_outcome {
	DWAPPLY_APPLIED,          /* in PostgreSQL (or nothing to do) */
	DWAPPLY_TRANSIENT,        /* not applied (or in doubt): queue and retry */
	DWAPPLY_PERMANENT,        /* PostgreSQL refuses it: dead letter */
};

typedef void (*dwapply_done_cb)(struct dwentry *e, enum dwapply_outcome o, const char *why,
				void *arg);

struct dwapply_opts {
	const char *conninfo;
	const char *mongo_uri;    /* for resync; "" = resync impossible (transient) */
	const struct mapping *mapping; /* NULL = every collection in its default table */
	unsigned pool_size;
	unsigned batch_max;       /* inserts per unit */
	unsigned timeout_ms;
	dwapply_done_cb done;     /* gets the entry back (caller frees or queues it) */
	/* Asked before an entry is started; false = do not apply it now (it is
	 * called back TRANSIENT, still in push order).  May be NULL. */
	bool (*admit)(const struct dwentry *e, void *arg);
	void *arg;
	/* Served writes (dwunit.h); NULL: no entry has e->serve. */
	const struct dwserve_ops *serve;
};

struct dwapply;

struct dwapply *dwapply_new(struct event_base *base, const struct dwapply_opts *o, char *err,
			    size_t errlen) __attribute__((warn_unused_result));
/* Append e; it is applied after every entry pushed before it. */
void dwapply_push(struct dwapply *a, struct dwentry *e);
/* Put e first: it runs before everything queued (a served write computed
 * again after PostgreSQL refused one of its statements). */
void dwapply_push_front(struct dwapply *a, struct dwentry *e);
/* Entries pushed and not yet called back. */
unsigned dwapply_pending(const struct dwapply *a);
/* Whether PostgreSQL looks down (last batch failed transient, pool down). */
bool dwapply_pg_down(const struct dwapply *a);
/* Whether the pool has a connection up (worth draining the queue into). */
bool dwapply_pg_connected(const struct dwapply *a);
void dwapply_free(struct dwapply *a);

struct dwentry *dwentry_new(void);
void dwentry_free(struct dwentry *e);

#endif
