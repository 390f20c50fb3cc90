/*
 * rowstore.h - one MongoDB document <-> its PostgreSQL row(s), as SQL
 * statements with TEXT parameters (format: docs/storage.md, "Mapped tables";
 * tables: common/mapping/ddl.c).
 *
 *   rowstore_put     doc  -> upsert parent row [, DELETE + INSERT child and
 *                            junction rows]: idempotent, runs twice = once
 *   rowstore_delete  _id  -> DELETE child/junction rows, then the row
 *   rowstore_select  filter -> one SELECT: every stored document of the
 *                            tenant that MAY match (superset), one row per
 *                            document, in insertion order (seq)
 *   rowstore_decode  one result row of that SELECT -> the original BSON,
 *                            byte for byte
 *
 * Invariant: decode(row written by put(doc)) is byte-identical to doc, for
 * the default table and for mapped tables (values a typed column cannot
 * hold exactly stay in `extras`).  Statement parameters: $1 is always the
 * tenant; the SQL text of a put depends only on the mapping and the number
 * of child/junction rows, so it can be prepared.
 */
#ifndef TANDEM_ROWSTORE_H
#define TANDEM_ROWSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#include "mapping.h"
#include "sqllist.h"

#define ROWSTORE_ERROR_DOMAIN 7302
enum rowstore_err {
	ROWSTORE_ERR_ID = 1,	/* _id missing, or not of the mapping's id kind */
	ROWSTORE_ERR_DOC,	/* document cannot be encoded (bad BSON, non-UTF-8 key) */
	ROWSTORE_ERR_ROW,	/* a result row is not in rowstore's format */
	ROWSTORE_ERR_NOMEM,
};

/* Longest id key text (a uuid is 36, an int8 20; text ids are longer). */
#define ROWSTORE_ID_KEY_MAX 4096

/* Statements that make the stored row(s) of (tenant, doc._id) equal doc.
 * Appends to out; on failure out is unchanged and err says why. */
bool rowstore_put(const struct mapping_collection *mc, const char *tenant, const bson_t *doc,
		  struct sqllist *out, bson_error_t *err) __attribute__((warn_unused_result));

/* Statements that delete the document with this _id (and its child and
 * junction rows). */
bool rowstore_delete(const struct mapping_collection *mc, const char *tenant,
		     const bson_value_t *id, struct sqllist *out, bson_error_t *err)
	__attribute__((warn_unused_result));

/* Exactly one SELECT (appended to out) returning every stored document of
 * tenant that may match filter (NULL: all).  Pushed down as a superset
 * (rowstore_where*.c): _id equality / $in, and top-level equality, range
 * and $in conditions on typed columns and on the jsonb document / extras
 * (docs/storage.md); anything else reads all of the tenant's rows.
 * Result columns: rowstore_decode's layout. */
bool rowstore_select(const struct mapping_collection *mc, const char *tenant, const bson_t *filter,
		     struct sqllist *out, bson_error_t *err) __attribute__((warn_unused_result));

/* Number of result columns rowstore_select produces for mc. */
int rowstore_select_ncols(const struct mapping_collection *mc);

/* One result row (text values, NULL = SQL NULL) -> the stored document.
 * out is initialised here (bson_destroy it also on failure; empty then).
 * The row is untrusted: every value is parsed strictly. */
bool rowstore_decode(const struct mapping_collection *mc, int ncols, const char *const *values,
		     bson_t *out, bson_error_t *err) __attribute__((warn_unused_result));

/* The text of the `id` column for an _id value: a uuid for kinds objectid
 * and any (ObjectId -> oid_to_uuid; any other value -> a hash-derived
 * UUIDv8 that never collides with those, numbers normalised so 1, 1L and
 * 1.0 share a key as in MongoDB), the string itself for kind text, the
 * integer for int8, the uuid of a binary subtype 4 for kind uuid. */
bool rowstore_id_key(const struct mapping_collection *mc, const bson_value_t *id, char *buf,
		     size_t len, bson_error_t *err) __attribute__((warn_unused_result));

#endif
