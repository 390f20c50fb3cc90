/*
 * pgserve.h - write modes pg_primary and pg_only: PostgreSQL executes the
 * write and its result answers the client in MongoDB's format.
 *
 *   worker: request --dwcapture (SERVE)--> dualwrite_submit, slot "served"
 *   applier: pgserve_submit --> entry {k:"s"} --dwapply unit (overlay)-->
 *            pgserve_start: statements in order (pgserve_exec.c)
 *              insert  SELECT the _ids first: present -> E11000 writeError
 *              update  SELECT candidates, match, update in C; upsert inserts
 *              delete  SELECT candidates, match
 *              findAndModify  the same, sorted, one document, projection
 *            one write batch (one PostgreSQL transaction) for the command
 *   batch ok       -> pg_primary: the documents' final state to MongoDB, then
 *                     reply {n, nModified, upserted, writeErrors} to the worker
 *                     (a read MongoDB serves next sees the write)
 *   batch refused  -> (constraint) that statement gets a writeError; the
 *                     command is computed again without it (ordered: up to it)
 *   PostgreSQL down-> error reply, label RetryableWriteError; nothing queued
 *
 * Decisions:
 *  - tandem is the server here: an insert without _id gets an ObjectId, an
 *    upsert's _id comes from the filter's equality or a new ObjectId.
 *  - duplicate _ids are found by the SELECT, which is exact because one
 *    applier thread serialises this instance's writes; several tandem
 *    instances in pg_primary for one tenant are not coordinated.
 *  - MongoDB (pg_primary) gets the final state of every document the
 *    command changed, by _id (replace with upsert, delete), not the
 *    command: it mirrors PostgreSQL even where the two would compute an
 *    update differently.  A mirror failure is logged and counted.
 *  - a retried write (same lsid and txnNumber) is answered from a cache of
 *    recent replies; a marker row guards the in-doubt case after a restart.
 *  - $currentDate takes tandem's clock (tandem is the server here).
 *  - not served (answered with an error): collation, writes inside a
 *    transaction in pg_only (pg_primary runs them on MongoDB and replays
 *    them at commit, as dual_write does), updates tandem cannot compute
 *    (pipelines, decimal arithmetic: writeError 238).
 */
#ifndef TANDEM_PGSERVE_H
#define TANDEM_PGSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "dualwrite.h"
#include "dwunit.h"

/* What the dual-write applier calls for served writes (dualwrite_start). */
extern const struct dwserve_ops pgserve_ops;

/* Where replies go: worker_post_reply in the proxy.  Takes msg. */
typedef void (*pgserve_reply_fn)(struct worker *w, uint64_t conn, int32_t response_to,
				 uint8_t *msg, size_t len);
void pgserve_set_reply(pgserve_reply_fn fn);

#endif
