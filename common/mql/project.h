/*
 * project.h - find projections with mongod 7/8 semantics, in C.
 *
 * Compile once (project_compile), apply per document (project_apply).
 * Follows mongod's projection AST (projection_parser.cpp) and executors:
 *  - inclusion {a: 1, "b.c": 1}: fields kept in document order, through
 *    embedded documents and arrays of documents (scalars inside arrays
 *    dropped), _id kept unless {_id: 0} or an "_id.x" path is named;
 *  - exclusion {a: 0}: everything else kept; no mixing except _id
 *    (31253/31254 as mongod);
 *  - sub-objects {a: {b: 1}} == {"a.b": 1}; path collisions 31249/31250;
 *  - literals (MongoDB 4.4+): {a: "x"}, {a: null}, {a: {$literal: v}}
 *    set a value (computed fields come after the kept fields, in spec
 *    order); an expression this module cannot evaluate ({a: "$b"},
 *    {a: {$add: ...}}, $meta) makes the whole projection UNSUPPORTED;
 *  - $slice: n, -n, [skip, n] on the post-image, in place;
 *  - $elemMatch (top level only): the first matching element, as a
 *    computed field;
 *  - positional "a.$" / "a.b.$": the element whose index the filter's
 *    match recorded (match_result.pos); 51246/51247 when there is none.
 *
 * err->domain is PROJECT_ERROR_DOMAIN and err->code mongod's error code
 * for PROJECT_ERROR; PROJECT_UNSUPPORTED says why in err->message.
 */
#ifndef TANDEM_PROJECT_H
#define TANDEM_PROJECT_H

#include <stdbool.h>

#include <bson/bson.h>

#include "match.h"

#define PROJECT_ERROR_DOMAIN 7321

enum project_status {
	PROJECT_OK = 0,
	PROJECT_ERROR = -1,       /* mongod would reject the projection (or fail the query) */
	PROJECT_UNSUPPORTED = -2, /* valid for mongod, not evaluated here */
};

struct project;

/* Compile spec (the find command's `projection`).  filter is the query
 * (for positional projections; NULL when there is none).  An empty spec
 * compiles to the identity.  *out is NULL unless PROJECT_OK. */
enum project_status project_compile(const bson_t *spec, const bson_t *filter, struct project **out,
				    bson_error_t *err) __attribute__((warn_unused_result));

/* Does the projection need the filter's match_result (positional)? */
bool project_needs_match(const struct project *p);

/* Project doc into out (always initialised here; the caller destroys it).
 * mr: the match_result of the filter on doc (may be NULL without a
 * positional projection).  doc must be valid BSON. */
enum project_status project_apply(const struct project *p, const bson_t *doc, const struct match_result *mr,
				  bson_t *out, bson_error_t *err) __attribute__((warn_unused_result));

void project_free(struct project *p);

#endif
