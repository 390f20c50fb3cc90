/*
 * ctl_replay.c - `tandemctl replay [--config FILE] [--tenant T] [--pg CONNINFO]
 *                [--redis URL] [--mongo-uri URI] [--mapping FILE] [--spool FILE]`
 *
 * Drains the per-tenant queues (tandem:queue:<tenant>) and the local spool
 * into PostgreSQL with the proxy's own apply engine (dwapply, dwqueue), so
 * a replayed write is applied exactly as a live one would have been.  Takes
 * each tenant's drain lock, so a running tandem and this command never
 * drain one tenant at once.  Prints progress about once a second and a
 * summary; exit 0 when every selected queue is empty, 1 when PostgreSQL or
 * Redis stopped it (what is left stays queued), 2 on usage errors.
 */
#include "ctl_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <mongoc/mongoc.h>

#include "cfg.h"
#include "clock.h"
#include "dwapply.h"
#include "dwqueue.h"
#include "log.h"
#include "mapping.h"

#define REPLAY_STALL_MS 15000

struct replay {
	struct event_base *base;
	struct dwapply *a;
	struct dwqueue *q;
	struct event *tick;
	uint64_t started_ms, last_progress_ms, last_change_ms, last_done, last_depth;
	bool stalled;
};

static int usage(FILE *out, int rc)
{
	fprintf(out, "usage: tandemctl replay [--config FILE] [--tenant T] [--pg CONNINFO] "
		     "[--redis URL] [--mongo-uri URI] [--mapping FILE] [--spool FILE]\n"
		     "  Applies queued dual-write operations to PostgreSQL, in order, per tenant.\n"
		     "  Values default to the config file's keys (pg, redis, mongo_uri, mapping,\n"
		     "  dualwrite.spool_path).  Exit 0: queues empty; 1: stopped early.\n");
	return rc;
}

static void done(struct dwentry *e, enum dwapply_outcome o, const char *why, void *arg)
{
	struct replay *r = arg;

	dwqueue_entry_done(r->q, e, o, why);
}

static bool admit(const struct dwentry *e, void *arg)
{
	struct replay *r = arg;

	return dwqueue_admit(r->q, e);
}

static void progress(struct replay *r, const char *what)
{
	struct dwqueue_stats st;
	double secs = (double)(clock_mono_ms() - r->started_ms) / 1000.0;

	dwqueue_stats(r->q, &st);
	printf("%s: applied %llu, dead-lettered %llu, tenants with a queue %u, %.1f s, %.0f ops/s\n",
	       what, (unsigned long long)st.applied, (unsigned long long)st.deadlettered, st.tenants,
	       secs, secs > 0 ? (double)st.applied / secs : 0.0);
	fflush(stdout);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct replay *r = arg;
	struct dwqueue_stats st;
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	if (dwapply_pending(r->a) == 0)
		dwqueue_drain(r->q, r->a, 1000);
	dwqueue_stats(r->q, &st);
	/* Progress is ours or, for a tenant whose drain lock a running tandem
	 * holds, its queue moving: only a queue nobody drains is a stall. */
	if (st.applied + st.deadlettered != r->last_done || st.depth != r->last_depth) {
		r->last_done = st.applied + st.deadlettered;
		r->last_depth = st.depth;
		r->last_change_ms = now;
	}
	if (now - r->last_progress_ms >= 1000) {
		r->last_progress_ms = now;
		progress(r, "progress");
	}
	if (st.tenants == 0 && dwapply_pending(r->a) == 0) {
		event_base_loopbreak(r->base);
	} else if (now - r->last_change_ms > REPLAY_STALL_MS) {
		r->stalled = true;
		event_base_loopbreak(r->base);
	}
}

static bool parse_args(int argc, char **argv, struct cfg *c, const char **tenant)
{
	char err[512];

	for (int i = 1; i < argc; i++) {
		const char *key = NULL;
		if (i + 1 >= argc)
			return false;
		if (!strcmp(argv[i], "--config")) {
			if (!cfg_load_file(c, argv[++i], err, sizeof(err))) {
				fprintf(stderr, "tandemctl: replay: %s\n", err);
				return false;
			}
			continue;
		}
		if (!strcmp(argv[i], "--tenant")) {
			*tenant = argv[++i];
			continue;
		}
		key = !strcmp(argv[i], "--pg") ? "pg" : !strcmp(argv[i], "--redis") ? "redis" :
		      !strcmp(argv[i], "--mongo-uri") ? "mongo_uri" : !strcmp(argv[i], "--mapping") ? "mapping" :
		      !strcmp(argv[i], "--spool") ? "dualwrite.spool_path" : NULL;
		if (!key || !cfg_set(c, key, argv[++i], err, sizeof(err))) {
			fprintf(stderr, "tandemctl: replay: %s\n", key ? err : "unknown option");
			return false;
		}
	}
	return true;
}

static int run(struct replay *r)
{
	struct timeval tv = {0, 50 * 1000};

	r->started_ms = r->last_progress_ms = r->last_change_ms = clock_mono_ms();
	r->tick = event_new(r->base, -1, EV_PERSIST, tick_cb, r);
	if (!r->tick || event_add(r->tick, &tv) != 0)
		return 1;
	event_base_dispatch(r->base);
	progress(r, r->stalled ? "stopped (no progress: PostgreSQL or Redis down?)" : "done");
	event_free(r->tick);
	return r->stalled ? 1 : 0;
}

int ctl_replay(int argc, char **argv)
{
	struct cfg c;
	const char *tenant = NULL;
	struct mapping *m = NULL;
	struct replay r = {0};
	char err[512] = "", node[128], host[64] = "tandemctl";
	int rc = 1;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return usage(stdout, 0);
	cfg_init(&c);
	if (!parse_args(argc, argv, &c, &tenant)) {
		cfg_free(&c);
		return usage(stderr, 2);
	}
	if (!c.pg[0]) {
		fprintf(stderr, "tandemctl: replay: no PostgreSQL (--pg or key 'pg')\n");
		cfg_free(&c);
		return 2;
	}
	if (c.mapping[0]) {
		struct mapping_errors errs;
		mapping_errors_init(&errs);
		if (!mapping_load(c.mapping, &m, &errs)) {
			for (size_t i = 0; i < errs.n; i++)
				fprintf(stderr, "tandemctl: replay: %s\n", errs.msgs[i]);
			mapping_errors_free(&errs);
			cfg_free(&c);
			return 2;
		}
	}
	mongoc_init();
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(node, sizeof(node), "tandemctl.%s.%d", host, (int)getpid());
	struct dwqueue_opts qo = {c.redis, c.dw_spool_path, c.dw_spool_fsync, node};
	struct dwapply_opts ao = {.conninfo = c.pg, .mongo_uri = c.mongo_uri, .mapping = m,
				  .pool_size = 2, .batch_max = (unsigned)c.dw_batch_max,
				  .timeout_ms = (unsigned)c.dw_timeout_ms, .done = done, .admit = admit,
				  .arg = &r};
	if ((r.base = event_base_new()) && !(r.q = dwqueue_new(&qo, err, sizeof(err))) &&
	    strstr(err, "locked")) {
		/* A running tandem owns the spool (and drains it itself). */
		fprintf(stderr, "tandemctl: replay: %s: draining the Redis queues only\n", err);
		qo.spool_path = "";
		err[0] = '\0';
		r.q = dwqueue_new(&qo, err, sizeof(err));
	}
	if (!r.base || !r.q || !(r.a = dwapply_new(r.base, &ao, err, sizeof(err)))) {
		fprintf(stderr, "tandemctl: replay: %s\n", err[0] ? err : "out of memory");
	} else {
		dwqueue_discover(r.q, tenant);
		rc = run(&r);
	}
	dwapply_free(r.a);
	dwqueue_free(r.q);
	if (r.base)
		event_base_free(r.base);
	mapping_free(m);
	mongoc_cleanup();
	cfg_free(&c);
	return rc;
}
