/*
 * match_expr.c - the subset of $expr the matcher evaluates:
 *
 *   $eq $ne $gt $gte $lt $lte  [a, b]    aggregation comparison: the full
 *                                        BSON order across types (a string
 *                                        is > any number), a missing field
 *                                        below null and equal only to missing
 *   $and $or  [e...]   $not [e]          aggregation truthiness (false, null,
 *                                        undefined, missing and 0 are false)
 *   $literal v
 *   "$a.b"                               a field path through documents
 *   any other scalar                     a literal
 *
 * Everything else (other operators, "$$variables", a path that crosses an
 * array, object or array literals) is MATCH_UNSUPPORTED.  The same walker
 * checks (doc == NULL: every branch, no short-circuit) and evaluates.
 */
#include <string.h>

#include "bsoncmp.h"
#include "match_internal.h"

struct xenv {
	const uint8_t *doc; /* NULL: check only */
	uint32_t dlen;
	bson_error_t *err;
};

static enum match_status xeval(const bson_value_t *e, int depth, struct xenv *env, bson_value_t *out);

static enum match_status unsupported(struct xenv *env, const char *what)
{
	return match_fail(env->err, MATCH_UNSUPPORTED, "$expr: %s is not supported by tandem's matcher", what);
}

/* "$a.b.c" through embedded documents; missing is BSON_TYPE_EOD. */
static enum match_status field_path(const char *path, uint32_t len, struct xenv *env, bson_value_t *out)
{
	const uint8_t *data = env->doc;
	uint32_t dlen = env->dlen;
	uint32_t start = 0;

	out->value_type = BSON_TYPE_EOD;
	if (len == 0 || path[0] == '$' || memchr(path, '\0', len))
		return unsupported(env, "this field path or variable");
	if (!env->doc)
		return MATCH_YES;
	while (start <= len) {
		const char *dot = memchr(path + start, '.', len - start);
		uint32_t end = dot ? (uint32_t)(dot - path) : len;
		bson_iter_t it;
		bool found = false;
		if (!bson_iter_init_from_data(&it, data, dlen))
			return MATCH_YES;
		while (!found && bson_iter_next(&it))
			found = bson_iter_key_len(&it) == end - start && memcmp(bson_iter_key(&it), path + start, end - start) == 0;
		if (!found)
			return MATCH_YES;
		if (!dot) {
			*out = *bson_iter_value(&it);
			return MATCH_YES;
		}
		if (BSON_ITER_HOLDS_ARRAY(&it))
			return unsupported(env, "a field path through an array");
		if (!BSON_ITER_HOLDS_DOCUMENT(&it))
			return MATCH_YES;
		bson_iter_document(&it, &dlen, &data);
		start = end + 1;
	}
	return MATCH_YES;
}

static int xcmp(const bson_value_t *a, const bson_value_t *b)
{
	bool ma = a->value_type == BSON_TYPE_EOD, mb = b->value_type == BSON_TYPE_EOD;
	if (ma && mb)
		return 0;
	if (ma)
		return b->value_type == BSON_TYPE_MINKEY ? 1 : -1;
	if (mb)
		return a->value_type == BSON_TYPE_MINKEY ? -1 : 1;
	return bsoncmp_value(a, b);
}

static void set_bool(bson_value_t *out, bool b)
{
	out->value_type = BSON_TYPE_BOOL;
	out->value.v_bool = b;
}

/* The arguments of an operator: an array's elements, or one bare value. */
static int arg_count(const bson_value_t *args)
{
	bson_iter_t it;
	int n = 0;
	if (args->value_type != BSON_TYPE_ARRAY)
		return 1;
	if (bson_iter_init_from_data(&it, args->value.v_doc.data, args->value.v_doc.data_len))
		while (bson_iter_next(&it))
			n++;
	return n;
}

static enum match_status eval_compare(const char *op, const bson_value_t *args, int depth, struct xenv *env,
				      bson_value_t *out)
{
	bson_value_t v[2];
	bson_iter_t it;
	int n = arg_count(args);

	if (n != 2 || args->value_type != BSON_TYPE_ARRAY)
		return match_fail(env->err, MATCH_ERROR, "Expression %s takes exactly 2 arguments. %d were passed in.",
				  op, n);
	bson_iter_init_from_data(&it, args->value.v_doc.data, args->value.v_doc.data_len);
	for (int i = 0; i < 2 && bson_iter_next(&it); i++) {
		enum match_status st = xeval(bson_iter_value(&it), depth + 1, env, &v[i]);
		if (st != MATCH_YES)
			return st;
	}
	int c = env->doc ? xcmp(&v[0], &v[1]) : 0;
	bool r = strcmp(op, "$eq") == 0 ? c == 0 : strcmp(op, "$ne") == 0 ? c != 0
		: strcmp(op, "$gt") == 0 ? c > 0 : strcmp(op, "$gte") == 0 ? c >= 0
		: strcmp(op, "$lt") == 0 ? c < 0 : c <= 0;
	set_bool(out, r);
	return MATCH_YES;
}

/* $and / $or (short-circuit when evaluating) and $not. */
static enum match_status eval_logic(const char *op, const bson_value_t *args, int depth, struct xenv *env,
				    bson_value_t *out)
{
	bool is_and = strcmp(op, "$and") == 0, is_not = strcmp(op, "$not") == 0;
	bool acc = is_and;
	bson_value_t v;

	if (is_not && arg_count(args) != 1)
		return match_fail(env->err, MATCH_ERROR, "Expression $not takes exactly 1 arguments. %d were passed in.",
				  arg_count(args));
	if (args->value_type != BSON_TYPE_ARRAY) {
		enum match_status st = xeval(args, depth + 1, env, &v);
		if (st != MATCH_YES)
			return st;
		set_bool(out, is_not ? !match_truthy(&v) : match_truthy(&v));
		return MATCH_YES;
	}
	bson_iter_t it;
	bson_iter_init_from_data(&it, args->value.v_doc.data, args->value.v_doc.data_len);
	while (bson_iter_next(&it)) {
		enum match_status st = xeval(bson_iter_value(&it), depth + 1, env, &v);
		if (st != MATCH_YES)
			return st;
		bool t = match_truthy(&v);
		if (is_not)
			acc = !t;
		else if (is_and ? !t : t) {
			acc = !is_and;
			if (env->doc)
				break;
		}
	}
	set_bool(out, acc);
	return MATCH_YES;
}

static enum match_status eval_operator(const bson_value_t *e, int depth, struct xenv *env, bson_value_t *out)
{
	bson_iter_t it;
	int n = 0;
	bson_iter_init_from_data(&it, e->value.v_doc.data, e->value.v_doc.data_len);
	while (bson_iter_next(&it))
		n++;
	bson_iter_init_from_data(&it, e->value.v_doc.data, e->value.v_doc.data_len);
	bson_iter_next(&it);
	const char *op = bson_iter_key(&it);
	if (n != 1)
		return match_fail(env->err, MATCH_ERROR,
				  "an expression specification must contain exactly one field, "
				  "the name of the expression. Found %d fields",
				  n);
	const bson_value_t *args = bson_iter_value(&it);
	static const char *const cmps[] = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"};
	for (size_t i = 0; i < sizeof cmps / sizeof cmps[0]; i++)
		if (strcmp(op, cmps[i]) == 0)
			return eval_compare(op, args, depth, env, out);
	if (strcmp(op, "$and") == 0 || strcmp(op, "$or") == 0 || strcmp(op, "$not") == 0)
		return eval_logic(op, args, depth, env, out);
	if (strcmp(op, "$literal") == 0) {
		*out = *args;
		return MATCH_YES;
	}
	return match_fail(env->err, MATCH_UNSUPPORTED, "$expr operator %s is not supported by tandem's matcher", op);
}

static enum match_status xeval(const bson_value_t *e, int depth, struct xenv *env, bson_value_t *out)
{
	if (depth > MATCH_MAX_DEPTH)
		return match_fail(env->err, MATCH_ERROR, "exceeded maximum query tree depth of %d", MATCH_MAX_DEPTH);
	switch (e->value_type) {
	case BSON_TYPE_UTF8:
		if (e->value.v_utf8.len > 0 && e->value.v_utf8.str[0] == '$')
			return field_path(e->value.v_utf8.str + 1, e->value.v_utf8.len - 1, env, out);
		*out = *e;
		return MATCH_YES;
	case BSON_TYPE_DOCUMENT:
		if (!match_is_opdoc(e))
			return unsupported(env, "an object expression");
		return eval_operator(e, depth, env, out);
	case BSON_TYPE_ARRAY:
		return unsupported(env, "an array expression");
	default:
		*out = *e;
		return MATCH_YES;
	}
}

enum match_status match_expr_check(const bson_value_t *e, int depth, bson_error_t *err)
{
	struct xenv env = {NULL, 0, err};
	bson_value_t out;
	return xeval(e, depth, &env, &out);
}

enum match_status match_expr_eval(const bson_value_t *e, const uint8_t *doc, uint32_t dlen, struct match_ctx *ctx)
{
	struct xenv env = {doc, dlen, ctx->err};
	bson_value_t out;
	enum match_status st = xeval(e, 0, &env, &out);
	if (st != MATCH_YES)
		return st;
	return match_truthy(&out) ? MATCH_YES : MATCH_NO;
}
