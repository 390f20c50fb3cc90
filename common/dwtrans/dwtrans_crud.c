/*
 * dwtrans_crud.c - the classic write commands insert / update / delete:
 * which statements succeeded, from the reply's writeErrors and upserted.
 *
 *   statement i is replayed  <=>  i not in writeErrors
 *                                 and (unordered or i < first error index)
 *
 * Every index the reply names must lie in [0, statements); upserted entries
 * must name distinct statements that have upsert:true and did not fail.
 * Otherwise the pair is refused (false): the reply cannot be trusted.
 */
#include "dwtrans_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dw_upsert {
	uint32_t index;
	bson_value_t id; /* points into the reply */
};

struct dw_results {
	uint32_t nstmts;
	uint32_t *errs; /* failed statement indexes, sorted, unique */
	uint32_t nerrs;
	struct dw_upsert *ups; /* sorted by index, unique */
	uint32_t nups;
	bool has_n;
	int64_t n; /* reply n */
};

static void dw_results_free(struct dw_results *r)
{
	free(r->errs);
	free(r->ups);
}

static int dw_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* An element's "index" field as a statement index < nstmts. */
static bool dw_index(const bson_t *elem, uint32_t nstmts, uint32_t *out)
{
	bson_iter_t it;
	int64_t v;

	if (!bson_iter_init_find(&it, elem, "index") || !dw_get_int(&it, &v) || v < 0 ||
	    v >= (int64_t)nstmts)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Open reply[key] as an array (absent or null: *present = false). */
static bool dw_reply_array(const bson_t *reply, const char *key, bson_t *arr, bool *present,
			   bson_error_t *err)
{
	bson_iter_t it;

	*present = bson_iter_init_find(&it, reply, key) && !BSON_ITER_HOLDS_NULL(&it);
	if (*present && (!BSON_ITER_HOLDS_ARRAY(&it) || !dw_sub(&it, arr)))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "reply %s must be an array", key);
	return true;
}

static bool dw_parse_errors(const bson_t *reply, struct dw_results *r, bson_error_t *err)
{
	bson_t arr, elem;
	bson_iter_t it;
	bool present;

	if (!dw_reply_array(reply, "writeErrors", &arr, &present, err))
		return false;
	if (!present)
		return true;
	r->errs = malloc(sizeof *r->errs * (bson_count_keys(&arr) + 1));
	if (!r->errs || !bson_iter_init(&it, &arr))
		return dw_fail(err, DWTRANS_ERR_SIZE, "out of memory");
	while (bson_iter_next(&it)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !dw_sub(&it, &elem) ||
		    !dw_index(&elem, r->nstmts, &r->errs[r->nerrs]))
			return dw_fail(err, DWTRANS_ERR_REPLY,
				       "writeErrors[%u]: index missing or outside the %u statements",
				       r->nerrs, r->nstmts);
		r->nerrs++;
	}
	qsort(r->errs, r->nerrs, sizeof *r->errs, dw_cmp_u32);
	uint32_t w = 0;
	for (uint32_t i = 0; i < r->nerrs; i++)
		if (w == 0 || r->errs[w - 1] != r->errs[i])
			r->errs[w++] = r->errs[i];
	r->nerrs = w;
	return true;
}

static bool dw_parse_upserted(const bson_t *reply, struct dw_results *r, bson_error_t *err)
{
	bson_t arr, elem;
	bson_iter_t it, id;
	bool present;

	if (!dw_reply_array(reply, "upserted", &arr, &present, err))
		return false;
	if (!present)
		return true;
	r->ups = malloc(sizeof *r->ups * (bson_count_keys(&arr) + 1));
	if (!r->ups || !bson_iter_init(&it, &arr))
		return dw_fail(err, DWTRANS_ERR_SIZE, "out of memory");
	while (bson_iter_next(&it)) {
		struct dw_upsert *u = &r->ups[r->nups];

		if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !dw_sub(&it, &elem) ||
		    !dw_index(&elem, r->nstmts, &u->index) ||
		    !bson_iter_init_find(&id, &elem, "_id") || !dw_id_ok(&id))
			return dw_fail(err, DWTRANS_ERR_REPLY,
				       "upserted[%u]: index outside the %u statements or no valid _id",
				       r->nups, r->nstmts);
		u->id = *bson_iter_value(&id);
		r->nups++;
	}
	/* index is the first member, so dw_cmp_u32 orders (and bsearch finds) entries */
	qsort(r->ups, r->nups, sizeof *r->ups, dw_cmp_u32);
	for (uint32_t i = 1; i < r->nups; i++)
		if (r->ups[i - 1].index == r->ups[i].index)
			return dw_fail(err, DWTRANS_ERR_REPLY, "upserted names statement %u twice",
				       r->ups[i].index);
	return true;
}

static bool dw_results_parse(const bson_t *reply, uint32_t nstmts, bool upserts,
			     struct dw_results *r, bson_error_t *err)
{
	bson_iter_t it;

	memset(r, 0, sizeof *r);
	r->nstmts = nstmts;
	if (bson_iter_init_find(&it, reply, "n")) {
		if (!dw_get_int(&it, &r->n))
			return dw_fail(err, DWTRANS_ERR_SHAPE, "reply n must be an integer");
		r->has_n = true;
	}
	if (!dw_parse_errors(reply, r, err))
		return false;
	return !upserts || dw_parse_upserted(reply, r, err);
}

static bool dw_failed(const struct dw_results *r, uint32_t i)
{
	return r->nerrs && bsearch(&i, r->errs, r->nerrs, sizeof *r->errs, dw_cmp_u32) != NULL;
}

/* True when an ordered command stopped before statement i. */
static bool dw_stopped(const struct dw_results *r, bool ordered, uint32_t i)
{
	return ordered && r->nerrs && i > r->errs[0];
}

static const bson_value_t *dw_upserted(const struct dw_results *r, uint32_t i)
{
	const struct dw_upsert *u = r->nups ? bsearch(&i, r->ups, r->nups, sizeof *r->ups, dw_cmp_u32)
					    : NULL;
	return u ? &u->id : NULL;
}

/* cmd[key] as an array of statements: *it before the first, *n = their
 * count; the command's ordered flag. */
static bool dw_statements(const bson_t *cmd, const char *key, bson_iter_t *it, uint32_t *n,
			  bool *ordered, bson_error_t *err)
{
	bson_iter_t field, probe;

	if (!bson_iter_init_find(&field, cmd, key) || !BSON_ITER_HOLDS_ARRAY(&field) ||
	    !bson_iter_recurse(&field, it))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "command %s must be an array", key);
	probe = *it;
	for (*n = 0; bson_iter_next(&probe); (*n)++)
		;
	return dw_opt_bool(cmd, "ordered", true, ordered, "command", err);
}

bool dw_expand_insert(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		      struct dw_out *o, bson_error_t *err)
{
	struct dw_results r;
	bson_iter_t it;
	uint32_t n = 0, i = 0, done = 0;
	bool ordered, ok;

	if (!dw_statements(cmd, "documents", &it, &n, &ordered, err))
		return false;
	ok = dw_results_parse(reply, n, false, &r, err);
	for (; ok && bson_iter_next(&it) && !dw_stopped(&r, ordered, i); i++) {
		if (dw_failed(&r, i))
			continue;
		ok = dw_emit_insert(o, ns, (int32_t)i, &it, err);
		done++;
	}
	if (ok && r.has_n && r.n != (int64_t)done) {
		char why[128];

		snprintf(why, sizeof why, "reply n=%lld but %u documents succeeded by writeErrors",
			 (long long)r.n, done);
		dw_op_x(o, ns, -1, why);
	}
	dw_results_free(&r);
	return ok;
}

/* Upserted entries must name upsert statements that ran and succeeded. */
static bool dw_check_upserted(const struct dw_results *r, bool ordered, bson_error_t *err)
{
	for (uint32_t k = 0; k < r->nups; k++) {
		uint32_t i = r->ups[k].index;

		if (dw_failed(r, i) || dw_stopped(r, ordered, i))
			return dw_fail(err, DWTRANS_ERR_REPLY,
				       "upserted names statement %u, which failed or never ran", i);
	}
	return true;
}

/* Matched count of the only statement, -1 when there are several. */
static int64_t dw_single_n(const struct dw_results *r)
{
	if (r->nstmts != 1 || !r->has_n || r->n - (int64_t)r->nups < 0)
		return -1;
	return r->n - (int64_t)r->nups;
}

static bool dw_update_one(struct dw_out *o, const struct dw_ns *ns, const struct dw_results *r,
			  uint32_t i, const bson_iter_t *it, bson_error_t *err)
{
	struct dw_upd u;
	bson_t stmt;
	const bson_value_t *uid = dw_upserted(r, i);

	if (!BSON_ITER_HOLDS_DOCUMENT(it) || !dw_sub(it, &stmt))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "updates[%u] is not a document", i);
	if (!dw_upd_parse(&stmt, "q", "u", &u, err))
		return false;
	if (uid && !u.upsert)
		return dw_fail(err, DWTRANS_ERR_REPLY,
			       "upserted names statement %u, which has no upsert:true", i);
	dw_emit_update(o, ns, (int32_t)i, &u, uid, dw_single_n(r));
	return true;
}

bool dw_expand_update(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		      struct dw_out *o, bson_error_t *err)
{
	struct dw_results r;
	bson_iter_t it;
	uint32_t n = 0, i = 0;
	bool ordered, ok;

	if (!dw_statements(cmd, "updates", &it, &n, &ordered, err))
		return false;
	ok = dw_results_parse(reply, n, true, &r, err) && dw_check_upserted(&r, ordered, err);
	for (; ok && bson_iter_next(&it) && !dw_stopped(&r, ordered, i); i++)
		if (!dw_failed(&r, i))
			ok = dw_update_one(o, ns, &r, i, &it, err);
	dw_results_free(&r);
	return ok;
}

static bool dw_delete_one(struct dw_out *o, const struct dw_ns *ns, const struct dw_results *r,
			  uint32_t i, const bson_iter_t *it, bson_error_t *err)
{
	bson_t stmt;
	bson_iter_t q, f;
	int64_t lim;
	bool coll;

	if (!BSON_ITER_HOLDS_DOCUMENT(it) || !dw_sub(it, &stmt))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "deletes[%u] is not a document", i);
	if (!bson_iter_init_find(&q, &stmt, "q") || !BSON_ITER_HOLDS_DOCUMENT(&q))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "deletes[%u].q must be a document", i);
	if (!bson_iter_init_find(&f, &stmt, "limit") || !dw_get_int(&f, &lim) || lim < 0 || lim > 1)
		return dw_fail(err, DWTRANS_ERR_SHAPE, "deletes[%u].limit must be 0 or 1", i);
	coll = bson_iter_init_find(&f, &stmt, "collation") && !BSON_ITER_HOLDS_NULL(&f);
	dw_emit_delete(o, ns, (int32_t)i, &q, (int32_t)lim, coll, dw_single_n(r));
	return true;
}

bool dw_expand_delete(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		      struct dw_out *o, bson_error_t *err)
{
	struct dw_results r;
	bson_iter_t it;
	uint32_t n = 0, i = 0;
	bool ordered, ok;

	if (!dw_statements(cmd, "deletes", &it, &n, &ordered, err))
		return false;
	ok = dw_results_parse(reply, n, false, &r, err);
	for (; ok && bson_iter_next(&it) && !dw_stopped(&r, ordered, i); i++)
		if (!dw_failed(&r, i))
			ok = dw_delete_one(o, ns, &r, i, &it, err);
	dw_results_free(&r);
	return ok;
}
