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
};

/* Create the base, the listeners and the notification events. */
bool worker_init(struct worker *w, struct proxy *px, int index, char *err, size_t errlen)
	__attribute__((warn_unused_result));

bool worker_start(struct worker *w) __attribute__((warn_unused_result));

/* Thread-safe notifications. */
void worker_notify_topology(struct worker *w);
void worker_notify_drain(struct worker *w);

/* Join the thread and free everything it owned. */
void worker_join(struct worker *w);

/* Called by client.c when a session ends (keeps the list and drain right). */
void worker_client_gone(struct worker *w, struct client *c);

#endif
