/*
 * sortspec.h - a MongoDB sort specification ({a: 1, "b.c": -1}) compiled
 * once, and the order it puts documents in, as mongod 7/8 computes it for
 * find and $sort (simple collation only).
 *
 * The sort key of a document for one field is what mongod's sort key
 * generator (an index key generator over the sort pattern) yields:
 *  - the value at the dotted path; missing == null;
 *  - an array along the path is traversed (its document elements give the
 *    rest of the path, other elements give null), an array at the end of
 *    the path gives its elements (one level: a nested array stays a value
 *    of the Array bracket), an empty array at the end gives `undefined`,
 *    which sorts before null and missing; a numeric path part on an array
 *    selects that element;
 *  - of several keys, ascending uses the smallest, descending the largest;
 *  - two fields that traverse different arrays of one document ("parallel
 *    arrays") are an error (BadValue, "cannot sort with keys that are
 *    parallel arrays"), reported by sortspec_sort_doc_check/_sort_ex.
 * Values compare with bsoncmp.h, except that undefined < null.
 *
 * Known approximation: when two sort fields go through the SAME array
 * (a.x and a.y) mongod takes the smallest key tuple of one element; here
 * each field takes its own extreme over all elements.
 *
 * Errors are mongod's (err->domain SORTSPEC_ERROR_DOMAIN, err->code the
 * mongod error code); a sort mongod accepts but tandem does not evaluate
 * ($meta) has err->code SORTSPEC_CODE_UNSUPPORTED.
 */
#ifndef TANDEM_SORTSPEC_H
#define TANDEM_SORTSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#define SORTSPEC_ERROR_DOMAIN 7320
/* Not a mongod code: the spec is valid for mongod but not evaluated here. */
#define SORTSPEC_CODE_UNSUPPORTED 737001
/* mongod's BadValue (parallel arrays) */
#define SORTSPEC_CODE_BAD_VALUE 2

struct sortspec;

/* {a: 1, "b.c": -1}; errors as mongod (bad value, empty is OK = no order).
 * $meta unsupported -> error with code SORTSPEC_CODE_UNSUPPORTED.
 * *out is NULL on failure. */
bool sortspec_compile(const bson_t *spec, struct sortspec **out, bson_error_t *err)
	__attribute__((warn_unused_result));

/* Number of fields (0: no order). */
size_t sortspec_nfields(const struct sortspec *s);

/* MongoDB sort order of two documents: <0, 0, >0.  A document with
 * parallel arrays compares by the per-field extremes (mongod would fail
 * the whole query: check with sortspec_doc_check first). */
int sortspec_cmp(const struct sortspec *s, const bson_t *a, const bson_t *b);

/* false (BadValue, mongod's message) when doc has parallel arrays under
 * the pattern. */
bool sortspec_doc_check(const struct sortspec *s, const bson_t *doc, bson_error_t *err)
	__attribute__((warn_unused_result));

void sortspec_free(struct sortspec *s);

/* Sort docs[0..n) stably by s (merge sort over precomputed keys; n may be
 * 1e6).  false on allocation failure or parallel arrays (docs unchanged). */
bool sortspec_sort(const struct sortspec *s, bson_t **docs, size_t n)
	__attribute__((warn_unused_result));

/* Same, with the reason in err. */
bool sortspec_sort_ex(const struct sortspec *s, bson_t **docs, size_t n, bson_error_t *err)
	__attribute__((warn_unused_result));

/* MongoDB field path rules shared with projection: 0 or the mongod error
 * code (40352 empty, 40353 trailing '.', 15998 empty part, 16410 '$'
 * prefix, 16411 NUL) with err filled. */
int sortspec_fieldpath_check(const char *path, size_t len, bson_error_t *err, uint32_t domain);

#endif
