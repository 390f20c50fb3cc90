/*
 * mismatch_shape.c - a query with its values redacted (see mismatch.h):
 * keys and operators stay, every scalar becomes "<type>" (mongod's $type
 * name), arrays keep one shaped entry per element.
 *
 *   {"status":"A","age":{"$gt":30}}  ->  {"status":"<string>","age":{"$gt":"<int>"}}
 *
 * Bounded: past MISMATCH_SHAPE_DEPTH levels a container becomes
 * "<object>" / "<array>"; past MISMATCH_SHAPE_MAX bytes a document ends
 * with "...":"<truncated>" and an array with "<truncated>", so the text is
 * always complete JSON.
 */
#include "mismatch.h"

#include <string.h>

static void shape_scalar(bson_string_t *out, bson_type_t t)
{
	bson_string_append_printf(out, "\"<%s>\"", compare_type_name(t));
}

static void shape_container(bson_string_t *out, const bson_iter_t *it, bool is_doc,
			    size_t start, int depth);

static void shape_value(bson_string_t *out, const bson_iter_t *it, size_t start, int depth)
{
	bson_type_t t = bson_iter_type(it);

	if ((t == BSON_TYPE_DOCUMENT || t == BSON_TYPE_ARRAY) && depth < MISMATCH_SHAPE_DEPTH)
		shape_container(out, it, t == BSON_TYPE_DOCUMENT, start, depth + 1);
	else
		shape_scalar(out, t);
}

static void shape_iter(bson_string_t *out, bson_iter_t *child, bool is_doc, size_t start, int depth)
{
	bool first = true;

	bson_string_append_c(out, is_doc ? '{' : '[');
	while (bson_iter_next(child)) {
		if (!first)
			bson_string_append_c(out, ',');
		first = false;
		if (out->len - start > MISMATCH_SHAPE_MAX) {
			bson_string_append(out, is_doc ? "\"...\":\"<truncated>\"" : "\"<truncated>\"");
			break;
		}
		if (is_doc) {
			mismatch_json_str(out, bson_iter_key(child), bson_iter_key_len(child));
			bson_string_append_c(out, ':');
		}
		shape_value(out, child, start, depth);
	}
	bson_string_append_c(out, is_doc ? '}' : ']');
}

static void shape_container(bson_string_t *out, const bson_iter_t *it, bool is_doc,
			    size_t start, int depth)
{
	bson_iter_t child;

	if (!bson_iter_recurse(it, &child)) {
		bson_string_append(out, is_doc ? "{}" : "[]");
		return;
	}
	shape_iter(out, &child, is_doc, start, depth);
}

void mismatch_shape(bson_string_t *out, const bson_t *query, bool is_array)
{
	bson_iter_t it;

	if (!query || !bson_iter_init(&it, query)) {
		bson_string_append(out, is_array ? "[]" : "{}");
		return;
	}
	shape_iter(out, &it, !is_array, out->len, 1);
}
