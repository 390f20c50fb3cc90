/*
 * shmetrics.h - shadow-read metrics per tenant and collection, exported in
 * the Prometheus text format (appended to /metrics by the admin endpoint).
 *
 * Families: SHMETRICS_FAMILIES below, the one place their names, TYPE,
 * labels and HELP are written (one # HELP / # TYPE each, in that order).
 * Every series carries tenant and coll; mismatches add kind (the first
 * diff's), skipped and shed a reason, the latency histogram side ("mongo" |
 * "pg").  They are labelled, so they keep this renderer rather than the
 * plain METRICS_COUNTERS cells of metrics.h.
 *
 * Every sampled read is counted by shmetrics_read first and then ends in
 * exactly one of match, mismatch, skipped or shed, so ratios against
 * reads_total are meaningful (the alert rules in conf/prometheus rely on it).
 *
 * Invariants:
 *  - Thread-safe: one mutex guards all state (callers: the shadow runner
 *    thread and the worker threads).
 *  - Bounded: at most SHMETRICS_MAX_SERIES (tenant, coll) pairs, in order of
 *    first use; later pairs are counted under tenant="_other",coll="_other".
 *    Per family at most SHMETRICS_MAX_LABELS distinct kinds/reasons, later
 *    ones (and the value "other" itself) count as "other".  Label values
 *    longer than SHMETRICS_LABEL_MAX bytes are cut to that length.
 *  - Rendering escapes backslash, double quote and newline and replaces
 *    each byte that is not part of valid UTF-8 with U+FFFD, so no label value
 *    can break the exposition.
 *  - Latencies are in milliseconds; a negative or NaN value means "not
 *    measured" and is not observed.  Bucket bounds are inclusive (le).
 */
#ifndef TANDEM_SHMETRICS_H
#define TANDEM_SHMETRICS_H

struct evbuffer;

#define SHMETRICS_MAX_SERIES 1000
#define SHMETRICS_MAX_LABELS 64
#define SHMETRICS_LABEL_MAX 256
#define SHMETRICS_OTHER_SERIES "_other"
#define SHMETRICS_OTHER_LABEL "other"

/* id, name, TYPE, the label besides tenant and coll (NULL: none), HELP. */
#define SHMETRICS_FAMILIES(X)                                                                    \
	X(READS, "tandem_shadow_reads_total", "counter", NULL,                                   \
	  "Sampled reads that entered the shadow pipeline")                                      \
	X(MATCHES, "tandem_shadow_matches_total", "counter", NULL,                               \
	  "Shadow reads whose PostgreSQL answer equalled MongoDB's")                             \
	X(MISMATCHES, "tandem_shadow_mismatches_total", "counter", "kind",                       \
	  "Shadow reads whose PostgreSQL answer differed from MongoDB's, by first diff kind")    \
	X(SKIPPED, "tandem_shadow_skipped_total", "counter", "reason",                           \
	  "Sampled reads not compared (e.g. not translatable), by reason")                       \
	X(SHED, "tandem_shadow_shed_total", "counter", "reason",                                 \
	  "Sampled reads dropped under pressure, by reason")                                     \
	X(LATENCY, "tandem_shadow_latency_seconds", "histogram", "side",                         \
	  "Latency of the compared reads on MongoDB and on PostgreSQL")

enum shmetrics_family {
#define SHMETRICS_ENUM(id, name, type, label, help) SHMETRICS_##id,
	SHMETRICS_FAMILIES(SHMETRICS_ENUM)
#undef SHMETRICS_ENUM
	SHMETRICS_FAMILY_COUNT
};

/* A sampled read entered the shadow pipeline.  NULL tenant/coll = "". */
void shmetrics_read(const char *tenant, const char *coll);

/* The read compared equal; both latencies are observed. */
void shmetrics_match(const char *tenant, const char *coll, double mongo_ms, double pg_ms);

/* The read compared different; kind is the first diff's kind
 * (missing | extra | changed | type | error). */
void shmetrics_mismatch(const char *tenant, const char *coll, const char *kind, double mongo_ms,
			double pg_ms);

/* The read was not compared; reason is a short stable label
 * ("collation", "lag", "pg_error", ...). */
void shmetrics_skipped(const char *tenant, const char *coll, const char *reason);

/* The read was dropped under pressure ("queue_full", "inflight", "timeout"). */
void shmetrics_shed(const char *tenant, const char *coll, const char *reason);

/* Append every family (text format 0.0.4) to out. */
void shmetrics_render(struct evbuffer *out);

/* Forget every series and label (tests). */
void shmetrics_reset(void);

#endif
