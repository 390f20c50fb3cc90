/*
 * flags_probe.c - drives shift/flags.c for tests/integration/test_flags.py
 * and tests/bench/flagbench.sh: it observes the cache the way a worker
 * does, through flags_get.
 *
 *   flags_probe [--redis URL] [--set KEY=VALUE]... [--lookups N] [--cost N]
 *               [--watch-us US] TENANT[,TENANT...] ITERATIONS [INTERVAL_MS]
 *
 * Starts the flag cache (config defaults from --set, e.g.
 * --set defaults.read_pct=5).  With --redis it first waits (at most 5 s)
 * for the first full refresh and prints
 *
 *   kind=loaded tenants=K ms=M
 *
 * --lookups N: looks up N distinct names "<first tenant>~0".."~N-1" (that
 * have no hash) and prints
 *   kind=lookups n=N tenants=K rss_kb_before=A rss_kb_after=B refused=R
 * --cost N: times N lookups of the listed tenants and N of distinct unknown
 * names, prints "kind=cost known_ns=X unknown_ns=Y tenants=K" and exits.
 * --watch-us US: every US microseconds looks up every listed tenant and
 * prints a line only when a tenant's flags change:
 *   kind=change now_us=W tenant=T read_pct=R shadow_pct=S write_mode=M
 * for ITERATIONS sweeps.  Otherwise every INTERVAL_MS (default 20) prints
 * one line per listed tenant:
 *
 *   now_ms=W tenant=T write_mode=M read_pct=R shadow_pct=S phase=P version=V
 *   last_ok_ms=L refreshes=N full=F errors=E invalid=I messages=G
 *   invalidations=V repairs=P tenants=K refused=R connected=C tracking=T
 *
 * (one line; phase "-" when unset).  The first line of output is
 * "started".  Logs (JSON lines) go to stderr.  Exit 0, 1 on a start error,
 * 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "clock.h"
#include "flags.h"
#include "log.h"

#define PROBE_TENANTS_MAX 64
#define PROBE_UNKNOWN_NAMES 10000

static int usage(void)
{
	fprintf(stderr, "usage: flags_probe [--redis URL] [--set KEY=VALUE]... [--lookups N] [--cost N] "
			"[--watch-us US] TENANT[,TENANT...] ITERATIONS [INTERVAL_MS]\n");
	return 2;
}

static void print_line(const char *tenant)
{
	struct flags_view v;
	struct flags_stats st;

	flags_get(tenant, &v);
	flags_stats(&st);
	printf("now_ms=%llu tenant=%s write_mode=%s read_pct=%g shadow_pct=%g phase=%s version=%llu "
	       "last_ok_ms=%llu refreshes=%llu full=%llu errors=%llu invalid=%llu messages=%llu "
	       "invalidations=%llu repairs=%llu tenants=%llu refused=%llu connected=%d tracking=%d\n",
	       (unsigned long long)clock_wall_ms(), tenant, flags_write_mode_to_str(v.write_mode), v.read_pct,
	       v.shadow_pct, v.phase[0] ? v.phase : "-", (unsigned long long)v.version,
	       (unsigned long long)st.last_ok_ms, (unsigned long long)st.refreshes,
	       (unsigned long long)st.full_refreshes, (unsigned long long)st.refresh_errors,
	       (unsigned long long)st.invalid_values, (unsigned long long)st.messages,
	       (unsigned long long)st.invalidations, (unsigned long long)st.repairs,
	       (unsigned long long)st.tenants, (unsigned long long)st.tenants_refused, st.connected ? 1 : 0,
	       st.tracking ? 1 : 0);
}

/* Split the comma list in place; returns the count. */
static int split_tenants(char *list, char **out)
{
	int n = 0;

	for (char *save = NULL, *t = strtok_r(list, ",", &save); t && n < PROBE_TENANTS_MAX;
	     t = strtok_r(NULL, ",", &save))
		out[n++] = t;
	return n;
}

/* Resident set size in KiB (/proc/self/statm), 0 if unknown. */
static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Wait (at most 5 s) for the first full refresh; print how long it took. */
static void wait_loaded(void)
{
	struct flags_stats st;
	uint64_t t0 = clock_mono_ms();
	struct timespec ms = {0, 1000000L};

	do {
		flags_stats(&st);
		if (st.full_refreshes > 0)
			break;
		nanosleep(&ms, NULL);
	} while (clock_mono_ms() - t0 < 5000);
	printf("kind=loaded tenants=%llu ms=%llu\n", (unsigned long long)st.tenants,
	       (unsigned long long)(clock_mono_ms() - t0));
	fflush(stdout);
}

/* n distinct names "<first>~i" (the first PROBE_UNKNOWN_NAMES of them kept). */
static char (*unknown_names(const char *first))[64]
{
	char (*names)[64] = calloc(PROBE_UNKNOWN_NAMES, sizeof(*names));

	for (long i = 0; names && i < PROBE_UNKNOWN_NAMES; i++)
		snprintf(names[i], sizeof(names[i]), "%s~%ld", first, i);
	return names;
}

static void lookups(const char *first, long n)
{
	char name[64];
	struct flags_view v;
	struct flags_stats st;
	long before = rss_kb();

	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s~%ld", first, i);
		flags_get(name, &v);
	}
	flags_stats(&st);
	printf("kind=lookups n=%ld tenants=%llu rss_kb_before=%ld rss_kb_after=%ld refused=%llu\n", n,
	       (unsigned long long)st.tenants, before, rss_kb(), (unsigned long long)st.tenants_refused);
	fflush(stdout);
}

static double ns_per(uint64_t t0, long n)
{
	return (double)(clock_wall_ns() - t0) / (double)n;
}

/* ns per flags_get of the listed (known) tenants, then of unknown names. */
static void cost(char **tenants, int nt, long n)
{
	char (*names)[64] = unknown_names(tenants[0]);
	struct flags_view v;
	struct flags_stats st;
	double sink = 0;

	if (!names)
		return;
	uint64_t t0 = clock_wall_ns();
	for (long i = 0; i < n; i++) {
		flags_get(tenants[i % nt], &v);
		sink += v.read_pct;
	}
	double known = ns_per(t0, n);
	t0 = clock_wall_ns();
	for (long i = 0; i < n; i++) {
		flags_get(names[i % PROBE_UNKNOWN_NAMES], &v);
		sink += v.read_pct;
	}
	double unknown = ns_per(t0, n);
	flags_stats(&st);
	printf("kind=cost known_ns=%.1f unknown_ns=%.1f tenants=%llu n=%ld sink=%g\n", known, unknown,
	       (unsigned long long)st.tenants, n, sink > 0 ? 1.0 : 0.0);
	free(names);
}

/* Print a line whenever a listed tenant's flags change. */
static void watch(char **tenants, int nt, long sweeps, long us)
{
	static struct flags_view last[PROBE_TENANTS_MAX];
	struct timespec pause = {us / 1000000, (us % 1000000) * 1000L};

	for (int t = 0; t < nt; t++)
		flags_get(tenants[t], &last[t]);
	for (long it = 0; it < sweeps; it++) {
		for (int t = 0; t < nt; t++) {
			struct flags_view v;
			flags_get(tenants[t], &v);
			if (v.read_pct == last[t].read_pct && v.shadow_pct == last[t].shadow_pct &&
			    v.write_mode == last[t].write_mode)
				continue;
			last[t] = v;
			printf("kind=change now_us=%llu tenant=%s read_pct=%g shadow_pct=%g write_mode=%s\n",
			       (unsigned long long)(clock_wall_ns() / 1000), tenants[t], v.read_pct, v.shadow_pct,
			       flags_write_mode_to_str(v.write_mode));
			fflush(stdout);
		}
		nanosleep(&pause, NULL);
	}
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	const char *redis = "";
	char err[512], *tenants[PROBE_TENANTS_MAX];
	long nlookups = 0, ncost = 0, watch_us = 0;
	int i = 1;

	cfg_init(&cfg);
	log_set_level(LOG_WARN);
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
		if (i + 1 >= argc)
			return usage();
		char *eq = strchr(argv[i + 1], '=');
		if (!strcmp(argv[i], "--redis")) {
			redis = argv[i + 1];
		} else if (!strcmp(argv[i], "--lookups")) {
			nlookups = strtol(argv[i + 1], NULL, 10);
		} else if (!strcmp(argv[i], "--cost")) {
			ncost = strtol(argv[i + 1], NULL, 10);
		} else if (!strcmp(argv[i], "--watch-us")) {
			watch_us = strtol(argv[i + 1], NULL, 10);
		} else if (!strcmp(argv[i], "--set") && eq) {
			*eq = '\0';
			if (!cfg_set(&cfg, argv[i + 1], eq + 1, err, sizeof(err))) {
				fprintf(stderr, "flags_probe: %s\n", err);
				return 2;
			}
		} else {
			return usage();
		}
	}
	if (argc - i < 2)
		return usage();
	int nt = split_tenants(argv[i], tenants);
	long iterations = strtol(argv[i + 1], NULL, 10);
	long interval = argc - i > 2 ? strtol(argv[i + 2], NULL, 10) : 20;
	if (nt == 0 || iterations <= 0 || iterations > (watch_us ? 1000000000L : 100000L) || interval <= 0 ||
	    interval > 10000 || nlookups < 0 || nlookups > 10000000 || ncost < 0 || ncost > 100000000 ||
	    watch_us < 0 || watch_us > 1000000)
		return usage();
	if (!flags_start(redis, &cfg, err, sizeof(err))) {
		fprintf(stderr, "flags_probe: %s\n", err);
		cfg_free(&cfg);
		return 1;
	}
	printf("started\n");
	fflush(stdout);
	if (*redis)
		wait_loaded();
	if (nlookups)
		lookups(tenants[0], nlookups);
	if (ncost || watch_us) {
		if (ncost)
			cost(tenants, nt, ncost);
		else
			watch(tenants, nt, iterations, watch_us);
		fflush(stdout);
		flags_stop();
		cfg_free(&cfg);
		return 0;
	}
	struct timespec pause = {interval / 1000, (interval % 1000) * 1000000L};
	for (long it = 0; it < iterations; it++) {
		for (int t = 0; t < nt; t++)
			print_line(tenants[t]);
		fflush(stdout);
		nanosleep(&pause, NULL);
	}
	flags_stop();
	cfg_free(&cfg);
	return 0;
}
