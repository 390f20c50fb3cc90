/*
 * lg_pace.c - fixed-rate pacing of the load generator (--rate OPS_PER_S).
 *
 * Each thread sends rate / threads requests per second on a fixed schedule:
 * request k is due at pace_t0 + k / rate_t.  A connection whose reply came
 * back early is parked (LG_CONN_PACED) and released by a 1 ms timer when its
 * slot comes due, so requests leave in small bursts of at most ~rate_t/1000.
 * Each connection still has at most one request in flight: when every
 * connection is busy the schedule falls behind and is caught up as replies
 * return; a backlog larger than 50 ms of requests is dropped and counted in
 * st.skipped (the run then did not hold the rate: use more --conns).
 *
 * Invariants: pace_sent <= due(now) after every take; a parked connection is
 * on the parked stack exactly once and in state PACED (or DEAD, then skipped).
 */
#include "loadgen.h"

#define LG_PACE_MAX_BACKLOG_S 0.05

/* Requests due by now (the first one is due at once). */
static uint64_t lg_pace_due(struct lg_thread *t, uint64_t now)
{
	double rate_t = t->o->rate / (double)t->o->threads;

	return (uint64_t)((double)(now - t->pace_t0) * rate_t / 1e9) + 1;
}

bool lg_pace_take(struct lg_thread *t)
{
	uint64_t now = lg_now_ns(), due, cap;

	if (t->pace_t0 == 0)
		t->pace_t0 = now;
	due = lg_pace_due(t, now);
	cap = (uint64_t)(t->o->rate / (double)t->o->threads * LG_PACE_MAX_BACKLOG_S) + 1;
	if (due > t->pace_sent + cap) {
		if (now >= atomic_load_explicit(&lg_shared.t_warm, memory_order_relaxed))
			t->st.skipped += due - cap - t->pace_sent;
		t->pace_sent = due - cap;
	}
	if (t->pace_sent >= due)
		return false;
	t->pace_sent++;
	return true;
}

void lg_pace_park(struct lg_conn *c)
{
	struct lg_thread *t = c->t;

	c->state = LG_CONN_PACED;
	t->parked[t->nparked++] = (int)(c - t->conns);
}

void lg_pace_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;
	int guard = t->nparked;

	(void)fd, (void)what;
	while (t->nparked > 0 && guard-- > 0 &&
	       !atomic_load_explicit(&lg_shared.stop, memory_order_relaxed)) {
		struct lg_conn *c = &t->conns[t->parked[t->nparked - 1]];

		if (c->state != LG_CONN_PACED) {
			t->nparked--; /* died while parked */
			continue;
		}
		if (!lg_pace_take(t))
			return;
		t->nparked--;
		if (!lg_conn_send_request(c))
			lg_conn_kill(c, "cannot send request");
	}
}
