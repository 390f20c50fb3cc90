/*
 * aggregate.h - run a MongoDB aggregation pipeline in C over candidate
 * documents, computing exactly what mongod would answer (or saying that
 * we cannot).  Pure: no I/O, no globals; pipelines are untrusted.
 *
 *   caller                         this module
 *   ------                         -----------
 *   agg_check(pipeline) ---------> shadowable?  which $lookup collections?
 *   agg_pushdown(pipeline) ------> filter of the leading $match stages
 *   SELECT candidates (superset)
 *   agg_run(pipeline, inputs) ---> result array | mongod's error | UNSUPPORTED
 *
 * Stages: $match (match.h), $project, $addFields/$set, $unset, $sort
 * (sortspec.h), $skip, $limit, $count, $group ($sum $avg $min $max $first
 * $last $push $addToSet $count), $unwind, $lookup (localField/foreignField
 * only).  Any other stage is AGG_UNSUPPORTED with reason "stage:$name";
 * $out and $merge are never executed.
 *
 * Order: input documents are taken as having no defined order (mongod's
 * natural order is not PostgreSQL's), and so is $group's output.  A stage
 * whose result would depend on an undefined order ($skip/$limit cutting
 * between documents a $sort leaves tied or unordered, $first/$last/$push
 * over unordered documents) is AGG_UNSUPPORTED "order:...".  agg_run can
 * hand back, per output document, a tie class: documents with the same
 * non-zero class may come in any order (compare them as a multiset).
 *
 * Memory: documents held by the pipeline are bounded by limits.max_bytes
 * (default 100 MiB, mongod's $group/$sort limit) and limits.max_docs.
 * Past them the run is AGG_UNSUPPORTED "limit:memory"/"limit:docs":
 * mongod >= 6.0 spills to disk by default and answers, older ones or
 * allowDiskUse:false fail with code 292; neither is reproduced here, and
 * our byte count is not mongod's estimate anyway.
 */
#ifndef TANDEM_AGGREGATE_H
#define TANDEM_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "aggexpr.h"

#define AGG_MAX_STAGES 1000  /* mongod's limit on pipeline length */
#define AGG_MAX_LOOKUPS 16

/* The documents of one collection: [0] is the aggregated collection, the
 * others are $lookup's foreign collections. */
struct agg_input {
	const char *coll;
	bson_t **docs;
	size_t n;
};

struct agg_limits {
	size_t max_docs;  /* documents in flight after any stage (0: 1,000,000) */
	size_t max_bytes; /* bytes of documents in flight (0: 100 MiB) */
};

/* What agg_check learnt. Collection names are views into the pipeline. */
struct agg_info {
	char reason[64]; /* AGG_UNSUPPORTED: stable reason code */
	const char *lookups[AGG_MAX_LOOKUPS];
	size_t nlookups;
	/* Arrays in the output whose element order mongod leaves unspecified:
	 * $addToSet results, and $lookup results (mongod's foreign scan order). */
	bool unordered_arrays;
};

/* Check a pipeline (a BSON array of stage documents) before any data:
 * AGG_OK when agg_run can compute it (data may still make it fail or be
 * unsupported); AGG_ERROR when mongod would reject it and we know the
 * error; AGG_UNSUPPORTED with info->reason (also in err->message). */
enum agg_status agg_check(const bson_t *pipeline, struct agg_info *info, bson_error_t *err)
	__attribute__((warn_unused_result));

/* Run the pipeline over in[0] (looking up in[1..nin) by name).  out must
 * be initialised by the caller (bson_init); on AGG_OK it holds the result
 * documents as an array {"0": doc, ...}.  When ties is non-NULL, *ties
 * receives a malloc'd array (free()) of one tie class per output document
 * (0: its position is defined).  limits may be NULL. */
enum agg_status agg_run(const bson_t *pipeline, const struct agg_input *in, size_t nin, const struct agg_limits *limits,
			bson_t *out, uint32_t **ties, bson_error_t *err) __attribute__((warn_unused_result));

/* The filter of the pipeline's leading $match stages ({} when there is
 * none, {$and: [...]} for several) into filter (initialised by the caller):
 * the documents agg_run needs are a subset of what it selects. */
bool agg_pushdown(const bson_t *pipeline, bson_t *filter) __attribute__((warn_unused_result));

#endif
