/*
 * aggexpr.h - MongoDB aggregation expressions ("$a.b", {$add: [...]}, ...)
 * evaluated in C against one document, with mongod's semantics.
 *
 * Part of the aggregate module (aggregate.h runs whole pipelines); the
 * status enum below is shared by both.  Three outcomes, never a guess:
 *
 *   AGG_OK           the value mongod computes (possibly "missing")
 *   AGG_ERROR        mongod would fail: err->code and err->message are
 *                    mongod's (only where we know them exactly)
 *   AGG_UNSUPPORTED  valid or not, we do not compute it exactly:
 *                    err->message is a short stable reason code such as
 *                    "expr:$dateToString" or "expr:decimal" (<= 63 chars)
 *
 * Supported: field paths (through arrays as mongod: "$a.b" on a: [{b: 1},
 * {b: 2}] is [1, 2]), $$ROOT, $$CURRENT, $$REMOVE, $literal, object and
 * array literals; $add $subtract $multiply $divide $mod $abs $ceil $floor
 * $round $trunc (int32 -> int64 -> double promotion; decimal128 operands
 * are UNSUPPORTED); $sum $avg (mongod's double-double sum, summation.h);
 * $eq $ne $gt $gte $lt $lte $cmp; $and $or $not $cond
 * $ifNull $switch; $concat $toLower $toUpper $substrBytes $substr
 * $strLenBytes $split; $size $arrayElemAt $in $isArray $first $last $slice;
 * $type $toString (strings, null, integers and booleans only).
 *
 * Values are plain bson_value_t views.  A missing value has value_type
 * BSON_TYPE_EOD.  Computed strings, documents and arrays live in an arena
 * owned by the caller (aggx_arena_*), freed all at once; views into the
 * input document stay valid as long as the document does.
 */
#ifndef TANDEM_AGGEXPR_H
#define TANDEM_AGGEXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#define AGG_ERROR_DOMAIN 7303
#define AGG_MAX_EXPR_DEPTH 150 /* nesting of one expression */

enum agg_status {
	AGG_OK = 0,
	AGG_ERROR = -1,       /* mongod rejects the pipeline or fails on the data */
	AGG_UNSUPPORTED = -2, /* not computed exactly here: do not shadow */
};

/* Memory of computed values.  bytes counts what is held; past limit an
 * allocation fails and evaluation is AGG_UNSUPPORTED "limit:memory". */
struct aggx_arena {
	void **ptrs;
	size_t n, cap;
	size_t bytes, limit;
};

void aggx_arena_init(struct aggx_arena *a, size_t limit);
/* Free every value allocated since init (the arena stays usable). */
void aggx_arena_reset(struct aggx_arena *a);
void aggx_arena_free(struct aggx_arena *a);

/* Static check of one expression: operators known here, argument counts
 * and shapes.  AGG_OK means aggx_eval can run it (it may still fail or be
 * UNSUPPORTED on particular data). */
enum agg_status aggx_check(const bson_value_t *expr, bson_error_t *err) __attribute__((warn_unused_result));

/* Evaluate expr with $$ROOT = $$CURRENT = root.  *out is a view into root,
 * expr or arena memory. */
enum agg_status aggx_eval(const bson_value_t *expr, const bson_t *root, struct aggx_arena *arena, bson_value_t *out,
			  bson_error_t *err) __attribute__((warn_unused_result));

/* Aggregation's comparison: bsoncmp order, plus missing and undefined
 * (equal to each other) above MinKey and below null. */
int aggx_cmp(const bson_value_t *a, const bson_value_t *b);

/* Aggregation truthiness: false, null, undefined, missing and numeric zero
 * are false; everything else (NaN included) is true. */
bool aggx_truthy(const bson_value_t *v);

/* mongod's $type name of a value ("double", "string", ..., "missing"). */
const char *aggx_type_name(const bson_value_t *v);

/* Fill err for status st (AGG_ERROR: code + message; AGG_UNSUPPORTED:
 * reason code in message, code 0); returns st. */
enum agg_status agg_fail(bson_error_t *err, enum agg_status st, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
