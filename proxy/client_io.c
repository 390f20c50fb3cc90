/*
 * client_io.c - framing and forwarding for one session (see client.h).
 *
 *   client input --frame--> inspect --ok--> pending[] += reply expected
 *                                |              evbuffer_remove_buffer -> upstream output
 *                                +--bad--> client_fail: error reply, close
 *
 *   upstream input --frame--> match responseTo in pending[]
 *                              hello reply?   -> hello_rewrite, re-encode
 *                              otherwise      -> evbuffer_remove_buffer -> client output
 *                              moreToCome     -> the request stays pending (exhaust)
 *
 * Messages are moved without copying; only what must be inspected is pulled
 * up.  Plaintext sockets are written at once after a batch is queued
 * (client_send), as haproxy does, instead of waiting a loop turn for the
 * socket to be reported writable: that saves two epoll_ctl calls and a
 * wake-up per message.  Back-pressure: when one side's output passes the mark, the other side
 * stops being read until it drains to half.
 */
#include "client_io.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "clock.h"
#include "dwcapture.h"
#include "hello.h"
#include "inspect.h"
#include "log.h"
#include "metrics.h"
#include "opcomp.h"
#include "opmsg.h"
#include "opquery.h"
#include "shadow.h"
#include "shift.h"
#include "sockread.h"
#include "topology.h"
#include "worker.h"

/* Replies smaller than this are checked for "not primary" errors. */
#define CLIENT_ERROR_PEEK_MAX 2048

static _Atomic int32_t generated_request_id = 1;

int32_t client_new_request_id(void)
{
	int32_t id = atomic_fetch_add(&generated_request_id, 1);

	return id ? id : atomic_fetch_add(&generated_request_id, 1);
}

void client_pause(struct client *c, unsigned bit)
{
	if (!c->paused)
		client_reading(c, false);
	c->paused |= bit;
	evtimer_del(c->frame_timer);
}

void client_resume(struct client *c, unsigned bit)
{
	if (!(c->paused & bit))
		return;
	c->paused &= ~bit;
	if (!c->paused)
		client_reading(c, true);
}

void client_send(struct client *c, struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	bool tls = bev == c->cbev ? c->w->px->client_tls != NULL : c->w->px->upstream_tls != NULL;

	if (tls || (bufferevent_get_enabled(bev) & EV_WRITE) || evbuffer_get_length(out) == 0)
		return; /* libevent's own write event is (or will be) on it */
	/* An error leaves the bytes queued; the write event then reports it. */
	(void)sockwrite_from(out, bufferevent_getfd(bev));
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(bev, EV_WRITE);
}

void client_sent(struct client *c, struct bufferevent *bev)
{
	bool tls = bev == c->cbev ? c->w->px->client_tls != NULL : c->w->px->upstream_tls != NULL;

	if (!tls && c->state != CLIENT_ST_CLOSING && c->state != CLIENT_ST_CONNECTING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

static int64_t client_max_message(const struct client *c)
{
	return atomic_load(&c->w->px->cfg->max_message_bytes);
}

/* The error reply for a rejected request, in the request's own protocol. */
static uint8_t *fail_reply(enum wire_status st, const struct wire_header *h, const uint8_t *first,
			   size_t nfirst, size_t *len)
{
	int32_t code;
	const char *code_name;
	char msg[160];
	bson_t doc;
	uint8_t *out = NULL;
	int32_t id = client_new_request_id();

	inspect_error_code(st, &code, &code_name);
	if (st == WIRE_ERR_LENGTH && h->length <= WIRE_HEADER_LEN) {
		code = 17; /* too short is not "too large" */
		code_name = "ProtocolError";
	}
	snprintf(msg, sizeof(msg), "tandem rejected the message: %s", wire_status_to_str(st));
	if (h->opcode == WIRE_OP_MSG) {
		/* A request with moreToCome expects no reply. */
		if (nfirst >= 20 && ((uint32_t)wire_load_i32(first + 16) & OPMSG_MORE_TO_COME))
			return NULL;
		opmsg_error_doc(&doc, code, code_name, msg);
		out = opmsg_encode(id, h->request_id, 0, &doc, len);
	} else if (h->opcode == WIRE_OP_QUERY) {
		bson_init(&doc);
		BSON_APPEND_UTF8(&doc, "$err", msg);
		BSON_APPEND_INT32(&doc, "code", code);
		BSON_APPEND_DOUBLE(&doc, "ok", 0.0);
		out = opreply_encode(id, h->request_id, OPREPLY_QUERY_FAILURE, 0, &doc, len);
	} else {
		return NULL;
	}
	bson_destroy(&doc);
	return out;
}

void client_fail(struct client *c, enum wire_status st, const struct wire_header *h,
		 const uint8_t *first, size_t nfirst)
{
	size_t len = 0;
	uint8_t *reply = h ? fail_reply(st, h, first, nfirst, &len) : NULL;

	metrics_protocol_error(st);
	c->close_detail = wire_status_to_str(st);
	if (!reply) {
		client_close(c, "protocol_error", true);
		return;
	}
	evbuffer_add(bufferevent_get_output(c->cbev), reply, len);
	free(reply);
	(void)client_finish(c, "protocol_error", true);
}

bool client_finish(struct client *c, const char *reason, bool error)
{
	/* The upstream is done with; the client gets what is queued, then EOF. */
	if (c->uread) {
		event_free(c->uread);
		c->uread = NULL;
	}
	if (c->ubev) {
		bufferevent_free(c->ubev);
		c->ubev = NULL;
		metrics_gauge_add(METRIC_UPSTREAM_CONNECTIONS, -1);
	}
	c->close_reason = reason;
	c->close_error = error;
	if (evbuffer_get_length(bufferevent_get_output(c->cbev)) == 0) {
		client_close(c, reason, error);
		return false;
	}
	client_pause(c, CLIENT_PAUSE_CLOSING);
	c->state = CLIENT_ST_CLOSING;
	bufferevent_enable(c->cbev, EV_WRITE); /* libevent flushes, then writecb closes */
	struct timeval tv = {CLIENT_CLOSE_FLUSH_SEC, 0};
	bufferevent_set_timeouts(c->cbev, NULL, &tv);
	bufferevent_setwatermark(c->cbev, EV_WRITE, 0, 0);
	return true;
}

/* Re-arm the frame deadline when a partial message waits in the input. */
static void frame_deadline(struct client *c, size_t buffered, bool consumed)
{
	if (buffered == 0 || c->paused) {
		evtimer_del(c->frame_timer);
		return;
	}
	if (consumed || !evtimer_pending(c->frame_timer, NULL)) {
		int64_t ms = atomic_load(&c->w->px->cfg->frame_timeout_ms);
		struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
		evtimer_add(c->frame_timer, &tv);
	}
}

void client_pending_add(struct client *c, const struct msg_info *info, struct dwjob *dw,
			bool served)
{
	struct client_pending *p = &c->pending[c->npending++];

	p->dw = dw;
	p->sh = NULL;
	p->orig = NULL;
	p->orig_len = 0;
	p->served = served;
	p->request_id = info->header.request_id;
	p->command = metrics_command(info->command[0] ? info->command : "none",
				     (size_t)info->header.length);
	p->start_us = clock_mono_us();
	p->opcode = info->opcode;
	p->hello = hello_is_hello(info->command);
	metrics_gauge_add(METRIC_REQUESTS_IN_FLIGHT, 1);
	if (c->npending == CLIENT_MAX_PENDING)
		client_pause(c, CLIENT_PAUSE_PENDING_FULL);
}

/* A request on a database name MongoDB refuses (inspect.h): answered here
 * with InvalidNamespace and dropped; the connection stays open.  Like a
 * served reply, the answer may overtake replies still due from the
 * upstream.  False when the client was closed (out of memory). */
static bool refuse_db(struct client *c, const struct msg_info *info)
{
	size_t len = 0;
	uint8_t *reply = inspect_db_refusal(info, atomic_fetch_add(&generated_request_id, 1), &len);

	metrics_inc(METRIC_INVALID_DB_NAMES);
	evbuffer_drain(bufferevent_get_input(c->cbev), (size_t)info->header.length);
	if (!reply) {
		if (!info->expects_reply)
			return true;
		client_close(c, "out_of_memory", true);
		return false;
	}
	metrics_message(METRICS_OUT, info->opcode, len);
	evbuffer_add(bufferevent_get_output(c->cbev), reply, len);
	free(reply);
	client_send(c, c->cbev);
	return true;
}

bool client_pump_requests(struct client *c)
{
	bool answered = false;
	struct evbuffer *in = bufferevent_get_input(c->cbev);
	int32_t max = (int32_t)client_max_message(c);
	bool consumed = false;

	if (c->state != CLIENT_ST_ACTIVE)
		return true;
	while (!c->paused) {
		uint8_t hb[WIRE_HEADER_LEN + 4];
		struct wire_header h;
		struct msg_info info;
		size_t avail = evbuffer_get_length(in);

		if (avail < WIRE_HEADER_LEN)
			break;
		size_t nfirst = (size_t)evbuffer_copyout(in, hb, sizeof(hb));
		wire_header_read(hb, &h);
		enum wire_status st = wire_header_check(&h, max);
		if (st != WIRE_OK) {
			client_fail(c, st, &h, hb, nfirst);
			return false;
		}
		if (avail < (size_t)h.length)
			break;
		const uint8_t *msg = evbuffer_pullup(in, h.length);
		st = msg ? inspect_request(msg, (size_t)h.length, max, &info) : WIRE_ERR_NOMEM;
		if (st != WIRE_OK) {
			client_fail(c, st, &h, hb, nfirst);
			return false;
		}
		if (!authz_on_request(c, &info))
			break; /* read again once MongoDB said what c may do */
		metrics_message(METRICS_IN, h.opcode, (size_t)h.length);
		if (info.db_status != INSPECT_DB_OK) {
			if (!refuse_db(c, &info))
				return false;
			consumed = true;
			continue;
		}
		if (client_answer_cursor_command(c, &info, msg)) {
			answered = consumed = true;
			continue;
		}
		if (client_route_read(c, &info, msg)) {
			consumed = true;
			continue;
		}
		struct dwjob *dw = dwcapture_request(c->id, &info, msg, (size_t)h.length);
		if (dw && authz_gate_serve(c, dw)) {
			/* PostgreSQL answers (worker_post_reply -> client_served). */
			dw->w = c->w;
			if (info.expects_reply)
				client_pending_add(c, &info, NULL, true);
			evbuffer_drain(in, (size_t)h.length);
			dualwrite_submit(dw);
			consumed = true;
			continue;
		}
		if (info.expects_reply) {
			client_pending_add(c, &info, dw, false);
			if (!dw)
				c->pending[c->npending - 1].sh =
					shadow_capture_request(c->id, &info, msg, (size_t)h.length);
		} else {
			if (info.command[0])
				(void)metrics_command(info.command, (size_t)h.length);
			if (dw) {
				dwcapture_unacknowledged(dw);
				shift_note_write(info.db);
			}
		}
		struct evbuffer *out = bufferevent_get_output(c->ubev);
		evbuffer_remove_buffer(in, out, (size_t)h.length);
		consumed = true;
		if (evbuffer_get_length(out) >= CLIENT_BACKPRESSURE_BYTES) {
			bufferevent_setwatermark(c->ubev, EV_WRITE, CLIENT_BACKPRESSURE_BYTES / 2, 0);
			client_pause(c, CLIENT_PAUSE_UPSTREAM_FULL);
		}
	}
	if (consumed)
		client_send(c, c->ubev);
	if (answered)
		client_send(c, c->cbev);
	frame_deadline(c, evbuffer_get_length(in), consumed);
	return true;
}

int client_pending_find(const struct client *c, int32_t response_to, bool served)
{
	for (unsigned i = 0; i < c->npending; i++)
		if (c->pending[i].request_id == response_to && c->pending[i].served == served)
			return (int)i;
	return -1;
}

static void pending_done(struct client *c, int i)
{
	struct client_pending *p = &c->pending[i];

	metrics_latency(p->command, clock_mono_us() - p->start_us);
	dwjob_free(p->dw);   /* only when no reply was captured */
	free(p->orig);
	shadow_job_free(p->sh);
	memmove(p, p + 1, (c->npending - (unsigned)i - 1) * sizeof(*p));
	c->npending--;
	metrics_gauge_add(METRIC_REQUESTS_IN_FLIGHT, -1);
	client_resume(c, CLIENT_PAUSE_PENDING_FULL);
}

/* MongoDB's "not primary" family of error codes. */
static bool is_not_primary_code(int32_t code)
{
	switch (code) {
	case 10107: /* NotWritablePrimary */
	case 13435: /* NotPrimaryNoSecondaryOk */
	case 13436: /* NotPrimaryOrSecondary */
	case 189:   /* PrimarySteppedDown */
	case 11602: /* InterruptedDueToReplStateChange */
	case 91:    /* ShutdownInProgress */
	case 11600: /* InterruptedAtShutdown */
		return true;
	default:
		return false;
	}
}

/* A small uncompressed OP_MSG reply with ok:0 and a not-primary code makes
 * the topology thread look again at once. */
static void check_not_primary(const uint8_t *msg, size_t len)
{
	bson_t body;
	bson_iter_t it;

	if (len < 26 || msg[20] != 0)
		return;
	uint32_t blen = (uint32_t)wire_load_i32(msg + 21);
	if (blen < 5 || blen > len - 21 || !bson_init_static(&body, msg + 21, blen))
		return;
	if (!bson_iter_init_find(&it, &body, "ok") || bson_iter_as_bool(&it))
		return;
	if (bson_iter_init_find(&it, &body, "code") && BSON_ITER_HOLDS_NUMBER(&it) &&
	    is_not_primary_code((int32_t)bson_iter_as_int64(&it))) {
		metrics_inc(METRIC_UPSTREAM_NOT_PRIMARY);
		topology_poke();
	}
}

/* Rewrite a hello reply (OP_MSG, OP_REPLY or compressed) into a fresh
 * message; NULL when it needs no change or cannot be parsed. */
static uint8_t *rewrite_hello(const char *advertise, const uint8_t *msg, size_t len, size_t *out_len)
{
	uint8_t *plain = NULL, *out = NULL;
	size_t plain_len;
	struct wire_header h;
	bson_t body, rewritten;

	wire_header_read(msg, &h);
	if (h.opcode == WIRE_OP_COMPRESSED) {
		struct opcomp_view cv;
		if (opcomp_parse(msg, len, WIRE_MAX_MESSAGE_DEFAULT, &cv) != WIRE_OK ||
		    opcomp_decompress(&cv, &plain, &plain_len) != WIRE_OK)
			return NULL;
		msg = plain;
		len = plain_len;
		wire_header_read(msg, &h);
	}
	if (h.opcode == WIRE_OP_MSG) {
		struct opmsg_view v;
		if (opmsg_parse(msg, len, &v) == WIRE_OK && v.nseq == 0 &&
		    bson_init_static(&body, v.body, v.body_len) &&
		    hello_rewrite(&body, advertise, &rewritten)) {
			out = opmsg_encode(h.request_id, h.response_to, v.flags, &rewritten, out_len);
			bson_destroy(&rewritten);
		}
	} else if (h.opcode == WIRE_OP_REPLY) {
		struct opreply_view v;
		if (opreply_parse(msg, len, &v) == WIRE_OK && v.nreturned == 1 &&
		    bson_init_static(&body, v.docs, v.docs_len) &&
		    hello_rewrite(&body, advertise, &rewritten)) {
			out = opreply_encode(h.request_id, h.response_to, v.flags, v.cursor_id,
					     &rewritten, out_len);
			bson_destroy(&rewritten);
		}
	}
	free(plain);
	return out;
}

/* Move one whole reply of len bytes from in to the client. */
static void forward_reply(struct client *c, struct evbuffer *in, const struct wire_header *h,
			  const struct client_pending *p)
{
	struct evbuffer *out = bufferevent_get_output(c->cbev);
	size_t len = (size_t)h->length;

	if (p && p->hello) {
		size_t nlen = 0;
		const uint8_t *msg = evbuffer_pullup(in, h->length);
		uint8_t *n = msg ? rewrite_hello(c->w->px->advertise, msg, len, &nlen) : NULL;
		if (n) {
			metrics_inc(METRIC_HELLO_REWRITES);
			evbuffer_drain(in, len);
			evbuffer_add(out, n, nlen);
			free(n);
			return;
		}
	} else if (h->opcode == WIRE_OP_MSG && len <= CLIENT_ERROR_PEEK_MAX) {
		const uint8_t *msg = evbuffer_pullup(in, h->length);
		if (msg)
			check_not_primary(msg, len);
	}
	evbuffer_remove_buffer(in, out, len);
}

bool client_pump_replies(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->ubev);
	int32_t max = (int32_t)client_max_message(c);

	if (max < WIRE_MAX_MESSAGE_DEFAULT)
		max = WIRE_MAX_MESSAGE_DEFAULT; /* the upstream's own limit applies to replies */
	bool forwarded = false;

	while (!c->upstream_paused && c->state != CLIENT_ST_CLOSING) {
		uint8_t hb[WIRE_HEADER_LEN + 4];
		struct wire_header h;
		size_t avail = evbuffer_get_length(in);

		if (avail < WIRE_HEADER_LEN)
			break;
		size_t n = (size_t)evbuffer_copyout(in, hb, sizeof(hb));
		wire_header_read(hb, &h);
		if (wire_header_check(&h, max) != WIRE_OK) {
			c->close_detail = "bad reply header from the upstream";
			metrics_inc(METRIC_UPSTREAM_ERRORS);
			client_close(c, "upstream_protocol_error", true);
			return false;
		}
		if (avail < (size_t)h.length)
			break;
		if (authz_on_reply(c, in, &h))
			continue; /* tandem's own question, answered */
		bool more = h.opcode == WIRE_OP_MSG && n >= 20 &&
			    ((uint32_t)wire_load_i32(hb + 16) & OPMSG_MORE_TO_COME);
		int i = client_pending_find(c, h.response_to, false);
		metrics_message(METRICS_OUT, h.opcode, (size_t)h.length);
		if (i >= 0 && c->pending[i].dw) {
			const uint8_t *msg = evbuffer_pullup(in, h.length);
			char db[sizeof(c->pending[i].dw->db)];
			memcpy(db, c->pending[i].dw->db, sizeof(db));
			if (msg)
				dwcapture_reply(c->pending[i].dw, msg, (size_t)h.length);
			else
				dwjob_free(c->pending[i].dw);
			c->pending[i].dw = NULL;
			shift_note_write(db);   /* before the client can see the reply */
		}
		struct shjob *sh = NULL;
		if (i >= 0 && c->pending[i].sh) {
			/* Keep MongoDB's reply for the shadow read; the job is queued
			 * once the reply is on its way to the client. */
			const uint8_t *msg = evbuffer_pullup(in, h.length);
			sh = c->pending[i].sh;
			c->pending[i].sh = NULL;
			if (!msg || !shadow_capture_keep(sh, msg, (size_t)h.length,
							 clock_mono_us() - c->pending[i].start_us)) {
				shadow_job_free(sh);
				sh = NULL;
			}
		}
		forward_reply(c, in, &h, i >= 0 ? &c->pending[i] : NULL);
		forwarded = true;
		if (sh)
			shadow_capture_submit(sh);
		if (i >= 0 && !more)
			pending_done(c, i);
		else if (i >= 0)
			c->pending[i].request_id = h.request_id; /* exhaust: the next reply answers this one */
		struct evbuffer *out = bufferevent_get_output(c->cbev);
		if (evbuffer_get_length(out) >= CLIENT_BACKPRESSURE_BYTES) {
			c->upstream_paused = true;
			upstream_reading(c, false);
			bufferevent_setwatermark(c->cbev, EV_WRITE, CLIENT_BACKPRESSURE_BYTES / 2, 0);
		}
	}
	if (forwarded)
		client_send(c, c->cbev);
	if (c->state == CLIENT_ST_DRAINING && c->npending == 0) {
		(void)client_finish(c, "drained", false);
		return false;
	}
	if (c->state == CLIENT_ST_ACTIVE && !c->paused)
		return client_pump_requests(c); /* a slot may have freed */
	return true;
}

void client_served(struct client *c, int32_t response_to, const uint8_t *msg, size_t len)
{
	int i = client_pending_find(c, response_to, true);

	if (i < 0 || c->state == CLIENT_ST_CLOSING || c->state == CLIENT_ST_CONNECTING)
		return;
	metrics_message(METRICS_OUT, WIRE_OP_MSG, len);
	evbuffer_add(bufferevent_get_output(c->cbev), msg, len);
	pending_done(c, i);
	client_send(c, c->cbev);
	if (c->state == CLIENT_ST_DRAINING && c->npending == 0)
		(void)client_finish(c, "drained", false);
	else if (c->state == CLIENT_ST_ACTIVE && !c->paused)
		(void)client_pump_requests(c);
}

