/*
 * authz.h - whether MongoDB has authorized a client connection for an
 * action on a namespace, asked of MongoDB itself on the connection's own
 * upstream connection (not a copy of its rules).  tandem answers from
 * PostgreSQL (served reads, pg_primary / pg_only writes) only on ALLOW;
 * DENY and UNKNOWN go to MongoDB, which answers (or refuses) itself.
 *
 *   client: saslStart/saslContinue/authenticate/logout   -> cache dropped (UNKNOWN)
 *   MongoDB: the reply that completes it (authev.h)      -> tandem sends its own
 *            {connectionStatus: 1, showPrivileges: true} on the same upstream
 *            connection, client reads paused (one round trip)
 *   MongoDB: the privileges (privs.h)                    -> cached; reads resume
 *
 * Per connection (struct authz_conn, worker thread only):
 *   AUTHZ_ST_NONE     never authenticated: DENY (ALLOW when the upstream
 *                     does not enforce authentication)
 *   AUTHZ_ST_CHANGING an authentication or logout is under way, or the
 *                     privileges were asked for and not answered: UNKNOWN
 *   AUTHZ_ST_KNOWN    MongoDB's privileges are cached: ALLOW / DENY by them
 *   AUTHZ_ST_FAILED   the answer was an error or malformed: UNKNOWN
 *
 * Process-wide: whether the upstream enforces authentication, found at
 * start-up by a connection of tandem's own without credentials (authz_probe).
 * Until known (upstream unreachable) it counts as enforced.  Nothing is
 * asked when it is not enforced, or without PostgreSQL (tandem then answers
 * nothing itself).
 */
#ifndef TANDEM_AUTHZ_H
#define TANDEM_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authev.h"
#include "privs.h"

struct client;
struct dwjob;
struct evbuffer;
struct msg_info;
struct wire_header;

enum authz_answer { AUTHZ_ALLOW, AUTHZ_DENY, AUTHZ_UNKNOWN };
enum authz_action { AUTHZ_FIND, AUTHZ_INSERT, AUTHZ_UPDATE, AUTHZ_REMOVE };

enum authz_state { AUTHZ_ST_NONE, AUTHZ_ST_CHANGING, AUTHZ_ST_KNOWN, AUTHZ_ST_FAILED };

/* Whether the upstream enforces authentication (authz_probe.c). */
enum authz_upstream { AUTHZ_UP_UNKNOWN, AUTHZ_UP_ENFORCED, AUTHZ_UP_OPEN };

struct authz_conn {
	enum authz_state state;
	enum authev_kind watch;      /* kind of the watched request, AUTHEV_NONE: none */
	int32_t watch_id;            /* its request id */
	int32_t ask_id;              /* tandem's connectionStatus in flight, 0: none */
	uint64_t known_us;           /* when the privileges were cached (clock_mono_us) */
	struct privs privs;          /* valid in AUTHZ_ST_KNOWN */
};

/* May c's client have action done on db.coll answered by tandem?  Worker
 * thread of c only; no I/O, no allocation.  coll NULL or "": UNKNOWN. */
enum authz_answer authz_check(const struct client *c, const char *db, const char *coll,
			      enum authz_action action);

/* Request hook (client_pump_requests, for every inspected request, before
 * anything else is done with it): an authentication or logout drops the
 * cache and its reply is watched.  Privileges older than authz.refresh_ms
 * are asked again: false then, the request stays unread in the client's
 * input and c is paused until the answer (so it is decided on fresh
 * privileges, not sent to MongoDB for want of them). */
bool authz_on_request(struct client *c, const struct msg_info *info)
	__attribute__((warn_unused_result));

/* Reply hook (client_pump_replies, for every whole reply in `in`, before it
 * is forwarded): true when the reply was tandem's own connectionStatus,
 * consumed here (never forwarded).  A watched reply that changes the
 * authentication sends that question on c's upstream connection. */
bool authz_on_reply(struct client *c, struct evbuffer *in, const struct wire_header *h);

/* A served write (DWJOB_SERVE) c may not have answered by PostgreSQL becomes
 * a captured write: it goes to MongoDB, and PostgreSQL gets only what MongoDB
 * acknowledged.  Returns whether dw is still served. */
bool authz_gate_serve(const struct client *c, struct dwjob *dw);

/* The session ends: free the cache. */
void authz_conn_free(struct authz_conn *a);

/* Process-wide (authz_probe.c). */
enum authz_upstream authz_upstream_get(void);
void authz_upstream_set(enum authz_upstream up);

#endif
