/*
 * dwtrans_bulk.c - MongoDB 8's bulkWrite command (run on admin) -> ops.
 *
 *   cmd:   {bulkWrite:1, ops:[{insert|update|delete: nsIdx, ...}], nsInfo:[{ns}],
 *           ordered, errorsOnly}
 *   reply: {ok, nErrors, nInserted, nMatched, nModified, nUpserted, nDeleted,
 *           cursor:{id, firstBatch:[{ok, idx, n, nModified, upserted:{_id}, code}], ns}}
 *
 * Per-op results are exact here.  op i is replayed when its result has
 * ok:1; or, with errorsOnly, when it has no result and is known to have
 * succeeded (the cursor is exhausted, or a later idx was reported: results
 * come in idx order).  An ordered bulk stops after its first error.  An op
 * whose outcome the reply does not tell (results behind a getMore tandem
 * never sees, cursor.id != 0) becomes "x".
 */
#include "dwtrans_internal.h"

#include <stdlib.h>
#include <string.h>

struct dw_bres {
	uint32_t idx; /* first member: dw_bres_cmp and bsearch rely on it */
	bool ok;
	bool has_n;
	int64_t n;
	bool has_uid;
	bson_value_t uid; /* points into the reply */
};

struct dw_bulk {
	struct dw_ns *nss;
	uint32_t nns;
	struct dw_bres *res; /* sorted by idx, unique */
	uint32_t nres;
	uint32_t nops;
	bool ordered, errors_only;
	int64_t cursor_id;
	bool no_upserts;    /* reply nUpserted == 0 */
	uint32_t first_err; /* UINT32_MAX: none */
	int64_t max_seen;   /* highest idx reported, -1: none */
};

static int dw_bres_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Open doc[key] as an array; the caller names it in the error. */
static bool dw_array(const bson_t *doc, const char *key, bson_t *arr)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_ARRAY(&it) && dw_sub(&it, arr);
}

static bool dw_bulk_nsinfo(const bson_t *cmd, struct dw_bulk *b, bson_error_t *err)
{
	bson_t arr, elem;
	bson_iter_t it, ns;
	const char *s, *dot;
	uint32_t len;

	if (!dw_array(cmd, "nsInfo", &arr) || !bson_iter_init(&it, &arr))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "bulkWrite nsInfo must be an array");
	b->nss = calloc(bson_count_keys(&arr) + 1, sizeof *b->nss);
	if (!b->nss)
		return dw_fail(err, DWTRANS_ERR_SIZE, "out of memory");
	while (bson_iter_next(&it)) {
		struct dw_ns *n = &b->nss[b->nns];

		if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !dw_sub(&it, &elem) ||
		    !bson_iter_init_find(&ns, &elem, "ns") || !dw_name(&ns, &s, &len) ||
		    !(dot = memchr(s, '.', len)) || dot == s || dot == s + len - 1)
			return dw_fail(err, DWTRANS_ERR_SHAPE,
				       "bulkWrite nsInfo[%u].ns must be \"db.collection\"", b->nns);
		n->db = s;
		n->db_len = (uint32_t)(dot - s);
		n->c = dot + 1;
		n->c_len = len - n->db_len - 1;
		b->nns++;
	}
	return true;
}

/* One firstBatch entry. */
static bool dw_bulk_result(const bson_t *elem, uint32_t nops, struct dw_bres *r)
{
	bson_iter_t it, id;
	bson_t up;
	int64_t v;

	memset(r, 0, sizeof *r);
	if (!bson_iter_init_find(&it, elem, "idx") || !dw_get_int(&it, &v) || v < 0 ||
	    v >= (int64_t)nops)
		return false;
	r->idx = (uint32_t)v;
	if (!bson_iter_init_find(&it, elem, "ok") || !dw_get_int(&it, &v))
		return false;
	r->ok = v == 1;
	if (bson_iter_init_find(&it, elem, "n")) {
		if (!dw_get_int(&it, &r->n))
			return false;
		r->has_n = true;
	}
	if (bson_iter_init_find(&it, elem, "upserted") && !BSON_ITER_HOLDS_NULL(&it)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !dw_sub(&it, &up) ||
		    !bson_iter_init_find(&id, &up, "_id") || !dw_id_ok(&id))
			return false;
		r->uid = *bson_iter_value(&id);
		r->has_uid = true;
	}
	return true;
}

static bool dw_bulk_results(const bson_t *reply, struct dw_bulk *b, bson_error_t *err)
{
	bson_iter_t it;
	bson_t cursor, batch, elem;
	int64_t v;

	if (bson_iter_init_find(&it, reply, "nUpserted") && dw_get_int(&it, &v))
		b->no_upserts = v == 0;
	if (!bson_iter_init_find(&it, reply, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !dw_sub(&it, &cursor) || !bson_iter_init_find(&it, &cursor, "id") ||
	    !dw_get_int(&it, &b->cursor_id) || !dw_array(&cursor, "firstBatch", &batch) ||
	    !bson_iter_init(&it, &batch))
		return dw_fail(err, DWTRANS_ERR_SHAPE,
			       "bulkWrite reply needs cursor.id and cursor.firstBatch");
	b->res = calloc(bson_count_keys(&batch) + 1, sizeof *b->res);
	if (!b->res)
		return dw_fail(err, DWTRANS_ERR_SIZE, "out of memory");
	while (bson_iter_next(&it)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !dw_sub(&it, &elem) ||
		    !dw_bulk_result(&elem, b->nops, &b->res[b->nres]))
			return dw_fail(err, DWTRANS_ERR_REPLY,
				       "firstBatch[%u]: bad idx (of %u ops), ok, n or upserted",
				       b->nres, b->nops);
		b->nres++;
	}
	qsort(b->res, b->nres, sizeof *b->res, dw_bres_cmp);
	b->first_err = UINT32_MAX;
	b->max_seen = b->nres ? (int64_t)b->res[b->nres - 1].idx : -1;
	for (uint32_t i = 0; i < b->nres; i++) {
		if (i > 0 && b->res[i - 1].idx == b->res[i].idx)
			return dw_fail(err, DWTRANS_ERR_REPLY, "firstBatch reports op %u twice",
				       b->res[i].idx);
		if (!b->res[i].ok && b->first_err == UINT32_MAX)
			b->first_err = b->res[i].idx;
	}
	return true;
}

static const struct dw_bres *dw_bulk_find(const struct dw_bulk *b, uint32_t i)
{
	return b->nres ? bsearch(&i, b->res, b->nres, sizeof *b->res, dw_bres_cmp) : NULL;
}

static bool dw_bulk_update(struct dw_out *o, const struct dw_bulk *b, const struct dw_ns *ns,
			   uint32_t i, const bson_t *op, const struct dw_bres *r, bson_error_t *err)
{
	struct dw_upd u;
	const bson_value_t *uid = r && r->has_uid ? &r->uid : NULL;
	int64_t n = r && r->has_n ? r->n - (uid ? 1 : 0) : -1;

	if (!dw_upd_parse(op, "filter", "updateMods", &u, err))
		return false;
	if (uid && !u.upsert)
		return dw_fail(err, DWTRANS_ERR_REPLY,
			       "op %u reports an upsert but has no upsert:true", i);
	if (!r && u.upsert && !b->no_upserts) {
		dw_op_x(o, ns, (int32_t)i, "bulkWrite errorsOnly: whether this upsert inserted, "
					   "and its _id, is not reported");
		return true;
	}
	dw_emit_update(o, ns, (int32_t)i, &u, uid, n < 0 ? -1 : n);
	return true;
}

static bool dw_bulk_delete(struct dw_out *o, const struct dw_ns *ns, uint32_t i, const bson_t *op,
			   const struct dw_bres *r, bson_error_t *err)
{
	bson_iter_t q, it;
	bool multi, coll;

	if (!bson_iter_init_find(&q, op, "filter") || !BSON_ITER_HOLDS_DOCUMENT(&q))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "bulkWrite ops[%u].filter must be a document", i);
	if (!dw_opt_bool(op, "multi", false, &multi, "bulkWrite delete", err))
		return false;
	coll = bson_iter_init_find(&it, op, "collation") && !BSON_ITER_HOLDS_NULL(&it);
	dw_emit_delete(o, ns, (int32_t)i, &q, multi ? 0 : 1, coll, r && r->has_n ? r->n : -1);
	return true;
}

/* Op i, whose result is r (NULL: not reported). */
static bool dw_bulk_op(struct dw_out *o, const struct dw_bulk *b, uint32_t i, const bson_iter_t *it,
		       const struct dw_bres *r, bson_error_t *err)
{
	bson_t op;
	bson_iter_t first, doc;
	int64_t nsi;
	const char *kind;
	const struct dw_ns *ns;

	if (!BSON_ITER_HOLDS_DOCUMENT(it) || !dw_sub(it, &op) || !bson_iter_init(&first, &op) ||
	    !bson_iter_next(&first) || !dw_get_int(&first, &nsi) || nsi < 0 || nsi >= b->nns)
		return dw_fail(err, DWTRANS_ERR_SHAPE, "bulkWrite ops[%u]: bad op or nsInfo index", i);
	kind = bson_iter_key(&first);
	ns = &b->nss[nsi];
	if (!r && !(b->errors_only && (b->cursor_id == 0 || (int64_t)i < b->max_seen))) {
		dw_op_x(o, ns, (int32_t)i,
			b->cursor_id != 0 && (int64_t)i > b->max_seen
				? "bulkWrite results beyond the first batch"
				: "bulkWrite reply has no result for this op");
		return true;
	}
	if (strcmp(kind, "insert") == 0) {
		if (!bson_iter_init_find(&doc, &op, "document"))
			return dw_fail(err, DWTRANS_ERR_SHAPE, "bulkWrite ops[%u] has no document", i);
		return dw_emit_insert(o, ns, (int32_t)i, &doc, err);
	}
	if (strcmp(kind, "update") == 0)
		return dw_bulk_update(o, b, ns, i, &op, r, err);
	if (strcmp(kind, "delete") == 0)
		return dw_bulk_delete(o, ns, i, &op, r, err);
	return dw_fail(err, DWTRANS_ERR_SHAPE, "bulkWrite ops[%u]: unknown op kind", i);
}

bool dw_expand_bulk(const bson_t *cmd, const bson_t *reply, struct dw_out *o, bson_error_t *err)
{
	struct dw_bulk b = { 0 };
	bson_t ops;
	bson_iter_t it;
	bool ok;
	uint32_t i = 0;

	ok = dw_array(cmd, "ops", &ops) && bson_iter_init(&it, &ops);
	if (!ok)
		dw_fail(err, DWTRANS_ERR_SHAPE, "bulkWrite ops must be an array");
	else
		b.nops = bson_count_keys(&ops);
	ok = ok && dw_opt_bool(cmd, "ordered", true, &b.ordered, "bulkWrite", err) &&
	     dw_opt_bool(cmd, "errorsOnly", false, &b.errors_only, "bulkWrite", err) &&
	     dw_bulk_nsinfo(cmd, &b, err) && dw_bulk_results(reply, &b, err);
	for (; ok && bson_iter_next(&it); i++) {
		const struct dw_bres *r = dw_bulk_find(&b, i);

		if (b.ordered && i > b.first_err)
			break;
		if (r && !r->ok)
			continue;
		ok = dw_bulk_op(o, &b, i, &it, r, err);
	}
	free(b.nss);
	free(b.res);
	return ok;
}
