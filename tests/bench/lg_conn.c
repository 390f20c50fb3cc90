/*
 * lg_conn.c - one load-generator connection: connect, hello, then a closed
 * loop of requests (or idle), with every reply checked.
 *
 *   NEW -> CONNECTING -> HELLO -> BUSY <-> BUSY ...   (ping, find, insert)
 *                              -> IDLE                (idle)
 *   any state -> DEAD on connect failure, EOF, socket error or a bad reply
 *
 * Raw non-blocking sockets with evbuffers: a request is written with
 * evbuffer_write() the moment it is built (no extra loop turn), and the
 * write event is armed only when the socket would block.  A reply must
 * answer the request in flight (responseTo) and carry ok: 1; an error reply
 * is counted and the loop goes on, a protocol violation kills the conn.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <bson/bson.h>

#include "bench_msg.h"
#include "loadgen.h"

#define LG_COLL "bench"
#define LG_DB "bench"
#define LG_READ_MAX (256 * 1024)

static void lg_conn_io_cb(evutil_socket_t fd, short what, void *arg);

uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool lg_in_window(uint64_t now)
{
	return now >= atomic_load_explicit(&lg_shared.t_warm, memory_order_relaxed) &&
	       now <= atomic_load_explicit(&lg_shared.t_end, memory_order_relaxed);
}

/* Frees whatever of the conn's events, buffers and socket exist. */
static void lg_conn_release(struct lg_conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->in)
		evbuffer_free(c->in);
	if (c->out)
		evbuffer_free(c->out);
	if (c->fd >= 0)
		close(c->fd);
	c->rev = c->wev = NULL;
	c->in = c->out = NULL;
	c->fd = -1;
}

/* Releases the conn's resources and marks it DEAD; the first few reasons go to stderr. */
void lg_conn_kill(struct lg_conn *c, const char *why)
{
	struct lg_thread *t = c->t;
	static atomic_int reported;

	if (atomic_fetch_add(&reported, 1) < 5)
		fprintf(stderr, "loadgen: connection lost: %s\n", why);
	if (c->state == LG_CONN_CONNECTING || c->state == LG_CONN_HELLO) {
		t->starting--;
		atomic_fetch_add(&lg_shared.failed, 1);
	} else if (c->state == LG_CONN_BUSY || c->state == LG_CONN_IDLE ||
	           c->state == LG_CONN_PACED) {
		t->st.closed++;
	}
	c->state = LG_CONN_DEAD;
	lg_conn_release(c);
	lg_thread_pump(t);
}

/* Writes what the socket takes now; arms the write event for the rest. */
static bool lg_conn_flush(struct lg_conn *c)
{
	if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EINTR)
		return false;
	if (evbuffer_get_length(c->out) > 0)
		event_add(c->wev, NULL);
	return true;
}

static bool lg_conn_send(struct lg_conn *c, const bson_t *body, const char *seq_id,
                         const bson_t *const *docs, int n_docs)
{
	c->req_id = ++c->t->req_seq;
	c->sent_ns = lg_now_ns();
	return bmsg_add_opmsg(c->out, c->req_id, 0, 0, body, seq_id, docs, n_docs) &&
	       lg_conn_flush(c);
}

static bool lg_conn_send_hello(struct lg_conn *c)
{
	bson_t q = BSON_INITIALIZER;
	bool ok;

	c->state = LG_CONN_HELLO;
	if (c->t->o->legacy_hello) {
		BSON_APPEND_INT32(&q, "isMaster", 1);
		c->req_id = ++c->t->req_seq;
		ok = bmsg_add_opquery(c->out, c->req_id, "admin.$cmd", &q) && lg_conn_flush(c);
	} else {
		BSON_APPEND_INT32(&q, "hello", 1);
		BSON_APPEND_UTF8(&q, "$db", "admin");
		ok = lg_conn_send(c, &q, NULL, NULL, 0);
	}
	bson_destroy(&q);
	return ok;
}

/*
 * A user-like document of about --doc-bytes bytes: a fresh ObjectId _id
 * (unique across connections, threads, processes and runs), a few typed
 * fields, a nested object and an array, then "pad" to reach the size.
 */
static void lg_build_doc(struct lg_thread *t, bson_t *doc)
{
	char email[64], name[64];
	bson_t sub;
	bson_oid_t oid;
	int64_t seq = t->doc_seq++;
	size_t pad = 0, want = (size_t)t->o->doc_bytes;

	bson_oid_init(&oid, t->oids);
	snprintf(email, sizeof email, "user%d.%lld@example.com", t->index, (long long)seq);
	snprintf(name, sizeof name, "Bench User %lld", (long long)seq);
	BSON_APPEND_OID(doc, "_id", &oid);
	BSON_APPEND_UTF8(doc, "email", email);
	BSON_APPEND_UTF8(doc, "name", name);
	BSON_APPEND_UTF8(doc, "status", "active");
	BSON_APPEND_INT32(doc, "age", (int32_t)(18 + seq % 60));
	BSON_APPEND_DOUBLE(doc, "score", (double)(seq % 1000) / 10.0);
	BSON_APPEND_DATE_TIME(doc, "createdAt", 1767225600000LL + seq);
	BSON_APPEND_DOCUMENT_BEGIN(doc, "address", &sub);
	BSON_APPEND_UTF8(&sub, "city", "Lyon");
	BSON_APPEND_UTF8(&sub, "zip", "69001");
	bson_append_document_end(doc, &sub);
	BSON_APPEND_ARRAY_BEGIN(doc, "tags", &sub);
	BSON_APPEND_UTF8(&sub, "0", "trial");
	BSON_APPEND_UTF8(&sub, "1", "eu");
	bson_append_array_end(doc, &sub);
	/* "pad" costs 1 (type) + 4 (key) + 4 (length) + 1 (NUL) + its characters */
	if (want > doc->len + 10)
		pad = want - doc->len - 10;
	bson_append_utf8(doc, "pad", 3, t->pad, (int)pad);
}

static bool lg_conn_send_insert(struct lg_conn *c)
{
	bson_t body = BSON_INITIALIZER, doc = BSON_INITIALIZER;
	const bson_t *docs[1] = { &doc };
	bool ok;

	BSON_APPEND_UTF8(&body, "insert", LG_COLL);
	BSON_APPEND_BOOL(&body, "ordered", true);
	BSON_APPEND_UTF8(&body, "$db", LG_DB);
	lg_build_doc(c->t, &doc);
	ok = lg_conn_send(c, &body, "documents", docs, 1);
	bson_destroy(&doc);
	bson_destroy(&body);
	return ok;
}

static bool lg_conn_send_find(struct lg_conn *c)
{
	const struct lg_opts *o = c->t->o;
	bson_t body = BSON_INITIALIZER, filter = BSON_INITIALIZER;
	bool ok;

	const char *coll = o->coll ? o->coll : LG_COLL;

	if (c->cursor_id == 0) {
		BSON_APPEND_UTF8(&body, "find", coll);
		if (o->filter_id >= 0)
			BSON_APPEND_INT64(&filter, "_id", o->filter_id);
		BSON_APPEND_DOCUMENT(&body, "filter", &filter);
	} else {
		BSON_APPEND_INT64(&body, "getMore", c->cursor_id);
		BSON_APPEND_UTF8(&body, "collection", coll);
	}
	if (o->batch > 0)
		BSON_APPEND_INT32(&body, "batchSize", o->batch);
	BSON_APPEND_UTF8(&body, "$db", LG_DB);
	ok = lg_conn_send(c, &body, NULL, NULL, 0);
	bson_destroy(&filter);
	bson_destroy(&body);
	return ok;
}

bool lg_conn_send_request(struct lg_conn *c)
{
	bson_t ping = BSON_INITIALIZER;
	bool ok;

	c->state = LG_CONN_BUSY;
	switch (c->t->o->mode) {
	case LG_MODE_FIND:
		return lg_conn_send_find(c);
	case LG_MODE_INSERT:
		return lg_conn_send_insert(c);
	case LG_MODE_IDLE:
		c->state = LG_CONN_IDLE;
		return true;
	case LG_MODE_PING:
		break;
	}
	BSON_APPEND_INT32(&ping, "ping", 1);
	BSON_APPEND_UTF8(&ping, "$db", "admin");
	ok = lg_conn_send(c, &ping, NULL, NULL, 0);
	bson_destroy(&ping);
	return ok;
}

/* Sends the next measured request of the mode, parks c (--rate) or goes idle. */
static bool lg_conn_next(struct lg_conn *c)
{
	if (atomic_load_explicit(&lg_shared.stop, memory_order_relaxed) ||
	    c->t->o->mode == LG_MODE_IDLE) {
		c->state = LG_CONN_IDLE;
		return true;
	}
	if (c->t->o->rate > 0 && !lg_pace_take(c->t)) {
		lg_pace_park(c);
		return true;
	}
	return lg_conn_send_request(c);
}

/* find mode: reads cursor.id and the batch length of a cursor reply. */
static bool lg_read_cursor(const bson_t *reply, int64_t *id, uint64_t *n_docs)
{
	bson_iter_t it, cur, batch;

	*n_docs = 0;
	if (!bson_iter_init_find(&it, reply, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &cur))
		return false;
	*id = -1;
	while (bson_iter_next(&cur)) {
		const char *k = bson_iter_key(&cur);

		if (strcmp(k, "id") == 0 && BSON_ITER_HOLDS_INT64(&cur))
			*id = bson_iter_int64(&cur);
		else if ((strcmp(k, "firstBatch") == 0 || strcmp(k, "nextBatch") == 0) &&
		         BSON_ITER_HOLDS_ARRAY(&cur) && bson_iter_recurse(&cur, &batch))
			while (bson_iter_next(&batch))
				(*n_docs)++;
	}
	return *id >= 0;
}

/* Accounts one reply body of a measured request; false: a protocol violation. */
static bool lg_conn_account(struct lg_conn *c, const bson_t *reply, bool ok, uint64_t len)
{
	struct lg_stats *st = &c->t->st;
	uint64_t now = lg_now_ns(), n_docs = 0;
	bool measured = lg_in_window(now);
	int64_t id = 0;

	if (ok)
		st->acked++;
	if (!ok) {
		st->errors++;
		c->cursor_id = 0;
	} else if (c->t->o->mode == LG_MODE_FIND) {
		if (!lg_read_cursor(reply, &id, &n_docs))
			return false;
		c->cursor_id = id;
		if (measured && id == 0)
			st->cursors++;
	}
	if (measured) {
		st->ops++;
		st->docs += n_docs;
		st->rx_bytes += len;
		bhist_record(&st->hist, now - c->sent_ns);
	}
	return true;
}

/* Handles one complete reply message; false kills the connection. */
static bool lg_conn_on_reply(struct lg_conn *c, const uint8_t *msg, size_t len)
{
	struct bmsg_header h;
	struct bmsg_opmsg m;
	bson_t doc;
	bson_iter_t it;
	bool ok;

	if (!bmsg_read_header(msg, &h) || h.response_to != c->req_id)
		return false;
	if (h.opcode == BMSG_OP_MSG && bmsg_parse_opmsg(msg, len, &m))
		doc = m.body;
	else if (h.opcode != BMSG_OP_REPLY || !bmsg_parse_opreply_first(msg, len, &doc))
		return false;
	ok = bson_iter_init_find(&it, &doc, "ok") && BSON_ITER_HOLDS_NUMBER(&it) &&
	     bson_iter_as_double(&it) == 1.0;
	if (c->state == LG_CONN_HELLO) {
		if (!ok)
			return false;
		c->t->starting--;
		atomic_fetch_add(&lg_shared.ready, 1);
		lg_thread_pump(c->t);
	} else if (c->state != LG_CONN_BUSY || !lg_conn_account(c, &doc, ok, len)) {
		return false;
	}
	return lg_conn_next(c);
}

/*
 * One readv() of up to LG_READ_MAX bytes straight into c->in (evbuffer_read
 * stops at 4 KiB per call in libevent 2.1, too little for find batches).
 */
static ssize_t lg_conn_read(struct lg_conn *c)
{
	struct evbuffer_iovec v[2];
	int nv = evbuffer_reserve_space(c->in, LG_READ_MAX, v, 2);
	ssize_t n;

	if (nv <= 0) {
		errno = ENOMEM;
		return -1;
	}
	n = readv(c->fd, (struct iovec *)v, nv);
	if (n <= 0) {
		evbuffer_commit_space(c->in, v, 0);
		return n;
	}
	if ((size_t)n <= v[0].iov_len) {
		v[0].iov_len = (size_t)n;
		nv = 1;
	} else {
		v[1].iov_len = (size_t)n - v[0].iov_len;
	}
	evbuffer_commit_space(c->in, v, nv);
	return n;
}

/* Reads what is available and handles every complete reply. */
static void lg_conn_readable(struct lg_conn *c)
{
	uint8_t raw[BMSG_HEADER_LEN];
	struct bmsg_header h;
	const uint8_t *msg;
	ssize_t n = lg_conn_read(c);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		lg_conn_kill(c, n == 0 ? "closed by peer" : strerror(errno));
		return;
	}
	while (evbuffer_get_length(c->in) >= BMSG_HEADER_LEN) {
		evbuffer_copyout(c->in, raw, sizeof raw);
		if (!bmsg_read_header(raw, &h)) {
			lg_conn_kill(c, "bad reply header");
			return;
		}
		if (evbuffer_get_length(c->in) < (size_t)h.length)
			return;
		msg = evbuffer_pullup(c->in, h.length);
		if (msg == NULL || !lg_conn_on_reply(c, msg, (size_t)h.length)) {
			c->t->st.errors++;
			lg_conn_kill(c, "bad reply");
			return;
		}
		evbuffer_drain(c->in, (size_t)h.length);
	}
}

static void lg_conn_connected(struct lg_conn *c)
{
	int err = 0, one = 1;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		lg_conn_kill(c, strerror(err ? err : errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	event_add(c->rev, NULL);
	if (!lg_conn_send_hello(c))
		lg_conn_kill(c, "cannot send hello");
}

static void lg_conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_conn *c = arg;

	(void)fd;
	if (what & EV_WRITE) {
		if (c->state == LG_CONN_CONNECTING) {
			lg_conn_connected(c);
			return;
		}
		if (!lg_conn_flush(c)) {
			lg_conn_kill(c, strerror(errno));
			return;
		}
	}
	if ((what & EV_READ) && c->state != LG_CONN_DEAD)
		lg_conn_readable(c);
}

/* Opens the socket and starts a non-blocking connect. */
static void lg_conn_start(struct lg_conn *c)
{
	struct lg_thread *t = c->t;

	c->state = LG_CONN_CONNECTING;
	c->fd = -1;
	t->starting++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(t->base, c->fd, EV_READ | EV_PERSIST, lg_conn_io_cb, c);
	c->wev = event_new(t->base, c->fd, EV_WRITE, lg_conn_io_cb, c);
	if (c->fd < 0 || !c->in || !c->out || !c->rev || !c->wev) {
		lg_conn_kill(c, "out of resources");
		return;
	}
	if (connect(c->fd, (const struct sockaddr *)&t->o->addr, sizeof t->o->addr) != 0 &&
	    errno != EINPROGRESS) {
		lg_conn_kill(c, strerror(errno));
		return;
	}
	event_add(c->wev, NULL);
}

void lg_thread_pump(struct lg_thread *t)
{
	if (t->pumping)
		return; /* a start that failed at once re-enters here */
	t->pumping = true;
	while (t->next_start < t->nconns && t->starting < t->o->connect_burst &&
	       !atomic_load_explicit(&lg_shared.stop, memory_order_relaxed))
		lg_conn_start(&t->conns[t->next_start++]);
	t->pumping = false;
}

void lg_thread_close_all(struct lg_thread *t)
{
	int i;

	for (i = 0; i < t->nconns; i++) {
		struct lg_conn *c = &t->conns[i];

		if (c->state == LG_CONN_NEW || c->state == LG_CONN_DEAD)
			continue;
		lg_conn_release(c);
		c->state = LG_CONN_DEAD;
	}
}

int lg_thread_busy(const struct lg_thread *t)
{
	int i, n = 0;

	for (i = 0; i < t->nconns; i++)
		n += t->conns[i].state == LG_CONN_BUSY;
	return n;
}

void lg_thread_count_stalled(struct lg_thread *t, uint64_t now)
{
	int i;

	for (i = 0; i < t->nconns; i++)
		if (t->conns[i].state == LG_CONN_BUSY && now > t->conns[i].sent_ns &&
		    now - t->conns[i].sent_ns > 1000000000ull)
			t->st.stalled++;
}
