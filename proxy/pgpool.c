/*
 * pgpool.c - the asynchronous PostgreSQL pool (see pgpool.h for the contract).
 *
 * Each connection is a small state machine; conn_set_state() is the only
 * place that changes c->state and keeps the pool's `connected` gauge right.
 *
 *        timer                 PQconnectPoll OK
 *   DOWN -----> CONNECTING ----------------------> IDLE <-------------+
 *    ^              | fail / timeout                 | send batch      |
 *    |              v                                v                 |
 *    +---- backoff timer <---- lost / timeout ---- BUSY -- last sync --+
 *
 * In BUSY a connection has up to opts.pipeline_depth batches in flight
 * (c->inflight, oldest first), each sent as BEGIN; stmts; COMMIT; <sync>.
 * Results arrive in that order, so every result belongs to the oldest
 * batch: each query yields one result then a NULL, b->qidx counts them and
 * the failing statement's index is qidx - 1 (BEGIN -1, COMMIT n).  The
 * sync result closes the oldest batch.
 *
 * After an error the server skips to that batch's sync and leaves its
 * explicit transaction failed, so the batches already sent behind it are
 * refused at BEGIN with 25P02 ("collateral": never executed).  The
 * connection then sends ROLLBACK + sync (c->recovering: no new batch goes
 * to it), parks the collateral batches in c->retry, and at the ROLLBACK's
 * sync puts them back at the head of the pool's queue in order.
 *
 * Invariants: a batch is in exactly one place (the pool queue, a
 * connection's inflight or retry list, or being called back and freed);
 * every result is for TAILQ_FIRST(inflight) or, when that is empty, the
 * ROLLBACK; the write event is pending only while PQflush reported unsent
 * output; c->timer is never armed while IDLE.
 */
#include "pgpool.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define PGPOOL_MAX_SIZE 64
#define PGPOOL_MAX_DEPTH 64

struct pgstmt {
	char *sql;
	int nparams;
	char **params;
};

struct pgbatch {
	struct pgstmt *stmts;
	unsigned n, cap;
	pgpool_done_cb cb;
	void *arg;
	TAILQ_ENTRY(pgbatch) link;   /* in the pool's queue, a connection's inflight or retry */
	int qidx;                    /* in flight: results seen (BEGIN is result 0) */
	struct pgpool_result err;    /* in flight: the first error (cls != OK) */
};

TAILQ_HEAD(pgbatch_list, pgbatch);

enum pgconn_state {
	PGCONN_ST_DOWN,        /* no PGconn; c->timer armed for the next attempt */
	PGCONN_ST_CONNECTING,  /* PQconnectPoll running; c->io + c->timer (timeout) armed */
	PGCONN_ST_IDLE,        /* in pipeline mode, nothing in flight */
	PGCONN_ST_BUSY,        /* batches and/or a ROLLBACK in flight; c->timer = batch timeout */
};

struct pgconn {
	struct pgpool *pool;
	enum pgconn_state state;
	PGconn *pg;
	struct event *io;      /* connecting: one-shot; connected: persistent EV_READ */
	struct event *wr;      /* connected: one-shot EV_WRITE while output pending */
	struct event *timer;   /* connect timeout, reconnect backoff or batch timeout */
	struct pgbatch_list inflight;   /* sent, in pipeline order (oldest first) */
	unsigned ninflight;
	struct pgbatch_list retry;      /* refused with 25P02 behind a failed batch */
	unsigned nretry;
	bool recovering;       /* ROLLBACK + sync sent after an error: take no new batch */
	int syncs_pending;
	unsigned backoff_ms;
	bool was_up;           /* has been connected before (reconnect counting) */
};

struct pgpool {
	struct event_base *base;
	char *conninfo;
	struct pgpool_opts opts;
	struct pgconn *conns;
	unsigned size;
	unsigned connected;
	bool down;
	bool closing;
	struct pgbatch_list queue;
	unsigned nqueued;
	struct event *kick;    /* deferred dispatch after submit */
	uint64_t done, failed, reconnects, requeued;
	char last_error[256];
};

static void conn_start(struct pgconn *c);
static void conn_lost(struct pgconn *c, const char *why);
static void pool_dispatch(struct pgpool *p);

/* ------------------------------------------------------------ batches */

struct pgbatch *pgbatch_new(void)
{
	return calloc(1, sizeof(struct pgbatch));
}

static void pgstmt_clear(struct pgstmt *s)
{
	for (int i = 0; i < s->nparams; i++)
		free(s->params[i]);
	free(s->params);
	free(s->sql);
}

static bool pgstmt_copy(struct pgstmt *s, const char *sql, int nparams, const char *const *params)
{
	memset(s, 0, sizeof(*s));
	s->sql = strdup(sql);
	if (!s->sql)
		return false;
	if (nparams > 0) {
		s->params = calloc((size_t)nparams, sizeof(char *));
		if (!s->params)
			goto fail;
	}
	for (int i = 0; i < nparams; i++) {
		s->nparams = i + 1;
		if (params[i] && !(s->params[i] = strdup(params[i])))
			goto fail;
	}
	s->nparams = nparams;
	return true;
fail:
	pgstmt_clear(s);
	return false;
}

bool pgbatch_add(struct pgbatch *b, const char *sql, int nparams, const char *const *params)
{
	if (!b || !sql || nparams < 0 || nparams > 65535 || (nparams > 0 && !params))
		return false;
	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 4;
		struct pgstmt *s = realloc(b->stmts, cap * sizeof(*s));
		if (!s)
			return false;
		b->stmts = s;
		b->cap = cap;
	}
	if (!pgstmt_copy(&b->stmts[b->n], sql, nparams, params))
		return false;
	b->n++;
	return true;
}

unsigned pgbatch_count(const struct pgbatch *b)
{
	return b ? b->n : 0;
}

void pgbatch_free(struct pgbatch *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < b->n; i++)
		pgstmt_clear(&b->stmts[i]);
	free(b->stmts);
	free(b);
}

/* ------------------------------------------------------------ results */

enum pgpool_class pgpool_classify(const char *st)
{
	if (!st || !st[0])
		return PGPOOL_TRANSIENT;
	if (!strncmp(st, "08", 2) || !strncmp(st, "53", 2) || !strncmp(st, "57P", 3) ||
	    !strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03") ||
	    !strcmp(st, "25P03") || !strcmp(st, "58030"))
		return PGPOOL_TRANSIENT;
	return PGPOOL_PERMANENT;
}

const char *pgpool_class_to_str(enum pgpool_class c)
{
	switch (c) {
	case PGPOOL_OK: return "ok";
	case PGPOOL_TRANSIENT: return "transient";
	case PGPOOL_PERMANENT: return "permanent";
	}
	return "?";
}

/* Copy msg into dst on one line (libpq messages end with newlines). */
static void copy_line(char *dst, size_t len, const char *msg)
{
	snprintf(dst, len, "%s", msg ? msg : "");
	for (char *q = dst; *q; q++)
		if (*q == '\n' || *q == '\r')
			*q = (q[1] ? ' ' : '\0');
}

static void result_set(struct pgpool_result *r, const char *sqlstate, int idx, const char *msg)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", sqlstate ? sqlstate : "");
	r->cls = pgpool_classify(sqlstate);
	r->stmt_index = idx;
	copy_line(r->message, sizeof(r->message), msg);
}

/* Call a batch back and free it; the one place batches leave the pool. */
static void batch_finish(struct pgpool *p, struct pgbatch *b, const struct pgpool_result *r)
{
	if (r->cls == PGPOOL_OK)
		p->done++;
	else
		p->failed++;
	if (b->cb)
		b->cb(r, b->arg);
	pgbatch_free(b);
}

static void batch_fail(struct pgpool *p, struct pgbatch *b, const char *sqlstate, const char *msg)
{
	struct pgpool_result r;

	result_set(&r, sqlstate, -1, msg);
	batch_finish(p, b, &r);
}

/* Fail every queued batch; batches submitted by the callbacks stay queued
 * for the next dispatch (the list is detached first). */
static void pool_fail_queue(struct pgpool *p, const char *sqlstate, const char *msg)
{
	struct pgbatch_list q = TAILQ_HEAD_INITIALIZER(q);
	struct pgbatch *b;

	TAILQ_CONCAT(&q, &p->queue, link);
	p->nqueued = 0;
	while ((b = TAILQ_FIRST(&q))) {
		TAILQ_REMOVE(&q, b, link);
		batch_fail(p, b, sqlstate, msg);
	}
}

/* ------------------------------------------------------------ state */

static bool state_is_up(enum pgconn_state s)
{
	return s == PGCONN_ST_IDLE || s == PGCONN_ST_BUSY;
}

static void conn_set_state(struct pgconn *c, enum pgconn_state s)
{
	struct pgpool *p = c->pool;

	if (state_is_up(c->state) && !state_is_up(s))
		p->connected--;
	else if (!state_is_up(c->state) && state_is_up(s))
		p->connected++;
	c->state = s;
}

static void conn_free_events(struct pgconn *c)
{
	if (c->io)
		event_free(c->io);
	if (c->wr)
		event_free(c->wr);
	c->io = c->wr = NULL;
	evtimer_del(c->timer);
}

static void conn_close(struct pgconn *c)
{
	conn_free_events(c);
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->syncs_pending = 0;
}

/* c->timer: connect timeout (CONNECTING), retry (DOWN), batch timeout
 * (BUSY); never armed while IDLE. */
static void conn_arm_timer(struct pgconn *c, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

static void conn_schedule_retry(struct pgconn *c)
{
	const struct pgpool_opts *o = &c->pool->opts;

	conn_set_state(c, PGCONN_ST_DOWN);
	conn_arm_timer(c, c->backoff_ms);
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : o->backoff_min_ms;
	if (c->backoff_ms > o->backoff_max_ms)
		c->backoff_ms = o->backoff_max_ms;
}

/* A connect attempt failed: retry later; with nothing up the pool is down. */
static void conn_connect_failed(struct pgconn *c, const char *why)
{
	struct pgpool *p = c->pool;

	copy_line(p->last_error, sizeof(p->last_error), why);
	conn_close(c);
	conn_schedule_retry(c);
	if (p->connected == 0 && !p->closing) {
		p->down = true;
		pool_fail_queue(p, "08001", p->last_error);
	}
}

/* ------------------------------------------------------------ connecting */

static void conn_poll_cb(evutil_socket_t fd, short what, void *arg);

static void conn_poll_wait(struct pgconn *c, PostgresPollingStatusType st)
{
	short ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;

	if (c->io)
		event_free(c->io);
	c->io = event_new(c->pool->base, PQsocket(c->pg), ev, conn_poll_cb, c);
	if (!c->io || event_add(c->io, NULL) != 0)
		conn_connect_failed(c, "cannot watch the socket");
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg);
static void conn_wr_cb(evutil_socket_t fd, short what, void *arg);

static void notice_ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void conn_ready(struct pgconn *c)
{
	struct pgpool *p = c->pool;
	evutil_socket_t fd = PQsocket(c->pg);

	conn_free_events(c);
	if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
		conn_connect_failed(c, PQerrorMessage(c->pg));
		return;
	}
	PQsetNoticeProcessor(c->pg, notice_ignore, NULL);
	c->io = event_new(p->base, fd, EV_READ | EV_PERSIST, conn_io_cb, c);
	c->wr = event_new(p->base, fd, EV_WRITE, conn_wr_cb, c);
	if (!c->io || !c->wr || event_add(c->io, NULL) != 0) {
		conn_connect_failed(c, "cannot watch the socket");
		return;
	}
	if (c->was_up)
		p->reconnects++;
	c->was_up = true;
	c->backoff_ms = 0;
	p->down = false;
	conn_set_state(c, PGCONN_ST_IDLE);
	pool_dispatch(p);
}

static void conn_poll_step(struct pgconn *c)
{
	PostgresPollingStatusType st = PQconnectPoll(c->pg);

	if (st == PGRES_POLLING_OK)
		conn_ready(c);
	else if (st == PGRES_POLLING_FAILED)
		conn_connect_failed(c, PQerrorMessage(c->pg));
	else
		conn_poll_wait(c, st);
}

static void conn_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_poll_step(arg);
}

static void conn_start(struct pgconn *c)
{
	const struct pgpool_opts *o = &c->pool->opts;
	c->pg = PQconnectStart(c->pool->conninfo);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_connect_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	conn_set_state(c, PGCONN_ST_CONNECTING);
	conn_arm_timer(c, o->connect_timeout_ms);
	conn_poll_wait(c, PGRES_POLLING_WRITING);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == PGCONN_ST_DOWN)
		conn_start(c);
	else if (c->state == PGCONN_ST_CONNECTING)
		conn_connect_failed(c, "connect timeout");
	else if (c->state == PGCONN_ST_BUSY)
		conn_lost(c, "batch timeout: no answer from PostgreSQL");
}

/* ------------------------------------------------------------ sending */

/* Push pending output; arm the write event only while some remains. */
static bool conn_flush(struct pgconn *c)
{
	int r = PQflush(c->pg);

	if (r < 0)
		return false;
	if (r > 0 && event_add(c->wr, NULL) != 0)
		return false;
	return true;
}

static bool conn_send_batch(struct pgconn *c, const struct pgbatch *b)
{
	if (!PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
		return false;
	for (unsigned i = 0; i < b->n; i++) {
		const struct pgstmt *s = &b->stmts[i];

		if (!PQsendQueryParams(c->pg, s->sql, s->nparams, NULL,
				       (const char *const *)s->params, NULL, NULL, 0))
			return false;
	}
	if (!PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(c->pg))
		return false;
	c->syncs_pending++;
	return conn_flush(c);
}

/* The batch timer watches the oldest thing in flight. */
static void conn_rearm_batch_timer(struct pgconn *c)
{
	if (c->ninflight || c->recovering)
		conn_arm_timer(c, c->pool->opts.batch_timeout_ms);
	else
		evtimer_del(c->timer);
}

static void conn_run(struct pgconn *c, struct pgbatch *b)
{
	b->qidx = 0;
	memset(&b->err, 0, sizeof(b->err));
	TAILQ_INSERT_TAIL(&c->inflight, b, link);
	if (c->ninflight++ == 0)
		conn_arm_timer(c, c->pool->opts.batch_timeout_ms);
	conn_set_state(c, PGCONN_ST_BUSY);
	if (!conn_send_batch(c, b))
		conn_lost(c, PQerrorMessage(c->pg));
}

/* After an error: ROLLBACK + sync behind everything in flight; no new
 * batch goes to this connection until its sync is back. */
static void conn_send_rollback(struct pgconn *c)
{
	if (c->recovering)
		return;
	c->recovering = true;
	if (!PQsendQueryParams(c->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(c->pg)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	c->syncs_pending++;
	if (!conn_flush(c))
		conn_lost(c, PQerrorMessage(c->pg));
}

/* ------------------------------------------------------------ receiving */

/* BEGIN, every statement and COMMIT answered without error. */
static bool batch_committed(const struct pgbatch *b)
{
	return b->err.cls == PGPOOL_OK && b->qidx >= (int)b->n + 2;
}

/* Refused at BEGIN because an earlier batch left the transaction failed:
 * never executed, safe to run again. */
static bool batch_collateral(const struct pgbatch *b)
{
	return b->err.stmt_index == -1 && !strcmp(b->err.sqlstate, "25P02");
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
	if (failed)
		conn_send_rollback(c);   /* may lose the connection (c->retry is requeued) */
	if (c->pg) {
		conn_rearm_batch_timer(c);
		if (!c->ninflight && !c->recovering)
			conn_set_state(c, PGCONN_ST_IDLE);
	}
	if (!b)
		return;
	result_set(&ok, NULL, -1, NULL);
	ok.cls = PGPOOL_OK;
	batch_finish(c->pool, b, failed ? &b->err : &ok);
}

static void conn_on_result(struct pgconn *c, const PGresult *r)
{
	struct pgbatch *b = TAILQ_FIRST(&c->inflight);

	if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
		c->syncs_pending--;
		conn_on_sync(c);
		return;
	}
	if (!b)
		return;   /* the ROLLBACK's own result */
	/* An error after COMMIT's own result (a FATAL on the way to the sync)
	 * does not undo the commit: conn_lost reports the batch ok. */
	if (PQresultStatus(r) == PGRES_FATAL_ERROR && b->err.cls == PGPOOL_OK && !batch_committed(b)) {
		const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		result_set(&b->err, st ? st : "08006", b->qidx - 1,
			   PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY));
	}
	b->qidx++;
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
		conn_on_result(c, r);
		PQclear(r);
	}
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *c = arg;
	bool eof;

	(void)fd;
	(void)what;
	eof = !PQconsumeInput(c->pg);
	conn_drain(c);   /* on EOF too: an error result (57P01...) may precede it */
	if (!c->pg)
		return;  /* the drain's callbacks already lost the connection */
	if (eof || PQstatus(c->pg) == CONNECTION_BAD || !conn_flush(c)) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	pool_dispatch(c->pool);
}

static void conn_wr_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *c = arg;

	(void)fd;
	(void)what;
	if (!conn_flush(c))
		conn_lost(c, PQerrorMessage(c->pg));
}

/* What a batch in flight is told when its connection breaks.  The oldest
 * one: committed (COMMIT answered) -> ok; an error already seen -> that
 * error; else transient 08006 in doubt (the COMMIT already sent may have
 * run); refused as collateral -> transient, never executed.  The later
 * ones: never executed when the oldest was aborted before its COMMIT (the
 * server refuses them with 25P02), else in doubt. */
static void lost_result(struct pgpool_result *r, const struct pgbatch *b, bool oldest,
			bool *later_ran, const char *why)
{
	*r = b->err;
	if (!oldest) {
		result_set(r, "08006", -1, why);
		r->in_doubt = *later_ran;
		return;
	}
	*later_ran = !(b->err.cls != PGPOOL_OK && b->err.stmt_index < (int)b->n);
	if (b->err.cls != PGPOOL_OK && batch_collateral(b)) {
		result_set(r, "08006", -1, why);   /* refused, never executed */
	} else if (batch_committed(b)) {
		result_set(r, NULL, -1, NULL);
		r->cls = PGPOOL_OK;
	} else if (r->cls == PGPOOL_OK) {
		result_set(r, "08006", -1, why);
		r->in_doubt = true;
	} else if (r->stmt_index == (int)b->n) {
		r->in_doubt = true;   /* a FATAL while COMMIT ran: maybe committed */
	}
}

/* The connection broke: close it, retry after the backoff, tell every
 * batch in flight what is known, requeue the collateral ones. */
static void conn_lost(struct pgconn *c, const char *why)
{
	struct pgpool *p = c->pool;
	struct pgbatch_list lost = TAILQ_HEAD_INITIALIZER(lost);
	struct pgbatch *b;
	bool oldest = true, later_ran = true;

	copy_line(p->last_error, sizeof(p->last_error), why);
	TAILQ_CONCAT(&lost, &c->inflight, link);
	c->ninflight = 0;
	c->recovering = false;
	conn_recovered(c);
	conn_close(c);
	conn_schedule_retry(c);
	while ((b = TAILQ_FIRST(&lost))) {
		struct pgpool_result r;

		TAILQ_REMOVE(&lost, b, link);
		lost_result(&r, b, oldest, &later_ran, p->last_error);
		oldest = false;
		batch_finish(p, b, &r);
	}
	event_active(p->kick, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------ the pool */

/* The up connection with the fewest batches in flight, below the depth. */
static struct pgconn *pool_pick_conn(struct pgpool *p)
{
	struct pgconn *best = NULL;

	for (unsigned i = 0; i < p->size; i++) {
		struct pgconn *c = &p->conns[i];

		if (!state_is_up(c->state) || c->recovering || c->ninflight >= p->opts.pipeline_depth)
			continue;
		if (!best || c->ninflight < best->ninflight)
			best = c;
	}
	return best;
}

/* Give queued batches to connections; fail them while the pool is down. */
static void pool_dispatch(struct pgpool *p)
{
	struct pgconn *c;
	struct pgbatch *b;

	if (p->closing)
		return;
	while ((b = TAILQ_FIRST(&p->queue)) && (c = pool_pick_conn(p))) {
		TAILQ_REMOVE(&p->queue, b, link);
		p->nqueued--;
		conn_run(c, b);
	}
	if (p->down && p->connected == 0 && !TAILQ_EMPTY(&p->queue))
		pool_fail_queue(p, "08001", p->last_error);
}

static void pool_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pool_dispatch(arg);
}

static void pool_defaults(struct pgpool_opts *o, const struct pgpool_opts *in)
{
	if (in)
		*o = *in;
	else
		memset(o, 0, sizeof(*o));
	if (!o->max_queued)
		o->max_queued = 1024;
	if (!o->connect_timeout_ms)
		o->connect_timeout_ms = 5000;
	if (!o->batch_timeout_ms)
		o->batch_timeout_ms = 30000;
	if (!o->backoff_min_ms)
		o->backoff_min_ms = 50;
	if (!o->backoff_max_ms)
		o->backoff_max_ms = 2000;
	if (!o->pipeline_depth)
		o->pipeline_depth = 1;
	if (o->pipeline_depth > PGPOOL_MAX_DEPTH)
		o->pipeline_depth = PGPOOL_MAX_DEPTH;
	if (o->backoff_max_ms < o->backoff_min_ms)
		o->backoff_max_ms = o->backoff_min_ms;
}

static bool pool_alloc(struct pgpool *p)
{
	p->conninfo = strdup(p->conninfo);
	p->conns = calloc(p->size, sizeof(struct pgconn));
	p->kick = event_new(p->base, -1, 0, pool_kick_cb, p);
	if (!p->conninfo || !p->conns || !p->kick)
		return false;
	for (unsigned i = 0; i < p->size; i++) {
		p->conns[i].pool = p;
		TAILQ_INIT(&p->conns[i].inflight);
		TAILQ_INIT(&p->conns[i].retry);
		p->conns[i].timer = evtimer_new(p->base, conn_timer_cb, &p->conns[i]);
		if (!p->conns[i].timer)
			return false;
	}
	return true;
}

struct pgpool *pgpool_new(struct event_base *base, const char *conninfo, unsigned size,
			  const struct pgpool_opts *opts, char *err, size_t errlen)
{
	struct pgpool *p;

	if (!base || !conninfo || size == 0 || size > PGPOOL_MAX_SIZE) {
		snprintf(err, errlen, "pgpool: size must be 1..%d", PGPOOL_MAX_SIZE);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "pgpool: out of memory");
		return NULL;
	}
	p->base = base;
	p->conninfo = (char *)conninfo;   /* replaced by a copy in pool_alloc */
	p->size = size;
	TAILQ_INIT(&p->queue);
	pool_defaults(&p->opts, opts);
	if (!pool_alloc(p)) {
		if (p->conninfo == conninfo)
			p->conninfo = NULL;
		pgpool_free(p);
		snprintf(err, errlen, "pgpool: out of memory");
		return NULL;
	}
	for (unsigned i = 0; i < size; i++)
		conn_start(&p->conns[i]);
	return p;
}

bool pgpool_submit(struct pgpool *p, struct pgbatch *b, pgpool_done_cb cb, void *arg)
{
	if (!p || !b || b->n == 0 || p->closing || p->nqueued >= p->opts.max_queued)
		return false;
	b->cb = cb;
	b->arg = arg;
	TAILQ_INSERT_TAIL(&p->queue, b, link);
	p->nqueued++;
	event_active(p->kick, EV_TIMEOUT, 0);
	return true;
}

void pgpool_stats(const struct pgpool *p, struct pgpool_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->size = p->size;
	out->connected = p->connected;
	for (unsigned i = 0; i < p->size; i++) {
		out->busy += p->conns[i].state == PGCONN_ST_BUSY;
		out->inflight += p->conns[i].ninflight;
	}
	out->queued = p->nqueued;
	out->down = p->down;
	out->done = p->done;
	out->failed = p->failed;
	out->reconnects = p->reconnects;
	out->requeued = p->requeued;
}

const char *pgpool_last_error(const struct pgpool *p)
{
	return p->last_error;
}

/* Fail a connection's batches at close: those in flight are in doubt
 * (their COMMIT may still run), the collateral ones never ran. */
static void conn_fail_all(struct pgconn *c, const char *msg)
{
	struct pgbatch *b;
	struct pgpool_result r;

	while ((b = TAILQ_FIRST(&c->inflight))) {
		TAILQ_REMOVE(&c->inflight, b, link);
		result_set(&r, "08006", -1, msg);
		r.in_doubt = true;
		batch_finish(c->pool, b, &r);
	}
	while ((b = TAILQ_FIRST(&c->retry))) {
		TAILQ_REMOVE(&c->retry, b, link);
		batch_fail(c->pool, b, "08006", msg);
	}
	c->ninflight = c->nretry = 0;
}

void pgpool_free(struct pgpool *p)
{
	if (!p)
		return;
	p->closing = true;
	for (unsigned i = 0; p->conns && i < p->size; i++) {
		struct pgconn *c = &p->conns[i];

		if (!c->timer)
			continue;   /* pool_alloc stopped before this one */
		conn_fail_all(c, "pool closed");
		conn_close(c);
		event_free(c->timer);
	}
	pool_fail_queue(p, "08006", "pool closed");
	if (p->kick)
		event_free(p->kick);
	free(p->conns);
	free(p->conninfo);
	free(p);
}
