/*
 * compare.c - result sets compared as multisets or in sort order with ties
 * as multisets (see compare.h); names of kinds and types; the diff path.
 *
 *   multiset:  match_group(all mongo, all pg)   -> report leftovers
 *   sorted:    tie runs on each side, merged by key_cmp
 *                equal keys  -> match_group(run, run) -> leftovers to pools
 *                one side    -> the run to that side's pool
 *              match_group(pools) -> report leftovers; then the order check
 *
 * match_group pairs documents by _id when both carry one (then compares
 * them field by field), the others by full equality; candidates are found
 * by sorting PostgreSQL's items on a hash that agrees with equality
 * (compare_hash.c), so a group costs O(n log n) comparisons, not O(n^2).
 */
#include "compare_internal.h"
#include "bsoncmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
	const bson_value_t *v;
	size_t idx;		/* position in its list */
	bool has_id;
	bool used;
	bson_value_t id;	/* view of the _id value when has_id */
	uint64_t h;		/* hash of _id, or of the whole value */
};

struct pool {			/* indexes into an item array */
	size_t *ix;
	size_t n, cap;
};

static void pool_push(struct pool *p, size_t i)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 16;
		p->ix = bson_realloc(p->ix, p->cap * sizeof *p->ix);
	}
	p->ix[p->n++] = i;
}

/* ---- names ------------------------------------------------------------ */

const char *compare_kind_to_str(enum compare_kind k)
{
	static const char *const names[] = {"missing", "extra", "changed", "type", "error"};
	return (unsigned)k < sizeof names / sizeof *names ? names[k] : "unknown";
}

const char *compare_type_name(bson_type_t t)
{
	const char *n = bsoncmp_type_name(t);

	return n ? n : "unknown";
}

const char *compare_diff_path(const struct compare_diff *d, bool redact, char *buf, size_t cap)
{
	const char *loc = redact ? d->loc_red : d->loc;
	const char *sep = (*loc && *d->field && d->field[0] != '[') ? "." : "";

	snprintf(buf, cap, "%s%s%s", loc, sep, d->field);
	return buf;
}

/* ---- document locators ------------------------------------------------ */

static void set_loc_index(struct cmp_ctx *c, size_t idx)
{
	snprintf(c->loc, sizeof c->loc, "[%zu]", idx);
	memcpy(c->loc_red, c->loc, sizeof c->loc);
}

/* "_id=<value>": ObjectId(hex), "string", numbers; other types and, in
 * loc_red, everything but ObjectIds fall back to the position. */
static void set_loc_item(struct cmp_ctx *c, const struct item *it)
{
	char hex[25];

	set_loc_index(c, it->idx);
	if (!it->has_id)
		return;
	const bson_value_t *v = &it->id;
	switch (v->value_type) {
	case BSON_TYPE_OID:
		bson_oid_to_string(&v->value.v_oid, hex);
		snprintf(c->loc, sizeof c->loc, "_id=ObjectId(%s)", hex);
		memcpy(c->loc_red, c->loc, sizeof c->loc);
		break;
	case BSON_TYPE_UTF8:
		snprintf(c->loc, sizeof c->loc, "_id=\"%.*s\"",
			 (int)(v->value.v_utf8.len < 64 ? v->value.v_utf8.len : 64),
			 v->value.v_utf8.str);
		break;
	case BSON_TYPE_INT32:
		snprintf(c->loc, sizeof c->loc, "_id=%d", v->value.v_int32);
		break;
	case BSON_TYPE_INT64:
		snprintf(c->loc, sizeof c->loc, "_id=%lld", (long long)v->value.v_int64);
		break;
	case BSON_TYPE_DOUBLE:
		snprintf(c->loc, sizeof c->loc, "_id=%.17g", v->value.v_double);
		break;
	default:
		break;
	}
}

/* ---- items ------------------------------------------------------------ */

static void ctx_reset_path(struct cmp_ctx *c)
{
	c->flen = c->dlen = 0;
	c->field[0] = c->dotted[0] = '\0';
	c->dotted_cut = false;
	c->depth = 0;
}

static struct item *items_new(struct cmp_ctx *c, const struct compare_list *l)
{
	struct item *it = bson_malloc0((l->n ? l->n : 1) * sizeof *it);
	bson_iter_t iter;

	for (size_t i = 0; i < l->n; i++) {
		it[i].v = &l->items[i];
		it[i].idx = i;
		if (l->items[i].value_type == BSON_TYPE_DOCUMENT && cmp_doc_ok(&l->items[i]) &&
		    bson_iter_init_from_data(&iter, l->items[i].value.v_doc.data,
					     l->items[i].value.v_doc.data_len) &&
		    bson_iter_find(&iter, "_id")) {
			it[i].has_id = true;
			it[i].id = *bson_iter_value(&iter);
		}
		ctx_reset_path(c);
		it[i].h = cmp_hash_value(c, it[i].has_id ? &it[i].id : it[i].v);
	}
	return it;
}

static int item_key_cmp(const struct item *a, const struct item *b)
{
	if (a->has_id != b->has_id)
		return a->has_id ? 1 : -1;
	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	return 0;
}

/* qsort over indexes needs the item array: passed through a wrapper. */
struct sort_ent {
	const struct item *it;
};

static int sort_ent_cmp(const void *x, const void *y)
{
	const struct item *a = ((const struct sort_ent *)x)->it, *b = ((const struct sort_ent *)y)->it;
	int k = item_key_cmp(a, b);

	return k ? k : (a->idx > b->idx) - (a->idx < b->idx);
}

/* Equal under the options, without recording anything. */
static bool quietly_equal(struct cmp_ctx *c, const bson_value_t *a, const bson_value_t *b)
{
	bool emit = c->emit, eq;

	c->emit = false;
	ctx_reset_path(c);
	eq = cmp_walk_value(c, a, b);
	c->emit = emit;
	return eq;
}

/* The first unused PostgreSQL item that pairs with mongo item m: with
 * whole set, equal as a whole (and by _id); else equal _id (or, without
 * _id, equal as a whole).  NULL when there is none. */
static struct item *find_partner(struct cmp_ctx *c, const struct item *m, struct sort_ent *s,
				 size_t n, bool whole)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (item_key_cmp(s[mid].it, m) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < n && item_key_cmp(s[k].it, m) == 0; k++) {
		struct item *p = (struct item *)s[k].it;
		if (p->used || !quietly_equal(c, m->has_id ? &m->id : m->v, p->has_id ? &p->id : p->v))
			continue;
		if (!whole || !m->has_id || quietly_equal(c, m->v, p->v))
			return p;
	}
	return NULL;
}

/* Report a whole item as missing (mongo side) or extra. */
static void report_whole(struct cmp_ctx *c, const struct item *it, bool mongo_side)
{
	set_loc_item(c, it);
	ctx_reset_path(c);
	cmp_emit(c, mongo_side ? COMPARE_MISSING : COMPARE_EXTRA, mongo_side ? it->v : NULL,
		 mongo_side ? NULL : it->v, NULL);
}

/* Pair items mi[] (mongo) with pi[] (pg).  Pairs matched by _id are
 * compared field by field.  Leftovers go to the pools, or are reported
 * when the pools are NULL, or dropped when drop is set. */
static void match_group(struct cmp_ctx *c, struct item *m, const size_t *mi, size_t mn,
			struct item *p, const size_t *pi, size_t pn, struct pool *lm,
			struct pool *lp, bool drop)
{
	struct sort_ent *s = bson_malloc((pn ? pn : 1) * sizeof *s);

	for (size_t k = 0; k < pn; k++)
		s[k].it = &p[pi[k]];
	qsort(s, pn, sizeof *s, sort_ent_cmp);
	/* equal documents first, so that duplicate _ids ($unwind output) pair
	 * with their equal twin; then the rest by _id, field by field */
	for (size_t k = 0; k < mn; k++) {
		struct item *a = &m[mi[k]], *b = find_partner(c, a, s, pn, true);
		if (b)
			a->used = b->used = true;
	}
	for (size_t k = 0; k < mn; k++) {
		struct item *a = &m[mi[k]], *b = NULL;
		if (a->used)
			continue;
		if (a->has_id && (b = find_partner(c, a, s, pn, false))) {
			b->used = a->used = true;
			set_loc_item(c, a);
			ctx_reset_path(c);
			cmp_walk_value(c, a->v, b->v);
		} else if (lm) {
			pool_push(lm, mi[k]);
		} else if (!drop) {
			report_whole(c, a, true);
		}
	}
	for (size_t k = 0; k < pn; k++) {
		if (p[pi[k]].used)
			continue;
		if (lp)
			pool_push(lp, pi[k]);
		else if (!drop)
			report_whole(c, &p[pi[k]], false);
	}
	bson_free(s);
}

/* ---- sorted result sets ----------------------------------------------- */

static void as_doc(const struct item *it, bson_t *out)
{
	if (!cmp_doc_ok(it->v) ||
	    !bson_init_static(out, it->v->value.v_doc.data, it->v->value.v_doc.data_len))
		bson_init(out); /* unreachable for validated input: an empty doc */
}

static int key_cmp_items(const struct cmp_ctx *c, const struct item *a, const struct item *b)
{
	bson_t x, y;

	as_doc(a, &x);
	as_doc(b, &y);
	return c->o->key_cmp(&x, &y, c->o->key_arg);
}

/* Start indexes of the runs of equal sort keys (runs[nruns] = n). */
static size_t *tie_runs(const struct cmp_ctx *c, const struct item *it, size_t n, size_t *nruns)
{
	size_t *r = bson_malloc((n + 1) * sizeof *r), k = 0;

	for (size_t i = 0; i < n; i++)
		if (i == 0 || key_cmp_items(c, &it[i - 1], &it[i]) != 0)
			r[k++] = i;
	r[k] = n;
	*nruns = k;
	return r;
}

static size_t *iota(size_t n)
{
	size_t *ix = bson_malloc((n ? n : 1) * sizeof *ix);

	for (size_t i = 0; i < n; i++)
		ix[i] = i;
	return ix;
}

static void pool_run(struct pool *p, const size_t *runs, size_t r)
{
	for (size_t i = runs[r]; i < runs[r + 1]; i++)
		pool_push(p, i);
}

/* Index of the first item sorted before its predecessor, or n. */
static size_t first_unsorted(const struct cmp_ctx *c, const struct item *it, size_t n)
{
	for (size_t j = 1; j < n; j++)
		if (key_cmp_items(c, &it[j - 1], &it[j]) > 0)
			return j;
	return n;
}

/* One "changed" diff (note "order") at the first place where PostgreSQL's
 * list is out of sort order.  Skipped when MongoDB's list is not in the
 * key_cmp order either (the callback does not describe the sort). */
static void order_check(struct cmp_ctx *c, struct item *m, size_t mn, struct item *p, size_t pn)
{
	size_t j;

	if (first_unsorted(c, m, mn) != mn || (j = first_unsorted(c, p, pn)) == pn)
		return;
	set_loc_index(c, j);
	ctx_reset_path(c);
	cmp_emit(c, COMPARE_CHANGED, j < mn ? m[j].v : NULL, p[j].v, "order");
}

static void compare_sorted(struct cmp_ctx *c, struct item *m, size_t mn, struct item *p, size_t pn)
{
	size_t nrm, nrp, rm = 0, rp = 0;
	size_t *runm = tie_runs(c, m, mn, &nrm), *runp = tie_runs(c, p, pn, &nrp);
	size_t *ix = iota(mn > pn ? mn : pn);
	struct pool lm = {0}, lp = {0};

	while (rm < nrm && rp < nrp) {
		int k = key_cmp_items(c, &m[runm[rm]], &p[runp[rp]]);
		if (k == 0) {
			bool last = rm == nrm - 1 && rp == nrp - 1 && c->o->tail_ties_loose;
			match_group(c, m, ix + runm[rm], runm[rm + 1] - runm[rm], p, ix + runp[rp],
				    runp[rp + 1] - runp[rp], last ? NULL : &lm, last ? NULL : &lp, last);
			rm++;
			rp++;
		} else if (k < 0) {
			pool_run(&lm, runm, rm++);
		} else {
			pool_run(&lp, runp, rp++);
		}
	}
	while (rm < nrm)
		pool_run(&lm, runm, rm++);
	while (rp < nrp)
		pool_run(&lp, runp, rp++);
	match_group(c, m, lm.ix, lm.n, p, lp.ix, lp.n, NULL, NULL, false);
	order_check(c, m, mn, p, pn);
	bson_free(lm.ix);
	bson_free(lp.ix);
	bson_free(runm);
	bson_free(runp);
	bson_free(ix);
}

/* ---- entry points ----------------------------------------------------- */

static bool all_docs(const struct compare_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].value_type != BSON_TYPE_DOCUMENT)
			return false;
	return true;
}

bool compare_lists(const struct compare_list *mongo, const struct compare_list *pg,
		   const struct compare_opts *o, struct compare_result *res)
{
	struct cmp_ctx c = {.o = o, .res = res, .emit = true};

	memset(res, 0, sizeof *res);
	res->mongo_n = mongo->n;
	res->pg_n = pg->n;
	c.max_diffs = o->max_diffs ? o->max_diffs : COMPARE_MAX_DIFFS_DEFAULT;
	struct item *m = items_new(&c, mongo), *p = items_new(&c, pg);
	if (o->key_cmp && all_docs(mongo) && all_docs(pg)) {
		compare_sorted(&c, m, mongo->n, p, pg->n);
	} else {
		size_t *ix = iota(mongo->n > pg->n ? mongo->n : pg->n);
		match_group(&c, m, ix, mongo->n, p, ix, pg->n, NULL, NULL, false);
		bson_free(ix);
	}
	bson_free(m);
	bson_free(p);
	return res->diffs_total == 0;
}

bool compare_docs(const bson_t *const *mongo, size_t mongo_n, const bson_t *const *pg,
		  size_t pg_n, const struct compare_opts *o, struct compare_result *res)
{
	struct compare_list lm = {bson_malloc0((mongo_n ? mongo_n : 1) * sizeof(bson_value_t)), mongo_n, false};
	struct compare_list lp = {bson_malloc0((pg_n ? pg_n : 1) * sizeof(bson_value_t)), pg_n, false};

	for (size_t i = 0; i < mongo_n; i++) {
		lm.items[i].value_type = BSON_TYPE_DOCUMENT;
		lm.items[i].value.v_doc.data = (uint8_t *)bson_get_data(mongo[i]);
		lm.items[i].value.v_doc.data_len = mongo[i]->len;
	}
	for (size_t i = 0; i < pg_n; i++) {
		lp.items[i].value_type = BSON_TYPE_DOCUMENT;
		lp.items[i].value.v_doc.data = (uint8_t *)bson_get_data(pg[i]);
		lp.items[i].value.v_doc.data_len = pg[i]->len;
	}
	bool eq = compare_lists(&lm, &lp, o, res);
	bson_free(lm.items);
	bson_free(lp.items);
	return eq;
}

void compare_result_free(struct compare_result *res)
{
	for (size_t i = 0; i < res->n_diffs; i++) {
		bson_value_destroy(&res->diffs[i].mongo_val);
		bson_value_destroy(&res->diffs[i].pg_val);
	}
	bson_free(res->diffs);
	memset(res, 0, sizeof *res);
}
