/*
 * admin.c - /metrics and /healthz over libevent's evhttp (see admin.h).
 */
#include "admin.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "metrics.h"
#include "shmetrics.h"
#include "topology.h"

static struct {
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	bool running;
	struct proxy *px;
} admin;

static void metrics_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();

	(void)arg;
	metrics_render(body);
	shmetrics_render(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void healthz_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();
	struct topology_primary p;
	bool have = topology_current(&p);
	bool draining = atomic_load(&admin.px->draining);
	int code = have && !draining ? HTTP_OK : 503;

	(void)arg;
	evbuffer_add_printf(body, "{\"status\":\"%s\",\"upstream\":\"%s:%u\",\"draining\":%s}\n",
			    code == HTTP_OK ? "ok" : "unavailable", have ? p.host : "",
			    have ? p.port : 0, draining ? "true" : "false");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, code, code == HTTP_OK ? "OK" : "Service Unavailable", body);
	evbuffer_free(body);
}

static void *admin_main(void *unused)
{
	(void)unused;
	event_base_loop(admin.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

bool admin_start(struct proxy *px, const char *addr, char *err, size_t errlen)
{
	char host[256];
	uint16_t port;

	if (!cfg_split_hostport(addr, host, sizeof(host), &port)) {
		snprintf(err, errlen, "key 'admin': '%s' is not HOST:PORT", addr);
		return false;
	}
	admin.px = px;
	admin.base = event_base_new();
	admin.http = admin.base ? evhttp_new(admin.base) : NULL;
	if (!admin.http) {
		snprintf(err, errlen, "key 'admin': out of memory");
		return false;
	}
	evhttp_set_allowed_methods(admin.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(admin.http, "/metrics", metrics_cb, NULL);
	evhttp_set_cb(admin.http, "/healthz", healthz_cb, NULL);
	evhttp_set_timeout(admin.http, 10);
	if (evhttp_bind_socket(admin.http, host, port) != 0) {
		snprintf(err, errlen, "key 'admin': cannot listen on %s", addr);
		return false;
	}
	if (pthread_create(&admin.thread, NULL, admin_main, NULL) != 0) {
		snprintf(err, errlen, "key 'admin': cannot start its thread");
		return false;
	}
	admin.running = true;
	return true;
}

void admin_stop(void)
{
	if (admin.running) {
		event_base_loopexit(admin.base, NULL);
		pthread_join(admin.thread, NULL);
		admin.running = false;
	}
	if (admin.http)
		evhttp_free(admin.http);
	if (admin.base)
		event_base_free(admin.base);
	admin.http = NULL;
	admin.base = NULL;
}
