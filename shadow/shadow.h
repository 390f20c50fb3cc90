/*
 * shadow.h - shadow reads: a sampled share of the reads MongoDB answers is
 * run again on PostgreSQL, off the client's path, and the two answers are
 * compared; mismatches are logged for alerting (BRIEF "Mismatch log").
 *
 *   worker, request:  shadow_capture_request: read command + shadow_pct
 *                     sampled? copy the command (else nothing but a flag lookup)
 *   worker, reply:    the reply is forwarded first, then shadow_capture_reply
 *                     copies it and queues the job (full queue: shed, counted)
 *   shadow thread:    plan (readexec / aggregate) -> wait for the dual-write
 *                     writes acknowledged before the read -> SELECT the
 *                     candidates (pgpool, own connections, deadline) -> run
 *                     the read in C -> compare with MongoDB's reply ->
 *                     mismatch line (log + Redis list) and metrics
 *
 * Bounded everywhere: queue_max jobs waiting, max_inflight running, each
 * with a deadline (timeout_ms from MongoDB's reply); what does not fit is
 * shed and counted, never waited for.  A read tandem cannot compute
 * exactly is skipped and counted by reason, never compared wrongly.
 * Code: shadow_capture.c (worker side), shadow.c (thread, jobs, SELECTs),
 * shadow_exec.c (plan, execution, comparison, report).
 */
#ifndef TANDEM_SHADOW_H
#define TANDEM_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "inspect.h"

struct cfg;
struct mapping;
struct shjob;

/* Where the dual-write applier stands, passed in by the proxy so that
 * shadow/ does not depend on it (dualwrite_submitted / dualwrite_settled):
 * submitted() is the number of writes handed over so far, settled(n)
 * whether the first n are applied to PostgreSQL or queued.  A read waits
 * for the writes acknowledged before it.  NULL members: always settled. */
struct shadow_writes {
	uint64_t (*submitted)(void);
	bool (*settled)(uint64_t seq);
	/* The latest number (writes and resyncs share one clock, dwtouch.h)
	 * that reached PostgreSQL for document id of db.coll, or for any
	 * document of it; NULL: never.  touch_now: the clock now, which a read
	 * records when it is captured. */
	uint64_t (*doc_seq)(const char *db, const char *coll, const bson_value_t *id);
	uint64_t (*coll_seq)(const char *db, const char *coll);
	uint64_t (*touch_now)(void);
	/* Captured writes forwarded to MongoDB so far, and whether every one
	 * numbered <= n has its reply (dwforward.h); NULL: none in flight. */
	uint64_t (*forwarded)(void);
	bool (*replied)(uint64_t n);
};

/* Start the shadow thread when cfg->pg is set.  mapping may be NULL and
 * must outlive the thread; writes is copied.  False (err set) on a setup
 * error. */
bool shadow_start(const struct cfg *cfg, const struct mapping *mapping,
		  const struct shadow_writes *writes, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Stop the thread; queued jobs are dropped (they are samples). */
void shadow_stop(void);

/* A job when this request is a sampled read (msg[0..len) as received). */
struct shjob *shadow_capture_request(uint64_t conn, const struct msg_info *info,
				     const uint8_t *msg, size_t len);

/* MongoDB answered (msg[0..len)) after mongo_us: keep a copy of the reply
 * in the job (false: not shadowed, counted; the caller frees job). */
bool shadow_capture_keep(struct shjob *job, const uint8_t *msg, size_t len, uint64_t mongo_us);

/* After the reply went to the client: queue the job (or shed it when the
 * queue is full).  Takes job. */
void shadow_capture_submit(struct shjob *job);

void shadow_job_free(struct shjob *job);

#endif
