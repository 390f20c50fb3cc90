/*
 * dwqueue.c - durable queue of dual-write operations (see dwqueue.h).
 *
 *   dwqueue_put --qentry--> RPUSH tandem:queue:<t>   (Redis up)
 *                      \--> spool file               (Redis down)
 *   dwqueue_drain: spool --> Redis (in order), then per queued tenant:
 *       lock --> recover processing --> claim --> dwapply_push (owner = q)
 *       dwqueue_entry_done: applied -> ack; permanent -> dead letter;
 *                           transient -> stop; the rest stays claimed and
 *                           is recovered, in order, by the next drain
 *       empty queue and nothing claimed --> tenant leaves queued state
 */
#include "dwqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "metrics.h"
#include "qentry.h"
#include "redisconn.h"
#include "redisurl.h"
#include "rqueue.h"
#include "spool.h"

#define DWQ_REDIS_TIMEOUT_MS 500
#define DWQ_REDIS_RETRY_MS 1000
#define DWQ_LOCK_MS 30000

struct dwtenant {
	char *name;
	bool locked;          /* we hold the drain lock */
	bool recovered;       /* processing list put back since we took the lock */
	bool failed;          /* a claimed entry failed: stop until all came back */
	unsigned inflight;    /* claimed entries in the engine */
	uint64_t depth;
};

struct dwqueue {
	struct dwqueue_opts o;
	char *spool_path, *node;
	struct redisurl url;       /* valid when with_redis */
	bool with_redis;
	redisContext *rc;
	uint64_t redis_retry_at;   /* clock_mono_ms */
	struct spool *spool;
	struct dwtenant *t;
	size_t nt, cap;
	struct dwqueue_stats st;
};

/* ---- tenants ---- */

static struct dwtenant *tenant_find(struct dwqueue *q, const char *name)
{
	for (size_t i = 0; i < q->nt; i++)
		if (strcmp(q->t[i].name, name) == 0)
			return &q->t[i];
	return NULL;
}

static struct dwtenant *tenant_add(struct dwqueue *q, const char *name)
{
	struct dwtenant *t = tenant_find(q, name);

	if (t)
		return t;
	if (q->nt == q->cap) {
		size_t cap = q->cap * 2 + 8;
		struct dwtenant *n = realloc(q->t, cap * sizeof(*n));
		if (!n)
			return NULL;
		q->t = n;
		q->cap = cap;
	}
	t = &q->t[q->nt];
	memset(t, 0, sizeof(*t));
	if (!(t->name = strdup(name)))
		return NULL;
	q->nt++;
	metrics_gauge_add(METRIC_DW_QUEUED_TENANTS, 1);
	return t;
}

static void tenant_set_depth(struct dwqueue *q, struct dwtenant *t, uint64_t depth)
{
	metrics_gauge_add(METRIC_DW_QUEUE_DEPTH, (int64_t)depth - (int64_t)t->depth);
	q->st.depth = q->st.depth + depth - t->depth;
	t->depth = depth;
}

static void tenant_remove(struct dwqueue *q, struct dwtenant *t)
{
	tenant_set_depth(q, t, 0);
	free(t->name);
	*t = q->t[--q->nt];
	metrics_gauge_add(METRIC_DW_QUEUED_TENANTS, -1);
}

bool dwqueue_is_queued(struct dwqueue *q, const char *tenant)
{
	return q && tenant_find(q, tenant) != NULL;
}

/* ---- Redis ---- */

static redisContext *redis(struct dwqueue *q)
{
	char err[256];

	if (q->rc && !q->rc->err)
		return q->rc;
	if (q->rc) {
		redisFree(q->rc);
		q->rc = NULL;
	}
	if (!q->with_redis || clock_mono_ms() < q->redis_retry_at)
		return NULL;
	q->rc = redisconn_open(&q->url, DWQ_REDIS_TIMEOUT_MS, DWQ_REDIS_TIMEOUT_MS, err, sizeof(err));
	if (!q->rc)
		q->redis_retry_at = clock_mono_ms() + DWQ_REDIS_RETRY_MS;
	return q->rc;
}

static void redis_failed(struct dwqueue *q, const char *what, const char *err)
{
	struct log_line *l = log_begin(LOG_WARN, "dualwrite_redis_error", 0);

	if (l) {
		log_str(l, "what", what);
		log_str(l, "error", err);
		log_end(l);
	}
	if (q->rc) {
		redisFree(q->rc);
		q->rc = NULL;
	}
	q->redis_retry_at = clock_mono_ms() + DWQ_REDIS_RETRY_MS;
}

/* SET NX PX, or refresh when we hold it already. */
static bool lock_tenant(struct dwqueue *q, redisContext *rc, struct dwtenant *t)
{
	char key[320];
	redisReply *r;
	bool ok = false;

	snprintf(key, sizeof(key), "tandem:drainlock:%s", t->name);
	r = redisCommand(rc, "SET %s %s NX PX %d", key, q->node, DWQ_LOCK_MS);
	if (r && r->type == REDIS_REPLY_STATUS)
		ok = true;
	freeReplyObject(r);
	if (!ok) {
		r = redisCommand(rc, "GET %s", key);
		ok = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, q->node) == 0;
		freeReplyObject(r);
		if (ok)
			freeReplyObject(redisCommand(rc, "PEXPIRE %s %d", key, DWQ_LOCK_MS));
	}
	if (!ok)
		t->recovered = false;
	t->locked = ok;
	return ok;
}

static void unlock_tenant(struct dwqueue *q, redisContext *rc, struct dwtenant *t)
{
	char key[320];
	redisReply *r;

	snprintf(key, sizeof(key), "tandem:drainlock:%s", t->name);
	r = redisCommand(rc, "GET %s", key);
	if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, q->node) == 0)
		freeReplyObject(redisCommand(rc, "DEL %s", key));
	freeReplyObject(r);
	t->locked = false;
}

/* ---- entries <-> qentry ---- */

static bool encode(const struct dwentry *e, const char *error, uint8_t **out, size_t *len,
		   char *err, size_t errlen)
{
	struct qentry qe = {0};
	bson_iter_t it;
	bson_t key = BSON_INITIALIZER;
	const char *k = "", *colon = strrchr(e->key, ':');
	char node[96];

	if (bson_iter_init_find(&it, &e->op, "k") && BSON_ITER_HOLDS_UTF8(&it))
		k = bson_iter_utf8(&it, NULL);
	qe.kind = k[0] == 'i' ? QENTRY_INSERT : k[0] == 'd' ? QENTRY_DELETE : k[0] == 'r' ? QENTRY_RESYNC :
		  k[0] == 't' ? QENTRY_TXN : QENTRY_UPDATE;
	if (k[0] == 'i' && bson_iter_init_find(&it, &e->op, "d") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bson_iter_t id;
		if (bson_iter_recurse(&it, &id) && bson_iter_find(&id, "_id"))
			bson_append_value(&key, "_id", 3, bson_iter_value(&id));
	}
	snprintf(node, sizeof(node), "%.*s", colon ? (int)(colon - e->key) : 0, e->key);
	qe.seq = colon ? strtoull(colon + 1, NULL, 10) : 0;
	qe.node = node[0] ? node : (char *)"unknown";
	qe.ts_ms = e->ts_ms;
	qe.sent_us = e->sent_us;
	qe.ack_us = e->ack_us;
	qe.tenant = (char *)e->tenant;
	qe.db = (char *)"";
	qe.coll = (char *)"";
	if (bson_iter_init_find(&it, &e->op, "db") && BSON_ITER_HOLDS_UTF8(&it))
		qe.db = (char *)bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, &e->op, "c") && BSON_ITER_HOLDS_UTF8(&it))
		qe.coll = (char *)bson_iter_utf8(&it, NULL);
	qe.doc_key = (uint8_t *)bson_get_data(&key);
	qe.doc_key_len = key.len;
	qe.payload = (uint8_t *)bson_get_data(&e->op);
	qe.payload_len = e->op.len;
	qe.error = (char *)error;
	bool ok = qentry_encode(&qe, out, len, err, errlen);
	bson_destroy(&key);
	return ok;
}

static struct dwentry *decode(struct dwqueue *q, const uint8_t *data, size_t len, char *err,
			      size_t errlen)
{
	struct qentry qe;
	struct dwentry *e;
	bson_t op;

	if (!qentry_decode(data, len, &qe, err, errlen))
		return NULL;
	if (!(e = dwentry_new()) || !bson_init_static(&op, qe.payload, qe.payload_len)) {
		dwentry_free(e);
		qentry_free(&qe);
		errbuf_fail(err, errlen, "out of memory");
		return NULL;
	}
	bson_destroy(&e->op);
	bson_copy_to(&op, &e->op);
	snprintf(e->tenant, sizeof(e->tenant), "%s", qe.tenant);
	snprintf(e->key, sizeof(e->key), "%s:%llu", qe.node, (unsigned long long)qe.seq);
	e->ts_ms = qe.ts_ms;
	e->sent_us = qe.sent_us;
	e->ack_us = qe.ack_us;
	e->owner = q;
	qentry_free(&qe);
	return e;
}

/* ---- put ---- */

bool dwqueue_put(struct dwqueue *q, struct dwentry *e, const char *why)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[256] = "";
	redisContext *rc;
	bool ok = false;

	if (!encode(e, NULL, &buf, &len, err, sizeof(err)))
		goto out;
	if ((rc = redis(q))) {
		if (rqueue_push(rc, e->tenant, buf, len, err, sizeof(err))) {
			ok = true;
			q->st.queued++;
			metrics_inc(METRIC_DW_QUEUED);
		} else {
			redis_failed(q, "push", err);
		}
	}
	if (!ok && q->spool && spool_append(q->spool, buf, len, err, sizeof(err))) {
		ok = true;
		q->st.spooled++;
		metrics_inc(METRIC_DW_SPOOLED);
	}
out:
	free(buf);
	if (ok) {
		struct dwtenant *t = tenant_add(q, e->tenant);
		if (t)
			tenant_set_depth(q, t, t->depth + 1);
	}
	struct log_line *l = log_begin(ok ? LOG_DEBUG : LOG_ERROR, ok ? "dualwrite_queued" : "dualwrite_lost", 0);
	if (l) {
		log_str(l, "tenant", e->tenant);
		log_str(l, "op_key", e->key);
		log_str(l, "reason", why ? why : "");
		if (!ok)
			log_str(l, "error", err[0] ? err : "no Redis and no spool");
		log_end(l);
	}
	dwentry_free(e);
	return ok;
}

bool dwqueue_admit(struct dwqueue *q, const struct dwentry *e)
{
	struct dwtenant *t = tenant_find(q, e->tenant);

	if (e->owner == q)
		return t && !t->failed;
	return t == NULL;
}

void dwqueue_deadletter(struct dwqueue *q, struct dwentry *e, const char *why)
{
	uint8_t *buf = NULL;
	size_t len;
	char err[256], key[320];
	redisContext *rc = redis(q);
	bool ok = false;

	if (rc && encode(e, why, &buf, &len, err, sizeof(err)) &&
	    rqueue_key(RQUEUE_DEADLETTER, e->tenant, key, sizeof(key))) {
		redisReply *r = redisCommand(rc, "RPUSH %s %b", key, buf, len);
		ok = r && r->type == REDIS_REPLY_INTEGER;
		freeReplyObject(r);
		if (!ok)
			redis_failed(q, "dead letter", rc->errstr);
	}
	free(buf);
	struct log_line *l = log_begin(LOG_ERROR, "dualwrite_dead_letter", 0);
	if (l) {
		log_str(l, "tenant", e->tenant);
		log_str(l, "op_key", e->key);
		log_str(l, "reason", why ? why : "");
		log_end(l);
	}
	if (ok) {
		q->st.deadlettered++;
		metrics_inc(METRIC_DW_DEAD_LETTERS);
		dwentry_free(e);
	} else {
		(void)dwqueue_put(q, e, why);
	}
}

/* ---- drain ---- */

/* Move every spooled record to its tenant's Redis list, then empty the spool. */
static void spool_to_redis(struct dwqueue *q, redisContext *rc)
{
	struct spool_cursor c;
	uint8_t *rec;
	size_t len;
	char err[256];
	enum spool_read_status st;

	if (!q->spool || spool_records(q->spool) == 0)
		return;
	spool_cursor_init(&c);
	while ((st = spool_read_next(q->spool, &c, &rec, &len, err, sizeof(err))) == SPOOL_READ_OK) {
		struct qentry qe;
		bool ok = qentry_decode(rec, len, &qe, err, sizeof(err));
		if (ok) {
			ok = rqueue_push(rc, qe.tenant, rec, len, err, sizeof(err));
			qentry_free(&qe);
		}
		free(rec);
		if (!ok) {
			redis_failed(q, "spool to redis", err);
			return;   /* records moved so far are pushed again next time (at least once) */
		}
	}
	if (st == SPOOL_READ_END && spool_truncate_all(q->spool, &c, err, sizeof(err)))
		return;
	redis_failed(q, "spool", err);
}

static void drain_tenant(struct dwqueue *q, redisContext *rc, struct dwtenant *t,
			 struct dwapply *a, unsigned max)
{
	char err[256];
	struct rqueue_batch b;
	struct rqueue_depth d;

	if (t->inflight)
		return;
	if (!lock_tenant(q, rc, t)) {
		/* Another drainer (a tandem, tandemctl replay) has the tenant:
		 * follow its progress in the depth (replay's stall check). */
		if (!rqueue_depth(rc, t->name, &d, err, sizeof(err)))
			redis_failed(q, "depth", err);
		else
			tenant_set_depth(q, t, d.pending + d.processing);
		return;
	}
	t->failed = false;
	if (!t->recovered) {
		uint64_t moved = 0;
		if (!rqueue_recover(rc, t->name, 100000, &moved, err, sizeof(err))) {
			redis_failed(q, "recover", err);
			return;
		}
		t->recovered = true;
	}
	if (!rqueue_claim(rc, t->name, max, &b, err, sizeof(err))) {
		redis_failed(q, "claim", err);
		return;
	}
	for (size_t i = 0; i < b.count; i++) {
		struct dwentry *e = decode(q, b.items[i], b.lens[i], err, sizeof(err));
		if (!e) {
			/* Unreadable: keep it for an engineer, in its place. */
			if (!rqueue_deadletter(rc, t->name, b.items[i], b.lens[i], err, sizeof(err)))
				redis_failed(q, "dead letter", err);
			q->st.deadlettered++;
			metrics_inc(METRIC_DW_DEAD_LETTERS);
			continue;
		}
		t->inflight++;
		dwapply_push(a, e);
	}
	size_t n = b.count;
	rqueue_batch_free(&b);
	if (!rqueue_depth(rc, t->name, &d, err, sizeof(err))) {
		redis_failed(q, "depth", err);
		return;
	}
	tenant_set_depth(q, t, d.pending + d.processing);
	if (n == 0 && d.pending == 0 && d.processing == 0) {
		unlock_tenant(q, rc, t);
		tenant_remove(q, t);
	}
}

void dwqueue_drain(struct dwqueue *q, struct dwapply *a, unsigned max)
{
	redisContext *rc = redis(q);

	if (!rc)
		return;
	spool_to_redis(q, rc);
	if (!dwapply_pg_connected(a))
		return;   /* claimed entries would only fail and wait in processing */
	for (size_t i = q->nt; i-- > 0 && q->rc;)
		drain_tenant(q, q->rc, &q->t[i], a, max);
}

void dwqueue_entry_done(struct dwqueue *q, struct dwentry *e, enum dwapply_outcome o,
			const char *why)
{
	struct dwtenant *t = tenant_find(q, e->tenant);
	redisContext *rc = redis(q);
	char err[256];
	uint8_t *buf = NULL;
	size_t len;

	if (t)
		t->inflight--;
	/* ack and dead-letter act on the head of the processing list, so only
	 * the prefix of a claim before its first failure is acked; what comes
	 * after stays claimed, is recovered and applied again (idempotent:
	 * upserts, and marker rows for the rest). */
	bool kept = o == DWAPPLY_TRANSIENT || !rc || (t && t->failed);
	if (kept) {
		if (t) {
			t->failed = true;
			t->recovered = false;   /* what is left in processing goes back first */
		}
	} else if (o == DWAPPLY_APPLIED) {
		if (!rqueue_ack(rc, e->tenant, 1, err, sizeof(err)))
			redis_failed(q, "ack", err);
		q->st.applied++;
		metrics_inc(METRIC_DW_REPLAYED);
		metrics_inc(METRIC_DW_APPLIED);
	} else if (encode(e, why, &buf, &len, err, sizeof(err))) {
		if (!rqueue_deadletter(rc, e->tenant, buf, len, err, sizeof(err)))
			redis_failed(q, "dead letter", err);
		q->st.deadlettered++;
		metrics_inc(METRIC_DW_DEAD_LETTERS);
	}
	if (!kept && t && t->depth)
		tenant_set_depth(q, t, t->depth - 1);
	free(buf);
	dwentry_free(e);
}

/* ---- setup ---- */

void dwqueue_discover(struct dwqueue *q, const char *only)
{
	redisContext *rc = redis(q);
	char cursor[32] = "0";

	if (only && only[0]) {
		(void)tenant_add(q, only);
		return;
	}
	for (int rounds = 0; rc && rounds < 100000; rounds++) {
		redisReply *r = redisCommand(rc, "SCAN %s MATCH tandem:queue:* COUNT 1000", cursor);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			freeReplyObject(r);
			redis_failed(q, "scan", rc->errstr);
			return;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *key = r->element[1]->element[i]->str + strlen("tandem:queue:");
			size_t n = strlen(key);
			if (n > 11 && strcmp(key + n - 11, ":processing") == 0) {
				char name[300];
				snprintf(name, sizeof(name), "%.*s", (int)(n - 11), key);
				(void)tenant_add(q, name);
			} else {
				(void)tenant_add(q, key);
			}
		}
		freeReplyObject(r);
		if (strcmp(cursor, "0") == 0)
			break;
	}
	if (q->spool && spool_records(q->spool) > 0 && rc)
		spool_to_redis(q, rc);
}

struct dwqueue *dwqueue_new(const struct dwqueue_opts *o, char *err, size_t errlen)
{
	struct dwqueue *q = calloc(1, sizeof(*q));
	struct spool_opts so = {SPOOL_FSYNC_BATCH, 64, 100};
	struct spool_open_info info;
	char why[384];

	if (!q) {
		errbuf_fail(err, errlen, "out of memory");
		return NULL;
	}
	q->spool_path = strdup(o->spool_path ? o->spool_path : "");
	q->node = strdup(o->node ? o->node : "tandem");
	if (!q->spool_path || !q->node) {
		dwqueue_free(q);
		errbuf_fail(err, errlen, "out of memory");
		return NULL;
	}
	q->with_redis = o->redis_url && *o->redis_url;
	if (q->with_redis && !redisurl_parse(o->redis_url, &q->url, why, sizeof(why))) {
		dwqueue_free(q);
		errbuf_fail(err, errlen, "key 'redis': %s", why);
		return NULL;
	}
	if (o->spool_fsync && !spool_fsync_parse(o->spool_fsync, &so.policy)) {
		dwqueue_free(q);
		errbuf_fail(err, errlen, "dualwrite.spool_fsync: bad policy '%s'", o->spool_fsync);
		return NULL;
	}
	if (q->spool_path[0] && !(q->spool = spool_open(q->spool_path, &so, &info, err, errlen))) {
		dwqueue_free(q);
		return NULL;
	}
	return q;
}

void dwqueue_free(struct dwqueue *q)
{
	if (!q)
		return;
	if (q->spool)
		spool_close(q->spool);
	if (q->rc)
		redisFree(q->rc);
	for (size_t i = 0; i < q->nt; i++)
		free(q->t[i].name);
	free(q->t);
	free(q->spool_path);
	free(q->node);
	free(q);
}

void dwqueue_stats(struct dwqueue *q, struct dwqueue_stats *out)
{
	*out = q->st;
	out->tenants = (unsigned)q->nt;
}
