/*
 * pgserve_stmt.c - update, delete and findAndModify statements of a served
 * write (pgserve.h): validation as mongod, candidates, the first match in
 * natural (or `sort`) order for single-document statements, updates all
 * or nothing per statement, upserts with their _id, findAndModify's reply.
 */
#include "pgserve_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "clock.h"
#include "sortspec.h"
#include "update.h"

/* ---- update / delete / findAndModify ---- */

/* One statement's fields (views into the command). */
struct stmtv {
	bson_t q, af, sort, fields;
	bool has_af, has_sort, has_fields;
	bson_value_t u;           /* EOD when absent */
	bool multi, upsert, remove, want_new;
	int32_t limit;
};

static void stmt_parse(struct pgserve *s, const bson_t *st, struct stmtv *v)
{
	static const uint8_t empty_doc[5] = {5, 0, 0, 0, 0};
	bool fam = s->cmd == DWS_FAM;
	bson_iter_t it;

	memset(v, 0, sizeof(*v));
	if (!pgserve_sub_doc(st, fam ? "query" : "q", &v->q))
		bson_init_static(&v->q, empty_doc, 5);
	v->has_af = pgserve_sub_doc(st, "arrayFilters", &v->af);
	v->has_sort = pgserve_sub_doc(st, "sort", &v->sort) && !bson_empty(&v->sort);
	v->has_fields = pgserve_sub_doc(st, "fields", &v->fields) && !bson_empty(&v->fields);
	if (bson_iter_init_find(&it, st, fam ? "update" : "u"))
		v->u = *bson_iter_value(&it);
	v->multi = pgserve_flag(st, "multi");
	v->upsert = pgserve_flag(st, "upsert");
	v->remove = pgserve_flag(st, "remove");
	v->want_new = pgserve_flag(st, "new");
	if (bson_iter_init_find(&it, st, "limit") && BSON_ITER_HOLDS_NUMBER(&it))
		v->limit = (int32_t)bson_iter_as_int64(&it);
}

static bool has_update(const struct stmtv *v)
{
	return v->u.value_type == BSON_TYPE_DOCUMENT || v->u.value_type == BSON_TYPE_ARRAY;
}

static bool stmt_valid(struct pgserve *s, const struct stmtv *v)
{
	if (s->cmd == DWS_FAM) {
		if (v->remove && has_update(v))
			return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "Cannot specify both an update and remove=true"), false;
		if (!v->remove && !has_update(v))
			return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "Either an update or remove=true must be specified"), false;
		if (v->remove && v->want_new)
			return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document"), false;
		if (v->remove && v->upsert)
			return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "Cannot specify both upsert=true and remove=true"), false;
	}
	if (s->cmd == DWS_DELETE && v->limit != 0 && v->limit != 1)
		return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "The limit field in delete objects must be 0 or 1. Got %d", v->limit), false;
	if (s->cmd == DWS_UPDATE || (s->cmd == DWS_FAM && !v->remove)) {
		if (!has_update(v))
			return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "the update must be a document or a pipeline"), false;
		enum update_kind k = update_kind_of(&v->u);
		if (k == UPDATE_KIND_INVALID)
			return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "Update document requires atomic operators"), false;
		if (k == UPDATE_KIND_PIPELINE)
			return pgserve_stmt_error(s, CODE_NOT_IMPLEMENTED, "tandem cannot compute a pipeline update when PostgreSQL answers writes"), false;
		if (k == UPDATE_KIND_REPLACEMENT && v->multi)
			return pgserve_stmt_error(s, CODE_FAILED_TO_PARSE, "multi update is not supported for replacement-style update"), false;
	}
	return pgserve_filter_ok(s, &v->q);
}

/* The _id an upsert would insert: the replacement's, the filter's
 * equality, or a new ObjectId.  *check: it may be taken already. */
static bool upsert_pick_id(struct pgserve *s, const struct stmtv *v, bool *check)
{
	struct pgserve_run *r = &s->run;
	bool repl = update_kind_of(&v->u) == UPDATE_KIND_REPLACEMENT;
	bson_t seed, u;
	bson_error_t err;
	bson_iter_t it;

	*check = true;
	if (repl && bson_init_static(&u, v->u.value.v_doc.data, v->u.value.v_doc.data_len) &&
	    bson_iter_init_find(&it, &u, "_id")) {
		bson_value_copy(bson_iter_value(&it), &r->upsert_id);
		r->have_upsert_id = true;
		return true;
	}
	enum update_status st = update_upsert_seed(&v->q, NULL, repl, &seed, &err);
	if (st != UPDATE_OK && st != UPDATE_NOOP) {
		bson_destroy(&seed);
		pgserve_update_failed(s, st, &err);
		return false;
	}
	if (bson_iter_init_find(&it, &seed, "_id")) {
		bson_value_copy(bson_iter_value(&it), &r->upsert_id);
	} else {
		r->upsert_id.value_type = BSON_TYPE_OID;
		bson_oid_init(&r->upsert_id.value.v_oid, NULL);
		*check = false;
	}
	r->have_upsert_id = true;
	bson_destroy(&seed);
	return true;
}

/* Insert the upsert's document; *post (initialised here when not NULL)
 * gets it. */
static bool upsert_insert(struct dwunit *u, struct pgserve *s, const struct stmtv *v, bson_t *post)
{
	struct pgserve_run *r = &s->run;
	bool repl = update_kind_of(&v->u) == UPDATE_KIND_REPLACEMENT;
	bson_t seed, out;
	bson_error_t err;
	/* tandem is the server: $currentDate takes its clock */
	struct update_args args = {&v->u, v->has_af ? &v->af : NULL, NULL, true,
				   (int64_t)clock_wall_ms()};
	bool ok = false;

	if (post)
		bson_init(post);
	enum update_status st = update_upsert_seed(&v->q, &r->upsert_id, repl, &seed, &err);
	if (st == UPDATE_OK || st == UPDATE_NOOP) {
		st = update_apply(&seed, &args, &out, &err);
		if (st == UPDATE_OK || st == UPDATE_NOOP) {
			ok = pgserve_put(u, s, &out);
			if (ok && post)
				bson_concat(post, &out);
		} else {
			pgserve_update_failed(s, st, &err);
		}
		bson_destroy(&out);
	} else {
		pgserve_update_failed(s, st, &err);
	}
	bson_destroy(&seed);
	if (ok && s->cmd != DWS_FAM) {
		bson_t up;
		char key[16];
		const char *k;
		bson_uint32_to_string(r->nupserted++, &k, key, sizeof(key));
		BSON_APPEND_DOCUMENT_BEGIN(&r->upserted, k, &up);
		BSON_APPEND_INT32(&up, "index", (int32_t)r->i);
		BSON_APPEND_VALUE(&up, "_id", &r->upsert_id);
		bson_append_document_end(&r->upserted, &up);
		r->n++;
	}
	return ok;
}

/* Update c[0..k) all or nothing; *modified counts the changed ones.  The
 * first target's new document goes to *post when post is not NULL. */
static bool apply_updates(struct dwunit *u, struct pgserve *s, const struct stmtv *v,
			  struct dwcand *c, size_t k, size_t *modified, bson_t *post)
{
	bson_t *outs = calloc(k + 1, sizeof(*outs));
	enum update_status *sts = calloc(k + 1, sizeof(*sts));
	bson_error_t err;
	size_t done = 0;
	bool ok = outs && sts;

	*modified = 0;
	for (; ok && done < k; done++) {
		struct update_args args = {&v->u, v->has_af ? &v->af : NULL, &c[done].m, false,
					   (int64_t)clock_wall_ms()};
		sts[done] = update_apply(c[done].doc, &args, &outs[done], &err);
		if (sts[done] != UPDATE_OK && sts[done] != UPDATE_NOOP) {
			pgserve_update_failed(s, sts[done], &err);
			ok = false;
		}
	}
	for (size_t i = 0; ok && i < k; i++) {
		if (sts[i] == UPDATE_OK && !(ok = pgserve_put(u, s, &outs[i])))
			break;
		*modified += sts[i] == UPDATE_OK;
	}
	if (ok && post && k > 0)
		bson_concat(post, &outs[0]);
	for (size_t i = 0; outs && i < done; i++)
		bson_destroy(&outs[i]);
	free(outs);
	free(sts);
	if (!outs || !sts)
		dwunit_fail(u, "out of memory");
	return ok;
}

/* findAndModify's reply: {lastErrorObject: {n, [updatedExisting],
 * [upserted]}, value}.  doc NULL: value null. */
static void fam_reply(struct pgserve *s, const struct stmtv *v, int32_t n, bool updated_existing,
		      const bson_t *doc, const struct match_result *m)
{
	struct pgserve_run *r = &s->run;
	bson_t leo, out;
	bson_error_t err;

	bson_reinit(&r->fam);
	BSON_APPEND_DOCUMENT_BEGIN(&r->fam, "lastErrorObject", &leo);
	BSON_APPEND_INT32(&leo, "n", n);
	if (!v->remove) {
		BSON_APPEND_BOOL(&leo, "updatedExisting", updated_existing);
		if (n == 1 && !updated_existing)
			BSON_APPEND_VALUE(&leo, "upserted", &r->upsert_id);
	}
	bson_append_document_end(&r->fam, &leo);
	if (!doc) {
		BSON_APPEND_NULL(&r->fam, "value");
		return;
	}
	if (!v->has_fields) {
		BSON_APPEND_DOCUMENT(&r->fam, "value", doc);
		return;
	}
	if (!pgserve_project(&v->fields, &v->q, doc, m, &out, &err)) {
		bson_destroy(&out);
		pgserve_stmt_error(s, (int32_t)err.code, "%s", err.message);
		return;
	}
	BSON_APPEND_DOCUMENT(&r->fam, "value", &out);
	bson_destroy(&out);
}

/* The target of a single-document statement: the first match, or with a
 * sort the first in sort order (ties: the first in row order). */
static ssize_t pick_one(struct pgserve *s, const struct stmtv *v, struct dwcand *c, size_t n)
{
	struct sortspec *ss = NULL;
	bson_error_t err;
	size_t best = 0;

	if (n == 0)
		return -1;
	if (!v->has_sort)
		return 0;
	if (!sortspec_compile(&v->sort, &ss, &err)) {
		pgserve_stmt_error(s, err.code == SORTSPEC_CODE_UNSUPPORTED ? CODE_NOT_IMPLEMENTED : CODE_BAD_VALUE,
			   "%s", err.message);
		return -2;
	}
	for (size_t i = 1; i < n; i++)
		if (sortspec_cmp(ss, c[i].doc, c[best].doc) < 0)
			best = i;
	sortspec_free(ss);
	return (ssize_t)best;
}

static enum dwop_step upsert_now(struct dwunit *u, struct pgserve *s, const struct stmtv *v)
{
	bson_t post;

	if (upsert_insert(u, s, v, &post) && s->cmd == DWS_FAM)
		fam_reply(s, v, 1, false, v->want_new ? &post : NULL, NULL);
	bson_destroy(&post);
	return dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
}

/* The upsert's _id came from the filter: a row the filter did not match
 * may hold it (MongoDB answers E11000 then). */
static enum dwop_step id_checked(struct dwunit *u, struct pgserve *s, const struct stmtv *v)
{
	bson_t f = BSON_INITIALIZER;
	size_t n;

	BSON_APPEND_VALUE(&f, "_id", &s->run.upsert_id);
	struct dwcand *c = pgserve_candidates(u, s, &f, &n);
	bson_destroy(&f);
	if (!c)
		return dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
	dwcands_free(c, n);
	if (n > 0) {
		pgserve_dup_key(s, &s->run.upsert_id);
		return DWOP_DONE;
	}
	return upsert_now(u, s, v);
}

/* The rows of the statement's SELECT are in: change them. */
static enum dwop_step rows_in(struct dwunit *u, struct pgserve *s, const struct stmtv *v)
{
	struct pgserve_run *r = &s->run;
	size_t nmatch, k, modified = 0;
	struct dwcand *c = pgserve_candidates(u, s, &v->q, &nmatch);
	bool single = s->cmd == DWS_FAM || (s->cmd == DWS_UPDATE ? !v->multi : v->limit == 1);

	if (!c)
		return dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
	ssize_t first = single ? pick_one(s, v, c, nmatch) : 0;
	if (first < -1) {
		dwcands_free(c, nmatch);
		return DWOP_DONE;
	}
	struct dwcand *t = single && first >= 0 ? &c[first] : c;
	k = single ? (first >= 0) : nmatch;
	if (k == 0 && v->upsert && !v->remove) {
		bool check;
		dwcands_free(c, nmatch);
		if (!upsert_pick_id(s, v, &check))
			return DWOP_DONE;
		if (!check)
			return upsert_now(u, s, v);
		bson_t f = BSON_INITIALIZER;
		BSON_APPEND_VALUE(&f, "_id", &r->upsert_id);
		bool ok = pgserve_select(u, &f);
		bson_destroy(&f);
		r->phase = PH_ID_CHECK;
		return ok ? DWOP_WAIT : DWOP_FAILED;
	}
	if (s->cmd == DWS_DELETE || (s->cmd == DWS_FAM && v->remove)) {
		for (size_t i = 0; i < k && !dwunit_failed(u); i++) {
			bson_iter_t it;
			if (bson_iter_init_find(&it, t[i].doc, "_id"))
				(void)dwstore_delete(u, r->mc, pgserve_tenant(u), bson_iter_value(&it));
		}
		r->n += (int64_t)k;
		if (s->cmd == DWS_FAM)
			fam_reply(s, v, (int32_t)k, false, k ? t->doc : NULL, k ? &t->m : NULL);
	} else {
		bson_t post;
		bson_init(&post);
		if (apply_updates(u, s, v, t, k, &modified, &post)) {
			r->n += (int64_t)k;
			r->nmod += (int64_t)modified;
			if (s->cmd == DWS_FAM)
				fam_reply(s, v, (int32_t)k, k > 0, k == 0 ? NULL : v->want_new ? &post : t->doc,
					  k ? &t->m : NULL);
		}
		bson_destroy(&post);
	}
	dwcands_free(c, nmatch);
	return dwunit_failed(u) ? DWOP_FAILED : DWOP_DONE;
}

/* One update / delete statement, or findAndModify (st = the command). */
enum dwop_step pgserve_stmt_run(struct dwunit *u, struct pgserve *s, const bson_t *st)
{
	struct stmtv v;

	stmt_parse(s, st, &v);
	switch (s->run.phase) {
	case PH_START:
		if (!stmt_valid(s, &v))
			return DWOP_DONE;
		s->run.phase = PH_ROWS;
		return pgserve_select(u, &v.q) ? DWOP_WAIT : DWOP_FAILED;
	case PH_ROWS:
		return rows_in(u, s, &v);
	default:
		return id_checked(u, s, &v);
	}
}
