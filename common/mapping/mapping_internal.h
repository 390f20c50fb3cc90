/*
 * mapping_internal.h - declarations shared by the mapping loader's files
 * only (not part of the public API in mapping.h; include nowhere else).
 *
 *   mapping.c        public API: load, free, find, default table, ident fit
 *   mapping_parse.c  the walk: root -> collection -> column/index/child/junction
 *   mapping_check.c  cross-checks over a table, a collection, the whole file
 *   mapping_yaml.c   diagnostics (lerr) and YAML access helpers
 *
 * Invariants: a struct loader lives for one load; its document is owned by
 * mapping.c and deleted there.  Every problem is reported through
 * mapping_lerr_at, which counts it even past MAPPING_MAX_ERRORS, so
 * L->n_errors != 0 exactly when the load must fail.  Allocation failure
 * aborts.
 */
#ifndef TANDEM_MAPPING_INTERNAL_H
#define TANDEM_MAPPING_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "mapping.h"

#define MAPPING_MAX_ERRORS 1000

struct loader {
	yaml_document_t doc;
	const char *name;
	struct mapping_errors *errs;
	size_t n_errors;
};

/* Where an error is: "collection 'c' child 's' column 'x'". Unset parts are NULL. */
struct where {
	const char *coll;
	const char *kind; /* "child" | "junction" | NULL */
	const char *sub;
	const char *col;
};

/* ---- mapping_yaml.c: memory, diagnostics -------------------------------- */

void *mapping_xcalloc(size_t n, size_t size);
char *mapping_xstrdup(const char *s);

/* Append one formatted message to errs (not counted as a loader error). */
void mapping_errs_addf(struct mapping_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report one problem at a YAML line (1-based; 0 when unknown). */
void mapping_lerr_at(struct loader *L, size_t line, const struct where *w, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Report one problem at node n's line (n may be NULL: line 0). */
#define lerr(L, n, w, ...) mapping_lerr_at((L), (n) ? (size_t)(n)->start_mark.line + 1 : 0, (w), __VA_ARGS__)

/* ---- mapping_yaml.c: YAML access ---------------------------------------- */

#define FOR_PAIRS(p, n) \
	for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; p < (n)->data.mapping.pairs.top; p++)
#define FOR_ITEMS(i, n) \
	for (yaml_node_item_t *i = (n)->data.sequence.items.start; i < (n)->data.sequence.items.top; i++)

yaml_node_t *mapping_node_at(struct loader *L, int id);
/* The text of a scalar node, or NULL (n NULL or not a scalar). */
const char *mapping_scalar(const yaml_node_t *n);
size_t mapping_n_pairs(const yaml_node_t *n);
size_t mapping_n_items(const yaml_node_t *n);

/*
 * n must be a mapping whose keys are scalars from allowed (NULL-ended), each
 * once, with every key of required (may be NULL); owner (NULL = n) gives the
 * line of whole-mapping errors.  False only when n is not a mapping at all.
 */
bool mapping_check_keys(struct loader *L, const yaml_node_t *owner, yaml_node_t *n, const struct where *w,
			const char *what, const char *const *allowed, const char *const *required);

/* The value of key in mapping n (first occurrence), or NULL. */
yaml_node_t *mapping_get(struct loader *L, yaml_node_t *n, const char *key);
/* A scalar value of key (copied), def when absent, NULL (+ error) when not a scalar. */
char *mapping_get_str(struct loader *L, yaml_node_t *n, const char *key, const char *def,
		      const struct where *w);
/* true/yes or false/no; def when absent or (+ error) anything else. */
bool mapping_get_bool(struct loader *L, yaml_node_t *n, const char *key, bool def, const struct where *w);

/* Report s (if not NULL) unless it is a plain SQL identifier of at most 63 bytes. */
void mapping_check_ident(struct loader *L, const yaml_node_t *n, const struct where *w,
			 const char *what, const char *s);
/* Report s (if not NULL) unless it is a dotted path with no empty, "_id" or "$" segment. */
void mapping_check_source(struct loader *L, const yaml_node_t *n, const struct where *w, const char *s);

/* ---- mapping_check.c: cross-checks -------------------------------------- */

/* No column of cols is named like one of reserved (NULL-ended). */
void mapping_check_reserved(struct loader *L, const struct where *w0, const struct mapping_column *cols,
			    size_t n, const char *const *reserved);
/* Every index column is in cols or reserved. */
void mapping_check_index_columns(struct loader *L, const struct where *w, const struct mapping_index *ix,
				 size_t n_ix, const struct mapping_column *cols, size_t n_cols,
				 const char *const *reserved);
/* No source of a child's columns overlaps another. */
void mapping_check_child_sources(struct loader *L, const struct where *w, const struct mapping_child *ch);
/* No source of the collection's columns, children and junctions overlaps another. */
void mapping_check_collection_sources(struct loader *L, const struct where *w,
				      const struct mapping_collection *c);
/* Every table name (collections, children, junctions) appears once. */
void mapping_check_tables(struct loader *L, const struct mapping *m);

/* ---- mapping_parse.c: the walk ------------------------------------------ */

/* Fill m from the document's root node, reporting every problem. */
void mapping_parse_root(struct loader *L, yaml_node_t *root, struct mapping *m);

#endif
