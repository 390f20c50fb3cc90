/*
 * dualwrite.h - the dual-write applier: every write MongoDB acknowledged is
 * replayed into PostgreSQL, asynchronously, on a thread of its own.
 *
 *   worker threads                         applier thread (own event_base)
 *   ---------------                        ------------------------------------
 *   request: dwcapture keeps the command   jobs --> dwtrans: command + reply -> ops
 *   reply:   dwcapture adds the reply  -->      --> transactions held until commit
 *            dualwrite_submit (mutex +          --> dwapply: ops -> SQL via pgpool
 *            event_active, no I/O)              --> on failure: dwqueue (Redis/spool)
 *
 * One applier serialises all writes of this instance, so writes to one
 * document reach PostgreSQL in the order their replies reached tandem.
 * Nothing here blocks a worker: submit only appends to a list.
 */
#ifndef TANDEM_DUALWRITE_H
#define TANDEM_DUALWRITE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <bson/bson.h>

#include "flags.h"

struct cfg;
struct dwserve_ops;
struct mapping;

struct worker;

enum dwjob_kind {
	DWJOB_CAPTURE,            /* MongoDB answered: replay what it applied */
	DWJOB_SERVE,              /* pg_primary / pg_only: PostgreSQL answers (pgserve.h) */
};

/* One write: the command as sent (kind-1 sequences merged into the body as
 * arrays) and, for a captured write, MongoDB's reply. */
struct dwjob {
	enum dwjob_kind kind;
	bson_t cmd;
	bson_t reply;             /* empty when !acknowledged */
	bool acknowledged;        /* false: w:0 / moreToCome, outcome unknown */
	char db[128];
	char tenant[FLAGS_TENANT_NAME_MAX + 1]; /* whose flags decide (tenant.h); "" = tandem:defaults */
	uint64_t ack_seq;         /* order in which replies reached tandem */
	uint64_t seq;             /* submission number (dualwrite_settled) */
	uint64_t tseq;            /* its number on the touch clock (dwtouch.h) */
	uint64_t fseq;            /* forward number until its reply came (dwforward.h) */
	uint64_t sent_us;         /* wall clock (µs) when forwarded to MongoDB (dwcapture_request) */
	uint64_t ack_us;          /* wall clock (µs) when the reply reached tandem, before the
	                           * client sees it: a write the client sends after that is
	                           * forwarded later (dwtouch.h, overlaps) */
	uint64_t conn;            /* client connection id (logs, served replies) */
	/* DWJOB_SERVE only: */
	bool pg_only;             /* MongoDB is not written at all */
	bool expects_reply;       /* false: moreToCome, nobody waits */
	int32_t request_id;       /* the reply's responseTo */
	struct worker *w;         /* the client's worker (opaque here: pgserve's reply_fn) */
	TAILQ_ENTRY(dwjob) link;
};

/* Start the applier when cfg->pg is set.  mapping may be NULL and must
 * outlive the applier; serve computes and answers DWJOB_SERVE jobs
 * (proxy/pgserve's pgserve_ops; NULL: such jobs are dropped).  False (err
 * set) on a setup error. */
bool dualwrite_start(const struct cfg *cfg, const struct mapping *mapping,
		     const struct dwserve_ops *serve, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Jobs submitted so far; dualwrite_settled(n) is true once every one of the
 * first n is applied to PostgreSQL or queued (always, without an applier).
 * A shadow read waits for the writes acknowledged before it. */
uint64_t dualwrite_submitted(void);
bool dualwrite_settled(uint64_t seq);

/* Whether an applier runs (cheap; read on every request). */
bool dualwrite_enabled(void);

/* Take ownership of job and queue it for the applier (any thread). */
void dualwrite_submit(struct dwjob *job);

void dwjob_free(struct dwjob *job);

/* Stop the applier: apply or queue what it holds, then join. */
void dualwrite_stop(void);

#endif
