/*
 * aggexpr.c - entry points of the expression evaluator (aggexpr.h): the
 * arena, the operator dispatch, field paths, variables and literals.
 *
 * An expression is one of
 *   "$a.b"            field path of $$CURRENT (through arrays, see field_path)
 *   "$$VAR[.a.b]"     ROOT, CURRENT, REMOVE (others: UNSUPPORTED)
 *   {$op: arg}        an operator of the tables in aggexpr_*.c
 *   {a: e, b: e}      an object whose fields are expressions
 *   [e, e]            an array whose elements are expressions
 *   anything else     itself
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggexpr_internal.h"
#include "bsoncmp.h"

enum agg_status agg_fail(bson_error_t *err, enum agg_status st, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return st;
	err->domain = AGG_ERROR_DOMAIN;
	err->code = (uint32_t)code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return st;
}

enum agg_status aggx_unsupported(struct aggx_ctx *ctx, const char *reason)
{
	return agg_fail(ctx->err, AGG_UNSUPPORTED, 0, "%s", reason);
}

/* ---- arena ------------------------------------------------------------- */

void aggx_arena_init(struct aggx_arena *a, size_t limit)
{
	memset(a, 0, sizeof *a);
	a->limit = limit;
}

void aggx_arena_reset(struct aggx_arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->ptrs[i]);
	a->n = 0;
	a->bytes = 0;
}

void aggx_arena_free(struct aggx_arena *a)
{
	aggx_arena_reset(a);
	free(a->ptrs);
	a->ptrs = NULL;
	a->cap = 0;
}

static bool arena_keep(struct aggx_arena *a, void *p, size_t len)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		void **np = realloc(a->ptrs, cap * sizeof *np);
		if (!np)
			return false;
		a->ptrs = np;
		a->cap = cap;
	}
	a->ptrs[a->n++] = p;
	a->bytes += len;
	return true;
}

void *aggx_alloc(struct aggx_ctx *ctx, size_t len)
{
	struct aggx_arena *a = ctx->arena;
	void *p;

	if (len > a->limit || a->bytes > a->limit - len || !(p = malloc(len ? len : 1))) {
		aggx_unsupported(ctx, "limit:memory");
		return NULL;
	}
	if (!arena_keep(a, p, len)) {
		free(p);
		aggx_unsupported(ctx, "limit:memory");
		return NULL;
	}
	return p;
}

enum agg_status aggx_finish(struct aggx_ctx *ctx, bson_t *b, bson_type_t t, bson_value_t *out)
{
	uint32_t len = b->len;
	uint8_t *p = aggx_alloc(ctx, len);

	if (p)
		memcpy(p, bson_get_data(b), len);
	bson_destroy(b);
	if (!p)
		return AGG_UNSUPPORTED;
	out->value_type = t;
	out->value.v_doc.data = p;
	out->value.v_doc.data_len = len;
	return AGG_OK;
}

enum agg_status aggx_string(struct aggx_ctx *ctx, const char *s, size_t len, bson_value_t *out)
{
	char *p;

	if (len > INT32_MAX - 1 || !(p = aggx_alloc(ctx, len + 1)))
		return aggx_unsupported(ctx, "limit:memory");
	memcpy(p, s, len);
	p[len] = '\0';
	out->value_type = BSON_TYPE_UTF8;
	out->value.v_utf8.str = p;
	out->value.v_utf8.len = (uint32_t)len;
	return AGG_OK;
}

/* ---- small value helpers ----------------------------------------------- */

bool aggx_nullish(const bson_value_t *v)
{
	return v->value_type == BSON_TYPE_EOD || v->value_type == BSON_TYPE_NULL ||
	       v->value_type == BSON_TYPE_UNDEFINED;
}

bool aggx_numeric(const bson_value_t *v)
{
	return v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64 ||
	       v->value_type == BSON_TYPE_DOUBLE || v->value_type == BSON_TYPE_DECIMAL128;
}

void aggx_set_null(bson_value_t *v)
{
	v->value_type = BSON_TYPE_NULL;
}

void aggx_set_bool(bson_value_t *v, bool b)
{
	v->value_type = BSON_TYPE_BOOL;
	v->value.v_bool = b;
}

void aggx_set_i32(bson_value_t *v, int32_t x)
{
	v->value_type = BSON_TYPE_INT32;
	v->value.v_int32 = x;
}

void aggx_set_i64(bson_value_t *v, int64_t x)
{
	v->value_type = BSON_TYPE_INT64;
	v->value.v_int64 = x;
}

void aggx_set_double(bson_value_t *v, double x)
{
	v->value_type = BSON_TYPE_DOUBLE;
	v->value.v_double = x;
}

void aggx_set_int_or_long(bson_value_t *v, int64_t x)
{
	if (x >= INT32_MIN && x <= INT32_MAX)
		aggx_set_i32(v, (int32_t)x);
	else
		aggx_set_i64(v, x);
}

bool aggx_iter_array(const bson_value_t *v, bson_iter_t *it)
{
	if (v->value_type != BSON_TYPE_ARRAY && v->value_type != BSON_TYPE_DOCUMENT)
		return false;
	return bson_iter_init_from_data(it, v->value.v_doc.data, v->value.v_doc.data_len);
}

uint32_t aggx_array_len(const bson_value_t *v)
{
	bson_iter_t it;
	uint32_t n = 0;

	if (aggx_iter_array(v, &it))
		while (bson_iter_next(&it))
			n++;
	return n;
}

bool aggx_truthy(const bson_value_t *v)
{
	switch (v->value_type) {
	case BSON_TYPE_EOD:
	case BSON_TYPE_NULL:
	case BSON_TYPE_UNDEFINED: return false;
	case BSON_TYPE_BOOL: return v->value.v_bool;
	case BSON_TYPE_INT32: return v->value.v_int32 != 0;
	case BSON_TYPE_INT64: return v->value.v_int64 != 0;
	case BSON_TYPE_DOUBLE: return v->value.v_double != 0;
	case BSON_TYPE_DECIMAL128: {
		bson_value_t zero = { .value_type = BSON_TYPE_INT32 };
		return bsoncmp_value(v, &zero) != 0;
	}
	default: return true;
	}
}

/* mongod's canonical order puts missing and undefined together between
 * MinKey and null; everything else is bsoncmp's order. */
static int rank_low(const bson_value_t *v)
{
	switch (v->value_type) {
	case BSON_TYPE_MINKEY: return 0;
	case BSON_TYPE_EOD:
	case BSON_TYPE_UNDEFINED: return 1;
	default: return 2;
	}
}

int aggx_cmp(const bson_value_t *a, const bson_value_t *b)
{
	int ra = rank_low(a), rb = rank_low(b);

	if (ra != 2 || rb != 2)
		return ra != rb ? (ra < rb ? -1 : 1) : 0;
	return bsoncmp_value(a, b);
}

/* ---- field paths -------------------------------------------------------- */

static bool find_field(const uint8_t *data, uint32_t len, const char *name, size_t nlen, bson_value_t *out)
{
	bson_iter_t it;

	if (!bson_iter_init_from_data(&it, data, len))
		return false;
	while (bson_iter_next(&it))
		if (bson_iter_key_len(&it) == nlen && memcmp(bson_iter_key(&it), name, nlen) == 0) {
			*out = *bson_iter_value(&it);
			return true;
		}
	return false;
}

static enum agg_status path_in_doc(const uint8_t *data, uint32_t len, const char *path, size_t plen,
				   struct aggx_ctx *ctx, bson_value_t *out);

/* mongod's evaluatePathArray: the rest of the path in every element that
 * is a document; missing results are dropped, nested arrays skipped. */
static enum agg_status path_in_array(const bson_value_t *arr, const char *path, size_t plen, struct aggx_ctx *ctx,
				     bson_value_t *out)
{
	bson_iter_t it;
	bson_t b;
	uint32_t i = 0;
	char key[24];

	bson_init(&b);
	if (aggx_iter_array(arr, &it))
		while (bson_iter_next(&it)) {
			bson_value_t v;
			enum agg_status st;
			if (!BSON_ITER_HOLDS_DOCUMENT(&it))
				continue;
			st = path_in_doc(bson_iter_value(&it)->value.v_doc.data,
					 bson_iter_value(&it)->value.v_doc.data_len, path, plen, ctx, &v);
			if (st != AGG_OK) {
				bson_destroy(&b);
				return st;
			}
			if (v.value_type == BSON_TYPE_EOD)
				continue;
			snprintf(key, sizeof key, "%u", i++);
			bson_append_value(&b, key, -1, &v);
		}
	return aggx_finish(ctx, &b, BSON_TYPE_ARRAY, out);
}

static enum agg_status path_in_doc(const uint8_t *data, uint32_t len, const char *path, size_t plen,
				   struct aggx_ctx *ctx, bson_value_t *out)
{
	const char *dot = memchr(path, '.', plen);
	size_t n = dot ? (size_t)(dot - path) : plen;
	bson_value_t v;

	out->value_type = BSON_TYPE_EOD;
	if (!find_field(data, len, path, n, &v))
		return AGG_OK;
	if (!dot) {
		*out = v;
		return AGG_OK;
	}
	if (v.value_type == BSON_TYPE_DOCUMENT)
		return path_in_doc(v.value.v_doc.data, v.value.v_doc.data_len, dot + 1, plen - n - 1, ctx, out);
	if (v.value_type == BSON_TYPE_ARRAY)
		return path_in_array(&v, dot + 1, plen - n - 1, ctx, out);
	return AGG_OK;
}

static bool path_ok(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 0 || memchr(p, '\0', len))
		return false;
	for (size_t i = 0; i <= len; i++)
		if (i == len || p[i] == '.') {
			if (i == start || p[start] == '$')
				return false;
			start = i + 1;
		}
	return true;
}

/* "$$NAME" or "$$NAME.path": ROOT and CURRENT are the document, REMOVE is
 * missing. */
static enum agg_status variable(const char *s, size_t len, struct aggx_ctx *ctx, bson_value_t *out)
{
	const char *dot = memchr(s, '.', len);
	size_t n = dot ? (size_t)(dot - s) : len;

	out->value_type = BSON_TYPE_EOD;
	if (n == 6 && memcmp(s, "REMOVE", 6) == 0)
		return AGG_OK;
	if (!((n == 4 && memcmp(s, "ROOT", 4) == 0) || (n == 7 && memcmp(s, "CURRENT", 7) == 0)))
		return aggx_unsupported(ctx, "expr:variable");
	if (!dot) {
		out->value_type = BSON_TYPE_DOCUMENT;
		out->value.v_doc.data = (uint8_t *)bson_get_data(ctx->root);
		out->value.v_doc.data_len = ctx->root->len;
		return AGG_OK;
	}
	return path_in_doc(bson_get_data(ctx->root), ctx->root->len, dot + 1, len - n - 1, ctx, out);
}

static enum agg_status check_string(const char *s, size_t len, bson_error_t *err)
{
	if (len == 0 || s[0] != '$')
		return AGG_OK;
	if (len > 1 && s[1] == '$') {
		const char *dot = memchr(s + 2, '.', len - 2);
		size_t n = dot ? (size_t)(dot - s - 2) : len - 2;
		bool known = (n == 4 && memcmp(s + 2, "ROOT", 4) == 0) || (n == 7 && memcmp(s + 2, "CURRENT", 7) == 0) ||
			     (n == 6 && memcmp(s + 2, "REMOVE", 6) == 0);
		if (!known)
			return agg_fail(err, AGG_UNSUPPORTED, 0, "expr:variable");
		if (dot && !path_ok(dot + 1, len - (size_t)(dot + 1 - s)))
			return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:fieldpath");
		return AGG_OK;
	}
	if (!path_ok(s + 1, len - 1))
		return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:fieldpath");
	return AGG_OK;
}

/* ---- operators ------------------------------------------------------------ */

static enum agg_status op_literal(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out)
{
	(void)ctx;
	*out = *arg;
	return AGG_OK;
}

static enum agg_status check_literal(const bson_value_t *arg, int depth, bson_error_t *err)
{
	(void)arg;
	(void)depth;
	(void)err;
	return AGG_OK;
}

static const struct aggx_op misc_ops[] = {
	{ "$literal", op_literal, 1, 1, check_literal },
	{ NULL, NULL, 0, 0, NULL },
};

static const struct aggx_op *const op_tables[] = { misc_ops, aggx_arith_ops, aggx_logic_ops, aggx_str_ops,
						   aggx_array_ops };

static const struct aggx_op *find_op(const char *name)
{
	for (size_t t = 0; t < sizeof op_tables / sizeof op_tables[0]; t++)
		for (const struct aggx_op *op = op_tables[t]; op->name; op++)
			if (strcmp(op->name, name) == 0)
				return op;
	return NULL;
}

size_t aggx_args(const bson_value_t *arg, bson_value_t *argv, size_t max)
{
	bson_iter_t it;
	size_t n = 0;

	if (arg->value_type != BSON_TYPE_ARRAY) {
		if (max > 0)
			argv[0] = *arg;
		return 1;
	}
	if (aggx_iter_array(arg, &it))
		while (bson_iter_next(&it)) {
			if (n < max)
				argv[n] = *bson_iter_value(&it);
			n++;
		}
	return n;
}

enum agg_status aggx_eval_args(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *vals, size_t *n)
{
	bson_value_t argv[AGGX_MAX_ARGS];
	size_t k = aggx_args(arg, argv, AGGX_MAX_ARGS);

	if (k > AGGX_MAX_ARGS)
		return aggx_unsupported(ctx, "limit:args");
	for (size_t i = 0; i < k; i++) {
		enum agg_status st = aggx_eval_in(&argv[i], ctx, &vals[i]);
		if (st != AGG_OK)
			return st;
	}
	*n = k;
	return AGG_OK;
}

/* {$op: arg} with exactly one key, or NULL (an object literal). */
static bool op_doc(const bson_value_t *e, const char **name, bson_value_t *arg, size_t *nkeys)
{
	bson_iter_t it;
	bool first = true, isop = false;

	*nkeys = 0;
	if (!bson_iter_init_from_data(&it, e->value.v_doc.data, e->value.v_doc.data_len))
		return false;
	while (bson_iter_next(&it)) {
		if (first && bson_iter_key(&it)[0] == '$') {
			isop = true;
			*name = bson_iter_key(&it);
			*arg = *bson_iter_value(&it);
		}
		first = false;
		(*nkeys)++;
	}
	return isop;
}

static enum agg_status eval_object(const bson_value_t *e, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_iter_t it;
	bson_t b;

	bson_init(&b);
	if (bson_iter_init_from_data(&it, e->value.v_doc.data, e->value.v_doc.data_len))
		while (bson_iter_next(&it)) {
			bson_value_t v;
			enum agg_status st = aggx_eval_in(bson_iter_value(&it), ctx, &v);
			if (st != AGG_OK) {
				bson_destroy(&b);
				return st;
			}
			if (v.value_type != BSON_TYPE_EOD)
				bson_append_value(&b, bson_iter_key(&it), (int)bson_iter_key_len(&it), &v);
		}
	return aggx_finish(ctx, &b, BSON_TYPE_DOCUMENT, out);
}

/* Array literal: a missing element becomes null (mongod's ExpressionArray). */
static enum agg_status eval_array(const bson_value_t *e, struct aggx_ctx *ctx, bson_value_t *out)
{
	bson_iter_t it;
	bson_t b;
	uint32_t i = 0;
	char key[24];

	bson_init(&b);
	if (aggx_iter_array(e, &it))
		while (bson_iter_next(&it)) {
			bson_value_t v;
			enum agg_status st = aggx_eval_in(bson_iter_value(&it), ctx, &v);
			if (st != AGG_OK) {
				bson_destroy(&b);
				return st;
			}
			if (v.value_type == BSON_TYPE_EOD)
				aggx_set_null(&v);
			snprintf(key, sizeof key, "%u", i++);
			bson_append_value(&b, key, -1, &v);
		}
	return aggx_finish(ctx, &b, BSON_TYPE_ARRAY, out);
}

enum agg_status aggx_eval_in(const bson_value_t *e, struct aggx_ctx *ctx, bson_value_t *out)
{
	const char *name;
	bson_value_t arg;
	size_t nkeys;
	enum agg_status st;

	out->value_type = BSON_TYPE_EOD;
	if (ctx->depth >= AGG_MAX_EXPR_DEPTH)
		return aggx_unsupported(ctx, "limit:depth");
	switch (e->value_type) {
	case BSON_TYPE_UTF8: {
		const char *s = e->value.v_utf8.str;
		size_t len = e->value.v_utf8.len;
		if (len == 0 || s[0] != '$') {
			*out = *e;
			return AGG_OK;
		}
		if (len > 1 && s[1] == '$')
			return variable(s + 2, len - 2, ctx, out);
		return path_in_doc(bson_get_data(ctx->root), ctx->root->len, s + 1, len - 1, ctx, out);
	}
	case BSON_TYPE_ARRAY:
		ctx->depth++;
		st = eval_array(e, ctx, out);
		ctx->depth--;
		return st;
	case BSON_TYPE_DOCUMENT:
		ctx->depth++;
		if (op_doc(e, &name, &arg, &nkeys)) {
			const struct aggx_op *op = find_op(name);
			st = op ? op->fn(&arg, ctx, out) : aggx_unsupported(ctx, "expr:unknown");
		} else {
			st = eval_object(e, ctx, out);
		}
		ctx->depth--;
		return st;
	default:
		*out = *e;
		return AGG_OK;
	}
}

static enum agg_status check_object(const bson_value_t *e, int depth, bson_error_t *err)
{
	bson_iter_t it;

	if (!bson_iter_init_from_data(&it, e->value.v_doc.data, e->value.v_doc.data_len))
		return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:bson");
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		enum agg_status st;
		if (k[0] == '$' || k[0] == '\0' || strchr(k, '.') || !bson_utf8_validate(k, strlen(k), false))
			return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:expr_object");
		if ((st = aggx_check_in(bson_iter_value(&it), depth + 1, err)) != AGG_OK)
			return st;
	}
	return AGG_OK;
}

static enum agg_status check_op(const struct aggx_op *op, const bson_value_t *arg, int depth, bson_error_t *err)
{
	bson_value_t argv[AGGX_MAX_ARGS];
	size_t n;

	if (op->check)
		return op->check(arg, depth, err);
	n = aggx_args(arg, argv, AGGX_MAX_ARGS);
	if (n > AGGX_MAX_ARGS)
		return agg_fail(err, AGG_UNSUPPORTED, 0, "limit:args");
	if ((int)n < op->min || (op->max >= 0 && (int)n > op->max))
		return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:%.40s_args", op->name);
	for (size_t i = 0; i < n; i++) {
		enum agg_status st = aggx_check_in(&argv[i], depth + 1, err);
		if (st != AGG_OK)
			return st;
	}
	return AGG_OK;
}

enum agg_status aggx_check_in(const bson_value_t *e, int depth, bson_error_t *err)
{
	const char *name;
	bson_value_t arg;
	size_t nkeys;

	if (depth >= AGG_MAX_EXPR_DEPTH)
		return agg_fail(err, AGG_UNSUPPORTED, 0, "limit:depth");
	switch (e->value_type) {
	case BSON_TYPE_UTF8:
		return check_string(e->value.v_utf8.str, e->value.v_utf8.len, err);
	case BSON_TYPE_DECIMAL128:
		return agg_fail(err, AGG_UNSUPPORTED, 0, "expr:decimal");
	case BSON_TYPE_ARRAY: {
		bson_iter_t it;
		if (!aggx_iter_array(e, &it))
			return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:bson");
		while (bson_iter_next(&it)) {
			enum agg_status st = aggx_check_in(bson_iter_value(&it), depth + 1, err);
			if (st != AGG_OK)
				return st;
		}
		return AGG_OK;
	}
	case BSON_TYPE_DOCUMENT:
		if (op_doc(e, &name, &arg, &nkeys)) {
			const struct aggx_op *op = find_op(name);
			if (nkeys != 1)
				return agg_fail(err, AGG_UNSUPPORTED, 0, "invalid:expr_object");
			if (!op) {
				char r[64];
				snprintf(r, sizeof r, "expr:%.50s", name);
				return agg_fail(err, AGG_UNSUPPORTED, 0, "%s", r);
			}
			return check_op(op, &arg, depth + 1, err);
		}
		return check_object(e, depth, err);
	default:
		return AGG_OK;
	}
}

enum agg_status aggx_check(const bson_value_t *expr, bson_error_t *err)
{
	return aggx_check_in(expr, 0, err);
}

enum agg_status aggx_eval(const bson_value_t *expr, const bson_t *root, struct aggx_arena *arena, bson_value_t *out,
			  bson_error_t *err)
{
	struct aggx_ctx ctx = { .root = root, .arena = arena, .err = err, .depth = 0 };

	return aggx_eval_in(expr, &ctx, out);
}
