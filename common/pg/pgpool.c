/*
 * pgpool.c - the asynchronous PostgreSQL pool (see pgpool.h for the
 * contract): creating and freeing it, taking batches, dispatching them.
 *
 *   pgpool_submit -> queue -> (kick event) pgpool_dispatch -> a connection
 *                                                (pgpool_conn.c, pgpool_recv.c)
 *
 * Submitted batches wait in p->queue (FIFO, at most opts.max_queued) and
 * are dispatched from the kick event, never inside pgpool_submit, to the up
 * connection with the fewest batches in flight below the pipeline depth.
 * While the pool is down (nothing up, the last attempt failed) queued
 * batches fail transient at once.  Freeing fails every batch it holds.
 */
#include "pgpool_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the pool */

/* The up connection with the fewest batches in flight, below the depth. */
static struct pgconn *pool_pick_conn(struct pgpool *p)
{
	struct pgconn *best = NULL;

	for (unsigned i = 0; i < p->size; i++) {
		struct pgconn *c = &p->conns[i];

		if (!pgpool_state_is_up(c->state) || c->recovering ||
		    c->ninflight >= p->opts.pipeline_depth)
			continue;
		if (!best || c->ninflight < best->ninflight)
			best = c;
	}
	return best;
}

/* Give queued batches to connections; fail them while the pool is down. */
void pgpool_dispatch(struct pgpool *p)
{
	struct pgconn *c;
	struct pgbatch *b;

	if (p->closing)
		return;
	while ((b = TAILQ_FIRST(&p->queue)) && (c = pool_pick_conn(p))) {
		TAILQ_REMOVE(&p->queue, b, link);
		p->nqueued--;
		pgpool_conn_run(c, b);
	}
	if (p->down && p->connected == 0 && !TAILQ_EMPTY(&p->queue))
		pgpool_fail_queue(p, "08001", p->last_error);
}

static void pool_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pgpool_dispatch(arg);
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
		p->conns[i].timer = evtimer_new(p->base, pgpool_conn_timer_cb, &p->conns[i]);
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
		pgpool_conn_start(&p->conns[i]);
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
	out->prepared = p->prepared;
	out->prepared_runs = p->prepared_runs;
}

const char *pgpool_last_error(const struct pgpool *p)
{
	return p->last_error;
}

/* Fail a connection's batches at close: write batches in flight are in
 * doubt (their COMMIT may still run), read batches and the collateral ones
 * never wrote. */
static void conn_fail_all(struct pgconn *c, const char *msg)
{
	struct pgbatch *b;
	struct pgpool_result r;

	while ((b = TAILQ_FIRST(&c->inflight))) {
		TAILQ_REMOVE(&c->inflight, b, link);
		pgpool_result_set(&r, "08006", -1, msg);
		r.in_doubt = !b->read_only;
		pgpool_batch_finish(c->pool, b, &r);
	}
	while ((b = TAILQ_FIRST(&c->retry))) {
		TAILQ_REMOVE(&c->retry, b, link);
		pgpool_batch_fail(c->pool, b, "08006", msg);
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
		pgpool_conn_close(c);
		event_free(c->timer);
	}
	pgpool_fail_queue(p, "08006", "pool closed");
	if (p->kick)
		event_free(p->kick);
	free(p->conns);
	free(p->conninfo);
	free(p);
}
