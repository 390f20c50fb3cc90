/*
 * aggregate.c - agg_check, agg_run and agg_pushdown (aggregate.h): the
 * stage dispatch and the document stream between stages.
 *
 *   in[0].docs --copy--> stream --stage 1--> stream --stage 2--> ... --> out
 *
 * Every stage consumes r->s and replaces it; documents are owned by the
 * stream.  agg_run re-checks the pipeline first, so stages may assume the
 * shapes agg_check accepted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate_internal.h"
#include "match.h"

#define AGG_DEFAULT_MAX_DOCS 1000000
#define AGG_DEFAULT_MAX_BYTES (100u * 1024 * 1024)
#define AGG_MAX_DOC_SIZE (16 * 1024 * 1024)

enum agg_status agg_unsupported(bson_error_t *err, const char *reason)
{
	return agg_fail(err, AGG_UNSUPPORTED, 0, "%s", reason);
}

bool agg_whole(const bson_value_t *v, int64_t *out)
{
	switch (v->value_type) {
	case BSON_TYPE_INT32: *out = v->value.v_int32; return true;
	case BSON_TYPE_INT64: *out = v->value.v_int64; return true;
	case BSON_TYPE_DOUBLE:
		if (!(v->value.v_double >= -9e18 && v->value.v_double <= 9e18) || floor(v->value.v_double) != v->value.v_double)
			return false;
		*out = (int64_t)v->value.v_double;
		return true;
	default: return false;
	}
}

/* ---- stream -------------------------------------------------------------------- */

enum agg_status agg_stream_push(struct agg_run *r, struct agg_stream *s, bson_t *doc, uint32_t tie)
{
	if (doc->len > AGG_MAX_DOC_SIZE * 6u) {
		bson_destroy(doc);
		return agg_unsupported(r->err, "limit:docsize");
	}
	if (s->n >= r->max_docs) {
		bson_destroy(doc);
		return agg_unsupported(r->err, "limit:docs");
	}
	if (s->bytes + doc->len > r->max_bytes) {
		bson_destroy(doc);
		return agg_unsupported(r->err, "limit:memory");
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct agg_item *nv = realloc(s->v, cap * sizeof *nv);
		if (!nv) {
			bson_destroy(doc);
			return agg_unsupported(r->err, "limit:memory");
		}
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n].doc = doc;
	s->v[s->n].tie = tie;
	s->n++;
	s->bytes += doc->len;
	return AGG_OK;
}

void agg_stream_clear(struct agg_stream *s)
{
	for (size_t i = 0; i < s->n; i++)
		bson_destroy(s->v[i].doc);
	free(s->v);
	memset(s, 0, sizeof *s);
}

void agg_stream_swap(struct agg_run *r, struct agg_stream *s)
{
	agg_stream_clear(&r->s);
	r->s = *s;
	memset(s, 0, sizeof *s);
}

/* ---- nested paths through documents -------------------------------------------- */

void agg_get_path(const bson_t *doc, const char *path, bson_value_t *out)
{
	const uint8_t *data = bson_get_data(doc);
	uint32_t len = doc->len;
	const char *p = path;

	out->value_type = BSON_TYPE_EOD;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		const bson_value_t *v = NULL;
		bson_iter_t it;
		if (!bson_iter_init_from_data(&it, data, len))
			return;
		while (bson_iter_next(&it))
			if (bson_iter_key_len(&it) == n && memcmp(bson_iter_key(&it), p, n) == 0) {
				v = bson_iter_value(&it);
				break;
			}
		if (!v)
			return;
		if (!dot) {
			*out = *v;
			return;
		}
		if (v->value_type != BSON_TYPE_DOCUMENT)
			return;
		data = v->value.v_doc.data;
		len = v->value.v_doc.data_len;
		p = dot + 1;
	}
}

static enum agg_status set_path_in(const uint8_t *data, uint32_t len, const char *path, const bson_value_t *value,
				   bson_t *out, int depth)
{
	const char *dot = strchr(path, '.');
	size_t n = dot ? (size_t)(dot - path) : strlen(path);
	bson_iter_t it;
	bool placed = false;

	if (depth > 200)
		return AGG_UNSUPPORTED;
	if (data && bson_iter_init_from_data(&it, data, len))
		while (bson_iter_next(&it)) {
			bool same = bson_iter_key_len(&it) == n && memcmp(bson_iter_key(&it), path, n) == 0;
			if (!same || placed) {
				bson_append_value(out, bson_iter_key(&it), (int)bson_iter_key_len(&it), bson_iter_value(&it));
				continue;
			}
			placed = true;
			if (!dot) {
				if (value->value_type != BSON_TYPE_EOD)
					bson_append_value(out, path, (int)n, value);
			} else {
				bson_t sub;
				const bson_value_t *v = bson_iter_value(&it);
				bool isdoc = v->value_type == BSON_TYPE_DOCUMENT;
				enum agg_status st;
				bson_append_document_begin(out, path, (int)n, &sub);
				st = set_path_in(isdoc ? v->value.v_doc.data : NULL, isdoc ? v->value.v_doc.data_len : 0, dot + 1,
						 value, &sub, depth + 1);
				bson_append_document_end(out, &sub);
				if (st != AGG_OK)
					return st;
			}
		}
	if (!placed && value->value_type != BSON_TYPE_EOD) {
		if (!dot) {
			bson_append_value(out, path, (int)n, value);
		} else {
			bson_t sub;
			enum agg_status st;
			bson_append_document_begin(out, path, (int)n, &sub);
			st = set_path_in(NULL, 0, dot + 1, value, &sub, depth + 1);
			bson_append_document_end(out, &sub);
			return st;
		}
	}
	return AGG_OK;
}

enum agg_status agg_set_path(const bson_t *doc, const char *path, const bson_value_t *value, bson_t *out,
			     bson_error_t *err)
{
	if (set_path_in(bson_get_data(doc), doc->len, path, value, out, 0) != AGG_OK)
		return agg_unsupported(err, "limit:depth");
	return AGG_OK;
}

/* ---- dispatch ---------------------------------------------------------------------- */

static const struct agg_stage *const stage_tables[] = { agg_stages_basic, agg_stages_project, agg_stages_group };

static const struct agg_stage *find_stage(const char *name)
{
	for (size_t t = 0; t < sizeof stage_tables / sizeof stage_tables[0]; t++)
		for (const struct agg_stage *s = stage_tables[t]; s->name; s++)
			if (strcmp(s->name, name) == 0)
				return s;
	return NULL;
}

/* The single {$name: arg} of a stage document. */
static enum agg_status stage_parts(const bson_iter_t *elem, const char **name, bson_value_t *arg, bson_error_t *err)
{
	bson_iter_t it;

	if (!BSON_ITER_HOLDS_DOCUMENT(elem) || !bson_iter_recurse(elem, &it) || !bson_iter_next(&it))
		return agg_fail(err, AGG_ERROR, 40323, "A pipeline stage specification object must contain exactly one field.");
	*name = bson_iter_key(&it);
	*arg = *bson_iter_value(&it);
	if (bson_iter_next(&it))
		return agg_fail(err, AGG_ERROR, 40323, "A pipeline stage specification object must contain exactly one field.");
	return AGG_OK;
}

enum agg_status agg_check(const bson_t *pipeline, struct agg_info *info, bson_error_t *err)
{
	bson_iter_t it;
	size_t n = 0;
	enum agg_status st = AGG_OK;

	memset(info, 0, sizeof *info);
	/* names in the pipeline become keys of output documents: UTF-8 only */
	if (!bson_validate(pipeline, BSON_VALIDATE_UTF8, NULL) || !bson_iter_init(&it, pipeline))
		st = agg_unsupported(err, "invalid:bson");
	while (st == AGG_OK && bson_iter_next(&it)) {
		const char *name;
		bson_value_t arg;
		const struct agg_stage *s;
		if (++n > AGG_MAX_STAGES) {
			st = agg_unsupported(err, "limit:stages");
			break;
		}
		if ((st = stage_parts(&it, &name, &arg, err)) != AGG_OK)
			break;
		if (!(s = find_stage(name))) {
			char r[64];
			snprintf(r, sizeof r, "stage:%.50s", name);
			st = agg_unsupported(err, r);
			break;
		}
		st = s->check(&arg, info, err);
	}
	if (st == AGG_UNSUPPORTED)
		snprintf(info->reason, sizeof info->reason, "%.63s", err ? err->message : "unsupported");
	return st;
}

/* A $group whose output does not depend on which documents it gets, only
 * on how many: a constant _id and only {$sum: <number>} accumulators (the
 * shape of countDocuments). */
static bool counting_group(const bson_value_t *arg)
{
	bson_iter_t it;

	if (arg->value_type != BSON_TYPE_DOCUMENT ||
	    !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return false;
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);
		bson_iter_t acc;
		if (!strcmp(bson_iter_key(&it), "_id")) {
			if (v->value_type == BSON_TYPE_DOCUMENT || v->value_type == BSON_TYPE_ARRAY ||
			    (v->value_type == BSON_TYPE_UTF8 && v->value.v_utf8.str[0] == '$'))
				return false;
			continue;
		}
		if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &acc) || !bson_iter_next(&acc) ||
		    strcmp(bson_iter_key(&acc), "$sum") != 0 || !BSON_ITER_HOLDS_NUMBER(&acc) || bson_iter_next(&acc))
			return false;
	}
	return true;
}

/* Do the stages after it depend only on the number of documents (more
 * $skip/$limit, then $count or a counting $group)? */
static bool tail_size_only(bson_iter_t it)
{
	while (bson_iter_next(&it)) {
		const char *name;
		bson_value_t arg;
		if (stage_parts(&it, &name, &arg, NULL) != AGG_OK)
			return false;
		if (!strcmp(name, "$skip") || !strcmp(name, "$limit"))
			continue;
		return !strcmp(name, "$count") || (!strcmp(name, "$group") && counting_group(&arg));
	}
	return false;
}

static enum agg_status run_stages(const bson_t *pipeline, struct agg_run *r)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, pipeline))
		return agg_unsupported(r->err, "invalid:bson");
	while (bson_iter_next(&it)) {
		const char *name;
		bson_value_t arg;
		enum agg_status st = stage_parts(&it, &name, &arg, r->err);
		if (st != AGG_OK)
			return st;
		r->size_only = tail_size_only(it);
		if ((st = find_stage(name)->run(&arg, r)) != AGG_OK)
			return st;
	}
	return AGG_OK;
}

static enum agg_status load_input(struct agg_run *r, const struct agg_input *in)
{
	for (size_t i = 0; i < in->n; i++) {
		bson_t *d;
		enum agg_status st;
		if (!in->docs[i] || !bson_validate(in->docs[i], BSON_VALIDATE_NONE, NULL))
			return agg_unsupported(r->err, "invalid:input_bson");
		if (!(d = bson_copy(in->docs[i])))
			return agg_unsupported(r->err, "limit:memory");
		/* natural order is not reproduced: every input document is tied */
		if ((st = agg_stream_push(r, &r->s, d, 1)) != AGG_OK)
			return st;
	}
	r->next_tie = 2;
	return AGG_OK;
}

static enum agg_status emit(struct agg_run *r, bson_t *out, uint32_t **ties)
{
	char key[24];

	if (ties && !(*ties = malloc((r->s.n ? r->s.n : 1) * sizeof **ties)))
		return agg_unsupported(r->err, "limit:memory");
	for (size_t i = 0; i < r->s.n; i++) {
		if (r->s.v[i].doc->len > AGG_MAX_DOC_SIZE) {
			if (ties) {
				free(*ties);
				*ties = NULL;
			}
			return agg_unsupported(r->err, "limit:docsize");
		}
		snprintf(key, sizeof key, "%zu", i);
		bson_append_document(out, key, -1, r->s.v[i].doc);
		if (ties)
			(*ties)[i] = r->s.v[i].tie;
	}
	return AGG_OK;
}

enum agg_status agg_run(const bson_t *pipeline, const struct agg_input *in, size_t nin, const struct agg_limits *limits,
			bson_t *out, uint32_t **ties, bson_error_t *err)
{
	struct agg_info info;
	struct agg_run r = { .in = in, .nin = nin, .err = err };
	enum agg_status st = agg_check(pipeline, &info, err);

	if (ties)
		*ties = NULL;
	if (st != AGG_OK)
		return st;
	if (!in || nin == 0)
		return agg_unsupported(err, "invalid:input");
	r.max_docs = limits && limits->max_docs ? limits->max_docs : AGG_DEFAULT_MAX_DOCS;
	r.max_bytes = limits && limits->max_bytes ? limits->max_bytes : AGG_DEFAULT_MAX_BYTES;
	if ((st = load_input(&r, &in[0])) == AGG_OK && (st = run_stages(pipeline, &r)) == AGG_OK)
		st = emit(&r, out, ties);
	agg_stream_clear(&r.s);
	return st;
}

bool agg_pushdown(const bson_t *pipeline, bson_t *filter)
{
	bson_iter_t it;
	bson_value_t filters[64];
	size_t n = 0;

	if (bson_iter_init(&it, pipeline))
		while (n < 64 && bson_iter_next(&it)) {
			const char *name;
			bson_value_t arg;
			if (stage_parts(&it, &name, &arg, NULL) != AGG_OK || strcmp(name, "$match") != 0 ||
			    arg.value_type != BSON_TYPE_DOCUMENT)
				break;
			filters[n++] = arg;
		}
	if (n == 1) {
		bson_iter_t f;
		if (!bson_iter_init_from_data(&f, filters[0].value.v_doc.data, filters[0].value.v_doc.data_len))
			return false;
		while (bson_iter_next(&f))
			if (!bson_append_value(filter, bson_iter_key(&f), (int)bson_iter_key_len(&f), bson_iter_value(&f)))
				return false;
	} else if (n > 1) {
		bson_t arr;
		char key[24];
		if (!bson_append_array_begin(filter, "$and", 4, &arr))
			return false;
		for (size_t i = 0; i < n; i++) {
			snprintf(key, sizeof key, "%zu", i);
			bson_append_value(&arr, key, -1, &filters[i]);
		}
		if (!bson_append_array_end(filter, &arr))
			return false;
	}
	return true;
}
