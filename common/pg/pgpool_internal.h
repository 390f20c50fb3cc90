/*
 * pgpool_internal.h - what the pgpool_*.c files share; not part of the API.
 *
 * The pool is split by concern:
 *
 *   pgpool_batch.c  batches (pgbatch_*), SQLSTATE classes, results, and
 *                   pgpool_batch_finish: the one place a batch leaves
 *   pgpool_conn.c   a connection's state, connecting, sending
 *   pgpool_prep.c   a connection's prepared-statement cache (read batches)
 *   pgpool_recv.c   reading results, syncs, ROLLBACK recovery, loss
 *   pgpool.c        the pool: dispatch, new/submit/stats/free
 *
 * Invariants (the whole module): a batch is in exactly one place (the pool
 * queue, a connection's inflight or retry list, or being called back and
 * freed); pgpool_conn_set_state() is the only place that changes c->state
 * and keeps p->connected right; every result is for TAILQ_FIRST(inflight)
 * or, when that is empty, the ROLLBACK; the write event is pending only
 * while PQflush reported unsent output; c->timer is never armed while IDLE.
 * Everything runs on the pool's event_base thread.
 */
#ifndef TANDEM_PGPOOL_INTERNAL_H
#define TANDEM_PGPOOL_INTERNAL_H

#include "pgpool.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <sys/queue.h>

#define PGPOOL_MAX_SIZE 64
#define PGPOOL_MAX_DEPTH 64

struct pgstmt {
	char *sql;
	int nparams;
	char **params;
	unsigned prep_id;            /* in flight: the statement name's id, 0 = unnamed */
	bool prep_sent;              /* in flight: its Prepare was sent in this batch */
};

struct pgbatch {
	struct pgstmt *stmts;
	unsigned n, cap;
	pgpool_done_cb cb;
	void *arg;
	TAILQ_ENTRY(pgbatch) link;   /* in the pool's queue, a connection's inflight or retry */
	bool read_only;              /* no BEGIN/COMMIT, prepared statements (pgbatch_read_only) */
	int qidx;                    /* in flight: results seen (a write batch's BEGIN is result 0) */
	int nresults;                /* in flight: results the batch expects before its sync */
	int err_qidx;                /* in flight: the result that carried err */
	struct pgpool_result err;    /* in flight: the first error (cls != OK) */
	int keep_idx;                /* statement whose rows the callback gets, -1 none */
	PGresult *kept;              /* those rows, once received */
};

TAILQ_HEAD(pgbatch_list, pgbatch);

/* One prepared statement of a connection: "tandem_r<id>" on the server.
 * Pending from its Prepare until the Prepare's result: only then may other
 * batches execute it by name (a failed Prepare removes the entry). */
struct pgprep {
	char *sql;
	size_t len;
	unsigned id;
	bool ready;
};

#define PGPOOL_PREP_MAX 256   /* statements prepared per connection; more run unnamed */
#define PGPOOL_PREP_NAME 24   /* "tandem_r" + an unsigned + NUL */

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
	struct pgprep *preps;  /* prepared statements of this session (dropped at close) */
	unsigned npreps;
	unsigned next_prep_id;
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
	uint64_t done, failed, reconnects, requeued, prepared, prepared_runs;
	char last_error[256];
};

/* ---- pgpool_batch.c: results and the way out ---- */

/* Copy msg into dst on one line (libpq messages end with newlines). */
void pgpool_copy_line(char *dst, size_t len, const char *msg);
void pgpool_result_set(struct pgpool_result *r, const char *sqlstate, int idx, const char *msg);
/* Call a batch back and free it; the one place batches leave the pool. */
void pgpool_batch_finish(struct pgpool *p, struct pgbatch *b, const struct pgpool_result *r);
void pgpool_batch_fail(struct pgpool *p, struct pgbatch *b, const char *sqlstate, const char *msg);
/* Fail every queued batch (callbacks may queue new ones for later). */
void pgpool_fail_queue(struct pgpool *p, const char *sqlstate, const char *msg);

/* ---- pgpool_conn.c: state, connecting, sending ---- */

bool pgpool_state_is_up(enum pgconn_state s);
void pgpool_conn_set_state(struct pgconn *c, enum pgconn_state s);
void pgpool_conn_close(struct pgconn *c);
void pgpool_conn_schedule_retry(struct pgconn *c);
void pgpool_conn_start(struct pgconn *c);
void pgpool_conn_timer_cb(evutil_socket_t fd, short what, void *arg);
/* Push pending output; arm the write event only while some remains. */
bool pgpool_conn_flush(struct pgconn *c) __attribute__((warn_unused_result));
void pgpool_conn_rearm_batch_timer(struct pgconn *c);
void pgpool_conn_run(struct pgconn *c, struct pgbatch *b);
void pgpool_conn_send_rollback(struct pgconn *c);

/* ---- pgpool_prep.c: the prepared-statement cache ---- */

void pgpool_prep_name(char *dst, unsigned id);
/* The id to run sql by (*send_prepare: prepare it first, in this batch),
 * or 0: run it unnamed (being prepared by an earlier batch, cache full,
 * or no memory). */
unsigned pgpool_prep_lookup(struct pgconn *c, const char *sql, bool *send_prepare);
/* The Prepare of id was answered: ok -> other batches may run it; else the
 * entry goes (the statement will be prepared again later). */
void pgpool_prep_resolved(struct pgconn *c, unsigned id, bool ok);
/* The session is gone: forget every statement. */
void pgpool_prep_clear(struct pgconn *c);

/* ---- pgpool_recv.c: receiving and loss ---- */

void pgpool_conn_io_cb(evutil_socket_t fd, short what, void *arg);
void pgpool_conn_wr_cb(evutil_socket_t fd, short what, void *arg);
/* The connection broke: close it, retry after the backoff, tell every
 * batch in flight what is known, requeue the collateral ones. */
void pgpool_conn_lost(struct pgconn *c, const char *why);

/* ---- pgpool.c ---- */

/* Give queued batches to connections; fail them while the pool is down. */
void pgpool_dispatch(struct pgpool *p);

#endif
