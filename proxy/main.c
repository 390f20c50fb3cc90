/*
 * main.c - the tandem daemon: configuration, threads, signals.
 *
 *   main thread: parse config -> bind listeners (workers) -> topology thread
 *                -> start workers -> admin thread -> wait for signals
 *   SIGHUP  reload: parse a fresh config, validate, apply reloadable keys
 *   SIGTERM drain: listeners off, in-flight requests finish (drain_timeout_ms),
 *           then exit 0.  SIGINT does the same.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "authz_probe.h"
#include "cfg.h"
#include "dualwrite.h"
#include "dwforward.h"
#include "dwtouch.h"
#include "shadow.h"
#include "shift.h"
#include "flags.h"
#include "log.h"
#include "mapping.h"
#include "metrics.h"
#include "pgserve.h"
#include "proxy.h"
#include "tenant.h"
#include "tls.h"
#include "topology.h"
#include "worker.h"

#define EXIT_CONFIG 2

static struct proxy px;
static struct cfg live;
static struct cfg_overrides overrides;
static struct mapping *px_mapping;   /* NULL: every collection in its default table */

static void die_config(const char *msg)
{
	fprintf(stderr, "tandem: %s\n", msg);
	exit(EXIT_CONFIG);
}

static void on_topology_change(void *arg)
{
	struct proxy *p = arg;

	for (int i = 0; i < p->nworkers; i++)
		worker_notify_topology(&p->workers[i]);
}

static void warn_restart(const char *key)
{
	struct log_line *l = log_begin(LOG_WARN, "config_reload_needs_restart", 0);

	if (l) {
		log_str(l, "key", key);
		log_end(l);
	}
}

static void apply_logging(const struct cfg *c)
{
	enum log_level lvl;

	if (log_level_parse(c->log_level, &lvl))
		log_set_level(lvl);
	if (!log_open(c->log_file)) {
		struct log_line *l = log_begin(LOG_ERROR, "log_open_failed", 0);
		if (l) {
			log_str(l, "file", c->log_file);
			log_end(l);
		}
	}
}

static void reload(void)
{
	struct cfg fresh;
	char err[512];

	if (!cfg_build(&fresh, &overrides, err, sizeof(err))) {
		metrics_inc(METRIC_CONFIG_RELOAD_ERRORS);
		struct log_line *l = log_begin(LOG_ERROR, "config_reload_failed", 0);
		if (l) {
			log_str(l, "error", err);
			log_end(l);
		}
		cfg_free(&fresh);
		return;
	}
	unsigned n = cfg_apply_reload(&live, &fresh, warn_restart);
	cfg_free(&fresh);
	apply_logging(&live);
	metrics_inc(METRIC_CONFIG_RELOADS);
	struct log_line *l = log_begin(LOG_INFO, "config_reloaded", 0);
	if (l) {
		log_int(l, "changed", n);
		log_end(l);
	}
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload();
		return;
	}
	struct log_line *l = log_begin(LOG_INFO, "draining", 0);
	if (l) {
		log_str(l, "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		log_end(l);
	}
	atomic_store(&px.draining, true);
	for (int i = 0; i < px.nworkers; i++)
		worker_notify_drain(&px.workers[i]);
	event_base_loopexit(base, NULL);
}

/* The address hello replies announce: advertise, else listen (with the host
 * name when listening on a wildcard address). */
static void choose_advertise(void)
{
	char host[256];
	uint16_t port;

	if (*live.advertise) {
		snprintf(px.advertise, sizeof(px.advertise), "%s", live.advertise);
		return;
	}
	if (!*live.listen || !cfg_split_hostport(live.listen, host, sizeof(host), &port)) {
		snprintf(px.advertise, sizeof(px.advertise), "localhost:27017");
		return;
	}
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		gethostname(host, sizeof(host));
	snprintf(px.advertise, sizeof(px.advertise), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 port);
}

static void setup_tls(void)
{
	char err[512];
	const char *uri_ca, *uri_cert;
	bool uri_insecure;

	if (*live.tls_cert_file) {
		px.client_tls = tls_server_ctx(live.tls_cert_file, live.tls_key_file, live.tls_ca_file,
					       err, sizeof(err));
		if (!px.client_tls)
			die_config(err);
	}
	if (!topology_uses_tls())
		return;
	topology_uri_tls(&uri_ca, &uri_cert, &uri_insecure);
	const char *ca = *live.upstream_tls_ca_file ? live.upstream_tls_ca_file : uri_ca;
	const char *cert = *live.upstream_tls_cert_file ? live.upstream_tls_cert_file : uri_cert;
	px.upstream_tls_insecure = live.upstream_tls_insecure || uri_insecure;
	px.upstream_tls = tls_client_ctx(ca, cert, live.upstream_tls_key_file,
					 px.upstream_tls_insecure, err, sizeof(err));
	if (!px.upstream_tls)
		die_config(err);
}

/* Operations waiting in the durable queue (a served read waits for none). */
static int64_t dw_queued(void)
{
	return metrics_gauge_get(METRIC_DW_QUEUE_DEPTH);
}

/* Flags, the mapping and the dual-write applier (when pg is set). */
static void start_dualwrite(void)
{
	char err[512];

	if (!flags_start(live.redis, &live, err, sizeof(err)))
		die_config(err);
	if (live.mapping[0]) {
		struct mapping_errors errs;
		mapping_errors_init(&errs);
		if (!mapping_load(live.mapping, &px_mapping, &errs)) {
			for (size_t i = 0; i + 1 < errs.n; i++)
				fprintf(stderr, "tandem: %s\n", errs.msgs[i]);
			snprintf(err, sizeof(err), "key 'mapping': %s", errs.n ? errs.msgs[errs.n - 1] : "cannot load");
			mapping_errors_free(&errs);
			die_config(err);
		}
	}
	/* Served writes answer through the worker's inbox; shadow reads wait
	 * for the dual-write watermark.  Passed in: neither folder depends on
	 * the proxy core. */
	static const struct shadow_writes writes = {dualwrite_submitted, dualwrite_settled,
						    dwtouch_doc_seq, dwtouch_coll_seq, dwtouch_now,
						    dwforward_count, dwforward_replied};
	pgserve_set_reply(worker_post_reply);
	if (!dualwrite_start(&live, px_mapping, &pgserve_ops, err, sizeof(err)))
		die_config(err);
	if (!shadow_start(&live, px_mapping, &writes, err, sizeof(err)))
		die_config(err);
	/* Served reads: the same watermark, answers through the same inbox. */
	static const struct shift_writes sfw = {dualwrite_submitted, dualwrite_settled, dw_queued};
	if (!shift_start(&live, px_mapping, &sfw, worker_post_reply, worker_post_fallback, err,
			 sizeof(err)))
		die_config(err);
}

static void start_workers(void)
{
	char err[512];
	long n = live.workers ? live.workers : sysconf(_SC_NPROCESSORS_ONLN);

	px.nworkers = n > 0 ? (int)n : 1;
	px.workers = calloc((size_t)px.nworkers, sizeof(*px.workers));
	if (!px.workers)
		die_config("out of memory");
	for (int i = 0; i < px.nworkers; i++)
		if (!worker_init(&px.workers[i], &px, i, err, sizeof(err)))
			die_config(err);

	struct topology_options topt = {
		.uri = live.mongo_uri,
		.tls_ca_file = live.upstream_tls_ca_file,
		.tls_cert_file = live.upstream_tls_cert_file,
		.tls_insecure = live.upstream_tls_insecure,
		.on_change = on_topology_change,
		.arg = &px,
	};
	if (!topology_start(&topt, err, sizeof(err)))
		die_config(err);
	start_dualwrite();
	setup_tls();
	/* Whether the upstream enforces authentication (logged when it does not).
	 * Without PostgreSQL tandem answers nothing itself: nothing to ask. */
	struct authz_probe_options popt = {live.upstream_tls_ca_file, live.upstream_tls_cert_file,
					   live.upstream_tls_insecure};
	if (*live.pg && !authz_probe_start(&popt))
		die_config("cannot start the authorization probe thread");
	for (int i = 0; i < px.nworkers; i++)
		if (!worker_start(&px.workers[i]))
			die_config("cannot start a worker thread");
}

static void log_started(void)
{
	struct log_line *l = log_begin(LOG_INFO, "started", 0);

	if (l) {
		log_str(l, "version", TANDEM_VERSION);
		log_str(l, "listen", live.listen);
		log_str(l, "unix_socket", live.unix_socket);
		log_str(l, "admin", live.admin);
		log_str(l, "advertise", px.advertise);
		log_int(l, "workers", px.nworkers);
		log_bool(l, "tls", px.client_tls != NULL);
		log_bool(l, "upstream_tls", px.upstream_tls != NULL);
		log_int(l, "pid", getpid());
		log_end(l);
	}
}

int main(int argc, char **argv)
{
	char err[512];
	enum cfg_action action;

	if (!cfg_parse_args(argc, argv, &overrides, &action, err, sizeof(err)))
		die_config(err);
	if (action == CFG_ACTION_HELP) {
		cfg_print_help(stdout, "tandem");
		return 0;
	}
	if (action == CFG_ACTION_VERSION) {
		printf("tandem %s\n", TANDEM_VERSION);
		return 0;
	}
	if (!cfg_build(&live, &overrides, err, sizeof(err)))
		die_config(err);
	if (!tenant_start(&live, err, sizeof(err)))
		die_config(err);
	px.cfg = &live;
	apply_logging(&live);
	evthread_use_pthreads();
	signal(SIGPIPE, SIG_IGN);
	choose_advertise();
	start_workers();
	if (*live.admin && !admin_start(&px, live.admin, err, sizeof(err)))
		die_config(err);
	log_started();

	struct event_base *base = event_base_new();
	struct event *sig_hup = evsignal_new(base, SIGHUP, signal_cb, base);
	struct event *sig_term = evsignal_new(base, SIGTERM, signal_cb, base);
	struct event *sig_int = evsignal_new(base, SIGINT, signal_cb, base);
	event_add(sig_hup, NULL);
	event_add(sig_term, NULL);
	event_add(sig_int, NULL);
	event_base_dispatch(base);

	for (int i = 0; i < px.nworkers; i++)
		worker_join(&px.workers[i]);
	admin_stop();
	shift_stop();
	authz_probe_stop();
	shadow_stop();
	dualwrite_stop();
	flags_stop();
	tenant_stop();
	mapping_free(px_mapping);
	topology_stop();
	event_free(sig_hup);
	event_free(sig_term);
	event_free(sig_int);
	event_base_free(base);
	if (px.client_tls)
		SSL_CTX_free(px.client_tls);
	if (px.upstream_tls)
		SSL_CTX_free(px.upstream_tls);
	free(px.workers);
	struct log_line *l = log_begin(LOG_INFO, "stopped", 0);
	if (l)
		log_end(l);
	cfg_free(&live);
	return 0;
}
