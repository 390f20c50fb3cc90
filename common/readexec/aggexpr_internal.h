/*
 * aggexpr_internal.h - pieces of the expression evaluator shared by its files:
 *
 *   aggexpr.c        entry points, dispatch table, field paths, variables,
 *                    object/array literals, the arena
 *   aggexpr_arith.c  $add $subtract $multiply $divide $mod $abs $ceil
 *                    $floor $round $trunc; $sum $avg (summation.h)
 *   aggexpr_logic.c  comparisons, $and $or $not $cond $ifNull $switch
 *   aggexpr_str.c    string operators, $type, $toString
 *   aggexpr_array.c  array operators
 *
 * An operator receives its raw argument (the value of {$op: arg}) and
 * evaluates what it needs, so that $cond/$and/$or/$switch/$ifNull
 * short-circuit as mongod does.  aggx_check has validated the shape first.
 */
#ifndef TANDEM_AGGEXPR_INTERNAL_H
#define TANDEM_AGGEXPR_INTERNAL_H

#include "aggexpr.h"

#define AGGX_MAX_ARGS 64 /* list operators with more args: UNSUPPORTED */

struct aggx_ctx {
	const bson_t *root;
	struct aggx_arena *arena;
	bson_error_t *err;
	int depth;
};

typedef enum agg_status (*aggx_op_fn)(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *out);
typedef enum agg_status (*aggx_check_fn)(const bson_value_t *arg, int depth, bson_error_t *err);

struct aggx_op {
	const char *name;
	aggx_op_fn fn;
	int min, max;        /* argument count of the list form; max -1: unbounded */
	aggx_check_fn check; /* non-NULL: special argument form, checked here */
};

/* aggexpr.c */
enum agg_status aggx_eval_in(const bson_value_t *e, struct aggx_ctx *ctx, bson_value_t *out);
enum agg_status aggx_check_in(const bson_value_t *e, int depth, bson_error_t *err);
/* The arguments of the list form: an array's elements, or arg itself. */
size_t aggx_args(const bson_value_t *arg, bson_value_t *argv, size_t max);
/* Evaluate every argument of the list form into vals (n of them). */
enum agg_status aggx_eval_args(const bson_value_t *arg, struct aggx_ctx *ctx, bson_value_t *vals, size_t *n);
/* Arena allocation of len bytes (NULL + UNSUPPORTED on the limit). */
void *aggx_alloc(struct aggx_ctx *ctx, size_t len);
/* Move b's bytes into the arena as a document/array value; destroys b. */
enum agg_status aggx_finish(struct aggx_ctx *ctx, bson_t *b, bson_type_t t, bson_value_t *out);
/* A string value copied into the arena. */
enum agg_status aggx_string(struct aggx_ctx *ctx, const char *s, size_t len, bson_value_t *out);
bool aggx_nullish(const bson_value_t *v);
bool aggx_numeric(const bson_value_t *v);
void aggx_set_null(bson_value_t *v);
void aggx_set_bool(bson_value_t *v, bool b);
void aggx_set_i32(bson_value_t *v, int32_t x);
void aggx_set_i64(bson_value_t *v, int64_t x);
void aggx_set_double(bson_value_t *v, double x);
/* int32 when x fits, else int64 (mongod's Value::createIntOrLong). */
void aggx_set_int_or_long(bson_value_t *v, int64_t x);
/* Iterate an array value. */
bool aggx_iter_array(const bson_value_t *v, bson_iter_t *it);
uint32_t aggx_array_len(const bson_value_t *v);
enum agg_status aggx_unsupported(struct aggx_ctx *ctx, const char *reason);

/* per-file operator tables, terminated by a NULL name */
extern const struct aggx_op aggx_arith_ops[];
extern const struct aggx_op aggx_logic_ops[];
extern const struct aggx_op aggx_str_ops[];
extern const struct aggx_op aggx_array_ops[];

#endif
