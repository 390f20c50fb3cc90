/*
 * pgpool.h - an asynchronous PostgreSQL connection pool on one event_base.
 *
 * A pool owns `size` libpq connections, all non-blocking and in pipeline
 * mode, whose sockets are watched by libevent events of the caller's
 * event_base (one pool per worker thread; a pool is not thread-safe).
 * Nothing here ever blocks the loop: connecting uses PQconnectStart +
 * PQconnectPoll, sending uses PQflush with a write event armed only while
 * output is pending, reading uses PQconsumeInput + PQgetResult.
 *
 * The unit of work is a batch: an ordered list of statements with text
 * parameters.  A batch runs as ONE transaction on one connection:
 *
 *   BEGIN; stmt 0; ...; stmt n-1; COMMIT; <sync>      (one round trip)
 *
 * and its callback is told ok, or the first error with its SQLSTATE, the
 * failing statement's index and a class (transient: retry later;
 * permanent: retrying the same batch fails again).  After an error the
 * connection sends ROLLBACK + sync before taking the next batch, so it
 * stays usable.  By default one batch is in flight per connection;
 * opts.pipeline_depth > 1 pipelines several (each still its own
 * transaction; batches sent behind a failing one are run again).  Batches
 * on one connection commit in submission order; across connections there
 * is no order, so a caller that needs two batches ordered submits the
 * second from the first one's callback.
 *
 * A read batch (pgbatch_read_only) is sent as stmts; <sync> with named
 * prepared statements cached per connection: no BEGIN/COMMIT, no ROLLBACK
 * after an error, never in doubt.
 *
 * Batches wait in a bounded FIFO when every connection is busy; submit
 * returns false when it is full (the caller spools).  While the pool is
 * down (no connection up and a connect attempt failed) queued and new
 * batches fail transient at once.  Lost connections reconnect with
 * exponential backoff.  Every accepted batch gets exactly one callback.
 */
#ifndef TANDEM_PGPOOL_H
#define TANDEM_PGPOOL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct pgpool;
struct pgbatch;

enum pgpool_class {
	PGPOOL_OK = 0,
	PGPOOL_TRANSIENT,   /* connection lost/down, 08xxx, 40001, 40P01, 57Pxx, 53xxx... */
	PGPOOL_PERMANENT,   /* 23xxx constraint, 22xxx data, 42xxx syntax, anything else */
};

/* What a batch's callback is told.  stmt_index: -1 when BEGIN or the
 * connection failed before any statement ran, 0..n-1 for a statement,
 * n for the COMMIT (write batches). */
struct pgpool_result {
	enum pgpool_class cls;
	char sqlstate[6];          /* "" when ok; "08006" when the connection was lost */
	int stmt_index;
	bool in_doubt;             /* transient only: the connection was lost (or the
	                            * batch timed out) after the batch was sent and
	                            * before any answer decided it; the COMMIT may have
	                            * run.  Retries must be idempotent.  When false, a
	                            * failed batch is known not to be applied. */
	char message[256];         /* PostgreSQL's (or libpq's) message, one line */
	const struct pg_result *rows; /* ok only: the result of the statement named by
	                            * pgbatch_keep_rows (a libpq PGresult), else NULL;
	                            * valid during the callback only */
};

/* Called once per accepted batch, on the pool's event_base thread.  The
 * batch is freed right after the callback returns.  The callback may call
 * pgpool_submit; it must not call pgpool_free. */
typedef void (*pgpool_done_cb)(const struct pgpool_result *res, void *arg);

struct pgpool_opts {
	unsigned max_queued;          /* batches waiting for a connection; 0 = 1024 */
	unsigned connect_timeout_ms;  /* one connect attempt; 0 = 5000 */
	unsigned batch_timeout_ms;    /* a batch (or its ROLLBACK) in flight longer than
	                               * this closes the connection: transient; 0 = 30000 */
	unsigned backoff_min_ms;      /* first reconnect delay; 0 = 50 */
	unsigned backoff_max_ms;      /* delay cap (doubles per failure); 0 = 2000 */
	unsigned pipeline_depth;      /* batches in flight per connection; 0 = 1, max 64 */
};

struct pgpool_stats {
	unsigned size;
	unsigned connected;   /* connections up (idle or busy) */
	unsigned busy;        /* connections with a batch or a ROLLBACK in flight */
	unsigned inflight;    /* batches sent and not yet answered */
	unsigned queued;      /* batches waiting for a connection */
	bool down;            /* no connection up and the last attempt failed */
	uint64_t done;        /* batches committed */
	uint64_t failed;      /* batches failed (any class) */
	uint64_t reconnects;  /* connections re-established after a loss */
	uint64_t requeued;    /* batches refused (25P02) behind a failed one and run again */
	uint64_t prepared;    /* read statements sent with a Prepare (cache misses) */
	uint64_t prepared_runs; /* read statements run by an already prepared name (hits) */
};

/* ---- batches ---- */

struct pgbatch *pgbatch_new(void) __attribute__((warn_unused_result));

/* Append a statement; sql and params (NULL entries are SQL NULL) are
 * copied.  False on allocation failure (the batch is unchanged). */
bool pgbatch_add(struct pgbatch *b, const char *sql, int nparams, const char *const *params)
	__attribute__((warn_unused_result));

/* Make b a read batch: its statements (SELECTs) run without BEGIN/COMMIT,
 * as one implicit transaction up to the sync, each as a named prepared
 * statement of the connection (prepared by the first batch that needs it,
 * at most 256 per connection, forgotten when the connection is lost; the
 * rest run unnamed).  Results are told as for any batch (stmt_index 0..n-1
 * of the failing statement, a Prepare's error included); a failure never
 * needs a ROLLBACK, and a read batch that loses its connection fails
 * transient 08006, never in doubt.  Not for statements that write. */
void pgbatch_read_only(struct pgbatch *b);

unsigned pgbatch_count(const struct pgbatch *b);
/* Hand the rows of statement idx (a SELECT) to the callback (res->rows). */
void pgbatch_keep_rows(struct pgbatch *b, unsigned idx);

/* Only for batches not handed to the pool (submit takes ownership). */
void pgbatch_free(struct pgbatch *b);

/* ---- the pool ---- */

/* Start `size` (1..64) connections asynchronously.  NULL opts = defaults.
 * Returns NULL on bad arguments or allocation failure (err says why). */
struct pgpool *pgpool_new(struct event_base *base, const char *conninfo, unsigned size,
			  const struct pgpool_opts *opts, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Hand a batch to the pool.  True: the pool owns it and cb will be called
 * exactly once (never from inside this call).  False: the queue is full,
 * the batch is empty or the pool is closing; the caller still owns it. */
bool pgpool_submit(struct pgpool *p, struct pgbatch *b, pgpool_done_cb cb, void *arg)
	__attribute__((warn_unused_result));

void pgpool_stats(const struct pgpool *p, struct pgpool_stats *out);

/* The last connection error libpq reported ("" if none). */
const char *pgpool_last_error(const struct pgpool *p);

/* Fail every queued and in-flight batch (transient, "pool closed"), close
 * the connections and free the pool.  Not from inside a callback. */
void pgpool_free(struct pgpool *p);

/* The class of a SQLSTATE (NULL or "" = connection-level = transient). */
enum pgpool_class pgpool_classify(const char *sqlstate);

const char *pgpool_class_to_str(enum pgpool_class c);

#endif
