/*
 * metrics.h - process-wide counters, gauges and histograms, exported in the
 * Prometheus text format by the admin endpoint.
 *
 * Every plain metric is declared once in METRICS_COUNTERS / METRICS_GAUGES /
 * METRICS_AGES; the X-macro generates the enum, the exported name and the
 * help text, and the list it is in gives its TYPE.  Subsystems outside this
 * library (the flag cache, ...) update their cells here, so /metrics has
 * one renderer for every unlabelled metric.
 * Updates are relaxed atomic adds: cheap on the hot path, exact at scrape.
 * Labelled families (by opcode, command, protocol error) have fixed label
 * sets so a hostile client cannot grow the exposition.
 */
#ifndef TANDEM_METRICS_H
#define TANDEM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct evbuffer;

#define METRICS_COUNTERS(X)                                                                   \
	X(CLIENT_ACCEPTED, "client_connections_accepted_total", "Client connections accepted")  \
	X(CLIENT_CLOSED_ERROR, "client_connections_closed_error_total",                          \
	  "Client connections closed by tandem because of an error or a timeout")               \
	X(UPSTREAM_CONNECTS, "upstream_connects_total", "Upstream connections opened")           \
	X(UPSTREAM_CONNECT_ERRORS, "upstream_connect_errors_total",                              \
	  "Upstream connections that failed to open or to finish TLS")                          \
	X(UPSTREAM_ERRORS, "upstream_errors_total",                                              \
	  "Upstream connections lost or timed out with requests in flight")                     \
	X(UPSTREAM_NOT_PRIMARY, "upstream_not_primary_total",                                    \
	  "Replies from the upstream saying it is no longer primary")                           \
	X(TOPOLOGY_CHANGES, "topology_primary_changes_total", "Times the upstream primary changed") \
	X(HELLO_REWRITES, "hello_rewrites_total", "hello/isMaster replies rewritten to keep drivers on tandem") \
	X(CONFIG_RELOADS, "config_reloads_total", "Successful configuration reloads")             \
	X(CONFIG_RELOAD_ERRORS, "config_reload_errors_total", "Rejected configuration reloads") \
	X(DW_JOBS, "dualwrite_jobs_total", "Write commands captured for PostgreSQL")               \
	X(DW_CAPTURE_ERRORS, "dualwrite_capture_errors_total",                                   \
	  "Write commands or replies tandem could not read (outcome unknown, logged)")         \
	X(DW_APPLIED, "dualwrite_applied_total", "Write operations applied to PostgreSQL")       \
	X(DW_NOOPS, "dualwrite_noops_total", "Operations that changed nothing (e.g. n: 0)")      \
	X(DW_QUEUED, "dualwrite_queued_total", "Operations put in the durable queue")           \
	X(DW_SPOOLED, "dualwrite_spooled_total", "Operations put in the local spool (Redis down)") \
	X(DW_REPLAYED, "dualwrite_replayed_total", "Queued operations applied from the queue")   \
	X(DW_RESYNCS, "dualwrite_resyncs_total", "Documents re-read from MongoDB by _id")         \
	X(DW_DEAD_LETTERS, "dualwrite_dead_letters_total",                                        \
	  "Operations PostgreSQL rejected permanently, kept in the dead-letter list")             \
	X(DW_UNTRANSLATABLE, "dualwrite_untranslatable_total",                                   \
	  "Operations tandem cannot reproduce and cannot resync (logged)")                       \
	X(DW_DIVERGENCES, "dualwrite_divergences_total",                                          \
	  "Operations where PostgreSQL matched other documents than MongoDB reported (logged)")  \
	X(DW_ERRORS_TRANSIENT, "dualwrite_errors_transient_total",                                \
	  "PostgreSQL batches failed for a transient reason (queued, retried)")                  \
	X(DW_ERRORS_PERMANENT, "dualwrite_errors_permanent_total",                                \
	  "PostgreSQL batches failed for a permanent reason")                                     \
	X(DW_RETRIES_DEDUPED, "dualwrite_retries_deduplicated_total",                             \
	  "Retried writes (same lsid, txnNumber, stmtId) applied once")                          \
	X(DW_SERVED, "pgserve_writes_total",                                                       \
	  "Write commands PostgreSQL answered (write_mode pg_primary / pg_only)")                  \
	X(DW_SERVE_WRITE_ERRORS, "pgserve_write_errors_total",                                     \
	  "writeErrors in replies PostgreSQL answered (duplicate keys, constraints, invalid updates)") \
	X(DW_SERVE_FAILED, "pgserve_failed_total",                                                 \
	  "Served writes answered with an error because PostgreSQL was unavailable")               \
	X(DW_SERVE_RETRIES, "pgserve_retries_answered_total",                                      \
	  "Retried served writes answered from the retry cache, not applied again")                \
	X(DW_MIRRORED, "pgserve_mirrored_total", "pg_primary writes copied to MongoDB behind PostgreSQL") \
	X(DW_MIRROR_ERRORS, "pgserve_mirror_errors_total",                                         \
	  "pg_primary writes MongoDB did not take (logged; MongoDB lags PostgreSQL)")              \
	X(DW_OVERLAPS, "dualwrite_overlap_resyncs_total",                                        \
	  "Writes re-read from MongoDB: another write to the same document was at MongoDB with them, order unknown") \
	X(AUTHZ_NOT_SERVED, "authz_not_served_total",                                           \
	  "Requests tandem would answer from PostgreSQL sent to MongoDB: the connection is not known to be authorized") \
	X(AUTHZ_QUERIES, "authz_privilege_queries_total",                                       \
	  "connectionStatus questions tandem sent after an authentication or logout")            \
	X(AUTHZ_QUERY_ERRORS, "authz_privilege_query_errors_total",                             \
	  "connectionStatus answers that were errors or malformed (the connection stays UNKNOWN)") \
	X(SHADOW_RACED_DOCS, "shadow_raced_documents_total",                                      \
	  "Documents left out of a shadow comparison: a write MongoDB's answer may not hold reached PostgreSQL first") \
	X(SHADOW_TOLERATED, "shadow_tolerated_total",                                            \
	  "$sum/$avg double outputs within 4 ulps of MongoDB's, taken as equal (the only tolerance)") \
	X(SHADOW_REDIS_ERRORS, "shadow_redis_errors_total",                                        \
	  "Mismatch lines not kept in Redis (tandem:mismatches:<tenant>) because Redis failed")    \
	X(DW_TXN_COMMITTED, "dualwrite_transactions_committed_total", "Transactions applied at commit") \
	X(DW_TXN_ABORTED, "dualwrite_transactions_aborted_total", "Transactions discarded")       \
	X(DW_UNACKNOWLEDGED, "dualwrite_unacknowledged_total",                                    \
	  "Unacknowledged (w:0) writes: resynced by _id where known, else logged")               \
	X(FLAGS_REFRESHES, "flags_refreshes_total", "Successful reads of the Redis flags")        \
	X(FLAGS_REFRESH_ERRORS, "flags_refresh_errors_total",                                     \
	  "Failed connects and reads of the Redis flags")                                        \
	X(FLAGS_INVALID_VALUES, "flags_invalid_values_total",                                     \
	  "Flag values ignored because they do not parse")                                      \
	X(FLAGS_FULL_REFRESHES, "flags_full_refreshes_total",                                     \
	  "Full re-reads of the Redis flags (SCAN tandem:tenant:* + HGETALL each)")            \
	X(FLAGS_INVALIDATIONS, "flags_invalidations_total",                                       \
	  "Flag keys Redis reported changed (CLIENT TRACKING invalidations)")                   \
	X(FLAGS_REPAIRS, "flags_full_refresh_repairs_total",                                      \
	  "Flag changes only a full re-read found (a lost notification, or a write during it)") \
	X(INVALID_DB_NAMES, "invalid_database_names_total",                                       \
	  "Requests refused for an invalid database name (InvalidNamespace, code 73)") \
	X(SHIFT_GETMORES, "shift_getmores_total", "getMore commands tandem answered from its own cursors") \
	X(SHIFT_CURSORS_OPENED, "shift_cursors_opened_total", "Cursors tandem opened for served reads") \
	X(SHIFT_CURSORS_TIMED_OUT, "shift_cursors_timed_out_total", "Idle tandem cursors closed by the timeout") \
	X(SHIFT_CURSORS_KILLED, "shift_cursors_killed_total", "Tandem cursors closed by killCursors or their connection's end")

/* Counters of one family told apart by one label: X(id, family, label
 * value, help).  The entries of a family are consecutive; its HELP is the
 * first entry's.  They share enum metrics_counter with the plain ones. */
#define METRICS_LABELLED(X)                                                                   \
	X(TENANT_UNRESOLVED_NONE, "tenant_unresolved_total", "reason=\"none\"",                   \
	  "Requests whose tenant could not be resolved (served by MongoDB only), by reason")     \
	X(TENANT_UNRESOLVED_SEVERAL, "tenant_unresolved_total", "reason=\"several\"", "")          \
	X(TENANT_UNRESOLVED_UNMATCHED, "tenant_unresolved_total", "reason=\"unmatched\"", "")      \
	X(TENANT_UNRESOLVED_INVALID, "tenant_unresolved_total", "reason=\"invalid\"", "")          \
	X(TENANT_UNRESOLVED_TOO_LARGE, "tenant_unresolved_total", "reason=\"too_large\"", "")

#define METRICS_GAUGES(X)                                                                     \
	X(CLIENT_CONNECTIONS, "client_connections", "Client connections open")                   \
	X(UPSTREAM_CONNECTIONS, "upstream_connections", "Upstream connections open")             \
	X(REQUESTS_IN_FLIGHT, "requests_in_flight", "Requests forwarded and not yet answered")  \
	X(DW_PENDING, "dualwrite_pending", "Captured writes not yet applied or queued")           \
	X(DW_QUEUE_DEPTH, "dualwrite_queue_depth",                                                 \
	  "Operations waiting in the durable queue (Redis lists + spool) of this instance's tenants") \
	X(DW_QUEUED_TENANTS, "dualwrite_queued_tenants", "Tenants whose writes queue behind earlier ones") \
	X(FLAGS_TENANTS, "flags_tenants", "Tenants whose flags are cached")                       \
	X(FLAGS_REDIS_CONNECTED, "flags_redis_connected",                                          \
	  "1 while the flag refresher holds a Redis connection")                                 \
	X(FLAGS_TRACKING, "flags_tracking",                                                        \
	  "1 while Redis pushes flag invalidations (CLIENT TRACKING); 0: polling or down") \
	X(SHIFT_INFLIGHT, "shift_inflight", "Served reads handed to the served-read thread and not yet answered") \
	X(SHIFT_CURSORS_OPEN, "shift_cursors_open", "Tandem cursors open")                          \
	X(SHIFT_CURSOR_BYTES, "shift_cursor_bytes", "Bytes of documents held by open tandem cursors")

/* Gauges whose value is the seconds since a moment (metrics_age_mark),
 * computed at scrape time; -1 before the first mark. */
#define METRICS_AGES(X)                                                                       \
	X(FLAGS_AGE, "flags_age_seconds", "Seconds since the flags were last read (-1: never)")

enum metrics_counter {
#define METRICS_ENUM(id, name, help) METRIC_##id,
#define METRICS_ENUM_L(id, family, label, help) METRIC_##id,
	METRICS_COUNTERS(METRICS_ENUM)
	METRICS_LABELLED(METRICS_ENUM_L)
	METRIC_COUNTER_COUNT
#undef METRICS_ENUM_L
};

enum metrics_gauge {
	METRICS_GAUGES(METRICS_ENUM)
	METRIC_GAUGE_COUNT
};

enum metrics_age {
	METRICS_AGES(METRICS_ENUM)
	METRIC_AGE_COUNT
#undef METRICS_ENUM
};

enum metrics_dir { METRICS_IN = 0, METRICS_OUT = 1 };

void metrics_inc(enum metrics_counter c);
void metrics_add(enum metrics_counter c, uint64_t n);
void metrics_gauge_add(enum metrics_gauge g, int64_t delta);
void metrics_gauge_set(enum metrics_gauge g, int64_t value);
int64_t metrics_gauge_get(enum metrics_gauge g);

/* The moment an age counts from (wall clock, ms since the epoch; 0 = never),
 * and the last one marked. */
void metrics_age_mark(enum metrics_age a, uint64_t wall_ms);
uint64_t metrics_age_get(enum metrics_age a);
uint64_t metrics_counter_get(enum metrics_counter c);

/* One message of bytes bytes crossed tandem in direction dir ("in" = from
 * clients, "out" = from the upstream). */
void metrics_message(enum metrics_dir dir, int32_t opcode, size_t bytes);

/* A client command by name, in a request of bytes bytes; unknown names
 * count as "other".  Returns the index used, for metrics_latency. */
unsigned metrics_command(const char *name, size_t bytes);

/* Upstream round trip of one request, in microseconds. */
void metrics_latency(unsigned command_index, uint64_t usec);

/* Dual-write lag of one operation: MongoDB's reply to PostgreSQL commit. */
void metrics_dw_lag(uint64_t usec);

/* A rejected client message. */
void metrics_protocol_error(enum wire_status st);

/* Why a read of a tenant with read_pct > 0 went to MongoDB although its
 * bucket is served (tandem_shift_fallback_total{reason}). */
#define METRICS_SHIFT_FALLBACKS(X)                                                    \
	X(UNTRANSLATABLE, "untranslatable")   /* readexec / aggregate cannot compute it */ \
	X(INVALID_COMMAND, "invalid_command") /* MongoDB answers its own error */         \
	X(COLLATION, "collation")                                                      \
	X(TRANSACTION, "transaction")         /* txnNumber, autocommit, startTransaction */ \
	X(READ_CONCERN, "read_concern")       /* snapshot, linearizable, afterClusterTime... */ \
	X(TAILABLE, "tailable")               /* tailable / awaitData */                \
	X(EXHAUST, "exhaust")                 /* exhaustAllowed / moreToCome */          \
	X(OP_QUERY, "op_query")               /* legacy opcode reads */                  \
	X(TOO_LARGE, "too_large")             /* shift.max_rows / max_result_bytes */    \
	X(CURSOR_MEMORY, "cursor_memory")     /* shift.cursor_memory_max reached */      \
	X(PG_UNAVAILABLE, "pg_unavailable")   /* PostgreSQL down (connection-level) */   \
	X(PG_TIMEOUT, "pg_timeout")           /* shift.timeout_ms passed */              \
	X(PG_ERROR, "pg_error")               /* PostgreSQL refused the SELECT */        \
	X(BUSY, "busy")                       /* shift.max_inflight reached */           \
	X(BEHIND_WRITES, "behind_writes")     /* writes not yet in PostgreSQL (RYW) */   \
	X(QUEUED_WRITES, "queued_writes")     /* the durable queue is not empty */       \
	X(UNAUTHORIZED, "unauthorized")       /* authz_check != ALLOW */                 \
	X(TENANT_UNRESOLVED, "tenant_unresolved")                                      \
	X(INTERNAL_NAMESPACE, "internal_namespace") /* admin, local, config, system.* */ \
	X(UNAVAILABLE, "unavailable")         /* no served-read thread (no pg) */

#define METRICS_SF_ENUM(id, label) METRICS_SHIFT_##id,
enum metrics_shift_fallback { METRICS_SHIFT_FALLBACKS(METRICS_SF_ENUM) METRICS_SHIFT_FALLBACK_COUNT };
#undef METRICS_SF_ENUM

/* The label of r. */
const char *metrics_shift_fallback_str(enum metrics_shift_fallback r);
void metrics_shift_fallback(enum metrics_shift_fallback r);
uint64_t metrics_shift_fallback_get(enum metrics_shift_fallback r);

/* A routed read of tenant answered by PostgreSQL (pg) or MongoDB.  Series
 * per tenant only for tenants whose read_pct > 0 (set by an operator: a
 * client cannot create them), at most METRICS_SHIFT_TENANTS of them with
 * names of [A-Za-z0-9_.-]; every other read is counted as tenant "_other".
 * Reads of tenants at read_pct 0 are not routed and not counted here. */
#define METRICS_SHIFT_TENANTS 256
void metrics_shift_read(const char *tenant, bool pg);
/* Total of the series (both tenants' kinds) for backend pg or MongoDB. */
uint64_t metrics_shift_reads_get(bool pg);
/* The two families above, in the exposition (called by metrics_render). */
void metrics_shift_render(struct evbuffer *out);

/* Append the whole exposition (text format 0.0.4) to out. */
void metrics_render(struct evbuffer *out);

#endif
