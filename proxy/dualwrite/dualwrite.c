/*
 * dualwrite.c - the applier thread (see dualwrite.h): jobs in, operations
 * to the apply engine, failures to the durable queue.
 *
 *   job --classify_job--> dwjob_works[]: served write -> dwserve_ops.submit;
 *       commit / abort, DDL, w:0 (outcome unknown), not a write (ignored), or:
 *   job --dwtrans--> ops --+-- in a transaction: held per (lsid, txnNumber)
 *                          |       commit ok -> one entry {k:"t", ops}
 *                          |       abort     -> dropped
 *                          +-- retry of (lsid, txnNumber, stmtId) seen -> dropped
 *                          +-- entry --> dwapply (admit: tenant not queued)
 *   dwapply done: applied -> counted; transient -> dwqueue_put (queue-behind);
 *                 permanent -> dead letter
 *   tick (drain_interval_ms): dwqueue_drain
 */
#include "dualwrite.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "cfg.h"
#include "clock.h"
#include "dwapply.h"
#include "dwforward.h"
#include "dwtouch.h"
#include "dwqueue.h"
#include "dwtrans.h"
#include "dwunit.h"
#include "flags.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "tenant.h"

#define DW_MAX_TXNS 10000
#define DW_TXN_MAX_MS 120000
#define DW_DEDUPE_SLOTS 65536

TAILQ_HEAD(dwjob_list, dwjob);

struct dwtxn {
	uint8_t lsid[16];
	int64_t txn;
	bson_t *ops;           /* array document "0", "1", ... (heap: entries move) */
	uint32_t n;
	uint64_t started_ms;
};

struct dwdedupe {
	uint8_t lsid[16];
	int64_t txn;
	int32_t st;
	bool used;
};

static struct {
	atomic_bool enabled;
	_Atomic uint64_t submitted;  /* jobs handed over so far (dualwrite_submitted) */
	_Atomic uint64_t settled;    /* every job up to this one applied or queued */
	uint64_t tail_seq;           /* last handled job whose entries are still pending */
	pthread_t thread;
	pthread_mutex_t mu;
	struct dwjob_list jobs;
	bool stopping;
	struct event_base *base;
	struct event *intake, *tick;
	struct dwapply *ap;
	struct dwqueue *q;
	const struct dwserve_ops *serve;  /* NULL: no served writes */
	char node[80];
	uint64_t seq;
	unsigned drain_ms;
	uint64_t stop_deadline_ms;
	struct dwtxn txns[DW_MAX_TXNS];
	size_t ntxns;
	struct dwdedupe dedupe[DW_DEDUPE_SLOTS];
} dw;

uint64_t dualwrite_submitted(void)
{
	return atomic_load(&dw.submitted);
}

bool dualwrite_settled(uint64_t seq)
{
	return !dualwrite_enabled() || atomic_load(&dw.settled) >= seq;
}

static void settle(uint64_t seq)
{
	if (seq > atomic_load(&dw.settled))
		atomic_store(&dw.settled, seq);
}

bool dualwrite_enabled(void)
{
	return atomic_load_explicit(&dw.enabled, memory_order_relaxed);
}

void dwjob_free(struct dwjob *job)
{
	if (!job)
		return;
	dwforward_end(job->fseq);   /* no reply was captured */
	bson_destroy(&job->cmd);
	bson_destroy(&job->reply);
	free(job);
}

void dualwrite_submit(struct dwjob *job)
{
	job->ack_us = clock_wall_ns() / 1000u;
	job->ack_seq = job->ack_us / 1000u;
	job->seq = atomic_fetch_add(&dw.submitted, 1) + 1;
	job->tseq = dwtouch_tick();
	/* Numbered first, then ended: whoever sees it ended sees its seq. */
	dwforward_end(job->fseq);
	job->fseq = 0;
	metrics_inc(METRIC_DW_JOBS);
	metrics_gauge_add(METRIC_DW_PENDING, 1);
	pthread_mutex_lock(&dw.mu);
	TAILQ_INSERT_TAIL(&dw.jobs, job, link);
	pthread_mutex_unlock(&dw.mu);
	event_active(dw.intake, 0, 0);
}

/* ---- entries ---- */

static const char *op_str(const bson_t *op, const char *key)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, op, key) && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return "";
}

/* Whether MongoDB-acknowledged writes of an op on database db reach
 * PostgreSQL: in dual_write, and in pg_primary / pg_only for what still
 * runs on MongoDB (transactions, DDL, bulkWrite on admin, writes whose
 * tenant is unresolved).  The flags are those of the tenant resolved at
 * capture (job->tenant); in database mode the namespaces a bulkWrite names
 * are resolved again, each by its own database (not counted twice). */
static bool op_dual_written(const struct dwjob *job, const char *db)
{
	struct flags_view fv;
	char tenant[FLAGS_TENANT_NAME_MAX + 1];
	const char *t = job->tenant;

	if (!tenant_needs_command() && strcmp(db, job->db) != 0) {
		(void)tenant_of_db(db, tenant, sizeof(tenant), NULL);
		t = tenant;
	}
	flags_get(t, &fv);
	return fv.write_mode != FLAGS_WM_MONGO_ONLY;
}

/* Hand one op (or a transaction) to the engine. */
static void push_entry(const bson_t *op, const char *tenant, const struct dwjob *job)
{
	struct dwentry *e = dwentry_new();

	if (!e) {
		metrics_inc(METRIC_DW_CAPTURE_ERRORS);
		return;
	}
	bson_destroy(&e->op);
	bson_copy_to(op, &e->op);
	snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
	snprintf(e->key, sizeof(e->key), "%s:%llu", dw.node, (unsigned long long)++dw.seq);
	e->ts_ms = job->ack_seq;
	e->sent_us = job->sent_us;
	e->ack_us = job->ack_us;
	e->t_us = clock_mono_us();
	e->job_seq = job->seq;
	e->tseq = job->tseq;
	metrics_gauge_add(METRIC_DW_PENDING, 1);
	dwapply_push(dw.ap, e);
}

/* ---- transactions ---- */

static struct dwtxn *txn_find(const struct dwtrans_txn *s, bool create)
{
	for (size_t i = 0; i < dw.ntxns; i++)
		if (dw.txns[i].txn == s->txn_number && !memcmp(dw.txns[i].lsid, s->lsid, 16))
			return &dw.txns[i];
	if (!create)
		return NULL;
	uint64_t now = clock_wall_ms();
	for (size_t i = 0; i < dw.ntxns; i++) {
		if (dw.txns[i].started_ms + DW_TXN_MAX_MS < now) {   /* abandoned */
			bson_destroy(dw.txns[i].ops);
			dw.txns[i] = dw.txns[--dw.ntxns];
			metrics_inc(METRIC_DW_TXN_ABORTED);
			i--;
		}
	}
	if (dw.ntxns == DW_MAX_TXNS)
		return NULL;
	struct dwtxn *t = &dw.txns[dw.ntxns++];
	memcpy(t->lsid, s->lsid, 16);
	t->txn = s->txn_number;
	if (!(t->ops = bson_new())) {
		dw.ntxns--;
		return NULL;
	}
	t->n = 0;
	t->started_ms = now;
	return t;
}

static void txn_drop(struct dwtxn *t)
{
	bson_destroy(t->ops);
	*t = dw.txns[--dw.ntxns];
}

static void txn_commit(const struct dwtrans_txn *s, const struct dwjob *job)
{
	struct dwtxn *t = txn_find(s, false);
	bson_t entry = BSON_INITIALIZER;
	bson_iter_t it;
	const char *tenant = NULL;

	if (!t)
		return;   /* a read-only transaction, or one with no dual-written tenant */
	if (bson_iter_init(&it, t->ops) && bson_iter_next(&it) && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bson_t first;
		uint32_t len;
		const uint8_t *data;
		bson_iter_document(&it, &len, &data);
		if (bson_init_static(&first, data, len))
			tenant = op_str(&first, "db");
	}
	BSON_APPEND_UTF8(&entry, "k", "t");
	BSON_APPEND_ARRAY(&entry, "ops", t->ops);
	if (tenant && t->n)
		push_entry(&entry, tenant, job);
	metrics_inc(METRIC_DW_TXN_COMMITTED);
	bson_destroy(&entry);
	txn_drop(t);
}

/* ---- retries ---- */

/* Keyed (SipHash): the client sends lsid and txnNumber, and a forced
 * collision would evict other sessions' entries (their retries would then
 * be applied twice).  The table lives in this process only. */
static struct dwdedupe *dedupe_slot(const struct dwtrans_txn *s, int32_t st)
{
	struct hash_sip h;

	hash_sip_init(&h);
	hash_sip_add(&h, s->lsid, 16);
	hash_sip_add(&h, &s->txn_number, sizeof s->txn_number);
	hash_sip_add(&h, &st, sizeof st);
	return &dw.dedupe[hash_sip_end(&h) % DW_DEDUPE_SLOTS];
}

/* True when this statement of a retryable write was seen before. */
static bool retried(const struct dwtrans_txn *s, const bson_t *op)
{
	bson_iter_t it;
	int32_t st = bson_iter_init_find(&it, op, "st") && BSON_ITER_HOLDS_INT32(&it) ?
			     bson_iter_int32(&it) : 0;
	struct dwdedupe *d = dedupe_slot(s, st);

	if (d->used && d->txn == s->txn_number && d->st == st && !memcmp(d->lsid, s->lsid, 16))
		return true;
	memcpy(d->lsid, s->lsid, 16);
	d->txn = s->txn_number;
	d->st = st;
	d->used = true;
	return false;
}

/* ---- jobs ---- */

/* What the applier does with a job: classify_job() decides once, and
 * dwjob_works[] runs the handler of that kind. */
enum dwjob_work {
	DWJOB_WORK_SERVE,          /* pg_primary / pg_only: a served write, to dwserve_ops */
	DWJOB_WORK_TXN_END,        /* commitTransaction / abortTransaction: the held ops go
	                            * out as one entry, or are dropped */
	DWJOB_WORK_DDL,            /* drop / dropDatabase / renameCollection */
	DWJOB_WORK_IGNORE,         /* not a write: nothing to replay */
	DWJOB_WORK_UNACKNOWLEDGED, /* a w:0 write: outcome unknown */
	DWJOB_WORK_WRITE,          /* an acknowledged write: its ops, held in their
	                            * transaction or pushed */
};

/* A job's handler: name is the command name, kind its dwtrans class. */
typedef void dwjob_handler(const struct dwjob *job, const char *name, enum dwtrans_kind kind);

static void work_serve(const struct dwjob *job, const char *name, enum dwtrans_kind kind)
{
	(void)name;
	(void)kind;
	if (dw.serve)
		dw.serve->submit(dw.ap, job, dw.node, ++dw.seq);
}

/* A commit MongoDB acknowledged sends the transaction's ops; an abort
 * drops them. */
static void work_txn_end(const struct dwjob *job, const char *name, enum dwtrans_kind kind)
{
	struct dwtrans_txn s;
	bson_iter_t it;

	(void)name;
	dwtrans_session(&job->cmd, &s);
	bool ok = job->acknowledged && bson_iter_init_find(&it, &job->reply, "ok") &&
		  bson_iter_as_bool(&it);
	struct dwtxn *t = s.has_lsid && s.has_txn ? txn_find(&s, false) : NULL;
	if (kind == DWTRANS_COMMIT && ok)
		txn_commit(&s, job);
	else if (kind == DWTRANS_ABORT && t) {
		metrics_inc(METRIC_DW_TXN_ABORTED);
		txn_drop(t);
	}
}

static void work_ignore(const struct dwjob *job, const char *name, enum dwtrans_kind kind)
{
	(void)job;
	(void)name;
	(void)kind;
}

/* w:0: the outcome is unknown.  Inserts are resynced by _id; the rest is
 * logged and counted. */
static void work_unacknowledged(const struct dwjob *job, const char *cmdname,
				enum dwtrans_kind kind)
{
	bson_iter_t it, docs;
	bson_t op = BSON_INITIALIZER, ids;
	const char *coll = "";

	(void)kind;
	metrics_inc(METRIC_DW_UNACKNOWLEDGED);
	if (bson_iter_init_find(&it, &job->cmd, cmdname) && BSON_ITER_HOLDS_UTF8(&it))
		coll = bson_iter_utf8(&it, NULL);
	BSON_APPEND_UTF8(&op, "db", job->db);
	BSON_APPEND_UTF8(&op, "c", coll);
	if (strcmp(cmdname, "insert") == 0 && bson_iter_init_find(&it, &job->cmd, "documents") &&
	    BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &docs)) {
		BSON_APPEND_UTF8(&op, "k", "r");
		BSON_APPEND_UTF8(&op, "why", "unacknowledged insert");
		BSON_APPEND_ARRAY_BEGIN(&op, "ids", &ids);
		uint32_t n = 0;
		while (bson_iter_next(&docs)) {
			bson_iter_t d;
			char key[16];
			const char *k;
			if (BSON_ITER_HOLDS_DOCUMENT(&docs) && bson_iter_recurse(&docs, &d) &&
			    bson_iter_find(&d, "_id")) {
				bson_uint32_to_string(n++, &k, key, sizeof(key));
				bson_append_value(&ids, k, -1, bson_iter_value(&d));
			}
		}
		bson_append_array_end(&op, &ids);
	} else {
		BSON_APPEND_UTF8(&op, "k", "x");
		BSON_APPEND_UTF8(&op, "why", "unacknowledged (w:0) write: outcome unknown");
	}
	if (coll[0] && op_dual_written(job, job->db))
		push_entry(&op, job->db, job);
	bson_destroy(&op);
}

/* drop: the tenant's rows of that collection go too.  dropDatabase and
 * renameCollection are logged and counted (not applied to PostgreSQL). */
static void work_ddl(const struct dwjob *job, const char *name, enum dwtrans_kind kind)
{
	bson_iter_t it;
	bson_t op = BSON_INITIALIZER;
	const char *coll = "";

	(void)kind;
	if (!job->acknowledged || !bson_iter_init_find(&it, &job->reply, "ok") ||
	    !bson_iter_as_bool(&it) || !op_dual_written(job, job->db))
		return;
	if (bson_iter_init_find(&it, &job->cmd, name) && BSON_ITER_HOLDS_UTF8(&it))
		coll = bson_iter_utf8(&it, NULL);
	BSON_APPEND_UTF8(&op, "k", strcmp(name, "drop") == 0 && coll[0] ? "D" : "x");
	BSON_APPEND_UTF8(&op, "db", job->db);
	BSON_APPEND_UTF8(&op, "c", coll[0] ? coll : "*");
	if (strcmp(name, "drop") != 0 || !coll[0])
		BSON_APPEND_UTF8(&op, "why", strcmp(name, "dropDatabase") == 0
					  ? "dropDatabase is not applied to PostgreSQL"
					  : "renameCollection is not applied to PostgreSQL");
	push_entry(&op, job->db, job);
	bson_destroy(&op);
}

/* One op of an acknowledged write: held in its transaction (t), counted
 * (no room for the transaction), dropped (a retry seen before) or pushed;
 * nothing for a tenant that is not dual-written. */
static void route_op(const struct dwjob *job, const struct dwtrans_txn *s, struct dwtxn *t,
		     const bson_t *op)
{
	const char *tenant = op_str(op, "db"); /* rows are keyed by database */

	if (!op_dual_written(job, tenant))
		return;
	if (t) {
		char key[16];
		const char *k;
		bson_uint32_to_string(t->n++, &k, key, sizeof(key));
		BSON_APPEND_DOCUMENT(t->ops, k, op);
	} else if (s->in_txn) {
		metrics_inc(METRIC_DW_UNTRANSLATABLE);   /* too many open transactions */
	} else if (s->has_lsid && s->has_txn && retried(s, op)) {
		metrics_inc(METRIC_DW_RETRIES_DEDUPED);
	} else {
		push_entry(op, tenant, job);
	}
}

/* An acknowledged write: dwtrans expands it into ops, each one routed. */
static void work_write(const struct dwjob *job, const char *name, enum dwtrans_kind kind)
{
	struct dwtrans_txn s;
	bson_error_t err;
	bson_t ops;

	(void)kind;
	dwtrans_session(&job->cmd, &s);
	if (!dwtrans_expand(&job->cmd, job->db, &job->reply, &ops, &err)) {
		struct log_line *l = log_begin(LOG_WARN, "dualwrite_untranslatable", job->conn);
		metrics_inc(METRIC_DW_UNTRANSLATABLE);
		if (l) {
			log_str(l, "db", job->db);
			log_str(l, "command", name);
			log_str(l, "reason", err.message);
			log_end(l);
		}
		bson_destroy(&ops);
		return;
	}
	struct dwtxn *t = s.in_txn && s.has_lsid && s.has_txn ? txn_find(&s, true) : NULL;
	bson_iter_t oi;
	for (bool more = bson_iter_init(&oi, &ops); more && bson_iter_next(&oi);) {
		bson_t op;
		uint32_t len;
		const uint8_t *data;
		if (!BSON_ITER_HOLDS_DOCUMENT(&oi))
			continue;
		bson_iter_document(&oi, &len, &data);
		if (bson_init_static(&op, data, len))
			route_op(job, &s, t, &op);
	}
	bson_destroy(&ops);
}

static const struct {
	dwjob_handler *run;
	const char *name;          /* the kind of work, for logs and metrics */
} dwjob_works[] = {
	[DWJOB_WORK_SERVE] = {work_serve, "serve"},
	[DWJOB_WORK_TXN_END] = {work_txn_end, "txn_end"},
	[DWJOB_WORK_DDL] = {work_ddl, "ddl"},
	[DWJOB_WORK_IGNORE] = {work_ignore, "ignore"},
	[DWJOB_WORK_UNACKNOWLEDGED] = {work_unacknowledged, "unacknowledged"},
	[DWJOB_WORK_WRITE] = {work_write, "write"},
};

static enum dwjob_work classify_job(const struct dwjob *job, enum dwtrans_kind kind)
{
	if (job->kind == DWJOB_SERVE)
		return DWJOB_WORK_SERVE;
	switch (kind) {
	case DWTRANS_COMMIT:
	case DWTRANS_ABORT:
		return DWJOB_WORK_TXN_END;
	case DWTRANS_DDL:
		return DWJOB_WORK_DDL;
	case DWTRANS_WRITE:
		return job->acknowledged ? DWJOB_WORK_WRITE : DWJOB_WORK_UNACKNOWLEDGED;
	case DWTRANS_NONE:
		break;
	}
	return DWJOB_WORK_IGNORE;
}

static void handle_job(const struct dwjob *job)
{
	bson_iter_t it;
	const char *name = bson_iter_init(&it, &job->cmd) && bson_iter_next(&it) ? bson_iter_key(&it) : "";
	enum dwtrans_kind kind = dwtrans_classify(name);

	dwjob_works[classify_job(job, kind)].run(job, name, kind);
}

static void intake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dwjob_list jobs = TAILQ_HEAD_INITIALIZER(jobs);
	struct dwjob *job;

	(void)fd;
	(void)what;
	(void)arg;
	pthread_mutex_lock(&dw.mu);
	TAILQ_CONCAT(&jobs, &dw.jobs, link);
	pthread_mutex_unlock(&dw.mu);
	while ((job = TAILQ_FIRST(&jobs))) {
		TAILQ_REMOVE(&jobs, job, link);
		handle_job(job);
		/* Entries complete in push order: with none pending, every job
		 * handled so far is settled; else the last entry settles it. */
		if (dwapply_pending(dw.ap) == 0)
			settle(job->seq);
		else
			dw.tail_seq = job->seq;
		metrics_gauge_add(METRIC_DW_PENDING, -1);
		dwjob_free(job);
	}
}

/* ---- engine callbacks ---- */

static bool admit(const struct dwentry *e, void *arg)
{
	(void)arg;
	return dwqueue_admit(dw.q, e);
}

static void done(struct dwentry *e, enum dwapply_outcome o, const char *why, void *arg)
{
	(void)arg;
	settle(e->job_seq);
	if (dwapply_pending(dw.ap) == 0)
		settle(dw.tail_seq);
	if (e->serve) {
		dw.serve->done(dw.ap, e, o, why);
		return;
	}
	if (e->owner) {
		dwqueue_entry_done(dw.q, e, o, why);
		return;
	}
	metrics_gauge_add(METRIC_DW_PENDING, -1);
	if (o == DWAPPLY_APPLIED) {
		metrics_inc(METRIC_DW_APPLIED);
		dwentry_free(e);
	} else if (o == DWAPPLY_TRANSIENT) {
		(void)dwqueue_put(dw.q, e, why);
	} else {
		dwqueue_deadletter(dw.q, e, why);
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	dwqueue_drain(dw.q, dw.ap, 1000);
	if (dw.stopping) {
		bool idle = dwapply_pending(dw.ap) == 0;
		pthread_mutex_lock(&dw.mu);
		idle = idle && TAILQ_EMPTY(&dw.jobs);
		pthread_mutex_unlock(&dw.mu);
		if (idle || clock_wall_ms() > dw.stop_deadline_ms)
			event_base_loopbreak(dw.base);
	}
}

static void *thread_main(void *arg)
{
	(void)arg;
	event_base_loop(dw.base, EVLOOP_NO_EXIT_ON_EMPTY);
	intake_cb(-1, 0, NULL);
	dwapply_free(dw.ap);   /* what is left is queued (transient) */
	dw.ap = NULL;
	return NULL;
}

bool dualwrite_start(const struct cfg *cfg, const struct mapping *mapping,
		     const struct dwserve_ops *serve, char *err, size_t errlen)
{
	char host[64] = "tandem";

	if (!cfg->pg[0])
		return true;
	pthread_mutex_init(&dw.mu, NULL);
	TAILQ_INIT(&dw.jobs);
	if (cfg->dw_node_id[0])
		snprintf(dw.node, sizeof(dw.node), "%s", cfg->dw_node_id);
	else {
		(void)gethostname(host, sizeof(host) - 1);
		snprintf(dw.node, sizeof(dw.node), "%s.%d", host, (int)getpid());
	}
	dw.drain_ms = (unsigned)cfg->dw_drain_interval_ms;
	dw.serve = serve;
	struct dwqueue_opts qo = {cfg->redis, cfg->dw_spool_path, cfg->dw_spool_fsync, dw.node};
	if (!(dw.q = dwqueue_new(&qo, err, errlen)))
		return false;
	dwqueue_discover(dw.q, NULL);
	dw.base = event_base_new();
	if (!dw.base)
		return snprintf(err, errlen, "dual-write: no event base"), false;
	struct dwapply_opts ao = {
		.conninfo = cfg->pg,
		.mongo_uri = cfg->mongo_uri,
		.mapping = mapping,
		.pool_size = (unsigned)cfg->dw_pool_size,
		.batch_max = (unsigned)cfg->dw_batch_max,
		.timeout_ms = (unsigned)cfg->dw_timeout_ms,
		.done = done,
		.admit = admit,
		.serve = serve,
	};
	if (!(dw.ap = dwapply_new(dw.base, &ao, err, errlen)))
		return false;
	dw.intake = event_new(dw.base, -1, EV_PERSIST, intake_cb, NULL);
	dw.tick = event_new(dw.base, -1, EV_PERSIST, tick_cb, NULL);
	struct timeval tv = {dw.drain_ms / 1000, (dw.drain_ms % 1000) * 1000};
	if (!dw.intake || !dw.tick || event_add(dw.tick, &tv) != 0)
		return snprintf(err, errlen, "dual-write: cannot create events"), false;
	if (pthread_create(&dw.thread, NULL, thread_main, NULL) != 0)
		return snprintf(err, errlen, "dual-write: cannot start the applier thread"), false;
	atomic_store(&dw.enabled, true);
	return true;
}

void dualwrite_stop(void)
{
	if (!dualwrite_enabled())
		return;
	atomic_store(&dw.enabled, false);
	pthread_mutex_lock(&dw.mu);
	dw.stopping = true;
	dw.stop_deadline_ms = clock_wall_ms() + 5000;
	pthread_mutex_unlock(&dw.mu);
	event_active(dw.intake, 0, 0);
	pthread_join(dw.thread, NULL);
	event_free(dw.intake);
	event_free(dw.tick);
	event_base_free(dw.base);
	dwqueue_free(dw.q);
	for (size_t i = 0; i < dw.ntxns; i++)
		bson_destroy(dw.txns[i].ops);
	dw.ntxns = 0;
}
