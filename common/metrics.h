/*
 * metrics.h - process-wide counters, gauges and histograms, exported in the
 * Prometheus text format by the admin endpoint.
 *
 * Every plain metric is declared once in METRICS_COUNTERS / METRICS_GAUGES;
 * the X-macro generates the enum, the exported name and the help text.
 * Updates are relaxed atomic adds: cheap on the hot path, exact at scrape.
 * Labelled families (by opcode, command, protocol error) have fixed label
 * sets so a hostile client cannot grow the exposition.
 */
#ifndef TANDEM_METRICS_H
#define TANDEM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct evbuffer;

#define METRICS_COUNTERS(X)                                                                   \
	X(CLIENT_ACCEPTED, "client_connections_accepted_total", "Client connections accepted")  \
	X(CLIENT_CLOSED_ERROR, "client_connections_closed_error_total",                          \
	  "Client connections closed by tandem because of an error or a timeout")               \
	X(UPSTREAM_CONNECTS, "upstream_connects_total", "Upstream connections opened")           \
	X(UPSTREAM_CONNECT_ERRORS, "upstream_connect_errors_total",                              \
	  "Upstream connections that failed to open or to finish TLS")                          \
	X(UPSTREAM_ERRORS, "upstream_errors_total",                                              \
	  "Upstream connections lost or timed out with requests in flight")                     \
	X(UPSTREAM_NOT_PRIMARY, "upstream_not_primary_total",                                    \
	  "Replies from the upstream saying it is no longer primary")                           \
	X(TOPOLOGY_CHANGES, "topology_primary_changes_total", "Times the upstream primary changed") \
	X(HELLO_REWRITES, "hello_rewrites_total", "hello/isMaster replies rewritten to keep drivers on tandem") \
	X(CONFIG_RELOADS, "config_reloads_total", "Successful configuration reloads")             \
	X(CONFIG_RELOAD_ERRORS, "config_reload_errors_total", "Rejected configuration reloads")

#define METRICS_GAUGES(X)                                                                     \
	X(CLIENT_CONNECTIONS, "client_connections", "Client connections open")                   \
	X(UPSTREAM_CONNECTIONS, "upstream_connections", "Upstream connections open")             \
	X(REQUESTS_IN_FLIGHT, "requests_in_flight", "Requests forwarded and not yet answered")

enum metrics_counter {
#define METRICS_ENUM(id, name, help) METRIC_##id,
	METRICS_COUNTERS(METRICS_ENUM)
	METRIC_COUNTER_COUNT
};

enum metrics_gauge {
	METRICS_GAUGES(METRICS_ENUM)
	METRIC_GAUGE_COUNT
#undef METRICS_ENUM
};

enum metrics_dir { METRICS_IN = 0, METRICS_OUT = 1 };

void metrics_inc(enum metrics_counter c);
void metrics_add(enum metrics_counter c, uint64_t n);
void metrics_gauge_add(enum metrics_gauge g, int64_t delta);
int64_t metrics_gauge_get(enum metrics_gauge g);
uint64_t metrics_counter_get(enum metrics_counter c);

/* One message of bytes bytes crossed tandem in direction dir ("in" = from
 * clients, "out" = from the upstream). */
void metrics_message(enum metrics_dir dir, int32_t opcode, size_t bytes);

/* A client command by name, in a request of bytes bytes; unknown names
 * count as "other".  Returns the index used, for metrics_latency. */
unsigned metrics_command(const char *name, size_t bytes);

/* Upstream round trip of one request, in microseconds. */
void metrics_latency(unsigned command_index, uint64_t usec);

/* A rejected client message. */
void metrics_protocol_error(enum wire_status st);

/* Append the whole exposition (text format 0.0.4) to out. */
void metrics_render(struct evbuffer *out);

#endif
