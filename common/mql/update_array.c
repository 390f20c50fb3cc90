/*
 * update_array.c - the array operators: $push (with $each, $position,
 * $sort, $slice applied in that order whatever order they are written
 * in), $addToSet (with $each), $pop, $pull, $pullAll.
 *
 * Equality is bsoncmp_equal (MongoDB's, no collation).  $pull's argument
 * selects how an element is tested (MongoDB's pull_node): a document
 * whose first key is a value operator ($gt, $in, $elemMatch...) or a regex
 * is a condition on the element itself ({x: element} matched against
 * {x: condition}); any other document (plain fields, $or, $and...) is a
 * query run on each document element; anything else is equality.  $sort orders like MongoDB's std::sort (update_sort.c).
 */
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"
#include "match.h"
#include "update_internal.h"

static bool integral(const bson_value_t *v, int64_t *out)
{
	if (v->value_type == BSON_TYPE_INT32)
		*out = v->value.v_int32;
	else if (v->value_type == BSON_TYPE_INT64)
		*out = v->value.v_int64;
	else if (v->value_type == BSON_TYPE_DOUBLE && v->value.v_double >= -9.0e15 &&
		 v->value.v_double <= 9.0e15 && v->value.v_double == (double)(int64_t)v->value.v_double)
		*out = (int64_t)v->value.v_double;
	else
		return false;
	return true;
}

static bool sort_spec(struct uctx *c, struct uentry *e, const bson_value_t *v)
{
	const char *msg = "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields";
	int64_t dir;
	bson_t d;
	bson_iter_t it;
	int n = 0;

	if (integral(v, &dir) && (dir == 1 || dir == -1)) {
		e->push.sort = (int)dir;
		return true;
	}
	if (v->value_type != BSON_TYPE_DOCUMENT)
		return update_fail(c, UPDATE_ERROR, "%s", msg) == UPDATE_OK;
	bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len);
	if (!bson_iter_init(&it, &d))
		return update_fail(c, UPDATE_ERROR, "%s", msg) == UPDATE_OK;
	while (bson_iter_next(&it)) {
		n++;
		if (!integral(bson_iter_value(&it), &dir) || (dir != 1 && dir != -1) ||
		    bson_iter_key(&it)[0] == '\0')
			return update_fail(c, UPDATE_ERROR, "%s", msg) == UPDATE_OK;
	}
	if (n == 0)
		return update_fail(c, UPDATE_ERROR, "%s", msg) == UPDATE_OK;
	e->push.sort = 2;
	e->push.pattern = *v;
	return true;
}

static bool parse_push(struct uctx *c, struct uentry *e)
{
	bson_t d;
	bson_iter_t it;

	if (e->val.value_type != BSON_TYPE_DOCUMENT)
		return true;
	bson_init_static(&d, e->val.value.v_doc.data, e->val.value.v_doc.data_len);
	if (!bson_iter_init_find(&it, &d, "$each"))
		return true;
	bson_iter_init(&it, &d);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		const bson_value_t *v = bson_iter_value(&it);

		if (!strcmp(k, "$each")) {
			if (v->value_type != BSON_TYPE_ARRAY)
				return update_fail(c, UPDATE_ERROR, "The argument to $each in $push must be an array but it was of type: %s", update_type_name(v->value_type)) == UPDATE_OK;
			e->push.has_each = true;
			e->push.each = *v;
		} else if (!strcmp(k, "$slice")) {
			if (!integral(v, &e->push.slice))
				return update_fail(c, UPDATE_ERROR, "The value for $slice must be an integral value") == UPDATE_OK;
			e->push.has_slice = true;
		} else if (!strcmp(k, "$position")) {
			if (!integral(v, &e->push.pos))
				return update_fail(c, UPDATE_ERROR, "The value for $position must be an integer value") == UPDATE_OK;
			e->push.has_pos = true;
		} else if (!strcmp(k, "$sort")) {
			if (!sort_spec(c, e, v))
				return false;
		} else {
			return update_fail(c, UPDATE_ERROR, "Unrecognized clause in $push: %s", k) == UPDATE_OK;
		}
	}
	return true;
}

static bool parse_add_to_set(struct uctx *c, struct uentry *e)
{
	bson_t d;
	bson_iter_t it;

	if (e->val.value_type != BSON_TYPE_DOCUMENT)
		return true;
	bson_init_static(&d, e->val.value.v_doc.data, e->val.value.v_doc.data_len);
	if (!bson_iter_init(&it, &d) || !bson_iter_next(&it) || strcmp(bson_iter_key(&it), "$each"))
		return true;
	if (!BSON_ITER_HOLDS_ARRAY(&it))
		return update_fail(c, UPDATE_ERROR, "The argument to $each in $addToSet must be an array but it was of type %s", update_type_name(bson_iter_type(&it))) == UPDATE_OK;
	e->push.has_each = true;
	e->push.each = *bson_iter_value(&it);
	if (bson_iter_next(&it))
		return update_fail(c, UPDATE_ERROR, "Found unexpected fields after $each in $addToSet: %s", bson_iter_key(&it)) == UPDATE_OK;
	return true;
}

/* MongoDB's parsePathAcceptingKeyword: operators that apply to a value
 * (as opposed to top-level ones like $and/$or/$expr). */
static bool path_keyword(const char *k)
{
	static const char *const kw[] = {
		"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type",
		"$size", "$all", "$elemMatch", "$mod", "$regex", "$options", "$not", "$near",
		"$nearSphere", "$geoWithin", "$within", "$geoIntersects", "$bitsAllSet",
		"$bitsAllClear", "$bitsAnySet", "$bitsAnyClear", "$maxDistance", "$minDistance",
	};

	for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
		if (strcmp(k, kw[i]) == 0)
			return true;
	return false;
}

static bool parse_pull(struct uctx *c, struct uentry *e)
{
	bson_t d;
	bson_iter_t it;
	bson_error_t merr;
	enum match_status ms;

	e->pull_mode = UPULL_EQUAL;
	if (e->val.value_type == BSON_TYPE_DOCUMENT) {
		bson_init_static(&d, e->val.value.v_doc.data, e->val.value.v_doc.data_len);
		e->pull_mode = bson_iter_init(&it, &d) && bson_iter_next(&it) &&
			       path_keyword(bson_iter_key(&it)) ? UPULL_WRAP : UPULL_OBJECT;
	} else if (e->val.value_type == BSON_TYPE_REGEX) {
		e->pull_mode = UPULL_WRAP;
	}
	if (e->pull_mode == UPULL_EQUAL)
		return true;
	e->pull_filter = bson_new();
	if (e->pull_mode == UPULL_WRAP)
		bson_append_value(e->pull_filter, "x", 1, &e->val);
	else
		bson_concat(e->pull_filter, &d);
	ms = match_check(e->pull_filter, &merr);
	if (ms == MATCH_ERROR)
		return update_fail(c, UPDATE_ERROR, "%s", merr.message) == UPDATE_OK;
	if (ms != MATCH_YES)
		return update_fail(c, UPDATE_RESYNC, "$pull condition not evaluated here: %s", merr.message) == UPDATE_OK;
	return true;
}

bool update_array_parse(struct uctx *c, struct uentry *e)
{
	int64_t dir;

	switch (e->op) {
	case UOP_PUSH:
		return parse_push(c, e);
	case UOP_ADD_TO_SET:
		return parse_add_to_set(c, e);
	case UOP_POP:
		if (!integral(&e->val, &dir) || (dir != 1 && dir != -1))
			return update_fail(c, UPDATE_ERROR, "$pop expects 1 or -1") == UPDATE_OK;
		e->push.pos = dir;
		return true;
	case UOP_PULL:
		return parse_pull(c, e);
	case UOP_PULL_ALL:
		if (e->val.value_type != BSON_TYPE_ARRAY)
			return update_fail(c, UPDATE_ERROR, "$pullAll requires an array argument but was given a %s", update_type_name(e->val.value_type)) == UPDATE_OK;
		return true;
	default:
		return true;
	}
}

/* Match {wrapkey: v} (or v itself when wrapkey is NULL) against filter. */
enum update_status update_match_value(struct uctx *c, const bson_t *filter, const char *wrapkey,
				      const bson_value_t *v, bool *matched)
{
	bson_t doc = BSON_INITIALIZER;
	bson_error_t merr = {0};
	enum match_status ms;

	*matched = false;
	if (!wrapkey) {
		if (v->value_type != BSON_TYPE_DOCUMENT)
			return UPDATE_OK;
		bson_destroy(&doc);
		bson_init_static(&doc, v->value.v_doc.data, v->value.v_doc.data_len);
	} else if (!bson_append_value(&doc, wrapkey, -1, v)) {
		bson_destroy(&doc);
		return update_fail(c, UPDATE_ERROR, "document too large");
	}
	ms = match_doc(filter, &doc, NULL, &merr);
	bson_destroy(&doc);
	if (ms == MATCH_ERROR)
		return update_fail(c, UPDATE_ERROR, "%s", merr.message);
	if (ms == MATCH_UNSUPPORTED)
		return update_fail(c, UPDATE_RESYNC, "filter not evaluated here: %s", merr.message);
	*matched = ms == MATCH_YES;
	return UPDATE_OK;
}

/* The value at a dotted field of an array element for a $sort pattern
 * (missing, or a non-document element: null). */
static void sort_key(const struct unode *n, const char *field, bson_value_t *out)
{
	bson_t d;
	bson_iter_t it, sub;

	out->value_type = BSON_TYPE_NULL;
	if (n->v.value_type != BSON_TYPE_DOCUMENT ||
	    !bson_init_static(&d, n->v.value.v_doc.data, n->v.value.v_doc.data_len) ||
	    !bson_iter_init(&it, &d) || !bson_iter_find_descendant(&it, field, &sub))
		return;
	*out = *bson_iter_value(&sub);
}

static int elem_cmp(const struct uentry *e, const struct unode *a, const struct unode *b)
{
	bson_t p;
	bson_iter_t it;

	if (e->push.sort != 2)
		return bsoncmp_value(&a->v, &b->v) * e->push.sort;
	bson_init_static(&p, e->push.pattern.value.v_doc.data, e->push.pattern.value.v_doc.data_len);
	bson_iter_init(&it, &p);
	while (bson_iter_next(&it)) {
		bson_value_t x, y;
		int64_t dir = BSON_ITER_HOLDS_INT32(&it) ? bson_iter_int32(&it)
			    : BSON_ITER_HOLDS_INT64(&it) ? bson_iter_int64(&it)
			    : (int64_t)bson_iter_double(&it);
		int r;

		sort_key(a, bson_iter_key(&it), &x);
		sort_key(b, bson_iter_key(&it), &y);
		r = bsoncmp_value(&x, &y);
		if (r)
			return dir < 0 ? -r : r;
	}
	return 0;
}

static bool elem_less(const void *ctx, const struct unode *a, const struct unode *b)
{
	return elem_cmp(ctx, a, b) < 0;
}

/* Iterate the values an operator adds: $each's elements or the operand. */
struct vals {
	bool each;
	bson_iter_t it;
	const bson_value_t *single;
	bool done;
};

static void vals_init(struct vals *vs, const struct uentry *e)
{
	bson_t d;

	memset(vs, 0, sizeof *vs);
	vs->each = e->push.has_each;
	vs->single = &e->val;
	if (vs->each) {
		bson_init_static(&d, e->push.each.value.v_doc.data, e->push.each.value.v_doc.data_len);
		bson_iter_init(&vs->it, &d);
	}
}

static const bson_value_t *vals_next(struct vals *vs)
{
	if (vs->each)
		return bson_iter_next(&vs->it) ? bson_iter_value(&vs->it) : NULL;
	if (vs->done)
		return NULL;
	vs->done = true;
	return vs->single;
}

/* Insert the values at position at, moving the tail once. */
static enum update_status insert_vals(struct uctx *c, const struct uentry *e, struct unode *arr,
				      uint32_t at)
{
	const bson_value_t *v;
	struct vals vs;
	uint32_t m = 0, tail = arr->nkids - at;

	vals_init(&vs, e);
	while (vals_next(&vs))
		m++;
	if (m == 0)
		return UPDATE_OK;
	/* Append them (grows kids[] within the budget), then rotate into place. */
	vals_init(&vs, e);
	while ((v = vals_next(&vs)))
		if (update_node_insert(c, arr, arr->nkids, NULL, 0, v) != UPDATE_OK)
			return c->st;
	if (tail) {
		struct unode *tmp = malloc((size_t)m * sizeof *tmp);

		if (!tmp)
			return update_fail(c, UPDATE_RESYNC, "out of memory");
		memcpy(tmp, &arr->kids[at + tail], (size_t)m * sizeof *tmp);
		memmove(&arr->kids[at + m], &arr->kids[at], (size_t)tail * sizeof *tmp);
		memcpy(&arr->kids[at], tmp, (size_t)m * sizeof *tmp);
		free(tmp);
	}
	return UPDATE_OK;
}

/* Keep the first s (s >= 0) or last -s elements, in one pass. */
static void slice_kids(struct unode *arr, int64_t s)
{
	uint32_t n = arr->nkids, keep, drop;

	if (s >= 0)
		keep = s < n ? (uint32_t)s : n;
	else
		keep = s < -(int64_t)n ? n : (uint32_t)-s;
	drop = n - keep;
	if (s >= 0) {
		for (uint32_t i = keep; i < n; i++)
			update_node_clear(&arr->kids[i]);
	} else {
		for (uint32_t i = 0; i < drop; i++)
			update_node_clear(&arr->kids[i]);
		if (keep && drop)
			memmove(arr->kids, arr->kids + drop, keep * sizeof *arr->kids);
	}
	arr->nkids = keep;
}

static enum update_status do_push(struct uctx *c, const struct uentry *e, struct unode *arr)
{
	int64_t n = arr->nkids, p = e->push.has_pos ? e->push.pos : n, s = e->push.slice;

	if (p < 0)
		p = n + p < 0 ? 0 : n + p;
	if (p > n)
		p = n;
	if (insert_vals(c, e, arr, (uint32_t)p) != UPDATE_OK)
		return c->st;
	if (e->push.sort)
		update_sort_nodes(arr->kids, arr->nkids, elem_less, e);
	if (e->push.has_slice)
		slice_kids(arr, s);
	return UPDATE_OK;
}

static bool contains(const struct unode *arr, const bson_value_t *v)
{
	for (uint32_t i = 0; i < arr->nkids; i++)
		if (bsoncmp_equal(&arr->kids[i].v, v))
			return true;
	return false;
}

static enum update_status do_add_to_set(struct uctx *c, const struct uentry *e, struct unode *arr)
{
	const bson_value_t *v;
	struct vals vs;

	vals_init(&vs, e);
	while ((v = vals_next(&vs)))
		if (!contains(arr, v) && update_node_insert(c, arr, arr->nkids, NULL, 0, v) != UPDATE_OK)
			return c->st;
	return UPDATE_OK;
}

/* Does element k go for $pull / $pullAll? */
static enum update_status pulled(struct uctx *c, const struct uentry *e, const struct unode *k,
				 bool *hit)
{
	bson_t d;
	bson_iter_t it;

	*hit = false;
	if (e->op == UOP_PULL_ALL) {
		bson_init_static(&d, e->val.value.v_doc.data, e->val.value.v_doc.data_len);
		bson_iter_init(&it, &d);
		while (!*hit && bson_iter_next(&it))
			*hit = bsoncmp_equal(&k->v, bson_iter_value(&it));
		return UPDATE_OK;
	}
	if (e->pull_mode == UPULL_EQUAL) {
		*hit = bsoncmp_equal(&k->v, &e->val);
		return UPDATE_OK;
	}
	return update_match_value(c, e->pull_filter, e->pull_mode == UPULL_WRAP ? "x" : NULL, &k->v, hit);
}

/* Remove the matching elements, compacting in one pass. */
static enum update_status do_pull(struct uctx *c, const struct uentry *e, struct unode *arr)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < arr->nkids; i++) {
		bool hit;

		if (pulled(c, e, &arr->kids[i], &hit) != UPDATE_OK) {
			if (j != i)
				memmove(&arr->kids[j], &arr->kids[i], (arr->nkids - i) * sizeof *arr->kids);
			arr->nkids = j + (arr->nkids - i);
			return c->st;
		}
		if (hit)
			update_node_clear(&arr->kids[i]);
		else
			arr->kids[j++] = arr->kids[i];
	}
	arr->nkids = j;
	return UPDATE_OK;
}

/* The array at (parent, idx), created empty for $push/$addToSet. */
static enum update_status target_array(struct uctx *c, const struct uentry *e, struct unode *parent,
				       int64_t idx, const char *key, struct unode **arr)
{
	uint32_t at;
	char d[200];

	*arr = NULL;
	if (idx < 0) {
		if (e->op != UOP_PUSH && e->op != UOP_ADD_TO_SET)
			return UPDATE_OK;
		if (update_node_new_container(c, parent, -1, key, (uint32_t)strlen(key), BSON_TYPE_ARRAY, &at))
			return c->st;
		*arr = &parent->kids[at];
		return UPDATE_OK;
	}
	*arr = &parent->kids[idx];
	if ((*arr)->v.value_type != BSON_TYPE_ARRAY) {
		update_describe(*arr, d, sizeof d);
		if (e->op == UOP_PULL || e->op == UOP_PULL_ALL)
			return update_fail(c, UPDATE_ERROR, "Cannot apply $pull to a non-array value");
		if (e->op == UOP_POP)
			return update_fail(c, UPDATE_ERROR, "Path '%s' contains an element of non-array type: %s", e->path, d);
		return update_fail(c, UPDATE_ERROR, "The field '%s' must be an array but is of type %s in document %s",
				   e->path, update_type_name((*arr)->v.value_type), d);
	}
	return update_node_expand(c, *arr);
}

enum update_status update_array_leaf(struct uctx *c, const struct uentry *e, struct unode *parent,
				     int64_t idx, const char *key)
{
	struct unode *arr;

	if (target_array(c, e, parent, idx, key, &arr) != UPDATE_OK || !arr)
		return c->st;
	switch (e->op) {
	case UOP_PUSH:
		return do_push(c, e, arr);
	case UOP_ADD_TO_SET:
		return do_add_to_set(c, e, arr);
	case UOP_POP:
		if (arr->nkids)
			update_node_remove(arr, e->push.pos > 0 ? arr->nkids - 1 : 0);
		return UPDATE_OK;
	default:
		return do_pull(c, e, arr);
	}
}
