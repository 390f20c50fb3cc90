/*
 * ctl_flags.c - `tandemctl mode TENANT MODE`, `tandemctl shift TENANT PCT`,
 * `tandemctl shadow TENANT PCT` and `tandemctl flags TENANT`.
 *
 *   mode / shift / shadow: validate the value with the proxy's parsers
 *          (flags_layer_set: write modes, pct_parse 0-100 with decimals),
 *          read the effective flags, HSET tandem:tenant:<T> FIELD VALUE,
 *          then PUBLISH tandem:flags <T> (every tandem already follows the
 *          HSET through Redis invalidations; the message also reaches one
 *          that polls), print the old and the new value, then the
 *          effective flags.  One function (ctl_flags_set) does it for all three.
 *   flags: print the effective flags of T and where each field comes from,
 *          using the same parsers and precedence as the proxy (flags.c):
 *          the tenant's hash, tandem:defaults, the config file's defaults.*
 *          (--config), the built-in defaults.  Invalid values are named.
 *
 * Redis: --redis URL, else the config's `redis`, else $TANDEM_REDIS, else
 * redis://127.0.0.1:6379.  Exit 0, 1 when Redis fails, 2 on bad usage.
 */
#include "ctl_flags.h"
#include "ctl_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "cfg.h"
#include "flags.h"

#define CTL_FLAGS_EXIT_REDIS 1
#define CTL_FLAGS_EXIT_USAGE 2

struct ctl_flags_opts {
	const char *cmd, *tenant, *value, *redis, *config;
};

/* A command that sets one field: its name, the field and what VALUE is. */
struct ctl_flags_setter {
	const char *cmd, *field, *arg, *what;
};

static const struct ctl_flags_setter ctl_flags_setters[] = {
	{"mode", "write_mode", "MODE", "the tenant's write mode: mongo_only | dual_write | pg_primary | pg_only"},
	{"shift", "read_pct", "PCT", "share of the tenant's reads served by PostgreSQL, 0 to 100, decimals allowed"},
	{"shadow", "shadow_pct", "PCT",
	 "share of the tenant's MongoDB-served reads also run on PostgreSQL and compared, 0 to 100, "
	 "decimals allowed"},
};

static const struct ctl_flags_setter *ctl_flags_setter(const char *cmd)
{
	for (size_t i = 0; cmd && i < sizeof(ctl_flags_setters) / sizeof(ctl_flags_setters[0]); i++)
		if (!strcmp(cmd, ctl_flags_setters[i].cmd))
			return &ctl_flags_setters[i];
	return NULL;
}

static int ctl_flags_usage(FILE *out, const char *cmd)
{
	const struct ctl_flags_setter *st = ctl_flags_setter(cmd);

	if (st)
		fprintf(out, "usage: tandemctl %s TENANT %s [--redis URL] [--config FILE]\n"
			     "  sets field %s of tandem:tenant:TENANT:\n  %s;\n"
			     "  publishes TENANT on tandem:flags, prints the old and the new value\n",
			st->cmd, st->arg, st->field, st->what);
	else
		fprintf(out, "usage: tandemctl flags TENANT [--redis URL] [--config FILE]\n"
			     "  the tenant's effective flags and where each comes from\n"
			     "  (see also: tandemctl mode|shift|shadow --help)\n");
	fprintf(out, "  --redis URL   redis://[USER:PASSWORD@]HOST[:PORT][/DB] (default: the\n"
		     "                config's redis, $TANDEM_REDIS, redis://127.0.0.1:6379)\n"
		     "  --config FILE tandem.yaml: its defaults.* and redis apply\n"
		     "exit: 0 done, 1 Redis unreachable or failing, 2 bad usage or value\n");
	return out == stdout ? 0 : CTL_FLAGS_EXIT_USAGE;
}

static bool ctl_flags_parse_args(int argc, char **argv, struct ctl_flags_opts *o)
{
	const char *pos[3] = {0};
	int npos = 0;

	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--redis") && i + 1 < argc)
			o->redis = argv[++i];
		else if (!strcmp(argv[i], "--config") && i + 1 < argc)
			o->config = argv[++i];
		else if ((argv[i][0] != '-' || npos == 2) && npos < 3) /* a value may be "-1" */
			pos[npos++] = argv[i];
		else
			return false;
	}
	o->cmd = pos[0];
	o->tenant = pos[1];
	o->value = pos[2];
	return o->tenant && npos == (ctl_flags_setter(o->cmd) ? 3 : 2);
}


/* HGETALL key into layer; invalid values are reported on stdout. */
static bool ctl_flags_read_layer(redisContext *c, const char *key, struct flags_layer *layer)
{
	redisReply *r = redisCommand(c, "HGETALL %s", key);
	enum flags_field f;

	memset(layer, 0, sizeof(*layer));
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		fprintf(stderr, "tandemctl: HGETALL %s: %s\n", key,
			r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
		if (r)
			freeReplyObject(r);
		return false;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (flags_layer_set(layer, k->str, (size_t)k->len, v->str, (size_t)v->len, &f) ==
		    FLAGS_SET_INVALID)
			printf("ignored:    %s %s '%.*s' (invalid)\n", key, k->str,
			       (int)(v->len > 64 ? 64 : v->len), v->str);
	}
	freeReplyObject(r);
	return true;
}

/* The effective flags of the tenant whose hash is key, and their sources. */
static bool ctl_flags_effective(redisContext *c, const char *key, const struct flags_view *base,
				enum flags_source base_src, struct flags_view *v, const char *from[FLAGS_F_COUNT])
{
	struct flags_layer t, d;
	enum flags_source src[FLAGS_F_COUNT];

	if (!ctl_flags_read_layer(c, key, &t) || !ctl_flags_read_layer(c, FLAGS_DEFAULTS_KEY, &d))
		return false;
	flags_merge(&t, &d, base, base_src, v, src);
	for (int f = 0; f < FLAGS_F_COUNT; f++)
		from[f] = src[f] == FLAGS_SRC_TENANT ? key : flags_source_to_str(src[f]);
	return true;
}

/* Field f of v as text. */
static void ctl_flags_value(const struct flags_view *v, enum flags_field f, char *buf, size_t len)
{
	if (f == FLAGS_F_READ_PCT)
		snprintf(buf, len, "%g", v->read_pct);
	else if (f == FLAGS_F_SHADOW_PCT)
		snprintf(buf, len, "%g", v->shadow_pct);
	else if (f == FLAGS_F_WRITE_MODE)
		snprintf(buf, len, "%s", flags_write_mode_to_str(v->write_mode));
	else
		snprintf(buf, len, "%s", v->phase[0] ? v->phase : "-");
}

static int ctl_flags_print(redisContext *c, const char *tenant, const struct flags_view *base,
			   enum flags_source base_src)
{
	char key[sizeof(FLAGS_TENANT_PREFIX) + FLAGS_TENANT_NAME_MAX];
	struct flags_view v;
	const char *from[FLAGS_F_COUNT];

	snprintf(key, sizeof(key), "%s%s", FLAGS_TENANT_PREFIX, tenant);
	if (!ctl_flags_effective(c, key, base, base_src, &v, from))
		return CTL_FLAGS_EXIT_REDIS;
	printf("tenant:     %s\n", tenant);
	printf("write_mode: %-12s (%s)\n", flags_write_mode_to_str(v.write_mode), from[FLAGS_F_WRITE_MODE]);
	printf("read_pct:   %-12g (%s)\n", v.read_pct, from[FLAGS_F_READ_PCT]);
	printf("shadow_pct: %-12g (%s)\n", v.shadow_pct, from[FLAGS_F_SHADOW_PCT]);
	printf("phase:      %-12s (%s)\n", v.phase[0] ? v.phase : "-",
	       v.phase[0] ? from[FLAGS_F_PHASE] : "unset");
	return 0;
}

/* HSET tandem:tenant:<tenant> field value (value already valid), PUBLISH
 * tandem:flags <tenant>, print the effective value before and after. */
static int ctl_flags_set(redisContext *c, const char *tenant, enum flags_field f, const char *value,
			 const struct flags_view *base, enum flags_source base_src)
{
	char key[sizeof(FLAGS_TENANT_PREFIX) + FLAGS_TENANT_NAME_MAX], old[64], now[64];
	const char *field = flags_field_name(f);
	struct flags_view before, after;
	const char *from[FLAGS_F_COUNT];

	snprintf(key, sizeof(key), "%s%s", FLAGS_TENANT_PREFIX, tenant);
	if (!ctl_flags_effective(c, key, base, base_src, &before, from))
		return CTL_FLAGS_EXIT_REDIS;
	ctl_flags_value(&before, f, old, sizeof(old));
	const char *old_from = from[f];
	redisReply *r = redisCommand(c, "HSET %s %s %s", key, field, value);
	bool ok = r && r->type == REDIS_REPLY_INTEGER;
	if (!ok)
		fprintf(stderr, "tandemctl: HSET %s: %s\n", key,
			r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
	if (r)
		freeReplyObject(r);
	if (!ok)
		return CTL_FLAGS_EXIT_REDIS;
	r = redisCommand(c, "PUBLISH %s %s", FLAGS_CHANNEL, tenant);
	long long notified = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
	if (r)
		freeReplyObject(r);
	if (!ctl_flags_effective(c, key, base, base_src, &after, from))
		return CTL_FLAGS_EXIT_REDIS;
	ctl_flags_value(&after, f, now, sizeof(now));
	printf("set:        %s %s %s\n", key, field, value);
	printf("changed:    %s %s -> %s (was from %s)\n", field, old, now, old_from);
	if (notified < 0)
		fprintf(stderr, "tandemctl: %s set, but PUBLISH failed (tandem follows the HSET "
				"through Redis invalidations anyway)\n", field);
	else
		printf("notified:   %lld tandem instance%s on %s\n", notified, notified == 1 ? "" : "s",
		       FLAGS_CHANNEL);
	return 0;
}

/* The value of a setter command, checked with the proxy's own parsers;
 * false (and a message) when it is not acceptable. */
static bool ctl_flags_valid(const struct ctl_flags_setter *st, const char *value, enum flags_field *f)
{
	struct flags_layer l;

	memset(&l, 0, sizeof(l));
	if (flags_layer_set(&l, st->field, strlen(st->field), value, strlen(value), f) == FLAGS_SET_OK)
		return true;
	if (*f == FLAGS_F_WRITE_MODE)
		fprintf(stderr, "tandemctl: mode '%s' is not one of mongo_only, dual_write, pg_primary, "
				"pg_only\n", value);
	else
		fprintf(stderr, "tandemctl: %s: '%s' is not a percentage between 0 and 100 (a plain "
				"decimal such as 12.5)\n", st->cmd, value);
	return false;
}

/* The config's defaults.* (and redis URL when not given) into base. */
static bool ctl_flags_config(struct ctl_flags_opts *o, struct cfg *cfg, struct flags_view *base,
			     enum flags_source *base_src)
{
	char err[512];

	cfg_init(cfg);
	*base_src = o->config ? FLAGS_SRC_CONFIG : FLAGS_SRC_BUILTIN;
	if (o->config && !cfg_load_file(cfg, o->config, err, sizeof(err))) {
		fprintf(stderr, "tandemctl: %s\n", err);
		return false;
	}
	if (!flags_base_from_cfg(o->config ? cfg : NULL, base, err, sizeof(err))) {
		fprintf(stderr, "tandemctl: %s\n", err);
		return false;
	}
	if (!o->redis)
		o->redis = o->config && *cfg->redis ? cfg->redis : getenv("TANDEM_REDIS");
	if (!o->redis || !*o->redis)
		o->redis = "redis://127.0.0.1:6379";
	return true;
}

int ctl_flags(int argc, char **argv)
{
	struct ctl_flags_opts o;
	struct cfg cfg;
	struct flags_view base;
	enum flags_source base_src;
	enum flags_field f = FLAGS_F_COUNT;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return ctl_flags_usage(stdout, argv[0]);
	if (!ctl_flags_parse_args(argc, argv, &o))
		return ctl_flags_usage(stderr, argv[0]);
	if (!*o.tenant || strlen(o.tenant) > FLAGS_TENANT_NAME_MAX) {
		fprintf(stderr, "tandemctl: tenant must be 1 to %u bytes\n", FLAGS_TENANT_NAME_MAX);
		return CTL_FLAGS_EXIT_USAGE;
	}
	const struct ctl_flags_setter *st = ctl_flags_setter(o.cmd);
	if (st && !ctl_flags_valid(st, o.value, &f))
		return CTL_FLAGS_EXIT_USAGE;
	int rc = CTL_FLAGS_EXIT_USAGE;
	if (ctl_flags_config(&o, &cfg, &base, &base_src)) {
		redisContext *c = ctl_redis_connect(o.redis, NULL);
		rc = CTL_FLAGS_EXIT_REDIS;
		if (c) {
			rc = st ? ctl_flags_set(c, o.tenant, f, o.value, &base, base_src) : 0;
			if (rc == 0)
				rc = ctl_flags_print(c, o.tenant, &base, base_src);
			redisFree(c);
		}
	}
	cfg_free(&cfg);
	return rc;
}
