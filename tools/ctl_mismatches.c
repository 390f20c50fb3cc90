/*
 * ctl_mismatches.c - `tandemctl mismatches TENANT [--redis URL]
 *                    [--config FILE] [--limit N]`
 *
 * The shadow runner LPUSHes one JSON line per mismatch to
 * tandem:mismatches:<TENANT> and LTRIMs the list to shadow.redis_keep, so
 * index 0 is the newest.  This prints the newest N lines (LRANGE 0 N-1) on
 * stdout, newest first, one per line, exactly as stored; then one summary
 * line on stderr, so `tandemctl mismatches T | jq .` sees JSON only.
 *
 * Redis: --redis URL, else the config's `redis`, else $TANDEM_REDIS, else
 * redis://127.0.0.1:6379 (as `tandemctl flags`).  Exit 0 (also when no
 * mismatch is kept), 1 when Redis is unreachable or fails, 2 on bad usage.
 */
#include "ctl_mismatches.h"
#include "ctl_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "cfg.h"
#include "flags.h"

#define CTL_MM_EXIT_REDIS 1
#define CTL_MM_EXIT_USAGE 2
#define CTL_MM_DEFAULT_LIMIT 20
#define CTL_MM_MAX_LIMIT 100000 /* shadow.redis_keep's ceiling */

struct ctl_mm_opts {
	const char *tenant, *redis, *config;
	long limit;
};

static int ctl_mm_usage(FILE *out)
{
	fprintf(out, "usage: tandemctl mismatches TENANT [--redis URL] [--config FILE] [--limit N]\n"
		     "  prints the newest N (default %d) shadow mismatches kept for TENANT in Redis\n"
		     "  (list " CTL_MISMATCHES_KEY_PREFIX "<TENANT>), one JSON line each, newest first;\n"
		     "  a summary goes to stderr\n"
		     "  --redis URL   redis://[USER:PASSWORD@]HOST[:PORT][/DB] (default: the\n"
		     "                config's redis, $TANDEM_REDIS, redis://127.0.0.1:6379)\n"
		     "  --config FILE tandem.yaml: its redis applies\n"
		     "  --limit N     1 to %d\n",
		CTL_MM_DEFAULT_LIMIT, CTL_MM_MAX_LIMIT);
	return out == stdout ? 0 : CTL_MM_EXIT_USAGE;
}

static bool ctl_mm_parse_limit(const char *s, long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	*out = strtol(s, &end, 10);
	return *end == '\0' && *out >= 1 && *out <= CTL_MM_MAX_LIMIT;
}

/* Fills o; prints the reason and returns false on bad usage. */
static bool ctl_mm_parse_args(int argc, char **argv, struct ctl_mm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->limit = CTL_MM_DEFAULT_LIMIT;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--redis") && i + 1 < argc) {
			o->redis = argv[++i];
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			o->config = argv[++i];
		} else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			if (!ctl_mm_parse_limit(argv[++i], &o->limit)) {
				fprintf(stderr, "tandemctl: --limit '%s': not a number from 1 to %d\n", argv[i],
					CTL_MM_MAX_LIMIT);
				return false;
			}
		} else if (argv[i][0] != '-' && !o->tenant) {
			o->tenant = argv[i];
		} else {
			fprintf(stderr, "tandemctl: mismatches: unexpected argument '%s'\n", argv[i]);
			return false;
		}
	}
	if (!o->tenant || !*o->tenant || strlen(o->tenant) > FLAGS_TENANT_NAME_MAX) {
		fprintf(stderr, "tandemctl: mismatches: give one TENANT of 1 to %u bytes\n", FLAGS_TENANT_NAME_MAX);
		return false;
	}
	return true;
}

/* The Redis URL from the flag, the config file, the environment, the default. */
static bool ctl_mm_redis_url(struct ctl_mm_opts *o, struct cfg *cfg)
{
	char err[512];

	if (o->config && !cfg_load_file(cfg, o->config, err, sizeof(err))) {
		fprintf(stderr, "tandemctl: %s\n", err);
		return false;
	}
	if (!o->redis)
		o->redis = o->config && *cfg->redis ? cfg->redis : getenv("TANDEM_REDIS");
	if (!o->redis || !*o->redis)
		o->redis = "redis://127.0.0.1:6379";
	return true;
}

/* Connect and SELECT; NULL (message printed, *rc set) on failure. */
static redisContext *ctl_mm_connect(const char *url, int *rc)
{
	bool bad_url;
	redisContext *c = ctl_redis_connect(url, &bad_url);

	*rc = bad_url ? CTL_MM_EXIT_USAGE : CTL_MM_EXIT_REDIS;
	return c;
}

/* Run a command that must answer with type want; prints and returns NULL otherwise. */
static redisReply *ctl_mm_command(redisContext *c, int want, const char *what, const char *fmt,
				  const char *key, long arg)
{
	redisReply *r = redisCommand(c, fmt, key, arg);

	if (r && r->type == want)
		return r;
	fprintf(stderr, "tandemctl: %s %s: %s\n", what, key,
		r && r->type == REDIS_REPLY_ERROR ? r->str : r ? "unexpected reply" : c->errstr);
	if (r)
		freeReplyObject(r);
	return NULL;
}

static int ctl_mm_print(redisContext *c, const struct ctl_mm_opts *o)
{
	char key[sizeof(CTL_MISMATCHES_KEY_PREFIX) + FLAGS_TENANT_NAME_MAX];

	snprintf(key, sizeof(key), "%s%s", CTL_MISMATCHES_KEY_PREFIX, o->tenant);
	redisReply *len = ctl_mm_command(c, REDIS_REPLY_INTEGER, "LLEN", "LLEN %s", key, 0);
	redisReply *r = len ? ctl_mm_command(c, REDIS_REPLY_ARRAY, "LRANGE", "LRANGE %s 0 %ld", key,
					     o->limit - 1) : NULL;
	if (!r) {
		if (len)
			freeReplyObject(len);
		return CTL_MM_EXIT_REDIS;
	}
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		if (e->type != REDIS_REPLY_STRING)
			continue;
		fwrite(e->str, 1, e->len, stdout);
		if (!e->len || e->str[e->len - 1] != '\n')
			putchar('\n');
	}
	fflush(stdout);
	long long total = len->integer > (long long)r->elements ? len->integer : (long long)r->elements;
	if ((long long)r->elements < total)
		fprintf(stderr, "showing %zu of %lld mismatches kept for tenant %s (newest first)\n",
			r->elements, total, o->tenant);
	else
		fprintf(stderr, "%lld mismatch%s kept for tenant %s (newest first)\n", total,
			total == 1 ? "" : "es", o->tenant);
	freeReplyObject(r);
	freeReplyObject(len);
	return 0;
}

int ctl_mismatches(int argc, char **argv)
{
	struct ctl_mm_opts o;
	struct cfg cfg;
	int rc = CTL_MM_EXIT_USAGE;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return ctl_mm_usage(stdout);
	if (!ctl_mm_parse_args(argc, argv, &o))
		return ctl_mm_usage(stderr);
	cfg_init(&cfg);
	if (ctl_mm_redis_url(&o, &cfg)) {
		redisContext *c = ctl_mm_connect(o.redis, &rc);
		if (c) {
			rc = ctl_mm_print(c, &o);
			redisFree(c);
		}
	}
	cfg_free(&cfg);
	return rc;
}
