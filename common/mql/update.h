/*
 * update.h - apply a MongoDB update (replacement document or update
 * operators) to one document in C, with MongoDB 7/8 semantics.
 *
 * The dual-write applier reads a document's current row from PostgreSQL,
 * decodes it to BSON, applies the very update MongoDB acknowledged, and
 * writes the row back; this module is the middle step.  An update it
 * cannot reproduce exactly (an aggregation pipeline, $currentDate whose
 * value only the server knows) is reported UPDATE_RESYNC: the caller then
 * re-reads the document from MongoDB by _id instead of guessing.
 *
 * Operators: $set $unset $inc $mul $min $max $rename $setOnInsert
 * $push (with $each $slice $sort $position) $addToSet (with $each) $pop
 * $pull $pullAll $bit, paths with positional $, $[] and $[<id>] (with
 * arrayFilters).  Field order follows MongoDB 5.0+: fields an update adds
 * are appended in lexicographic order of their paths; replacing keeps _id first.
 */
#ifndef TANDEM_UPDATE_H
#define TANDEM_UPDATE_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "match.h"

#define UPDATE_ERROR_DOMAIN 7303

enum update_status {
	UPDATE_OK = 0,       /* *out holds the new document */
	UPDATE_NOOP,         /* nothing changed; *out holds a copy of the input */
	UPDATE_RESYNC,       /* cannot reproduce exactly: re-read from MongoDB */
	UPDATE_ERROR,        /* invalid for MongoDB too (err says why) */
};

enum update_kind {
	UPDATE_KIND_REPLACEMENT, /* no top-level $ keys */
	UPDATE_KIND_OPERATORS,   /* only $ keys */
	UPDATE_KIND_PIPELINE,    /* an array: aggregation pipeline */
	UPDATE_KIND_INVALID,     /* mixed or empty-where-not-allowed */
};

/* Which kind an update value is (u of an update statement, as a value so
 * that an array pipeline can be passed). */
enum update_kind update_kind_of(const bson_value_t *u);

struct update_args {
	const bson_value_t *u;          /* the update: document or pipeline array */
	const bson_t *array_filters;    /* BSON array of filter documents, or NULL */
	const struct match_result *m;   /* from match_doc on this document (for $) */
	bool inserting;                 /* upsert insert: $setOnInsert applies */
	int64_t now_ms;                 /* the server's clock for $currentDate (ms since the
	                                 * epoch) when tandem is the server (pg_primary /
	                                 * pg_only); 0: unknown, $currentDate is RESYNC */
};

/* Apply args to doc into *out (always initialised; destroy it).
 * UPDATE_NOOP: the result is byte-identical to doc (*out is a copy).
 * UPDATE_RESYNC / UPDATE_ERROR: *out is empty and err (domain
 * UPDATE_ERROR_DOMAIN, code = the status) says why.  RESYNC covers what is
 * valid but not computed here: decimal128 arithmetic in $inc/$mul,
 * $currentDate, pipelines, a $pull/arrayFilters condition match.h reports
 * unsupported, more than 1,000,000 expanded elements, a result without _id
 * (the server would generate one), a replacement with a top-level
 * Timestamp(0, 0), and paths reaching one array element through different
 * selectors ("a.$[].x" with "a.0.y": MongoDB merges them per element).
 * As MongoDB's update stage does, _id ends up first.  m may be NULL (a
 * positional `$` is then an error).  An UPDATE_ERROR for an update MongoDB
 * acknowledged means this module and MongoDB disagree: resync, never drop. */
enum update_status update_apply(const bson_t *doc, const struct update_args *args, bson_t *out,
				bson_error_t *err) __attribute__((warn_unused_result));

/* The document an upsert inserts before the update is applied: the
 * equality conditions of filter ({a: 1}, {a: {$eq: 1}}, $and of those,
 * each $all element, a one-element $or, dotted paths expanded), with _id = *id first when id is not NULL (the
 * _id MongoDB reported as upserted).  For a replacement, MongoDB uses only
 * _id from the filter: pass replacement = true.  MongoDB 5.0+ keeps the
 * equalities in a hash map, so with two or more paths other than _id their
 * order is unknowable: that is UPDATE_RESYNC.  {a: {$in: [v]}} counts as
 * equality (MongoDB rewrites a one-element $in to $eq). */
enum update_status update_upsert_seed(const bson_t *filter, const bson_value_t *id,
				      bool replacement, bson_t *out, bson_error_t *err)
	__attribute__((warn_unused_result));

#endif
