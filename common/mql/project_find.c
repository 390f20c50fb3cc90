/*
 * project_find.c - the find()-only parts of a projection: $slice (find's
 * n / [skip, limit] form; the aggregation form is UNSUPPORTED), $elemMatch
 * (top level, checked by match_check) and the positional "path.$" (one per
 * query, named by the filter), with mongod's error codes.
 */
#include <stdlib.h>
#include <string.h>

#include "project_internal.h"

static bool is_number(bson_type_t t)
{
	return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
	       t == BSON_TYPE_DECIMAL128;
}

/* mongod's numberInt(): int64 truncated, doubles as the x86 conversion. */
static int32_t number_int(const bson_iter_t *it)
{
	double d;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_INT32: return bson_iter_int32(it);
	case BSON_TYPE_INT64: return (int32_t)(uint32_t)(uint64_t)bson_iter_int64(it);
	case BSON_TYPE_DOUBLE: d = bson_iter_double(it); break;
	default: {
		bson_decimal128_t dec;
		char s[BSON_DECIMAL128_STRING];
		bson_iter_decimal128(it, &dec);
		bson_decimal128_to_string(&dec, s);
		d = strtod(s, NULL);
	}
	}
	if (!(d > -2147483649.0 && d < 2147483648.0))
		return INT32_MIN;
	return (int32_t)d;
}

/* {$slice: n} or {$slice: [skip, limit]}; false with err set otherwise. */
static enum project_status find_slice(const bson_iter_t *arg, bool *has_skip, int32_t *skip, int32_t *limit,
				      bson_error_t *err)
{
	bson_iter_t a, s, l;
	uint32_t n = 0;

	if (is_number(bson_iter_type(arg))) {
		*has_skip = false;
		*limit = number_int(arg);
		return PROJECT_OK;
	}
	if (BSON_ITER_HOLDS_ARRAY(arg) && bson_iter_recurse(arg, &a)) {
		while (bson_iter_next(&a))
			n++;
		if (n == 2 && bson_iter_recurse(arg, &s) && bson_iter_next(&s) && (l = s, bson_iter_next(&l)) &&
		    is_number(bson_iter_type(&s)) && is_number(bson_iter_type(&l)) && number_int(&l) > 0) {
			*has_skip = true;
			*skip = number_int(&s);
			*limit = number_int(&l);
			return PROJECT_OK;
		}
		/* Not find()'s form: mongod then parses the aggregation $slice
		 * expression, which takes 2 or 3 arguments. */
		if (n == 2 || n == 3)
			return project_fail(err, PROJECT_UNSUPPORTED, 0,
					    "aggregation $slice expression in a find projection");
	}
	return project_fail(err, PROJECT_ERROR, 28667,
			    "Invalid $slice syntax. The given syntax did not match the find() syntax because :: "
			    "$slice only supports numbers and [skip, limit] arrays :: The given syntax did not "
			    "match the expression $slice syntax. :: caused by :: Expression $slice takes at least "
			    "2 arguments, and at most 3, but %u were passed in.",
			    BSON_ITER_HOLDS_ARRAY(arg) ? n : 1);
}

enum project_status project_parse_slice(struct pctx *c, const char *key, size_t klen, const char *full,
				       const bson_iter_t *arg, struct pnode *parent)
{
	enum project_status st;
	struct post_op *op;
	bool has_skip = false;
	int32_t skip = 0, limit = 0;

	st = find_slice(arg, &has_skip, &skip, &limit, c->err);
	if (st != PROJECT_OK)
		return st;
	if (!project_add_path(c, parent, key, klen, PN_SLICE, &st))
		return st;
	if (!project_add_post(c, POST_SLICE, full, strlen(full), &op))
		return project_fail(c->err, PROJECT_UNSUPPORTED, 0, "out of memory");
	op->has_skip = has_skip;
	op->skip = skip;
	op->limit = limit;
	c->has_slice = true;
	return PROJECT_OK;
}

enum project_status project_parse_elemmatch(struct pctx *c, const char *key, size_t klen, const bson_iter_t *arg,
					   struct pnode *parent)
{
	enum project_status st;
	struct pnode *n;
	bson_t *f, em, spec;
	uint32_t len;
	const uint8_t *data;

	if (!BSON_ITER_HOLDS_DOCUMENT(arg))
		return project_fail(c->err, PROJECT_ERROR, 31274,
				    "elemMatch: Invalid argument, object required, but got %s",
				    BSON_ITER_HOLDS_ARRAY(arg) ? "array" : "a non-object");
	if (c->has_positional)
		return project_fail(c->err, PROJECT_ERROR, 31255, "Cannot specify positional operator and $elemMatch.");
	if (parent != c->p->root || memchr(key, '.', klen))
		return project_fail(c->err, PROJECT_ERROR, 31275, "Cannot use $elemMatch projection on a nested field.");
	bson_iter_document(arg, &len, &data);
	f = bson_new();
	bson_append_document_begin(f, key, (int)klen, &em);
	if (bson_init_static(&spec, data, len))
		bson_append_document(&em, "$elemMatch", -1, &spec);
	bson_append_document_end(f, &em);
	switch (match_check(f, c->err)) {
	case MATCH_YES: break;
	case MATCH_UNSUPPORTED:
		bson_destroy(f);
		return PROJECT_UNSUPPORTED;
	default:
		bson_destroy(f);
		c->err->domain = PROJECT_ERROR_DOMAIN;
		c->err->code = 2;
		return PROJECT_ERROR;
	}
	if (!(n = project_add_path(c, parent, key, klen, PN_ELEMMATCH, &st))) {
		bson_destroy(f);
		return st;
	}
	n->elemmatch = f;
	c->has_elemmatch = true;
	return PROJECT_OK;
}

/* mongod's hasPositionalOperatorMatch: a predicate of the filter on a path
 * whose first part is field ($and/$or/$nor looked into). */
static bool filter_has_path(const bson_t *filter, const char *field, size_t flen, int depth)
{
	bson_iter_t it, arr;

	if (depth > 100 || !bson_iter_init(&it, filter))
		return false;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (k[0] == '$') {
			if ((strcmp(k, "$and") && strcmp(k, "$or") && strcmp(k, "$nor")) || !BSON_ITER_HOLDS_ARRAY(&it) ||
			    !bson_iter_recurse(&it, &arr))
				continue;
			while (bson_iter_next(&arr)) {
				uint32_t len;
				const uint8_t *data;
				bson_t sub;
				if (!BSON_ITER_HOLDS_DOCUMENT(&arr))
					continue;
				bson_iter_document(&arr, &len, &data);
				if (bson_init_static(&sub, data, len) && filter_has_path(&sub, field, flen, depth + 1))
					return true;
			}
			continue;
		}
		const char *dot = strchr(k, '.');
		size_t l = dot ? (size_t)(dot - k) : strlen(k);
		if (l == flen && memcmp(k, field, l) == 0)
			return true;
	}
	return false;
}

/* Where ".$." / a final ".$" / a whole "$" is; -1 if none (then *end unset). */
long project_first_positional(const char *s, size_t len, size_t *end)
{
	const char *p = NULL;

	for (size_t i = 0; i + 3 <= len && !p; i++)
		if (memcmp(s + i, ".$.", 3) == 0)
			p = s + i;
	if (p) {
		*end = (size_t)(p - s) + 3;
		return p - s;
	}
	if (len >= 2 && memcmp(s + len - 2, ".$", 2) == 0) {
		*end = len;
		return (long)len - 2;
	}
	if (len == 1 && s[0] == '$') {
		*end = 1;
		return 0;
	}
	return -1;
}

enum project_status project_parse_positional(struct pctx *c, const char *key, size_t klen, const char *parent_full,
					    long begin, size_t end, struct pnode *parent)
{
	enum project_status st;
	struct post_op *op;
	size_t rest_end;
	const char *first = parent_full ? parent_full : key;
	size_t flen = strcspn(first, ".");
	char *full;
	bool ok;

	if (!parent_full && flen > klen)
		flen = klen;
	if (c->has_positional)
		return project_fail(c->err, PROJECT_ERROR, 31276,
				    "Cannot specify more than one positional projection per query.");
	if (c->has_elemmatch)
		return project_fail(c->err, PROJECT_ERROR, 31256, "Cannot specify positional operator and $elemMatch.");
	if (!c->filter)
		return project_fail(c->err, PROJECT_ERROR, 51050, "Projections with a positional operator require a matcher");
	if (!filter_has_path(c->filter, first, flen, 0))
		return project_fail(c->err, PROJECT_ERROR, 31277,
				    "Positional projection '%.*s' does not match the query document.", (int)klen, key);
	if (klen >= 3 && memcmp(key + klen - 3, ".$.", 3) == 0)
		return project_fail(c->err, PROJECT_ERROR, 31270, "Path cannot end with '.$.'");
	if (project_first_positional(key + end, klen - end, &rest_end) >= 0)
		return project_fail(c->err, PROJECT_ERROR, 31287, "Cannot use positional operator twice: %.*s",
				    (int)klen, key);
	if (!project_add_path(c, parent, key, (size_t)begin, PN_INCLUDE, &st))
		return st;
	full = project_join(parent_full, key, (size_t)begin);
	ok = project_add_post(c, POST_POSITIONAL, full, strlen(full), &op);
	bson_free(full);
	if (!ok)
		return project_fail(c->err, PROJECT_UNSUPPORTED, 0, "out of memory");
	c->has_positional = true;
	c->p->positional = true;
	return PROJECT_OK;
}

