/*
 * update_seed.c - update_upsert_seed: the document an upsert starts from.
 *
 * MongoDB seeds it with the filter's equality conditions: {a: v},
 * {a: {$eq: v}}, {a: {$in: [v]}} (one element), also inside top-level
 * $and, taken in path order (bytewise, as its std::map does) with dotted
 * paths expanded into embedded documents; other operators and $or/$nor/
 * $expr add nothing.  _id comes first.  The same path twice, or a path
 * and its prefix, is MongoDB's "cannot infer query fields to set" error.
 * For a replacement only _id is taken from the filter.  MongoDB 5.0+
 * iterates the equalities of a hash map: with two or more non-_id fields
 * their order is unknowable, so that case is UPDATE_RESYNC.
 */
#include <stdlib.h>
#include <string.h>

#include "update_internal.h"

struct seed_pair {
	const char *path;
	bson_value_t v;
};

struct seed {
	struct seed_pair *p;
	uint32_t n, cap;
	bool replacement;
};

static bool seed_add(struct seed *s, const char *path, const bson_value_t *v)
{
	if (s->replacement && strcmp(path, "_id") != 0)
		return true;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 8;
		struct seed_pair *p = realloc(s->p, cap * sizeof *p);

		if (!p)
			return false;
		s->p = p;
		s->cap = cap;
	}
	s->p[s->n].path = path;
	s->p[s->n++].v = *v;
	return true;
}

/* The equality value in an operator document {$eq: v} / {$in: [v]}. */
static bool op_equality(const bson_value_t *d, bson_value_t *out)
{
	bson_t doc, arr;
	bson_iter_t it, a;

	bson_init_static(&doc, d->value.v_doc.data, d->value.v_doc.data_len);
	if (bson_iter_init_find(&it, &doc, "$eq")) {
		*out = *bson_iter_value(&it);
		return true;
	}
	if (!bson_iter_init_find(&it, &doc, "$in") || !BSON_ITER_HOLDS_ARRAY(&it))
		return false;
	*out = *bson_iter_value(&it);
	bson_init_static(&arr, out->value.v_doc.data, out->value.v_doc.data_len);
	if (!bson_iter_init(&a, &arr) || !bson_iter_next(&a) || BSON_ITER_HOLDS_REGEX(&a))
		return false;
	*out = *bson_iter_value(&a);
	return !bson_iter_next(&a);
}

/* An array of exactly one element (MongoDB's optimizer turns a one-child
 * $or into that child). */
static bool one_element(const bson_value_t *v)
{
	bson_t a;
	bson_iter_t it;

	return v->value_type == BSON_TYPE_ARRAY &&
	       bson_init_static(&a, v->value.v_doc.data, v->value.v_doc.data_len) &&
	       bson_iter_init(&it, &a) && bson_iter_next(&it) && !bson_iter_next(&it);
}

/* {$all: [v, ...]} parses to one equality per element: add them all (two
 * make MongoDB's "matched twice" error).  $elemMatch elements add nothing. */
static bool add_all(struct seed *s, const char *path, const bson_value_t *d)
{
	bson_t doc, arr;
	bson_iter_t it, a;

	bson_init_static(&doc, d->value.v_doc.data, d->value.v_doc.data_len);
	if (!bson_iter_init_find(&it, &doc, "$all") || !BSON_ITER_HOLDS_ARRAY(&it))
		return true;
	bson_init_static(&arr, bson_iter_value(&it)->value.v_doc.data,
			 bson_iter_value(&it)->value.v_doc.data_len);
	if (!bson_iter_init(&a, &arr))
		return true;
	while (bson_iter_next(&a)) {
		bson_iter_t f;

		if (BSON_ITER_HOLDS_REGEX(&a) ||
		    (BSON_ITER_HOLDS_DOCUMENT(&a) && bson_iter_recurse(&a, &f) && bson_iter_next(&f) &&
		     strcmp(bson_iter_key(&f), "$elemMatch") == 0))
			continue;
		if (!seed_add(s, path, bson_iter_value(&a)))
			return false;
	}
	return true;
}

static bool collect(struct uctx *c, struct seed *s, const bson_t *filter, int depth)
{
	bson_iter_t it;

	if (depth > UPDATE_MAX_DEPTH || !bson_iter_init(&it, filter))
		return update_fail(c, UPDATE_ERROR, "invalid filter") == UPDATE_OK;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		const bson_value_t *v = bson_iter_value(&it);
		bson_value_t eq = *v;

		if ((strcmp(k, "$and") == 0 || (strcmp(k, "$or") == 0 && one_element(v))) &&
		    v->value_type == BSON_TYPE_ARRAY) {
			bson_iter_t sub;

			bson_iter_recurse(&it, &sub);
			while (bson_iter_next(&sub)) {
				bson_t d;
				const bson_value_t *x = bson_iter_value(&sub);

				if (x->value_type == BSON_TYPE_DOCUMENT &&
				    bson_init_static(&d, x->value.v_doc.data, x->value.v_doc.data_len) &&
				    !collect(c, s, &d, depth + 1))
					return false;
			}
			continue;
		}
		if (k[0] == '$' || v->value_type == BSON_TYPE_REGEX)
			continue;
		if (v->value_type == BSON_TYPE_DOCUMENT) {
			bson_t d;
			bson_iter_t f;

			bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len);
			if (bson_iter_init(&f, &d) && bson_iter_next(&f) && bson_iter_key(&f)[0] == '$') {
				if (!add_all(s, k, v))
					return update_fail(c, UPDATE_ERROR, "out of memory") == UPDATE_OK;
				if (!op_equality(v, &eq))
					continue;
			}
		}
		if (!seed_add(s, k, &eq))
			return update_fail(c, UPDATE_ERROR, "out of memory") == UPDATE_OK;
	}
	return true;
}

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seed_pair *)a)->path, ((const struct seed_pair *)b)->path);
}

static bool is_id_path(const char *p)
{
	return strncmp(p, "_id", 3) == 0 && (p[3] == '\0' || p[3] == '.');
}

static bool check_pairs(struct uctx *c, const struct seed *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		for (uint32_t j = 0; j < s->n; j++) {
			const char *a = s->p[i].path, *b = s->p[j].path;
			size_t la = strlen(a);

			if (i == j || strncmp(a, b, la) != 0)
				continue;
			if (b[la] == '\0')
				return update_fail(c, UPDATE_ERROR, "cannot infer query fields to set, path '%s' is matched twice", a) == UPDATE_OK;
			if (b[la] == '.')
				return update_fail(c, UPDATE_ERROR, "cannot infer query fields to set, both paths '%s' and '%s' are matched", a, b) == UPDATE_OK;
		}
	}
	return true;
}

/* MongoDB 5.0+ keeps the equalities in a hash map (StringDataMap), so
 * the order of two or more seed paths (other than _id itself) is not
 * reproducible. */
static bool order_known(struct uctx *c, const struct seed *s, bool have_id)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->n; i++)
		n += strcmp(s->p[i].path, "_id") != 0 && !(have_id && is_id_path(s->p[i].path));
	if (n > 1)
		return update_fail(c, UPDATE_RESYNC, "upsert seed with %u equality fields: MongoDB's field order is not reproducible", n) == UPDATE_OK;
	return true;
}

/* $set every pair into root; _id paths first (pass 0), then the rest. */
static bool build(struct uctx *c, const struct seed *s, const bson_value_t *id, struct unode *root)
{
	c->ents = bson_malloc0((s->n ? s->n : 1) * sizeof *c->ents);
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < s->n; i++) {
			struct uentry *e;

			if (is_id_path(s->p[i].path) != (pass == 0) || (id && pass == 0))
				continue;
			e = &c->ents[c->nents++];
			e->op = UOP_SET;
			e->opname = "$set";
			e->val = s->p[i].v;
			if (!update_path_split(c, e, s->p[i].path) ||
			    update_ops_apply(c, e, root) != UPDATE_OK)
				return false;
		}
	}
	return true;
}

enum update_status update_upsert_seed(const bson_t *filter, const bson_value_t *id,
				      bool replacement, bson_t *out, bson_error_t *err)
{
	struct update_args args = {.inserting = true};
	struct uctx c = {.args = &args, .err = err};
	struct seed s = {.replacement = replacement};
	static const uint8_t empty[5] = {5, 0, 0, 0, 0};
	struct unode root = {.v = {.value_type = BSON_TYPE_DOCUMENT}};
	bson_value_t idv = {.value_type = BSON_TYPE_NULL};

	bson_init(out);
	if (err)
		memset(err, 0, sizeof *err);
	root.v.value.v_doc.data = (uint8_t *)empty;
	root.v.value.v_doc.data_len = sizeof empty;
	if (collect(&c, &s, filter, 0) && check_pairs(&c, &s) && order_known(&c, &s, id != NULL) &&
	    update_node_expand(&c, &root) == UPDATE_OK) {
		if (id)
			idv = *id;
		if (s.n)
			qsort(s.p, s.n, sizeof *s.p, pair_cmp);
		if ((!id || update_node_insert(&c, &root, 0, "_id", 3, &idv) == UPDATE_OK) &&
		    build(&c, &s, id, &root) && !update_node_emit(&root, out))
			(void)update_fail(&c, UPDATE_ERROR, "document too large");
	}
	update_node_clear(&root);
	update_ctx_free(&c);
	free(s.p);
	if (c.st != UPDATE_OK)
		bson_reinit(out);
	return c.st;
}
