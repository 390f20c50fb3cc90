/*
 * dwtrans_fam.c - findAndModify (both spellings) -> at most one op.
 *
 * MongoDB tells us which document it touched: lastErrorObject.upserted for
 * an upsert insert, otherwise value._id (pre- or post-image; _id never
 * changes).  So the op addresses that document by _id:
 *
 *   lastErrorObject.n == 0          -> nothing
 *   remove                          -> {k:"d", q:{_id}, lim:1, n:1}
 *   update of an existing document  -> {k:"u", q:{_id}, u, up:false, [af], n:1}
 *   upsert insert                   -> {k:"u", q:query, u, up:true, uid, [af], n:0}
 *   _id unknown (fields excluded it) -> by the original query, lim 1 / m false,
 *                                      n 1 (the applier resyncs when ambiguous);
 *                                      with a collation -> "x";  collation / positional "$"
 *   in the update (needs the original query) -> "r" by _id
 */
#include "dwtrans_internal.h"

#include <string.h>

struct dw_fam {
	bool has_query, remove, has_update, upsert, has_af, has_collation;
	bson_iter_t query, update, af;
};

static bool dw_fam_parse(const bson_t *cmd, struct dw_fam *f, bson_error_t *err)
{
	bson_iter_t it;

	memset(f, 0, sizeof *f);
	if (bson_iter_init_find(&f->query, cmd, "query") && !BSON_ITER_HOLDS_NULL(&f->query)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&f->query))
			return dw_fail(err, DWTRANS_ERR_SHAPE, "findAndModify query must be a document");
		f->has_query = true;
	}
	if (bson_iter_init_find(&f->update, cmd, "update") && !BSON_ITER_HOLDS_NULL(&f->update)) {
		if ((!BSON_ITER_HOLDS_DOCUMENT(&f->update) && !BSON_ITER_HOLDS_ARRAY(&f->update)) ||
		    !dw_array_ok(&f->update))
			return dw_fail(err, DWTRANS_ERR_SHAPE,
				       "findAndModify update must be a document or a pipeline");
		f->has_update = true;
	}
	if (!dw_opt_bool(cmd, "remove", false, &f->remove, "findAndModify", err) ||
	    !dw_opt_bool(cmd, "upsert", false, &f->upsert, "findAndModify", err))
		return false;
	if (f->remove == f->has_update)
		return dw_fail(err, DWTRANS_ERR_SHAPE,
			       "findAndModify needs exactly one of remove:true and update");
	if (bson_iter_init_find(&f->af, cmd, "arrayFilters") && !BSON_ITER_HOLDS_NULL(&f->af)) {
		if (!BSON_ITER_HOLDS_ARRAY(&f->af) || !dw_array_ok(&f->af))
			return dw_fail(err, DWTRANS_ERR_SHAPE,
				       "findAndModify arrayFilters must be an array");
		f->has_af = true;
	}
	f->has_collation = bson_iter_init_find(&it, cmd, "collation") && !BSON_ITER_HOLDS_NULL(&it);
	return true;
}

/* A path with a bare "$" segment ("a.$", "a.$.b", "$"): MongoDB resolves it
 * against the query's array match, which a by-_id filter no longer has. */
static bool dw_positional_path(const char *k)
{
	size_t len = strlen(k);

	return strcmp(k, "$") == 0 || strncmp(k, "$.", 2) == 0 ||
	       (len >= 2 && strcmp(k + len - 2, ".$") == 0) || strstr(k, ".$.") != NULL;
}

static bool dw_uses_positional(const bson_iter_t *update)
{
	bson_t doc, args;
	bson_iter_t op, path;

	if (!BSON_ITER_HOLDS_DOCUMENT(update) || !dw_sub(update, &doc) || !bson_iter_init(&op, &doc))
		return false;
	while (bson_iter_next(&op)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&op) || !dw_sub(&op, &args) ||
		    !bson_iter_init(&path, &args))
			continue;
		while (bson_iter_next(&path))
			if (dw_positional_path(bson_iter_key(&path)))
				return true;
	}
	return false;
}

/* Read lastErrorObject: n, upserted (may be absent), updatedExisting.
 * Iterators are recursed from the reply, so they stay valid with it. */
static bool dw_fam_leo(const bson_t *reply, int64_t *n, bool *has_upserted, bson_iter_t *upserted,
		       bool *inserted, bson_error_t *err)
{
	bson_iter_t it, leo, f;
	bool existing;

	if (!bson_iter_init_find(&it, reply, "lastErrorObject") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &leo))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "findAndModify reply has no lastErrorObject");
	f = leo;
	if (!bson_iter_find(&f, "n") || !dw_get_int(&f, n) || *n < 0 || *n > 1)
		return dw_fail(err, DWTRANS_ERR_REPLY, "lastErrorObject.n must be 0 or 1");
	*upserted = leo;
	*has_upserted = bson_iter_find(upserted, "upserted") && !BSON_ITER_HOLDS_NULL(upserted);
	*inserted = *has_upserted;
	f = leo;
	if (bson_iter_find(&f, "updatedExisting") && dw_get_bool(&f, &existing))
		*inserted = *inserted || (!existing && *n == 1);
	return true;
}

/* value._id, when the reply's value is a document holding one. */
static bool dw_fam_value_id(const bson_t *reply, bson_iter_t *id)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
	       bson_iter_recurse(&it, id) && bson_iter_find(id, "_id");
}

static void dw_fam_update(struct dw_out *o, const struct dw_ns *ns, const struct dw_fam *f,
			  const bson_value_t *id, bool inserted)
{
	if (f->has_collation || (!inserted && dw_uses_positional(&f->update))) {
		dw_op_r(o, ns, 0, id,
			f->has_collation ? "collation not modelled"
					 : "positional $ needs the original query");
		return;
	}
	dw_op_begin(o, "u", ns, 0);
	if (!inserted) {
		dw_put_idq(o, "q", id);
	} else if (f->has_query) {
		dw_put_iter(o, "q", &f->query);
	} else if (!o->full) {
		bson_t empty = BSON_INITIALIZER;

		if (!bson_append_document(&o->cur, "q", 1, &empty))
			o->full = true;
	}
	dw_put_iter(o, "u", &f->update);
	dw_put_bool(o, "m", false);
	dw_put_bool(o, "up", inserted);
	if (f->has_af)
		dw_put_iter(o, "af", &f->af);
	if (inserted)
		dw_put_value(o, "uid", id);
	dw_put_i64(o, "n", inserted ? 0 : 1);
	dw_op_end(o);
}

/* The value does not show the _id (fields excluded it): address the one
 * document by the original query; the applier resyncs every candidate when
 * the query matches more than one there. */
static void dw_fam_by_query(struct dw_out *o, const struct dw_ns *ns, const struct dw_fam *f)
{
	bson_t empty = BSON_INITIALIZER;

	if (f->has_collation) {
		dw_op_x(o, ns, 0, "findAndModify: _id unknown (excluded by fields) and collation "
				  "not modelled");
		return;
	}
	dw_op_begin(o, f->remove ? "d" : "u", ns, 0);
	if (f->has_query)
		dw_put_iter(o, "q", &f->query);
	else if (!o->full && !bson_append_document(&o->cur, "q", 1, &empty))
		o->full = true;
	if (f->remove) {
		dw_put_i32(o, "lim", 1);
	} else {
		dw_put_iter(o, "u", &f->update);
		dw_put_bool(o, "m", false);
		dw_put_bool(o, "up", false);
		if (f->has_af)
			dw_put_iter(o, "af", &f->af);
	}
	dw_put_i64(o, "n", 1);
	dw_op_end(o);
}

bool dw_expand_fam(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		   struct dw_out *o, bson_error_t *err)
{
	struct dw_fam f;
	bson_iter_t upserted, vid;
	int64_t n;
	bool has_upserted = false, inserted = false, has_vid;
	const bson_value_t *id;

	if (!dw_fam_parse(cmd, &f, err) ||
	    !dw_fam_leo(reply, &n, &has_upserted, &upserted, &inserted, err))
		return false;
	if (n == 0)
		return true; /* nothing matched, nothing upserted */
	if (f.remove)
		inserted = false; /* a remove reports no updatedExisting; upserted is checked */
	if ((inserted && !f.upsert) || (f.remove && has_upserted))
		return dw_fail(err, DWTRANS_ERR_REPLY,
			       "findAndModify reply reports an upsert the command did not ask for");
	has_vid = dw_fam_value_id(reply, &vid);
	if (!has_upserted && !has_vid) {
		dw_fam_by_query(o, ns, &f);
		return true;
	}
	if (!dw_id_ok(has_upserted ? &upserted : &vid))
		return dw_fail(err, DWTRANS_ERR_REPLY, "findAndModify reply names an array _id");
	id = bson_iter_value(has_upserted ? &upserted : &vid);
	if (f.remove) {
		dw_op_begin(o, "d", ns, 0);
		dw_put_idq(o, "q", id);
		dw_put_i32(o, "lim", 1);
		dw_put_i64(o, "n", 1);
		dw_op_end(o);
		return true;
	}
	dw_fam_update(o, ns, &f, id, inserted);
	return true;
}
