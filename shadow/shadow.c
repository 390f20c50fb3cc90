/*
 * shadow.c - the shadow thread (shadow.h): jobs in, at most max_inflight
 * running, each one's SELECTs through the thread's own pgpool, a deadline
 * per job.
 *
 *   intake --pump--> run: plan --(dual-write lag? poll 2 ms)--> SELECT set 0
 *                         --> SELECT set 1.. ($lookup) --> shexec_finish
 *   deadline first: shed ("timeout"); a SELECT still in flight frees the run
 *   when it comes back (SHRUN_ST_DEAD)
 *
 * A run's state (enum shrun_state, shadow_internal.h) changes in
 * shrun_set_state() only, which keeps sh.runs and sh.inflight right.
 */
#include "shadow_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <mongoc/mongoc.h>

#include "cfg.h"
#include "clock.h"
#include "msgdoc.h"
#include "log.h"
#include "metrics.h"
#include "mismatch.h"
#include "pgpool.h"
#include "redisconn.h"
#include "redisurl.h"
#include "sample.h"
#include "shmetrics.h"

#define LAG_POLL_US 2000
#define REDIS_TIMEOUT_MS 200
#define REDIS_RETRY_MS 2000

struct shconf shadow_conf;
atomic_bool shadow_on;
_Atomic unsigned shadow_nqueued;

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	TAILQ_HEAD(, shjob) jobs;
	bool stopping;
	struct event_base *base;
	struct event *intake;
	struct pgpool *pool;
	unsigned inflight;
	double tokens;             /* max_rate budget (token bucket, burst = one second) */
	uint64_t refilled_us;
	struct event *later;       /* pump again once a token is back */
	TAILQ_HEAD(, shrun) runs;  /* every run not yet freed (incl. dead ones) */
	bool pumping, repump;
	struct redisurl redis_url; /* valid when with_redis */
	bool with_redis;
	redisContext *rc;
	uint64_t redis_retry_us;
	char *mongo_uri;
	mongoc_client_t *mongo;
} sh;

static void fetch_next(struct shrun *r);
static bool writes_ready(struct shrun *r);

void shadow_submit(struct shjob *job)
{
	atomic_fetch_add(&shadow_nqueued, 1);
	pthread_mutex_lock(&sh.mu);
	TAILQ_INSERT_TAIL(&sh.jobs, job, link);
	pthread_mutex_unlock(&sh.mu);
	event_active(sh.intake, 0, 0);
}

static const char *job_coll(const struct shjob *job)
{
	bson_iter_t it;

	if (bson_iter_init(&it, &job->cmd) && bson_iter_next(&it) && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return "";
}

/* ---- runs ---- */

static void pump(void);
static void pump_once(void);

static const struct {
	const char *name;
	bool listed;              /* on sh.runs (freed by shadow_stop at the latest) */
	bool live;                /* counted in sh.inflight, against max_inflight */
} shrun_states[] = {
	[SHRUN_ST_NEW] = {"new", false, false},
	[SHRUN_ST_PLANNING] = {"planning", true, true},
	[SHRUN_ST_WAIT_WRITES] = {"wait_writes", true, true},
	[SHRUN_ST_SELECTING] = {"selecting", true, true},
	[SHRUN_ST_DECODING] = {"decoding", true, true},
	[SHRUN_ST_COMPARING] = {"comparing", true, true},
	[SHRUN_ST_DEAD] = {"dead", true, false},
	[SHRUN_ST_DONE] = {"done", false, false},
};

const char *shrun_state_to_str(enum shrun_state st)
{
	return st <= SHRUN_ST_DONE ? shrun_states[st].name : "unknown";
}

/* The only place r->st changes: keeps sh.runs and sh.inflight as
 * shrun_states[] says. */
static void shrun_set_state(struct shrun *r, enum shrun_state st)
{
	bool was_listed = shrun_states[r->st].listed, was_live = shrun_states[r->st].live;

	if (!was_listed && shrun_states[st].listed)
		TAILQ_INSERT_TAIL(&sh.runs, r, link);
	else if (was_listed && !shrun_states[st].listed)
		TAILQ_REMOVE(&sh.runs, r, link);
	if (!was_live && shrun_states[st].live)
		sh.inflight++;
	else if (was_live && !shrun_states[st].live)
		sh.inflight--;
	r->st = st;
}

static void run_free(struct shrun *r)
{
	shrun_set_state(r, SHRUN_ST_DONE);
	shexec_free(r);
}

static void run_end(struct shrun *r)
{
	run_free(r);
	pump();
}

/* The run's deadline passed. */
static void shed(struct shrun *r)
{
	shmetrics_shed(r->job->db, job_coll(r->job), "timeout");
	if (r->st == SHRUN_ST_SELECTING) {
		shrun_set_state(r, SHRUN_ST_DEAD);   /* freed by its SELECT's callback */
		pump();
		return;
	}
	run_end(r);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct shrun *r = arg;

	(void)fd;
	(void)what;
	if (clock_mono_us() >= r->job->deadline_us) {
		if (r->st == SHRUN_ST_WAIT_WRITES && !writes_ready(r)) {
			shmetrics_skipped(r->job->db, job_coll(r->job), "lag");
			run_end(r);
			return;
		}
		shed(r);
		return;
	}
	if (r->st == SHRUN_ST_WAIT_WRITES)
		fetch_next(r);         /* polling for the dual-write lag */
}

static void arm(struct shrun *r, uint64_t us)
{
	struct timeval tv = {(time_t)(us / 1000000u), (suseconds_t)(us % 1000000u)};

	evtimer_add(r->timer, &tv);
}

static void fetched(const struct pgpool_result *res, void *arg)
{
	struct shrun *r = arg;
	const char *why = NULL;

	if (r->st == SHRUN_ST_DEAD) {
		run_free(r);
		return;
	}
	shrun_set_state(r, SHRUN_ST_DECODING);
	r->pg_ms += (double)(clock_mono_us() - r->pg_start_us) / 1000.0;
	if (res->cls == PGPOOL_TRANSIENT) {
		/* PostgreSQL down or too slow: pressure, shed like a timeout. */
		shmetrics_shed(r->job->db, job_coll(r->job), "pg_unavailable");
		evtimer_del(r->timer);
		run_end(r);
		return;
	}
	if (res->cls == PGPOOL_OK)
		why = pgread_decode(&r->rd, r->next, shadow_conf.mapping, res->rows);
	else if (strcmp(res->sqlstate, "42P01") != 0)   /* no table yet: no rows */
		why = "pg_error";
	if (!why && r->sets[r->next].n > shadow_conf.max_rows)
		why = "too_large";
	if (why) {
		shmetrics_skipped(r->job->db, job_coll(r->job), why);
		evtimer_del(r->timer);
		run_end(r);
		return;
	}
	r->next++;
	fetch_next(r);
}

/* SELECT the next collection's candidates, or finish. */
static void fetch_next(struct shrun *r)
{
	struct pgbatch *b;

	if (r->next == 0 && !writes_ready(r)) {
		shrun_set_state(r, SHRUN_ST_WAIT_WRITES);
		arm(r, LAG_POLL_US);   /* writes the answer may hold are not applied yet */
		return;
	}
	if (r->next == r->ncolls) {
		evtimer_del(r->timer);
		shrun_set_state(r, SHRUN_ST_COMPARING);
		shexec_finish(r);
		run_end(r);
		return;
	}
	if (!(b = pgread_select(&r->rd, r->next, shadow_conf.mapping, r->job->db))) {
		shmetrics_skipped(r->job->db, job_coll(r->job), "select");
		evtimer_del(r->timer);
		run_end(r);
		return;
	}
	r->pg_start_us = clock_mono_us();
	if (!pgpool_submit(sh.pool, b, fetched, r)) {
		pgbatch_free(b);
		shmetrics_shed(r->job->db, job_coll(r->job), "pg_busy");
		evtimer_del(r->timer);
		run_end(r);
		return;
	}
	shrun_set_state(r, SHRUN_ST_SELECTING);
	uint64_t now = clock_mono_us();
	arm(r, r->job->deadline_us > now ? r->job->deadline_us - now : 0);
}

static void run_start(struct shjob *job)
{
	struct shrun *r = calloc(1, sizeof(*r));

	if (!r || !(r->timer = evtimer_new(sh.base, timer_cb, r))) {
		free(r);
		shmetrics_skipped(job->db, job_coll(job), "out_of_memory");
		shadow_job_free(job);
		return;
	}
	r->job = job;
	pgread_init(&r->rd);
	shrun_set_state(r, SHRUN_ST_PLANNING);   /* on sh.runs, counted */
	bson_destroy(&job->reply);
	if (!msgdoc_reply_body(job->raw, job->raw_len, &job->reply)) {
		bson_init(&job->reply);
		shmetrics_skipped(job->db, job_coll(job), "unreadable_reply");
		run_end(r);
		return;
	}
	free(job->raw);
	job->raw = NULL;
	if (!shexec_plan(r)) {
		run_end(r);
		return;
	}
	if (shadow_conf.calibrate) {
		shrun_set_state(r, SHRUN_ST_COMPARING);
		shexec_calibrate(r, sh.mongo);
		run_end(r);
		return;
	}
	fetch_next(r);
}

/* Start queued jobs while there is room; stale ones are shed.  Not
 * re-entered: a run that ends at once asks for another pass instead. */
static void pump(void)
{
	if (sh.pumping) {
		sh.repump = true;
		return;
	}
	sh.pumping = true;
	do {
		sh.repump = false;
		pump_once();
	} while (sh.repump);
	sh.pumping = false;
}

/* One token of the max_rate budget, or false (and a pump scheduled when
 * the next one is due).  Jobs left waiting fill the queue, and a full
 * queue makes the workers shed before copying anything. */
static bool take_token(void)
{
	uint64_t now = clock_mono_us();
	double rate = shadow_conf.max_rate;

	if (!shadow_conf.max_rate)
		return true;
	sh.tokens += (double)(now - sh.refilled_us) * rate / 1e6;
	if (sh.tokens > rate)
		sh.tokens = rate;
	sh.refilled_us = now;
	if (sh.tokens >= 1.0) {
		sh.tokens -= 1.0;
		return true;
	}
	uint64_t wait_us = (uint64_t)((1.0 - sh.tokens) * 1e6 / rate) + 1;
	struct timeval tv = {(time_t)(wait_us / 1000000u), (suseconds_t)(wait_us % 1000000u)};
	if (!evtimer_pending(sh.later, NULL))
		evtimer_add(sh.later, &tv);
	return false;
}

static void pump_once(void)
{
	while (!sh.stopping && sh.inflight < shadow_conf.max_inflight) {
		pthread_mutex_lock(&sh.mu);
		struct shjob *job = TAILQ_FIRST(&sh.jobs);
		if (job)
			TAILQ_REMOVE(&sh.jobs, job, link);
		pthread_mutex_unlock(&sh.mu);
		if (!job)
			return;
		if (clock_mono_us() >= job->deadline_us) {
			atomic_fetch_sub(&shadow_nqueued, 1);
			shmetrics_shed(job->db, job_coll(job), "timeout");
			shadow_job_free(job);
			continue;
		}
		if (!take_token()) {
			pthread_mutex_lock(&sh.mu);
			TAILQ_INSERT_HEAD(&sh.jobs, job, link);   /* first again when a token is back */
			pthread_mutex_unlock(&sh.mu);
			return;
		}
		atomic_fetch_sub(&shadow_nqueued, 1);
		run_start(job);
	}
}

static void intake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	pump();
}

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
	intake_cb(fd, what, arg);
}

/* ---- Redis: the last mismatches per tenant ---- */

static redisContext *redis(void)
{
	char err[256];

	if (sh.rc && !sh.rc->err)
		return sh.rc;
	if (sh.rc)
		redisFree(sh.rc);
	sh.rc = NULL;
	if (!sh.with_redis || clock_mono_us() < sh.redis_retry_us)
		return NULL;
	sh.rc = redisconn_open(&sh.redis_url, REDIS_TIMEOUT_MS, REDIS_TIMEOUT_MS, err, sizeof(err));
	if (!sh.rc)
		sh.redis_retry_us = clock_mono_us() + REDIS_RETRY_MS * 1000u;
	return sh.rc;
}

void shadow_redis_push(const char *tenant, const char *line, size_t len)
{
	redisContext *rc;
	char key[320];

	if (!shadow_conf.redis_keep || !(rc = redis()))
		return;
	snprintf(key, sizeof(key), "tandem:mismatches:%s", tenant);
	redisAppendCommand(rc, "LPUSH %s %b", key, line, len);
	redisAppendCommand(rc, "LTRIM %s 0 %d", key, (int)shadow_conf.redis_keep - 1);
	for (int i = 0; i < 2; i++) {
		redisReply *rep = NULL;
		if (redisGetReply(rc, (void **)&rep) != REDIS_OK) {
			metrics_inc(METRIC_SHADOW_REDIS_ERRORS);
			return;
		}
		freeReplyObject(rep);
	}
}

/* ---- the thread ---- */

static void *thread_main(void *arg)
{
	(void)arg;
	event_base_loop(sh.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static bool conf_from(const struct cfg *cfg, const struct mapping *mapping, char *err, size_t errlen)
{
	char why[256];

	shadow_conf.max_inflight = (unsigned)cfg->sh_max_inflight;
	shadow_conf.max_rate = (unsigned)cfg->sh_max_rate;
	shadow_conf.queue_max = (unsigned)cfg->sh_queue_max;
	shadow_conf.timeout_us = (uint64_t)cfg->sh_timeout_ms * 1000u;
	shadow_conf.max_rows = (size_t)cfg->sh_max_rows;
	shadow_conf.log_values = cfg->sh_log_values;
	shadow_conf.calibrate = cfg->sh_calibrate;
	shadow_conf.strict_types = cfg->sh_strict_types;
	shadow_conf.redis_keep = (unsigned)cfg->sh_redis_keep;
	shadow_conf.mapping = mapping;
	if (!shadow_caps_parse(cfg->sh_collections, &shadow_conf.caps, why, sizeof(why)))
		return snprintf(err, errlen, "key 'shadow.collections': %s", why), false;
	if (!shadow_ignore_parse(cfg->sh_ignore_paths, &shadow_conf.ignore, why, sizeof(why)))
		return snprintf(err, errlen, "key 'shadow.ignore_paths': %s", why), false;
	shadow_conf.limiter = mismatch_limiter_new((double)cfg->sh_log_rate, (double)cfg->sh_log_rate, 10000);
	if (!shadow_conf.limiter)
		return snprintf(err, errlen, "shadow: out of memory"), false;
	return true;
}

bool shadow_writes_settled(uint64_t seq)
{
	return !shadow_conf.writes.settled || shadow_conf.writes.settled(seq);
}

uint64_t shadow_writes_submitted(void)
{
	return shadow_conf.writes.submitted ? shadow_conf.writes.submitted() : 0;
}

uint64_t shadow_writes_forwarded(void)
{
	return shadow_conf.writes.forwarded ? shadow_conf.writes.forwarded() : 0;
}

/* Whether every write MongoDB's answer may hold is in PostgreSQL (or
 * queued): first every captured write forwarded before the answer came
 * back has its reply, then every write submitted by that moment is applied.
 * Writes that land after that are found by shadow_race.c. */
static bool writes_ready(struct shrun *r)
{
	const struct shadow_writes *w = &shadow_conf.writes;

	if (!r->have_wait) {
		if (w->replied && !w->replied(r->job->fwd_seq))
			return false;
		r->wait_seq = shadow_writes_submitted();
		r->have_wait = true;
	}
	return shadow_writes_settled(r->wait_seq);
}

bool shadow_start(const struct cfg *cfg, const struct mapping *mapping,
		  const struct shadow_writes *writes, char *err, size_t errlen)
{
	struct pgpool_opts po = {0};
	char why[384];

	if (!cfg->pg[0])
		return true;
	if (writes)
		shadow_conf.writes = *writes;
	if (!conf_from(cfg, mapping, err, errlen))
		return false;
	pthread_mutex_init(&sh.mu, NULL);
	TAILQ_INIT(&sh.jobs);
	TAILQ_INIT(&sh.runs);
	sh.with_redis = cfg->redis[0] != '\0';
	if (sh.with_redis && !redisurl_parse(cfg->redis, &sh.redis_url, why, sizeof(why)))
		return snprintf(err, errlen, "key 'redis': %s", why), false;
	sh.mongo_uri = strdup(cfg->mongo_uri);
	if (!sh.mongo_uri || !(sh.base = event_base_new()) ||
	    !(sh.intake = event_new(sh.base, -1, EV_PERSIST, intake_cb, NULL)) ||
	    !(sh.later = evtimer_new(sh.base, later_cb, NULL)))
		return snprintf(err, errlen, "shadow: out of memory"), false;
	po.batch_timeout_ms = (unsigned)cfg->sh_timeout_ms;
	po.max_queued = shadow_conf.max_inflight * 4;
	if (!(sh.pool = pgpool_new(sh.base, cfg->pg, (unsigned)cfg->sh_pool_size, &po, err, errlen)))
		return false;
	if (shadow_conf.calibrate) {
		sh.mongo = mongoc_client_new(sh.mongo_uri);
		if (!sh.mongo)
			return snprintf(err, errlen, "key 'mongo_uri': not usable for shadow.calibrate"), false;
		mongoc_client_set_appname(sh.mongo, "tandem-shadow-calibrate");
	}
	sh.tokens = shadow_conf.max_rate;
	sh.refilled_us = clock_mono_us();
	if (pthread_create(&sh.thread, NULL, thread_main, NULL) != 0)
		return snprintf(err, errlen, "shadow: cannot start the thread"), false;
	atomic_store(&shadow_on, true);
	return true;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(sh.base);
}

void shadow_stop(void)
{
	struct shjob *job;

	if (!atomic_load(&shadow_on))
		return;
	atomic_store(&shadow_on, false);
	event_base_once(sh.base, -1, EV_TIMEOUT, stop_cb, NULL, NULL);
	pthread_join(sh.thread, NULL);
	sh.stopping = true;
	pgpool_free(sh.pool);   /* SELECTs in flight are called back */
	struct shrun *r;
	while ((r = TAILQ_FIRST(&sh.runs)))
		run_free(r);
	while ((job = TAILQ_FIRST(&sh.jobs))) {
		TAILQ_REMOVE(&sh.jobs, job, link);
		shadow_job_free(job);
	}
	event_free(sh.intake);
	event_free(sh.later);
	event_base_free(sh.base);
	if (sh.rc)
		redisFree(sh.rc);
	if (sh.mongo)
		mongoc_client_destroy(sh.mongo);
	free(sh.mongo_uri);
	shadow_caps_free(shadow_conf.caps);
	shadow_ignore_free(shadow_conf.ignore);
	mismatch_limiter_free(shadow_conf.limiter);
}
