/*
 * flags.h - the per-tenant flag cache, fed from Redis.
 *
 * Worker threads ask flags_get(tenant) on every request; the answer comes
 * from memory under a read lock, never from Redis.  One refresher thread
 * (flags_refresh.c) keeps the memory current by reacting to each change:
 *
 *   redis-cli HSET tandem:tenant:acme read_pct 25
 *     │ Redis: CLIENT TRACKING BCAST invalidation ─▶ __redis__:invalidate
 *     ▼                                                │ (sub connection)
 *   refresher ──HGETALL tandem:tenant:acme (that key only)◀┘
 *     │         every flags.full_refresh_ms: SCAN tandem:tenant:* + HGETALL
 *     └─wrlock─▶ table: one entry per tenant WITH a hash ◀─rdlock── flags_get
 *
 * Precedence, field by field: the tenant's hash, then tandem:defaults, then
 * the config (defaults.*), then the built-in mongo_only / 0 / 0 / "".
 * A value that does not parse is ignored (that field falls to the next
 * level) and logged at most once a minute per key and field.
 *
 * Invariants:
 * - flags_get never blocks on Redis, never allocates and never wakes the
 *   refresher: a tenant without a hash in Redis reads the defaults, so
 *   names chosen by clients cannot grow the table.  At most
 *   FLAGS_TENANTS_MAX entries (tenants with a hash).
 * - A Redis outage keeps the last known flags; the refresher reconnects
 *   with a bounded backoff, counts the errors, re-enables tracking and runs
 *   a full refresh on reconnect.
 * - Without a Redis URL there is no thread: every tenant gets the config
 *   defaults.
 *
 * The pure helpers (value parsers, flags_layer_set, flags_merge) touch no
 * global state; tests and tandemctl use them.  The Redis URL (its database
 * included) is read by redisurl_parse and opened by redisconn_open.
 */
#ifndef TANDEM_FLAGS_H
#define TANDEM_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;

#define FLAGS_TENANTS_MAX 100000u
#define FLAGS_TENANT_NAME_MAX 255u
#define FLAGS_PHASE_LEN 16u
#define FLAGS_CHANNEL "tandem:flags"
#define FLAGS_DEFAULTS_KEY "tandem:defaults"
#define FLAGS_TENANT_PREFIX "tandem:tenant:"

enum flags_write_mode { FLAGS_WM_MONGO_ONLY, FLAGS_WM_DUAL_WRITE, FLAGS_WM_PG_PRIMARY, FLAGS_WM_PG_ONLY };

/* What a request sees.  version: the refresh in which this tenant's
 * effective flags last changed (0 = never seen from Redis). */
struct flags_view {
	enum flags_write_mode write_mode;
	double read_pct, shadow_pct;
	char phase[FLAGS_PHASE_LEN]; /* "" when no level sets it */
	uint64_t version;
};

struct flags_stats {
	uint64_t last_ok_ms;      /* last successful read, ms since epoch; 0 = never */
	uint64_t refreshes;       /* successful reads (full or of changed keys) */
	uint64_t full_refreshes;  /* successful full refreshes (SCAN + HGETALL each) */
	uint64_t refresh_errors;  /* failed connects and reads */
	uint64_t invalid_values;  /* values ignored (did not parse), counted per read */
	uint64_t invalidations;   /* keys Redis reported changed */
	uint64_t repairs;         /* changes only a periodic full refresh found */
	uint64_t messages;        /* tandem:flags messages received */
	uint64_t tenants;         /* tenants in the table (those with a hash) */
	uint64_t tenants_refused; /* bad names looked up, hashes past the cap */
	bool connected;           /* the refresher holds a working connection */
	bool tracking;            /* Redis pushes invalidations (else: polling) */
};

/* The fields of one hash, in the order of the bits of flags_layer.set. */
enum flags_field { FLAGS_F_READ_PCT, FLAGS_F_WRITE_MODE, FLAGS_F_SHADOW_PCT, FLAGS_F_PHASE, FLAGS_F_COUNT };

/* Which level an effective field came from. */
enum flags_source { FLAGS_SRC_BUILTIN, FLAGS_SRC_CONFIG, FLAGS_SRC_DEFAULTS, FLAGS_SRC_TENANT };

/* One level's parsed fields; a field counts only if its bit is in set. */
struct flags_layer {
	unsigned set;
	enum flags_write_mode write_mode;
	double read_pct, shadow_pct;
	char phase[FLAGS_PHASE_LEN];
};

enum flags_set_result { FLAGS_SET_OK, FLAGS_SET_UNKNOWN_FIELD, FLAGS_SET_INVALID };

/* Start the refresher thread (NULL/"" redis_url: config defaults only, no
 * thread).  cfg may be NULL (built-in defaults, tracking on, full refresh
 * every 30 s).  Fails on a bad URL or config value, or if already started. */
bool flags_start(const char *redis_url, const struct cfg *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The flags of tenant (its own hash field by field over tandem:defaults over
 * the config defaults); a tenant without a hash gets the defaults.  No
 * allocation, no Redis.  Thread-safe. */
void flags_get(const char *tenant, struct flags_view *out);

/* Stop and join the refresher, forget the tenants; flags_get then answers
 * the built-in defaults.  Call once no worker uses the cache. */
void flags_stop(void);

/* A snapshot of the counters.  The exported ones (tandem_flags_* on
 * /metrics) are METRIC_FLAGS_* cells of metrics.h, rendered with the
 * other plain metrics; messages and tenants_refused are only here. */
void flags_stats(struct flags_stats *out);

const char *flags_write_mode_to_str(enum flags_write_mode m);
bool flags_write_mode_parse(const char *s, enum flags_write_mode *out)
	__attribute__((warn_unused_result));
const char *flags_field_name(enum flags_field f);
const char *flags_source_to_str(enum flags_source s);

bool flags_write_mode_parse_n(const char *s, size_t len, enum flags_write_mode *out)
	__attribute__((warn_unused_result));
/* One of planning, backfill, dual_write, shadow, shifting, pg_primary, cleanup. */
bool flags_phase_valid(const char *s, size_t len) __attribute__((warn_unused_result));

/* Parse one hash field into layer.  *field gets the field (when known).
 * An unknown field name is ignored; an invalid value leaves layer as it was. */
enum flags_set_result flags_layer_set(struct flags_layer *layer, const char *name, size_t name_len,
				      const char *val, size_t val_len, enum flags_field *field);

/* Effective flags: tenant over defaults over base, field by field (either
 * layer may be NULL).  out->version = base->version.  src (may be NULL) gets
 * the level of each field; base fields are reported as base_src. */
void flags_merge(const struct flags_layer *tenant, const struct flags_layer *defaults,
		 const struct flags_view *base, enum flags_source base_src, struct flags_view *out,
		 enum flags_source src[FLAGS_F_COUNT]);

/* The config's defaults.* as a view (cfg NULL: built-in defaults). */
bool flags_base_from_cfg(const struct cfg *cfg, struct flags_view *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
