/*
 * pgpool_probe.c - drives common/pg/pgpool.c on its own event_base for
 * tests/integration/test_pgpool.py.  Output is one JSON object per line.
 *
 *   pgpool_probe bulk CONNINFO CONNS N [ROWS]
 *       N batches of ROWS (default 1) `INSERT INTO pgpool_bulk(id, v) VALUES
 *       ($1, $2)` (ids 1..N*ROWS), keeping the pool's queue full; prints
 *       {"ok":..,"transient":..,"permanent":..,"rows":..,"secs":..,"rows_per_s":..}
 *   pgpool_probe seq CONNINFO BATCH...
 *       runs each BATCH (statements separated by " ;; ", literal SQL) one
 *       after the other on a 1-connection pool; one line per batch:
 *       {"batch":i,"cls":..,"sqlstate":..,"index":..,"message":..}
 *   pgpool_probe run CONNINFO CONNS SECONDS RATE
 *       for SECONDS, RATE batches/s each inserting one row into
 *       pgpool_run(id, t_ms); one line per callback {"t":ms,"s":submit ms,"id":..,"cls":..,
 *       "sqlstate":..}, a stats line every 200 ms, {"final":..} at the end
 *       (after every callback came back, or 15 s more at most).
 *
 *   pgpool_probe par CONNINFO BATCH...
 *       like seq but every batch is submitted at once (they pipeline on the
 *       one connection when $PGPOOL_PROBE_DEPTH > 1); lines in callback order,
 *       then the pool's stats ({"final":..}).
 *
 * In seq and par a BATCH starting with "R:" is a read batch
 * (pgbatch_read_only) whose last statement's rows are kept: its line has
 * "value", the first row's first column (null when none).
 *
 * $PGPOOL_PROBE_DEPTH sets pipeline_depth, $PGPOOL_PROBE_BATCH_TIMEOUT_MS
 * batch_timeout_ms.
 *
 * Exit code: 0 when the run finished (whatever the batches' outcomes), 1 on
 * a timeout or setup failure, 2 on bad usage.  Every mode is bounded by a
 * deadline timer.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "pgpool.h"

#define PROBE_BULK_DEADLINE_S 300
#define PROBE_SEQ_DEADLINE_S 60
#define PROBE_DRAIN_S 15

struct probe {
	struct event_base *base;
	struct pgpool *pool;
	const char *mode;
	long n, next, outstanding;
	long ok, transient, permanent, rejected;
	double t0;
	char **batches;      /* seq */
	struct event *tick, *deadline, *stats_ev;
	double stop_at;      /* run: stop submitting after this time */
	double rate;         /* run: batches/s (paced from t0, checked every 10 ms) */
	long rows;           /* bulk: rows per batch */
	bool timed_out;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long elapsed_ms(const struct probe *pr)
{
	return (long)((now_s() - pr->t0) * 1000.0);
}

static void count(struct probe *pr, const struct pgpool_result *r)
{
	pr->outstanding--;
	if (r->cls == PGPOOL_OK)
		pr->ok++;
	else if (r->cls == PGPOOL_TRANSIENT)
		pr->transient++;
	else
		pr->permanent++;
}

/* JSON string without the characters that would need escaping. */
static void print_clean(const char *s)
{
	putchar('"');
	for (; *s; s++)
		putchar(*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '\'' : *s);
	putchar('"');
}

/* ------------------------------------------------------------ bulk */

static void bulk_fill(struct probe *pr);

static void bulk_done(const struct pgpool_result *r, void *arg)
{
	struct probe *pr = arg;

	count(pr, r);
	if (r->cls != PGPOOL_OK && pr->permanent + pr->transient <= 3)
		fprintf(stderr, "batch failed: %s %s\n", r->sqlstate, r->message);
	bulk_fill(pr);
	if (pr->next > pr->n && pr->outstanding == 0)
		event_base_loopexit(pr->base, NULL);
}

/* One batch of pr->rows one-row INSERTs, ids from first. */
static struct pgbatch *bulk_batch(const struct probe *pr, long first)
{
	struct pgbatch *b = pgbatch_new();

	for (long i = 0; b && i < pr->rows; i++) {
		char id[24], v[40];
		const char *params[2] = { id, v };

		snprintf(id, sizeof(id), "%ld", first + i);
		snprintf(v, sizeof(v), "row-%ld", first + i);
		if (!pgbatch_add(b, "INSERT INTO pgpool_bulk(id, v) VALUES ($1, $2)", 2, params)) {
			pgbatch_free(b);
			b = NULL;
		}
	}
	return b;
}

static void bulk_fill(struct probe *pr)
{
	while (pr->next <= pr->n) {
		struct pgbatch *b = bulk_batch(pr, (pr->next - 1) * pr->rows + 1);

		if (!b || !pgpool_submit(pr->pool, b, bulk_done, pr)) {
			pgbatch_free(b);
			return;   /* queue full: refilled from the next callback */
		}
		pr->next++;
		pr->outstanding++;
	}
}

/* ------------------------------------------------------------ seq */

static void seq_next(struct probe *pr);
static struct pgbatch *seq_batch(const char *text);

static void print_batch(long i, const struct pgpool_result *r)
{
	const PGresult *rows = (const PGresult *)r->rows;

	printf("{\"batch\":%ld,\"cls\":\"%s\",\"sqlstate\":\"%s\",\"index\":%d,\"in_doubt\":%s,"
	       "\"message\":", i, pgpool_class_to_str(r->cls), r->sqlstate, r->stmt_index,
	       r->in_doubt ? "true" : "false");
	print_clean(r->message);
	if (rows && PQntuples(rows) > 0 && PQnfields(rows) > 0 && !PQgetisnull(rows, 0, 0)) {
		printf(",\"value\":");
		print_clean(PQgetvalue(rows, 0, 0));
	} else if (rows) {
		printf(",\"value\":null");
	}
	printf("}\n");
}

static void seq_done(const struct pgpool_result *r, void *arg)
{
	struct probe *pr = arg;

	count(pr, r);
	print_batch(pr->next - 1, r);
	seq_next(pr);
}

struct par_item {
	struct probe *pr;
	long i;
};

static void par_done(const struct pgpool_result *r, void *arg)
{
	struct par_item *it = arg;
	struct probe *pr = it->pr;

	count(pr, r);
	print_batch(it->i, r);
	free(it);
	if (pr->outstanding == 0)
		event_base_loopexit(pr->base, NULL);
}

/* par: submit every batch at once (they pipeline on the connections). */
static bool par_start(struct probe *pr)
{
	for (long i = 0; i < pr->n; i++) {
		struct pgbatch *b = seq_batch(pr->batches[i]);
		struct par_item *it = malloc(sizeof(*it));

		if (!b || !it || !pgpool_submit(pr->pool, b, par_done, it)) {
			pgbatch_free(b);
			free(it);
			return false;
		}
		it->pr = pr;
		it->i = i;
		pr->outstanding++;
	}
	return true;
}

static struct pgbatch *seq_batch(const char *text)
{
	bool read = !strncmp(text, "R:", 2);
	struct pgbatch *b = pgbatch_new();
	char *copy = strdup(read ? text + 2 : text), *s = copy;

	while (b && copy && s) {
		char *sep = strstr(s, " ;; ");

		if (sep)
			*sep = '\0';
		if (!pgbatch_add(b, s, 0, NULL)) {
			pgbatch_free(b);
			b = NULL;
		}
		s = sep ? sep + 4 : NULL;
	}
	free(copy);
	if (b && read) {
		pgbatch_read_only(b);
		pgbatch_keep_rows(b, pgbatch_count(b) - 1);
	}
	return b;
}

static void seq_next(struct probe *pr)
{
	struct pgbatch *b;

	if (pr->next >= pr->n) {
		event_base_loopexit(pr->base, NULL);
		return;
	}
	b = seq_batch(pr->batches[pr->next++]);
	if (!b || !pgpool_submit(pr->pool, b, seq_done, pr)) {
		fprintf(stderr, "cannot submit batch %ld\n", pr->next - 1);
		pgbatch_free(b);
		pr->timed_out = true;
		event_base_loopexit(pr->base, NULL);
		return;
	}
	pr->outstanding++;
}

/* ------------------------------------------------------------ run */

struct run_item {
	struct probe *pr;
	long id;
	long submit_ms;
};

static void run_done(const struct pgpool_result *r, void *arg)
{
	struct run_item *it = arg;
	struct probe *pr = it->pr;

	count(pr, r);
	printf("{\"t\":%ld,\"s\":%ld,\"id\":%ld,\"cls\":\"%s\",\"sqlstate\":\"%s\",\"in_doubt\":%s}\n",
	       elapsed_ms(pr), it->submit_ms, it->id, pgpool_class_to_str(r->cls), r->sqlstate,
	       r->in_doubt ? "true" : "false");
	free(it);
	if (now_s() >= pr->stop_at && pr->outstanding == 0)
		event_base_loopexit(pr->base, NULL);
}

static void run_submit(struct probe *pr)
{
	char id[24], t[24];
	const char *params[2] = { id, t };
	struct pgbatch *b = pgbatch_new();
	struct run_item *it = malloc(sizeof(*it));

	snprintf(id, sizeof(id), "%ld", pr->next);
	snprintf(t, sizeof(t), "%ld", elapsed_ms(pr));
	if (!b || !it || !pgbatch_add(b, "INSERT INTO pgpool_run(id, t_ms) VALUES ($1, $2)", 2, params) ||
	    !pgpool_submit(pr->pool, b, run_done, it)) {
		pgbatch_free(b);
		free(it);
		pr->rejected++;
		return;
	}
	it->pr = pr;
	it->id = pr->next++;
	it->submit_ms = elapsed_ms(pr);
	pr->outstanding++;
}

static void run_tick(evutil_socket_t fd, short what, void *arg)
{
	struct probe *pr = arg;

	(void)fd;
	(void)what;
	if (now_s() >= pr->stop_at) {
		event_del(pr->tick);
		if (pr->outstanding == 0)
			event_base_loopexit(pr->base, NULL);
		return;
	}
	long due = (long)(pr->rate * (now_s() - pr->t0));

	while (pr->next - 1 + pr->rejected < due)
		run_submit(pr);
}

static void print_stats(struct probe *pr, const char *tag)
{
	struct pgpool_stats st;

	pgpool_stats(pr->pool, &st);
	printf("{\"%s\":1,\"t\":%ld,\"connected\":%u,\"busy\":%u,\"inflight\":%u,\"queued\":%u,\"down\":%s,"
	       "\"done\":%llu,\"failed\":%llu,\"reconnects\":%llu,\"requeued\":%llu,\"prepared\":%llu,\"prepared_runs\":%llu,\"ok\":%ld,\"transient\":%ld,"
	       "\"permanent\":%ld,\"rejected\":%ld,\"submitted\":%ld}\n",
	       tag, elapsed_ms(pr), st.connected, st.busy, st.inflight, st.queued, st.down ? "true" : "false",
	       (unsigned long long)st.done, (unsigned long long)st.failed,
	       (unsigned long long)st.reconnects, (unsigned long long)st.requeued,
	       (unsigned long long)st.prepared, (unsigned long long)st.prepared_runs, pr->ok, pr->transient, pr->permanent,
	       pr->rejected, pr->next - 1);
}

static void stats_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	print_stats(arg, "stats");
}

/* ------------------------------------------------------------ main */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *pr = arg;

	(void)fd;
	(void)what;
	pr->timed_out = true;
	fprintf(stderr, "pgpool_probe: deadline reached (%ld outstanding)\n", pr->outstanding);
	event_base_loopexit(pr->base, NULL);
}

static bool probe_start(struct probe *pr, int argc, char **argv, long *deadline_s)
{
	if (!strcmp(pr->mode, "bulk") && (argc == 5 || argc == 6)) {
		pr->n = atol(argv[4]);
		pr->rows = argc == 6 ? atol(argv[5]) : 1;
		if (pr->rows < 1 || pr->rows > 10000)
			return false;
		pr->next = 1;
		*deadline_s = PROBE_BULK_DEADLINE_S;
		bulk_fill(pr);
		return pr->n > 0;
	}
	if (!strcmp(pr->mode, "par") && argc >= 4) {
		pr->batches = argv + 3;
		pr->n = argc - 3;
		*deadline_s = PROBE_SEQ_DEADLINE_S;
		return par_start(pr);
	}
	if (!strcmp(pr->mode, "seq") && argc >= 4) {
		pr->batches = argv + 3;
		pr->n = argc - 3;
		*deadline_s = PROBE_SEQ_DEADLINE_S;
		seq_next(pr);
		return true;
	}
	if (!strcmp(pr->mode, "run") && argc == 6) {
		double rate = atof(argv[5]);
		struct timeval tv = { 0, 10000 };
		struct timeval st = { 0, 200000 };

		pr->next = 1;
		pr->rate = rate;
		pr->stop_at = pr->t0 + atof(argv[4]);
		*deadline_s = atol(argv[4]) + PROBE_DRAIN_S;
		pr->tick = event_new(pr->base, -1, EV_PERSIST, run_tick, pr);
		pr->stats_ev = event_new(pr->base, -1, EV_PERSIST, stats_cb, pr);
		return pr->tick && pr->stats_ev && event_add(pr->tick, &tv) == 0 &&
		       event_add(pr->stats_ev, &st) == 0 && rate > 0 && rate <= 1e5;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct probe pr = { 0 };
	struct pgpool_opts opts = { .max_queued = 256, .connect_timeout_ms = 2000 };
	char err[256];
	long deadline_s = 60;
	unsigned conns;

	if (argc < 4) {
		fprintf(stderr, "usage: pgpool_probe bulk|seq|par|run CONNINFO ...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("PGPOOL_PROBE_DEPTH"))
		opts.pipeline_depth = (unsigned)atoi(getenv("PGPOOL_PROBE_DEPTH"));
	if (getenv("PGPOOL_PROBE_BATCH_TIMEOUT_MS"))
		opts.batch_timeout_ms = (unsigned)atoi(getenv("PGPOOL_PROBE_BATCH_TIMEOUT_MS"));
	pr.mode = argv[1];
	pr.t0 = now_s();
	conns = strcmp(pr.mode, "seq") && strcmp(pr.mode, "par") ? (unsigned)atoi(argv[3]) : 1;
	pr.base = event_base_new();
	pr.pool = pr.base ? pgpool_new(pr.base, argv[2], conns, &opts, err, sizeof(err)) : NULL;
	if (!pr.pool) {
		fprintf(stderr, "pgpool_probe: %s\n", pr.base ? err : "no event base");
		return 1;
	}
	if (!probe_start(&pr, argc, argv, &deadline_s)) {
		fprintf(stderr, "usage: pgpool_probe bulk CONNINFO CONNS N [ROWS] | seq|par CONNINFO BATCH... | "
				"run CONNINFO CONNS SECONDS RATE\n");
		return 2;
	}
	struct timeval dl = { deadline_s, 0 };

	pr.deadline = evtimer_new(pr.base, deadline_cb, &pr);
	if (!pr.deadline || evtimer_add(pr.deadline, &dl) != 0)
		return 1;
	event_base_dispatch(pr.base);
	double secs = now_s() - pr.t0;

	if (!strcmp(pr.mode, "bulk"))
		printf("{\"ok\":%ld,\"transient\":%ld,\"permanent\":%ld,\"rows\":%ld,\"secs\":%.3f,"
		       "\"rows_per_s\":%.0f}\n", pr.ok, pr.transient, pr.permanent, pr.ok * pr.rows,
		       secs, secs > 0 ? (double)(pr.ok * pr.rows) / secs : 0.0);
	if (!strcmp(pr.mode, "run") || !strcmp(pr.mode, "par"))
		print_stats(&pr, "final");
	pgpool_free(pr.pool);
	if (pr.tick)
		event_free(pr.tick);
	if (pr.stats_ev)
		event_free(pr.stats_ev);
	event_free(pr.deadline);
	event_base_free(pr.base);
	return pr.timed_out ? 1 : 0;
}
