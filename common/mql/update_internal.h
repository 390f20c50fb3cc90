/*
 * update_internal.h - shared by the update_*.c files, not by callers.
 *
 * The document being updated becomes a lazy tree of `struct unode`: a
 * container is expanded into kids[] only when a path descends into it;
 * everything else stays a borrowed bson_value_t view into the input
 * document or the update (both outlive the apply).  Nothing is copied
 * until the tree is serialised again, so untouched sub-documents cost
 * nothing and their bytes come out unchanged.
 *
 *   parse: u -> entries[] (one per path, operands checked)
 *   check: sort entries by path, reject prefix conflicts
 *   apply: walk each entry's path (positional, $[], $[<id>]) -> leaf op
 *   emit : serialise the tree; _id, depth and size checks; NOOP by bytes
 *
 * Invariant: a node's kids[] array may move when a sibling is inserted,
 * so code keeps (parent, index) pairs, never node pointers, across
 * insertions into the same parent.
 */
#ifndef TANDEM_UPDATE_INTERNAL_H
#define TANDEM_UPDATE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "update.h"

#define UPDATE_MAX_DEPTH 100          /* path segments and result nesting */
#define UPDATE_MAX_PAD 1500000        /* MongoDB's kMaxPaddingAllowed */
#define UPDATE_MAX_NODES 1000000      /* expanded nodes before RESYNC */
#define UPDATE_MAX_BSON (16 * 1024 * 1024)

/* One element of the tree.  Array kids have no key (re-numbered on emit). */
struct unode {
	const char *key;       /* borrowed, not necessarily NUL-terminated */
	uint32_t keylen;
	bool expanded;         /* container whose kids[] are authoritative */
	bson_value_t v;        /* borrowed view; v.value_type is the type */
	struct unode *kids;
	uint32_t nkids;
	uint32_t cap;
};

enum update_op {
	UOP_SET, UOP_SET_ON_INSERT, UOP_UNSET, UOP_INC, UOP_MUL, UOP_MIN, UOP_MAX,
	UOP_RENAME, UOP_BIT, UOP_PUSH, UOP_ADD_TO_SET, UOP_POP, UOP_PULL, UOP_PULL_ALL,
};

/* $push modifiers (also $addToSet's $each in `each`). */
struct update_push {
	bool has_each;
	bson_value_t each;     /* array of values, when has_each */
	bool has_slice;
	int64_t slice;
	bool has_pos;
	int64_t pos;
	int sort;              /* 0 none, 1/-1 whole elements, 2 by pattern */
	bson_value_t pattern;  /* sort == 2: {field: 1/-1, ...} */
};

enum update_pull_mode { UPULL_EQUAL, UPULL_OBJECT, UPULL_WRAP };

/* One path of the update with its operator and operand. */
struct uentry {
	enum update_op op;
	const char *opname;    /* "$set" ... for messages */
	char *path;            /* owned copy, NUL-terminated */
	char **segs;           /* owned; nseg pointers into segbuf */
	char *segbuf;
	uint32_t nseg;
	bson_value_t val;      /* borrowed operand */
	bool is_rename_src;    /* pseudo entry: only for conflict checks */
	uint32_t rename_id;    /* $rename: same number on source and destination */
	struct update_push push;
	enum update_pull_mode pull_mode;
	bson_t *pull_filter;   /* owned: the $pull condition as a filter */
	int bitops[3];         /* $bit: 0 none, 1 and, 2 or, 3 xor */
	bson_value_t bitargs[3];
};

/* An arrayFilters entry. */
struct ufilter {
	char *ident;           /* owned */
	const uint8_t *data;   /* borrowed filter document bytes (a bson_t   */
	uint32_t len;          /* member would need 128-byte alignment)      */
	bool used;
};

struct uctx {
	const struct update_args *args;
	struct uentry *ents;
	uint32_t nents;
	struct ufilter *filters;
	uint32_t nfilters;
	uint64_t nodes;        /* expansion budget */
	bson_t **tmps;         /* owned scratch documents freed at the end */
	uint32_t ntmps;
	bson_value_t rename_val; /* $rename: the value being moved */
	enum update_status st; /* first failure recorded by update_fail */
	bson_error_t *err;
};

void update_ctx_free(struct uctx *c);   /* update.c */

/* Tree (update_tree.c). */
enum update_status update_node_expand(struct uctx *c, struct unode *n);
void update_node_clear(struct unode *n);
void update_node_set(struct unode *n, const bson_value_t *v);
bool update_node_is_container(const struct unode *n);
int64_t update_node_find(const struct unode *n, const char *key, uint32_t keylen);
enum update_status update_node_insert(struct uctx *c, struct unode *parent, uint32_t at,
				      const char *key, uint32_t keylen, const bson_value_t *v);
void update_node_remove(struct unode *parent, uint32_t at);
enum update_status update_node_value(struct uctx *c, const struct unode *n, bson_value_t *out);
bool update_node_emit(const struct unode *n, bson_t *out);
enum update_status update_node_new_container(struct uctx *c, struct unode *parent, int64_t idx,
					     const char *key, uint32_t keylen, bson_type_t t,
					     uint32_t *at);
enum update_status update_put(struct uctx *c, struct unode *parent, int64_t idx, const char *key,
			      uint32_t keylen, const bson_value_t *v, uint32_t *at);
void update_describe(const struct unode *n, char *buf, size_t len);
const char *update_type_name(bson_type_t t);

/* Errors: record the first status/message and return the status. */
enum update_status update_fail(struct uctx *c, enum update_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Paths (update_path.c). */
bool update_path_split(struct uctx *c, struct uentry *e, const char *path);
int update_path_cmp(const struct uentry *a, const struct uentry *b);
bool update_path_is_prefix(const struct uentry *a, const struct uentry *b);
bool update_seg_index(const char *seg, int64_t *idx);
typedef enum update_status (*update_leaf_fn)(struct uctx *c, const struct uentry *e,
					     struct unode *parent, int64_t idx, const char *key);
enum update_status update_walk(struct uctx *c, const struct uentry *e, struct unode *root,
			       bool create, update_leaf_fn fn);
enum update_status update_lookup(struct uctx *c, const struct uentry *e, struct unode *root,
				 struct unode **parent, int64_t *idx);
bool update_ident_ok(const char *s, size_t n);
bool update_filters_parse(struct uctx *c);   /* update_filters.c */
bool update_filters_used(struct uctx *c);

/* Operators (update_ops.c, update_array.c). */
bool update_ops_parse(struct uctx *c, struct uentry *e);
enum update_status update_ops_apply(struct uctx *c, struct uentry *e, struct unode *root);
bool update_array_parse(struct uctx *c, struct uentry *e);
enum update_status update_array_leaf(struct uctx *c, const struct uentry *e, struct unode *parent,
				     int64_t idx, const char *key);

/* std::sort as libstdc++ does it (update_sort.c). */
typedef bool (*update_less_fn)(const void *ctx, const struct unode *a, const struct unode *b);
void update_sort_nodes(struct unode *a, size_t n, update_less_fn less, const void *ctx);

/* Filters for matching (update_array.c). */
enum update_status update_match_value(struct uctx *c, const bson_t *filter, const char *wrapkey,
				      const bson_value_t *v, bool *matched);

#endif
