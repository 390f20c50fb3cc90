/*
 * project_apply.c - run a compiled projection on one document, in the
 * order mongod's executors do:
 *
 *   doc --tree--> post-image --$slice / positional (spec order)--> out
 *
 * Inclusion tree: the kept fields in document order (arrays of documents
 * projected element-wise, scalars in such arrays dropped), then the
 * computed fields (literals, $elemMatch) appended in spec order.
 * Exclusion tree: everything but the excluded paths.  The find-only steps
 * rewrite the post-image in place (positions kept).
 *
 * Recursion is bounded by PROJECT_MAX_DEPTH levels of nesting.
 */
#include <string.h>

#include "project_internal.h"

struct actx {
	const bson_t *root; /* the pre-image, for $elemMatch */
	bson_error_t *err;
};

static enum project_status apply_incl_doc(struct actx *a, const struct pnode *n, const uint8_t *data, uint32_t len,
					  bson_t *out, int depth);

static bool view(const bson_iter_t *it, bson_t *b)
{
	uint32_t len;
	const uint8_t *data;

	if (BSON_ITER_HOLDS_DOCUMENT(it))
		bson_iter_document(it, &len, &data);
	else
		bson_iter_array(it, &len, &data);
	return bson_init_static(b, data, len);
}

static enum project_status too_deep(struct actx *a)
{
	return project_fail(a->err, PROJECT_UNSUPPORTED, 0, "document nested deeper than %d levels", PROJECT_MAX_DEPTH);
}

/* ---- inclusion ----------------------------------------------------------- */

static enum project_status apply_incl_arr(struct actx *a, const struct pnode *n, const bson_t *arr, bson_t *out,
					  int depth)
{
	enum project_status st = PROJECT_OK;
	bson_iter_t it;
	uint32_t i = 0;
	char buf[16];
	const char *key;

	if (depth > PROJECT_MAX_DEPTH)
		return too_deep(a);
	if (!bson_iter_init(&it, arr))
		return PROJECT_OK;
	while (st == PROJECT_OK && bson_iter_next(&it)) {
		bson_t sub, child;
		if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it))
			continue;
		bson_uint32_to_string(i++, &key, buf, sizeof buf);
		if (!view(&it, &sub))
			continue;
		if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
			bson_append_document_begin(out, key, -1, &child);
			st = apply_incl_doc(a, n, bson_get_data(&sub), sub.len, &child, depth + 1);
			bson_append_document_end(out, &child);
		} else {
			bson_append_array_begin(out, key, -1, &child);
			st = apply_incl_arr(a, n, &sub, &child, depth + 1);
			bson_append_array_end(out, &child);
		}
	}
	return st;
}

/* [the first element of root[n->name] that matches], when the document
 * matches {name: {$elemMatch: ...}}. */
static enum project_status elemmatch(struct actx *a, const struct pnode *n, bson_t *out)
{
	struct match_result mr = {-1};
	bson_iter_t it, el;
	bson_t arr;
	char buf[16];
	const char *key;

	switch (match_doc(n->elemmatch, a->root, &mr, a->err)) {
	case MATCH_YES: break;
	case MATCH_NO: return PROJECT_OK;
	case MATCH_UNSUPPORTED: return PROJECT_UNSUPPORTED;
	default: return project_fail(a->err, PROJECT_ERROR, 2, "%s", a->err->message);
	}
	if (mr.pos < 0 || !bson_iter_init_find(&it, a->root, n->name) || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &el))
		return PROJECT_OK;
	bson_uint32_to_string((uint32_t)mr.pos, &key, buf, sizeof buf);
	if (!bson_iter_find(&el, key))
		return PROJECT_OK;
	bson_append_array_begin(out, n->name, -1, &arr);
	bson_append_iter(&arr, "0", 1, &el);
	bson_append_array_end(out, &arr);
	return PROJECT_OK;
}

/* The computed fields of n, after the kept ones (emitted[i]: kid i was
 * already written in document order). */
static enum project_status add_computed(struct actx *a, const struct pnode *n, const bool *emitted, bson_t *out,
					int depth)
{
	enum project_status st = PROJECT_OK;

	for (size_t i = 0; i < n->nkids && st == PROJECT_OK; i++) {
		const struct pnode *k = n->kids[i];
		bson_t child, empty = BSON_INITIALIZER;
		if (k->kind == PN_LITERAL) {
			bson_iter_t lit;
			if (bson_iter_init_find(&lit, k->literal, "v"))
				bson_append_iter(out, k->name, -1, &lit);
		} else if (k->kind == PN_ELEMMATCH) {
			st = elemmatch(a, k, out);
		} else if (k->kind == PN_INTERNAL && k->has_computed && !emitted[i]) {
			bson_append_document_begin(out, k->name, -1, &child);
			st = apply_incl_doc(a, k, bson_get_data(&empty), empty.len, &child, depth + 1);
			bson_append_document_end(out, &child);
		}
	}
	return st;
}

static enum project_status apply_incl_doc(struct actx *a, const struct pnode *n, const uint8_t *data, uint32_t len,
					  bson_t *out, int depth)
{
	enum project_status st = PROJECT_OK;
	bool emitted[PROJECT_MAX_NODES + 1] = {0};
	bson_iter_t it;
	bson_t doc;

	if (depth > PROJECT_MAX_DEPTH)
		return too_deep(a);
	if (!bson_init_static(&doc, data, len) || !bson_iter_init(&it, &doc))
		return PROJECT_OK;
	while (st == PROJECT_OK && bson_iter_next(&it)) {
		size_t ki = 0;
		const struct pnode *k = NULL;
		for (; ki < n->nkids; ki++)
			if (strcmp(n->kids[ki]->name, bson_iter_key(&it)) == 0 && !emitted[ki]) {
				k = n->kids[ki];
				break;
			}
		if (!k)
			continue;
		if (k->kind == PN_INCLUDE || k->kind == PN_SLICE) {
			bson_append_iter(out, NULL, 0, &it);
			emitted[ki] = true;
		} else if (k->kind == PN_INTERNAL && (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it))) {
			bson_t sub, child;
			if (!view(&it, &sub))
				continue;
			emitted[ki] = true;
			if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
				bson_append_document_begin(out, k->name, -1, &child);
				st = apply_incl_doc(a, k, bson_get_data(&sub), sub.len, &child, depth + 1);
				bson_append_document_end(out, &child);
			} else {
				bson_append_array_begin(out, k->name, -1, &child);
				st = apply_incl_arr(a, k, &sub, &child, depth + 1);
				bson_append_array_end(out, &child);
			}
		}
	}
	return st == PROJECT_OK ? add_computed(a, n, emitted, out, depth) : st;
}

/* ---- exclusion ----------------------------------------------------------- */

static enum project_status apply_excl(struct actx *a, const struct pnode *n, const bson_t *doc, bool is_array,
				      bson_t *out, int depth)
{
	enum project_status st = PROJECT_OK;
	bson_iter_t it;
	uint32_t i = 0;
	char buf[16];
	const char *key;

	if (depth > PROJECT_MAX_DEPTH)
		return too_deep(a);
	if (!bson_iter_init(&it, doc))
		return PROJECT_OK;
	while (st == PROJECT_OK && bson_iter_next(&it)) {
		const struct pnode *k = is_array ? n : project_node_kid(n, bson_iter_key(&it), bson_iter_key_len(&it));
		bson_t sub, child;
		if (is_array)
			bson_uint32_to_string(i++, &key, buf, sizeof buf);
		else
			key = bson_iter_key(&it);
		if (k && k->kind == PN_EXCLUDE)
			continue;
		if (!k || k->kind != PN_INTERNAL || !(BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) ||
		    !view(&it, &sub)) {
			bson_append_iter(out, key, -1, &it);
		} else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
			bson_append_document_begin(out, key, -1, &child);
			st = apply_excl(a, k, &sub, false, &child, depth + 1);
			bson_append_document_end(out, &child);
		} else {
			bson_append_array_begin(out, key, -1, &child);
			st = apply_excl(a, k, &sub, true, &child, depth + 1);
			bson_append_array_end(out, &child);
		}
	}
	return st;
}

/* ---- find-only post-image steps ----------------------------------------- */

/* mongod's sliceArray. */
static void slice_array(const struct post_op *op, const bson_t *arr, bson_t *out)
{
	long long len = bson_count_keys(arr), start = 0, forward = 0, i = 0;
	bson_iter_t it;
	char buf[16];
	const char *key;

	if (!op->has_skip) {
		if (op->limit < 0) {
			start = len + op->limit > 0 ? len + op->limit : 0;
			forward = len - start;
		} else {
			forward = op->limit < len ? op->limit : len;
		}
	} else {
		if (op->skip < 0)
			start = len + op->skip > 0 ? len + op->skip : 0;
		else
			start = op->skip < len ? op->skip : len;
		forward = op->limit < len - start ? op->limit : len - start;
	}
	if (!bson_iter_init(&it, arr))
		return;
	for (long long j = 0; bson_iter_next(&it); j++) {
		if (j < start || j >= start + forward)
			continue;
		bson_uint32_to_string((uint32_t)i++, &key, buf, sizeof buf);
		bson_append_iter(out, key, -1, &it);
	}
}

/* applyFindSliceProjectionHelper: doc (or the elements of an array when
 * in_array) with segment i of op's path sliced. */
static void slice_doc(const struct post_op *op, size_t i, const bson_t *doc, bool in_array, bson_t *out, int depth)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, doc))
		return;
	while (bson_iter_next(&it)) {
		bson_t sub, child;
		bool hit = in_array ? BSON_ITER_HOLDS_DOCUMENT(&it)
				    : strcmp(bson_iter_key(&it), op->segs[i]) == 0 &&
					      (BSON_ITER_HOLDS_ARRAY(&it) ||
					       (BSON_ITER_HOLDS_DOCUMENT(&it) && i + 1 < op->nsegs));
		if (!hit || depth > PROJECT_MAX_DEPTH || !view(&it, &sub)) {
			bson_append_iter(out, NULL, 0, &it);
		} else if (in_array) {
			bson_append_document_begin(out, bson_iter_key(&it), -1, &child);
			slice_doc(op, i, &sub, false, &child, depth + 1);
			bson_append_document_end(out, &child);
		} else if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
			bson_append_document_begin(out, bson_iter_key(&it), -1, &child);
			slice_doc(op, i + 1, &sub, false, &child, depth + 1);
			bson_append_document_end(out, &child);
		} else {
			bson_append_array_begin(out, bson_iter_key(&it), -1, &child);
			if (i + 1 == op->nsegs)
				slice_array(op, &sub, &child);
			else
				slice_doc(op, i + 1, &sub, true, &child, depth + 1);
			bson_append_array_end(out, &child);
		}
	}
}

/* doc with segs[0..n) set to the one-element array [*el]. */
static void set_nested(const bson_t *doc, char *const *segs, size_t n, const bson_iter_t *el, bson_t *out)
{
	bson_iter_t it;
	bson_t sub, child, arr;

	if (!bson_iter_init(&it, doc))
		return;
	while (bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), segs[0]) != 0) {
			bson_append_iter(out, NULL, 0, &it);
		} else if (n == 1) {
			bson_append_array_begin(out, segs[0], -1, &arr);
			bson_append_iter(&arr, "0", 1, el);
			bson_append_array_end(out, &arr);
		} else if (BSON_ITER_HOLDS_DOCUMENT(&it) && view(&it, &sub)) {
			bson_append_document_begin(out, segs[0], -1, &child);
			set_nested(&sub, segs + 1, n - 1, el, &child);
			bson_append_document_end(out, &child);
		} else {
			bson_append_iter(out, NULL, 0, &it); /* not reached: the walk went through documents */
		}
	}
}

/* applyFindPositionalProjection on the post-image. */
static enum project_status positional(struct actx *a, const struct post_op *op, int32_t pos, const bson_t *doc,
				      bson_t *out)
{
	bson_t cur = *doc, sub;
	bson_iter_t it, el;
	char buf[16];
	const char *key;

	for (size_t ind = 0; ind < op->nsegs; ind++) {
		if (!bson_iter_init_find(&it, &cur, op->segs[ind]))
			continue;
		if (BSON_ITER_HOLDS_ARRAY(&it)) {
			if (pos < 0)
				return project_fail(a->err, PROJECT_ERROR, 51246,
						    "positional operator '.$' couldn't find a matching element in the array");
			bson_uint32_to_string((uint32_t)pos, &key, buf, sizeof buf);
			if (!bson_iter_recurse(&it, &el) || !bson_iter_find(&el, key))
				return project_fail(a->err, PROJECT_ERROR, 51247, "positional operator '.$' element mismatch");
			set_nested(doc, op->segs, ind + 1, &el, out);
			return PROJECT_OK;
		}
		if (BSON_ITER_HOLDS_DOCUMENT(&it) && view(&it, &sub))
			cur = sub;
	}
	bson_concat(out, doc);
	return PROJECT_OK;
}

enum project_status project_apply(const struct project *p, const bson_t *doc, const struct match_result *mr,
				  bson_t *out, bson_error_t *err)
{
	struct actx a = {doc, err};
	enum project_status st;
	bson_t next;

	bson_init(out);
	if (p->identity) {
		bson_concat(out, doc);
		return PROJECT_OK;
	}
	st = p->inclusion ? apply_incl_doc(&a, p->root, bson_get_data(doc), doc->len, out, 0)
			  : apply_excl(&a, p->root, doc, false, out, 0);
	for (size_t i = 0; i < p->nposts && st == PROJECT_OK; i++) {
		bson_init(&next);
		if (p->posts[i].kind == POST_SLICE)
			slice_doc(&p->posts[i], 0, out, false, &next, 0);
		else
			st = positional(&a, &p->posts[i], mr ? mr->pos : -1, out, &next);
		bson_destroy(out);
		bson_steal(out, &next);
	}
	if (st != PROJECT_OK) {
		bson_destroy(out);
		bson_init(out);
	}
	return st;
}
