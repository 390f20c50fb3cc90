/*
 * serve.c - the served-read thread (shift.h): jobs in from the workers
 * (mutex + event_active), each one's SELECTs through the thread's own
 * pgpool, a deadline per job, the answer back through the worker's inbox.
 *
 *   intake --> [WAITING: the applier is behind, poll 1 ms, ryw_wait_ms]
 *          --> SELECTING set 0 --> set 1.. ($lookup) --> answer (serve_reply.c)
 *   deadline, PostgreSQL down or failing, too large --> fallback
 *   deadline while a SELECT is in flight: fallback now, DEAD until it returns
 *
 * Every job gets exactly one answer (reply or fallback) unless the thread
 * stops first; shift_inflight counts jobs handed over and not answered.
 */
#include "serve_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cfg.h"
#include "clock.h"
#include "cursors.h"
#include "pgpool.h"
#include "ryw.h"
#include "serve_reply.h"

#define POLL_US 1000
#define SERVE_PIPELINE_DEPTH 4   /* batches in flight per connection (pgpool.h) */
#define REAP_MS 1000

struct sfconf shift_conf;
atomic_bool shift_on;
_Atomic unsigned shift_inflight;

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	TAILQ_HEAD(, shift_job) jobs;   /* handed over, not yet started */
	struct event_base *base;
	struct event *intake, *reaper;
	struct pgpool *pool;
} sv;

static void fetch_next(struct shift_job *j);

/* The job is answered: counts down shift_inflight.  Not for DEAD jobs
 * (answered already). */
static void answered(void)
{
	atomic_fetch_sub(&shift_inflight, 1);
	metrics_gauge_add(METRIC_SHIFT_INFLIGHT, -1);
}

static void fallback(struct shift_job *j, enum metrics_shift_fallback why)
{
	metrics_shift_fallback(why);
	metrics_shift_read(j->tenant, false);
	shift_conf.fallback(j->w, j->conn, j->request_id);
	answered();
}

static void finish(struct shift_job *j)
{
	enum metrics_shift_fallback why;
	size_t len = 0;
	uint8_t *msg = serve_reply_build(j, &len, &why);

	evtimer_del(j->timer);
	if (!msg) {
		fallback(j, why);
	} else {
		metrics_shift_read(j->tenant, true);
		shift_conf.reply(j->w, j->conn, j->request_id, msg, len);
		answered();
	}
	sjob_free(j);
}

static void arm(struct shift_job *j, uint64_t us)
{
	struct timeval tv = {(time_t)(us / 1000000u), (suseconds_t)(us % 1000000u)};

	evtimer_add(j->timer, &tv);
}

static bool writes_ready(const struct shift_job *j)
{
	return !shift_conf.writes.settled || shift_conf.writes.settled(j->wait_seq);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct shift_job *j = arg;

	(void)fd;
	(void)what;
	if (j->st == SJOB_ST_WAITING) {
		if (writes_ready(j)) {
			j->deadline_us = clock_mono_us() + shift_conf.timeout_us;
			fetch_next(j);
		} else if (clock_mono_us() >= j->deadline_us) {
			fallback(j, METRICS_SHIFT_BEHIND_WRITES);
			sjob_free(j);
		} else {
			arm(j, POLL_US);
		}
		return;
	}
	if (j->st == SJOB_ST_SELECTING) {   /* the deadline: answer now, free on return */
		fallback(j, METRICS_SHIFT_PG_TIMEOUT);
		j->st = SJOB_ST_DEAD;
	}
}

static void fetched(const struct pgpool_result *res, void *arg)
{
	struct shift_job *j = arg;
	const char *why = NULL;

	if (j->st == SJOB_ST_DEAD) {
		sjob_free(j);
		return;
	}
	if (res->cls == PGPOOL_TRANSIENT) {
		evtimer_del(j->timer);
		fallback(j, strstr(res->message, "timeout") ? METRICS_SHIFT_PG_TIMEOUT
							    : METRICS_SHIFT_PG_UNAVAILABLE);
		sjob_free(j);
		return;
	}
	if (res->cls == PGPOOL_OK)
		why = pgread_decode(&j->rd, j->next, shift_conf.mapping, res->rows);
	else if (strcmp(res->sqlstate, "42P01") != 0)   /* no table yet: no rows */
		why = "pg_error";
	if (why || j->rd.sets[j->next].n > shift_conf.max_rows) {
		evtimer_del(j->timer);
		fallback(j, why ? METRICS_SHIFT_PG_ERROR : METRICS_SHIFT_TOO_LARGE);
		sjob_free(j);
		return;
	}
	j->next++;
	fetch_next(j);
}

/* SELECT the next collection's candidates, or answer. */
static void fetch_next(struct shift_job *j)
{
	struct pgbatch *b;

	if (j->next == 0 && !writes_ready(j)) {
		j->st = SJOB_ST_WAITING;
		arm(j, POLL_US);
		return;
	}
	if (j->next == j->rd.ncolls) {
		finish(j);
		return;
	}
	if (!(b = pgread_select(&j->rd, j->next, shift_conf.mapping, j->db))) {
		evtimer_del(j->timer);
		fallback(j, METRICS_SHIFT_UNTRANSLATABLE);
		sjob_free(j);
		return;
	}
	if (!pgpool_submit(sv.pool, b, fetched, j)) {
		pgbatch_free(b);
		evtimer_del(j->timer);
		fallback(j, METRICS_SHIFT_BUSY);
		sjob_free(j);
		return;
	}
	j->st = SJOB_ST_SELECTING;
	uint64_t now = clock_mono_us();
	arm(j, j->deadline_us > now ? j->deadline_us - now : 0);
}

static void start_job(struct shift_job *j)
{
	if (!(j->timer = evtimer_new(sv.base, timer_cb, j))) {
		fallback(j, METRICS_SHIFT_BUSY);
		sjob_free(j);
		return;
	}
	uint64_t wait = shift_conf.ryw_wait_us;
	if (!writes_ready(j))
		j->deadline_us = clock_mono_us() + (wait < shift_conf.timeout_us ? wait : shift_conf.timeout_us);
	fetch_next(j);   /* the SELECT's deadline starts once the writes are in */
}

static void intake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&sv.mu);
		struct shift_job *j = TAILQ_FIRST(&sv.jobs);
		if (j)
			TAILQ_REMOVE(&sv.jobs, j, link);
		pthread_mutex_unlock(&sv.mu);
		if (!j)
			return;
		start_job(j);
	}
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cursors_reap(clock_mono_us());
}

void shift_submit(struct shift_job *job, struct worker *w)
{
	job->w = w;
	job->st = SJOB_ST_QUEUED;
	job->deadline_us = clock_mono_us() + shift_conf.timeout_us;
	atomic_fetch_add(&shift_inflight, 1);
	metrics_gauge_add(METRIC_SHIFT_INFLIGHT, 1);
	pthread_mutex_lock(&sv.mu);
	TAILQ_INSERT_TAIL(&sv.jobs, job, link);
	pthread_mutex_unlock(&sv.mu);
	event_active(sv.intake, 0, 0);
}

static void *thread_main(void *arg)
{
	(void)arg;
	event_base_loop(sv.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

bool shift_start(const struct cfg *cfg, const struct mapping *mapping,
		 const struct shift_writes *writes, shift_reply_fn reply, shift_fallback_fn fallback_fn,
		 char *err, size_t errlen)
{
	struct pgpool_opts po = {0};

	if (!router_sticky_parse(cfg->sf_sticky, &shift_conf.sticky))
		return snprintf(err, errlen, "key 'shift.sticky': not request, connection or session"), false;
	cursors_init((uint64_t)cfg->sf_cursor_timeout_ms, (uint64_t)cfg->sf_cursor_memory_max);
	if (!cfg->pg[0])
		return true;
	shift_conf.max_inflight = (unsigned)cfg->sf_max_inflight;
	shift_conf.timeout_us = (uint64_t)cfg->sf_timeout_ms * 1000u;
	shift_conf.ryw_wait_us = (uint64_t)cfg->sf_ryw_wait_ms * 1000u;
	shift_conf.max_rows = (size_t)cfg->sf_max_rows;
	shift_conf.max_result_bytes = (size_t)cfg->sf_max_result_bytes;
	shift_conf.mapping = mapping;
	shift_conf.reply = reply;
	shift_conf.fallback = fallback_fn;
	if (writes)
		shift_conf.writes = *writes;
	ryw_init(shift_conf.writes.settled);
	pthread_mutex_init(&sv.mu, NULL);
	TAILQ_INIT(&sv.jobs);
	struct timeval tv = {REAP_MS / 1000, 0};
	if (!(sv.base = event_base_new()) ||
	    !(sv.intake = event_new(sv.base, -1, EV_PERSIST, intake_cb, NULL)) ||
	    !(sv.reaper = event_new(sv.base, -1, EV_PERSIST, reap_cb, NULL)) ||
	    event_add(sv.reaper, &tv) != 0)
		return snprintf(err, errlen, "shift: out of memory"), false;
	po.batch_timeout_ms = (unsigned)cfg->sf_timeout_ms;
	po.max_queued = shift_conf.max_inflight;
	po.backoff_max_ms = 1000;
	po.pipeline_depth = SERVE_PIPELINE_DEPTH;   /* reads are idempotent: a re-run is harmless */
	if (!(sv.pool = pgpool_new(sv.base, cfg->pg, (unsigned)cfg->sf_pool_size, &po, err, errlen)))
		return false;
	if (pthread_create(&sv.thread, NULL, thread_main, NULL) != 0)
		return snprintf(err, errlen, "shift: cannot start the thread"), false;
	atomic_store(&shift_on, true);
	return true;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(sv.base);
}

void shift_stop(void)
{
	struct shift_job *j;

	if (atomic_exchange(&shift_on, false)) {
		event_base_once(sv.base, -1, EV_TIMEOUT, stop_cb, NULL, NULL);
		pthread_join(sv.thread, NULL);
		pgpool_free(sv.pool);   /* SELECTs in flight are called back: fallback */
		while ((j = TAILQ_FIRST(&sv.jobs))) {
			TAILQ_REMOVE(&sv.jobs, j, link);
			fallback(j, METRICS_SHIFT_UNAVAILABLE);
			sjob_free(j);
		}
		event_free(sv.intake);
		event_free(sv.reaper);
		event_base_free(sv.base);
	}
	cursors_fini();
}
