/*
 * serve_internal.h - what route.c (worker side) and serve.c (the
 * served-read thread) share; not an API.
 */
#ifndef TANDEM_SERVE_INTERNAL_H
#define TANDEM_SERVE_INTERNAL_H

#include "shift.h"

#include <stdatomic.h>
#include <sys/queue.h>

#include <bson/bson.h>
#include <event2/event.h>

#include "pgread.h"
#include "router.h"

/* Where a job is; serve.c's job_set_state is the only place that changes
 * it.
 *
 *   QUEUED -> WAITING (applier behind, polls) -> SELECTING <-> (next set)
 *          -> answered (reply or fallback), freed
 *   deadline while SELECTING: fallback at once, DEAD until the SELECT
 *   returns, then freed. */
enum sjob_state {
	SJOB_ST_QUEUED,
	SJOB_ST_WAITING,
	SJOB_ST_SELECTING,
	SJOB_ST_DEAD,
};

struct shift_job {
	enum sjob_state st;
	bson_t cmd;                 /* the command (body without $db, sequences merged) */
	struct pgread rd;           /* planned from cmd on the worker */
	char db[128];
	char tenant[128];
	uint64_t conn;
	int32_t request_id;
	struct worker *w;
	uint64_t wait_seq;          /* dual-write jobs submitted before the read */
	uint64_t deadline_us;       /* monotonic */
	bool no_cursor_timeout;
	size_t next;                /* the set being fetched */
	struct event *timer;        /* deadline / applier poll */
	TAILQ_ENTRY(shift_job) link;
};

/* What the thread was started with. */
struct sfconf {
	enum router_sticky sticky;
	unsigned max_inflight;
	uint64_t timeout_us, ryw_wait_us;
	size_t max_rows, max_result_bytes;
	const struct mapping *mapping;
	struct shift_writes writes;
	shift_reply_fn reply;
	shift_fallback_fn fallback;
};

extern struct sfconf shift_conf;
extern atomic_bool shift_on;
extern _Atomic unsigned shift_inflight;   /* handed over, not yet answered */

void sjob_free(struct shift_job *job);

#endif
