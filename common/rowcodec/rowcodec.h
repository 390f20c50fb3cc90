/*
 * rowcodec.h - lossless BSON <-> jsonb text for the default table's `doc`
 * column (BRIEF "PostgreSQL storage model"; format in docs/storage.md).
 *
 * jsonb keeps neither key order nor BSON types, so a document becomes an
 * object whose plain keys hold the values (queryable with -> and @>), plus
 * meta keys "~o" (original key order) and "~d" (values of repeated keys);
 * values JSON cannot express exactly become {"~t": code, ...} wrappers.
 * User keys starting with '~' are escaped by one more '~'.
 *
 * Invariant: rowcodec_from_json(rowcodec_to_json(d)) is byte-identical to d
 * for every valid BSON document d whose keys are valid UTF-8 and whose
 * nesting is at most ROWCODEC_MAX_BSON_DEPTH, also after PostgreSQL has
 * normalised the text through jsonb.
 */
#ifndef TANDEM_ROWCODEC_H
#define TANDEM_ROWCODEC_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

/* Deepest BSON nesting accepted (MongoDB stores up to 100). */
#define ROWCODEC_MAX_BSON_DEPTH 200
/* Deepest JSON nesting accepted by the reader (each BSON level costs at
 * most two JSON levels: a "~d" array or a code-with-scope wrapper). */
#define ROWCODEC_MAX_JSON_DEPTH (2 * ROWCODEC_MAX_BSON_DEPTH + 8)

/* bson_error_t domain and codes set by this module. */
#define ROWCODEC_ERROR_DOMAIN 7301
enum rowcodec_err {
	ROWCODEC_ERR_BSON = 1,	/* input BSON invalid, too deep, bad key */
	ROWCODEC_ERR_SYNTAX,	/* input text is not (acceptable) JSON */
	ROWCODEC_ERR_SHAPE,	/* valid JSON, but not the rowcodec format */
};

/* Encode doc as jsonb-ready text: valid JSON, valid UTF-8, no \u0000.
 * On success *json is malloc'd (free with bson_free), NUL-terminated, and
 * *len is its length. On failure *json is NULL and err says why. */
bool rowcodec_to_json(const bson_t *doc, char **json, size_t *len,
		      bson_error_t *err) __attribute__((warn_unused_result));

/* Exact inverse of rowcodec_to_json. json (len bytes, need not be
 * NUL-terminated) is untrusted: reads are bounds-checked, nesting is limited,
 * anything not in the format is rejected with a message. Always initialises
 * *out (caller must bson_destroy it); on failure *out is empty. */
bool rowcodec_from_json(const char *json, size_t len, bson_t *out,
			bson_error_t *err) __attribute__((warn_unused_result));

#endif
