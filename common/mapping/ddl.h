/*
 * ddl.h - PostgreSQL DDL text for a mapping (what `tandemctl schema` prints
 * and `tandemctl schema --apply` runs).
 *
 * Invariants: every identifier is double-quoted with embedded quotes doubled
 * and every literal single-quoted (E'' when it holds a backslash), so no name
 * or default from a mapping or a client can change the statement's shape;
 * every statement is IF NOT EXISTS, so the text may be applied any number of
 * times; the same input always gives byte-identical text.
 *
 * Order: for each mapped collection its table, its child and junction tables
 * (after the parent, for the foreign keys), then their indexes; then the
 * default tables of the extra (unmapped) collections.
 */
#ifndef TANDEM_DDL_H
#define TANDEM_DDL_H

#include <stddef.h>
#include <stdio.h>

#include "mapping.h"

/*
 * The DDL for every collection of m (m may be NULL: no mapping file) and a
 * default table for each name in extra_collections that m does not map.
 * Returns malloc'd NUL-terminated SQL (free it), or NULL when out of memory.
 * An extra collection whose default table name equals a mapped table gets a
 * SQL comment saying so instead of a table.
 */
char *ddl_for_mapping(const struct mapping *m, const char *const *extra_collections, size_t n);

/* The DDL of one collection (mapped or from mapping_default_collection). */
void ddl_put_collection(FILE *f, const struct mapping_collection *c);

/* "name" with embedded " doubled. */
void ddl_put_ident(FILE *f, const char *name);

/* 'text' with embedded ' doubled; E'...' with \ doubled when text has a backslash. */
void ddl_put_literal(FILE *f, const char *text);

#endif
