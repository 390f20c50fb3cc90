/*
 * dwapply.c - the apply engine: entries in, units out, one callback per
 * entry in push order (see dwapply.h for the model, dwapply_internal.h for
 * the split).
 *
 *   push --> queue --pump--> unit (computed: dwop_start per op)
 *                               |  reads?  SELECT --> dwunit_resume --> ...
 *                               v
 *                         write batch --pgpool--> unit_done --> done(entry)*
 *
 * Insert-only units may be in flight together (up to the pool size); a unit
 * with reads waits until nothing is in flight, and nothing starts while it
 * exists.  Callbacks keep push order because units complete in order: a
 * finished unit behind an unfinished one waits in the in-flight list.
 * A unit's state (enum dwunit_state, dwunit.h) changes in unit_set_state()
 * only, which keeps a->building and a->inflight right.
 */
#include "dwapply_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

static void pump(struct dwapply *a);

struct dwentry *dwentry_new(void)
{
	struct dwentry *e = calloc(1, sizeof(*e));

	if (e)
		bson_init(&e->op);
	return e;
}

void dwentry_free(struct dwentry *e)
{
	if (!e)
		return;
	bson_destroy(&e->op);
	free(e);
}

/* ------------------------------------------------------------ units */

/* Where the engine keeps a unit. */
enum dwunit_place {
	DWUNIT_AT_NONE,           /* nowhere: gathered, or being called back */
	DWUNIT_AT_COMPUTE,        /* computed: a->building when it reads */
	DWUNIT_AT_INFLIGHT,       /* a->inflight, in start order */
};

static const struct {
	const char *name;
	enum dwunit_place at;
} dwunit_states[] = {
	[DWUNIT_ST_NEW] = {"new", DWUNIT_AT_NONE},
	[DWUNIT_ST_COMPUTING] = {"computing", DWUNIT_AT_COMPUTE},
	[DWUNIT_ST_SELECTING] = {"selecting", DWUNIT_AT_COMPUTE},
	[DWUNIT_ST_FAILED] = {"failed", DWUNIT_AT_COMPUTE},
	[DWUNIT_ST_FAILED_PERMANENT] = {"failed_permanent", DWUNIT_AT_COMPUTE},
	[DWUNIT_ST_IN_FLIGHT] = {"in_flight", DWUNIT_AT_INFLIGHT},
	[DWUNIT_ST_DONE] = {"done", DWUNIT_AT_INFLIGHT},
	[DWUNIT_ST_CALLBACK] = {"callback", DWUNIT_AT_NONE},
};

const char *dwunit_state_to_str(enum dwunit_state st)
{
	return st <= DWUNIT_ST_CALLBACK ? dwunit_states[st].name : "unknown";
}

/* The only place u->st changes: moves u to where its new state keeps it
 * (dwunit_states[].at).  CALLBACK takes it off a->inflight; the caller then
 * calls its entries back and frees it. */
static void unit_set_state(struct dwunit *u, enum dwunit_state st)
{
	struct dwapply *a = u->a;
	enum dwunit_place from = dwunit_states[u->st].at, to = dwunit_states[st].at;

	if (from == DWUNIT_AT_COMPUTE && to != from && a->building == u)
		a->building = NULL;
	if (from == DWUNIT_AT_INFLIGHT && to != from) {
		TAILQ_REMOVE(&a->inflight, u, link);
		a->ninflight--;
	}
	if (to == DWUNIT_AT_COMPUTE && from != to && u->reads)
		a->building = u;
	if (to == DWUNIT_AT_INFLIGHT && from != to) {
		TAILQ_INSERT_TAIL(&a->inflight, u, link);
		a->ninflight++;
	}
	u->st = st;
}

static struct dwunit *unit_new(struct dwapply *a)
{
	struct dwunit *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->a = a;
	TAILQ_INIT(&u->entries);
	sqllist_init(&u->writes);
	return u;
}

static void unit_free(struct dwunit *u)
{
	sqllist_free(&u->writes);
	free(u->stmt_entry);
	free(u->stmt_tag);
	free(u->from);
	dwoverlay_free(u);
	free(u);
}

void dwunit_fail(struct dwunit *u, const char *fmt, ...)
{
	va_list ap;

	if (dwunit_failed(u))
		return;
	unit_set_state(u, DWUNIT_ST_FAILED);
	va_start(ap, fmt);
	vsnprintf(u->why, sizeof(u->why), fmt, ap);
	va_end(ap);
}

void dwunit_fail_permanent(struct dwunit *u, const char *fmt, ...)
{
	va_list ap;

	if (dwunit_failed(u))
		return;
	unit_set_state(u, DWUNIT_ST_FAILED_PERMANENT);
	u->bad_entry = u->cur_index;
	va_start(ap, fmt);
	vsnprintf(u->why, sizeof(u->why), fmt, ap);
	va_end(ap);
}

bool dwunit_recover_permanent(struct dwunit *u)
{
	if (u->st != DWUNIT_ST_FAILED_PERMANENT)
		return false;
	unit_set_state(u, DWUNIT_ST_COMPUTING);
	return true;
}

bool dwunit_select(struct dwunit *u, struct pgbatch *b,
		   void (*cb)(const struct pgpool_result *res, void *arg), void *arg)
{
	if (!pgpool_submit(u->a->pool, b, cb, arg))
		return false;
	if (u->st == DWUNIT_ST_COMPUTING)
		unit_set_state(u, DWUNIT_ST_SELECTING);
	return true;
}

void dwunit_select_done(struct dwunit *u)
{
	if (u->st == DWUNIT_ST_SELECTING)
		unit_set_state(u, DWUNIT_ST_COMPUTING);
}

bool dwunit_add_writes(struct dwunit *u, struct sqllist *l)
{
	size_t need = u->writes.n + l->n;

	if (need > u->stmt_cap) {
		size_t cap = need * 2 + 16;
		unsigned *m = realloc(u->stmt_entry, cap * sizeof(*m));
		if (!m)
			return false;
		u->stmt_entry = m;
		uint32_t *t = realloc(u->stmt_tag, cap * sizeof(*t));
		if (!t)
			return false;
		u->stmt_tag = t;
		u->stmt_cap = cap;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct sqlstmt *s = &l->stmts[i];
		if (!sqllist_add(&u->writes, s->sql, s->nparams, (const char *const *)s->params))
			return false;
		u->stmt_entry[u->writes.n - 1] = u->cur_index;
		u->stmt_tag[u->writes.n - 1] = u->serve_stmt;
	}
	return true;
}

/* Call every entry of u back with outcome o and free the unit. */
static void unit_finish(struct dwunit *u, enum dwapply_outcome o, const char *why)
{
	struct dwapply *a = u->a;
	struct dwentry *e;
	uint64_t now = clock_mono_us();

	while ((e = TAILQ_FIRST(&u->entries))) {
		TAILQ_REMOVE(&u->entries, e, link);
		a->pending--;
		if (o == DWAPPLY_APPLIED && e->t_us)
			metrics_dw_lag(now > e->t_us ? now - e->t_us : 0);
		a->o.done(e, o, why, a->o.arg);
	}
	unit_free(u);
}

static bool unit_fill(struct dwunit *u, struct pgbatch *b)
{
	struct dwapply *a = u->a;
	bool merge = a->plain == 0 && !u->serve;

	a->plain = a->plain > u->n ? a->plain - u->n : 0;
	if (u->marker) {
		const char *p[1] = {TAILQ_FIRST(&u->entries)->key};
		if (!pgbatch_add(b, "INSERT INTO tandem_applied (op_key) VALUES ($1)", 1, p))
			return false;
	}
	return dwcoalesce_fill(u, b, merge);
}

/* A permanent failure of entry `bad`: it is dead-lettered, the others go
 * back to the front of the queue to be computed again. */
static void unit_split(struct dwunit *u, unsigned bad, const char *why)
{
	struct dwapply *a = u->a;
	struct dwentry *e, *last = NULL;
	unsigned i = 0;

	while ((e = TAILQ_FIRST(&u->entries))) {
		TAILQ_REMOVE(&u->entries, e, link);
		if (i++ == bad) {
			a->pending--;
			a->o.done(e, DWAPPLY_PERMANENT, why, a->o.arg);
			continue;
		}
		if (last)
			TAILQ_INSERT_AFTER(&a->queue, last, e, link);
		else
			TAILQ_INSERT_HEAD(&a->queue, e, link);
		a->nqueue++;
		last = e;
	}
	unit_free(u);
}

/* Units are called back strictly in start order: a unit whose outcome is
 * known waits in a->inflight behind unfinished ones. */
static void complete_in_order(struct dwapply *a)
{
	struct dwunit *u;

	while ((u = TAILQ_FIRST(&a->inflight)) && u->st == DWUNIT_ST_DONE) {
		unit_set_state(u, DWUNIT_ST_CALLBACK);
		if (u->outcome == DWAPPLY_PERMANENT)
			unit_split(u, u->bad_entry, u->why);
		else
			unit_finish(u, u->outcome, u->outcome == DWAPPLY_APPLIED ? NULL : u->why);
	}
}

/* The outcome is known (DONE): u is in a->inflight from here on.  Its
 * resyncs' horizons hold only if its own transaction committed
 * (dwapply_resync.c); an applied-before unit settled them already. */
static void unit_settle(struct dwunit *u, enum dwapply_outcome o, const char *why)
{
	dwhorizon_settle(u->a, u, o == DWAPPLY_APPLIED ? DWH_END_COMMITTED : DWH_END_DISCARDED);
	u->outcome = o;
	if (why && why != u->why)
		snprintf(u->why, sizeof(u->why), "%s", why);
	unit_set_state(u, DWUNIT_ST_DONE);
}

/* Log PostgreSQL going away and coming back once each, not per batch. */
static void set_pg_down(struct dwapply *a, bool down, const struct pgpool_result *res)
{
	if (a->pg_down == down)
		return;
	a->pg_down = down;
	struct log_line *l = log_begin(down ? LOG_WARN : LOG_INFO,
				       down ? "dualwrite_pg_unavailable" : "dualwrite_pg_available", 0);
	if (l) {
		if (down) {
			log_str(l, "sqlstate", res->sqlstate);
			log_str(l, "error", res->message);
		}
		log_int(l, "pending", a->pending);
		log_end(l);
	}
}

static void batch_done(const struct pgpool_result *res, void *arg)
{
	struct dwunit *u = arg;
	struct dwapply *a = u->a;

	if (res->cls == PGPOOL_OK) {
		set_pg_down(a, false, res);
		unit_settle(u, DWAPPLY_APPLIED, NULL);
	} else if (res->cls == PGPOOL_PERMANENT && u->marker && res->stmt_index == 0 &&
		   strcmp(res->sqlstate, "23505") == 0) {
		if (u->serve)
			a->o.serve->applied_before(TAILQ_FIRST(&u->entries));
		/* Applied before (in doubt then): this attempt's rows are rolled
		 * back, the earlier attempt's hold a read of unknown time. */
		dwhorizon_settle(a, u, DWH_END_APPLIED_BEFORE);
		unit_settle(u, DWAPPLY_APPLIED, NULL);
	} else if (res->cls == PGPOOL_PERMANENT && u->serve) {
		/* A statement of a served write is refused: pgserve answers it
		 * with a writeError and computes the others again. */
		int s = res->stmt_index - (u->marker ? 1 : 0);
		a->o.serve->refused(TAILQ_FIRST(&u->entries),
				s >= 0 && (size_t)s < u->writes.n ? u->stmt_tag[s] : UINT32_MAX,
				res->sqlstate, res->message);
		u->bad_entry = 0;
		unit_settle(u, DWAPPLY_PERMANENT, res->message);
	} else if (res->cls == PGPOOL_PERMANENT) {
		metrics_inc(METRIC_DW_ERRORS_PERMANENT);
		int e = dwcoalesce_entry(u, res->stmt_index - (u->marker ? 1 : 0));
		if (e < 0) {
			/* A merged statement: run these entries again one row per
			 * statement, to find the one PostgreSQL refuses. */
			a->plain += u->n;
			u->bad_entry = UINT32_MAX;
		} else {
			u->bad_entry = (unsigned)e;
		}
		unit_settle(u, DWAPPLY_PERMANENT, res->message);
	} else {
		metrics_inc(METRIC_DW_ERRORS_TRANSIENT);
		set_pg_down(a, true, res);
		unit_settle(u, DWAPPLY_TRANSIENT, res->message);
	}
	complete_in_order(a);
	pump(a);
}

/* Hand the unit's writes to the pool (or settle it when there are none). */
static void unit_submit(struct dwunit *u)
{
	struct dwapply *a = u->a;
	struct pgbatch *b = NULL;

	if (u->st == DWUNIT_ST_FAILED_PERMANENT) {
		unit_settle(u, DWAPPLY_PERMANENT, u->why);
	} else if (u->st == DWUNIT_ST_FAILED) {
		a->pg_down = true;
		unit_settle(u, DWAPPLY_TRANSIENT, u->why);
	} else if (u->writes.n == 0) {
		unit_settle(u, DWAPPLY_APPLIED, NULL);
	} else {
		unit_set_state(u, DWUNIT_ST_IN_FLIGHT);
		if (!(b = pgbatch_new()) || !unit_fill(u, b) ||
		    !pgpool_submit(a->pool, b, batch_done, u)) {
			pgbatch_free(b);
			a->pg_down = true;
			unit_settle(u, DWAPPLY_TRANSIENT, "PostgreSQL pool full or out of memory");
		}
	}
	complete_in_order(a);
}

/* The next op of the unit into u->cur_op; false when there is none. */
static bool unit_next_op(struct dwunit *u)
{
	while (true) {
		if (u->in_txn) {
			while (bson_iter_next(&u->txn_it)) {
				uint32_t len;
				const uint8_t *data;
				if (!BSON_ITER_HOLDS_DOCUMENT(&u->txn_it))
					continue;
				bson_iter_document(&u->txn_it, &len, &data);
				if (bson_init_static(&u->cur_op, data, len))
					return true;
			}
			u->in_txn = false;
		}
		u->cur = u->cur ? TAILQ_NEXT(u->cur, link) : TAILQ_FIRST(&u->entries);
		if (!u->cur)
			return false;
		if (u->cur != TAILQ_FIRST(&u->entries))
			u->cur_index++;
		bson_iter_t it;
		if (bson_iter_init_find(&it, &u->cur->op, "k") && BSON_ITER_HOLDS_UTF8(&it) &&
		    strcmp(bson_iter_utf8(&it, NULL), "t") == 0) {
			if (bson_iter_init_find(&it, &u->cur->op, "ops") && BSON_ITER_HOLDS_ARRAY(&it) &&
			    bson_iter_recurse(&it, &u->txn_it))
				u->in_txn = true;
			continue;
		}
		bson_init_static(&u->cur_op, bson_get_data(&u->cur->op), u->cur->op.len);
		return true;
	}
}

/* Compute ops until one waits for a SELECT or all are done. */
static void unit_run(struct dwunit *u)
{
	while (!dwunit_failed(u) && unit_next_op(u)) {
		enum dwop_step st = dwop_start(u);
		if (st == DWOP_WAIT)
			return;            /* dwunit_resume continues */
	}
	unit_submit(u);
}

void dwunit_resume(struct dwunit *u)
{
	struct dwapply *a = u->a;

	unit_run(u);
	pump(a);
}

static bool is_txn(const struct dwentry *e)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, &e->op, "k") && BSON_ITER_HOLDS_UTF8(&it) &&
	       strcmp(bson_iter_utf8(&it, NULL), "t") == 0;
}

static bool entry_is_insert(const struct dwentry *e)
{
	return dwop_is_insert(&e->op);
}

/* An entry not admitted: called back TRANSIENT in its place in the order. */
static void reject(struct dwapply *a, struct dwentry *e)
{
	struct dwunit *u = unit_new(a);

	TAILQ_REMOVE(&a->queue, e, link);
	a->nqueue--;
	if (!u) {
		a->pending--;
		a->o.done(e, DWAPPLY_TRANSIENT, "out of memory", a->o.arg);
		return;
	}
	TAILQ_INSERT_TAIL(&u->entries, e, link);
	u->n = 1;
	unit_settle(u, DWAPPLY_TRANSIENT, "queued behind earlier writes of the tenant");
	complete_in_order(a);
}

/* Start as many units as the rules allow. */
static void pump(struct dwapply *a)
{
	unsigned max_inflight = a->o.pool_size ? a->o.pool_size : 1;

	while (!a->building && TAILQ_FIRST(&a->queue)) {
		struct dwentry *e = TAILQ_FIRST(&a->queue);
		if (a->o.admit && !a->o.admit(e, a->o.arg)) {
			reject(a, e);
			continue;
		}
		bool reads = !entry_is_insert(e);

		if (reads && a->ninflight > 0)
			return;
		if (!reads && (a->ninflight >= max_inflight ||
			       (a->ninflight && TAILQ_FIRST(&a->inflight)->reads)))
			return;
		struct dwunit *u = unit_new(a);
		if (!u)
			return;
		u->reads = reads;
		u->serve = e->serve != NULL;
		u->marker = reads && (!u->serve || a->o.serve->retryable(e));
		u->overlay = reads && (is_txn(e) || u->serve);
		do {
			TAILQ_REMOVE(&a->queue, e, link);
			a->nqueue--;
			TAILQ_INSERT_TAIL(&u->entries, e, link);
			u->n++;
			e = TAILQ_FIRST(&a->queue);
		} while (!reads && e && entry_is_insert(e) && u->n < a->o.batch_max &&
			 (!a->o.admit || a->o.admit(e, a->o.arg)));
		unit_set_state(u, DWUNIT_ST_COMPUTING);   /* a read unit: a->building */
		unit_run(u);
	}
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pump(arg);
}

void dwapply_push(struct dwapply *a, struct dwentry *e)
{
	TAILQ_INSERT_TAIL(&a->queue, e, link);
	a->nqueue++;
	a->pending++;
	event_active(a->kick, 0, 0);
}

void dwapply_push_front(struct dwapply *a, struct dwentry *e)
{
	TAILQ_INSERT_HEAD(&a->queue, e, link);
	a->nqueue++;
	a->pending++;
	event_active(a->kick, 0, 0);
}

unsigned dwapply_pending(const struct dwapply *a)
{
	return a->pending;
}

bool dwapply_pg_down(const struct dwapply *a)
{
	struct pgpool_stats st;

	pgpool_stats(a->pool, &st);
	return a->pg_down || st.down;
}

bool dwapply_pg_connected(const struct dwapply *a)
{
	struct pgpool_stats st;

	pgpool_stats(a->pool, &st);
	return st.connected > 0;
}

struct dwapply *dwapply_new(struct event_base *base, const struct dwapply_opts *o, char *err,
			    size_t errlen)
{
	struct dwapply *a = calloc(1, sizeof(*a));
	struct pgpool_opts po = {0};

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->base = base;
	a->o = *o;
	a->conninfo = strdup(o->conninfo);
	a->mongo_uri = strdup(o->mongo_uri ? o->mongo_uri : "");
	a->o.conninfo = a->conninfo;
	a->o.mongo_uri = a->mongo_uri;
	if (!a->o.batch_max)
		a->o.batch_max = 500;
	TAILQ_INIT(&a->queue);
	TAILQ_INIT(&a->inflight);
	po.batch_timeout_ms = o->timeout_ms;
	po.max_queued = 4096;
	a->kick = event_new(base, -1, 0, kick_cb, a);
	if (!a->conninfo || !a->mongo_uri || !a->kick)
		goto fail;
	a->pool = pgpool_new(base, a->conninfo, o->pool_size ? o->pool_size : 4, &po, err, errlen);
	if (!a->pool)
		goto fail;
	return a;
fail:
	if (!err[0])
		snprintf(err, errlen, "out of memory");
	dwapply_free(a);
	return NULL;
}

void dwapply_free(struct dwapply *a)
{
	struct dwentry *e;

	if (!a)
		return;
	if (a->pool)
		pgpool_free(a->pool);    /* fails in-flight units: callbacks run */
	while ((e = TAILQ_FIRST(&a->queue))) {
		TAILQ_REMOVE(&a->queue, e, link);
		a->o.done(e, DWAPPLY_TRANSIENT, "shutting down", a->o.arg);
	}
	if (a->kick)
		event_free(a->kick);
	if (a->mongo)
		mongoc_client_destroy(a->mongo);
	if (a->ddl)
		PQfinish(a->ddl);
	for (size_t i = 0; i < a->nknown; i++)
		free(a->known[i]);
	free(a->known);
	for (size_t i = 0; i < a->nhorizons; i++)
		free(a->horizons[i].key);
	free(a->conninfo);
	free(a->mongo_uri);
	free(a);
}
