/*
 * flags_probe.c - drives shift/flags.c for tests/integration/test_flags.py.
 *
 *   flags_probe [--redis URL] [--set KEY=VALUE]... [--extra N]
 *               TENANT[,TENANT...] ITERATIONS [INTERVAL_MS]
 *
 * Starts the flag cache (config defaults from --set, e.g.
 * --set defaults.read_pct=5), registers --extra N more tenants named
 * "<first tenant>~0".."~N-1" (to exercise a long pipeline), then every
 * INTERVAL_MS (default 20) prints one line per listed tenant:
 *
 *   now_ms=W tenant=T write_mode=M read_pct=R shadow_pct=S phase=P version=V
 *   last_ok_ms=L refreshes=N errors=E invalid=I messages=G tenants=K connected=C
 *
 * (one line; phase "-" when unset).  The first line of output is
 * "started".  Logs (JSON lines) go to stderr.  Exit 0, 1 on a start error,
 * 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "clock.h"
#include "flags.h"
#include "log.h"

#define PROBE_TENANTS_MAX 16

static int usage(void)
{
	fprintf(stderr, "usage: flags_probe [--redis URL] [--set KEY=VALUE]... [--extra N] "
			"TENANT[,TENANT...] ITERATIONS [INTERVAL_MS]\n");
	return 2;
}

static void print_line(const char *tenant)
{
	struct flags_view v;
	struct flags_stats st;

	flags_get(tenant, &v);
	flags_stats(&st);
	printf("now_ms=%llu tenant=%s write_mode=%s read_pct=%g shadow_pct=%g phase=%s version=%llu "
	       "last_ok_ms=%llu refreshes=%llu errors=%llu invalid=%llu messages=%llu tenants=%llu "
	       "connected=%d\n",
	       (unsigned long long)clock_wall_ms(), tenant, flags_write_mode_to_str(v.write_mode), v.read_pct, v.shadow_pct,
	       v.phase[0] ? v.phase : "-", (unsigned long long)v.version,
	       (unsigned long long)st.last_ok_ms, (unsigned long long)st.refreshes,
	       (unsigned long long)st.refresh_errors, (unsigned long long)st.invalid_values,
	       (unsigned long long)st.messages, (unsigned long long)st.tenants, st.connected ? 1 : 0);
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

static void register_extra(const char *first, long extra)
{
	char name[300];
	struct flags_view v;

	for (long i = 0; i < extra; i++) {
		snprintf(name, sizeof(name), "%s~%ld", first, i);
		flags_get(name, &v);
	}
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	const char *redis = "";
	char err[512], *tenants[PROBE_TENANTS_MAX];
	long extra = 0;
	int i = 1;

	cfg_init(&cfg);
	log_set_level(LOG_WARN);
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
		if (i + 1 >= argc)
			return usage();
		char *eq = strchr(argv[i + 1], '=');
		if (!strcmp(argv[i], "--redis")) {
			redis = argv[i + 1];
		} else if (!strcmp(argv[i], "--extra")) {
			extra = strtol(argv[i + 1], NULL, 10);
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
	if (nt == 0 || iterations <= 0 || iterations > 100000 || interval <= 0 || interval > 10000 ||
	    extra < 0 || extra > 200000)
		return usage();
	if (!flags_start(redis, &cfg, err, sizeof(err))) {
		fprintf(stderr, "flags_probe: %s\n", err);
		cfg_free(&cfg);
		return 1;
	}
	printf("started\n");
	fflush(stdout);
	register_extra(tenants[0], extra);
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
