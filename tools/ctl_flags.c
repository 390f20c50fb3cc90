/*
 * ctl_flags.c - `tandemctl mode TENANT MODE` and `tandemctl flags TENANT`.
 *
 *   mode:  HSET tandem:tenant:<T> write_mode MODE, then PUBLISH tandem:flags
 *          <T> so every running tandem refreshes at once (plain HSET is seen
 *          within flags.poll_ms anyway), then print the effective flags.
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
	const char *cmd, *tenant, *mode, *redis, *config;
};

static int ctl_flags_usage(FILE *out)
{
	fprintf(out, "usage: tandemctl mode TENANT MODE [--redis URL] [--config FILE]\n"
		     "       tandemctl flags TENANT [--redis URL] [--config FILE]\n"
		     "  MODE          mongo_only | dual_write | pg_primary | pg_only\n"
		     "  --redis URL   redis://[USER:PASSWORD@]HOST[:PORT][/DB] (default: the\n"
		     "                config's redis, $TANDEM_REDIS, redis://127.0.0.1:6379)\n"
		     "  --config FILE tandem.yaml: its defaults.* and redis apply\n");
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
		else if (argv[i][0] != '-' && npos < 3)
			pos[npos++] = argv[i];
		else
			return false;
	}
	o->cmd = pos[0];
	o->tenant = pos[1];
	o->mode = pos[2];
	bool is_mode = o->cmd && !strcmp(o->cmd, "mode");
	return o->tenant && npos == (is_mode ? 3 : 2);
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

static int ctl_flags_print(redisContext *c, const char *tenant, const struct flags_view *base,
			   enum flags_source base_src)
{
	char key[sizeof(FLAGS_TENANT_PREFIX) + FLAGS_TENANT_NAME_MAX];
	struct flags_layer t, d;
	struct flags_view v;
	enum flags_source src[FLAGS_F_COUNT];

	snprintf(key, sizeof(key), "%s%s", FLAGS_TENANT_PREFIX, tenant);
	if (!ctl_flags_read_layer(c, key, &t) || !ctl_flags_read_layer(c, FLAGS_DEFAULTS_KEY, &d))
		return CTL_FLAGS_EXIT_REDIS;
	flags_merge(&t, &d, base, base_src, &v, src);
	const char *from[FLAGS_F_COUNT];
	for (int f = 0; f < FLAGS_F_COUNT; f++)
		from[f] = src[f] == FLAGS_SRC_TENANT ? key : flags_source_to_str(src[f]);
	printf("tenant:     %s\n", tenant);
	printf("write_mode: %-12s (%s)\n", flags_write_mode_to_str(v.write_mode), from[FLAGS_F_WRITE_MODE]);
	printf("read_pct:   %-12g (%s)\n", v.read_pct, from[FLAGS_F_READ_PCT]);
	printf("shadow_pct: %-12g (%s)\n", v.shadow_pct, from[FLAGS_F_SHADOW_PCT]);
	printf("phase:      %-12s (%s)\n", v.phase[0] ? v.phase : "-",
	       v.phase[0] ? from[FLAGS_F_PHASE] : "unset");
	return 0;
}

static int ctl_flags_set_mode(redisContext *c, const char *tenant, const char *mode)
{
	char key[sizeof(FLAGS_TENANT_PREFIX) + FLAGS_TENANT_NAME_MAX];

	snprintf(key, sizeof(key), "%s%s", FLAGS_TENANT_PREFIX, tenant);
	redisReply *r = redisCommand(c, "HSET %s write_mode %s", key, mode);
	bool ok = r && r->type == REDIS_REPLY_INTEGER;
	if (!ok)
		fprintf(stderr, "tandemctl: HSET %s: %s\n", key,
			r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
	if (r)
		freeReplyObject(r);
	if (!ok)
		return CTL_FLAGS_EXIT_REDIS;
	r = redisCommand(c, "PUBLISH %s %s", FLAGS_CHANNEL, tenant);
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		fprintf(stderr, "tandemctl: write_mode set, but PUBLISH failed (tandem sees it "
				"within flags.poll_ms)\n");
	} else {
		printf("set:        %s write_mode %s (notified %lld tandem instance%s)\n", key, mode,
		       r->integer, r->integer == 1 ? "" : "s");
	}
	if (r)
		freeReplyObject(r);
	return 0;
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
	enum flags_write_mode m;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return ctl_flags_usage(stdout);
	if (!ctl_flags_parse_args(argc, argv, &o))
		return ctl_flags_usage(stderr);
	if (!*o.tenant || strlen(o.tenant) > FLAGS_TENANT_NAME_MAX) {
		fprintf(stderr, "tandemctl: tenant must be 1 to %u bytes\n", FLAGS_TENANT_NAME_MAX);
		return CTL_FLAGS_EXIT_USAGE;
	}
	if (o.mode && !flags_write_mode_parse(o.mode, &m)) {
		fprintf(stderr, "tandemctl: mode '%s' is not one of mongo_only, dual_write, pg_primary, "
				"pg_only\n", o.mode);
		return CTL_FLAGS_EXIT_USAGE;
	}
	int rc = CTL_FLAGS_EXIT_USAGE;
	if (ctl_flags_config(&o, &cfg, &base, &base_src)) {
		redisContext *c = ctl_redis_connect(o.redis, NULL);
		rc = CTL_FLAGS_EXIT_REDIS;
		if (c) {
			rc = o.mode ? ctl_flags_set_mode(c, o.tenant, o.mode) : 0;
			if (rc == 0)
				rc = ctl_flags_print(c, o.tenant, &base, base_src);
			redisFree(c);
		}
	}
	cfg_free(&cfg);
	return rc;
}
