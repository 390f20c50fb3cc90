/*
 * rowstore_internal.h - declarations shared by the rowstore_*.c files only.
 *
 *   rowstore_cell.c    one BSON value <-> the text of one typed column
 *   rowstore_pgarr.c   PostgreSQL array literals (text[] columns, child rows)
 *   rowstore_id.c      _id -> id column text, legacy_id
 *   rowstore_put.c     rowstore_put / rowstore_delete (SQL text)
 *   rowstore_select.c  rowstore_select
 *   rowstore_where*.c  the WHERE it pushes down (superset of the filter)
 *   rowstore_decode.c  rowstore_decode
 */
#ifndef TANDEM_ROWSTORE_INTERNAL_H
#define TANDEM_ROWSTORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <bson/bson.h>

#include "mapping.h"
#include "rowstore.h"

#define RS_ERR(e, code, ...) bson_set_error((e), ROWSTORE_ERROR_DOMAIN, (code), __VA_ARGS__)

/* Marker name prefixes: a column's marker names the column; a child's
 * "+<child>", a junction's "&<junction>" (column names are identifiers,
 * so they never start with these). */
#define RS_CHILD_PREFIX '+'
#define RS_JUNCTION_PREFIX '&'

/* ---- cells (rowstore_cell.c) ------------------------------------------ */

struct rs_cell {
	char *in;	/* parameter text, malloc'd; NULL = SQL NULL */
	char *out;	/* the text rowstore_select returns for it (NULL = SQL NULL) */
	int y;		/* BSON type of the value */
	int st;		/* binary subtype, -1 if none */
};

void rs_cell_free(struct rs_cell *c);

/* Can column col hold the value at it exactly?  If so fill *c (free with
 * rs_cell_free) and return true: decoding c->out with c->y/c->st gives
 * back the same bytes (checked here).  False: keep the value in extras. */
bool rs_cell_encode(const struct mapping_column *col, const bson_iter_t *it, struct rs_cell *c);

/* Append under key the value a column's text (as rowstore_select returns
 * it) holds, read as BSON type y (binary subtype st).  Strict. */
bool rs_cell_decode(enum mapping_type t, const char *text, int64_t y, int64_t st, bson_t *out,
		    const char *key, size_t klen, bson_error_t *err);

/* Write the SELECT expression that returns column alias.col as that text. */
void rs_cell_select_expr(FILE *f, const char *alias, const struct mapping_column *col);

/* Parameter text of a column's mapping default (NULL when none). */
char *rs_cell_default(const struct mapping_column *col);

/* Positional decimal text of a number for a numeric(prec,scale) column
 * (prec 0: unconstrained), or NULL when the column cannot hold it exactly. */
char *rs_numeric_of_double(double v, int prec, int scale);
char *rs_numeric_of_int(int64_t v, int prec, int scale);
char *rs_numeric_of_decimal(const bson_decimal128_t *d, int prec, int scale);

/* Compare the value of two elements byte for byte (type and payload). */
bool rs_same_value(const bson_iter_t *a, const bson_iter_t *b);

/* ---- PostgreSQL array literals (rowstore_pgarr.c) -------------------------- */

struct rs_strs {
	char **v;	/* entries malloc'd, NULL = SQL NULL */
	size_t n, cap;
};

void rs_strs_free(struct rs_strs *s);

/* Parse a text[] output literal with dims dimensions (1 or 2); for 2 every
 * inner array must have exactly width items.  Items land in *out flat. */
bool rs_pgarray_parse(const char *s, int dims, size_t width, struct rs_strs *out,
		      bson_error_t *err) __attribute__((warn_unused_result));

/* {"a","b"}: every item quoted, '"' and '\' escaped (items never NULL). */
char *rs_pgarray_format(const char *const *items, size_t n);

/* ---- ids (rowstore_id.c) --------------------------------------------- */

/* Text of legacy_id for this mapping (NULL: no legacy_id column), malloc'd. */
bool rs_legacy_id(const struct mapping_collection *mc, const bson_iter_t *id, char **out,
		  bson_error_t *err) __attribute__((warn_unused_result));

/* rowstore_id_key over an element. */
bool rs_id_key_iter(const struct mapping_collection *mc, const bson_iter_t *it, char *buf,
		    size_t len, bson_error_t *err) __attribute__((warn_unused_result));

/* SQL type of the id column. */
const char *rs_id_sql_type(enum mapping_id_kind k);

/* ---- pass 1 of a put (rowstore_split.c) -------------------------------- */

struct mark {
	const char *key;	/* bson_iter_key() of the marked element */
	char *json;		/* its marker */
};

struct marks {
	struct mark *v;		/* sorted by key address once pass 1 is done */
	size_t n, cap;
};

/* Statement parameters being collected (NULL entries = SQL NULL). */
struct params {
	char **v;
	int n, cap;
	bool oom;
};

void rs_param_take(struct params *p, char *s);	/* s is taken */
void rs_param_dup(struct params *p, const char *s);
void rs_params_free(struct params *p);

struct child_split {
	bson_t *elems;		/* views into the document's buffer, one per element */
	size_t n;
	struct params vals;	/* n * n_columns column parameters, row-major */
};

struct split {
	struct marks marks;
	struct params cols;		/* the parent's column parameters */
	struct child_split *children;	/* one per mapping child */
	struct params *refs;		/* one per mapping junction */
};

/* Pass 1 over doc (false: out of memory); free with rs_split_free either way. */
bool rs_split_doc(const struct mapping_collection *mc, const bson_t *doc, struct split *s)
	__attribute__((warn_unused_result));
void rs_split_free(struct split *s, const struct mapping_collection *mc);

/* Pass 2: rowcodec text of doc (or a child element) with marked values as
 * their markers; malloc'd, NULL on failure (err set). */
char *rs_extras_of(const bson_t *doc, struct marks *m, bson_error_t *err);

/* ---- helpers ----------------------------------------------------------- */

/* The element at dotted path in doc (first occurrence of each key, only
 * through embedded documents); false if absent.  *it then points into doc's
 * own buffer. */
bool rs_find_path(const bson_t *doc, const char *path, bson_iter_t *it);

#endif
