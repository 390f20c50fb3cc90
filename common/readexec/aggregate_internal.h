/*
 * aggregate_internal.h - pieces of the pipeline runner shared by its files:
 *
 *   aggregate.c          agg_check, agg_run, agg_pushdown, the stream
 *   aggregate_stages.c   $match $skip $limit $count $sort $unwind $lookup
 *   aggregate_project.c  $project $addFields/$set $unset
 *   aggregate_group.c    $group and its accumulators
 *
 * Between stages the documents flow as a stream of owned bson_t, each with
 * a tie class (see aggregate.h): 0 when its position is defined, else the
 * same number for documents whose relative order mongod leaves open.
 */
#ifndef TANDEM_AGGREGATE_INTERNAL_H
#define TANDEM_AGGREGATE_INTERNAL_H

#include "aggexpr.h"
#include "aggregate.h"

struct agg_item {
	bson_t *doc;
	uint32_t tie;
};

struct agg_stream {
	struct agg_item *v;
	size_t n, cap;
	size_t bytes;
};

struct agg_run {
	struct agg_stream s;
	const struct agg_input *in;
	size_t nin;
	size_t max_docs, max_bytes;
	uint32_t next_tie; /* next fresh tie class */
	bool size_only;    /* the stages after this one depend only on how many
	                    * documents pass, not which: a cut between ties is fine */
	bson_error_t *err;
};

typedef enum agg_status (*agg_stage_check_fn)(const bson_value_t *arg, struct agg_info *info, bson_error_t *err);
typedef enum agg_status (*agg_stage_run_fn)(const bson_value_t *arg, struct agg_run *r);

struct agg_stage {
	const char *name;
	agg_stage_check_fn check;
	agg_stage_run_fn run;
};

/* aggregate.c: the stream.  push takes ownership of doc (destroyed on
 * failure), enforcing the limits. */
enum agg_status agg_stream_push(struct agg_run *r, struct agg_stream *s, bson_t *doc, uint32_t tie);
void agg_stream_clear(struct agg_stream *s);
/* Replace r->s by s (the old stream is cleared). */
void agg_stream_swap(struct agg_run *r, struct agg_stream *s);
enum agg_status agg_unsupported(bson_error_t *err, const char *reason);
/* A non-negative whole number from int32/int64/integral double. */
bool agg_whole(const bson_value_t *v, int64_t *out);
/* Set a dotted path (no arrays crossed: parents that are not documents
 * are replaced by documents) in a copy of doc; value missing removes. */
enum agg_status agg_set_path(const bson_t *doc, const char *path, const bson_value_t *value, bson_t *out,
			     bson_error_t *err);
/* The value at a dotted path through documents only (mongod's
 * Document::getNestedField); missing: BSON_TYPE_EOD. */
void agg_get_path(const bson_t *doc, const char *path, bson_value_t *out);

/* stage tables */
extern const struct agg_stage agg_stages_basic[];
extern const struct agg_stage agg_stages_project[];
extern const struct agg_stage agg_stages_group[];

#endif
