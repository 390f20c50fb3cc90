/*
 * compare.h - the shadow-read comparator: MongoDB's answer against
 * PostgreSQL's (rows decoded back to BSON), as a list of differences.
 *
 * Pure: no I/O, no globals, deterministic (same inputs, same diffs in the
 * same order).  Inputs are trusted to be valid BSON (the caller validated
 * them); malformed nesting never reads out of bounds (libbson iterators)
 * and recursion stops at COMPARE_MAX_DEPTH (deeper values compare by bytes).
 *
 *   reply (mongo) --compare_reply_extract--> list  \
 *                                                    compare_lists --> result
 *   reply (pg)    --compare_reply_extract--> list  /     (diffs, counts)
 *
 * Normalisation (struct compare_opts):
 *   - numbers (int/long/double/decimal) equal by value; strict_types makes
 *     a different numeric type a "type" diff; float_epsilon (absolute,
 *     default 0 = exact) tolerates small differences;
 *   - any other type difference is a "type" diff (a date against a string
 *     or an int, null against undefined), except ObjectId against the string
 *     of its 24 hex digits (either case) when oid_as_string is on;
 *   - field order inside documents ignored unless ordered_fields; array
 *     order always kept;
 *   - ignore paths: dotted field names without array indices ("a.b" also
 *     covers every element of an array a); an entry matches that field and
 *     everything below it; an entry ending in '*' matches every path that
 *     starts with the text before the '*' ("tmp_*").
 *
 * Result sets: without key_cmp they are multisets.  With key_cmp (the sort
 * key order, <0/0/>0) both lists are walked in sort order; runs of equal
 * keys (ties) are multisets; documents left over are paired by _id across
 * runs (a changed sort key shows up as a field diff), and a PostgreSQL list
 * out of sort order gets one "changed" diff with note "order" (checked only
 * when MongoDB's list is in key_cmp order itself).
 * Inside a multiset, documents that both carry _id are matched by _id and
 * reported field by field; the others are matched by full equality and
 * reported whole as missing/extra.
 *
 * Diff paths (compare_diff_path), stable and readable:
 *   _id=ObjectId(64b7...).address.city     document matched by its _id
 *   _id="abc".items[2].price               string / number _ids likewise
 *   [3].address.city                       by position: the MongoDB index,
 *                                          or PostgreSQL's for "extra"
 *   [3]["a.b"].c                           keys that are empty or hold
 *                                          . [ ] " \ are quoted
 *   n, cursor.id, code                     reply-level fields
 * With redact, an _id that is not an ObjectId is replaced by the position.
 */
#ifndef TANDEM_SHADOW_COMPARE_H
#define TANDEM_SHADOW_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#define COMPARE_MAX_DIFFS_DEFAULT 20
#define COMPARE_MAX_DEPTH 100
#define COMPARE_LOC_MAX 96
#define COMPARE_FIELD_MAX 192

enum compare_kind {
	COMPARE_MISSING,	/* in MongoDB's answer, not in PostgreSQL's */
	COMPARE_EXTRA,		/* in PostgreSQL's answer only */
	COMPARE_CHANGED,	/* both have it, values differ */
	COMPARE_TYPE,		/* both have it, types differ */
	COMPARE_ERROR,		/* one side answered with an error */
};

const char *compare_kind_to_str(enum compare_kind k);

/* mongod's $type alias of t ("double", "string", "objectId", "int", ...). */
const char *compare_type_name(bson_type_t t);

/* Sort key order of two result documents, as the query's sort orders them. */
typedef int (*compare_key_fn)(const bson_t *a, const bson_t *b, void *arg);

struct compare_opts {
	bool strict_types;	/* int 1 vs double 1.0 is a "type" diff */
	bool oid_as_string;	/* ObjectId == string of its 24 hex digits */
	bool ordered_fields;	/* field order inside documents matters */
	bool tail_ties_loose;	/* the last tie run may differ in members
				 * (the list was cut by limit / batchSize) */
	double float_epsilon;	/* |a - b| <= epsilon is equal; 0: exact */
	const char *const *ignore;	/* ignore paths (see above) */
	size_t n_ignore;
	size_t max_diffs;	/* diffs kept; 0: COMPARE_MAX_DIFFS_DEFAULT */
	compare_key_fn key_cmp;	/* NULL: no sort, lists are multisets */
	void *key_arg;
};

struct compare_diff {
	enum compare_kind kind;
	char loc[COMPARE_LOC_MAX];	/* document: "_id=..." / "[i]" / "" */
	char loc_red[COMPARE_LOC_MAX];	/* the same with non-ObjectId _ids
					 * replaced by the position */
	char field[COMPARE_FIELD_MAX];	/* inside it: "a.b[2]" / "" */
	const char *mongo_type;	/* compare_type_name, "error", or NULL */
	const char *pg_type;	/* (NULL: absent on that side) */
	const char *note;	/* "order", "field order", "more", or NULL */
	bson_value_t mongo_val;	/* owned copies; BSON_TYPE_EOD when absent */
	bson_value_t pg_val;
};

struct compare_result {
	size_t mongo_n, pg_n;	/* results on each side */
	size_t diffs_total;	/* every difference found */
	size_t n_diffs;		/* kept in diffs[] (<= max_diffs) */
	bool truncated;		/* diffs_total > n_diffs */
	bool partial;		/* unsorted cut cursor: documents not compared */
	struct compare_diff *diffs;
};

/* A list of results: views (not copies) of values, usually documents. */
struct compare_list {
	bson_value_t *items;
	size_t n;
	bool more;		/* a cursor with more batches (id != 0) */
};

/* Compare two lists.  res is initialised here (free with
 * compare_result_free).  Returns true when no difference was found. */
bool compare_lists(const struct compare_list *mongo, const struct compare_list *pg,
		   const struct compare_opts *o, struct compare_result *res);

/* The same for plain document arrays (views: docs must outlive res). */
bool compare_docs(const bson_t *const *mongo, size_t mongo_n, const bson_t *const *pg,
		  size_t pg_n, const struct compare_opts *o, struct compare_result *res);

void compare_result_free(struct compare_result *res);

/* "<loc>.<field>" as in the scheme above (redact: loc_red); returns buf. */
const char *compare_diff_path(const struct compare_diff *d, bool redact, char *buf, size_t cap);

/* ---- whole replies (compare_reply.c) ---------------------------------- */

enum compare_reply_kind {
	COMPARE_REPLY_DOCS,	/* find / aggregate: cursor.firstBatch */
	COMPARE_REPLY_COUNT,	/* count: n */
	COMPARE_REPLY_VALUES,	/* distinct: values, always a multiset */
	COMPARE_REPLY_ERROR,	/* ok != 1: code, codeName, errmsg */
	COMPARE_REPLY_OTHER,	/* any other command: the reply without
				 * server-only fields, as one document */
};

struct compare_reply {
	enum compare_reply_kind kind;
	struct compare_list list;	/* DOCS, VALUES, OTHER (1 item) */
	int64_t count;			/* COUNT */
	int32_t code;			/* ERROR */
	const char *errmsg;		/* ERROR: view into the reply, or "" */
	bson_t other;			/* OTHER: owned stripped copy */
};

/* True for the reply fields only a server adds ($clusterTime,
 * operationTime, $configServerState, $gleStats, lastCommittedOpTime,
 * electionId, $topologyTime).  ok is not one of them. */
bool compare_server_field(const char *key);

/* The comparable part of a whole command reply for op ("find",
 * "aggregate", "count", "distinct", other).  Views point into reply, which
 * must outlive out.  False (err set) when the reply has the wrong shape. */
bool compare_reply_extract(const char *op, const bson_t *reply, struct compare_reply *out,
			   char *err, size_t errlen) __attribute__((warn_unused_result));

void compare_reply_free(struct compare_reply *r);

/* Extract both replies and compare them: an error on one side only is one
 * COMPARE_ERROR diff; errors on both compare their codes; counts compare
 * as numbers (path "n"); a cursor with more on one side only is a diff at
 * "cursor.id"; an unsorted cut cursor sets res->partial and compares only
 * that.  False (err set) when a reply cannot be read; else *equal says. */
bool compare_replies(const char *op, const bson_t *mongo_reply, const bson_t *pg_reply,
		     const struct compare_opts *o, struct compare_result *res, bool *equal,
		     char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
