/*
 * worker_reply.c - replies computed off a worker's thread (PostgreSQL
 * answering a pg_primary / pg_only write, or a served read) reach the session through a
 * mutex-protected list and one event; sessions are looked up by id, so a
 * session that closed meanwhile simply gets nothing.
 *
 *   applier thread: worker_post_reply --(lock, append, event_active)--+
 *   worker thread:  reply_cb --(swap list)--> client_served(c, ...) <--+
 */
#include "worker.h"

#include <stdlib.h>

#include "client.h"

struct worker_reply {
	uint64_t conn;
	int32_t response_to;
	uint8_t *msg;             /* NULL: fallback (forward the request to MongoDB) */
	size_t len;
	TAILQ_ENTRY(worker_reply) link;
};

static struct client *find_client(struct worker *w, uint64_t conn)
{
	struct client *c;

	TAILQ_FOREACH(c, &w->clients, link)
		if (c->id == conn)
			return c;
	return NULL;
}

static void reply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_reply_list todo = TAILQ_HEAD_INITIALIZER(todo);
	struct worker_reply *r;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->reply_mu);
	TAILQ_CONCAT(&todo, &w->replies, link);
	pthread_mutex_unlock(&w->reply_mu);
	while ((r = TAILQ_FIRST(&todo))) {
		TAILQ_REMOVE(&todo, r, link);
		struct client *c = find_client(w, r->conn);
		if (c && r->msg)
			client_served(c, r->response_to, r->msg, r->len);
		else if (c)
			client_fallback(c, r->response_to);
		free(r->msg);
		free(r);
	}
}

static void post(struct worker *w, uint64_t conn, int32_t response_to, uint8_t *msg, size_t len)
{
	struct worker_reply *r = calloc(1, sizeof(*r));

	if (!r) {
		free(msg);
		return;
	}
	r->conn = conn;
	r->response_to = response_to;
	r->msg = msg;
	r->len = len;
	pthread_mutex_lock(&w->reply_mu);
	if (w->reply_closed) {
		pthread_mutex_unlock(&w->reply_mu);
		free(msg);
		free(r);
		return;
	}
	TAILQ_INSERT_TAIL(&w->replies, r, link);
	event_active(w->reply_ev, EV_READ, 0);
	pthread_mutex_unlock(&w->reply_mu);
}

void worker_post_reply(struct worker *w, uint64_t conn, int32_t response_to, uint8_t *msg,
		       size_t len)
{
	if (msg)
		post(w, conn, response_to, msg, len);
}

void worker_post_fallback(struct worker *w, uint64_t conn, int32_t response_to)
{
	post(w, conn, response_to, NULL, 0);
}

bool worker_reply_init(struct worker *w)
{
	pthread_mutex_init(&w->reply_mu, NULL);
	TAILQ_INIT(&w->replies);
	w->reply_ev = event_new(w->base, -1, 0, reply_cb, w);
	return w->reply_ev != NULL;
}

void worker_reply_fini(struct worker *w)
{
	struct worker_reply *r;

	pthread_mutex_lock(&w->reply_mu);
	w->reply_closed = true;
	while ((r = TAILQ_FIRST(&w->replies))) {
		TAILQ_REMOVE(&w->replies, r, link);
		free(r->msg);
		free(r);
	}
	if (w->reply_ev)
		event_free(w->reply_ev);
	w->reply_ev = NULL;
	pthread_mutex_unlock(&w->reply_mu);
}
