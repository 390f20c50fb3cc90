/*
 * worker.c - event loop threads, listeners and accept hand-off (see worker.h).
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "client.h"
#include "log.h"
#include "topology.h"

#define WORKER_BACKLOG 4096

static void worker_accept(struct worker *w, evutil_socket_t fd, struct sockaddr *sa, int len)
{
	if (w->draining) {
		evutil_closesocket(fd);
		return;
	}
	(void)client_new(w, fd, sa, len);
}

static void tcp_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int len, void *arg)
{
	(void)l;
	worker_accept(arg, fd, sa, len);
}

/* Unix accepts land on worker 0 and are spread round-robin. */
static void unix_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			   int len, void *arg)
{
	struct worker *w = arg;
	struct proxy *px = w->px;
	unsigned i = atomic_fetch_add(&px->next_worker, 1) % (unsigned)px->nworkers;
	struct worker *to = &px->workers[i];

	(void)l;
	if (to == w || write(to->handoff[1], &fd, sizeof(fd)) != (ssize_t)sizeof(fd))
		worker_accept(w, fd, sa, len);
}

static void handoff_cb(evutil_socket_t pfd, short what, void *arg)
{
	struct worker *w = arg;
	evutil_socket_t fd;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	(void)what;
	while (read(pfd, &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
		worker_accept(w, fd, (struct sockaddr *)&sun, (int)sizeof(sun));
}

static void listener_error_cb(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct log_line *line = log_begin(LOG_ERROR, "accept_failed", 0);

	(void)l;
	if (line) {
		log_int(line, "worker", w->index);
		log_str(line, "error", evutil_socket_error_to_string(e));
		log_end(line);
	}
	/* EMFILE and friends are transient: libevent keeps the listener. */
}

static void topology_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	uint64_t gen = topology_generation();
	struct client *c, *next;

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&w->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		client_topology_changed(c, gen);
	}
}

static void worker_maybe_exit(struct worker *w)
{
	if (w->draining && w->nclients == 0)
		event_base_loopexit(w->base, NULL);
}

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct client *c;

	(void)fd;
	(void)what;
	while ((c = TAILQ_FIRST(&w->clients)))
		client_close(c, "drain_timeout", false);
	event_base_loopexit(w->base, NULL);
}

static void worker_close_listeners(struct worker *w)
{
	if (w->tcp)
		evconnlistener_free(w->tcp);
	if (w->unix_listener) {
		evconnlistener_free(w->unix_listener);
		unlink(w->px->cfg->unix_socket);
	}
	w->tcp = NULL;
	w->unix_listener = NULL;
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct client *c, *next;
	int64_t ms = atomic_load(&w->px->cfg->drain_timeout_ms);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	(void)fd;
	(void)what;
	if (w->draining)
		return;
	w->draining = true;
	worker_close_listeners(w); /* new connections are refused from now on */
	evtimer_add(w->drain_timer, &tv);
	for (c = TAILQ_FIRST(&w->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		client_drain(c);
	}
	worker_maybe_exit(w);
}

void worker_client_gone(struct worker *w, struct client *c)
{
	TAILQ_REMOVE(&w->clients, c, link);
	w->nclients--;
	worker_maybe_exit(w);
}

static bool worker_listen_tcp(struct worker *w, char *err, size_t errlen)
{
	const char *addr = w->px->cfg->listen;
	char host[256], portstr[8];
	uint16_t port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;

	if (!*addr)
		return true;
	if (!cfg_split_hostport(addr, host, sizeof(host), &port) || port == 0) {
		snprintf(err, errlen, "key 'listen': '%s' needs a HOST and a PORT other than 0", addr);
		return false;
	}
	snprintf(portstr, sizeof(portstr), "%u", port);
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "key 'listen': cannot resolve '%s': %s", host, gai_strerror(rc));
		return false;
	}
	w->tcp = evconnlistener_new_bind(w->base, tcp_accept_cb, w,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						 LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
					 WORKER_BACKLOG, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (!w->tcp) {
		snprintf(err, errlen, "key 'listen': cannot listen on %s: %s", addr, strerror(errno));
		return false;
	}
	evconnlistener_set_error_cb(w->tcp, listener_error_cb);
	return true;
}

static bool worker_listen_unix(struct worker *w, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = w->px->cfg->unix_socket;

	if (!*path || w->index != 0)
		return true;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "key 'unix_socket': path too long");
		return false;
	}
	strcpy(sun.sun_path, path);
	unlink(path); /* a stale socket from an earlier run */
	w->unix_listener = evconnlistener_new_bind(w->base, unix_accept_cb, w,
						   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
						   WORKER_BACKLOG, (struct sockaddr *)&sun,
						   (int)sizeof(sun));
	if (!w->unix_listener) {
		snprintf(err, errlen, "key 'unix_socket': cannot listen on %s: %s", path, strerror(errno));
		return false;
	}
	evconnlistener_set_error_cb(w->unix_listener, listener_error_cb);
	return true;
}

bool worker_init(struct worker *w, struct proxy *px, int index, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->index = index;
	w->px = px;
	TAILQ_INIT(&w->clients);
	w->base = event_base_new();
	if (!w->base || pipe2(w->handoff, O_NONBLOCK | O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot create worker %d: %s", index, strerror(errno));
		return false;
	}
	w->handoff_ev = event_new(w->base, w->handoff[0], EV_READ | EV_PERSIST, handoff_cb, w);
	w->topology_ev = event_new(w->base, -1, 0, topology_cb, w);
	w->drain_ev = event_new(w->base, -1, 0, drain_cb, w);
	w->drain_timer = evtimer_new(w->base, drain_timeout_cb, w);
	if (!w->handoff_ev || !w->topology_ev || !w->drain_ev || !w->drain_timer ||
	    !worker_reply_init(w)) {
		snprintf(err, errlen, "cannot create worker %d: out of memory", index);
		return false;
	}
	event_add(w->handoff_ev, NULL);
	return worker_listen_tcp(w, err, errlen) && worker_listen_unix(w, err, errlen);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	/* Keep the loop alive until a drain ends it (listeners may be off). */
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

bool worker_start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0;
}

void worker_notify_topology(struct worker *w)
{
	event_active(w->topology_ev, EV_READ, 0);
}

void worker_notify_drain(struct worker *w)
{
	event_active(w->drain_ev, EV_READ, 0);
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	worker_close_listeners(w);
	event_free(w->handoff_ev);
	event_free(w->topology_ev);
	event_free(w->drain_ev);
	event_free(w->drain_timer);
	worker_reply_fini(w);
	close(w->handoff[0]);
	close(w->handoff[1]);
	event_base_free(w->base);
}
