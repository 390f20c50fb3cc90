/*
 * client.c - a session's life: accept, upstream connect, events, close
 * (see client.h).  Message handling is in client_io.c.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "client_io.h"
#include "dwcapture.h"
#include "shadow.h"
#include "shift.h"
#include "sockread.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"
#include "topology.h"
#include "worker.h"

/* Largest single read or write; libevent's default (16 KiB) costs a
 * readv + ioctl per 16 KiB of a large reply. */
#define CLIENT_MAX_SINGLE_IO (256 * 1024)

/* Client bytes read ahead while the upstream connects (then paused). */
#define CLIENT_CONNECTING_READAHEAD (64u * 1024u)

static _Atomic uint64_t client_next_id = 1;

static const char *const client_state_names[] = {
	[CLIENT_ST_CONNECTING] = "connecting",
	[CLIENT_ST_ACTIVE] = "active",
	[CLIENT_ST_DRAINING] = "draining",
	[CLIENT_ST_CLOSING] = "closing",
};

const char *client_state_to_str(enum client_state st)
{
	return st <= CLIENT_ST_CLOSING ? client_state_names[st] : "unknown";
}

static void ms_to_tv(int64_t ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

void client_reading(struct client *c, bool on)
{
	if (!c->cread) {
		if (on)
			bufferevent_enable(c->cbev, EV_READ);
		else
			bufferevent_disable(c->cbev, EV_READ);
		return;
	}
	if (!on) {
		event_del(c->cread);
		return;
	}
	int64_t idle = atomic_load(&c->w->px->cfg->idle_timeout_ms);
	struct timeval tv;
	ms_to_tv(idle, &tv);
	event_add(c->cread, idle > 0 ? &tv : NULL);
}

void upstream_reading(struct client *c, bool on)
{
	if (c->uread) {
		if (on)
			event_add(c->uread, NULL);
		else
			event_del(c->uread);
	} else if (c->ubev) {
		if (on)
			bufferevent_enable(c->ubev, EV_READ);
		else
			bufferevent_disable(c->ubev, EV_READ);
	}
}

static void set_nodelay(evutil_socket_t fd)
{
	int one = 1;

	/* Fails harmlessly on unix sockets. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void describe_peer(struct client *c, const struct sockaddr *sa, int len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET && len >= (int)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6 && len >= (int)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(c->peer, sizeof(c->peer), "unix");
	}
}

/* The TLS error behind a bufferevent's failure, as text (thread-local). */
static const char *bev_tls_error(struct bufferevent *bev)
{
	static _Thread_local char e[160];
	unsigned long err = bufferevent_get_openssl_error(bev);

	if (!err)
		return tls_last_error(e, sizeof(e));
	ERR_error_string_n(err, e, sizeof(e));
	return e;
}

void client_close(struct client *c, const char *reason, bool error)
{
	struct log_line *l = log_begin(error ? LOG_WARN : LOG_INFO, "client_closed", c->id);

	if (l) {
		log_str(l, "peer", c->peer);
		log_str(l, "reason", reason);
		if (c->close_detail)
			log_str(l, "detail", c->close_detail);
		log_str(l, "state", client_state_to_str(c->state));
		log_int(l, "in_flight", c->npending);
		log_end(l);
	}
	if (error)
		metrics_inc(METRIC_CLIENT_CLOSED_ERROR);
	metrics_gauge_add(METRIC_REQUESTS_IN_FLIGHT, -(int64_t)c->npending);
	/* Writes sent to MongoDB whose reply never came: outcome unknown. */
	for (unsigned i = 0; i < c->npending; i++) {
		if (c->pending[i].dw)
			dwcapture_unacknowledged(c->pending[i].dw);
		shadow_job_free(c->pending[i].sh);
		free(c->pending[i].orig);
	}
	authz_conn_free(&c->authz);
	shift_conn_closed(c->id);   /* its tandem cursors */
	metrics_gauge_add(METRIC_CLIENT_CONNECTIONS, -1);
	if (c->uread)
		event_free(c->uread);
	if (c->cread)
		event_free(c->cread);
	if (c->ubev) {
		bufferevent_free(c->ubev);
		metrics_gauge_add(METRIC_UPSTREAM_CONNECTIONS, -1);
	}
	bufferevent_free(c->cbev);
	event_free(c->frame_timer);
	worker_client_gone(c->w, c);
	free(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->state == CLIENT_ST_CLOSING) {
			client_close(c, c->close_reason, c->close_error);
		} else if (c->npending == 0) {
			client_close(c, "idle_timeout", false);
		} else if (!c->paused) {
			client_reading(c, true); /* a long request, not idleness */
		}
		return;
	}
	if (c->state == CLIENT_ST_CLOSING) {
		client_close(c, c->close_reason, c->close_error);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (evbuffer_get_length(bufferevent_get_input(c->cbev)) > 0)
			c->close_detail = "closed in the middle of a message";
		client_close(c, "client_eof", false);
	} else if (what & BEV_EVENT_ERROR) {
		c->close_detail = c->w->px->client_tls ? bev_tls_error(c->cbev)
						       : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
		client_close(c, "client_error", false);
	}
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)client_pump_requests(arg);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	client_sent(c, bev);
	if (c->state == CLIENT_ST_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			client_close(c, c->close_reason, c->close_error);
		return;
	}
	if (c->upstream_paused &&
	    evbuffer_get_length(bufferevent_get_output(bev)) <= CLIENT_BACKPRESSURE_BYTES / 2) {
		c->upstream_paused = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		upstream_reading(c, true);
		(void)client_pump_replies(c);
	}
}

static void upstream_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)client_pump_replies(arg);
}

static void upstream_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	client_sent(c, bev);
	if ((c->paused & CLIENT_PAUSE_UPSTREAM_FULL) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) <= CLIENT_BACKPRESSURE_BYTES / 2) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		client_resume(c, CLIENT_PAUSE_UPSTREAM_FULL);
		(void)client_pump_requests(c);
	}
}

static void upstream_event_cb(struct bufferevent *bev, short what, void *arg);

/* A new message is usually small; the rest of a large one is read in big
 * steps.  (Reserving the big size every time would allocate it every time.) */
static size_t read_size(struct bufferevent *bev)
{
	return evbuffer_get_length(bufferevent_get_input(bev)) ? CLIENT_MAX_SINGLE_IO : 16384;
}

static void client_plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	if (what & EV_TIMEOUT) {
		client_event_cb(c->cbev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, c);
		return;
	}
	ssize_t n = sockread_into(bufferevent_get_input(c->cbev), fd, read_size(c->cbev));
	if (n > 0)
		(void)client_pump_requests(c);
	else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		client_event_cb(c->cbev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
}

static void upstream_plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)what;
	ssize_t n = sockread_into(bufferevent_get_input(c->ubev), fd, read_size(c->ubev));
	if (n > 0)
		(void)client_pump_replies(c);
	else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		upstream_event_cb(c->ubev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
}

/* Plaintext sides switch from bufferevent reads to sockread events. */
static bool plain_reads_start(struct client *c)
{
	struct proxy *px = c->w->px;

	if (!px->upstream_tls) {
		c->uread = event_new(c->w->base, bufferevent_getfd(c->ubev), EV_READ | EV_PERSIST,
				     upstream_plain_read_cb, c);
		if (!c->uread)
			return false;
		bufferevent_disable(c->ubev, EV_READ);
		event_add(c->uread, NULL);
	}
	if (!px->client_tls) {
		c->cread = event_new(c->w->base, bufferevent_getfd(c->cbev), EV_READ | EV_PERSIST,
				     client_plain_read_cb, c);
		if (!c->cread)
			return false;
		if (!c->paused)
			client_reading(c, true);
	}
	return true;
}

static void upstream_connected(struct client *c)
{
	set_nodelay(bufferevent_getfd(c->ubev));
	bufferevent_set_timeouts(c->ubev, NULL, NULL);
	metrics_inc(METRIC_UPSTREAM_CONNECTS);
	c->state = CLIENT_ST_ACTIVE;
	client_sent(c, c->ubev); /* plaintext: writes are made by client_send */
	bufferevent_setwatermark(c->cbev, EV_READ, 0, 0);
	if (!plain_reads_start(c)) {
		client_close(c, "out_of_memory", true);
		return;
	}
	if (c->w->draining) {
		client_drain(c);
		return;
	}
	(void)client_pump_requests(c);
}

static void upstream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		upstream_connected(c);
		return;
	}
	if (c->state == CLIENT_ST_CONNECTING) {
		metrics_inc(METRIC_UPSTREAM_CONNECT_ERRORS);
		if (c->w->px->upstream_tls && (what & BEV_EVENT_ERROR))
			c->close_detail = bev_tls_error(c->ubev);
		client_close(c, what & BEV_EVENT_TIMEOUT ? "upstream_connect_timeout"
							 : "upstream_connect_failed", true);
		return;
	}
	if (c->npending)
		metrics_inc(METRIC_UPSTREAM_ERRORS);
	client_close(c, what & BEV_EVENT_EOF ? "upstream_eof" : "upstream_error", c->npending > 0);
}

/* Open the dedicated upstream connection to the current primary. */
static bool upstream_open(struct client *c)
{
	struct proxy *px = c->w->px;
	struct topology_primary p;
	struct timeval tv;

	if (!topology_current(&p)) {
		client_close(c, "no_primary", true);
		return false;
	}
	c->generation = p.generation;
	if (px->upstream_tls) {
		SSL *ssl = tls_client_ssl(px->upstream_tls, p.host, px->upstream_tls_insecure);
		if (ssl)
			c->ubev = bufferevent_openssl_socket_new(c->w->base, -1, ssl,
								 BUFFEREVENT_SSL_CONNECTING,
								 BEV_OPT_CLOSE_ON_FREE);
	} else {
		c->ubev = bufferevent_socket_new(c->w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->ubev) {
		client_close(c, "out_of_memory", true);
		return false;
	}
	metrics_gauge_add(METRIC_UPSTREAM_CONNECTIONS, 1);
	bufferevent_set_max_single_read(c->ubev, CLIENT_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(c->ubev, CLIENT_MAX_SINGLE_IO);
	bufferevent_setcb(c->ubev, upstream_read_cb, upstream_write_cb, upstream_event_cb, c);
	ms_to_tv(atomic_load(&px->cfg->connect_timeout_ms), &tv);
	bufferevent_set_timeouts(c->ubev, &tv, &tv);
	if (bufferevent_socket_connect(c->ubev, (struct sockaddr *)&p.addr, (int)p.addrlen) < 0) {
		metrics_inc(METRIC_UPSTREAM_CONNECT_ERRORS);
		client_close(c, "upstream_connect_failed", true);
		return false;
	}
	bufferevent_enable(c->ubev, EV_READ | EV_WRITE);
	return true;
}

static void frame_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	c->close_detail = "a message did not arrive whole within frame_timeout_ms";
	client_close(c, "frame_timeout", true);
}

struct client *client_new(struct worker *w, evutil_socket_t fd, const struct sockaddr *peer,
			  int peerlen)
{
	struct proxy *px = w->px;
	struct client *c = calloc(1, sizeof(*c));

	if (!c) {
		evutil_closesocket(fd);
		return NULL;
	}
	c->id = atomic_fetch_add(&client_next_id, 1);
	c->w = w;
	c->state = CLIENT_ST_CONNECTING;
	describe_peer(c, peer, peerlen);
	set_nodelay(fd);
	if (px->client_tls) {
		SSL *ssl = SSL_new(px->client_tls);
		if (ssl)
			c->cbev = bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
								 BEV_OPT_CLOSE_ON_FREE);
	} else {
		c->cbev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	c->frame_timer = evtimer_new(w->base, frame_timeout_cb, c);
	if (!c->cbev || !c->frame_timer) {
		if (c->cbev)
			bufferevent_free(c->cbev);
		else
			evutil_closesocket(fd);
		if (c->frame_timer)
			event_free(c->frame_timer);
		free(c);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&w->clients, c, link);
	w->nclients++;
	metrics_inc(METRIC_CLIENT_ACCEPTED);
	metrics_gauge_add(METRIC_CLIENT_CONNECTIONS, 1);

	bufferevent_set_max_single_read(c->cbev, CLIENT_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(c->cbev, CLIENT_MAX_SINGLE_IO);
	bufferevent_setcb(c->cbev, client_read_cb, client_write_cb, client_event_cb, c);
	int64_t idle = atomic_load(&px->cfg->idle_timeout_ms);
	if (idle > 0) {
		struct timeval tv;
		ms_to_tv(idle, &tv);
		bufferevent_set_timeouts(c->cbev, &tv, NULL);
	}
	bufferevent_setwatermark(c->cbev, EV_READ, 0, CLIENT_CONNECTING_READAHEAD);
	/* Plaintext clients are read by sockread once the upstream is up. */
	if (px->client_tls)
		bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
	if (!upstream_open(c))
		return NULL;
	return c;
}

void client_topology_changed(struct client *c, uint64_t generation)
{
	if (c->generation >= generation || c->state == CLIENT_ST_CLOSING)
		return;
	client_close(c, "primary_changed", false);
}

/* Only monitoring (hello, possibly awaitable for seconds) in flight? */
static bool client_only_hello_pending(const struct client *c)
{
	for (unsigned i = 0; i < c->npending; i++)
		if (!c->pending[i].hello)
			return false;
	return true;
}

void client_drain(struct client *c)
{
	if (c->state == CLIENT_ST_CLOSING)
		return;
	if (client_only_hello_pending(c) || c->state == CLIENT_ST_CONNECTING) {
		(void)client_finish(c, "draining", false);
		return;
	}
	c->state = CLIENT_ST_DRAINING;
	client_pause(c, CLIENT_PAUSE_DRAINING);
}
