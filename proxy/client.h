/*
 * client.h - one client session and its dedicated upstream connection.
 *
 *   application --(cbev)--> [ client ] --(ubev)--> MongoDB primary
 *               <--------- replies ----------
 *
 * Each client gets its own upstream connection, so authentication, sessions,
 * cursors and transactions pass through unchanged.  Requests are framed,
 * inspected (inspect.c) and moved untouched with evbuffer_remove_buffer;
 * only hello/isMaster replies are rewritten (hello.c).
 *
 * States:
 *   CLIENT_ST_CONNECTING  upstream connect / TLS handshake in progress;
 *                         client bytes wait unread
 *   CLIENT_ST_ACTIVE      forwarding both ways
 *   CLIENT_ST_DRAINING    SIGTERM: no new requests read; closes when the
 *                         requests in flight are answered
 *   CLIENT_ST_CLOSING     a final error reply is being flushed; then freed
 */
#ifndef TANDEM_CLIENT_H
#define TANDEM_CLIENT_H

#include <event2/util.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "authz.h"

struct dwjob;
struct worker;

enum client_state {
	CLIENT_ST_CONNECTING,
	CLIENT_ST_ACTIVE,
	CLIENT_ST_DRAINING,
	CLIENT_ST_CLOSING,
};

const char *client_state_to_str(enum client_state st);

/* Requests in flight that a session tracks; a client that pipelines more is
 * not read from until replies free a slot. */
#define CLIENT_MAX_PENDING 16

struct client_pending {
	int32_t request_id;
	unsigned command;        /* metrics index */
	uint64_t start_us;
	int32_t opcode;          /* effective opcode of the request */
	bool hello;              /* reply must be rewritten */
	struct dwjob *dw;        /* a write kept for dual-write until its reply, or NULL */
	bool served;             /* PostgreSQL answers it (pg_primary / pg_only writes,
	                          * served reads) */
	struct shjob *sh;        /* a sampled read waiting for MongoDB's reply, or NULL */
	uint8_t *orig;           /* served read: the request as received, forwarded to
	                          * MongoDB on fallback (client_fallback); NULL otherwise */
	size_t orig_len;
};

struct client {
	uint64_t id;
	enum client_state state;
	struct worker *w;
	struct bufferevent *cbev;
	struct bufferevent *ubev;
	struct event *frame_timer;   /* a started frame must complete */
	struct event *cread;         /* plaintext: client read event (sockread) */
	struct event *uread;         /* plaintext: upstream read event */
	uint64_t generation;         /* topology generation of the upstream */
	unsigned paused;             /* CLIENT_PAUSE_* bits stopping client reads */
	bool upstream_paused;        /* client output above the mark */
	const char *close_reason;    /* set when CLOSING: logged at the end */
	bool close_error;
	const char *close_detail;
	unsigned npending;
	struct client_pending pending[CLIENT_MAX_PENDING];
	struct authz_conn authz;     /* MongoDB's privileges for this connection (authz.h) */
	char peer[64];
	TAILQ_ENTRY(client) link;
};

/* Accept fd (non-blocking) on worker w and start its upstream connection.
 * On failure the fd is closed and NULL returned (logged). */
struct client *client_new(struct worker *w, evutil_socket_t fd, const struct sockaddr *peer,
			  int peerlen);

/* The one place a session ends: log it once, count it, free everything. */
void client_close(struct client *c, const char *reason, bool error);

/* The primary changed: a session on an older upstream closes so its driver
 * reconnects through tandem to the new primary. */
void client_topology_changed(struct client *c, uint64_t generation);

/* The reply to served request response_to (PostgreSQL answered it): send
 * it and free the slot.  Ignored when no such request waits. */
void client_served(struct client *c, int32_t response_to, const uint8_t *msg, size_t len);

/* PostgreSQL did not answer served read response_to: forward the request
 * as received to MongoDB, which answers it.  Ignored when no such read
 * waits. */
void client_fallback(struct client *c, int32_t response_to);

/* SIGTERM: finish what is in flight, then close. */
void client_drain(struct client *c);

#endif
