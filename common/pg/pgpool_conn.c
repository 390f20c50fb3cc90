/*
 * pgpool_conn.c - one pool connection's state machine: connecting and
 * sending (receiving is in pgpool_recv.c).
 *
 * pgpool_conn_set_state() is the only place that changes c->state and keeps
 * the pool's `connected` gauge right.
 *
 *        timer                 PQconnectPoll OK
 *   DOWN -----> CONNECTING ----------------------> IDLE <-------------+
 *    ^              | fail / timeout                 | send batch      |
 *    |              v                                v                 |
 *    +---- backoff timer <---- lost / timeout ---- BUSY -- last sync --+
 *
 * In BUSY a connection has up to opts.pipeline_depth batches in flight
 * (c->inflight, oldest first), each sent as BEGIN; stmts; COMMIT; <sync>
 * (a write batch) or stmts; <sync> with prepared statements (a read batch,
 * pgpool_prep.c).  After a write batch's error it sends ROLLBACK + sync
 * (c->recovering: no new batch).
 *
 * Invariants: c->timer is the connect timeout (CONNECTING), the retry
 * (DOWN) or the batch timeout (BUSY), never armed while IDLE; the write
 * event is pending only while PQflush reported unsent output.
 */
#include "pgpool_internal.h"

#include <string.h>

/* ------------------------------------------------------------ state */

bool pgpool_state_is_up(enum pgconn_state s)
{
	return s == PGCONN_ST_IDLE || s == PGCONN_ST_BUSY;
}

void pgpool_conn_set_state(struct pgconn *c, enum pgconn_state s)
{
	struct pgpool *p = c->pool;

	if (pgpool_state_is_up(c->state) && !pgpool_state_is_up(s))
		p->connected--;
	else if (!pgpool_state_is_up(c->state) && pgpool_state_is_up(s))
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

void pgpool_conn_close(struct pgconn *c)
{
	conn_free_events(c);
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->syncs_pending = 0;
	pgpool_prep_clear(c);   /* prepared statements die with the session */
}

/* c->timer: connect timeout (CONNECTING), retry (DOWN), batch timeout
 * (BUSY); never armed while IDLE. */
static void conn_arm_timer(struct pgconn *c, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

void pgpool_conn_schedule_retry(struct pgconn *c)
{
	const struct pgpool_opts *o = &c->pool->opts;

	pgpool_conn_set_state(c, PGCONN_ST_DOWN);
	conn_arm_timer(c, c->backoff_ms);
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : o->backoff_min_ms;
	if (c->backoff_ms > o->backoff_max_ms)
		c->backoff_ms = o->backoff_max_ms;
}

/* A connect attempt failed: retry later; with nothing up the pool is down. */
static void conn_connect_failed(struct pgconn *c, const char *why)
{
	struct pgpool *p = c->pool;

	pgpool_copy_line(p->last_error, sizeof(p->last_error), why);
	pgpool_conn_close(c);
	pgpool_conn_schedule_retry(c);
	if (p->connected == 0 && !p->closing) {
		p->down = true;
		pgpool_fail_queue(p, "08001", p->last_error);
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
	c->io = event_new(p->base, fd, EV_READ | EV_PERSIST, pgpool_conn_io_cb, c);
	c->wr = event_new(p->base, fd, EV_WRITE, pgpool_conn_wr_cb, c);
	if (!c->io || !c->wr || event_add(c->io, NULL) != 0) {
		conn_connect_failed(c, "cannot watch the socket");
		return;
	}
	if (c->was_up)
		p->reconnects++;
	c->was_up = true;
	c->backoff_ms = 0;
	p->down = false;
	pgpool_conn_set_state(c, PGCONN_ST_IDLE);
	pgpool_dispatch(p);
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

void pgpool_conn_start(struct pgconn *c)
{
	const struct pgpool_opts *o = &c->pool->opts;
	c->pg = PQconnectStart(c->pool->conninfo);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		conn_connect_failed(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	pgpool_conn_set_state(c, PGCONN_ST_CONNECTING);
	conn_arm_timer(c, o->connect_timeout_ms);
	conn_poll_wait(c, PGRES_POLLING_WRITING);
}

void pgpool_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == PGCONN_ST_DOWN)
		pgpool_conn_start(c);
	else if (c->state == PGCONN_ST_CONNECTING)
		conn_connect_failed(c, "connect timeout");
	else if (c->state == PGCONN_ST_BUSY)
		pgpool_conn_lost(c, "batch timeout: no answer from PostgreSQL");
}

/* ------------------------------------------------------------ sending */

/* Push pending output; arm the write event only while some remains. */
bool pgpool_conn_flush(struct pgconn *c)
{
	int r = PQflush(c->pg);

	if (r < 0)
		return false;
	if (r > 0 && event_add(c->wr, NULL) != 0)
		return false;
	return true;
}

/* A read batch: each statement by its prepared name (Prepare first when
 * this batch prepares it), or unnamed; no BEGIN/COMMIT, the statements up
 * to the sync run as one implicit transaction. */
static bool conn_send_read(struct pgconn *c, struct pgbatch *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		struct pgstmt *s = &b->stmts[i];
		char name[PGPOOL_PREP_NAME];
		bool prepare;

		s->prep_id = pgpool_prep_lookup(c, s->sql, &prepare);
		s->prep_sent = prepare;
		b->nresults += 1 + prepare;
		if (!s->prep_id) {
			if (!PQsendQueryParams(c->pg, s->sql, s->nparams, NULL,
					       (const char *const *)s->params, NULL, NULL, 0))
				return false;
			continue;
		}
		pgpool_prep_name(name, s->prep_id);
		if (prepare && !PQsendPrepare(c->pg, name, s->sql, s->nparams, NULL))
			return false;
		if (!prepare)
			c->pool->prepared_runs++;
		if (!PQsendQueryPrepared(c->pg, name, s->nparams, (const char *const *)s->params,
					 NULL, NULL, 0))
			return false;
	}
	return true;
}

/* A write batch: BEGIN; unnamed statements; COMMIT. */
static bool conn_send_write(struct pgconn *c, struct pgbatch *b)
{
	b->nresults = (int)b->n + 2;
	if (!PQsendQueryParams(c->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
		return false;
	for (unsigned i = 0; i < b->n; i++) {
		const struct pgstmt *s = &b->stmts[i];

		if (!PQsendQueryParams(c->pg, s->sql, s->nparams, NULL,
				       (const char *const *)s->params, NULL, NULL, 0))
			return false;
	}
	return PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
}

static bool conn_send_batch(struct pgconn *c, struct pgbatch *b)
{
	if (!(b->read_only ? conn_send_read(c, b) : conn_send_write(c, b)) ||
	    !PQpipelineSync(c->pg))
		return false;
	c->syncs_pending++;
	return pgpool_conn_flush(c);
}

/* The batch timer watches the oldest thing in flight. */
void pgpool_conn_rearm_batch_timer(struct pgconn *c)
{
	if (c->ninflight || c->recovering)
		conn_arm_timer(c, c->pool->opts.batch_timeout_ms);
	else
		evtimer_del(c->timer);
}

void pgpool_conn_run(struct pgconn *c, struct pgbatch *b)
{
	b->qidx = 0;
	b->nresults = 0;
	b->err_qidx = -1;
	memset(&b->err, 0, sizeof(b->err));
	PQclear(b->kept);
	b->kept = NULL;
	TAILQ_INSERT_TAIL(&c->inflight, b, link);
	if (c->ninflight++ == 0)
		conn_arm_timer(c, c->pool->opts.batch_timeout_ms);
	pgpool_conn_set_state(c, PGCONN_ST_BUSY);
	if (!conn_send_batch(c, b))
		pgpool_conn_lost(c, PQerrorMessage(c->pg));
}

/* After an error: ROLLBACK + sync behind everything in flight; no new
 * batch goes to this connection until its sync is back. */
void pgpool_conn_send_rollback(struct pgconn *c)
{
	if (c->recovering)
		return;
	c->recovering = true;
	if (!PQsendQueryParams(c->pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(c->pg)) {
		pgpool_conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	c->syncs_pending++;
	if (!pgpool_conn_flush(c))
		pgpool_conn_lost(c, PQerrorMessage(c->pg));
}
