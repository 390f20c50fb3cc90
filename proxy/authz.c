/*
 * authz.c - connection authorization (see authz.h): the per-connection
 * privilege cache, the hooks on the request and reply paths, and the gate
 * in front of served writes.
 *
 *   request saslStart/.../logout ─▶ state CHANGING, watch its request id
 *   reply to the watched request ─▶ changed (authev.h)? ─▶ send our own
 *       connectionStatus (ask_id), pause client reads
 *   reply with responseTo == ask_id ─▶ privs_parse ─▶ KNOWN or FAILED,
 *       resume client reads; never forwarded
 *
 * Ordering: MongoDB answers a connection's requests in order, and the
 * question is sent before any later request of the client is read (reads
 * are paused), so the first reply to ask_id is ours; ask_id is chosen
 * distinct from every request id still waiting for a reply.
 */
#include "authz.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "client_io.h"
#include "clock.h"
#include "dualwrite.h"
#include "inspect.h"
#include "log.h"
#include "metrics.h"
#include "msgdoc.h"
#include "opmsg.h"
#include "opquery.h"
#include "proxy.h"
#include "worker.h"

static _Atomic int authz_upstream = AUTHZ_UP_UNKNOWN;

enum authz_upstream authz_upstream_get(void)
{
	return (enum authz_upstream)atomic_load_explicit(&authz_upstream, memory_order_relaxed);
}

void authz_upstream_set(enum authz_upstream up)
{
	atomic_store(&authz_upstream, (int)up);
}

static unsigned action_bits(enum authz_action action)
{
	switch (action) {
	case AUTHZ_FIND:
		return PRIV_FIND;
	case AUTHZ_INSERT:
		return PRIV_INSERT;
	case AUTHZ_UPDATE:
		return PRIV_UPDATE;
	case AUTHZ_REMOVE:
		return PRIV_REMOVE;
	}
	return 0;
}

/* The decision for every action in bits (PRIV_*) on db.coll. */
static enum authz_answer decide(const struct client *c, const char *db, const char *coll,
				unsigned bits)
{
	if (authz_upstream_get() == AUTHZ_UP_OPEN)
		return AUTHZ_ALLOW;
	if (!db || !coll || !db[0] || !coll[0] || !bits)
		return AUTHZ_UNKNOWN;
	switch (c->authz.state) {
	case AUTHZ_ST_NONE:
		return AUTHZ_DENY; /* enforced, or not known yet: the safe side */
	case AUTHZ_ST_KNOWN:
		return privs_allow(&c->authz.privs, db, coll, bits) ? AUTHZ_ALLOW : AUTHZ_DENY;
	default:
		return AUTHZ_UNKNOWN;
	}
}

enum authz_answer authz_check(const struct client *c, const char *db, const char *coll,
			      enum authz_action action)
{
	return decide(c, db, coll, action_bits(action));
}

static void ask_privileges(struct client *c);

/* Whether privileges are worth asking for: tandem answers something itself
 * (PostgreSQL is configured) and the upstream may enforce authentication. */
static bool asking(void)
{
	return dualwrite_enabled() && authz_upstream_get() != AUTHZ_UP_OPEN;
}

static void drop_cache(struct authz_conn *a, enum authz_state st)
{
	privs_free(&a->privs);
	a->state = st;
}

void authz_conn_free(struct authz_conn *a)
{
	privs_free(&a->privs);
}

/* Cached privileges older than authz.refresh_ms (a role granted or revoked
 * since reaches tandem this late at most). */
static bool stale(const struct client *c)
{
	int64_t ms = atomic_load_explicit(&c->w->px->cfg->authz_refresh_ms, memory_order_relaxed);

	return c->authz.state == AUTHZ_ST_KNOWN && ms > 0 && !c->authz.ask_id && asking() &&
	       clock_mono_us() - c->authz.known_us > (uint64_t)ms * 1000u;
}

bool authz_on_request(struct client *c, const struct msg_info *info)
{
	if (!dualwrite_enabled())
		return true; /* plain proxy: tandem answers nothing itself */
	enum authev_kind k = authev_of_command(info->command);

	if (k == AUTHEV_NONE) {
		if (!stale(c))
			return true;
		ask_privileges(c);
		return c->authz.ask_id == 0; /* asked: wait for the answer */
	}
	/* Even without a reply (moreToCome) MongoDB acts on it: never trust the
	 * cache past an authentication command. */
	if (k != AUTHEV_HELLO)
		drop_cache(&c->authz, AUTHZ_ST_CHANGING);
	if (!info->expects_reply)
		return true;
	if (k == AUTHEV_HELLO && c->authz.watch != AUTHEV_NONE)
		return true; /* keep watching the authentication step in flight */
	c->authz.watch = k;
	c->authz.watch_id = info->header.request_id;
	return true;
}

/* The body of a whole reply (OP_MSG, compressed or not, or OP_REPLY's first
 * document) into *out (initialised when true). */
static bool reply_body(const uint8_t *msg, size_t len, bson_t *out)
{
	struct wire_header h;
	struct opreply_view v;
	bson_t doc;

	wire_header_read(msg, &h);
	if (h.opcode != WIRE_OP_REPLY)
		return msgdoc_reply_body(msg, len, out);
	if (opreply_parse(msg, len, &v) != WIRE_OK || v.nreturned < 1 || v.docs_len < 5)
		return false;
	uint32_t dlen = (uint32_t)wire_load_i32(v.docs);
	if (dlen < 5 || dlen > v.docs_len || !bson_init_static(&doc, v.docs, dlen))
		return false;
	bson_copy_to(&doc, out);
	return true;
}

/* An id for our question that no reply still awaited by the client uses. */
static int32_t ask_id(const struct client *c)
{
	for (;;) {
		int32_t id = client_new_request_id();
		unsigned i = 0;
		while (i < c->npending && c->pending[i].request_id != id)
			i++;
		if (i == c->npending)
			return id;
	}
}

/* Send {connectionStatus: 1, showPrivileges: true, $db: "admin"} on c's
 * upstream connection and pause the client until it is answered. */
static void ask_privileges(struct client *c)
{
	bson_t cmd;
	size_t len = 0;

	if (!c->ubev) {
		drop_cache(&c->authz, AUTHZ_ST_FAILED);
		return;
	}
	int32_t id = ask_id(c);
	bson_init(&cmd);
	BSON_APPEND_INT32(&cmd, "connectionStatus", 1);
	BSON_APPEND_BOOL(&cmd, "showPrivileges", true);
	BSON_APPEND_UTF8(&cmd, "$db", "admin");
	uint8_t *msg = opmsg_encode(id, 0, 0, &cmd, &len);
	bson_destroy(&cmd);
	if (!msg) {
		drop_cache(&c->authz, AUTHZ_ST_FAILED);
		return;
	}
	evbuffer_add(bufferevent_get_output(c->ubev), msg, len);
	free(msg);
	metrics_inc(METRIC_AUTHZ_QUERIES);
	c->authz.ask_id = id;
	drop_cache(&c->authz, AUTHZ_ST_CHANGING);
	client_pause(c, CLIENT_PAUSE_AUTHZ);
	client_send(c, c->ubev);
}

static void log_privileges(const struct client *c, bool ok)
{
	struct log_line *l = log_begin(ok ? LOG_DEBUG : LOG_WARN,
				       ok ? "authz_privileges" : "authz_privileges_unreadable", c->id);

	if (l) {
		log_bool(l, "authenticated", c->authz.privs.authenticated);
		log_int(l, "privileges", c->authz.privs.n);
		log_end(l);
	}
}

/* Our question's answer: cache it, resume the client. */
static void take_answer(struct client *c, const uint8_t *msg, size_t len)
{
	bson_t body;
	bool ok = false;

	c->authz.ask_id = 0;
	drop_cache(&c->authz, AUTHZ_ST_FAILED);
	if (msg && reply_body(msg, len, &body)) {
		ok = privs_parse(&body, &c->authz.privs);
		bson_destroy(&body);
	}
	if (ok) {
		c->authz.state = AUTHZ_ST_KNOWN;
		c->authz.known_us = clock_mono_us();
	} else {
		metrics_inc(METRIC_AUTHZ_QUERY_ERRORS);
	}
	log_privileges(c, ok);
	client_resume(c, CLIENT_PAUSE_AUTHZ);
}

bool authz_on_reply(struct client *c, struct evbuffer *in, const struct wire_header *h)
{
	size_t len = (size_t)h->length;

	if (c->authz.ask_id && h->response_to == c->authz.ask_id) {
		take_answer(c, evbuffer_pullup(in, h->length), len);
		evbuffer_drain(in, len);
		return true;
	}
	if (c->authz.watch == AUTHEV_NONE || h->response_to != c->authz.watch_id)
		return false;
	enum authev_kind k = c->authz.watch;
	c->authz.watch = AUTHEV_NONE;
	const uint8_t *msg = evbuffer_pullup(in, h->length);
	bson_t body;
	if (!msg || !reply_body(msg, len, &body))
		return false;
	bool changed = authev_reply_changes(k, &body);
	bson_destroy(&body);
	if (changed && !c->authz.ask_id && asking())
		ask_privileges(c);
	return false;
}

/* The PRIV_* actions a served write needs (mongod's rules: an upsert also
 * needs insert; findAndModify needs find), and its collection. */
static unsigned write_actions(const bson_t *cmd, const char **coll)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it) || !BSON_ITER_HOLDS_UTF8(&it))
		return 0;
	const char *name = bson_iter_key(&it);
	*coll = bson_iter_utf8(&it, NULL);
	if (strcmp(name, "insert") == 0)
		return PRIV_INSERT;
	if (strcmp(name, "delete") == 0)
		return PRIV_REMOVE;
	if (strcmp(name, "update") == 0) {
		bson_iter_t u, one;
		unsigned bits = PRIV_UPDATE;
		if (bson_iter_init_find(&u, cmd, "updates") && BSON_ITER_HOLDS_ARRAY(&u) &&
		    bson_iter_recurse(&u, &one))
			while (bson_iter_next(&one)) {
				bson_iter_t f;
				if (BSON_ITER_HOLDS_DOCUMENT(&one) && bson_iter_recurse(&one, &f) &&
				    bson_iter_find(&f, "upsert") && bson_iter_as_bool(&f))
					bits |= PRIV_INSERT;
			}
		return bits;
	}
	if (strcasecmp(name, "findAndModify") == 0) {
		if (bson_iter_init_find(&it, cmd, "remove") && bson_iter_as_bool(&it))
			return PRIV_FIND | PRIV_REMOVE;
		bool upsert = bson_iter_init_find(&it, cmd, "upsert") && bson_iter_as_bool(&it);
		return PRIV_FIND | PRIV_UPDATE | (upsert ? PRIV_INSERT : 0);
	}
	return 0;
}

bool authz_gate_serve(const struct client *c, struct dwjob *dw)
{
	const char *coll = NULL;

	if (dw->kind != DWJOB_SERVE)
		return false;
	unsigned bits = write_actions(&dw->cmd, &coll);
	if (decide(c, dw->db, coll, bits) == AUTHZ_ALLOW)
		return true;
	dw->kind = DWJOB_CAPTURE; /* MongoDB answers; PostgreSQL replays what it acknowledged */
	metrics_inc(METRIC_AUTHZ_NOT_SERVED);
	return false;
}
