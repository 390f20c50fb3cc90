/*
 * match_path.c - the values a dotted path reaches in a document, as
 * MongoDB's matcher sees them (its BSONElementIterator):
 *
 *   {"a.b": x} on {a: {b: 1}}            -> 1
 *   on {a: [{b: 1}, {c: 2}, 7, [..]]}    -> 1, missing   (scalars and nested
 *                                           arrays inside an array yield nothing)
 *   on {a: 5}                            -> missing
 *   {"a.1": x} on {a: [5, 6]}            -> 6, with pos -1: an explicit index
 *                                           is not an implicit traversal (and
 *                                           field "1" of document elements)
 *   {"a": x} on {a: [1, [2]]}            -> 1, [2], [1, [2]]  (leaf expansion:
 *                                           elements, then the array itself)
 *
 * A value carries pos: the index in the first (outermost) array the path
 * went through, -1 if none.  Recursion depth is bounded by the number of
 * path components (at most MATCH_MAX_PATH_PARTS, checked first).
 */
#include <string.h>

#include "match_internal.h"

struct walk {
	bool expand;
	match_pred_fn fn;
	const void *arg;
	struct match_ctx *ctx;
	int32_t hit_pos;
};

static enum match_status walk_doc(struct walk *w, const uint8_t *data, uint32_t len, const char *path, int32_t pos);

static enum match_status emit(struct walk *w, const bson_value_t *v, int32_t pos)
{
	struct match_elem e = {v, pos};
	enum match_status r = w->fn(&e, w->arg, w->ctx);
	if (r == MATCH_YES)
		w->hit_pos = pos;
	return r;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The leaf value: with expansion an array yields its elements, then itself. */
static enum match_status walk_leaf(struct walk *w, const bson_value_t *v, int32_t pos)
{
	if (w->expand && v->value_type == BSON_TYPE_ARRAY) {
		bson_iter_t it;
		if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
			return MATCH_NO;
		for (int32_t i = 0; bson_iter_next(&it); i++) {
			enum match_status r = emit(w, bson_iter_value(&it), pos >= 0 ? pos : i);
			if (r != MATCH_NO)
				return r;
		}
	}
	return emit(w, v, pos);
}

/* Path components `rest` applied to each element of array v.  A document
 * element is searched for `rest` (this traversal is implicit: values carry
 * the element's index).  When the next component is this element's index
 * the element itself is the value, or the rest of the path continues inside
 * it; that traversal is explicit and leaves pos as it was. */
static enum match_status walk_array(struct walk *w, const bson_value_t *v, const char *rest, int32_t pos)
{
	const char *dot = strchr(rest, '.');
	size_t clen = dot ? (size_t)(dot - rest) : strlen(rest);
	bool numeric = all_digits(rest, clen);
	bson_iter_t it;

	if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
		return MATCH_NO;
	for (int32_t i = 0; bson_iter_next(&it); i++) {
		const bson_value_t *el = bson_iter_value(&it);
		enum match_status r = MATCH_NO;
		if (el->value_type == BSON_TYPE_DOCUMENT) {
			r = walk_doc(w, el->value.v_doc.data, el->value.v_doc.data_len, rest, pos >= 0 ? pos : i);
			if (r != MATCH_NO)
				return r;
		}
		const char *key = bson_iter_key(&it);
		if (!numeric || bson_iter_key_len(&it) != clen || memcmp(key, rest, clen) != 0)
			continue;
		if (!dot)
			r = emit(w, el, pos);
		else if (el->value_type == BSON_TYPE_DOCUMENT)
			r = walk_doc(w, el->value.v_doc.data, el->value.v_doc.data_len, dot + 1, pos);
		else if (el->value_type == BSON_TYPE_ARRAY)
			r = walk_array(w, el, dot + 1, pos);
		if (r != MATCH_NO)
			return r;
	}
	return MATCH_NO;
}

static enum match_status walk_doc(struct walk *w, const uint8_t *data, uint32_t len, const char *path, int32_t pos)
{
	const char *dot = strchr(path, '.');
	size_t clen = dot ? (size_t)(dot - path) : strlen(path);
	bson_iter_t it;

	if (!bson_iter_init_from_data(&it, data, len))
		return MATCH_NO;
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);
		if (bson_iter_key_len(&it) != clen || memcmp(key, path, clen) != 0)
			continue;
		const bson_value_t *v = bson_iter_value(&it);
		if (!dot)
			return walk_leaf(w, v, pos);
		if (v->value_type == BSON_TYPE_DOCUMENT)
			return walk_doc(w, v->value.v_doc.data, v->value.v_doc.data_len, dot + 1, pos);
		if (v->value_type == BSON_TYPE_ARRAY)
			return walk_array(w, v, dot + 1, pos);
		return emit(w, NULL, pos);
	}
	return emit(w, NULL, pos);
}

enum match_status match_path_any(const struct match_src *src, bool expand_leaf, match_pred_fn fn, const void *arg,
				 struct match_ctx *ctx)
{
	struct walk w = {expand_leaf, fn, arg, ctx, -1};
	enum match_status r;

	if (src->single) {
		struct match_elem e = {src->single, -1};
		return fn(&e, arg, ctx);
	}
	r = walk_doc(&w, src->doc, src->len, src->path, -1);
	if (r == MATCH_YES && ctx->pos < 0 && w.hit_pos >= 0)
		ctx->pos = w.hit_pos;
	return r;
}

enum match_status match_path_check(const char *path, bson_error_t *err)
{
	int parts = 1;
	for (const char *p = path; *p; p++)
		if (*p == '.' && ++parts > MATCH_MAX_PATH_PARTS)
			return match_fail(err, MATCH_UNSUPPORTED, "path has more than %d components",
					  MATCH_MAX_PATH_PARTS);
	return MATCH_YES;
}
