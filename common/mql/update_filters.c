/*
 * update_filters.c - arrayFilters: parse each filter document, find its
 * identifier (the part of its top-level field names before the first
 * '.', the same in every field; $and/$or/$nor are looked into), and check
 * that every $[<id>] of the update has a filter and every filter is used,
 * as MongoDB does before it touches a document.
 */
#include <string.h>

#include "match.h"
#include "update_internal.h"

/* Find the identifier of filter f into *ident (owned). */
static bool filter_ident(struct uctx *c, const bson_t *f, char **ident, int depth)
{
	bson_iter_t it;

	if (depth > UPDATE_MAX_DEPTH || !bson_iter_init(&it, f))
		return update_fail(c, UPDATE_ERROR, "Error parsing array filter") == UPDATE_OK;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		size_t n = strcspn(k, ".");

		if (k[0] == '$') {
			bson_iter_t sub;

			if (!BSON_ITER_HOLDS_ARRAY(&it) || !bson_iter_recurse(&it, &sub))
				continue;
			while (bson_iter_next(&sub)) {
				const bson_value_t *v = bson_iter_value(&sub);
				bson_t d;

				if (v->value_type != BSON_TYPE_DOCUMENT ||
				    !bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len) ||
				    !filter_ident(c, &d, ident, depth + 1))
					return c->st == UPDATE_OK;
			}
			continue;
		}
		if (!*ident) {
			*ident = bson_strndup(k, n);
		} else if (strlen(*ident) != n || strncmp(*ident, k, n) != 0) {
			return update_fail(c, UPDATE_ERROR, "Error parsing array filter :: caused by :: Expected a single top-level field name, found '%s' and '%.*s'",
					   *ident, (int)n, k) == UPDATE_OK;
		}
	}
	return true;
}

static bool filter_add(struct uctx *c, const bson_value_t *v)
{
	struct ufilter *f = &c->filters[c->nfilters];
	bson_error_t merr = {0};
	bson_t filter;
	enum match_status ms;

	if (v->value_type != BSON_TYPE_DOCUMENT ||
	    !bson_init_static(&filter, v->value.v_doc.data, v->value.v_doc.data_len))
		return update_fail(c, UPDATE_ERROR, "arrayFilters must be an array of objects") == UPDATE_OK;
	f->data = v->value.v_doc.data;
	f->len = v->value.v_doc.data_len;
	f->ident = NULL;
	f->used = false;
	c->nfilters++;
	if (!filter_ident(c, &filter, &f->ident, 0))
		return false;
	if (!f->ident)
		return update_fail(c, UPDATE_ERROR, "Cannot use an expression without a top-level field name in arrayFilters") == UPDATE_OK;
	if (!update_ident_ok(f->ident, strlen(f->ident)))
		return update_fail(c, UPDATE_ERROR, "Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '%s'", f->ident) == UPDATE_OK;
	for (uint32_t i = 0; i + 1 < c->nfilters; i++)
		if (strcmp(c->filters[i].ident, f->ident) == 0)
			return update_fail(c, UPDATE_ERROR, "Found multiple array filters with the same top-level field name %s", f->ident) == UPDATE_OK;
	ms = match_check(&filter, &merr);
	if (ms == MATCH_ERROR)
		return update_fail(c, UPDATE_ERROR, "Error parsing array filter :: caused by :: %s", merr.message) == UPDATE_OK;
	if (ms != MATCH_YES)
		return update_fail(c, UPDATE_RESYNC, "array filter not evaluated here: %s", merr.message) == UPDATE_OK;
	return true;
}

bool update_filters_parse(struct uctx *c)
{
	bson_iter_t it;
	uint32_t n = 0;

	if (!c->args->array_filters)
		return true;
	if (!bson_iter_init(&it, c->args->array_filters))
		return update_fail(c, UPDATE_ERROR, "invalid arrayFilters") == UPDATE_OK;
	while (bson_iter_next(&it))
		n++;
	c->filters = bson_malloc0((n ? n : 1) * sizeof *c->filters);
	bson_iter_init(&it, c->args->array_filters);
	while (bson_iter_next(&it))
		if (!filter_add(c, bson_iter_value(&it)))
			return false;
	return true;
}

/* Every $[<id>] names a filter; every filter is named. */
bool update_filters_used(struct uctx *c)
{
	for (uint32_t i = 0; i < c->nents; i++) {
		const struct uentry *e = &c->ents[i];

		for (uint32_t s = 0; s < e->nseg; s++) {
			const char *seg = e->segs[s];
			size_t n = strlen(seg);
			bool found = false;

			if (n <= 3 || seg[0] != '$' || seg[1] != '[' || seg[n - 1] != ']')
				continue;
			for (uint32_t f = 0; f < c->nfilters; f++) {
				if (strlen(c->filters[f].ident) == n - 3 &&
				    memcmp(c->filters[f].ident, seg + 2, n - 3) == 0) {
					c->filters[f].used = true;
					found = true;
				}
			}
			if (!found)
				return update_fail(c, UPDATE_ERROR, "No array filter found for identifier '%.*s' in path '%s'",
						   (int)(n - 3), seg + 2, e->path) == UPDATE_OK;
		}
	}
	for (uint32_t f = 0; f < c->nfilters; f++)
		if (!c->filters[f].used)
			return update_fail(c, UPDATE_ERROR, "The array filter for identifier '%s' was not used in the update", c->filters[f].ident) == UPDATE_OK;
	return true;
}
