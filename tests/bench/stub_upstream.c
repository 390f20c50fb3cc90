/*
 * stub_upstream.c - a fast stub MongoDB server for benchmarks.
 *
 *   thread 0..N-1: event_base + listener on the same port (SO_REUSEPORT)
 *        accept -> bufferevent -> read callback: for every complete message
 *                  stub_reply_message() appends the canned reply to output
 *
 * Not a MongoDB: no data is stored; see stub_reply.h for what it answers.
 * The kernel spreads connections over the threads' listeners by 4-tuple hash.
 * Usage: stub_upstream [--host H] [--port P] [--threads N] [--docs-total N]
 *                      [--doc-bytes B] [--batch N]
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "bench_msg.h"
#include "stub_reply.h"

#define STUB_MAX_THREADS 64

struct stub_thread {
	int index;
	pthread_t tid;
	struct event_base *base;
	struct evconnlistener *listener;
	int32_t conn_seq;
};

struct stub_conn {
	struct bufferevent *bev;
	struct stub_session sess;
};

static struct stub_cfg stub_config = { .docs_total = 1000, .doc_bytes = 128, .batch = 500 };

static void stub_conn_free(struct stub_conn *c)
{
	bufferevent_free(c->bev);
	free(c);
}

/* Answers every complete message in the input buffer; closes on garbage. */
static void stub_read_cb(struct bufferevent *bev, void *arg)
{
	struct stub_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	uint8_t raw[BMSG_HEADER_LEN];
	struct bmsg_header h;
	const uint8_t *msg;

	while (evbuffer_get_length(in) >= BMSG_HEADER_LEN) {
		if (evbuffer_copyout(in, raw, sizeof raw) != (ev_ssize_t)sizeof raw ||
		    !bmsg_read_header(raw, &h)) {
			stub_conn_free(c);
			return;
		}
		if (evbuffer_get_length(in) < (size_t)h.length)
			return;
		msg = evbuffer_pullup(in, h.length);
		if (msg == NULL || !stub_reply_message(&c->sess, msg, (size_t)h.length, out)) {
			stub_conn_free(c);
			return;
		}
		evbuffer_drain(in, (size_t)h.length);
	}
}

static void stub_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		stub_conn_free(arg);
}

static void stub_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                           struct sockaddr *sa, int salen, void *arg)
{
	struct stub_thread *t = arg;
	struct stub_conn *c = calloc(1, sizeof *c);
	int one = 1;

	(void)l, (void)sa, (void)salen;
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->sess.cfg = &stub_config;
	c->sess.conn_id = ++t->conn_seq;
	c->sess.cursor_seq = ((int64_t)(t->index + 1) << 48) + ((int64_t)t->conn_seq << 16) + 1;
	c->sess.reply_id = 1;
	/* libevent 2.1 moves 16 KiB per read/write by default: too little for find batches. */
	bufferevent_set_max_single_read(c->bev, 256 * 1024);
	bufferevent_set_max_single_write(c->bev, 256 * 1024);
	bufferevent_setcb(c->bev, stub_read_cb, NULL, stub_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static bool stub_listen(struct stub_thread *t, struct sockaddr_in *sin)
{
	unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE;

	t->base = event_base_new();
	if (t->base == NULL)
		return false;
	t->listener = evconnlistener_new_bind(t->base, stub_accept_cb, t, flags, 4096,
	                                      (struct sockaddr *)sin, sizeof *sin);
	return t->listener != NULL;
}

static void *stub_thread_main(void *arg)
{
	struct stub_thread *t = arg;

	event_base_dispatch(t->base);
	return NULL;
}

static void stub_raise_nofile(void)
{
	struct rlimit rl = { 1048576, 1048576 };

	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void stub_usage(FILE *f)
{
	fprintf(f, "usage: stub_upstream [--host 127.0.0.1] [--port 27017] [--threads 1]\n"
	           "                     [--docs-total 1000] [--doc-bytes 128] [--batch 500]\n"
	           "  --docs-total  documents each find cursor yields in all\n"
	           "  --doc-bytes   BSON size of each generated document (>= 28)\n"
	           "  --batch       getMore batch size when the request gives none\n"
	           "  --port 0      picks a free port (printed on stderr)\n");
}

/* Parses argv into the config; exits 2 on a bad option. */
static void stub_parse_args(int argc, char **argv, const char **host, int *port, int *threads)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "docs-total", required_argument, NULL, 'n' },
		{ "doc-bytes", required_argument, NULL, 'b' },
		{ "batch", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': *host = optarg; break;
		case 'p': *port = atoi(optarg); break;
		case 't': *threads = atoi(optarg); break;
		case 'n': stub_config.docs_total = atoll(optarg); break;
		case 'b': stub_config.doc_bytes = atoi(optarg); break;
		case 'B': stub_config.batch = atoi(optarg); break;
		case 'H': stub_usage(stdout); exit(0);
		default: stub_usage(stderr); exit(2);
		}
	}
	if (optind != argc || *port < 0 || *port > 65535 || *threads < 1 ||
	    *threads > STUB_MAX_THREADS || !stub_cfg_init(&stub_config)) {
		fprintf(stderr, "stub_upstream: bad arguments\n");
		stub_usage(stderr);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	static struct stub_thread threads[STUB_MAX_THREADS];
	const char *host = "127.0.0.1";
	int port = 27017, nthreads = 1, i;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof sin;

	stub_parse_args(argc, argv, &host, &port, &nthreads);
	signal(SIGPIPE, SIG_IGN);
	stub_raise_nofile();
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "stub_upstream: --host must be an IPv4 address\n");
		return 2;
	}
	sin.sin_port = htons((uint16_t)port);
	for (i = 0; i < nthreads; i++) {
		threads[i].index = i;
		if (!stub_listen(&threads[i], &sin)) {
			fprintf(stderr, "stub_upstream: cannot listen on %s:%d: %s\n", host,
			        ntohs(sin.sin_port), strerror(errno));
			return 1;
		}
		/* --port 0: the first listener picks the port, the others share it. */
		getsockname(evconnlistener_get_fd(threads[0].listener), (struct sockaddr *)&sin, &slen);
	}
	fprintf(stderr, "stub_upstream listening on %s:%d threads=%d docs_total=%lld "
	        "doc_bytes=%d batch=%d\n", host, ntohs(sin.sin_port), nthreads,
	        (long long)stub_config.docs_total, stub_config.doc_bytes, stub_config.batch);
	for (i = 1; i < nthreads; i++)
		if (pthread_create(&threads[i].tid, NULL, stub_thread_main, &threads[i]) != 0)
			return 1;
	stub_thread_main(&threads[0]);
	return 0;
}
