/*
 * aggregate_stages.c - the row-at-a-time stages and $sort:
 *
 *   $match f        match.h's match_doc (its $expr subset included)
 *   $skip n/$limit n  whole numbers (invalid ones UNSUPPORTED); a cut
 *                   between two documents of one tie class is UNSUPPORTED
 *                   "order:$skip"/"order:$limit" (mongod's pick is open)
 *   $count "name"   {name: int} when any document arrives, else nothing
 *   $sort spec      sortspec.h; documents that compare equal form a new
 *                   tie class
 *   $unwind "$p" | {path, includeArrayIndex, preserveNullAndEmptyArrays}
 *                   mongod's Unwinder: path through documents only, an
 *                   array gives one document per element (index int64), a
 *                   non-array non-null value passes through, null/missing/
 *                   [] are dropped unless preserved ([] then removes p)
 *   $lookup {from, localField, foreignField, as}  foreign documents
 *                   matching {foreignField: {$eq: v}} for a value v at
 *                   localField (arrays there give their elements; none
 *                   gives null), in the caller's order of that collection
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate_internal.h"
#include "match.h"
#include "sortspec.h"

/* ---- $match ---------------------------------------------------------------------- */

static enum agg_status from_match(enum match_status ms, bson_error_t *err)
{
	if (ms == MATCH_ERROR) {
		if (err)
			err->domain = AGG_ERROR_DOMAIN;
		return AGG_ERROR;
	}
	return agg_unsupported(err, "match:unsupported");
}

static enum agg_status match_check_stage(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	bson_t f;
	enum match_status ms;

	(void)info;
	if (arg->value_type != BSON_TYPE_DOCUMENT || !bson_init_static(&f, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return agg_unsupported(err, "invalid:$match");
	ms = match_check(&f, err);
	return ms == MATCH_YES ? AGG_OK : from_match(ms, err);
}

static enum agg_status match_run(const bson_value_t *arg, struct agg_run *r)
{
	bson_t f;
	size_t k = 0;

	if (!bson_init_static(&f, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return agg_unsupported(r->err, "invalid:$match");
	for (size_t i = 0; i < r->s.n; i++) {
		enum match_status ms = match_doc(&f, r->s.v[i].doc, NULL, r->err);
		if (ms < 0)
			return from_match(ms, r->err);
		if (ms == MATCH_YES) {
			r->s.v[k++] = r->s.v[i];
		} else {
			r->s.bytes -= r->s.v[i].doc->len;
			bson_destroy(r->s.v[i].doc);
		}
	}
	r->s.n = k;
	return AGG_OK;
}

/* ---- $skip / $limit ----------------------------------------------------------------- */

static enum agg_status skip_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	int64_t n;

	(void)info;
	return agg_whole(arg, &n) && n >= 0 ? AGG_OK : agg_unsupported(err, "invalid:$skip");
}

static enum agg_status limit_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	int64_t n;

	(void)info;
	return agg_whole(arg, &n) && n > 0 ? AGG_OK : agg_unsupported(err, "invalid:$limit");
}

/* Is the cut between documents k-1 and k decided by a defined order? */
static bool cut_defined(const struct agg_stream *s, size_t k)
{
	return k == 0 || k >= s->n || s->v[k - 1].tie == 0 || s->v[k - 1].tie != s->v[k].tie;
}

static enum agg_status skip_run(const bson_value_t *arg, struct agg_run *r)
{
	int64_t n = 0;
	size_t k;

	(void)agg_whole(arg, &n);
	k = (uint64_t)n < r->s.n ? (size_t)n : r->s.n;
	if (!cut_defined(&r->s, k) && !r->size_only)
		return agg_unsupported(r->err, "order:$skip");
	for (size_t i = 0; i < k; i++) {
		r->s.bytes -= r->s.v[i].doc->len;
		bson_destroy(r->s.v[i].doc);
	}
	memmove(r->s.v, r->s.v + k, (r->s.n - k) * sizeof *r->s.v);
	r->s.n -= k;
	return AGG_OK;
}

static enum agg_status limit_run(const bson_value_t *arg, struct agg_run *r)
{
	int64_t n = 0;
	size_t k;

	(void)agg_whole(arg, &n);
	k = (uint64_t)n < r->s.n ? (size_t)n : r->s.n;
	if (!cut_defined(&r->s, k) && !r->size_only)
		return agg_unsupported(r->err, "order:$limit");
	for (size_t i = k; i < r->s.n; i++) {
		r->s.bytes -= r->s.v[i].doc->len;
		bson_destroy(r->s.v[i].doc);
	}
	r->s.n = k;
	return AGG_OK;
}

/* ---- $count ---------------------------------------------------------------------------- */

static enum agg_status count_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	const char *s;

	(void)info;
	if (arg->value_type != BSON_TYPE_UTF8)
		return agg_unsupported(err, "invalid:$count");
	s = arg->value.v_utf8.str;
	if (arg->value.v_utf8.len == 0 || strlen(s) != arg->value.v_utf8.len ||
	    !bson_utf8_validate(s, strlen(s), false) || s[0] == '$' || strchr(s, '.'))
		return agg_unsupported(err, "invalid:$count");
	return AGG_OK;
}

static enum agg_status count_run(const bson_value_t *arg, struct agg_run *r)
{
	struct agg_stream out = { 0 };
	size_t n = r->s.n;
	bson_t *doc;
	enum agg_status st;

	if (n == 0)
		return AGG_OK;
	doc = bson_new();
	if (n <= INT32_MAX)
		bson_append_int32(doc, arg->value.v_utf8.str, -1, (int32_t)n);
	else
		bson_append_int64(doc, arg->value.v_utf8.str, -1, (int64_t)n);
	if ((st = agg_stream_push(r, &out, doc, 0)) == AGG_OK)
		agg_stream_swap(r, &out);
	return st;
}

/* ---- $sort ------------------------------------------------------------------------------- */

static enum agg_status sort_compile(const bson_value_t *arg, struct sortspec **s, bson_error_t *err)
{
	bson_t spec;

	*s = NULL;
	if (arg->value_type != BSON_TYPE_DOCUMENT ||
	    !bson_init_static(&spec, arg->value.v_doc.data, arg->value.v_doc.data_len) || bson_count_keys(&spec) == 0)
		return agg_unsupported(err, "invalid:$sort");
	if (!sortspec_compile(&spec, s, err)) {
		if (err && err->code == SORTSPEC_CODE_UNSUPPORTED)
			return agg_unsupported(err, "sort:unsupported");
		if (err)
			err->domain = AGG_ERROR_DOMAIN;
		return AGG_ERROR;
	}
	return AGG_OK;
}

static enum agg_status sort_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	struct sortspec *s;
	enum agg_status st = sort_compile(arg, &s, err);

	(void)info;
	if (s)
		sortspec_free(s);
	return st;
}

static enum agg_status sort_run(const bson_value_t *arg, struct agg_run *r)
{
	struct sortspec *s;
	bson_t **docs;
	enum agg_status st = sort_compile(arg, &s, r->err);

	if (st != AGG_OK)
		return st;
	if (!(docs = malloc((r->s.n ? r->s.n : 1) * sizeof *docs))) {
		sortspec_free(s);
		return agg_unsupported(r->err, "limit:memory");
	}
	for (size_t i = 0; i < r->s.n; i++)
		docs[i] = r->s.v[i].doc;
	if (!sortspec_sort_ex(s, docs, r->s.n, r->err)) {
		st = r->err && r->err->code == SORTSPEC_CODE_BAD_VALUE ? AGG_ERROR : agg_unsupported(r->err, "limit:memory");
		if (st == AGG_ERROR && r->err)
			r->err->domain = AGG_ERROR_DOMAIN;
	} else {
		for (size_t i = 0; i < r->s.n; i++) {
			bool prev = i > 0 && sortspec_cmp(s, docs[i - 1], docs[i]) == 0;
			bool next = i + 1 < r->s.n && sortspec_cmp(s, docs[i], docs[i + 1]) == 0;
			r->s.v[i].doc = docs[i];
			if (prev)
				r->s.v[i].tie = r->s.v[i - 1].tie;
			else
				r->s.v[i].tie = next ? r->next_tie++ : 0;
		}
	}
	free(docs);
	sortspec_free(s);
	return st;
}

/* ---- $unwind ------------------------------------------------------------------------------ */

struct unwind {
	const char *path, *index;
	bool preserve;
};

static bool path_valid(const char *p)
{
	bson_error_t e;

	/* paths become keys of output documents: valid UTF-8 only */
	return bson_utf8_validate(p, strlen(p), false) && sortspec_fieldpath_check(p, strlen(p), &e, AGG_ERROR_DOMAIN) == 0;
}

static enum agg_status unwind_parse(const bson_value_t *arg, struct unwind *u, bson_error_t *err)
{
	bson_iter_t it;

	memset(u, 0, sizeof *u);
	if (arg->value_type == BSON_TYPE_UTF8) {
		u->path = arg->value.v_utf8.str;
	} else if (arg->value_type == BSON_TYPE_DOCUMENT &&
		   bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len)) {
		while (bson_iter_next(&it)) {
			const char *k = bson_iter_key(&it);
			if (strcmp(k, "path") == 0 && BSON_ITER_HOLDS_UTF8(&it))
				u->path = bson_iter_utf8(&it, NULL);
			else if (strcmp(k, "includeArrayIndex") == 0 && BSON_ITER_HOLDS_UTF8(&it))
				u->index = bson_iter_utf8(&it, NULL);
			else if (strcmp(k, "preserveNullAndEmptyArrays") == 0 && BSON_ITER_HOLDS_BOOL(&it))
				u->preserve = bson_iter_bool(&it);
			else
				return agg_unsupported(err, "invalid:$unwind");
		}
	}
	if (!u->path || u->path[0] != '$' || !path_valid(u->path + 1))
		return agg_unsupported(err, "invalid:$unwind");
	u->path++;
	if (u->index && (u->index[0] == '$' || !path_valid(u->index)))
		return agg_unsupported(err, "invalid:$unwind");
	return AGG_OK;
}

static enum agg_status unwind_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	struct unwind u;

	(void)info;
	return unwind_parse(arg, &u, err);
}

/* One output document: doc with path := v (when set) and index := idx. */
static enum agg_status unwind_emit(struct agg_run *r, struct agg_stream *out, const struct unwind *u, const bson_t *doc,
				   const bson_value_t *v, int64_t idx, uint32_t tie)
{
	bson_t *d = bson_new(), *d2;
	bson_value_t iv;
	enum agg_status st;

	if (v)
		st = agg_set_path(doc, u->path, v, d, r->err);
	else
		st = bson_concat(d, doc) ? AGG_OK : agg_unsupported(r->err, "limit:memory");
	if (st == AGG_OK && u->index) {
		if (idx >= 0) {
			iv.value_type = BSON_TYPE_INT64;
			iv.value.v_int64 = idx;
		} else {
			iv.value_type = BSON_TYPE_NULL;
		}
		d2 = bson_new();
		st = agg_set_path(d, u->index, &iv, d2, r->err);
		bson_destroy(d);
		d = d2;
	}
	if (st != AGG_OK) {
		bson_destroy(d);
		return st;
	}
	return agg_stream_push(r, out, d, tie);
}

static enum agg_status unwind_one(struct agg_run *r, struct agg_stream *out, const struct unwind *u,
				  const struct agg_item *item)
{
	bson_value_t v, missing = { .value_type = BSON_TYPE_EOD };
	bson_iter_t it;
	int64_t i = 0;
	enum agg_status st = AGG_OK;

	agg_get_path(item->doc, u->path, &v);
	if (v.value_type == BSON_TYPE_ARRAY) {
		if (!bson_iter_init_from_data(&it, v.value.v_doc.data, v.value.v_doc.data_len))
			return agg_unsupported(r->err, "invalid:bson");
		while (st == AGG_OK && bson_iter_next(&it))
			st = unwind_emit(r, out, u, item->doc, bson_iter_value(&it), i++, item->tie);
		if (i == 0 && u->preserve)
			st = unwind_emit(r, out, u, item->doc, &missing, -1, item->tie);
		return st;
	}
	if (v.value_type == BSON_TYPE_EOD || v.value_type == BSON_TYPE_NULL || v.value_type == BSON_TYPE_UNDEFINED)
		return u->preserve ? unwind_emit(r, out, u, item->doc, NULL, -1, item->tie) : AGG_OK;
	return unwind_emit(r, out, u, item->doc, NULL, -1, item->tie);
}

static enum agg_status unwind_run(const bson_value_t *arg, struct agg_run *r)
{
	struct unwind u;
	struct agg_stream out = { 0 };
	enum agg_status st = unwind_parse(arg, &u, r->err);

	for (size_t i = 0; st == AGG_OK && i < r->s.n; i++)
		st = unwind_one(r, &out, &u, &r->s.v[i]);
	if (st == AGG_OK)
		agg_stream_swap(r, &out);
	else
		agg_stream_clear(&out);
	return st;
}

/* ---- $lookup --------------------------------------------------------------------------------- */

struct lookup {
	const char *from, *local, *foreign, *as;
};

static enum agg_status lookup_parse(const bson_value_t *arg, struct lookup *l, bson_error_t *err)
{
	bson_iter_t it;

	memset(l, 0, sizeof *l);
	if (arg->value_type != BSON_TYPE_DOCUMENT ||
	    !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return agg_unsupported(err, "invalid:$lookup");
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		const char **slot = strcmp(k, "from") == 0 ? &l->from
				    : strcmp(k, "localField") == 0 ? &l->local
				    : strcmp(k, "foreignField") == 0 ? &l->foreign
				    : strcmp(k, "as") == 0 ? &l->as
							   : NULL;
		if (!slot)
			return agg_unsupported(err, strcmp(k, "pipeline") == 0 || strcmp(k, "let") == 0 ? "lookup:pipeline"
													 : "invalid:$lookup");
		if (!BSON_ITER_HOLDS_UTF8(&it))
			return agg_unsupported(err, "lookup:from_form");
		*slot = bson_iter_utf8(&it, NULL);
	}
	if (!l->from || !l->local || !l->foreign || !l->as || !path_valid(l->local) || !path_valid(l->foreign) ||
	    !path_valid(l->as) || !l->from[0])
		return agg_unsupported(err, "invalid:$lookup");
	return AGG_OK;
}

static enum agg_status lookup_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	struct lookup l;
	enum agg_status st = lookup_parse(arg, &l, err);
	size_t i;

	if (st != AGG_OK)
		return st;
	info->unordered_arrays = true;
	for (i = 0; i < info->nlookups; i++)
		if (strcmp(info->lookups[i], l.from) == 0)
			return AGG_OK;
	if (info->nlookups == AGG_MAX_LOOKUPS)
		return agg_unsupported(err, "limit:lookups");
	info->lookups[info->nlookups++] = l.from;
	return AGG_OK;
}

static bool all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return n > 0;
}

/* The values at localField: arrays on the way give their document
 * elements, an array at the end its elements.  Cases whose treatment by
 * mongod we have not pinned down (an empty array at the end, an array in an
 * array on the way, an index into an array) are UNSUPPORTED. */
static enum agg_status local_values(const uint8_t *data, uint32_t len, const char *path, bson_t *arr, uint32_t *n,
				    bson_error_t *err, int depth)
{
	const char *dot = strchr(path, '.');
	size_t k = dot ? (size_t)(dot - path) : strlen(path);
	bson_iter_t it, el;
	char key[24];

	if (depth > 100 || !bson_iter_init_from_data(&it, data, len))
		return agg_unsupported(err, "limit:depth");
	while (bson_iter_next(&it)) {
		const bson_value_t *v;
		if (bson_iter_key_len(&it) != k || memcmp(bson_iter_key(&it), path, k) != 0)
			continue;
		v = bson_iter_value(&it);
		if (!dot) {
			if (v->value_type != BSON_TYPE_ARRAY) {
				snprintf(key, sizeof key, "%u", (*n)++);
				bson_append_value(arr, key, -1, v);
				return AGG_OK;
			}
			if (!bson_iter_recurse(&it, &el))
				return agg_unsupported(err, "invalid:bson");
			bool any = false;
			while (bson_iter_next(&el)) {
				any = true;
				snprintf(key, sizeof key, "%u", (*n)++);
				bson_append_value(arr, key, -1, bson_iter_value(&el));
			}
			return any ? AGG_OK : agg_unsupported(err, "lookup:empty_array");
		}
		if (v->value_type == BSON_TYPE_DOCUMENT)
			return local_values(v->value.v_doc.data, v->value.v_doc.data_len, dot + 1, arr, n, err, depth + 1);
		if (v->value_type != BSON_TYPE_ARRAY)
			return AGG_OK;
		{
			const char *next = dot + 1, *nd = strchr(next, '.');
			if (all_digits(next, nd ? (size_t)(nd - next) : strlen(next)))
				return agg_unsupported(err, "lookup:array_index");
		}
		if (!bson_iter_recurse(&it, &el))
			return agg_unsupported(err, "invalid:bson");
		while (bson_iter_next(&el)) {
			const bson_value_t *e = bson_iter_value(&el);
			enum agg_status st;
			if (e->value_type == BSON_TYPE_ARRAY)
				return agg_unsupported(err, "lookup:nested_array");
			if (e->value_type != BSON_TYPE_DOCUMENT)
				continue;
			st = local_values(e->value.v_doc.data, e->value.v_doc.data_len, dot + 1, arr, n, err, depth + 1);
			if (st != AGG_OK)
				return st;
		}
		return AGG_OK;
	}
	return AGG_OK;
}

static const struct agg_input *lookup_input(const struct agg_run *r, const char *from)
{
	for (size_t i = 1; i < r->nin; i++)
		if (r->in[i].coll && strcmp(r->in[i].coll, from) == 0)
			return &r->in[i];
	return NULL;
}

/* Does foreign document f match any of the local values? */
static enum agg_status lookup_matches(const struct lookup *l, const bson_t *vals, const bson_t *f, bool *yes,
				      bson_error_t *err)
{
	bson_iter_t it;

	*yes = false;
	if (!bson_iter_init(&it, vals))
		return agg_unsupported(err, "invalid:bson");
	while (!*yes && bson_iter_next(&it)) {
		bson_t filter, cond;
		enum match_status ms;
		bson_init(&filter);
		bson_append_document_begin(&filter, l->foreign, -1, &cond);
		bson_append_value(&cond, "$eq", 3, bson_iter_value(&it));
		bson_append_document_end(&filter, &cond);
		ms = match_doc(&filter, f, NULL, err);
		bson_destroy(&filter);
		if (ms < 0)
			return agg_unsupported(err, "lookup:match");
		*yes = ms == MATCH_YES;
	}
	return AGG_OK;
}

static enum agg_status lookup_one(struct agg_run *r, const struct lookup *l, const struct agg_input *fin,
				  const struct agg_item *item, struct agg_stream *out)
{
	bson_t vals, found, *d;
	uint32_t n = 0, k = 0;
	bson_value_t av;
	char key[24];
	enum agg_status st;

	bson_init(&vals);
	st = local_values(bson_get_data(item->doc), item->doc->len, l->local, &vals, &n, r->err, 0);
	if (st == AGG_OK && n == 0)
		bson_append_null(&vals, "0", 1);
	bson_init(&found);
	for (size_t i = 0; st == AGG_OK && i < fin->n; i++) {
		bool yes;
		if (!fin->docs[i] || !bson_validate(fin->docs[i], BSON_VALIDATE_NONE, NULL)) {
			st = agg_unsupported(r->err, "invalid:input_bson");
			break;
		}
		st = lookup_matches(l, &vals, fin->docs[i], &yes, r->err);
		if (st == AGG_OK && yes) {
			if (found.len > r->max_bytes) {
				st = agg_unsupported(r->err, "limit:memory");
				break;
			}
			snprintf(key, sizeof key, "%u", k++);
			bson_append_document(&found, key, -1, fin->docs[i]);
		}
	}
	bson_destroy(&vals);
	if (st == AGG_OK) {
		av.value_type = BSON_TYPE_ARRAY;
		av.value.v_doc.data = (uint8_t *)bson_get_data(&found);
		av.value.v_doc.data_len = found.len;
		d = bson_new();
		if ((st = agg_set_path(item->doc, l->as, &av, d, r->err)) == AGG_OK)
			st = agg_stream_push(r, out, d, item->tie);
		else
			bson_destroy(d);
	}
	bson_destroy(&found);
	return st;
}

static enum agg_status lookup_run(const bson_value_t *arg, struct agg_run *r)
{
	struct lookup l;
	struct agg_stream out = { 0 };
	const struct agg_input *fin;
	enum agg_status st = lookup_parse(arg, &l, r->err);

	if (st != AGG_OK)
		return st;
	if (!(fin = lookup_input(r, l.from)))
		return agg_unsupported(r->err, "lookup:no_input");
	for (size_t i = 0; st == AGG_OK && i < r->s.n; i++)
		st = lookup_one(r, &l, fin, &r->s.v[i], &out);
	if (st == AGG_OK)
		agg_stream_swap(r, &out);
	else
		agg_stream_clear(&out);
	return st;
}

const struct agg_stage agg_stages_basic[] = {
	{ "$match", match_check_stage, match_run },
	{ "$skip", skip_check, skip_run },
	{ "$limit", limit_check, limit_run },
	{ "$count", count_check, count_run },
	{ "$sort", sort_check, sort_run },
	{ "$unwind", unwind_check, unwind_run },
	{ "$lookup", lookup_check, lookup_run },
	{ NULL, NULL, NULL },
};
