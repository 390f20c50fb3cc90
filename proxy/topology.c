/*
 * topology.c - the topology thread (see topology.h).
 *
 *   topology thread                         worker threads
 *   ---------------                         --------------
 *   loop every 500 ms (or when poked):
 *     select writable server (libmongoc)
 *     resolve host -> sockaddr
 *     if changed: lock, store, gen++  --->  on_change(): sessions on an older
 *                                           generation are closed so drivers
 *                                           reconnect to the new primary
 */
#include "topology.h"

#include <mongoc/mongoc.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define TOPOLOGY_INTERVAL_MS 500
#define TOPOLOGY_FIRST_WAIT_MS 5000

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct topology_primary current;
	_Atomic uint64_t generation;
	bool have;
	bool stop;
	bool poked;
	pthread_t thread;
	bool running;
	mongoc_uri_t *uri;
	mongoc_client_t *client;     /* only for replica sets / multiple hosts */
	char static_host[256];
	uint16_t static_port;
	void (*on_change)(void *);
	void *arg;
} topo = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static bool resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	char portstr[8];

	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0)
		return false;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

/* Record host:port as the primary; bump the generation when it changed. */
static void topology_set(const char *host, uint16_t port)
{
	struct topology_primary p = {0};
	bool changed;

	pthread_mutex_lock(&topo.lock);
	changed = !topo.have || topo.current.port != port || strcmp(topo.current.host, host) != 0;
	pthread_mutex_unlock(&topo.lock);
	if (!changed)
		return;
	if (!resolve(host, port, &p.addr, &p.addrlen)) {
		struct log_line *l = log_begin(LOG_WARN, "topology_resolve_failed", 0);
		if (l) {
			log_str(l, "host", host);
			log_end(l);
		}
		return;
	}
	snprintf(p.host, sizeof(p.host), "%s", host);
	p.port = port;
	pthread_mutex_lock(&topo.lock);
	bool first = !topo.have;
	p.generation = atomic_load(&topo.generation) + 1;
	topo.current = p;
	topo.have = true;
	atomic_store(&topo.generation, p.generation);
	pthread_mutex_unlock(&topo.lock);

	struct log_line *l = log_begin(LOG_INFO, first ? "topology_primary" : "topology_primary_changed", 0);
	if (l) {
		log_str(l, "host", host);
		log_int(l, "port", port);
		log_int(l, "generation", (int64_t)p.generation);
		log_end(l);
	}
	if (!first) {
		metrics_inc(METRIC_TOPOLOGY_CHANGES);
		if (topo.on_change)
			topo.on_change(topo.arg);
	}
}

/* One discovery round. */
static void topology_check(void)
{
	bson_error_t error;

	if (!topo.client) {
		topology_set(topo.static_host, topo.static_port);
		return;
	}
	mongoc_server_description_t *sd = mongoc_client_select_server(topo.client, true, NULL, &error);
	if (!sd) {
		struct log_line *l = log_begin(LOG_DEBUG, "topology_no_primary", 0);
		if (l) {
			log_str(l, "error", error.message);
			log_end(l);
		}
		return;
	}
	const mongoc_host_list_t *h = mongoc_server_description_host(sd);
	topology_set(h->host, h->port);
	mongoc_server_description_destroy(sd);
}

static void *topology_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&topo.lock);
	while (!topo.stop) {
		pthread_mutex_unlock(&topo.lock);
		topology_check();
		pthread_mutex_lock(&topo.lock);
		if (topo.stop)
			break;
		struct timespec ts = clock_wall_after(TOPOLOGY_INTERVAL_MS);
		while (!topo.stop && !topo.poked)
			if (pthread_cond_timedwait(&topo.wake, &topo.lock, &ts) != 0)
				break;
		topo.poked = false;
	}
	pthread_mutex_unlock(&topo.lock);
	return NULL;
}

/* The monitor's own copy of the URI: fast heartbeats and short timeouts. */
static mongoc_client_t *monitor_client(const mongoc_uri_t *uri,
				       const struct topology_options *opt)
{
	mongoc_uri_t *m = mongoc_uri_copy(uri);

	if (opt->tls_ca_file && *opt->tls_ca_file)
		mongoc_uri_set_option_as_utf8(m, MONGOC_URI_TLSCAFILE, opt->tls_ca_file);
	if (opt->tls_cert_file && *opt->tls_cert_file)
		mongoc_uri_set_option_as_utf8(m, MONGOC_URI_TLSCERTIFICATEKEYFILE, opt->tls_cert_file);
	if (opt->tls_insecure)
		mongoc_uri_set_option_as_bool(m, MONGOC_URI_TLSINSECURE, true);

	mongoc_uri_set_option_as_int32(m, MONGOC_URI_HEARTBEATFREQUENCYMS, TOPOLOGY_INTERVAL_MS);
	mongoc_uri_set_option_as_int32(m, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
	mongoc_uri_set_option_as_int32(m, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
	mongoc_uri_set_option_as_bool(m, MONGOC_URI_SERVERSELECTIONTRYONCE, true);
	mongoc_client_t *c = mongoc_client_new_from_uri(m);
	mongoc_uri_destroy(m);
	if (c)
		mongoc_client_set_appname(c, "tandem-topology");
	return c;
}

bool topology_start(const struct topology_options *opt, char *err, size_t errlen)
{
	bson_error_t error;

	mongoc_init();
	topo.uri = mongoc_uri_new_with_error(opt->uri, &error);
	if (!topo.uri) {
		snprintf(err, errlen, "key 'mongo_uri': %s", error.message);
		return false;
	}
	const mongoc_host_list_t *hosts = mongoc_uri_get_hosts(topo.uri);
	if (!hosts) {
		snprintf(err, errlen, "key 'mongo_uri': no host");
		return false;
	}
	if (!hosts->next && !mongoc_uri_get_replica_set(topo.uri)) {
		snprintf(topo.static_host, sizeof(topo.static_host), "%s", hosts->host);
		topo.static_port = hosts->port;
	} else {
		topo.client = monitor_client(topo.uri, opt);
		if (!topo.client) {
			snprintf(err, errlen, "key 'mongo_uri': cannot build a client for it");
			return false;
		}
	}
	topo.on_change = opt->on_change;
	topo.arg = opt->arg;

	/* First discovery inline so the listeners open with a known primary. */
	for (int waited = 0; waited < TOPOLOGY_FIRST_WAIT_MS && !topo.have; waited += 250) {
		topology_check();
		if (!topo.have)
			usleep(250 * 1000);
	}
	if (pthread_create(&topo.thread, NULL, topology_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the topology thread");
		return false;
	}
	topo.running = true;
	return true;
}

bool topology_current(struct topology_primary *out)
{
	pthread_mutex_lock(&topo.lock);
	bool have = topo.have;
	if (have)
		*out = topo.current;
	pthread_mutex_unlock(&topo.lock);
	return have;
}

bool topology_uses_tls(void)
{
	return topo.uri && mongoc_uri_get_tls(topo.uri);
}

void topology_uri_tls(const char **ca_file, const char **cert_file, bool *insecure)
{
	*ca_file = mongoc_uri_get_option_as_utf8(topo.uri, MONGOC_URI_TLSCAFILE, NULL);
	*cert_file = mongoc_uri_get_option_as_utf8(topo.uri, MONGOC_URI_TLSCERTIFICATEKEYFILE, NULL);
	*insecure = mongoc_uri_get_option_as_bool(topo.uri, MONGOC_URI_TLSINSECURE, false) ||
		    mongoc_uri_get_option_as_bool(topo.uri, MONGOC_URI_TLSALLOWINVALIDCERTIFICATES, false);
}

uint64_t topology_generation(void)
{
	return atomic_load_explicit(&topo.generation, memory_order_relaxed);
}

void topology_poke(void)
{
	pthread_mutex_lock(&topo.lock);
	topo.poked = true;
	pthread_cond_signal(&topo.wake);
	pthread_mutex_unlock(&topo.lock);
}

void topology_stop(void)
{
	pthread_mutex_lock(&topo.lock);
	topo.stop = true;
	pthread_cond_signal(&topo.wake);
	pthread_mutex_unlock(&topo.lock);
	if (topo.running)
		pthread_join(topo.thread, NULL);
	topo.running = false;
	if (topo.client)
		mongoc_client_destroy(topo.client);
	if (topo.uri)
		mongoc_uri_destroy(topo.uri);
	topo.client = NULL;
	topo.uri = NULL;
	mongoc_cleanup();
}
