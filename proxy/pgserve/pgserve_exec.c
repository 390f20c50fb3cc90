/*
 * pgserve_exec.c - compute a served write inside its unit (pgserve.h):
 * the statement loop, inserts, and the steps statements share (SELECT,
 * candidates, writeErrors).  Update / delete / findAndModify statements:
 * pgserve_stmt.c.
 *
 * Statements run in order; each one that must read PostgreSQL submits a
 * SELECT and returns DWOP_WAIT, and the SELECT's callback re-enters the
 * loop.  Changes go through dwstore_put / dwstore_delete, so they land in
 * the unit's overlay (later statements see them) and in its one write
 * batch.  Counts and writeErrors accumulate in s->run.
 *
 *   phase PH_START     validate the statement, submit its SELECT
 *   phase PH_ROWS      candidates came back: match, update / delete
 *   phase PH_ID_CHECK  an upsert's _id: is it taken by a row the filter missed?
 */
#include "pgserve_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"
#include "log.h"
#include "match.h"
#include "metrics.h"
#include "opmsg.h"
#include "pgpool.h"
#include "rowstore.h"
#include "update.h"

struct sel {
	struct dwunit *u;
};

static enum dwop_step run_stmts(struct dwunit *u, bool async);

static struct pgserve *serve_of(const struct dwunit *u)
{
	return TAILQ_FIRST(&u->entries)->serve;
}

const char *pgserve_tenant(const struct dwunit *u)
{
	return TAILQ_FIRST(&u->entries)->tenant;
}

void pgserve_run_free(struct pgserve_run *r)
{
	if (!r->started)
		return;
	bson_destroy(&r->upserted);
	bson_destroy(&r->errors);
	bson_destroy(&r->found);
	bson_destroy(&r->fam);
	if (r->have_upsert_id)
		bson_value_destroy(&r->upsert_id);
	r->started = false;
}

void pgserve_run_reset(struct pgserve *s)
{
	pgserve_run_free(&s->run);
	memset(&s->run, 0, sizeof(s->run));
}

/* The command document inside the entry ({k:"s", ..., cmd}). */
static bool cmd_view(const struct dwunit *u, bson_t *cmd)
{
	bson_iter_t it;
	uint32_t len;
	const uint8_t *data;

	if (!bson_iter_init_find(&it, &TAILQ_FIRST(&u->entries)->op, "cmd") ||
	    !BSON_ITER_HOLDS_DOCUMENT(&it))
		return false;
	bson_iter_document(&it, &len, &data);
	return bson_init_static(cmd, data, len);
}

bool pgserve_sub_doc(const bson_t *parent, const char *key, bson_t *out)
{
	bson_iter_t it;
	uint32_t len;
	const uint8_t *data;

	if (!bson_iter_init_find(&it, parent, key))
		return false;
	if (BSON_ITER_HOLDS_DOCUMENT(&it))
		bson_iter_document(&it, &len, &data);
	else if (BSON_ITER_HOLDS_ARRAY(&it))
		bson_iter_array(&it, &len, &data);
	else
		return false;
	return bson_init_static(out, data, len);
}

bool pgserve_flag(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, doc, key) && bson_iter_as_bool(&it);
}

/* ---- outcomes of one statement ---- */

void pgserve_stmt_error(struct pgserve *s, int32_t code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->cmd == DWS_FAM) {
		s->run.fam_error = true;
		bson_destroy(&s->run.fam);
		opmsg_error_doc(&s->run.fam, code, pgserve_code_name(code), msg);
	} else {
		pgserve_error_append(&s->run.errors, &s->run.nerrors, s->run.i, code, msg);
	}
	if (s->ordered || s->cmd == DWS_FAM)
		s->run.stop = true;
}

void pgserve_dup_key(struct pgserve *s, const bson_value_t *id)
{
	bson_t k = BSON_INITIALIZER;
	char *js;

	bson_append_value(&k, "_id", 3, id);
	js = bson_as_relaxed_extended_json(&k, NULL);
	pgserve_stmt_error(s, CODE_DUPLICATE_KEY,
		   "E11000 duplicate key error collection: %s.%s index: _id_ dup key: %s", s->db,
		   s->coll, js ? js : "{}");
	bson_free(js);
	bson_destroy(&k);
}

/* A row PostgreSQL cannot hold (mapped type, size): a writeError, and the
 * unit goes on with the other statements. */
bool pgserve_put(struct dwunit *u, struct pgserve *s, const bson_t *doc)
{
	if (dwstore_put(u, s->run.mc, pgserve_tenant(u), doc))
		return true;
	if (dwunit_recover_permanent(u))
		pgserve_stmt_error(s, CODE_VALIDATION, "%s", u->why);
	return false;
}

static int32_t update_error_code(const char *msg)
{
	if (strstr(msg, "immutable field"))
		return CODE_IMMUTABLE_FIELD;
	if (strstr(msg, "Unknown modifier") || strstr(msg, "Modifiers operate"))
		return CODE_FAILED_TO_PARSE;
	return CODE_BAD_VALUE;
}

void pgserve_update_failed(struct pgserve *s, enum update_status st, const bson_error_t *err)
{
	if (st == UPDATE_RESYNC)
		pgserve_stmt_error(s, CODE_NOT_IMPLEMENTED,
			   "tandem cannot compute this update when PostgreSQL answers writes: %s",
			   err->message);
	else
		pgserve_stmt_error(s, update_error_code(err->message), "%s", err->message);
}

/* ---- SELECT ---- */

static void select_done(const struct pgpool_result *res, void *arg)
{
	struct sel *sl = arg;
	struct dwunit *u = sl->u;
	struct pgserve *s = serve_of(u);

	free(sl);
	dwunit_select_done(u);
	if (res->cls != PGPOOL_OK) {
		dwunit_fail(u, "reading candidates: %s", res->message);
		(void)run_stmts(u, true);
		return;
	}
	s->run.rows = res->rows;      /* run_stmts clears it: u and s may be gone after */
	(void)run_stmts(u, true);
}

bool pgserve_select(struct dwunit *u, const bson_t *filter)
{
	struct pgserve *s = serve_of(u);
	struct sqllist l;
	bson_error_t err;
	struct pgbatch *b = NULL;
	struct sel *sl = calloc(1, sizeof(*sl));

	sqllist_init(&l);
	if (!sl || !rowstore_select(s->run.mc, pgserve_tenant(u), filter, &l, &err) ||
	    !(b = pgbatch_new()) ||
	    !pgbatch_add(b, l.stmts[0].sql, l.stmts[0].nparams, (const char *const *)l.stmts[0].params)) {
		dwunit_fail(u, "building the SELECT for %s", s->coll);
		goto fail;
	}
	pgbatch_keep_rows(b, 0);
	sl->u = u;
	if (!dwunit_select(u, b, select_done, sl)) {
		dwunit_fail(u, "PostgreSQL pool full or closing");
		goto fail;
	}
	sqllist_free(&l);
	return true;
fail:
	pgbatch_free(b);
	sqllist_free(&l);
	free(sl);
	return false;
}

/* Candidates of the SELECT whose callback is running; NULL fails u. */
struct dwcand *pgserve_candidates(struct dwunit *u, struct pgserve *s, const bson_t *filter,
				 size_t *nmatch)
{
	bool unsupported;
	struct dwcand *c = dwop_candidates(u, s->run.mc, s->coll, filter, s->run.rows, nmatch,
					   &unsupported);

	if (!c && !dwunit_failed(u))
		dwunit_fail(u, "out of memory");
	if (c && unsupported) {
		pgserve_stmt_error(s, CODE_NOT_IMPLEMENTED, "tandem cannot evaluate this filter on every document");
		dwcands_free(c, *nmatch);
		return NULL;
	}
	return c;
}

/* A filter tandem must be able to evaluate exactly. */
bool pgserve_filter_ok(struct pgserve *s, const bson_t *q)
{
	bson_error_t err;

	switch (match_check(q, &err)) {
	case MATCH_YES:
	case MATCH_NO:
		return true;
	case MATCH_ERROR:
		pgserve_stmt_error(s, CODE_BAD_VALUE, "%s", err.message);
		return false;
	default:
		pgserve_stmt_error(s, CODE_NOT_IMPLEMENTED,
			   "tandem cannot evaluate this filter when PostgreSQL answers writes: %s",
			   err.message);
		return false;
	}
}

static bool found_has(const bson_t *found, const bson_value_t *id)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, found))
		return false;
	while (bson_iter_next(&it))
		if (bsoncmp_value(bson_iter_value(&it), id) == 0 &&
		    bson_iter_value(&it)->value_type == id->value_type)
			return true;
	return false;
}

static void array_push(bson_t *arr, const bson_value_t *v)
{
	char key[16];
	const char *k;

	bson_uint32_to_string(bson_count_keys(arr), &k, key, sizeof(key));
	bson_append_value(arr, k, -1, v);
}

/* Whether a document with this _id exists for the statement: the overlay
 * first (the command's own changes), then what PostgreSQL returned. */
static bool id_taken(const struct dwunit *u, const struct pgserve *s, const bson_t *found,
		     const bson_value_t *id)
{
	const bson_t *doc;
	int ov = dwoverlay_get(u, pgserve_tenant(u), s->coll, id, &doc);

	return ov >= 0 ? ov == 1 : found_has(found, id);
}

/* ---- insert ---- */

static bool insert_ids_filter(const bson_t *cmd, bson_t *filter)
{
	bson_iter_t it, docs, d;
	bson_t in, ops;

	bson_init(filter);
	BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &ops);
	BSON_APPEND_ARRAY_BEGIN(&ops, "$in", &in);
	if (bson_iter_init_find(&it, cmd, "documents") && bson_iter_recurse(&it, &docs)) {
		while (bson_iter_next(&docs))
			if (BSON_ITER_HOLDS_DOCUMENT(&docs) && bson_iter_recurse(&docs, &d) &&
			    bson_iter_find(&d, "_id") && !BSON_ITER_HOLDS_ARRAY(&d) &&
			    !BSON_ITER_HOLDS_REGEX(&d))
				array_push(&in, bson_iter_value(&d));
	}
	bson_append_array_end(&ops, &in);
	bson_append_document_end(filter, &ops);
	return true;
}

static enum dwop_step load_found(struct dwunit *u, struct pgserve *s, const bson_t *cmd)
{
	struct pgserve_run *r = &s->run;
	bson_t filter, empty = BSON_INITIALIZER;
	size_t n;

	if (r->phase == PH_START) {
		insert_ids_filter(cmd, &filter);
		bool ok = pgserve_select(u, &filter);
		bson_destroy(&filter);
		r->phase = PH_ROWS;
		return ok ? DWOP_WAIT : DWOP_FAILED;
	}
	struct dwcand *c = pgserve_candidates(u, s, &empty, &n);
	for (size_t i = 0; c && i < n; i++) {
		bson_iter_t it;
		if (bson_iter_init_find(&it, c[i].doc, "_id"))
			array_push(&r->found, bson_iter_value(&it));
	}
	if (c)
		dwcands_free(c, n);
	r->found_loaded = true;
	r->phase = PH_START;
	return dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
}

static enum dwop_step stmt_insert(struct dwunit *u, struct pgserve *s, const bson_t *cmd,
				  const bson_iter_t *stmt)
{
	struct pgserve_run *r = &s->run;
	bson_t doc, withid;
	uint32_t len;
	const uint8_t *data;
	bson_iter_t it;

	if (!r->found_loaded) {
		enum dwop_step st = load_found(u, s, cmd);
		if (st != DWOP_DONE)
			return st;
	}
	if (!BSON_ITER_HOLDS_DOCUMENT(stmt)) {
		pgserve_stmt_error(s, CODE_BAD_VALUE, "documents must be objects");
		return DWOP_DONE;
	}
	bson_iter_document(stmt, &len, &data);
	if (!bson_init_static(&doc, data, len)) {
		pgserve_stmt_error(s, CODE_BAD_VALUE, "invalid document");
		return DWOP_DONE;
	}
	if (!bson_iter_init_find(&it, &doc, "_id")) {
		bson_oid_t oid;
		bson_oid_init(&oid, NULL);
		bson_init(&withid);
		BSON_APPEND_OID(&withid, "_id", &oid);
		bson_concat(&withid, &doc);
		if (pgserve_put(u, s, &withid))
			r->n++;
		bson_destroy(&withid);
		return dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
	}
	if (BSON_ITER_HOLDS_ARRAY(&it) || BSON_ITER_HOLDS_REGEX(&it)) {
		pgserve_stmt_error(s, CODE_BAD_VALUE, "can't use an %s for _id",
			   BSON_ITER_HOLDS_ARRAY(&it) ? "array" : "regex");
		return DWOP_DONE;
	}
	if (id_taken(u, s, &r->found, bson_iter_value(&it))) {
		pgserve_dup_key(s, bson_iter_value(&it));
		return DWOP_DONE;
	}
	if (pgserve_put(u, s, &doc))
		r->n++;
	return dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
}

/* ---- the statement loop ---- */

static enum dwop_step stmt_step(struct dwunit *u, struct pgserve *s, const bson_t *cmd)
{
	struct pgserve_run *r = &s->run;
	bson_t st;
	uint32_t len;
	const uint8_t *data;

	if (s->cmd == DWS_INSERT)
		return stmt_insert(u, s, cmd, &r->it);
	if (s->cmd == DWS_FAM)
		return pgserve_stmt_run(u, s, cmd);
	if (!BSON_ITER_HOLDS_DOCUMENT(&r->it)) {
		pgserve_stmt_error(s, CODE_BAD_VALUE, "statements must be objects");
		return DWOP_DONE;
	}
	bson_iter_document(&r->it, &len, &data);
	if (!bson_init_static(&st, data, len)) {
		pgserve_stmt_error(s, CODE_BAD_VALUE, "invalid statement");
		return DWOP_DONE;
	}
	return pgserve_stmt_run(u, s, &st);
}

/* Position r->it on statement 0 (insert / update / delete arrays). */
static bool first_stmt(struct pgserve *s, const bson_t *cmd)
{
	static const char *const arrays[] = {"documents", "updates", "deletes"};
	bson_iter_t it;

	if (s->cmd == DWS_FAM)
		return true;
	return bson_iter_init_find(&it, cmd, arrays[s->cmd]) && bson_iter_recurse(&it, &s->run.it) &&
	       bson_iter_next(&s->run.it);
}

static bool next_stmt(struct pgserve *s)
{
	struct pgserve_run *r = &s->run;

	r->i++;
	r->phase = PH_START;
	if (r->have_upsert_id) {
		bson_value_destroy(&r->upsert_id);
		r->have_upsert_id = false;
	}
	return s->cmd != DWS_FAM && bson_iter_next(&r->it);
}

/* Compute statements until one waits for PostgreSQL or all are done.
 * async: called from a SELECT's callback (the unit continues from here). */
static enum dwop_step run_stmts(struct dwunit *u, bool async)
{
	struct pgserve *s = serve_of(u);
	struct pgserve_run *r = &s->run;
	bson_t cmd;
	bool more = cmd_view(u, &cmd);

	if (!more)
		dwunit_fail(u, "served write without its command");
	while (more && !dwunit_failed(u) && !r->stop && r->i < s->nstmts && r->i < s->stop_at) {
		if (s->excluded[r->i]) {
			more = next_stmt(s);
			continue;
		}
		u->serve_stmt = r->i;
		enum dwop_step st = stmt_step(u, s, &cmd);
		if (st == DWOP_WAIT) {
			r->rows = NULL;        /* valid during its callback only */
			return DWOP_WAIT;
		}
		if (st == DWOP_FAILED || dwunit_failed(u))
			break;
		more = next_stmt(s);
	}
	r->rows = NULL;
	if (!dwunit_failed(u))
		pgserve_build_reply(s, u);
	enum dwop_step ret = dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
	if (async)
		dwunit_resume(u);      /* may finish the unit: u and s are freed */
	return ret;
}

enum dwop_step pgserve_start(struct dwunit *u)
{
	struct pgserve *s = serve_of(u);
	bson_t cmd;

	pgserve_run_reset(s);
	struct pgserve_run *r = &s->run;
	bson_init(&r->upserted);
	bson_init(&r->errors);
	bson_init(&r->found);
	bson_init(&r->fam);
	r->started = true;
	if (!(r->mc = dwstore_collection(u, s->coll, &r->scratch)))
		return DWOP_FAILED;
	if (!cmd_view(u, &cmd) || !first_stmt(s, &cmd)) {
		pgserve_build_reply(s, u);   /* no statements: {n: 0} */
		return DWOP_DONE;
	}
	return run_stmts(u, false);
}
