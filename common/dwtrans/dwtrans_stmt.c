/*
 * dwtrans_stmt.c - one insert / update / delete statement -> one op
 * (format in dwtrans.h).  Shared by the classic write commands and
 * bulkWrite, which name the fields differently (q/u vs filter/updateMods).
 *
 * What is not modelled becomes "x" (or "r" when the _id is known), never a
 * guess: collation, and a single-document update with `sort`.
 */
#include "dwtrans_internal.h"

#include <string.h>

bool dw_emit_insert(struct dw_out *o, const struct dw_ns *ns, int32_t st, const bson_iter_t *doc_it,
		    bson_error_t *err)
{
	bson_t doc;
	bson_iter_t id;

	if (!BSON_ITER_HOLDS_DOCUMENT(doc_it) || !dw_sub(doc_it, &doc))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "insert statement %d is not a document", st);
	if (!bson_iter_init_find(&id, &doc, "_id")) {
		dw_op_x(o, ns, st, "insert without _id: mongod generated an _id tandem cannot know");
		return true;
	}
	dw_op_begin(o, "i", ns, st);
	dw_put_iter(o, "d", doc_it);
	dw_op_end(o);
	return true;
}

/* Optional field: absent or null -> false; otherwise *it points at it. */
static bool dw_present(const bson_t *doc, const char *key, bson_iter_t *it)
{
	return bson_iter_init_find(it, doc, key) && !BSON_ITER_HOLDS_NULL(it);
}

bool dw_upd_parse(const bson_t *stmt, const char *qkey, const char *ukey, struct dw_upd *u,
		  bson_error_t *err)
{
	bson_iter_t it;

	memset(u, 0, sizeof *u);
	if (!bson_iter_init_find(&u->q, stmt, qkey) || !BSON_ITER_HOLDS_DOCUMENT(&u->q))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "update statement: %s must be a document", qkey);
	if (!bson_iter_init_find(&u->u, stmt, ukey) ||
	    !(BSON_ITER_HOLDS_DOCUMENT(&u->u) || BSON_ITER_HOLDS_ARRAY(&u->u)) || !dw_array_ok(&u->u))
		return dw_fail(err, DWTRANS_ERR_SHAPE,
			       "update statement: %s must be a document or a pipeline", ukey);
	if (!dw_opt_bool(stmt, "multi", false, &u->multi, "update statement", err) ||
	    !dw_opt_bool(stmt, "upsert", false, &u->upsert, "update statement", err))
		return false;
	if (dw_present(stmt, "arrayFilters", &u->af)) {
		if (!BSON_ITER_HOLDS_ARRAY(&u->af) || !dw_array_ok(&u->af))
			return dw_fail(err, DWTRANS_ERR_SHAPE,
				       "update statement: arrayFilters must be an array");
		u->has_af = true;
	}
	u->has_collation = dw_present(stmt, "collation", &it);
	u->has_sort = dw_present(stmt, "sort", &it);
	return true;
}

void dw_emit_update(struct dw_out *o, const struct dw_ns *ns, int32_t st, const struct dw_upd *u,
		    const bson_value_t *uid, int64_t n)
{
	if (u->has_collation) {
		if (uid)
			dw_op_r(o, ns, st, uid, "collation not modelled: upserted _id re-read");
		else
			dw_op_x(o, ns, st, "collation not modelled");
		return;
	}
	if (u->has_sort && !u->multi && !uid) {
		dw_op_x(o, ns, st, "update with sort not modelled: which document matched is unknown");
		return;
	}
	dw_op_begin(o, "u", ns, st);
	dw_put_iter(o, "q", &u->q);
	dw_put_iter(o, "u", &u->u);
	dw_put_bool(o, "m", u->multi);
	dw_put_bool(o, "up", uid != NULL);
	if (u->has_af)
		dw_put_iter(o, "af", &u->af);
	if (uid)
		dw_put_value(o, "uid", uid);
	dw_put_i64(o, "n", uid ? 0 : n);
	dw_op_end(o);
}

void dw_emit_delete(struct dw_out *o, const struct dw_ns *ns, int32_t st, const bson_iter_t *q,
		    int32_t lim, bool has_collation, int64_t n)
{
	if (has_collation) {
		dw_op_x(o, ns, st, "collation not modelled");
		return;
	}
	dw_op_begin(o, "d", ns, st);
	dw_put_iter(o, "q", q);
	dw_put_i32(o, "lim", lim);
	dw_put_i64(o, "n", n);
	dw_op_end(o);
}
