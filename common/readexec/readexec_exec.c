/*
 * readexec_exec.c - run a plan over candidate documents:
 *
 *   find:     filter -> sort -> skip/limit -> projection -> array
 *   count:    filter -> skip/limit -> n
 *   distinct: filter -> values at key -> sorted, deduplicated array
 *
 * Work is bounded by struct readexec_limits: candidates accepted, bytes of
 * the result, memory of an in-memory sort (mongod's 292 error without
 * allowDiskUse).  Selected documents are pointers into the caller's array
 * (no copies); distinct values are views into the documents.
 */
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"
#include "readexec.h"

#define DISTINCT_MAX_BYTES (16u << 20)

static bool fail(bson_error_t *err, uint32_t code, const char *msg)
{
	bson_set_error(err, READEXEC_ERROR_DOMAIN, code, "%s", msg);
	return false;
}

static struct readexec_limits limits_of(const struct readexec_limits *lim)
{
	return lim ? *lim : readexec_default_limits();
}

/* The documents that match plan->filter, in input order. */
static bool select_docs(const struct readexec_plan *plan, bson_t *const *docs, size_t n, size_t max_docs,
			bson_t ***out, size_t *nout, bson_error_t *err)
{
	bson_error_t e;

	*out = NULL;
	*nout = 0;
	if (n > max_docs)
		return fail(err, 0, "too many candidate documents for tandem's read executor");
	*out = malloc((n ? n : 1) * sizeof **out);
	if (!*out)
		return fail(err, 0, "out of memory");
	for (size_t i = 0; i < n; i++) {
		switch (match_doc(&plan->filter, docs[i], NULL, &e)) {
		case MATCH_YES: (*out)[(*nout)++] = docs[i]; break;
		case MATCH_NO: break;
		case MATCH_ERROR: return fail(err, 2, e.message);
		default: return fail(err, 0, e.message);
		}
	}
	return true;
}

/* [start, start + count) after skip and limit (limit < 0: |limit|). */
static void window(const struct readexec_plan *plan, size_t n, size_t *start, size_t *count)
{
	uint64_t lim = plan->limit < 0 ? (plan->limit == INT64_MIN ? UINT64_MAX : (uint64_t)-plan->limit)
				       : (uint64_t)plan->limit;

	*start = (uint64_t)plan->skip < n ? (size_t)plan->skip : n;
	*count = n - *start;
	if (lim && lim < *count)
		*count = (size_t)lim;
}

/* mongod sorts in memory up to 100 MiB (a top-k sort keeps skip+limit). */
static bool sort_memory_ok(const struct readexec_plan *plan, bson_t **sel, size_t n, size_t budget, bson_error_t *err)
{
	uint64_t sum = 0, max = 0, k, lim = plan->limit < 0 ? (uint64_t)0 - (uint64_t)plan->limit : (uint64_t)plan->limit;

	if (plan->allow_disk_use)
		return true;
	for (size_t i = 0; i < n; i++) {
		sum += sel[i]->len;
		max = sel[i]->len > max ? sel[i]->len : max;
	}
	k = lim ? (uint64_t)plan->skip + lim : 0;
	if (k && k < n && k * max < sum)
		sum = k * max;
	if (sum <= budget)
		return true;
	bson_set_error(err, READEXEC_ERROR_DOMAIN, 292,
		       "Executor error during find command :: caused by :: Sort exceeded memory limit of %zu bytes, "
		       "but did not opt in to external sorting.",
		       budget);
	return false;
}

static bool project_one(const struct readexec_plan *plan, const bson_t *doc, bson_t *out, bson_error_t *err)
{
	struct match_result mr = {-1};
	bson_error_t e;
	enum project_status st;

	if (project_needs_match(plan->projc) && match_doc(&plan->filter, doc, &mr, &e) != MATCH_YES)
		return fail(err, 0, "positional projection: the document no longer matches");
	st = project_apply(plan->projc, doc, &mr, out, &e);
	if (st == PROJECT_OK)
		return true;
	bson_destroy(out);
	if (st == PROJECT_ERROR) {
		char msg[600];
		snprintf(msg, sizeof msg, "Executor error during find command :: caused by :: %s", e.message);
		return fail(err, e.code, msg);
	}
	return fail(err, 0, e.message);
}

bool readexec_find(const struct readexec_plan *plan, bson_t *const *docs, size_t n, const struct readexec_limits *lim,
		   bson_t *out_array, bson_error_t *err)
{
	struct readexec_limits l = limits_of(lim);
	bson_t **sel;
	size_t nsel, start, count;
	bool ok = false;
	char buf[16];
	const char *key;

	bson_init(out_array);
	if (!select_docs(plan, docs, n, l.max_docs, &sel, &nsel, err))
		goto out;
	if (plan->sortc && sortspec_nfields(plan->sortc) &&
	    (!sort_memory_ok(plan, sel, nsel, l.sort_memory, err) || !sortspec_sort_ex(plan->sortc, sel, nsel, err)))
		goto out;
	window(plan, nsel, &start, &count);
	for (size_t i = 0; i < count; i++) {
		bson_uint32_to_string((uint32_t)i, &key, buf, sizeof buf);
		if (!plan->projc) {
			bson_append_document(out_array, key, -1, sel[start + i]);
		} else {
			bson_t p;
			if (!project_one(plan, sel[start + i], &p, err))
				goto out;
			bson_append_document(out_array, key, -1, &p);
			bson_destroy(&p);
		}
		if (out_array->len > l.max_result) {
			fail(err, 0, "result larger than tandem's read executor allows");
			goto out;
		}
	}
	ok = true;
out:
	free(sel);
	if (!ok) {
		bson_destroy(out_array);
		bson_init(out_array);
	}
	return ok;
}

bool readexec_count(const struct readexec_plan *plan, bson_t *const *docs, size_t n, const struct readexec_limits *lim,
		    int64_t *count, bson_error_t *err)
{
	struct readexec_limits l = limits_of(lim);
	bson_t **sel;
	size_t nsel, start, cnt;
	bool ok;

	*count = 0;
	if (plan->kind == READEXEC_ESTIMATED_COUNT || plan->kind == READEXEC_COLLSTATS_COUNT) {
		*count = (int64_t)n;
		return true;
	}
	ok = select_docs(plan, docs, n, l.max_docs, &sel, &nsel, err);
	if (ok) {
		window(plan, nsel, &start, &cnt);
		*count = (int64_t)cnt;
	}
	free(sel);
	return ok;
}

/* ---- distinct ------------------------------------------------------------ */

struct values {
	bson_value_t *v;
	size_t n, cap, max;
	const char *path;
};

static bool push(struct values *vs, const bson_value_t *v)
{
	if (v->value_type == BSON_TYPE_UNDEFINED)
		return true;
	if (vs->n == vs->cap) {
		size_t cap = vs->cap ? vs->cap * 2 : 64;
		bson_value_t *nv;
		if (vs->n >= vs->max || !(nv = realloc(vs->v, cap * sizeof *nv)))
			return false;
		vs->v = nv;
		vs->cap = cap;
	}
	vs->v[vs->n++] = *v;
	return true;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len > 0;
}

/* mongod's extractAllElementsAlongPath(expandArrayOnTrailingField). */
static bool collect(struct values *vs, const bson_t *doc, const char *path, int depth)
{
	const char *dot = strchr(path, '.');
	size_t len = dot ? (size_t)(dot - path) : strlen(path);
	bson_iter_t it, el;
	bson_t sub;

	if (depth > 200 || !bson_iter_init_find_w_len(&it, doc, path, (int)len))
		return true;
	if (!dot) {
		if (!BSON_ITER_HOLDS_ARRAY(&it))
			return push(vs, bson_iter_value(&it));
		if (!bson_iter_recurse(&it, &el))
			return true;
		while (bson_iter_next(&el))
			if (!push(vs, bson_iter_value(&el)))
				return false;
		return true;
	}
	if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it))
		return true;
	uint32_t l;
	const uint8_t *d;
	if (BSON_ITER_HOLDS_DOCUMENT(&it))
		bson_iter_document(&it, &l, &d);
	else
		bson_iter_array(&it, &l, &d);
	if (!bson_init_static(&sub, d, l))
		return true;
	if (BSON_ITER_HOLDS_DOCUMENT(&it) || all_digits(dot + 1, strcspn(dot + 1, ".")))
		return collect(vs, &sub, dot + 1, depth + 1);
	if (!bson_iter_init(&el, &sub))
		return true;
	while (bson_iter_next(&el)) {
		bson_t e;
		if (!BSON_ITER_HOLDS_DOCUMENT(&el))
			continue;
		bson_iter_document(&el, &l, &d);
		if (bson_init_static(&e, d, l) && !collect(vs, &e, dot + 1, depth + 1))
			return false;
	}
	return true;
}

struct ranked {
	const bson_value_t *v;
	size_t i;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c = bsoncmp_value(x->v, y->v);

	if (c)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Sorted, first of each equal run kept (mongod's ordered set). */
static bool emit_values(const struct values *vs, bson_t *out, bson_error_t *err)
{
	struct ranked *r = malloc((vs->n ? vs->n : 1) * sizeof *r);
	size_t k = 0;
	char buf[16];
	const char *key;

	if (!r)
		return fail(err, 0, "out of memory");
	for (size_t i = 0; i < vs->n; i++)
		r[i] = (struct ranked){&vs->v[i], i};
	qsort(r, vs->n, sizeof *r, ranked_cmp);
	for (size_t i = 0; i < vs->n; i++) {
		if (i && bsoncmp_value(r[i - 1].v, r[i].v) == 0)
			continue;
		bson_uint32_to_string((uint32_t)k++, &key, buf, sizeof buf);
		bson_append_value(out, key, -1, r[i].v);
		if (out->len > DISTINCT_MAX_BYTES) {
			free(r);
			return fail(err, 17217, "distinct too big, 16mb cap");
		}
	}
	free(r);
	return true;
}

bool readexec_distinct(const struct readexec_plan *plan, bson_t *const *docs, size_t n,
		       const struct readexec_limits *lim, bson_t *out_array, bson_error_t *err)
{
	struct readexec_limits l = limits_of(lim);
	struct values vs = {.max = l.max_docs * 4, .path = plan->key};
	bson_t **sel;
	size_t nsel;
	bool ok;

	bson_init(out_array);
	ok = plan->key && select_docs(plan, docs, n, l.max_docs, &sel, &nsel, err);
	if (!plan->key)
		return fail(err, 40414, "BSON field 'distinct.key' is missing but a required field");
	for (size_t i = 0; ok && i < nsel; i++)
		if (!collect(&vs, sel[i], plan->key, 0))
			ok = fail(err, 0, "too many distinct values for tandem's read executor");
	ok = ok && emit_values(&vs, out_array, err);
	free(sel);
	free(vs.v);
	if (!ok) {
		bson_destroy(out_array);
		bson_init(out_array);
	}
	return ok;
}
