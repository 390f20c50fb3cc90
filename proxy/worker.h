/*
 * worker.h - one event loop thread.
 *
 * Each worker owns an event_base, its own SO_REUSEPORT copy of the TCP
 * listener (the kernel spreads accepts over workers), and the sessions it
 * accepted; a session never moves between threads.  Worker 0 also owns the
 * unix-socket listener and hands accepted descriptors round-robin to the
 * others through a pipe.  Other threads talk to a worker only by
 * event_active() on its notification events (topology change, drain).
 */
#ifndef TANDEM_WORKER_H
#define TANDEM_WORKER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <sys/queue.h>

#include "proxy.h"

struct client;

struct worker {
	int index;
	struct proxy *px;
	struct event_base *base;
	pthread_t thread;
	struct evconnlistener *tcp;
	struct evconnlistener *unix_listener;
	int handoff[2];              /* pipe: fds accepted by worker 0 */
	struct event *handoff_ev;
	struct event *topology_ev;   /* activated by the topology thread */
	struct event *drain_ev;      /* activated by main on SIGTERM */
	struct event *drain_timer;
	TAILQ_HEAD(client_list, client) clients;
	unsigned nclients;
	bool draining;
	/* Replies computed on another thread (worker_reply.c). */
	pthread_mutex_t reply_mu;
	TAILQ_HEAD(worker_reply_list, worker_reply) replies;
	struct event *reply_ev;
	bool reply_closed;
};

/* Create the base, the listeners and the notification events. */
bool worker_init(struct worker *w, struct proxy *px, int index, char *err, size_t errlen)
	__attribute__((warn_unused_result));

bool worker_start(struct worker *w) __attribute__((warn_unused_result));

/* Thread-safe notifications. */
void worker_notify_topology(struct worker *w);
void worker_notify_drain(struct worker *w);

/* Hand a reply for session conn's request response_to to w's thread, which
 * sends it (client_served) if the session still exists.  Takes msg (malloc).
 * Any thread; after worker_join the reply is dropped. */
void worker_post_reply(struct worker *w, uint64_t conn, int32_t response_to, uint8_t *msg,
		       size_t len);
/* A served read failed on PostgreSQL: w's thread forwards the request it
 * kept to MongoDB (client_fallback).  Any thread. */
void worker_post_fallback(struct worker *w, uint64_t conn, int32_t response_to);
bool worker_reply_init(struct worker *w) __attribute__((warn_unused_result));
void worker_reply_fini(struct worker *w);

/* Join the thread and free everything it owned. */
void worker_join(struct worker *w);

/* Called by client.c when a session ends (keeps the list and drain right). */
void worker_client_gone(struct worker *w, struct client *c);

#endif
