/*
 * rowstore_where.h - the part of a MongoDB filter that rowstore_select
 * pushes down into its WHERE (beyond tenant and _id), as SQL conditions
 * that keep a SUPERSET of the documents match.h matches.  Shapes and the
 * superset argument for each: rowstore_where.c (walk, clauses, jsonb
 * containment) and rowstore_wherecol.c (typed columns).
 */
#ifndef TANDEM_ROWSTORE_WHERE_H
#define TANDEM_ROWSTORE_WHERE_H

#include <stdio.h>

#include <bson/bson.h>

#include "mapping.h"
#include "rowstore_internal.h"

/* Append " AND (...)" to f for each pushable condition of filter (NULL:
 * none) on the table aliased t.  Their parameters are pushed onto p, which
 * already holds the statement's earlier ones (p->v[i] is placeholder
 * $(i + 1)).  Out of memory: p->oom. */
void rs_where_put(const struct mapping_collection *mc, const bson_t *filter, FILE *f,
		  struct params *p);

/* ---- between rowstore_where.c and rowstore_wherecol.c ------------------ */

enum rsw_op { RSW_EQ, RSW_GT, RSW_GTE, RSW_LT, RSW_LTE };

/* One field's conditions (ANDed), written to the statement only if there
 * is at least one. */
struct rsw_clause {
	FILE *f;
	char *sql;
	size_t len;
	struct params p;	/* its parameters, numbered after the statement's */
	const struct params *main;
	const struct mapping_column *col; /* typed column, or NULL (containment) */
	int nconds;
};

char *rsw_xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Take s (malloc'd; NULL = out of memory) as the next parameter: its
 * placeholder number. */
int rsw_param(struct rsw_clause *c, char *s);

/* Start one more condition: the stream to write it to. */
FILE *rsw_cond(struct rsw_clause *c);

void rsw_put_col(FILE *f, const struct mapping_column *col);
void rsw_put_false(struct rsw_clause *c);

/* Can conditions on a column of this type be pushed down? */
bool rsw_col_pushable(enum mapping_type t);

/* c->col <op> v, and c->col IN arr (rowstore_wherecol.c): a condition
 * implied by "the held value matches", or nothing. */
void rsw_col_cmp(struct rsw_clause *c, enum rsw_op op, const bson_iter_t *v);
void rsw_col_in(struct rsw_clause *c, const bson_iter_t *arr);

#endif
