/*
 * mapping.h - the mapping spec: which PostgreSQL table and columns each
 * MongoDB collection is stored in.
 *
 * A mapping is loaded from YAML (format in docs/mapping.md, example in
 * conf/mapping.yaml), validated as a whole, and then read-only: every thread
 * may share one struct mapping.  Loading never stops at the first mistake:
 * every error lands in struct mapping_errors as
 *   "mapping.yaml:12: collection 'users' column 'email': unknown type 'txt'"
 * and mapping_load fails if there was at least one.
 *
 * Storage model (BRIEF.md, "PostgreSQL storage model"):
 *
 *   mapped collection   -> table (tenant, id, legacy_id, <columns>, extras jsonb)
 *      embedded array   -> child table (tenant, parent_id, ord, <columns>, extras)
 *      array of refs    -> junction table (tenant, parent_id, ord, ref)
 *   unmapped collection -> default table (tenant, id, legacy_id, doc jsonb)
 *
 * Invariants after a successful load: every name is a plain SQL identifier
 * of at most 63 bytes; table names are unique across the mapping; column
 * names are unique within a table and never clash with the reserved ones;
 * source paths are non-empty, have no empty segment, and no source is a
 * prefix of another in the same table; enums only on text columns; index
 * columns exist.  Unmapped collection names are NOT identifiers: the DDL
 * quotes every name.
 */
#ifndef TANDEM_MAPPING_H
#define TANDEM_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

/* Column types a mapping may name, in the spelling used by YAML and SQL. */
enum mapping_type {
	MAPPING_T_UUID,
	MAPPING_T_TEXT,
	MAPPING_T_INT4,
	MAPPING_T_INT8,
	MAPPING_T_FLOAT8,
	MAPPING_T_NUMERIC,     /* "numeric" or "numeric(P)" or "numeric(P,S)" */
	MAPPING_T_BOOL,
	MAPPING_T_TIMESTAMPTZ,
	MAPPING_T_JSONB,
	MAPPING_T_BYTEA,
	MAPPING_T_TEXT_ARRAY,  /* "text[]" */
};

/* How `_id` is stored (key `id:` of a collection). */
enum mapping_id_kind {
	MAPPING_ID_OBJECTID, /* id uuid derived from the ObjectId, legacy_id text (24 hex) */
	MAPPING_ID_ANY,      /* id uuid derived from any _id, legacy_id jsonb (type-preserving) */
	MAPPING_ID_UUID,     /* _id is a UUID (binary subtype 4): id uuid, no legacy_id */
	MAPPING_ID_TEXT,     /* _id is a string: id text, no legacy_id */
	MAPPING_ID_INT8,     /* _id is an integer: id int8, no legacy_id */
};

/* Reserved column names (any table); the tenant column name is reserved too. */
#define MAPPING_COL_ID "id"
#define MAPPING_COL_LEGACY_ID "legacy_id"
#define MAPPING_COL_EXTRAS "extras"
#define MAPPING_COL_DOC "doc"
#define MAPPING_COL_SEQ "seq"          /* insertion order: MongoDB's natural order */
#define MAPPING_COL_PARENT "parent_id"
#define MAPPING_COL_ORD "ord"
#define MAPPING_COL_REF "ref"
#define MAPPING_DEFAULT_TENANT_COLUMN "tenant_id"
#define MAPPING_IDENT_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */

struct mapping_column {
	char *name;            /* SQL column name */
	char *source;          /* dotted path in the document (relative to the element for children) */
	enum mapping_type type;
	int precision, scale;  /* numeric only; precision 0 = unconstrained */
	bool nullable;         /* default true: a missing field is NULL */
	char *default_value;   /* NULL = none; the YAML text, emitted as a quoted literal */
	char **enum_values;    /* CHECK (col IN (...)); text columns only */
	size_t n_enum;
	char *references;      /* collection this column points at (documentation + index), or NULL */
	size_t line;           /* YAML line, for later diagnostics */
};

struct mapping_index {
	char **columns;        /* column names; the tenant column is prepended in DDL */
	size_t n_columns;
	bool unique;           /* unique per tenant */
	size_t line;
};

/* An embedded array of documents stored in its own table. */
struct mapping_child {
	char *name;
	char *source;          /* path of the array in the parent document */
	char *table;
	struct mapping_column *columns;
	size_t n_columns;
	struct mapping_index *indexes;
	size_t n_indexes;
	size_t line;
};

/* An array of references (ids of other documents) stored as rows. */
struct mapping_junction {
	char *name;
	char *source;          /* path of the array in the parent document */
	char *table;
	enum mapping_type ref_type; /* uuid (ObjectIds derived like _id), text, int4 or int8 */
	char *references;      /* collection referred to, or NULL */
	size_t line;
};

struct mapping_collection {
	char *name;            /* MongoDB collection name */
	char *table;
	char *tenant_column;
	enum mapping_id_kind id_kind;
	bool is_default;       /* true: (tenant, id, legacy_id, doc jsonb); the arrays below are empty */
	struct mapping_column *columns;
	size_t n_columns;
	struct mapping_index *indexes;
	size_t n_indexes;
	struct mapping_child *children;
	size_t n_children;
	struct mapping_junction *junctions;
	size_t n_junctions;
	size_t line;
	char table_buf[MAPPING_IDENT_MAX + 1]; /* default collections: storage behind table */
};

struct mapping {
	struct mapping_collection *collections;
	size_t n_collections;
};

/* Every error of one load, in file order, each "file:line: context: reason". */
struct mapping_errors {
	char **msgs;
	size_t n;
	size_t cap;
};

void mapping_errors_init(struct mapping_errors *errs);
void mapping_errors_free(struct mapping_errors *errs);

/*
 * Load and validate path.  On success *out owns a new mapping (free with
 * mapping_free) and errs is untouched.  On failure *out is NULL and errs holds
 * at least one message (a file that cannot be read or is not YAML gives one).
 */
bool mapping_load(const char *path, struct mapping **out, struct mapping_errors *errs)
	__attribute__((warn_unused_result));

/* Same, from text in memory; name is used in messages in place of a path. */
bool mapping_load_string(const char *text, size_t len, const char *name, struct mapping **out,
			 struct mapping_errors *errs) __attribute__((warn_unused_result));

void mapping_free(struct mapping *m);

/* The mapped collection named coll, or NULL (m may be NULL: no mapping file). */
const struct mapping_collection *mapping_find(const struct mapping *m, const char *coll);

/*
 * Fill *out with the default table of an unmapped collection: tenant column
 * "tenant_id", id kind ANY, is_default; table = mapping_ident_fit(coll).
 * out->name points at coll (the caller keeps it alive), out->table at
 * out->table_buf; nothing to free.
 */
void mapping_default_collection(const char *coll, struct mapping_collection *out);

/*
 * Make name fit PostgreSQL's 63-byte identifiers without silent collisions:
 * a name of at most 63 bytes is copied as is; a longer one becomes its first
 * 54 bytes (cut on a UTF-8 boundary) + "_" + 8 hex digits of a hash of the
 * whole name.  (PostgreSQL itself would truncate, so two long collection
 * names with a common prefix would share one table.)
 */
void mapping_ident_fit(const char *name, char out[MAPPING_IDENT_MAX + 1]);

/* "text", "numeric", "text[]", ... (numeric without its precision). */
const char *mapping_type_to_str(enum mapping_type t);
const char *mapping_id_kind_to_str(enum mapping_id_kind k);

#endif
