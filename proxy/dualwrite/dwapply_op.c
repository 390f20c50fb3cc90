/*
 * dwapply_op.c - compute one operation of a unit (dwapply_internal.h).
 *
 *   i  insert  -> put the document                       (no read)
 *   r  resync  -> re-read the _ids from MongoDB           (no read)
 *   x  untranslatable -> logged and counted, nothing written
 *   u  update  -> SELECT candidates -> match -> update in C -> put
 *   d  delete  -> SELECT candidates -> match -> delete
 *
 * What MongoDB reported decides ambiguous cases: a single-document update
 * or delete whose filter matches several rows here cannot know which one
 * MongoDB picked, so every matching row is resynced; a count that differs
 * from MongoDB's is logged as a divergence and the rows are resynced.
 */
#include "dwapply_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddl.h"
#include "dwtouch.h"
#include "log.h"
#include "match.h"
#include "metrics.h"
#include "rowstore.h"
#include "update.h"

/* The fields of an op document, as views into it. */
struct dwop {
	const char *k, *db, *c;
	bson_t q, ids, af;
	bool has_q, has_ids, has_af;
	bson_value_t u;           /* view; type EOD when absent */
	bson_value_t uid;         /* upserted _id; EOD when absent */
	const bson_t *d;          /* insert document (points into doc_buf) */
	bson_t doc_buf;
	bool multi, upsert;
	int32_t lim;
	int64_t n;                /* MongoDB's count for this statement, -1 unknown */
	const char *why;
};

static bool sub_doc(const bson_iter_t *it, bson_t *out)
{
	uint32_t len;
	const uint8_t *data;

	if (BSON_ITER_HOLDS_DOCUMENT(it))
		bson_iter_document(it, &len, &data);
	else if (BSON_ITER_HOLDS_ARRAY(it))
		bson_iter_array(it, &len, &data);
	else
		return false;
	return bson_init_static(out, data, len);
}

static bool dwop_parse(const bson_t *op, struct dwop *o)
{
	bson_iter_t it;

	memset(o, 0, sizeof(*o));
	o->n = -1;
	o->k = o->db = o->c = o->why = "";
	if (!bson_iter_init(&it, op))
		return false;
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);
		if (BSON_ITER_HOLDS_UTF8(&it) && !strcmp(key, "k"))
			o->k = bson_iter_utf8(&it, NULL);
		else if (BSON_ITER_HOLDS_UTF8(&it) && !strcmp(key, "db"))
			o->db = bson_iter_utf8(&it, NULL);
		else if (BSON_ITER_HOLDS_UTF8(&it) && !strcmp(key, "c"))
			o->c = bson_iter_utf8(&it, NULL);
		else if (BSON_ITER_HOLDS_UTF8(&it) && !strcmp(key, "why"))
			o->why = bson_iter_utf8(&it, NULL);
		else if (!strcmp(key, "q"))
			o->has_q = sub_doc(&it, &o->q);
		else if (!strcmp(key, "ids"))
			o->has_ids = sub_doc(&it, &o->ids);
		else if (!strcmp(key, "af"))
			o->has_af = sub_doc(&it, &o->af);
		else if (!strcmp(key, "d") && sub_doc(&it, &o->doc_buf))
			o->d = &o->doc_buf;
		else if (!strcmp(key, "u"))
			o->u = *bson_iter_value(&it);
		else if (!strcmp(key, "uid"))
			o->uid = *bson_iter_value(&it);
		else if (!strcmp(key, "m"))
			o->multi = bson_iter_as_bool(&it);
		else if (!strcmp(key, "up"))
			o->upsert = bson_iter_as_bool(&it);
		else if (!strcmp(key, "lim") && BSON_ITER_HOLDS_NUMBER(&it))
			o->lim = (int32_t)bson_iter_as_int64(&it);
		else if (!strcmp(key, "n") && BSON_ITER_HOLDS_NUMBER(&it))
			o->n = bson_iter_as_int64(&it);
	}
	return o->k[0] && o->c[0];
}

bool dwop_is_insert(const bson_t *op)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, op, "k") && BSON_ITER_HOLDS_UTF8(&it) &&
	       strcmp(bson_iter_utf8(&it, NULL), "i") == 0;
}

static bool doc_id(const bson_t *doc, bson_value_t *id)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, doc, "_id"))
		return false;
	*id = *bson_iter_value(&it);
	return true;
}

static void log_op(enum log_level lvl, const char *event, const struct dwunit *u,
		   const struct dwop *o, const char *why)
{
	struct log_line *l = log_begin(lvl, event, 0);

	if (!l)
		return;
	log_str(l, "tenant", u->cur->tenant);
	log_str(l, "db", o->db);
	log_str(l, "coll", o->c);
	log_str(l, "op", o->k);
	log_str(l, "op_key", u->cur->key);
	log_str(l, "reason", why);
	log_end(l);
}

static void ids_append(bson_t *ids, const bson_value_t *id)
{
	char key[16];
	const char *k;

	bson_uint32_to_string(bson_count_keys(ids), &k, key, sizeof(key));
	bson_append_value(ids, k, -1, id);
}

/* ---- insert ---- */

static enum dwop_step op_insert(struct dwunit *u, const struct dwop *o,
				const struct mapping_collection *mc)
{
	bson_value_t id;

	if (!o->d || !doc_id(o->d, &id)) {
		dwunit_fail_permanent(u, "insert op without a document _id");
		return DWOP_FAILED;
	}
	switch (dwhorizon_check(u->a, u->cur, o->c, &id)) {
	case DWH_SKIP:
		return DWOP_DONE;
	case DWH_RESYNC: {
		bson_t ids = BSON_INITIALIZER;
		ids_append(&ids, &id);
		bool ok = dwresync(u, mc, u->cur->tenant, o->db, o->c, &ids, "after an earlier resync");
		bson_destroy(&ids);
		return ok ? DWOP_DONE : DWOP_FAILED;
	}
	case DWH_APPLY:
		break;
	}
	return dwstore_put(u, mc, u->cur->tenant, o->d) ? DWOP_DONE : DWOP_FAILED;
}

/* ---- update / delete over candidates ---- */

struct rw {
	struct dwunit *u;
	const struct mapping_collection *mc;
	struct mapping_collection scratch;
	bson_t *opbuf;            /* copy of the op, alive across the SELECT */
};

void dwcands_free(struct dwcand *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (c[i].doc)
			bson_destroy(c[i].doc);
	free(c);
}

/* Upsert: MongoDB inserted uid; build the document as it did. */
static bool upsert_insert(struct dwunit *u, const struct dwop *o, const struct mapping_collection *mc,
			  bson_t *resync)
{
	bson_t seed, out;
	bson_error_t err;
	bool repl = update_kind_of(&o->u) == UPDATE_KIND_REPLACEMENT;
	bson_t empty = BSON_INITIALIZER;

	/* After a resync of this _id, as for any other write to it. */
	switch (dwhorizon_check(u->a, u->cur, o->c, &o->uid)) {
	case DWH_SKIP:
		return true;
	case DWH_RESYNC:
		ids_append(resync, &o->uid);
		return true;
	case DWH_APPLY:
		break;
	}
	enum update_status st = update_upsert_seed(o->has_q ? &o->q : &empty, &o->uid, repl, &seed, &err);

	if (st == UPDATE_OK || st == UPDATE_NOOP) {
		struct update_args args = {&o->u, o->has_af ? &o->af : NULL, NULL, true, 0};
		st = update_apply(&seed, &args, &out, &err);
		if (st == UPDATE_OK || st == UPDATE_NOOP) {
			bool ok = dwstore_put(u, mc, u->cur->tenant, &out);
			bson_destroy(&out);
			bson_destroy(&seed);
			return ok;
		}
		bson_destroy(&out);
	}
	bson_destroy(&seed);
	ids_append(resync, &o->uid);
	return true;
}

/* Apply an update to one matched candidate (or resync it). */
static bool update_one(struct dwunit *u, const struct dwop *o, const struct mapping_collection *mc,
		       struct dwcand *c, bson_t *resync)
{
	bson_t out;
	bson_error_t err;
	bson_value_t id;
	struct update_args args = {&o->u, o->has_af ? &o->af : NULL, &c->m, false, 0};

	if (!doc_id(c->doc, &id))
		return true;
	enum update_status st = update_apply(c->doc, &args, &out, &err);
	bool ok = true;
	if (st == UPDATE_OK)
		ok = dwstore_put(u, mc, u->cur->tenant, &out);
	else if (st == UPDATE_ERROR || st == UPDATE_RESYNC) {
		if (st == UPDATE_ERROR) {
			metrics_inc(METRIC_DW_DIVERGENCES);
			log_op(LOG_WARN, "dualwrite_divergence", u, o, err.message);
		}
		ids_append(resync, &id);
	}
	bson_destroy(&out);
	return ok;
}

/* MongoDB reported n; PostgreSQL matched matched.  Resync or log. */
/* The one _id a filter names by equality to a plain value ({_id: 5, ...}):
 * no other document can match it. */
static bool filter_id(const struct dwop *o, bson_value_t *id)
{
	bson_iter_t it;

	if (!o->has_q || !bson_iter_init_find(&it, &o->q, "_id") || BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    BSON_ITER_HOLDS_ARRAY(&it) || BSON_ITER_HOLDS_REGEX(&it))
		return false;
	*id = *bson_iter_value(&it);
	return true;
}

static void check_count(struct dwunit *u, const struct dwop *o, size_t matched, size_t nmatch,
			struct dwcand *c, bson_t *resync)
{
	char why[128];
	bson_value_t id;

	if (o->n < 0 || (uint64_t)o->n == matched)
		return;
	snprintf(why, sizeof(why), "MongoDB matched %lld, PostgreSQL %zu", (long long)o->n, matched);
	metrics_inc(METRIC_DW_DIVERGENCES);
	log_op(LOG_WARN, "dualwrite_divergence", u, o, why);
	struct log_line *l = log_begin(LOG_DEBUG, "dualwrite_divergence_op", 0);
	if (l) {   /* the whole operation, values included: debug level only */
		char *js = bson_as_canonical_extended_json(&u->cur_op, NULL);
		log_str(l, "op_key", u->cur->key);
		log_str(l, "op", js ? js : "");
		log_end(l);
		bson_free(js);
	}
	for (size_t i = 0; i < nmatch; i++)
		if (doc_id(c[i].doc, &id))
			ids_append(resync, &id);
	/* A filter on one _id names the document PostgreSQL may lack. */
	if (nmatch == 0 && filter_id(o, &id))
		ids_append(resync, &id);
}

static void rw_compute(struct rw *rw, const struct dwop *o, struct dwcand *c, size_t nmatch)
{
	struct dwunit *u = rw->u;
	bson_t resync = BSON_INITIALIZER;
	bool single = o->k[0] == 'u' ? !o->multi : o->lim == 1;
	size_t apply = 0, settled = 0;   /* settled: matched, handled by a horizon */
	bson_value_t id;

	/* A resync that read MongoDB after this write was acknowledged may have
	 * removed or changed rows MongoDB's choice depended on; not when the
	 * filter names one _id (that document's own horizon decides, below):
	 * else one resync turns every write to the collection acknowledged
	 * before it into another resync, and under load they feed each other. */
	bson_value_t fid;
	bool by_id = filter_id(o, &fid);
	bool future = !by_id && dwhorizon_after(u->a, u->cur->tenant, o->c, u->cur->ts_ms);
	if (single && (nmatch > 1 || (nmatch == 1 && future))) {
		/* Which one MongoDB changed is not knowable here: re-read them all
		 * (always right, whatever earlier resyncs did to them). */
		for (size_t i = 0; i < nmatch; i++)
			if (doc_id(c[i].doc, &id))
				ids_append(&resync, &id);
		nmatch = 0;
	}
	/* Documents an earlier resync already brought up to date. */
	for (size_t i = 0; i < nmatch; i++) {
		if (!doc_id(c[i].doc, &id))
			continue;
		enum dwhorizon_verdict v = dwhorizon_check(u->a, u->cur, o->c, &id);
		if (v != DWH_APPLY) {
			if (v == DWH_RESYNC)
				ids_append(&resync, &id);
			/* Out of the way, keeping the order (it decides which row is first). */
			struct dwcand t = c[i];
			memmove(c + i, c + i + 1, (nmatch - i - 1) * sizeof(*c));
			c[--nmatch] = t;
			settled++;
			i--;
		}
	}
	/* The named document is not here: a resync after this write, or a write
	 * at MongoDB together with it, may explain why; its verdict decides. */
	if (by_id && nmatch + settled == 0 && o->uid.value_type == BSON_TYPE_EOD) {
		enum dwhorizon_verdict v = dwhorizon_check(u->a, u->cur, o->c, &fid);
		if (v == DWH_RESYNC)
			ids_append(&resync, &fid);
		if (v != DWH_APPLY)
			settled++;
	}
	apply = nmatch;
	if (bson_empty(&resync) && o->uid.value_type == BSON_TYPE_EOD && !future)
		check_count(u, o, nmatch + settled, nmatch, c, &resync);
	for (size_t i = 0; i < apply && !dwunit_failed(u); i++) {
		if (o->k[0] == 'u')
			(void)update_one(u, o, rw->mc, &c[i], &resync);
		else if (doc_id(c[i].doc, &id))
			(void)dwstore_delete(u, rw->mc, u->cur->tenant, &id);
	}
	if (o->k[0] == 'u' && o->uid.value_type != BSON_TYPE_EOD && !dwunit_failed(u))
		(void)upsert_insert(u, o, rw->mc, &resync);
	if (!bson_empty(&resync) && !dwunit_failed(u))
		(void)dwresync(u, rw->mc, u->cur->tenant, o->db, o->c, &resync, "ambiguous or inexact");
	bson_destroy(&resync);
}

struct dwcand *dwop_candidates(struct dwunit *u, const struct mapping_collection *mc,
			       const char *coll, const bson_t *filter, const PGresult *r,
			       size_t *nmatch, bool *unsupported)
{
	int nrows = r ? PQntuples(r) : 0, ncols = r ? PQnfields(r) : 0;
	struct dwcand *c = calloc((size_t)nrows + u->nov + 1, sizeof(*c));
	const char **vals = calloc((size_t)ncols + 1, sizeof(*vals));
	size_t n = 0;
	bson_error_t err;

	*nmatch = 0;
	*unsupported = false;
	if (!c || !vals) {
		free(vals);
		free(c);
		return NULL;
	}
	for (int row = 0; row < nrows; row++) {
		bson_t doc;
		bson_value_t id;
		const bson_t *ovdoc;
		for (int col = 0; col < ncols; col++)
			vals[col] = PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
		if (!rowstore_decode(mc, ncols, vals, &doc, &err)) {
			dwunit_fail_permanent(u, "cannot decode a stored row of %s: %s", coll, err.message);
			bson_destroy(&doc);
			break;
		}
		int in_ov = doc_id(&doc, &id) ? dwoverlay_get(u, u->cur->tenant, coll, &id, &ovdoc) : -1;
		if (in_ov >= 0) {
			bson_destroy(&doc);
			continue;          /* the overlay's version is added below */
		}
		c[n++].doc = bson_copy(&doc);
		bson_destroy(&doc);
		if (!c[n - 1].doc)
			dwunit_fail(u, "out of memory");
	}
	for (size_t i = 0; i < u->nov && !dwunit_failed(u); i++) {
		struct dwoverlay_item *ov = &u->ov[i];
		if (ov->doc && !strcmp(ov->coll, coll) && !strcmp(ov->tenant, u->cur->tenant) &&
		    !(c[n++].doc = bson_copy(ov->doc)))
			dwunit_fail(u, "out of memory");
	}
	free(vals);
	/* Keep the matching ones at the front. */
	for (size_t i = 0; i < n && !dwunit_failed(u); i++) {
		enum match_status ms = match_doc(filter, c[i].doc, &c[i].m, &err);
		if (ms == MATCH_YES) {
			struct dwcand t = c[*nmatch];
			c[*nmatch] = c[i];
			c[i] = t;
			(*nmatch)++;
		} else if (ms != MATCH_NO) {
			*unsupported = true;
		}
	}
	for (size_t i = *nmatch; i < n; i++) {
		if (c[i].doc)
			bson_destroy(c[i].doc);
		c[i].doc = NULL;
	}
	return c;
}

static void rw_free(struct rw *rw)
{
	bson_destroy(rw->opbuf);
	free(rw);
}

static void read_done(const struct pgpool_result *res, void *arg)
{
	struct rw *rw = arg;
	struct dwunit *u = rw->u;
	struct dwop o;

	dwunit_select_done(u);
	if (res->cls != PGPOOL_OK) {
		dwunit_fail(u, "reading candidates: %s", res->message);
	} else if (dwop_parse(rw->opbuf, &o) &&
		   (rw->mc = dwstore_collection(u, o.c, &rw->scratch))) {
		size_t nmatch;
		bool unsupported;
		bson_t empty = BSON_INITIALIZER;
		struct dwcand *c = dwop_candidates(u, rw->mc, o.c, o.has_q ? &o.q : &empty, res->rows,
						   &nmatch, &unsupported);
		if (!c)
			dwunit_fail(u, "out of memory");
		else if (unsupported) {
			metrics_inc(METRIC_DW_UNTRANSLATABLE);
			log_op(LOG_WARN, "dualwrite_untranslatable", u, &o,
			       "filter not evaluable by tandem's matcher");
		} else if (!dwunit_failed(u)) {
			rw_compute(rw, &o, c, nmatch);
		}
		if (c)
			dwcands_free(c, nmatch);
	}
	rw_free(rw);
	dwunit_resume(u);
}

static enum dwop_step op_read_write(struct dwunit *u, const struct dwop *o,
				    const struct mapping_collection *mc)
{
	struct sqllist l;
	bson_error_t err;
	struct rw *rw = calloc(1, sizeof(*rw));
	struct pgbatch *b = NULL;
	bson_t empty = BSON_INITIALIZER;

	sqllist_init(&l);
	if (!rw || !(rw->opbuf = bson_copy(&u->cur_op)))
		goto oom;
	rw->u = u;
	if (!rowstore_select(mc, u->cur->tenant, o->has_q ? &o->q : &empty, &l, &err)) {
		dwunit_fail_permanent(u, "select for %s: %s", o->c, err.message);
		goto fail;
	}
	if (!(b = pgbatch_new()) || !pgbatch_add(b, l.stmts[0].sql, l.stmts[0].nparams,
						 (const char *const *)l.stmts[0].params))
		goto oom;
	pgbatch_keep_rows(b, 0);
	if (!dwunit_select(u, b, read_done, rw)) {
		dwunit_fail(u, "PostgreSQL pool full or closing");
		goto fail;
	}
	sqllist_free(&l);
	return DWOP_WAIT;
oom:
	dwunit_fail(u, "out of memory");
fail:
	pgbatch_free(b);
	sqllist_free(&l);
	if (rw)
		rw_free(rw);
	return DWOP_FAILED;
}

/* Debug level: the operation about to be computed, values included. */
static void trace_op(const struct dwunit *u)
{
	struct log_line *l = log_begin(LOG_DEBUG, "dualwrite_op", 0);

	if (!l)
		return;
	char *js = bson_as_canonical_extended_json(&u->cur_op, NULL);
	log_str(l, "op_key", u->cur->key);
	log_int(l, "acked_ms", (int64_t)u->cur->ts_ms);
	log_str(l, "op", js ? js : "");
	log_end(l);
	bson_free(js);
}

/* drop: every row of the tenant in the collection's table (child and
 * junction rows follow by ON DELETE CASCADE). */
static bool op_drop(struct dwunit *u, const struct mapping_collection *mc)
{
	struct sqllist l;
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);
	const char *p[1] = {u->cur->tenant};
	bool ok = false;

	sqllist_init(&l);
	if (f) {
		fputs("DELETE FROM ", f);
		ddl_put_ident(f, mc->table);
		fputs(" WHERE ", f);
		ddl_put_ident(f, mc->tenant_column);
		fputs(" = $1", f);
		ok = fclose(f) == 0 && sqllist_add(&l, sql, 1, p) && dwunit_add_writes(u, &l);
	}
	free(sql);
	sqllist_free(&l);
	if (!ok)
		dwunit_fail(u, "out of memory");
	else
		dwtouch_coll_all(u->cur->tenant, mc->name, u->cur->tseq);
	return ok;
}

enum dwop_step dwop_start(struct dwunit *u)
{
	struct dwop o;
	struct mapping_collection scratch;
	const struct mapping_collection *mc;

	trace_op(u);
	if (!dwop_parse(&u->cur_op, &o)) {
		struct log_line *l = log_begin(LOG_WARN, "dualwrite_bad_op", 0);
		metrics_inc(METRIC_DW_UNTRANSLATABLE);
		if (l) {
			log_str(l, "op_key", u->cur->key);
			log_end(l);
		}
		return DWOP_DONE;
	}
	if (o.k[0] == 'x') {
		metrics_inc(METRIC_DW_UNTRANSLATABLE);
		log_op(LOG_WARN, "dualwrite_untranslatable", u, &o, o.why);
		return DWOP_DONE;
	}
	if (!(mc = dwstore_collection(u, o.c, &scratch)))
		return DWOP_FAILED;
	switch (o.k[0]) {
	case 'i':
		return op_insert(u, &o, mc);
	case 'r':
		if (!o.has_ids)
			return DWOP_DONE;
		return dwresync(u, mc, u->cur->tenant, o.db, o.c, &o.ids, o.why) ? DWOP_DONE : DWOP_FAILED;
	case 'u':
	case 'd':
		return op_read_write(u, &o, mc);
	case 'D':
		return op_drop(u, mc) ? DWOP_DONE : DWOP_FAILED;
	case 's':
		if (!u->serve || !u->a->o.serve) {   /* only pgserve makes these */
			dwunit_fail_permanent(u, "a served write outside the proxy's applier");
			return DWOP_FAILED;
		}
		return u->a->o.serve->start(u);
	default:
		metrics_inc(METRIC_DW_UNTRANSLATABLE);
		log_op(LOG_WARN, "dualwrite_untranslatable", u, &o, "unknown op kind");
		return DWOP_DONE;
	}
}
