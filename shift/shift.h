/*
 * shift.h - reads served by PostgreSQL (issue 11): the worker side decides
 * (router.h) and hands a job to the served-read thread, which answers
 * through the worker's inbox with mongod's reply, or with "fallback": the
 * worker then forwards the request's original bytes to MongoDB as if it
 * had never been routed.  Nothing reaches the client before PostgreSQL's
 * answer is complete, so the client never sees PostgreSQL fail.
 *
 *   worker:  shift_route(request)   NULL: MongoDB (counted by reason)
 *            authz_check (proxy) -> shift_submit(job) | shift_job_drop
 *   thread:  [wait for the applier] -> SELECT each collection (own pgpool,
 *            deadline) -> pgread_result -> first batch, the rest into a
 *            tandem cursor (cursors.h) -> reply_fn(worker, conn, id, msg)
 *            any failure -> fallback_fn(worker, conn, id)
 *   worker:  getMore / killCursors of tandem's ids: shift_cursor_command
 *
 * shift/ does not include the proxy: the worker type is opaque here and
 * the reply functions and the dual-write watermark are passed in.
 */
#ifndef TANDEM_SHIFT_H
#define TANDEM_SHIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inspect.h"
#include "metrics.h"

struct cfg;
struct mapping;
struct worker;
struct shift_job;

/* Where dual-write stands, given by main.c (dualwrite_submitted /
 * dualwrite_settled, the durable queue's depth).  NULL members: nothing
 * pending.  A read of db is served only once every write of db this
 * instance submitted before it is committed in PostgreSQL (ryw.h: per
 * database, a shared floor for what does not fit), and while nothing is
 * queued. */
struct shift_writes {
	uint64_t (*submitted)(void);
	bool (*settled)(uint64_t seq);
	int64_t (*queued)(void);
};

/* The served reply for request response_to of session conn on worker w
 * (takes msg, malloc'd), and the fallback (forward the original). */
typedef void (*shift_reply_fn)(struct worker *w, uint64_t conn, int32_t response_to, uint8_t *msg,
			       size_t len);
typedef void (*shift_fallback_fn)(struct worker *w, uint64_t conn, int32_t response_to);

/* Start the served-read thread when cfg->pg is set (mapping may be NULL,
 * must outlive it; writes is copied).  False (err set) on a setup error. */
bool shift_start(const struct cfg *cfg, const struct mapping *mapping,
		 const struct shift_writes *writes, shift_reply_fn reply, shift_fallback_fn fallback,
		 char *err, size_t errlen) __attribute__((warn_unused_result));
/* Stop the thread: jobs still queued or running are answered "fallback"
 * (the workers are gone by then: dropped).  Frees every cursor. */
void shift_stop(void);

/* ---- worker side ---- */

/* A job when this request is a read to serve from PostgreSQL now, else
 * NULL (MongoDB answers; counted when the tenant has read_pct > 0).
 * msg[0..len) is the whole request as received. */
struct shift_job *shift_route(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
			      size_t len);
/* The namespace the job reads (for authz_check). */
const char *shift_job_db(const struct shift_job *job);
const char *shift_job_coll(const struct shift_job *job);
/* Not served after all (e.g. not authorized): counted, freed. */
void shift_job_drop(struct shift_job *job, enum metrics_shift_fallback why);
/* Hand the job to the thread (takes it); the answer comes to w's inbox
 * for (conn, the request's id). */
void shift_submit(struct shift_job *job, struct worker *w);

/* getMore / killCursors naming tandem's cursors: a message (malloc'd,
 * *outlen), or NULL to forward the request unchanged.  *to_upstream
 * false: the reply, for the client.  True (killCursors naming both
 * tandem's and upstream ids): tandem's are closed here and the message is
 * the command for MongoDB without them, under the client's requestID
 * (MongoDB's reply answers the client; docs/shift.md). */
uint8_t *shift_cursor_command(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
			      size_t len, size_t *outlen, bool *to_upstream)
	__attribute__((warn_unused_result));

/* A write of db was handed to the applier (its reply captured, or a w:0
 * write sent): reads of db wait for it (read-your-writes, ryw.h). */
void shift_note_write(const char *db);

/* The connection ended: its cursors go. */
void shift_conn_closed(uint64_t conn);

#endif
