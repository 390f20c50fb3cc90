/*
 * match.c - the query matcher's entry points and top level (see match.h).
 *
 *   match_doc(filter, doc)
 *     match_filter_check(filter)       every key, every argument, depth <= 100
 *     match_filter_eval(filter, doc)   AND of the top-level keys:
 *        $and/$or/$nor  -> recurse on each sub-filter
 *        $expr          -> match_expr.c
 *        $comment, $alwaysTrue, $alwaysFalse
 *        "path": {$op}  -> match_ops.c (through match_path.c)
 *        "path": value  -> implicit $eq / regex
 *
 * $where, $text, $jsonSchema and $sampleRate are MATCH_UNSUPPORTED; any other
 * top-level $-name is MATCH_ERROR ("unknown top level operator").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "match_internal.h"

enum match_status match_fail(bson_error_t *err, enum match_status st, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
		err->domain = MATCH_ERROR_DOMAIN;
		err->code = st == MATCH_UNSUPPORTED ? MATCH_CODE_UNSUPPORTED : MATCH_CODE_BAD_VALUE;
	}
	return st;
}

static const char *const unsupported_top[] = {"$where", "$text", "$jsonSchema", "$sampleRate"};

bool match_is_top_level_op(const char *name)
{
	static const char *const known[] = {"$and", "$or", "$nor", "$expr", "$comment", "$alwaysTrue",
					    "$alwaysFalse", "$where", "$text", "$jsonSchema", "$sampleRate"};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(name, known[i]) == 0)
			return true;
	return false;
}

static bool is_logical(const char *k)
{
	return strcmp(k, "$and") == 0 || strcmp(k, "$or") == 0 || strcmp(k, "$nor") == 0;
}

/* ---- checking --------------------------------------------------------- */

static enum match_status check_logical(const bson_iter_t *it, int depth, bson_error_t *err)
{
	bson_iter_t sub;
	int n = 0;
	if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &sub))
		return match_fail(err, MATCH_ERROR, "%s must be an array", bson_iter_key(it));
	while (bson_iter_next(&sub)) {
		uint32_t len;
		const uint8_t *data;
		if (!BSON_ITER_HOLDS_DOCUMENT(&sub))
			return match_fail(err, MATCH_ERROR, "$or/$and/$nor entries need to be full objects");
		bson_iter_document(&sub, &len, &data);
		enum match_status st = match_filter_check(data, len, depth + 1, err);
		if (st != MATCH_YES)
			return st;
		n++;
	}
	if (n == 0)
		return match_fail(err, MATCH_ERROR, "$and/$or/$nor must be a nonempty array");
	return MATCH_YES;
}

static enum match_status check_always(const bson_iter_t *it, bson_error_t *err)
{
	bson_iter_t c = *it;
	const bson_value_t *v = bson_iter_value(&c);
	bool one = (v->value_type == BSON_TYPE_INT32 && v->value.v_int32 == 1) ||
		   (v->value_type == BSON_TYPE_INT64 && v->value.v_int64 == 1) ||
		   (v->value_type == BSON_TYPE_DOUBLE && v->value.v_double == 1.0);
	if (!one)
		return match_fail(err, MATCH_ERROR, "%s must be an integer value of 1", bson_iter_key(it));
	return MATCH_YES;
}

static enum match_status check_top_op(const bson_iter_t *it, int depth, bson_error_t *err)
{
	const char *k = bson_iter_key(it);
	bson_iter_t c = *it;

	if (is_logical(k))
		return check_logical(it, depth, err);
	if (strcmp(k, "$expr") == 0)
		return match_expr_check(bson_iter_value(&c), depth + 1, err);
	if (strcmp(k, "$comment") == 0)
		return MATCH_YES;
	if (strcmp(k, "$alwaysTrue") == 0 || strcmp(k, "$alwaysFalse") == 0)
		return check_always(it, err);
	for (size_t i = 0; i < sizeof unsupported_top / sizeof unsupported_top[0]; i++)
		if (strcmp(k, unsupported_top[i]) == 0)
			return match_fail(err, MATCH_UNSUPPORTED, "%s is not supported by tandem's matcher", k);
	return match_fail(err, MATCH_ERROR, "unknown top level operator: %s", k);
}

enum match_status match_filter_check(const uint8_t *data, uint32_t len, int depth, bson_error_t *err)
{
	bson_iter_t it;

	if (depth > MATCH_MAX_DEPTH)
		return match_fail(err, MATCH_ERROR, "exceeded maximum query tree depth of %d", MATCH_MAX_DEPTH);
	if (!bson_iter_init_from_data(&it, data, len))
		return match_fail(err, MATCH_ERROR, "invalid filter document");
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		enum match_status st;
		if (k[0] == '$') {
			st = check_top_op(&it, depth, err);
		} else {
			const bson_value_t *v = bson_iter_value(&it);
			st = match_path_check(k, err);
			if (st == MATCH_YES)
				st = match_is_opdoc(v) ? match_ops_check(v, depth + 1, err) : match_value_check(v, err);
		}
		if (st != MATCH_YES)
			return st;
	}
	return MATCH_YES;
}

/* ---- evaluation ------------------------------------------------------- */

/* $and: all; $or: any; $nor: none.  A failing branch leaves no position. */
static enum match_status eval_logical(const bson_iter_t *it, const uint8_t *doc, uint32_t dlen,
				      struct match_ctx *ctx)
{
	const char *k = bson_iter_key(it);
	bool is_and = strcmp(k, "$and") == 0, is_or = strcmp(k, "$or") == 0;
	bson_iter_t sub;

	if (!bson_iter_recurse(it, &sub))
		return match_fail(ctx->err, MATCH_ERROR, "%s must be an array", k);
	while (bson_iter_next(&sub)) {
		uint32_t len;
		const uint8_t *data;
		int32_t saved = ctx->pos;
		bson_iter_document(&sub, &len, &data);
		enum match_status st = match_filter_eval(data, len, doc, dlen, ctx);
		if (st < 0)
			return st;
		if (st == MATCH_NO || (!is_and && !is_or))
			ctx->pos = saved;
		if (is_and && st == MATCH_NO)
			return MATCH_NO;
		if (!is_and && st == MATCH_YES)
			return is_or ? MATCH_YES : MATCH_NO;
	}
	return is_or ? MATCH_NO : MATCH_YES;
}

static enum match_status eval_top_op(const bson_iter_t *it, const uint8_t *doc, uint32_t dlen,
				     struct match_ctx *ctx)
{
	const char *k = bson_iter_key(it);
	bson_iter_t c = *it;

	if (is_logical(k))
		return eval_logical(it, doc, dlen, ctx);
	if (strcmp(k, "$expr") == 0)
		return match_expr_eval(bson_iter_value(&c), doc, dlen, ctx);
	if (strcmp(k, "$comment") == 0 || strcmp(k, "$alwaysTrue") == 0)
		return MATCH_YES;
	if (strcmp(k, "$alwaysFalse") == 0)
		return MATCH_NO;
	return match_fail(ctx->err, MATCH_UNSUPPORTED, "%s is not supported by tandem's matcher", k);
}

enum match_status match_filter_eval(const uint8_t *filter, uint32_t flen, const uint8_t *doc, uint32_t dlen,
				    struct match_ctx *ctx)
{
	bson_iter_t it;

	if (!bson_iter_init_from_data(&it, filter, flen))
		return match_fail(ctx->err, MATCH_ERROR, "invalid filter document");
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		enum match_status st;
		if (k[0] == '$') {
			st = eval_top_op(&it, doc, dlen, ctx);
		} else {
			const bson_value_t *v = bson_iter_value(&it);
			struct match_src src = {doc, dlen, k, NULL};
			st = match_is_opdoc(v) ? match_ops_eval(v, &src, ctx) : match_value_eval(v, &src, ctx);
		}
		if (st != MATCH_YES)
			return st;
	}
	return MATCH_YES;
}

/* ---- entry points ----------------------------------------------------- */

enum match_status match_check(const bson_t *filter, bson_error_t *err)
{
	return match_filter_check(bson_get_data(filter), filter->len, 0, err);
}

enum match_status match_doc(const bson_t *filter, const bson_t *doc, struct match_result *res, bson_error_t *err)
{
	struct match_ctx ctx = {err, -1};
	enum match_status st = match_check(filter, err);

	if (res)
		res->pos = -1;
	if (st != MATCH_YES)
		return st;
	st = match_filter_eval(bson_get_data(filter), filter->len, bson_get_data(doc), doc->len, &ctx);
	if (res && st == MATCH_YES)
		res->pos = ctx.pos;
	return st;
}
