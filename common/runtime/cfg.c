/*
 * cfg.c - the configuration table and its three readers: YAML file,
 * command line, reload (see cfg.h).
 *
 * Every entry has a kind (enum cfg_type) and cfg_set checks a value against
 * it before storing anything, so a bad value is refused where it is read
 * (file line or flag), never later at start-up.  Words of the enum kinds are
 * in cfg_words; percentages and NAME=PCT lists are pct.h's grammar, Redis
 * URLs redisurl.h's.
 */
#include "cfg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "errbuf.h"
#include "log.h"
#include "pct.h"
#include "redisurl.h"

enum cfg_type {
	CFG_STR,        /* any string */
	CFG_ADDR,       /* HOST:PORT, or "" when optional */
	CFG_INT,        /* int64 within [min, max] */
	CFG_BOOL,       /* true/false/yes/no/on/off/1/0 */
	CFG_LOGLEVEL,   /* debug|info|warn|error (log_level_parse) */
	CFG_WRITE_MODE, /* one of cfg_words[CFG_WRITE_MODE] */
	CFG_FSYNC,      /* one of cfg_words[CFG_FSYNC] */
	CFG_STICKY,     /* one of cfg_words[CFG_STICKY] */
	CFG_PCT,        /* a percentage (pct_parse): 0..100, plain decimal */
	CFG_PCT_LIST,   /* NAME=PCT,... (pct_list_parse), at most max items; a map in the file */
	CFG_REDIS_URL,  /* redisurl_parse, or "" for none */
	CFG_TENANT_FROM, /* one of cfg_words[CFG_TENANT_FROM] */
};

/* The words each enum kind accepts, NULL-terminated. */
static const char *const cfg_write_modes[] = {"mongo_only", "dual_write", "pg_primary", "pg_only", NULL};
static const char *const cfg_fsyncs[] = {"always", "batch", "never", NULL};
static const char *const cfg_tenant_froms[] = {"database", "field", NULL};
static const char *const cfg_stickies[] = {"request", "connection", "session", NULL};
static const char *const *const cfg_words[] = {
	[CFG_WRITE_MODE] = cfg_write_modes,
	[CFG_FSYNC] = cfg_fsyncs,
	[CFG_TENANT_FROM] = cfg_tenant_froms,
	[CFG_STICKY] = cfg_stickies,
};

#define CFG_RELOAD 0x1   /* applied by SIGHUP without restart */
#define CFG_ATOMIC 0x2   /* the field is an _Atomic int64_t */

struct cfg_entry {
	const char *key;
	enum cfg_type type;
	size_t offset;
	unsigned flags;
	const char *def;
	int64_t min, max;
	const char *help;
};

#define F(field) offsetof(struct cfg, field)

static const struct cfg_entry cfg_table[] = {
	{"listen", CFG_ADDR, F(listen), 0, "127.0.0.1:27017", 0, 0,
	 "address the clients connect to"},
	{"unix_socket", CFG_STR, F(unix_socket), 0, "", 0, 0,
	 "path of an additional unix-socket listener (empty: none)"},
	{"mongo_uri", CFG_STR, F(mongo_uri), 0, "", 0, 0,
	 "MongoDB upstream URI (single host or replica set; tls=true for TLS) [required]"},
	{"advertise", CFG_STR, F(advertise), 0, "", 0, 0,
	 "HOST:PORT that hello replies announce to drivers (default: listen)"},
	{"admin", CFG_ADDR, F(admin), 0, "127.0.0.1:9187", 0, 0,
	 "address of the admin HTTP endpoint (/metrics, /healthz); empty: off"},
	{"pg", CFG_STR, F(pg), 0, "", 0, 0, "PostgreSQL conninfo"},
	{"redis", CFG_REDIS_URL, F(redis), 0, "", 0, 0,
	 "Redis URL, redis://[USER:PASSWORD@]HOST[:PORT][/DB] (every tandem key lives in DB)"},
	{"mapping", CFG_STR, F(mapping), 0, "", 0, 0, "mapping spec file"},
	{"workers", CFG_INT, F(workers), 0, "0", 0, 64, "event-loop threads (0: one per core)"},
	{"max_message_bytes", CFG_INT, F(max_message_bytes), CFG_RELOAD | CFG_ATOMIC, "48000000",
	 1024, 48000000, "largest wire message accepted from a client or upstream"},
	{"connect_timeout_ms", CFG_INT, F(connect_timeout_ms), CFG_RELOAD | CFG_ATOMIC, "5000", 1,
	 600000, "upstream connect (and TLS handshake) timeout"},
	{"idle_timeout_ms", CFG_INT, F(idle_timeout_ms), CFG_RELOAD | CFG_ATOMIC, "0", 0,
	 86400000, "close a client idle this long (0: never)"},
	{"frame_timeout_ms", CFG_INT, F(frame_timeout_ms), CFG_RELOAD | CFG_ATOMIC, "30000", 1,
	 3600000, "a message whose first byte arrived must be complete within this"},
	{"drain_timeout_ms", CFG_INT, F(drain_timeout_ms), CFG_RELOAD | CFG_ATOMIC, "10000", 0,
	 3600000, "on SIGTERM, how long in-flight requests may finish"},
	{"authz.refresh_ms", CFG_INT, F(authz_refresh_ms), CFG_RELOAD | CFG_ATOMIC, "60000", 0,
	 86400000, "re-ask MongoDB for a connection's privileges when older than this (0: only after authentication)"},
	{"log.level", CFG_LOGLEVEL, F(log_level), CFG_RELOAD, "info", 0, 0,
	 "debug, info, warn or error"},
	{"log.file", CFG_STR, F(log_file), CFG_RELOAD, "", 0, 0,
	 "JSON-lines log file (empty: stderr); reopened on reload"},
	{"tls.cert_file", CFG_STR, F(tls_cert_file), 0, "", 0, 0,
	 "client-facing TLS certificate (PEM); enables TLS"},
	{"tls.key_file", CFG_STR, F(tls_key_file), 0, "", 0, 0, "client-facing TLS private key"},
	{"tls.ca_file", CFG_STR, F(tls_ca_file), 0, "", 0, 0,
	 "CA for client certificates; when set clients must present one"},
	{"upstream_tls.ca_file", CFG_STR, F(upstream_tls_ca_file), 0, "", 0, 0,
	 "CA that signs the upstream's certificate (default: system store)"},
	{"upstream_tls.cert_file", CFG_STR, F(upstream_tls_cert_file), 0, "", 0, 0,
	 "client certificate presented to the upstream (PEM, may hold the key)"},
	{"upstream_tls.key_file", CFG_STR, F(upstream_tls_key_file), 0, "", 0, 0,
	 "its private key (default: in cert_file)"},
	{"upstream_tls.insecure", CFG_BOOL, F(upstream_tls_insecure), 0, "false", 0, 0,
	 "do not verify the upstream certificate (testing only)"},
	{"defaults.write_mode", CFG_WRITE_MODE, F(default_write_mode), 0, "mongo_only", 0, 0,
	 "write mode without Redis flags: mongo_only|dual_write|pg_primary|pg_only"},
	{"defaults.read_pct", CFG_PCT, F(default_read_pct), 0, "0", 0, 0,
	 "share of reads served by PostgreSQL without Redis flags (0-100, decimals allowed)"},
	{"defaults.shadow_pct", CFG_PCT, F(default_shadow_pct), 0, "0", 0, 0,
	 "share of reads shadowed without Redis flags (0-100, decimals allowed)"},
	{"flags.poll_ms", CFG_INT, F(flags_poll_ms), 0, "100", 10, 5000,
	 "without Redis invalidations (flags.tracking off or refused): full re-read period (ms)"},
	{"flags.tracking", CFG_BOOL, F(flags_tracking), 0, "true", 0, 0,
	 "follow flag changes by CLIENT TRACKING invalidations (false: poll every flags.poll_ms)"},
	{"flags.full_refresh_ms", CFG_INT, F(flags_full_refresh_ms), 0, "30000", 1000, 3600000,
	 "with invalidations: the fallback full re-read (SCAN + HGETALL) period (ms)"},
	{"dualwrite.pool_size", CFG_INT, F(dw_pool_size), 0, "4", 1, 64,
	 "PostgreSQL connections of the dual-write applier"},
	{"dualwrite.batch_max", CFG_INT, F(dw_batch_max), 0, "500", 1, 10000,
	 "inserts coalesced into one PostgreSQL transaction"},
	{"dualwrite.spool_path", CFG_STR, F(dw_spool_path), 0, "tandem.spool", 0, 0,
	 "local append-only spool used when Redis is down too"},
	{"dualwrite.spool_fsync", CFG_FSYNC, F(dw_spool_fsync), 0, "batch", 0, 0,
	 "spool fsync policy: always|batch|never"},
	{"dualwrite.node_id", CFG_STR, F(dw_node_id), 0, "", 0, 0,
	 "this instance's name in queue entries (\"\" = host:pid)"},
	{"dualwrite.drain_interval_ms", CFG_INT, F(dw_drain_interval_ms), 0, "500", 10, 60000,
	 "how often tenants with queued writes are retried (ms)"},
	{"dualwrite.timeout_ms", CFG_INT, F(dw_timeout_ms), 0, "10000", 100, 600000,
	 "a PostgreSQL batch in flight longer than this is abandoned (transient)"},
	{"shadow.pool_size", CFG_INT, F(sh_pool_size), 0, "2", 1, 64,
	 "PostgreSQL connections of the shadow-read runner"},
	{"shadow.max_inflight", CFG_INT, F(sh_max_inflight), 0, "4", 1, 1024,
	 "shadow queries running at once"},
	{"shadow.queue_max", CFG_INT, F(sh_queue_max), 0, "256", 0, 100000,
	 "sampled reads waiting for the runner; beyond, they are shed (counted)"},
	{"shadow.timeout_ms", CFG_INT, F(sh_timeout_ms), 0, "1000", 10, 600000,
	 "one shadow read, waiting included; later it is shed (counted)"},
	{"shadow.max_rate", CFG_INT, F(sh_max_rate), 0, "1000", 0, 1000000,
	 "shadow reads started per second at most, per instance (0: no cap); the rest wait, then are shed"},
	{"shadow.max_rows", CFG_INT, F(sh_max_rows), 0, "100000", 1, 100000000,
	 "candidate rows one shadow read may read from PostgreSQL (else skipped: too_large)"},
	{"shadow.collections", CFG_PCT_LIST, F(sh_collections), 0, "", 0, 4096,
	 "per-collection ceilings on shadow_pct: \"orders=10,users=0.5\" (file: a map {orders: 10})"},
	{"shadow.ignore_paths", CFG_STR, F(sh_ignore_paths), 0, "", 0, 0,
	 "paths not compared, e.g. \"orders:updatedAt,*:meta.etag\""},
	{"shadow.log_values", CFG_BOOL, F(sh_log_values), 0, "false", 0, 0,
	 "mismatch lines carry the values (default: types and lengths only)"},
	{"shadow.log_rate", CFG_INT, F(sh_log_rate), 0, "10", 1, 100000,
	 "mismatch lines per second per tenant (the rest are counted as suppressed)"},
	{"shadow.redis_keep", CFG_INT, F(sh_redis_keep), 0, "100", 0, 100000,
	 "last mismatches kept per tenant in Redis (tandem:mismatches:<tenant>)"},
	{"shadow.calibrate", CFG_BOOL, F(sh_calibrate), 0, "false", 0, 0,
	 "run sampled reads on MongoDB again instead of PostgreSQL (measures noise)"},
	{"shadow.strict_types", CFG_BOOL, F(sh_strict_types), 0, "false", 0, 0,
	 "numbers of different BSON types are a mismatch even when equal"},
	/* The regex is compiled (and its capture groups counted) by tenant_start. */
	{"tenant.from", CFG_TENANT_FROM, F(tenant_from), 0, "database", 0, 0,
	 "where a request's tenant comes from: database (its name) or field (a field of its filters and documents)"},
	{"tenant.regex", CFG_STR, F(tenant_regex), 0, "", 0, 0,
	 "database mode: PCRE2 regex with one capture group, the tenant (e.g. ^tenant_(.+)$); empty: the whole name"},
	{"tenant.field", CFG_STR, F(tenant_field), 0, "tenant_id", 0, 0,
	 "field mode: the field whose value (string, integer or ObjectId) is the tenant"},
	{"tenant.default", CFG_STR, F(tenant_default), 0, "", 0, 0,
	 "tenant of requests the rule does not match (empty: none, they stay on MongoDB)"},
	{"shift.sticky", CFG_STICKY, F(sf_sticky), 0, "request", 0, 0,
	 "what keeps a read on one backend: request|connection|session (lsid; none: connection)"},
	{"shift.pool_size", CFG_INT, F(sf_pool_size), 0, "4", 1, 64,
	 "PostgreSQL connections of the served-read thread"},
	{"shift.max_inflight", CFG_INT, F(sf_max_inflight), 0, "64", 1, 100000,
	 "served reads waiting or running at once; more go to MongoDB (fallback busy)"},
	{"shift.timeout_ms", CFG_INT, F(sf_timeout_ms), 0, "500", 10, 600000,
	 "a served read not answered by PostgreSQL within this goes to MongoDB"},
	{"shift.max_rows", CFG_INT, F(sf_max_rows), 0, "100000", 1, 100000000,
	 "candidate rows one served read may read (else it goes to MongoDB: too_large)"},
	{"shift.max_result_bytes", CFG_INT, F(sf_max_result_bytes), 0, "67108864", 1024, 1073741824,
	 "bytes of one served result (else it goes to MongoDB: too_large)"},
	{"shift.cursor_timeout_ms", CFG_INT, F(sf_cursor_timeout_ms), 0, "600000", 100, 86400000,
	 "an idle tandem cursor is closed after this (noCursorTimeout: never)"},
	{"shift.cursor_memory_max", CFG_INT, F(sf_cursor_memory_max), 0, "268435456", 0, 68719476736,
	 "bytes held by every open tandem cursor together; beyond, reads go to MongoDB"},
	{"shift.ryw_wait_ms", CFG_INT, F(sf_ryw_wait_ms), 0, "0", 0, 10000,
	 "a read behind this instance's dual-write waits up to this for the applier (0: MongoDB)"},
};

#define CFG_N (sizeof(cfg_table) / sizeof(cfg_table[0]))

static void cfg_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cfg_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct cfg_entry *cfg_find(const char *key)
{
	for (size_t i = 0; i < CFG_N; i++)
		if (strcmp(cfg_table[i].key, key) == 0)
			return &cfg_table[i];
	return NULL;
}

static void *cfg_field(struct cfg *c, const struct cfg_entry *e)
{
	return (char *)c + e->offset;
}

static const void *cfg_cfield(const struct cfg *c, const struct cfg_entry *e)
{
	return (const char *)c + e->offset;
}

static int64_t cfg_get_int(const struct cfg *c, const struct cfg_entry *e)
{
	if (e->flags & CFG_ATOMIC)
		return atomic_load((_Atomic int64_t *)cfg_cfield(c, e));
	return *(const int64_t *)cfg_cfield(c, e);
}

static void cfg_put_int(struct cfg *c, const struct cfg_entry *e, int64_t v)
{
	if (e->flags & CFG_ATOMIC)
		atomic_store((_Atomic int64_t *)cfg_field(c, e), v);
	else
		*(int64_t *)cfg_field(c, e) = v;
}

bool cfg_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return false;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return false;
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return true;
}

static bool cfg_parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0)
			return (*out = true), true;
		if (strcmp(v, no[i]) == 0)
			return (*out = false), true;
	}
	return false;
}

static bool cfg_is_one_of(const char *v, const char *const *choices)
{
	for (; *choices; choices++)
		if (strcmp(v, *choices) == 0)
			return true;
	return false;
}

/* v checked against e's kind; every kind but CFG_INT and CFG_BOOL is kept
 * as the string v. */
static bool cfg_check_text(const struct cfg_entry *e, const char *v, char *err, size_t errlen)
{
	char host[256], why[512];
	uint16_t port;
	enum log_level lvl;
	double pct;
	struct pct_list *list;
	struct redisurl url;

	switch (e->type) {
	case CFG_ADDR:
		if (*v && !cfg_split_hostport(v, host, sizeof(host), &port))
			return errbuf_fail(err, errlen, "key '%s': '%s' is not HOST:PORT", e->key, v);
		return true;
	case CFG_LOGLEVEL:
		if (!log_level_parse(v, &lvl))
			return errbuf_fail(err, errlen, "key '%s': '%s' is not debug, info, warn or error",
					   e->key, v);
		return true;
	case CFG_WRITE_MODE:
	case CFG_FSYNC:
	case CFG_TENANT_FROM:
	case CFG_STICKY: {
		size_t n = 0;
		if (cfg_is_one_of(v, cfg_words[e->type]))
			return true;
		for (const char *const *w = cfg_words[e->type]; *w && n < sizeof(why); w++)
			n += (size_t)snprintf(why + n, sizeof(why) - n, "%s%s", n ? ", " : "", *w);
		return errbuf_fail(err, errlen, "key '%s': '%s' is not one of %s", e->key, v, why);
	}
	case CFG_PCT:
		if (!pct_parse(v, strlen(v), &pct))
			return errbuf_fail(err, errlen, "key '%s': '%s' is not a percentage from 0 to 100 "
					   "(digits and at most one '.', e.g. 12.5)", e->key, v);
		return true;
	case CFG_PCT_LIST:
		if (!pct_list_parse(v, (size_t)e->max, &list, why, sizeof(why)))
			return errbuf_fail(err, errlen, "key '%s': %s", e->key, why);
		pct_list_free(list);
		return true;
	case CFG_REDIS_URL:
		if (*v && !redisurl_parse(v, &url, why, sizeof(why)))
			return errbuf_fail(err, errlen, "key '%s': %s", e->key, why);
		return true;
	default:
		return true;
	}
}

static bool cfg_set_entry(struct cfg *c, const struct cfg_entry *e, const char *v, char *err,
			  size_t errlen)
{
	switch (e->type) {
	case CFG_INT: {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || *end || end == v) {
			cfg_err(err, errlen, "key '%s': '%s' is not an integer", e->key, v);
			return false;
		}
		if (n < e->min || n > e->max) {
			cfg_err(err, errlen, "key '%s': %lld is outside %lld..%lld", e->key, n,
				(long long)e->min, (long long)e->max);
			return false;
		}
		cfg_put_int(c, e, n);
		return true;
	}
	case CFG_BOOL:
		if (!cfg_parse_bool(v, (bool *)cfg_field(c, e))) {
			cfg_err(err, errlen, "key '%s': '%s' is not true or false", e->key, v);
			return false;
		}
		return true;
	default:
		if (!cfg_check_text(e, v, err, errlen))
			return false;
		break;
	}
	char **slot = cfg_field(c, e);
	char *copy = strdup(v);
	if (!copy) {
		cfg_err(err, errlen, "key '%s': out of memory", e->key);
		return false;
	}
	free(*slot);
	*slot = copy;
	return true;
}

bool cfg_key_is_list(const char *key)
{
	const struct cfg_entry *e = cfg_find(key);

	return e && e->type == CFG_PCT_LIST;
}

bool cfg_set(struct cfg *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct cfg_entry *e = cfg_find(key);

	if (!e) {
		cfg_err(err, errlen, "key '%s': unknown key", key);
		return false;
	}
	return cfg_set_entry(c, e, value, err, errlen);
}

void cfg_init(struct cfg *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CFG_N; i++)
		if (!cfg_set_entry(c, &cfg_table[i], cfg_table[i].def, err, sizeof(err)))
			abort(); /* a default that does not parse is a bug in the table */
}

void cfg_free(struct cfg *c)
{
	for (size_t i = 0; i < CFG_N; i++) {
		const struct cfg_entry *e = &cfg_table[i];
		if (e->type != CFG_INT && e->type != CFG_BOOL) {
			char **slot = cfg_field(c, e);
			free(*slot);
			*slot = NULL;
		}
	}
}

bool cfg_validate(const struct cfg *c, char *err, size_t errlen)
{
	if (!*c->mongo_uri) {
		cfg_err(err, errlen, "key 'mongo_uri': required (the MongoDB upstream)");
		return false;
	}
	if (!*c->listen && !*c->unix_socket) {
		cfg_err(err, errlen, "key 'listen': no listener (set listen or unix_socket)");
		return false;
	}
	if (!*c->tls_cert_file != !*c->tls_key_file) {
		cfg_err(err, errlen, "key 'tls.cert_file': tls.cert_file and tls.key_file go together");
		return false;
	}
	if (*c->tls_ca_file && !*c->tls_cert_file) {
		cfg_err(err, errlen, "key 'tls.ca_file': needs tls.cert_file and tls.key_file");
		return false;
	}
	char host[256];
	uint16_t port;
	if (*c->advertise && !cfg_split_hostport(c->advertise, host, sizeof(host), &port)) {
		cfg_err(err, errlen, "key 'advertise': '%s' is not HOST:PORT", c->advertise);
		return false;
	}
	return true;
}

const char *cfg_key_at(size_t i, const char **def, const char **help, bool *reloadable)
{
	if (i >= CFG_N)
		return NULL;
	*def = cfg_table[i].def;
	*help = cfg_table[i].help;
	*reloadable = cfg_table[i].flags & CFG_RELOAD;
	return cfg_table[i].key;
}

static bool cfg_entry_equal(const struct cfg *a, const struct cfg *b, const struct cfg_entry *e)
{
	switch (e->type) {
	case CFG_INT:
		return cfg_get_int(a, e) == cfg_get_int(b, e);
	case CFG_BOOL:
		return *(const bool *)cfg_cfield(a, e) == *(const bool *)cfg_cfield(b, e);
	default:
		return strcmp(*(char *const *)cfg_cfield(a, e), *(char *const *)cfg_cfield(b, e)) == 0;
	}
}

unsigned cfg_apply_reload(struct cfg *live, const struct cfg *fresh,
			  void (*changed_restart)(const char *key))
{
	char err[256];
	unsigned applied = 0;

	for (size_t i = 0; i < CFG_N; i++) {
		const struct cfg_entry *e = &cfg_table[i];

		if (cfg_entry_equal(live, fresh, e))
			continue;
		if (!(e->flags & CFG_RELOAD)) {
			if (changed_restart)
				changed_restart(e->key);
			continue;
		}
		if (e->type == CFG_INT)
			cfg_put_int(live, e, cfg_get_int(fresh, e));
		else if (!cfg_set_entry(live, e, *(char *const *)cfg_cfield(fresh, e), err, sizeof(err)))
			continue; /* out of memory: keep the old value */
		applied++;
	}
	return applied;
}
