/*
 * match_internal.h - pieces of the query matcher shared by its files:
 *
 *   match.c        entry points, top-level keys, $and/$or/$nor, depth limit
 *   match_ops.c    field operators ($eq ... $elemMatch, $not, $all)
 *   match_leaf.c   single-value predicates ($type, $mod, bits, $size, ...)
 *   match_path.c   dotted paths through documents and arrays
 *   match_regex.c  $regex with PCRE2
 *   match_expr.c   the $expr subset
 *
 * Every filter is checked completely (match_filter_check) before it is
 * evaluated, so the evaluators may assume well-shaped arguments; they still
 * only read through bson_iter and never trust a length they did not check.
 */
#ifndef TANDEM_MATCH_INTERNAL_H
#define TANDEM_MATCH_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "match.h"

#define MATCH_MAX_DEPTH 100      /* nesting of filter documents, like MongoDB's */
#define MATCH_MAX_PATH_PARTS 200 /* components of one dotted path */

/* MongoDB error codes we report in err->code. */
#define MATCH_CODE_BAD_VALUE 2
#define MATCH_CODE_UNSUPPORTED 115

/* Evaluation state of one match_doc call. */
struct match_ctx {
	bson_error_t *err;
	int32_t pos; /* match_result.pos: first array index recorded, or -1 */
};

/* One value a path reached; v == NULL means the path is missing there. */
struct match_elem {
	const bson_value_t *v;
	int32_t pos; /* index in the first array traversed, or -1 */
};

/* Where an operator's values come from: a dotted path inside a document,
 * or (single != NULL) exactly one value, as inside $elemMatch. */
struct match_src {
	const uint8_t *doc;
	uint32_t len;
	const char *path;
	const bson_value_t *single;
};

/* A predicate on one value: MATCH_YES, MATCH_NO or a negative status. */
typedef enum match_status (*match_pred_fn)(const struct match_elem *e, const void *arg, struct match_ctx *ctx);

/* match.c */
enum match_status match_fail(bson_error_t *err, enum match_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum match_status match_filter_check(const uint8_t *data, uint32_t len, int depth, bson_error_t *err);
enum match_status match_filter_eval(const uint8_t *filter, uint32_t flen, const uint8_t *doc, uint32_t dlen,
				    struct match_ctx *ctx);
bool match_is_top_level_op(const char *name);

/* match_path.c: MATCH_YES when fn holds for any value the source yields
 * (recording the first such value's pos in ctx->pos if unset).  With
 * expand_leaf an array at the end of the path yields its elements and then
 * itself; without, only itself. */
enum match_status match_path_any(const struct match_src *src, bool expand_leaf, match_pred_fn fn, const void *arg,
				 struct match_ctx *ctx);
enum match_status match_path_check(const char *path, bson_error_t *err);

/* match_ops.c: operator documents {$gt: 1, ...} and plain values. */
bool match_is_opdoc(const bson_value_t *v);
enum match_status match_ops_check(const bson_value_t *ops, int depth, bson_error_t *err);
enum match_status match_ops_eval(const bson_value_t *ops, const struct match_src *src, struct match_ctx *ctx);
enum match_status match_value_check(const bson_value_t *v, bson_error_t *err);
enum match_status match_value_eval(const bson_value_t *v, const struct match_src *src, struct match_ctx *ctx);

/* match_leaf.c: predicates (arg is the operator's argument value). */
enum match_status match_pred_eq(const struct match_elem *e, const void *arg, struct match_ctx *ctx);
enum match_status match_cmp_elem(const struct match_elem *e, const bson_value_t *rhs, int op);
enum match_status match_type_check(const bson_value_t *arg, bson_error_t *err);
enum match_status match_pred_type(const struct match_elem *e, const void *arg, struct match_ctx *ctx);
enum match_status match_mod_check(const bson_value_t *arg, bson_error_t *err);
enum match_status match_pred_mod(const struct match_elem *e, const void *arg, struct match_ctx *ctx);
enum match_status match_size_check(const bson_value_t *arg, bson_error_t *err);
enum match_status match_pred_size(const struct match_elem *e, const void *arg, struct match_ctx *ctx);
enum match_status match_bits_check(const char *op, const bson_value_t *arg, bson_error_t *err);
enum match_status match_bits_eval(const char *op, const bson_value_t *arg, const struct match_src *src,
				  struct match_ctx *ctx);
bool match_truthy(const bson_value_t *v);

/* Comparison kinds for match_cmp_elem. */
enum { MATCH_CMP_EQ, MATCH_CMP_GT, MATCH_CMP_GTE, MATCH_CMP_LT, MATCH_CMP_LTE };

/* match_regex.c */
struct match_regex {
	void *code;  /* pcre2_code_8 */
	void *mdata; /* pcre2_match_data_8 */
	void *mctx;  /* pcre2_match_context_8 */
	const char *pattern, *options; /* for equality with a BSON regex value */
	uint32_t pattern_len;
};
enum match_status match_regex_compile(struct match_regex *re, const char *pat, uint32_t patlen, const char *opts,
				      bson_error_t *err);
/* YES when the value is a string/symbol the regex matches, or a BSON regex
 * value with the same pattern and options. */
enum match_status match_regex_test(struct match_regex *re, const bson_value_t *v, bson_error_t *err);
void match_regex_free(struct match_regex *re);
/* Compile a BSON regex value or {$regex, $options} pair taken from an
 * operator document; opts may be NULL. */
enum match_status match_regex_from_value(struct match_regex *re, const bson_value_t *v, const char *opts,
					 bson_error_t *err);

/* match_expr.c */
enum match_status match_expr_check(const bson_value_t *e, int depth, bson_error_t *err);
enum match_status match_expr_eval(const bson_value_t *e, const uint8_t *doc, uint32_t dlen, struct match_ctx *ctx);

#endif
