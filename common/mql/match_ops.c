/*
 * match_ops.c - field operators of the matcher: an operator document such
 * as {$gt: 1, $lt: 5} on one path is the AND of its operators; a plain
 * value is implicit $eq (or a regex match for a regex value).
 *
 * Negations ($ne, $nin, $not, $exists: false) negate the whole "any value
 * the path reaches" test, so {a: {$ne: 1}} matches a missing a and does not
 * match {a: [1, 2]}.  $elemMatch and $size look at the array itself (no
 * leaf expansion).  A negation never leaves a positional index behind.
 *
 * match_ops_check validates every argument first; match_ops_eval assumes
 * it did.  Regexes are compiled per evaluation and freed before returning.
 */
#include <string.h>

#include "match_internal.h"

enum op_kind {
	OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_NIN, OP_EXISTS, OP_TYPE, OP_MOD,
	OP_REGEX, OP_OPTIONS, OP_ALL, OP_ELEMMATCH, OP_SIZE, OP_BITS, OP_NOT, OP_GEO,
};

static const struct {
	const char *name;
	enum op_kind kind;
} op_table[] = {
	{"$eq", OP_EQ}, {"$ne", OP_NE}, {"$gt", OP_GT}, {"$gte", OP_GTE}, {"$lt", OP_LT}, {"$lte", OP_LTE},
	{"$in", OP_IN}, {"$nin", OP_NIN}, {"$exists", OP_EXISTS}, {"$type", OP_TYPE}, {"$mod", OP_MOD},
	{"$regex", OP_REGEX}, {"$options", OP_OPTIONS}, {"$all", OP_ALL}, {"$elemMatch", OP_ELEMMATCH},
	{"$size", OP_SIZE}, {"$bitsAllSet", OP_BITS}, {"$bitsAnySet", OP_BITS}, {"$bitsAllClear", OP_BITS},
	{"$bitsAnyClear", OP_BITS}, {"$not", OP_NOT}, {"$near", OP_GEO}, {"$nearSphere", OP_GEO},
	{"$geoWithin", OP_GEO}, {"$geoIntersects", OP_GEO}, {"$within", OP_GEO}, {"$maxDistance", OP_GEO},
	{"$minDistance", OP_GEO}, {"$geometry", OP_GEO}, {"$box", OP_GEO}, {"$center", OP_GEO},
	{"$centerSphere", OP_GEO}, {"$polygon", OP_GEO},
};

static bool op_lookup(const char *name, enum op_kind *kind)
{
	for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
		if (strcmp(name, op_table[i].name) == 0) {
			*kind = op_table[i].kind;
			return true;
		}
	return false;
}

bool match_is_opdoc(const bson_value_t *v)
{
	bson_iter_t it;
	if (v->value_type != BSON_TYPE_DOCUMENT ||
	    !bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_next(&it))
		return false;
	const char *k = bson_iter_key(&it);
	return k[0] == '$' && strcmp(k, "$ref") != 0 && strcmp(k, "$id") != 0 && strcmp(k, "$db") != 0;
}

/* $elemMatch {$gt: 1} (value form) versus {a: 1} / {$or: ...} (document form). */
static bool elemmatch_value_form(const bson_value_t *arg)
{
	bson_iter_t it;
	if (!match_is_opdoc(arg) || !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len) ||
	    !bson_iter_next(&it))
		return false;
	return !match_is_top_level_op(bson_iter_key(&it));
}

/* {$elemMatch: ...} as an element of $all. */
static bool is_elemmatch_doc(const bson_value_t *v)
{
	bson_iter_t it;
	return v->value_type == BSON_TYPE_DOCUMENT &&
	       bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_next(&it) &&
	       strcmp(bson_iter_key(&it), "$elemMatch") == 0;
}

/* ---- checking --------------------------------------------------------- */

static enum match_status check_regex(const bson_value_t *v, const char *opts, bson_error_t *err)
{
	struct match_regex re;
	enum match_status st = match_regex_from_value(&re, v, opts, err);
	match_regex_free(&re);
	return st;
}

static enum match_status check_in(const char *op, const bson_value_t *arg, bson_error_t *err)
{
	bson_iter_t it;
	if (arg->value_type != BSON_TYPE_ARRAY ||
	    !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return match_fail(err, MATCH_ERROR, "%s needs an array", op);
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);
		if (match_is_opdoc(v))
			return match_fail(err, MATCH_ERROR, "cannot nest $ under %s", op);
		enum match_status st = match_value_check(v, err);
		if (st != MATCH_YES)
			return st;
	}
	return MATCH_YES;
}

static enum match_status check_elemmatch(const bson_value_t *arg, int depth, bson_error_t *err)
{
	if (arg->value_type != BSON_TYPE_DOCUMENT)
		return match_fail(err, MATCH_ERROR, "$elemMatch needs an Object");
	if (elemmatch_value_form(arg))
		return match_ops_check(arg, depth + 1, err);
	return match_filter_check(arg->value.v_doc.data, arg->value.v_doc.data_len, depth + 1, err);
}

static enum match_status check_all(const bson_value_t *arg, int depth, bson_error_t *err)
{
	bson_iter_t it;
	bool first = true, elem_match = false;
	if (arg->value_type != BSON_TYPE_ARRAY ||
	    !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return match_fail(err, MATCH_ERROR, "$all needs an array");
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);
		bool em = is_elemmatch_doc(v);
		if (first)
			elem_match = em;
		else if (em != elem_match)
			return match_fail(err, MATCH_ERROR, "$all/$elemMatch has to be consistent");
		first = false;
		enum match_status st;
		if (em) {
			bson_iter_t in;
			bson_iter_init_from_data(&in, v->value.v_doc.data, v->value.v_doc.data_len);
			bson_iter_next(&in);
			st = check_elemmatch(bson_iter_value(&in), depth, err);
		} else if (match_is_opdoc(v)) {
			st = match_fail(err, MATCH_ERROR, "no $ expressions in $all");
		} else {
			st = match_value_check(v, err);
		}
		if (st != MATCH_YES)
			return st;
	}
	return MATCH_YES;
}

static enum match_status check_not(const bson_value_t *arg, int depth, bson_error_t *err)
{
	if (arg->value_type == BSON_TYPE_REGEX)
		return check_regex(arg, NULL, err);
	if (arg->value_type != BSON_TYPE_DOCUMENT)
		return match_fail(err, MATCH_ERROR, "$not needs a regex or a document");
	if (arg->value.v_doc.data_len <= 5)
		return match_fail(err, MATCH_ERROR, "$not cannot be empty");
	return match_ops_check(arg, depth + 1, err);
}

/* The $options string of an operator document (NULL if none). */
static const char *find_options(const bson_value_t *ops, bool *bad)
{
	bson_iter_t it;
	*bad = false;
	if (!bson_iter_init_from_data(&it, ops->value.v_doc.data, ops->value.v_doc.data_len) ||
	    !bson_iter_find(&it, "$options"))
		return NULL;
	if (!BSON_ITER_HOLDS_UTF8(&it)) {
		*bad = true;
		return NULL;
	}
	return bson_iter_utf8(&it, NULL);
}

static bool has_key(const bson_value_t *ops, const char *key)
{
	bson_iter_t it;
	return bson_iter_init_from_data(&it, ops->value.v_doc.data, ops->value.v_doc.data_len) &&
	       bson_iter_find(&it, key);
}

static enum match_status check_one(const char *name, enum op_kind kind, const bson_value_t *arg,
				   const bson_value_t *ops, int depth, bson_error_t *err)
{
	bool bad;
	const char *opts;

	switch (kind) {
	case OP_EQ: case OP_NE: case OP_GT: case OP_GTE: case OP_LT: case OP_LTE:
		if (arg->value_type == BSON_TYPE_UNDEFINED)
			return match_fail(err, MATCH_ERROR, "cannot compare to undefined");
		return MATCH_YES;
	case OP_IN: case OP_NIN: return check_in(name, arg, err);
	case OP_EXISTS: return MATCH_YES;
	case OP_TYPE: return match_type_check(arg, err);
	case OP_MOD: return match_mod_check(arg, err);
	case OP_REGEX:
		opts = find_options(ops, &bad);
		if (bad)
			return match_fail(err, MATCH_ERROR, "$options has to be a string");
		return check_regex(arg, opts, err);
	case OP_OPTIONS:
		if (arg->value_type != BSON_TYPE_UTF8)
			return match_fail(err, MATCH_ERROR, "$options has to be a string");
		if (!has_key(ops, "$regex"))
			return match_fail(err, MATCH_ERROR, "$options needs a $regex");
		return MATCH_YES;
	case OP_ALL: return check_all(arg, depth, err);
	case OP_ELEMMATCH: return check_elemmatch(arg, depth, err);
	case OP_SIZE: return match_size_check(arg, err);
	case OP_BITS: return match_bits_check(name, arg, err);
	case OP_NOT: return check_not(arg, depth, err);
	default: return match_fail(err, MATCH_UNSUPPORTED, "%s is not supported by tandem's matcher", name);
	}
}

enum match_status match_ops_check(const bson_value_t *ops, int depth, bson_error_t *err)
{
	bson_iter_t it;
	if (depth > MATCH_MAX_DEPTH)
		return match_fail(err, MATCH_ERROR, "exceeded maximum query tree depth of %d", MATCH_MAX_DEPTH);
	if (!bson_iter_init_from_data(&it, ops->value.v_doc.data, ops->value.v_doc.data_len))
		return match_fail(err, MATCH_ERROR, "invalid operator document");
	while (bson_iter_next(&it)) {
		const char *name = bson_iter_key(&it);
		enum op_kind kind;
		if (!op_lookup(name, &kind))
			return match_fail(err, MATCH_ERROR, "unknown operator: %s", name);
		enum match_status st = check_one(name, kind, bson_iter_value(&it), ops, depth, err);
		if (st != MATCH_YES)
			return st;
	}
	return MATCH_YES;
}

enum match_status match_value_check(const bson_value_t *v, bson_error_t *err)
{
	if (v->value_type == BSON_TYPE_REGEX)
		return check_regex(v, NULL, err);
	if (v->value_type == BSON_TYPE_UNDEFINED)
		return match_fail(err, MATCH_ERROR, "cannot compare to undefined");
	return MATCH_YES;
}

/* ---- evaluation ------------------------------------------------------- */

struct cmp_arg {
	const bson_value_t *rhs;
	int op;
};

static enum match_status pred_cmp(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	const struct cmp_arg *a = arg;
	(void)ctx;
	return match_cmp_elem(e, a->rhs, a->op);
}

static enum match_status pred_regex(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	if (!e->v)
		return MATCH_NO;
	return match_regex_test((struct match_regex *)arg, e->v, ctx->err);
}

static enum match_status pred_exists(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	(void)arg;
	(void)ctx;
	return e->v ? MATCH_YES : MATCH_NO;
}

/* One $in element against one value. */
static enum match_status in_one(const struct match_elem *e, const bson_value_t *cand, struct match_ctx *ctx)
{
	if (cand->value_type != BSON_TYPE_REGEX)
		return match_cmp_elem(e, cand, MATCH_CMP_EQ);
	if (!e->v)
		return MATCH_NO;
	struct match_regex re;
	enum match_status st = match_regex_from_value(&re, cand, NULL, ctx->err);
	if (st == MATCH_YES)
		st = match_regex_test(&re, e->v, ctx->err);
	match_regex_free(&re);
	return st;
}

static enum match_status pred_in(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	const bson_value_t *a = arg;
	bson_iter_t it;
	if (!bson_iter_init_from_data(&it, a->value.v_doc.data, a->value.v_doc.data_len))
		return MATCH_NO;
	while (bson_iter_next(&it)) {
		enum match_status st = in_one(e, bson_iter_value(&it), ctx);
		if (st != MATCH_NO)
			return st;
	}
	return MATCH_NO;
}

/* $elemMatch: some element of the array value matches; records its index. */
static enum match_status pred_elemmatch(const struct match_elem *e, const void *arg, struct match_ctx *ctx)
{
	const bson_value_t *a = arg;
	bool value_form = elemmatch_value_form(a);
	bson_iter_t it;

	if (!e->v || e->v->value_type != BSON_TYPE_ARRAY ||
	    !bson_iter_init_from_data(&it, e->v->value.v_doc.data, e->v->value.v_doc.data_len))
		return MATCH_NO;
	for (int32_t k = 0; bson_iter_next(&it); k++) {
		const bson_value_t *el = bson_iter_value(&it);
		struct match_ctx sub = {ctx->err, -1};
		enum match_status st = MATCH_NO;
		if (value_form) {
			struct match_src one = {NULL, 0, NULL, el};
			st = match_ops_eval(a, &one, &sub);
		} else if (el->value_type == BSON_TYPE_DOCUMENT || el->value_type == BSON_TYPE_ARRAY) {
			st = match_filter_eval(a->value.v_doc.data, a->value.v_doc.data_len, el->value.v_doc.data,
					       el->value.v_doc.data_len, &sub);
		}
		if (st == MATCH_YES && ctx->pos < 0 && e->pos < 0)
			ctx->pos = k;
		if (st != MATCH_NO)
			return st;
	}
	return MATCH_NO;
}

static enum match_status eval_all(const bson_value_t *arg, const struct match_src *src, struct match_ctx *ctx)
{
	bson_iter_t it;
	enum match_status st = MATCH_NO; /* $all: [] matches nothing */

	if (!bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return MATCH_NO;
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);
		if (is_elemmatch_doc(v)) {
			bson_iter_t in;
			bson_iter_init_from_data(&in, v->value.v_doc.data, v->value.v_doc.data_len);
			bson_iter_next(&in);
			st = match_path_any(src, false, pred_elemmatch, bson_iter_value(&in), ctx);
		} else {
			st = match_value_eval(v, src, ctx);
		}
		if (st != MATCH_YES)
			return st;
	}
	return st;
}

static enum match_status negate(enum match_status st)
{
	return st == MATCH_YES ? MATCH_NO : st == MATCH_NO ? MATCH_YES : st;
}

static enum match_status eval_regex_op(const bson_value_t *arg, const char *opts, const struct match_src *src,
				       struct match_ctx *ctx)
{
	struct match_regex re;
	enum match_status st = match_regex_from_value(&re, arg, opts, ctx->err);
	if (st == MATCH_YES)
		st = match_path_any(src, true, pred_regex, &re, ctx);
	match_regex_free(&re);
	return st;
}

static enum match_status eval_not(const bson_value_t *arg, const struct match_src *src, struct match_ctx *ctx)
{
	int32_t saved = ctx->pos;
	enum match_status st = arg->value_type == BSON_TYPE_REGEX ? eval_regex_op(arg, NULL, src, ctx)
								    : match_ops_eval(arg, src, ctx);
	ctx->pos = saved;
	return negate(st);
}

static enum match_status eval_negated(match_pred_fn fn, const void *arg, const struct match_src *src,
				      struct match_ctx *ctx)
{
	int32_t saved = ctx->pos;
	enum match_status st = match_path_any(src, true, fn, arg, ctx);
	ctx->pos = saved;
	return negate(st);
}

static enum match_status eval_one(const char *name, enum op_kind kind, const bson_value_t *arg,
				  const bson_value_t *ops, const struct match_src *src, struct match_ctx *ctx)
{
	static const int cmp_of[] = {[OP_GT] = MATCH_CMP_GT, [OP_GTE] = MATCH_CMP_GTE, [OP_LT] = MATCH_CMP_LT,
				     [OP_LTE] = MATCH_CMP_LTE};
	bool bad;

	switch (kind) {
	case OP_EQ: return match_path_any(src, true, match_pred_eq, arg, ctx);
	case OP_NE: return eval_negated(match_pred_eq, arg, src, ctx);
	case OP_GT: case OP_GTE: case OP_LT: case OP_LTE: {
		struct cmp_arg ca = {arg, cmp_of[kind]};
		return match_path_any(src, true, pred_cmp, &ca, ctx);
	}
	case OP_IN: return match_path_any(src, true, pred_in, arg, ctx);
	case OP_NIN: return eval_negated(pred_in, arg, src, ctx);
	case OP_EXISTS:
		if (match_truthy(arg))
			return match_path_any(src, true, pred_exists, NULL, ctx);
		return eval_negated(pred_exists, NULL, src, ctx);
	case OP_TYPE: return match_path_any(src, true, match_pred_type, arg, ctx);
	case OP_MOD: return match_path_any(src, true, match_pred_mod, arg, ctx);
	case OP_REGEX: return eval_regex_op(arg, find_options(ops, &bad), src, ctx);
	case OP_OPTIONS: return MATCH_YES;
	case OP_ALL: return eval_all(arg, src, ctx);
	case OP_ELEMMATCH: return match_path_any(src, false, pred_elemmatch, arg, ctx);
	case OP_SIZE: return match_path_any(src, false, match_pred_size, arg, ctx);
	case OP_BITS: return match_bits_eval(name, arg, src, ctx);
	case OP_NOT: return eval_not(arg, src, ctx);
	default: return match_fail(ctx->err, MATCH_UNSUPPORTED, "%s is not supported by tandem's matcher", name);
	}
}

enum match_status match_ops_eval(const bson_value_t *ops, const struct match_src *src, struct match_ctx *ctx)
{
	bson_iter_t it;
	if (!bson_iter_init_from_data(&it, ops->value.v_doc.data, ops->value.v_doc.data_len))
		return match_fail(ctx->err, MATCH_ERROR, "invalid operator document");
	while (bson_iter_next(&it)) {
		const char *name = bson_iter_key(&it);
		enum op_kind kind;
		if (!op_lookup(name, &kind))
			return match_fail(ctx->err, MATCH_ERROR, "unknown operator: %s", name);
		enum match_status st = eval_one(name, kind, bson_iter_value(&it), ops, src, ctx);
		if (st != MATCH_YES)
			return st;
	}
	return MATCH_YES;
}

enum match_status match_value_eval(const bson_value_t *v, const struct match_src *src, struct match_ctx *ctx)
{
	if (v->value_type == BSON_TYPE_REGEX)
		return eval_regex_op(v, NULL, src, ctx);
	return match_path_any(src, true, match_pred_eq, v, ctx);
}
