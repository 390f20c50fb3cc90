/*
 * pgpool_recv.c - reading a pool connection's results, and losing it.
 *
 * Results arrive in pipeline order, so every result belongs to the oldest
 * batch in flight: each query yields one result then a NULL, b->qidx
 * counts them and result_stmt() maps one to its statement: in a write
 * batch qidx - 1 (BEGIN -1, COMMIT n); in a read batch a statement has one
 * result, two when its Prepare was sent with it (the Prepare's result
 * tells pgpool_prep.c whether the name is usable).  The sync result closes
 * the oldest batch.
 *
 * After an error the server skips to that batch's sync and leaves its
 * explicit transaction failed, so the batches already sent behind it are
 * refused at BEGIN with 25P02 ("collateral": never executed).  The
 * connection then sends ROLLBACK + sync (c->recovering: no new batch goes
 * to it), parks the collateral batches in c->retry, and at the ROLLBACK's
 * sync puts them back at the head of the pool's queue in order.  A read
 * batch has no explicit transaction: its error ends at its own sync, the
 * batches behind it run normally and no ROLLBACK is needed (it can still
 * be collateral behind a failed write batch: refused 25P02 at its first
 * result).
 *
 * Invariant: every result is for TAILQ_FIRST(inflight) or, when that is
 * empty, the ROLLBACK.  When a connection breaks, each batch in flight is
 * told what is known of it (committed, failed, never run or in doubt).
 */
#include "pgpool_internal.h"

#include <string.h>

/* ------------------------------------------------------------ receiving */

/* The statement result q of b belongs to: a write batch's BEGIN is -1 and
 * its COMMIT n; *is_prep: the result is a read statement's Prepare. */
static int result_stmt(const struct pgbatch *b, int q, bool *is_prep)
{
	*is_prep = false;
	if (!b->read_only)
		return q - 1;
	for (unsigned i = 0; i < b->n; i++) {
		if (b->stmts[i].prep_sent && q-- == 0) {
			*is_prep = true;
			return (int)i;
		}
		if (q-- == 0)
			return (int)i;
	}
	return (int)b->n;   /* past the last statement: not sent, never expected */
}

/* Every result the batch expects (BEGIN, statements, COMMIT; or a read
 * batch's Prepares and statements) answered without error. */
static bool batch_committed(const struct pgbatch *b)
{
	return b->err.cls == PGPOOL_OK && b->qidx >= b->nresults;
}

/* Refused at its first result because an earlier batch left the
 * transaction failed: never executed, safe to run again. */
static bool batch_collateral(const struct pgbatch *b)
{
	return b->err_qidx == 0 && !strcmp(b->err.sqlstate, "25P02");
}

/* The ROLLBACK's sync: hand the collateral batches back to the front of
 * the queue, in order, and take work again. */
static void conn_recovered(struct pgconn *c)
{
	struct pgpool *p = c->pool;

	c->recovering = false;
	TAILQ_CONCAT(&c->retry, &p->queue, link);
	TAILQ_CONCAT(&p->queue, &c->retry, link);
	p->nqueued += c->nretry;
	p->requeued += c->nretry;
	c->nretry = 0;
}

/* A sync arrived: it closes the oldest batch in flight, or the ROLLBACK.
 * A failed batch gets its callback after the ROLLBACK is sent; a
 * collateral one waits in c->retry for the ROLLBACK's sync. */
static void conn_on_sync(struct pgconn *c)
{
	struct pgbatch *b = TAILQ_FIRST(&c->inflight);
	bool failed = b && b->err.cls != PGPOOL_OK;
	/* a read batch's error ended with its implicit transaction at this sync */
	bool rollback = failed && (!b->read_only || batch_collateral(b));
	struct pgpool_result ok;

	if (b) {
		TAILQ_REMOVE(&c->inflight, b, link);
		c->ninflight--;
	} else if (c->recovering) {
		conn_recovered(c);
	}
	if (failed && batch_collateral(b)) {
		TAILQ_INSERT_TAIL(&c->retry, b, link);
		c->nretry++;
		b = NULL;
	}
	if (rollback)
		pgpool_conn_send_rollback(c);   /* may lose the connection (c->retry is requeued) */
	if (c->pg) {
		pgpool_conn_rearm_batch_timer(c);
		if (!c->ninflight && !c->recovering)
			pgpool_conn_set_state(c, PGCONN_ST_IDLE);
	}
	if (!b)
		return;
	pgpool_result_set(&ok, NULL, -1, NULL);
	ok.cls = PGPOOL_OK;
	pgpool_batch_finish(c->pool, b, failed ? &b->err : &ok);
}

/* Returns true when the batch kept r (the caller must not PQclear it). */
static bool conn_on_result(struct pgconn *c, PGresult *r)
{
	struct pgbatch *b = TAILQ_FIRST(&c->inflight);
	ExecStatusType st = PQresultStatus(r);
	bool is_prep;
	int stmt;

	if (st == PGRES_PIPELINE_SYNC) {
		c->syncs_pending--;
		conn_on_sync(c);
		return false;
	}
	if (!b)
		return false;   /* the ROLLBACK's own result */
	stmt = result_stmt(b, b->qidx, &is_prep);
	/* An error after COMMIT's own result (a FATAL on the way to the sync)
	 * does not undo the commit: pgpool_conn_lost reports the batch ok. */
	if (st == PGRES_FATAL_ERROR && b->err.cls == PGPOOL_OK && !batch_committed(b)) {
		const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		pgpool_result_set(&b->err, code ? code : "08006", stmt,
			   PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
		b->err_qidx = b->qidx;
	}
	/* a failed or skipped (aborted) Prepare leaves no statement behind */
	if (is_prep)
		pgpool_prep_resolved(c, b->stmts[stmt].prep_id, st == PGRES_COMMAND_OK);
	bool keep = b->keep_idx >= 0 && !is_prep && stmt == b->keep_idx && !b->kept &&
		    st == PGRES_TUPLES_OK;
	if (keep)
		b->kept = r;
	b->qidx++;
	return keep;
}

/* Read every complete result; stop at two NULLs in a row (nothing more
 * arrived) or when no sync is outstanding. */
static void conn_drain(struct pgconn *c)
{
	int nulls = 0;

	while (c->pg && c->syncs_pending > 0 && !PQisBusy(c->pg) && nulls < 2) {
		PGresult *r = PQgetResult(c->pg);

		if (!r) {
			nulls++;
			continue;
		}
		nulls = 0;
		if (!conn_on_result(c, r))
			PQclear(r);
	}
}

void pgpool_conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *c = arg;
	bool eof;

	(void)fd;
	(void)what;
	eof = !PQconsumeInput(c->pg);
	conn_drain(c);   /* on EOF too: an error result (57P01...) may precede it */
	if (!c->pg)
		return;  /* the drain's callbacks already lost the connection */
	if (eof || PQstatus(c->pg) == CONNECTION_BAD || !pgpool_conn_flush(c)) {
		pgpool_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	pgpool_dispatch(c->pool);
}

void pgpool_conn_wr_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *c = arg;

	(void)fd;
	(void)what;
	if (!pgpool_conn_flush(c))
		pgpool_conn_lost(c, PQerrorMessage(c->pg));
}

/* What a batch in flight is told when its connection breaks.  The oldest
 * one: committed (COMMIT answered) -> ok; an error already seen -> that
 * error; else transient 08006 in doubt (the COMMIT already sent may have
 * run); refused as collateral -> transient, never executed.  The later
 * ones: never executed when the oldest was aborted before its COMMIT (the
 * server refuses them with 25P02), else in doubt.  A read batch writes
 * nothing: never in doubt (every result in -> ok, else 08006 or its
 * error), and its own error does not stop the batches behind it. */
static void lost_result(struct pgpool_result *r, const struct pgbatch *b, bool oldest,
			bool *later_ran, const char *why)
{
	*r = b->err;
	if (!oldest) {
		pgpool_result_set(r, "08006", -1, why);
		r->in_doubt = *later_ran && !b->read_only;
		return;
	}
	if (b->read_only)
		*later_ran = !(b->err.cls != PGPOOL_OK && batch_collateral(b));
	else
		*later_ran = !(b->err.cls != PGPOOL_OK && b->err.stmt_index < (int)b->n);
	if (b->err.cls != PGPOOL_OK && batch_collateral(b)) {
		pgpool_result_set(r, "08006", -1, why);   /* refused, never executed */
	} else if (batch_committed(b)) {
		pgpool_result_set(r, NULL, -1, NULL);
		r->cls = PGPOOL_OK;
	} else if (r->cls == PGPOOL_OK) {
		pgpool_result_set(r, "08006", -1, why);
		r->in_doubt = !b->read_only;
	} else if (!b->read_only && r->stmt_index == (int)b->n) {
		r->in_doubt = true;   /* a FATAL while COMMIT ran: maybe committed */
	}
}

/* The connection broke: close it, retry after the backoff, tell every
 * batch in flight what is known, requeue the collateral ones. */
void pgpool_conn_lost(struct pgconn *c, const char *why)
{
	struct pgpool *p = c->pool;
	struct pgbatch_list lost = TAILQ_HEAD_INITIALIZER(lost);
	struct pgbatch *b;
	bool oldest = true, later_ran = true;

	pgpool_copy_line(p->last_error, sizeof(p->last_error), why);
	TAILQ_CONCAT(&lost, &c->inflight, link);
	c->ninflight = 0;
	c->recovering = false;
	conn_recovered(c);
	pgpool_conn_close(c);
	pgpool_conn_schedule_retry(c);
	while ((b = TAILQ_FIRST(&lost))) {
		struct pgpool_result r;

		TAILQ_REMOVE(&lost, b, link);
		lost_result(&r, b, oldest, &later_ran, p->last_error);
		oldest = false;
		pgpool_batch_finish(p, b, &r);
	}
	event_active(p->kick, EV_TIMEOUT, 0);
}
