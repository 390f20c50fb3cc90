/*
 * pgread.c - planning a read, building each collection's SELECT, decoding
 * the rows (pgread.h).  The computation over the decoded sets is in
 * pgread_reply.c.
 */
#include "pgread.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgpool.h"
#include "rowstore.h"
#include "sqllist.h"

void pgread_init(struct pgread *r)
{
	memset(r, 0, sizeof(*r));
	bson_init(&r->filter);
}

void pgread_free(struct pgread *r)
{
	if (r->have_plan)
		readexec_plan_free(&r->plan);
	r->have_plan = false;
	bson_destroy(&r->filter);
	for (size_t i = 0; i < PGREAD_MAX_COLLS; i++) {
		for (size_t j = 0; j < r->sets[i].n; j++)
			bson_destroy(r->sets[i].docs[j]);
		free(r->sets[i].docs);
		r->sets[i] = (struct pgread_set){0};
	}
	bson_init(&r->filter);   /* safe to free twice */
}

const char *pgread_plan(struct pgread *r, const bson_t *cmd, const char *db, bson_error_t *err)
{
	if (!readexec_plan(cmd, db, &r->plan, err)) {
		readexec_plan_free(&r->plan);
		return "invalid_command";
	}
	r->have_plan = true;
	if (r->plan.skip_reason != READEXEC_SKIP_NONE)
		return readexec_skip_str(r->plan.skip_reason);
	r->colls[0] = r->plan.coll ? r->plan.coll : "";
	r->ncolls = 1;
	if (r->plan.kind != READEXEC_AGGREGATE) {
		bson_concat(&r->filter, &r->plan.filter);
		return NULL;
	}
	enum agg_status st = agg_check(&r->plan.pipeline, &r->agg, err);
	if (st == AGG_UNSUPPORTED)
		return r->agg.reason[0] ? r->agg.reason : "aggregate";
	if (st != AGG_OK)
		return "invalid_pipeline";
	bson_destroy(&r->filter);
	if (!agg_pushdown(&r->plan.pipeline, &r->filter))
		bson_init(&r->filter);
	for (size_t i = 0; i < r->agg.nlookups && r->ncolls < PGREAD_MAX_COLLS; i++)
		r->colls[r->ncolls++] = r->agg.lookups[i];
	/* Last, and the plan is complete: a caller serving the read may run it
	 * (mongod leaves that order unspecified too); a comparison may not. */
	return r->agg.unordered_arrays ? PGREAD_UNORDERED : NULL;
}

const struct mapping_collection *pgread_collection(const struct mapping *m, const char *coll,
						   struct mapping_collection *scratch)
{
	const struct mapping_collection *mc = mapping_find(m, coll);

	if (mc)
		return mc;
	mapping_default_collection(coll, scratch);
	return scratch;
}

struct pgbatch *pgread_select(const struct pgread *r, size_t i, const struct mapping *m,
			      const char *db)
{
	struct sqllist l;
	bson_error_t err;
	struct pgbatch *b = NULL;
	struct mapping_collection scratch;
	bson_t empty = BSON_INITIALIZER;
	const struct mapping_collection *mc = pgread_collection(m, r->colls[i], &scratch);

	sqllist_init(&l);
	if (!rowstore_select(mc, db, i == 0 ? &r->filter : &empty, &l, &err) ||
	    !(b = pgbatch_new()) ||
	    !pgbatch_add(b, l.stmts[0].sql, l.stmts[0].nparams, (const char *const *)l.stmts[0].params)) {
		sqllist_free(&l);
		pgbatch_free(b);
		return NULL;
	}
	sqllist_free(&l);
	pgbatch_keep_rows(b, 0);
	pgbatch_read_only(b);   /* no transaction; a prepared statement per SQL shape */
	return b;
}

/* Add one decoded row to a set. */
static bool set_push(struct pgread_set *s, bson_t *doc)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		bson_t **d = realloc(s->docs, cap * sizeof(*d));
		if (!d)
			return false;
		s->docs = d;
		s->cap = cap;
	}
	s->docs[s->n++] = doc;
	return true;
}

const char *pgread_decode(struct pgread *r, size_t i, const struct mapping *m,
			  const struct pg_result *rows)
{
	const PGresult *res = (const PGresult *)rows;
	struct mapping_collection scratch;
	const struct mapping_collection *mc = pgread_collection(m, r->colls[i], &scratch);
	int nrows = res ? PQntuples(res) : 0, ncols = res ? PQnfields(res) : 0;
	const char **vals = calloc((size_t)ncols + 1, sizeof(*vals));
	bson_error_t err;

	if (!vals)
		return "out_of_memory";
	for (int row = 0; row < nrows; row++) {
		bson_t doc, *copy;
		for (int c = 0; c < ncols; c++)
			vals[c] = PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
		if (!rowstore_decode(mc, ncols, vals, &doc, &err)) {
			bson_destroy(&doc);
			free(vals);
			return "undecodable_row";
		}
		copy = bson_copy(&doc);
		bson_destroy(&doc);
		if (!copy || !set_push(&r->sets[i], copy)) {
			if (copy)
				bson_destroy(copy);
			free(vals);
			return "out_of_memory";
		}
	}
	free(vals);
	return NULL;
}
