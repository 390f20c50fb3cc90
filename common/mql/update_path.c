/*
 * update_path.c - update paths: split and validate, order and conflicts,
 * and the walk from the root to the leaf an operator works on.
 *
 * A segment is a field name, an array index (digits), `$` (the element
 * the query matched, args->m->pos), `$[]` (every element) or `$[<id>]`
 * (every element matching the arrayFilter named <id>, evaluated by
 * matching {<id>: element} against the filter).  Creating operators make
 * missing intermediate documents (an index past an array's end pads it
 * with nulls, MongoDB's cap of 1,500,000 applies); removing operators stop
 * quietly where the path ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "update_internal.h"

enum seg_kind { SEG_FIELD, SEG_POS, SEG_ALL, SEG_FILTER };

static enum seg_kind seg_kind(const char *s)
{
	size_t n = strlen(s);

	if (strcmp(s, "$") == 0)
		return SEG_POS;
	if (strcmp(s, "$[]") == 0)
		return SEG_ALL;
	if (n > 3 && s[0] == '$' && s[1] == '[' && s[n - 1] == ']')
		return SEG_FILTER;
	return SEG_FIELD;
}

/* An array index as MongoDB parses one (parseUnsignedBase10Integer):
 * digits only, leading zeros allowed, at most UINT32_MAX. */
bool update_seg_index(const char *seg, int64_t *idx)
{
	int64_t v = 0;
	size_t n = strlen(seg);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (seg[i] < '0' || seg[i] > '9')
			return false;
		v = v * 10 + (seg[i] - '0');
		if (v > (int64_t)UINT32_MAX)
			return false;
	}
	*idx = v;
	return true;
}

/* The identifier of "$[id]": lowercase letter, then letters/digits. */
bool update_ident_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool check_segs(struct uctx *c, struct uentry *e)
{
	uint32_t npos = 0;

	for (uint32_t i = 0; i < e->nseg; i++) {
		enum seg_kind k = seg_kind(e->segs[i]);

		if (e->segs[i][0] == '\0')
			return update_fail(c, UPDATE_ERROR, "The update path '%s' contains an empty field name, which is not allowed.", e->path) == UPDATE_OK;
		if (k == SEG_POS && ++npos > 1)
			return update_fail(c, UPDATE_ERROR, "Too many positional (i.e. '$') elements found in path '%s'", e->path) == UPDATE_OK;
		if (k != SEG_FIELD && i == 0)
			return update_fail(c, UPDATE_ERROR, "Cannot have positional (i.e. '$') element in the first position in path '%s'", e->path) == UPDATE_OK;
		if (k == SEG_FILTER && !update_ident_ok(e->segs[i] + 2, strlen(e->segs[i]) - 3))
			return update_fail(c, UPDATE_ERROR, "The array filter identifier in path '%s' must be an alphanumeric string beginning with a lowercase letter", e->path) == UPDATE_OK;
	}
	return true;
}

/* Copy path into e and split it on '.'; false (c->st set) when invalid. */
bool update_path_split(struct uctx *c, struct uentry *e, const char *path)
{
	size_t n = strlen(path);
	uint32_t nseg = 1;

	e->path = bson_strdup(path);
	e->segbuf = bson_strdup(path);
	if (n == 0)
		return update_fail(c, UPDATE_ERROR, "An empty update path is not valid.") == UPDATE_OK;
	for (size_t i = 0; i < n; i++)
		nseg += path[i] == '.';
	if (nseg > UPDATE_MAX_DEPTH)
		return update_fail(c, UPDATE_ERROR, "The update path '%.100s...' is too deep", path) == UPDATE_OK;
	e->segs = bson_malloc(nseg * sizeof *e->segs);
	e->segs[0] = e->segbuf;
	e->nseg = 1;
	for (size_t i = 0; i < n; i++) {
		if (e->segbuf[i] == '.') {
			e->segbuf[i] = '\0';
			e->segs[e->nseg++] = &e->segbuf[i + 1];
		}
	}
	return check_segs(c, e);
}

/* One segment against another, as MongoDB's cmpPathsAndArrayIndexes
 * orders an update's fields: names that start with a digit (and are not
 * zero-padded) compare by length first, so "a.9" applies before "a.10";
 * everything else bytewise. */
static int seg_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	bool digits = la && lb && a[0] >= '0' && a[0] <= '9' && b[0] >= '0' && b[0] <= '9' &&
		      !(a[0] == '0' && la > 1) && !(b[0] == '0' && lb > 1);

	if (digits && la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

int update_path_cmp(const struct uentry *a, const struct uentry *b)
{
	uint32_t n = a->nseg < b->nseg ? a->nseg : b->nseg;

	for (uint32_t i = 0; i < n; i++) {
		int r = seg_cmp(a->segs[i], b->segs[i]);

		if (r)
			return r;
	}
	return (int)a->nseg - (int)b->nseg;
}

/* Is a a (segment-wise) prefix of, or equal to, b? */
bool update_path_is_prefix(const struct uentry *a, const struct uentry *b)
{
	if (a->nseg > b->nseg)
		return false;
	for (uint32_t i = 0; i < a->nseg; i++)
		if (strcmp(a->segs[i], b->segs[i]) != 0)
			return false;
	return true;
}

static const struct ufilter *filter_for(const struct uctx *c, const char *seg)
{
	size_t n = strlen(seg) - 3;

	for (uint32_t i = 0; i < c->nfilters; i++)
		if (strlen(c->filters[i].ident) == n && memcmp(c->filters[i].ident, seg + 2, n) == 0)
			return &c->filters[i];
	return NULL;
}

static enum update_status walk(struct uctx *c, const struct uentry *e, struct unode *cur,
			       uint32_t i, bool create, update_leaf_fn fn);

static enum update_status descend(struct uctx *c, const struct uentry *e, struct unode *parent,
				  uint32_t k, uint32_t i, bool create, update_leaf_fn fn)
{
	struct unode *child = &parent->kids[k];
	char d[200];

	if (update_node_is_container(child))
		return walk(c, e, child, i, create, fn);
	if (!create)
		return UPDATE_OK;
	update_describe(child, d, sizeof d);
	return update_fail(c, UPDATE_ERROR, "Cannot create field '%s' in element %s", e->segs[i], d);
}

/* $[] and $[<id>]: every (matching) element of the array cur. */
static enum update_status walk_all(struct uctx *c, const struct uentry *e, struct unode *cur,
				   uint32_t i, bool create, update_leaf_fn fn)
{
	const struct ufilter *f = NULL;
	bool last = i + 1 == e->nseg;

	if (cur->v.value_type != BSON_TYPE_ARRAY)
		return update_fail(c, UPDATE_ERROR, "The path '%.*s' must exist in the document in order to apply array updates.",
				   (int)(e->segs[i] - e->segs[0] - 1), e->path);
	if (seg_kind(e->segs[i]) == SEG_FILTER && !(f = filter_for(c, e->segs[i])))
		return update_fail(c, UPDATE_ERROR, "No array filter found for identifier '%s' in path '%s'", e->segs[i], e->path);
	for (uint32_t k = 0; k < cur->nkids; k++) {
		bson_value_t v;
		bson_t filter;
		bool hit = true;

		if (f && (update_node_value(c, &cur->kids[k], &v) != UPDATE_OK ||
			  !bson_init_static(&filter, f->data, f->len) ||
			  update_match_value(c, &filter, f->ident, &v, &hit) != UPDATE_OK))
			return c->st;
		if (!hit)
			continue;
		if (last ? fn(c, e, cur, k, NULL) : descend(c, e, cur, k, i + 1, create, fn))
			return c->st;
	}
	return UPDATE_OK;
}

static enum update_status walk(struct uctx *c, const struct uentry *e, struct unode *cur,
			       uint32_t i, bool create, update_leaf_fn fn)
{
	const char *seg = e->segs[i];
	bool last = i + 1 == e->nseg;
	enum seg_kind kind = seg_kind(seg);
	static __thread char posbuf[16];
	int64_t idx, k;
	uint32_t at;
	char d[200];

	if (update_node_expand(c, cur) != UPDATE_OK)
		return c->st;
	if (kind == SEG_ALL || kind == SEG_FILTER)
		return walk_all(c, e, cur, i, create, fn);
	if (kind == SEG_POS) {
		if (!c->args->m || c->args->m->pos < 0 || c->args->inserting)
			return update_fail(c, UPDATE_ERROR, "The positional operator did not find the match needed from the query.");
		snprintf(posbuf, sizeof posbuf, "%d", (int)c->args->m->pos);
		seg = posbuf;
	}
	if (cur->v.value_type == BSON_TYPE_ARRAY) {
		if (e->op == UOP_RENAME)
			return update_fail(c, UPDATE_ERROR, "The destination field cannot be an array element, '%s' in doc with field being an array", e->path);
		if (!update_seg_index(seg, &k)) {
			if (!create)
				return UPDATE_OK;
			update_describe(cur, d, sizeof d);
			return update_fail(c, UPDATE_ERROR, "Cannot create field '%s' in element %s", seg, d);
		}
		idx = k < cur->nkids ? k : -1;
	} else {
		idx = update_node_find(cur, seg, (uint32_t)strlen(seg));
	}
	if (last)
		return fn(c, e, cur, idx, seg);
	if (idx >= 0)
		return descend(c, e, cur, (uint32_t)idx, i + 1, create, fn);
	if (!create)
		return UPDATE_OK;
	if (update_node_new_container(c, cur, -1, seg, (uint32_t)strlen(seg), BSON_TYPE_DOCUMENT, &at))
		return c->st;
	return walk(c, e, &cur->kids[at], i + 1, create, fn);
}

/* Walk e's path from root and call fn at the leaf: fn(parent, idx, key)
 * with idx the kid's index or -1 when missing (key names it then). */
enum update_status update_walk(struct uctx *c, const struct uentry *e, struct unode *root,
			       bool create, update_leaf_fn fn)
{
	return walk(c, e, root, 0, create, fn);
}

/* Find e's (plain, non-positional) path; *idx = -1 when missing.  An
 * array on the way is an error ($rename's source rule). */
enum update_status update_lookup(struct uctx *c, const struct uentry *e, struct unode *root,
				 struct unode **parent, int64_t *idx)
{
	struct unode *cur = root;

	*idx = -1;
	for (uint32_t i = 0; i < e->nseg; i++) {
		int64_t k;

		if (update_node_expand(c, cur) != UPDATE_OK)
			return c->st;
		if (cur->v.value_type == BSON_TYPE_ARRAY)
			return update_fail(c, UPDATE_ERROR, "The source field cannot be an array element, '%s' in doc with field being an array", e->path);
		k = update_node_find(cur, e->segs[i], (uint32_t)strlen(e->segs[i]));
		if (k < 0)
			return UPDATE_OK;
		if (i + 1 == e->nseg) {
			*parent = cur;
			*idx = k;
			return UPDATE_OK;
		}
		cur = &cur->kids[k];
		if (!update_node_is_container(cur))
			return UPDATE_OK;
	}
	return UPDATE_OK;
}
