/*
 * authz_probe.c - does the upstream enforce authentication (authz_probe.h)?
 *
 *   main: authz_probe_start ─▶ probe() once ─▶ thread: every 2 s while
 *         unknown, every 30 s once known ─▶ authz_upstream_set()
 *
 * probe(): a fresh single-threaded libmongoc client to the current primary
 * (topology.h) with no credentials at all, directConnection, short timeouts;
 * {listDatabases: 1, nameOnly: true} on admin needs a privilege, so only an
 * upstream without authentication runs it for an anonymous connection.
 */
#include "authz_probe.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "authz.h"
#include "log.h"
#include "topology.h"

static struct {
	struct authz_probe_options opt;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool running;
	bool stop;
} probe_st = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* A client to host:port without credentials, TLS as configured. */
static mongoc_client_t *anonymous_client(const struct topology_primary *p)
{
	char s[400];
	const char *ca = NULL, *cert = NULL;
	bool insecure = false;

	snprintf(s, sizeof(s), strchr(p->host, ':') ? "mongodb://[%s]:%u/" : "mongodb://%s:%u/",
		 p->host, p->port);
	mongoc_uri_t *u = mongoc_uri_new(s);
	if (!u)
		return NULL;
	mongoc_uri_set_option_as_bool(u, MONGOC_URI_DIRECTCONNECTION, true);
	mongoc_uri_set_option_as_int32(u, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
	mongoc_uri_set_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
	mongoc_uri_set_option_as_int32(u, MONGOC_URI_SOCKETTIMEOUTMS, 5000);
	mongoc_uri_set_option_as_bool(u, MONGOC_URI_SERVERSELECTIONTRYONCE, true);
	if (topology_uses_tls()) {
		topology_uri_tls(&ca, &cert, &insecure);
		const struct authz_probe_options *o = &probe_st.opt;
		if (o->tls_ca_file && *o->tls_ca_file)
			ca = o->tls_ca_file;
		if (o->tls_cert_file && *o->tls_cert_file)
			cert = o->tls_cert_file;
		mongoc_uri_set_option_as_bool(u, MONGOC_URI_TLS, true);
		if (ca)
			mongoc_uri_set_option_as_utf8(u, MONGOC_URI_TLSCAFILE, ca);
		if (cert)
			mongoc_uri_set_option_as_utf8(u, MONGOC_URI_TLSCERTIFICATEKEYFILE, cert);
		if (insecure || o->tls_insecure)
			mongoc_uri_set_option_as_bool(u, MONGOC_URI_TLSINSECURE, true);
	}
	mongoc_client_t *c = mongoc_client_new_from_uri(u);
	mongoc_uri_destroy(u);
	if (c) {
		mongoc_client_set_appname(c, "tandem-authz-probe");
		/* Server refusals in MONGOC_ERROR_SERVER, network trouble elsewhere. */
		mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
	}
	return c;
}

/* One question to the upstream: enforced, open, or unknown (unreachable). */
static enum authz_upstream probe(void)
{
	struct topology_primary p;
	bson_error_t error;
	bson_t reply;

	if (!topology_current(&p))
		return AUTHZ_UP_UNKNOWN;
	mongoc_client_t *c = anonymous_client(&p);
	if (!c)
		return AUTHZ_UP_UNKNOWN;
	bson_t *cmd = BCON_NEW("listDatabases", BCON_INT32(1), "nameOnly", BCON_BOOL(true));
	bool ok = mongoc_client_command_simple(c, "admin", cmd, NULL, &reply, &error);
	enum authz_upstream up = ok ? AUTHZ_UP_OPEN
			       : error.domain == MONGOC_ERROR_SERVER ? AUTHZ_UP_ENFORCED
								     : AUTHZ_UP_UNKNOWN;
	bson_destroy(&reply);
	bson_destroy(cmd);
	mongoc_client_destroy(c);
	return up;
}

/* Record the answer; a change is logged (not enforced: a warning). */
static void record(enum authz_upstream up)
{
	static const char *const events[] = {
		[AUTHZ_UP_UNKNOWN] = "upstream_auth_unknown",
		[AUTHZ_UP_ENFORCED] = "upstream_auth_enforced",
		[AUTHZ_UP_OPEN] = "upstream_auth_not_enforced",
	};
	static const char *const notes[] = {
		[AUTHZ_UP_UNKNOWN] = "upstream unreachable: treated as enforcing authentication until known",
		[AUTHZ_UP_ENFORCED] = "tandem answers from PostgreSQL only for connections MongoDB authorized",
		[AUTHZ_UP_OPEN] = "the upstream does not enforce authentication: every connection is "
				  "authorized for what tandem answers from PostgreSQL",
	};
	static bool logged;
	enum authz_upstream old = authz_upstream_get();

	if (logged && old == up)
		return;
	if (up == AUTHZ_UP_UNKNOWN && old != AUTHZ_UP_UNKNOWN)
		return; /* an outage keeps the last answer */
	logged = true;
	authz_upstream_set(up);
	struct log_line *l = log_begin(up == AUTHZ_UP_ENFORCED ? LOG_INFO : LOG_WARN, events[up], 0);
	if (l) {
		log_str(l, "note", notes[up]);
		log_end(l);
	}
}

static void *probe_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&probe_st.lock);
	while (!probe_st.stop) {
		int ms = authz_upstream_get() == AUTHZ_UP_UNKNOWN ? AUTHZ_PROBE_RETRY_MS
								  : AUTHZ_PROBE_RECHECK_MS;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!probe_st.stop &&
		       pthread_cond_timedwait(&probe_st.wake, &probe_st.lock, &ts) == 0)
			;
		if (probe_st.stop)
			break;
		pthread_mutex_unlock(&probe_st.lock);
		record(probe());
		pthread_mutex_lock(&probe_st.lock);
	}
	pthread_mutex_unlock(&probe_st.lock);
	return NULL;
}

bool authz_probe_start(const struct authz_probe_options *opt)
{
	probe_st.opt = *opt;
	record(probe());
	if (pthread_create(&probe_st.thread, NULL, probe_main, NULL) != 0)
		return false;
	probe_st.running = true;
	return true;
}

void authz_probe_stop(void)
{
	if (!probe_st.running)
		return;
	pthread_mutex_lock(&probe_st.lock);
	probe_st.stop = true;
	pthread_cond_signal(&probe_st.wake);
	pthread_mutex_unlock(&probe_st.lock);
	pthread_join(probe_st.thread, NULL);
	probe_st.running = false;
}
