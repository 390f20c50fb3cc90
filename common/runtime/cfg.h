/*
 * cfg.h - tandem's configuration: one struct, described by one table.
 *
 * The same table (cfg.c) serves the YAML file, the command-line flags
 * (--key-with-dashes), --help and the reload logic.  Nested YAML mappings
 * are flattened with dots: `tls: {cert_file: x}` is key "tls.cert_file",
 * flag --tls-cert-file.  A list key (shadow.collections) is the exception:
 * its mapping `{orders: 10, users: 0.5}` is its value, "orders=10,users=0.5".
 *
 * Each key has a kind (integer range, boolean, address, one of a set of
 * words, percentage, NAME=PERCENT list, Redis URL, free string) and cfg_set
 * refuses a value that does not fit it, from the file and from a flag
 * alike; the struct holds only values that passed.
 *
 * Reload (SIGHUP) parses into a fresh struct, validates it, then copies the
 * keys marked reloadable into the live struct; integer keys are atomics so
 * worker threads read them without locks.  Other keys that changed are
 * reported as needing a restart and keep their old value.
 */
#ifndef TANDEM_CFG_H
#define TANDEM_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cfg {
	char *listen;               /* HOST:PORT for clients */
	char *unix_socket;          /* path of a unix listener, "" for none */
	char *mongo_uri;            /* the MongoDB upstream */
	char *advertise;            /* HOST:PORT announced to drivers in hello */
	char *admin;                /* HOST:PORT of /metrics and /healthz, "" for none */
	char *pg;                   /* libpq conninfo (dual-write, later issues) */
	char *redis;                /* redisurl.h syntax; "" = no Redis */
	char *mapping;              /* mapping.yaml path (later issues) */
	int64_t workers;            /* event loop threads; 0 = one per core */
	_Atomic int64_t max_message_bytes;
	_Atomic int64_t connect_timeout_ms;
	_Atomic int64_t idle_timeout_ms;   /* 0 = never */
	_Atomic int64_t frame_timeout_ms;  /* a started frame must complete within */
	_Atomic int64_t drain_timeout_ms;  /* SIGTERM: wait for in-flight requests */
	_Atomic int64_t authz_refresh_ms;  /* cached privileges older than this are asked again */
	char *log_level;
	char *log_file;             /* "" = stderr */
	char *tls_cert_file;        /* client-facing TLS when set */
	char *tls_key_file;
	char *tls_ca_file;          /* when set, clients must present a certificate */
	char *upstream_tls_ca_file;
	char *upstream_tls_cert_file;
	char *upstream_tls_key_file;
	bool upstream_tls_insecure; /* skip certificate and host name checks */
	char *default_write_mode;   /* flags for tenants without Redis flags; one of the 4 modes */
	char *default_read_pct;     /* "0".."100", decimals allowed (pct_parse) */
	char *default_shadow_pct;
	int64_t flags_poll_ms;      /* full re-read period without invalidations */
	bool flags_tracking;        /* follow changes by CLIENT TRACKING invalidations */
	int64_t flags_full_refresh_ms; /* fallback full re-read period with invalidations */
	int64_t dw_pool_size;       /* PostgreSQL connections of the applier */
	int64_t dw_batch_max;       /* inserts coalesced into one transaction */
	char *dw_spool_path;        /* local spool when Redis is down too */
	char *dw_spool_fsync;       /* always | batch | never */
	char *dw_node_id;           /* names this instance in queue entries; "" = host:pid */
	int64_t dw_drain_interval_ms; /* how often queued tenants are retried */
	int64_t dw_timeout_ms;      /* one PostgreSQL batch in flight at most */
	int64_t sh_pool_size;       /* PostgreSQL connections of the shadow runner */
	int64_t sh_max_inflight;    /* shadow queries running at once */
	int64_t sh_queue_max;       /* shadow jobs waiting; more are shed */
	int64_t sh_timeout_ms;      /* one shadow query, queueing included */
	int64_t sh_max_rows;        /* candidate rows read for one shadow query */
	int64_t sh_max_rate;        /* shadow reads started per second at most (0: no cap) */
	char *sh_collections;       /* per-collection ceilings: "orders=10,users=0.5" (pct_list_parse) */
	char *sh_ignore_paths;      /* "coll:dotted.path,*:path" */
	bool sh_log_values;         /* mismatch lines carry values (default: redacted) */
	int64_t sh_log_rate;        /* mismatch lines per second per tenant */
	int64_t sh_redis_keep;      /* mismatches kept per tenant in Redis */
	bool sh_calibrate;          /* compare MongoDB with itself (noise) */
	bool sh_strict_types;       /* 1 vs 1.0 is a mismatch */
	/* tenant: which tenant a request belongs to (shift/tenant.h) */
	char *tenant_from;          /* database | field */
	char *tenant_regex;         /* database mode: PCRE2 with one capture group; "" = the whole name */
	char *tenant_field;         /* field mode: the field naming the tenant */
	char *tenant_default;       /* tenant of unmatched requests; "" = none */
	/* shift: reads served by PostgreSQL (shift/shift.h) */
	char *sf_sticky;            /* request | connection | session */
	int64_t sf_pool_size;       /* PostgreSQL connections of the served-read thread */
	int64_t sf_max_inflight;    /* served reads waiting or running */
	int64_t sf_timeout_ms;      /* one served read; later: MongoDB */
	int64_t sf_max_rows;        /* candidate rows of one served read */
	int64_t sf_max_result_bytes; /* bytes of one served result */
	int64_t sf_cursor_timeout_ms; /* idle tandem cursor */
	int64_t sf_cursor_memory_max; /* bytes of every tandem cursor together */
	int64_t sf_ryw_wait_ms;     /* wait for the applier (0: go to MongoDB) */
};

/* Fill every field with its default.  Strings are malloc'd. */
void cfg_init(struct cfg *c);
void cfg_free(struct cfg *c);

/* Set key (dotted) from its textual value, parsing and range-checking it.
 * On failure writes "key 'K': reason" into err. */
bool cfg_set(struct cfg *c, const char *key, const char *value, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Whether key takes a NAME=VALUE list, which a YAML file may write as a
 * mapping of NAME: VALUE (cfg_load_file joins it for cfg_set). */
bool cfg_key_is_list(const char *key);

/* Read a YAML file on top of the current values.  Errors name the file,
 * line and key: "tandem.yaml:7: key 'workers': not an integer". */
bool cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Cross-key checks (required keys, TLS pairs, host:port syntax). */
bool cfg_validate(const struct cfg *c, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Parse argv: --config FILE first (file read before flags), then every
 * --key value / --key=value on top.  *action is set to CFG_ACTION_RUN,
 * _HELP or _VERSION.  The flag values are kept in *overrides (key=value
 * pairs) so a reload can apply them again.
 */
enum cfg_action { CFG_ACTION_RUN, CFG_ACTION_HELP, CFG_ACTION_VERSION };

struct cfg_overrides {
	const char *config_path;
	size_t n;
	const char *keys[64];
	const char *values[64];
};

bool cfg_parse_args(int argc, char **argv, struct cfg_overrides *ov, enum cfg_action *action,
		    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Defaults, then the file named in ov, then the flags in ov, then validate. */
bool cfg_build(struct cfg *c, const struct cfg_overrides *ov, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Copy reloadable keys from fresh into live; for every other key that differs,
 * call changed_restart(key).  Returns the number of keys applied. */
unsigned cfg_apply_reload(struct cfg *live, const struct cfg *fresh,
			  void (*changed_restart)(const char *key));

/* The i-th key of the table with its default and help, or NULL past the end. */
const char *cfg_key_at(size_t i, const char **def, const char **help, bool *reloadable);

/* --help text: every key with its flag, default and description. */
void cfg_print_help(FILE *out, const char *prog);

/* Split "host:port" or "[v6]:port"; host copied into hostbuf. */
bool cfg_split_hostport(const char *s, char *hostbuf, size_t hostlen, uint16_t *port)
	__attribute__((warn_unused_result));

#endif
