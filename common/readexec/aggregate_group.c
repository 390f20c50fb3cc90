/*
 * aggregate_group.c - $group {_id: expr, field: {$acc: expr}, ...}.
 *
 * Keys: the _id expression's value (missing -> null); documents whose keys
 * are equal under aggregation comparison (1 == 1.0 == NumberLong(1)) share
 * a group, whose _id is the first key seen.  A keyed hash (SipHash)
 * consistent with that equality (numbers by value) finds the group.
 * Output order of groups is unspecified in mongod: every output document
 * gets one tie class.
 *
 * Accumulators, as mongod's Accumulator* classes:
 *   $sum    numbers only (others ignored); int32 -> int64 -> double as the
 *           widest input and overflow demand; summed with mongod's
 *           double-double summation (summation.h), so 0.1+0.2+0.3 is
 *           0.6 as mongod returns, not 0.6000000000000001
 *   $avg    that sum / count of numbers, double; null when none
 *   $min $max  ignoring null/missing/undefined; null when none
 *   $first $last  the value (missing -> null) of the first/last document
 *   $push   values except missing;  $addToSet  distinct values (mongod's
 *           order is unspecified: agg_info.unordered_arrays)
 *   $count {}  number of documents
 * $first/$last/$push need a defined input order: two documents of one
 * non-zero tie class in a group make the run UNSUPPORTED "order:$group".
 * decimal128 inputs to $sum/$avg are UNSUPPORTED, and so is $sum of a
 * constant double with a fraction (mongod versions differ there).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate_internal.h"
#include "aggexpr_internal.h"
#include "bsoncmp.h"
#include "hash.h"
#include "summation.h"

enum acc_kind { ACC_SUM, ACC_AVG, ACC_MIN, ACC_MAX, ACC_FIRST, ACC_LAST, ACC_PUSH, ACC_ADDTOSET, ACC_COUNT };

static const char *const acc_names[] = { "$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet", "$count" };

#define GROUP_MAX_FIELDS 256

struct accspec {
	const char *field;
	enum acc_kind kind;
	bson_value_t expr;
};

struct gspec {
	bson_value_t id;
	struct accspec acc[GROUP_MAX_FIELDS];
	size_t nacc;
	bool ordered; /* has $first/$last/$push */
};

struct accstate {
	struct summation_acc sum; /* $sum, $avg */
	int64_t count;            /* $count */
	bson_value_t val; /* min/max/first/last, copied (bson_value_copy) */
	bool has;
	bson_t *arr; /* push/addToSet (heap: bson_t wants 128-byte alignment) */
	uint32_t n;
};

struct group {
	bson_value_t key; /* copied */
	uint64_t hash;
	uint32_t last_tie;
	struct accstate *st;
};

struct gtable {
	struct group *g;
	size_t n, cap;
	size_t *slots; /* index + 1, 0 empty */
	size_t nslots;
	size_t bytes;
};

/* ---- spec -------------------------------------------------------------------------- */

/* {$sum: c} with a constant number c: current mongod adds c + c + ...
 * naively (its constant-sum shortcut), older servers with the double-double
 * sum.  Both agree unless c is a double with a fraction (10 x 0.1 is
 * 0.9999999999999999 one way, 1.0 the other): that case is not guessed. */
static bool sum_constant_ambiguous(const bson_value_t *e)
{
	bson_iter_t it;
	const bson_value_t *c = e;

	if (e->value_type == BSON_TYPE_DOCUMENT &&
	    bson_iter_init_from_data(&it, e->value.v_doc.data, e->value.v_doc.data_len) && bson_iter_next(&it) &&
	    strcmp(bson_iter_key(&it), "$literal") == 0)
		c = bson_iter_value(&it);
	return c->value_type == BSON_TYPE_DOUBLE && !(trunc(c->value.v_double) == c->value.v_double);
}

static enum agg_status parse_acc(const char *field, const bson_value_t *v, struct accspec *a, bson_error_t *err)
{
	bson_iter_t it;
	const char *op;
	char r[64];
	enum agg_status st;

	a->field = field;
	if (v->value_type != BSON_TYPE_DOCUMENT || !bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) ||
	    !bson_iter_next(&it))
		return agg_unsupported(err, "invalid:$group");
	op = bson_iter_key(&it);
	a->expr = *bson_iter_value(&it);
	if (bson_iter_next(&it))
		return agg_unsupported(err, "invalid:$group");
	for (size_t i = 0; i < sizeof acc_names / sizeof acc_names[0]; i++)
		if (strcmp(op, acc_names[i]) == 0) {
			a->kind = (enum acc_kind)i;
			if (a->kind == ACC_COUNT)
				return a->expr.value_type == BSON_TYPE_DOCUMENT && a->expr.value.v_doc.data_len == 5
					       ? AGG_OK
					       : agg_unsupported(err, "invalid:$count");
			if (a->expr.value_type == BSON_TYPE_ARRAY)
				return agg_unsupported(err, "invalid:accumulator_array");
			st = aggx_check(&a->expr, err);
			if (st == AGG_OK && a->kind == ACC_SUM && sum_constant_ambiguous(&a->expr))
				return agg_unsupported(err, "group:$sum_double_constant");
			return st;
		}
	snprintf(r, sizeof r, "group:%.50s", op);
	return agg_unsupported(err, r);
}

static enum agg_status parse_group(const bson_value_t *arg, struct gspec *g, bson_error_t *err)
{
	bson_iter_t it;
	bool has_id = false;
	enum agg_status st;

	memset(g, 0, sizeof *g);
	if (arg->value_type != BSON_TYPE_DOCUMENT ||
	    !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return agg_unsupported(err, "invalid:$group");
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "_id") == 0 && !has_id) {
			has_id = true;
			g->id = *bson_iter_value(&it);
			if ((st = aggx_check(&g->id, err)) != AGG_OK)
				return st;
			continue;
		}
		if (!k[0] || k[0] == '$' || strchr(k, '.') || strcmp(k, "_id") == 0 || !bson_utf8_validate(k, strlen(k), false))
			return agg_unsupported(err, "invalid:$group");
		for (size_t i = 0; i < g->nacc; i++)
			if (strcmp(g->acc[i].field, k) == 0)
				return agg_unsupported(err, "invalid:$group");
		if (g->nacc == GROUP_MAX_FIELDS)
			return agg_unsupported(err, "limit:group_fields");
		if ((st = parse_acc(k, bson_iter_value(&it), &g->acc[g->nacc], err)) != AGG_OK)
			return st;
		if (g->acc[g->nacc].kind == ACC_FIRST || g->acc[g->nacc].kind == ACC_LAST || g->acc[g->nacc].kind == ACC_PUSH)
			g->ordered = true;
		g->nacc++;
	}
	return has_id ? AGG_OK : agg_unsupported(err, "invalid:$group_no_id");
}

/* ---- key hashing (consistent with bsoncmp equality) -------------------------------------- */

/* Keys come from the documents, so clients choose them: the hash is keyed
 * (SipHash over a canonical form) so that they cannot pile groups onto one
 * probe chain.  The value only places groups in this run's table.
 * Canonical form: the comparison bracket, then a payload equal for values
 * aggx_cmp calls equal (numbers by value: integral ones as int64, NaN as a
 * tag, others as the double's bytes); strings and keys carry their length,
 * documents and arrays end with a mark no element starts with. */

#define KEY_INTEGRAL 1u
#define KEY_NAN 2u
#define KEY_DOUBLE 3u
#define KEY_END UINT64_MAX

static void key_word(struct hash_sip *st, uint64_t x)
{
	hash_sip_add(st, &x, sizeof x);
}

static void key_bytes(struct hash_sip *st, const void *p, uint64_t n)
{
	key_word(st, n);
	hash_sip_add(st, p, (size_t)n);
}

static void key_value(struct hash_sip *st, const bson_value_t *v, int depth);

static void key_doc(struct hash_sip *st, const uint8_t *data, uint32_t len, bool names, int depth)
{
	bson_iter_t it;

	if (depth <= 100 && bson_iter_init_from_data(&it, data, len)) {
		while (bson_iter_next(&it)) {
			if (names)
				key_bytes(st, bson_iter_key(&it), bson_iter_key_len(&it));
			key_value(st, bson_iter_value(&it), depth + 1);
		}
	}
	key_word(st, KEY_END);
}

static void key_value(struct hash_sip *st, const bson_value_t *v, int depth)
{
	double d;

	key_word(st, (uint64_t)bsoncmp_bracket(v->value_type));
	switch (v->value_type) {
	case BSON_TYPE_INT32:
		key_word(st, KEY_INTEGRAL);
		key_word(st, (uint64_t)(int64_t)v->value.v_int32);
		break;
	case BSON_TYPE_INT64:
		key_word(st, KEY_INTEGRAL);
		key_word(st, (uint64_t)v->value.v_int64);
		break;
	case BSON_TYPE_DOUBLE:
		d = v->value.v_double;
		if (d >= -9.2e18 && d <= 9.2e18 && floor(d) == d) {
			key_word(st, KEY_INTEGRAL);
			key_word(st, (uint64_t)(int64_t)d);
		} else if (isnan(d)) {
			key_word(st, KEY_NAN);
		} else {
			key_word(st, KEY_DOUBLE);
			hash_sip_add(st, &d, sizeof d);
		}
		break;
	case BSON_TYPE_UTF8: key_bytes(st, v->value.v_utf8.str, v->value.v_utf8.len); break;
	case BSON_TYPE_SYMBOL: key_bytes(st, v->value.v_symbol.symbol, v->value.v_symbol.len); break;
	case BSON_TYPE_DOCUMENT: key_doc(st, v->value.v_doc.data, v->value.v_doc.data_len, true, depth); break;
	case BSON_TYPE_ARRAY: key_doc(st, v->value.v_doc.data, v->value.v_doc.data_len, false, depth); break;
	case BSON_TYPE_OID: hash_sip_add(st, v->value.v_oid.bytes, 12); break;
	case BSON_TYPE_BOOL: key_word(st, v->value.v_bool); break;
	case BSON_TYPE_DATE_TIME: key_word(st, (uint64_t)v->value.v_datetime); break;
	default: break; /* the bracket only: equality decides */
	}
}

static uint64_t hash_value(const bson_value_t *v)
{
	struct hash_sip st;

	hash_sip_init(&st);
	key_value(&st, v, 0);
	return hash_sip_end(&st);
}

/* ---- table ------------------------------------------------------------------------------------ */

static void acc_free(struct accstate *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].has)
			bson_value_destroy(&a[i].val);
		if (a[i].arr)
			bson_destroy(a[i].arr);
	}
	free(a);
}

static void table_free(struct gtable *t, size_t nacc)
{
	for (size_t i = 0; i < t->n; i++) {
		bson_value_destroy(&t->g[i].key);
		acc_free(t->g[i].st, nacc);
	}
	free(t->g);
	free(t->slots);
}

static bool table_grow(struct gtable *t)
{
	size_t ns = t->nslots ? t->nslots * 2 : 64;
	size_t *slots = calloc(ns, sizeof *slots);

	if (!slots)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		size_t s = t->g[i].hash & (ns - 1);
		while (slots[s])
			s = (s + 1) & (ns - 1);
		slots[s] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = ns;
	return true;
}

/* The group of key (created when new); NULL on allocation failure. */
static struct group *table_get(struct gtable *t, const bson_value_t *key, size_t nacc)
{
	uint64_t h = hash_value(key);
	size_t s;
	struct group *g;

	if ((t->n + 1) * 2 > t->nslots && !table_grow(t))
		return NULL;
	for (s = h & (t->nslots - 1); t->slots[s]; s = (s + 1) & (t->nslots - 1)) {
		g = &t->g[t->slots[s] - 1];
		if (g->hash == h && aggx_cmp(&g->key, key) == 0)
			return g;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct group *ng = realloc(t->g, cap * sizeof *ng);
		if (!ng)
			return NULL;
		t->g = ng;
		t->cap = cap;
	}
	g = &t->g[t->n];
	memset(g, 0, sizeof *g);
	if (!(g->st = calloc(nacc ? nacc : 1, sizeof *g->st)))
		return NULL;
	for (size_t i = 0; i < nacc; i++)
		if (!(g->st[i].arr = bson_new()))
			return NULL;
	bson_value_copy(key, &g->key);
	g->hash = h;
	t->slots[s] = ++t->n;
	return g;
}

/* ---- accumulate ------------------------------------------------------------------------------- */

static void keep(struct accstate *a, const bson_value_t *v)
{
	if (a->has)
		bson_value_destroy(&a->val);
	if (v->value_type == BSON_TYPE_EOD)
		a->val.value_type = BSON_TYPE_EOD;
	else
		bson_value_copy(v, &a->val);
	a->has = true;
}

static void push(struct accstate *a, const bson_value_t *v)
{
	char key[24];

	snprintf(key, sizeof key, "%u", a->n++);
	bson_append_value(a->arr, key, -1, v);
}

static bool in_array(const struct accstate *a, const bson_value_t *v)
{
	bson_iter_t it;

	if (bson_iter_init(&it, a->arr))
		while (bson_iter_next(&it))
			if (aggx_cmp(bson_iter_value(&it), v) == 0)
				return true;
	return false;
}

static enum agg_status accumulate(const struct accspec *s, struct accstate *a, const bson_value_t *v, bson_error_t *err)
{
	switch (s->kind) {
	case ACC_SUM:
	case ACC_AVG:
		if (summation_acc_add(&a->sum, v) == SUMMATION_DECIMAL)
			return agg_unsupported(err, "expr:decimal");
		return AGG_OK;
	case ACC_COUNT: a->count++; return AGG_OK;
	case ACC_MIN:
	case ACC_MAX:
		if (aggx_nullish(v))
			return AGG_OK;
		if (!a->has || (s->kind == ACC_MIN ? aggx_cmp(v, &a->val) < 0 : aggx_cmp(v, &a->val) > 0))
			keep(a, v);
		return AGG_OK;
	case ACC_FIRST:
		if (!a->has)
			keep(a, v);
		return AGG_OK;
	case ACC_LAST: keep(a, v); return AGG_OK;
	case ACC_PUSH:
		if (v->value_type != BSON_TYPE_EOD)
			push(a, v);
		return AGG_OK;
	case ACC_ADDTOSET:
		if (v->value_type != BSON_TYPE_EOD && !in_array(a, v))
			push(a, v);
		return AGG_OK;
	}
	return AGG_OK;
}

static void append_result(bson_t *doc, const struct accspec *s, const struct accstate *a)
{
	bson_value_t v;

	switch (s->kind) {
	case ACC_SUM: summation_acc_sum(&a->sum, &v); break;
	case ACC_AVG: summation_acc_avg(&a->sum, &v); break;
	case ACC_COUNT: aggx_set_int_or_long(&v, a->count); break;
	case ACC_PUSH:
	case ACC_ADDTOSET: bson_append_array(doc, s->field, -1, a->arr); return;
	default:
		if (a->has && a->val.value_type != BSON_TYPE_EOD)
			v = a->val;
		else
			aggx_set_null(&v);
	}
	bson_append_value(doc, s->field, -1, &v);
}

/* ---- stage ------------------------------------------------------------------------------------ */

static enum agg_status group_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	struct gspec *g = malloc(sizeof *g);
	enum agg_status st;

	if (!g)
		return agg_unsupported(err, "limit:memory");
	st = parse_group(arg, g, err);
	for (size_t i = 0; st == AGG_OK && i < g->nacc; i++)
		if (g->acc[i].kind == ACC_ADDTOSET)
			info->unordered_arrays = true;
	free(g);
	return st;
}

static size_t group_bytes(const struct group *g, size_t nacc)
{
	size_t b = sizeof *g + nacc * sizeof *g->st;

	for (size_t i = 0; i < nacc; i++)
		b += g->st[i].arr->len;
	return b;
}

static enum agg_status group_doc(const struct gspec *g, struct gtable *t, const struct agg_item *item,
				 struct aggx_arena *arena, struct agg_run *r)
{
	bson_value_t key, v;
	struct group *grp;
	size_t before;
	enum agg_status st = aggx_eval(&g->id, item->doc, arena, &key, r->err);

	if (st != AGG_OK)
		return st;
	if (key.value_type == BSON_TYPE_EOD)
		aggx_set_null(&key);
	if (!(grp = table_get(t, &key, g->nacc)))
		return agg_unsupported(r->err, "limit:memory");
	if (g->ordered) {
		if (item->tie != 0 && grp->last_tie == item->tie)
			return agg_unsupported(r->err, "order:$group");
		grp->last_tie = item->tie;
	}
	before = group_bytes(grp, g->nacc);
	for (size_t i = 0; i < g->nacc; i++) {
		if (g->acc[i].kind == ACC_COUNT)
			v.value_type = BSON_TYPE_EOD;
		else if ((st = aggx_eval(&g->acc[i].expr, item->doc, arena, &v, r->err)) != AGG_OK)
			return st;
		if ((st = accumulate(&g->acc[i], &grp->st[i], &v, r->err)) != AGG_OK)
			return st;
	}
	t->bytes += group_bytes(grp, g->nacc) - before + (grp->st[0].count == 0 ? 0 : 0);
	if (t->bytes > r->max_bytes)
		return agg_unsupported(r->err, "limit:memory");
	return AGG_OK;
}

static enum agg_status group_emit(const struct gspec *g, struct gtable *t, struct agg_run *r)
{
	struct agg_stream out = { 0 };
	uint32_t tie = r->next_tie++;
	enum agg_status st = AGG_OK;

	for (size_t i = 0; st == AGG_OK && i < t->n; i++) {
		bson_t *doc = bson_new();
		bson_append_value(doc, "_id", 3, &t->g[i].key);
		for (size_t k = 0; k < g->nacc; k++)
			append_result(doc, &g->acc[k], &t->g[i].st[k]);
		st = agg_stream_push(r, &out, doc, t->n > 1 ? tie : 0);
	}
	if (st == AGG_OK)
		agg_stream_swap(r, &out);
	else
		agg_stream_clear(&out);
	return st;
}

static enum agg_status group_run(const bson_value_t *arg, struct agg_run *r)
{
	struct gspec *g = malloc(sizeof *g);
	struct gtable t = { 0 };
	struct aggx_arena arena;
	enum agg_status st;

	if (!g)
		return agg_unsupported(r->err, "limit:memory");
	aggx_arena_init(&arena, r->max_bytes);
	st = parse_group(arg, g, r->err);
	for (size_t i = 0; st == AGG_OK && i < r->s.n; i++) {
		st = group_doc(g, &t, &r->s.v[i], &arena, r);
		aggx_arena_reset(&arena);
	}
	if (st == AGG_OK)
		st = group_emit(g, &t, r);
	aggx_arena_free(&arena);
	table_free(&t, g->nacc);
	free(g);
	return st;
}

const struct agg_stage agg_stages_group[] = {
	{ "$group", group_check, group_run },
	{ NULL, NULL, NULL },
};
