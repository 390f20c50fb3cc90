/*
 * loadgen.h - shared state of the closed-loop load generator.
 *
 *   main thread                       worker thread k (own event_base)
 *   -----------                       ------------------------------------
 *   start workers  ----------------->  connect its conns (at most
 *   wait until all conns are ready       --connect-burst at a time), hello
 *   set t_warm, t_end (lg_shared)        load modes: request, wait reply, repeat;
 *   sleep to t_end (or hold, idle)         replies completing inside
 *   set stop  ---------------------->      [t_warm, t_end] are counted
 *   join, merge stats, print JSON        idle mode: stay quiet
 *                                        tick (20 ms): on stop, leave the loop once
 *                                          no request is in flight (drain, <= 2 s)
 *
 * --rate (lg_pace.c) replaces "request, wait reply, repeat" by a fixed schedule.
 *
 * Each connection has exactly one request in flight (closed loop).
 * Threads share nothing but lg_shared (atomics); stats are per thread.
 */
#ifndef TANDEM_BENCH_LOADGEN_H
#define TANDEM_BENCH_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <netinet/in.h>

#include "bench_hist.h"

enum lg_mode { LG_MODE_PING, LG_MODE_FIND, LG_MODE_INSERT, LG_MODE_IDLE };

struct lg_opts {
	const char *host;
	int port;
	int conns;
	int threads;
	double seconds;       /* measured window (idle: how long to hold) */
	double warmup;        /* unmeasured load before the window */
	enum lg_mode mode;
	int batch;            /* find/getMore batchSize; 0: let the server choose */
	int doc_bytes;        /* insert: approximate size of each document */
	int connect_burst;    /* connections being set up at once, per thread */
	bool legacy_hello;    /* handshake with OP_QUERY isMaster instead of OP_MSG hello */
	const char *ready_file; /* idle: touched once every connection is ready */
	double rate;          /* load modes: requests/s over all threads; 0: closed loop */
	const char *coll;     /* find/insert collection (default "bench") */
	long long filter_id;  /* find: {_id: Int64(filter_id)} when >= 0; -1: {} */
	struct sockaddr_in addr;
};

/* Cross-thread state; everything else is owned by one thread. */
struct lg_shared {
	atomic_uint_fast64_t t_warm;  /* ns, CLOCK_MONOTONIC; UINT64_MAX until set */
	atomic_uint_fast64_t t_end;
	atomic_bool stop;
	atomic_int ready;             /* connections whose hello was answered */
	atomic_int failed;            /* connections that failed before ready */
};

struct lg_stats {
	uint64_t ops;         /* replies completed inside the window */
	uint64_t acked;       /* ok replies to load requests, whenever they came (warm-up, drain) */
	uint64_t errors;      /* error replies and protocol violations */
	uint64_t cursors;     /* find mode: cursors read to exhaustion in the window */
	uint64_t docs;        /* find mode: documents received in the window */
	uint64_t rx_bytes;    /* reply bytes received in the window */
	uint64_t closed;      /* connections lost after they were ready */
	uint64_t stalled;     /* conns whose request was still unanswered > 1 s after the drain */
	uint64_t skipped;     /* --rate: scheduled requests dropped (every conn was busy > 50 ms) */
	struct bhist hist;    /* per-reply latency, ns */
};

enum lg_conn_state {
	LG_CONN_NEW,          /* not started yet (waits for a burst slot) */
	LG_CONN_CONNECTING,   /* connect() in progress */
	LG_CONN_HELLO,        /* hello sent, waiting for its reply */
	LG_CONN_BUSY,         /* a measured request is in flight */
	LG_CONN_IDLE,         /* idle mode: ready, nothing in flight */
	LG_CONN_PACED,        /* --rate: ready, parked until the schedule allows a request */
	LG_CONN_DEAD,         /* failed or closed; never reused */
};

struct lg_thread;

struct lg_conn {
	struct lg_thread *t;
	enum lg_conn_state state;
	int fd;
	struct event *rev;    /* EV_READ | EV_PERSIST */
	struct event *wev;    /* EV_WRITE, armed while connecting or output is pending */
	struct evbuffer *in;
	struct evbuffer *out;
	int32_t req_id;       /* requestID of the request in flight */
	uint64_t sent_ns;
	int64_t cursor_id;    /* find mode: open cursor, 0 when the next request is a find */
};

struct lg_thread {
	int index;
	pthread_t tid;
	const struct lg_opts *o;
	struct event_base *base;
	struct event *tick;
	struct lg_conn *conns;
	int nconns;
	int next_start;       /* index of the next LG_CONN_NEW connection */
	int starting;         /* connections in CONNECTING or HELLO */
	bool pumping;         /* inside lg_thread_pump (no re-entry) */
	int32_t req_seq;
	int64_t doc_seq;      /* insert mode: documents built by this thread */
	char *pad;            /* insert mode: padding string (doc_bytes 'x') */
	bson_context_t *oids; /* insert mode: ObjectId source of this thread */
	struct event *pace;   /* --rate: 1 ms timer that releases parked conns */
	int *parked;          /* --rate: stack of indexes of PACED conns */
	int nparked;
	uint64_t pace_t0;     /* --rate: ns of the first scheduled request; 0: not yet */
	uint64_t pace_sent;   /* --rate: requests released since pace_t0 */
	struct lg_stats st;
};

extern struct lg_shared lg_shared;

/* Monotonic clock in ns. */
uint64_t lg_now_ns(void);

/* Sends the mode's next request on c, now (c->state becomes BUSY). */
bool lg_conn_send_request(struct lg_conn *c);

/* Kills c (connection lost) with a reason for stderr. */
void lg_conn_kill(struct lg_conn *c, const char *why);

/* --rate (lg_pace.c): true when t may send one more request now (and counts it). */
bool lg_pace_take(struct lg_thread *t);

/* --rate: parks c until the schedule allows its next request. */
void lg_pace_park(struct lg_conn *c);

/* --rate: the 1 ms timer; sends the requests that have come due. */
void lg_pace_tick_cb(evutil_socket_t fd, short what, void *arg);

/* Starts connections until the burst limit or the list is exhausted. */
void lg_thread_pump(struct lg_thread *t);

/* Closes every connection of t and frees its events and buffers. */
void lg_thread_close_all(struct lg_thread *t);

/* Connections of t with a load request in flight. */
int lg_thread_busy(const struct lg_thread *t);

/* Counts in t->st.stalled the conns whose request was unanswered for > 1 s. */
void lg_thread_count_stalled(struct lg_thread *t, uint64_t now);

#endif
