/*
 * readexec.h - compute what mongod would answer to a read command, in C,
 * over candidate documents (a superset of the answer, e.g. rows fetched
 * from PostgreSQL with a pushed-down filter and decoded back to BSON).
 *
 *   cmd --readexec_plan--> plan (kind, coll, filter to push down, compiled
 *                          sort/projection) or a skip reason
 *   plan + docs --readexec_find/_count/_distinct--> result
 *   result --readexec_reply_*--> mongod's reply document
 *
 * Pure: no I/O, no globals.  Commands are untrusted: every field is type
 * checked, work is bounded (struct readexec_limits), errors are mongod's
 * codes and messages where mongod would fail the command.
 *
 * Plans hold views into cmd (filter, projection, sort, pipeline, names):
 * cmd must outlive the plan.  Documents must be valid BSON.
 *
 * Choices documented here:
 *  - `count` without `query`, `skip` and `limit` is estimatedDocumentCount
 *    (kind READEXEC_ESTIMATED_COUNT: every candidate counts);
 *  - aggregate is not executed here (kind READEXEC_AGGREGATE, pipeline as
 *    a view), except [$collStats {count: {}}, $group {_id: 1, n: {$sum:
 *    "$count"}}] (a driver's estimatedDocumentCount), READEXEC_COLLSTATS_COUNT;
 *  - the find command rejects a negative limit (51024) as mongod 7 does; a
 *    caller translating OP_QUERY may set plan.limit < 0 itself: then one
 *    batch of at most -limit documents, as the legacy protocol does;
 *  - distinct returns its values sorted in BSON order without duplicates
 *    (mongod collects them in an ordered set); compare them as a multiset
 *    anyway.
 */
#ifndef TANDEM_READEXEC_H
#define TANDEM_READEXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "project.h"
#include "sortspec.h"

#define READEXEC_ERROR_DOMAIN 7322

enum readexec_kind {
	READEXEC_FIND,
	READEXEC_COUNT,
	READEXEC_ESTIMATED_COUNT,
	READEXEC_DISTINCT,
	READEXEC_AGGREGATE,
	READEXEC_COLLSTATS_COUNT,
};

/* Why a read is not shadowed: X(name, metric label). */
#define READEXEC_SKIP_REASONS(X)                                      \
	X(NONE, "none")                                               \
	X(NOT_A_READ, "not_a_read")                                   \
	X(INVALID, "invalid_command")                                 \
	X(COLLECTION_UUID, "collection_uuid")                         \
	X(COLLATION, "collation")                                     \
	X(TAILABLE, "tailable")                                       \
	X(SORT_META, "sort_meta")                                     \
	X(NATURAL_ORDER, "natural_order")                             \
	X(TEXT, "text")                                               \
	X(GEO, "geo")                                                 \
	X(WHERE, "where")                                             \
	X(UNSUPPORTED_OPERATOR, "unsupported_operator")               \
	X(EXPR_UNSUPPORTED, "expr_unsupported")                       \
	X(PROJECTION_UNSUPPORTED, "projection_unsupported")           \
	X(LET, "let")                                                 \
	X(READ_CONCERN_SNAPSHOT, "read_concern_snapshot")             \
	X(AT_CLUSTER_TIME, "at_cluster_time")                         \
	X(TRANSACTION, "transaction")                                 \
	X(MIN_MAX, "min_max")                                         \
	X(RETURN_KEY, "return_key")                                   \
	X(SHOW_RECORD_ID, "show_record_id")                           \
	X(UNKNOWN_FIELD, "unknown_field")                             \
	X(TOO_LARGE, "too_large")

#define READEXEC_X_ENUM(name, label) READEXEC_SKIP_##name,
enum readexec_skip { READEXEC_SKIP_REASONS(READEXEC_X_ENUM) READEXEC_SKIP_COUNT };
#undef READEXEC_X_ENUM

/* Stable label for metrics ("collation", ...). */
const char *readexec_skip_str(enum readexec_skip r);

struct readexec_plan {
	enum readexec_kind kind;
	enum readexec_skip skip_reason; /* NONE when shadowable */
	const char *db;                 /* the caller's string */
	const char *coll;               /* view into cmd, NUL-terminated */
	bson_t filter;                  /* view (empty when absent): push down as a superset */
	bson_t projection, sort, pipeline; /* views (empty when absent) */
	const char *key;                /* distinct */
	int64_t skip, limit;            /* limit 0: none; < 0: single batch of -limit (OP_QUERY) */
	int64_t batch_size;             /* -1: mongod's default (101 for the first batch) */
	bool single_batch, allow_disk_use;
	struct sortspec *sortc;         /* NULL without sort */
	struct project *projc;          /* NULL without projection */
};

struct readexec_limits {
	size_t max_docs;      /* candidates accepted (default 1,000,000) */
	size_t max_result;    /* bytes of a result (default 64 MiB) */
	size_t sort_memory;   /* in-memory sort without allowDiskUse (mongod: 100 MiB) */
};

/* The defaults above. */
struct readexec_limits readexec_default_limits(void);

/* Plan cmd (the command document, first key the command name) for db.
 * true: shadowable, out filled (free with readexec_plan_free).  false:
 * out->skip_reason says why; err has mongod's code and message when the
 * reason is INVALID (mongod would fail the command).  out is always safe
 * to free. */
bool readexec_plan(const bson_t *cmd, const char *db, struct readexec_plan *out, bson_error_t *err)
	__attribute__((warn_unused_result));

void readexec_plan_free(struct readexec_plan *plan);

/* find: filter, sort, skip, limit, projection over docs[0..n); out_array
 * (initialised here, caller destroys) gets ALL resulting documents.
 * false: err has mongod's code (e.g. 292, 2 parallel arrays, 51246) or a
 * tandem limit (domain READEXEC_ERROR_DOMAIN, code 0: not mongod's). */
bool readexec_find(const struct readexec_plan *plan, bson_t *const *docs, size_t n, const struct readexec_limits *lim,
		   bson_t *out_array, bson_error_t *err) __attribute__((warn_unused_result));

/* count / estimated count: filter, skip, limit (|limit|, as mongod). */
bool readexec_count(const struct readexec_plan *plan, bson_t *const *docs, size_t n,
		    const struct readexec_limits *lim, int64_t *count, bson_error_t *err)
	__attribute__((warn_unused_result));

/* distinct: the values at plan->key of the matching docs (arrays unwound
 * one level, through arrays of documents), deduplicated with MongoDB
 * equality, sorted in BSON order.  out_array initialised here. */
bool readexec_distinct(const struct readexec_plan *plan, bson_t *const *docs, size_t n,
		       const struct readexec_limits *lim, bson_t *out_array, bson_error_t *err)
	__attribute__((warn_unused_result));

/* {cursor: {firstBatch: [...], id: Int64(0), ns: "db.coll"}, ok: 1.0}:
 * the first batch_size documents (plan's, default 101) within 16 MiB. */
void readexec_reply_find(const struct readexec_plan *plan, const bson_t *docs_array, bson_t *reply);
/* {n: count (int32 when it fits), ok: 1.0} */
void readexec_reply_count(int64_t count, bson_t *reply);
/* {values: [...], ok: 1.0} */
void readexec_reply_distinct(const bson_t *values_array, bson_t *reply);
/* {cursor: {firstBatch: [{_id: 1, n: count}], id: 0, ns}, ok: 1.0} */
void readexec_reply_collstats_count(const struct readexec_plan *plan, int64_t count, bson_t *reply);
/* {ok: 0.0, errmsg, code, codeName} from err (mongod codes). */
void readexec_reply_error(const bson_error_t *err, bson_t *reply);

#endif
