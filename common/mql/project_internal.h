/*
 * project_internal.h - the compiled projection shared by project.c
 * (parsing, mongod's projection AST rules) and project_apply.c (the
 * inclusion/exclusion executors and the find-only post-image steps).
 *
 *   spec {a: 1, "b.c": "x", d: {$slice: 2}, "e.$": 1}
 *     root (PN_INTERNAL)
 *      |- a   PN_INCLUDE
 *      |- b   PN_INTERNAL -> c PN_LITERAL "x"
 *      |- d   PN_SLICE    (+ post op SLICE d)
 *      `- e   PN_INCLUDE  (+ post op POSITIONAL e)
 */
#ifndef TANDEM_PROJECT_INTERNAL_H
#define TANDEM_PROJECT_INTERNAL_H

#include "project.h"

#define PROJECT_MAX_NODES 1024
#define PROJECT_MAX_DEPTH 200

enum pnode_kind {
	PN_INTERNAL,  /* a path prefix: children below */
	PN_INCLUDE,   /* 1 / true */
	PN_EXCLUDE,   /* 0 / false */
	PN_SLICE,     /* {$slice: ..}: kept (inclusion) or untouched (exclusion); post op slices */
	PN_LITERAL,   /* computed: a constant value */
	PN_ELEMMATCH, /* computed: [first element matching] */
};

struct pnode {
	char *name;
	enum pnode_kind kind;
	bool has_computed; /* this subtree holds PN_LITERAL/PN_ELEMMATCH */
	bson_t *literal; /* {v: the constant}, arrays renumbered 0, 1, ... */
	bson_t *elemmatch; /* {name: {$elemMatch: spec}} */
	struct pnode **kids;
	size_t nkids, cap;
};

enum post_kind { POST_SLICE, POST_POSITIONAL };

struct post_op {
	enum post_kind kind;
	char **segs;
	size_t nsegs;
	bool has_skip;
	int32_t skip, limit;
};

struct project {
	bool identity;
	bool inclusion;
	bool positional;
	struct pnode *root;
	struct post_op *posts;
	size_t nposts;
};

struct pctx {
	struct project *p;
	const bson_t *filter;
	bson_error_t *err;
	size_t nodes;
	bool type_set, inclusion;
	bool id_specified, id_incl, id_excl;
	bool has_positional, has_elemmatch, has_slice;
};

struct pnode *project_node_new(const char *name, size_t len, enum pnode_kind kind);
void project_node_free(struct pnode *n);
struct pnode *project_node_kid(const struct pnode *n, const char *name, size_t len);

enum project_status project_fail(bson_error_t *err, enum project_status st, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* project.c: mongod's addNodeAtPath (NULL with *st and err set); a
 * find-only step on the full path; "parent.key". */
struct pnode *project_add_path(struct pctx *c, struct pnode *parent, const char *path, size_t len,
			       enum pnode_kind kind, enum project_status *st);
bool project_add_post(struct pctx *c, enum post_kind kind, const char *full, size_t len, struct post_op **out);
char *project_join(const char *parent, const char *key, size_t klen);

/* project_find.c */
long project_first_positional(const char *s, size_t len, size_t *end);
enum project_status project_parse_slice(struct pctx *c, const char *key, size_t klen, const char *full,
					const bson_iter_t *arg, struct pnode *parent);
enum project_status project_parse_elemmatch(struct pctx *c, const char *key, size_t klen, const bson_iter_t *arg,
					    struct pnode *parent);
enum project_status project_parse_positional(struct pctx *c, const char *key, size_t klen, const char *parent_full,
					     long begin, size_t end, struct pnode *parent);

#endif
