/*
 * mismatch.h - the shadow-mismatch log line (BRIEF "Mismatch log"): one
 * JSON object, built from a comparison result, plus the per-tenant rate
 * limiter that decides whether a line is written.
 *
 * Pure: the caller passes the clock and writes the line (to the log and to
 * the tenant's capped Redis list).  The line is valid JSON and valid UTF-8
 * whatever the keys and values hold: strings are escaped with
 * jsonesc_quoted (common/runtime/jsonesc.h), which writes bytes that are
 * not UTF-8 as \u00XX.
 *
 *   {"ts":"2024-05-01T12:00:00.123Z","level":"warn","event":"shadow_mismatch",
 *    "tenant":"acme","db":"acme","coll":"orders","op":"find",
 *    "shape":{"status":"<string>","total":{"$gt":"<int>"}},
 *    "mongo_n":3,"pg_n":3,
 *    "diff":[{"path":"_id=ObjectId(...).total","kind":"changed",
 *             "mongo_type":"double","pg_type":"int"}],
 *    "diffs_total":1,"truncated":false,"mongo_ms":1.250,"pg_ms":3.500,
 *    "request_id":"r-17","suppressed":4}
 *
 * Redaction (the default): the shape keeps keys and operators and replaces
 * every scalar by "<type>"; a diff carries no value, only lengths where
 * they exist (mongo_len / pg_len: bytes of a string, symbol, code or binary,
 * elements of an array or document) and a path whose non-ObjectId _id is
 * replaced by the position.  With full_values, a diff adds mongo_value /
 * pg_value as canonical Extended JSON (each at most MISMATCH_VALUE_MAX
 * bytes, else {"$truncated": "<prefix>", "bytes": N}).
 * "suppressed" appears only when lines were suppressed before this one;
 * "partial" only when the comparison was partial; "note" only when set.
 */
#ifndef TANDEM_SHADOW_MISMATCH_H
#define TANDEM_SHADOW_MISMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "compare.h"

#define MISMATCH_SHAPE_MAX 2048	/* shape text budget (bytes, roughly) */
#define MISMATCH_SHAPE_DEPTH 32	/* deeper shape levels become "<object>" */
#define MISMATCH_VALUE_MAX 1024	/* one logged value's JSON, bytes */

struct mismatch_event {
	int64_t ts_ms;		/* wall clock, ms since the Unix epoch (UTC) */
	const char *tenant, *db, *coll, *op, *request_id; /* NULL: "" */
	const bson_t *query;	/* filter / pipeline holder, NULL: {} */
	bool query_is_array;	/* query's bytes are an array (a pipeline) */
	double mongo_ms, pg_ms;
	uint64_t suppressed;	/* from mismatch_limiter_take */
	bool full_values;	/* config: log values (default: redacted) */
};

/* Build the line (no newline).  Returns a NUL-terminated string to free
 * with bson_free; *len (when not NULL) gets its length. */
char *mismatch_line(const struct mismatch_event *ev, const struct compare_result *res,
		    size_t *len) __attribute__((warn_unused_result));

/* Append the redacted shape of a query (document, or array when is_array)
 * to out as JSON; NULL appends {}. */
void mismatch_shape(bson_string_t *out, const bson_t *query, bool is_array);

/* Append s[0..len) as a quoted JSON string (jsonesc_quoted into out;
 * NULL s appends ""). */
void mismatch_json_str(bson_string_t *out, const char *s, size_t len);

/* ---- rate limiter (mismatch_limit.c) ------------------------------------
 * A token bucket per tenant: per_sec lines a second, up to burst at once.
 * At most max_tenants buckets; later tenants share one overflow bucket.
 * Not thread-safe: one limiter per thread (or the caller's lock). */
struct mismatch_limiter;

/* per_sec <= 0: no limit.  burst < 1 counts as 1. */
struct mismatch_limiter *mismatch_limiter_new(double per_sec, double burst, size_t max_tenants);
void mismatch_limiter_free(struct mismatch_limiter *l);

/* May tenant's line be written at now_ms (any monotonic ms clock)?  When
 * true, *suppressed gets the lines refused for this tenant since its last
 * written line (and the count restarts); when false, the refusal is
 * counted. */
bool mismatch_limiter_take(struct mismatch_limiter *l, const char *tenant, int64_t now_ms,
			   uint64_t *suppressed) __attribute__((warn_unused_result));

#endif
