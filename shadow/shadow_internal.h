/*
 * shadow_internal.h - what shadow_capture.c, shadow.c and shadow_exec.c
 * share; not an API.
 */
#ifndef TANDEM_SHADOW_INTERNAL_H
#define TANDEM_SHADOW_INTERNAL_H

#include "shadow.h"

#include <stdatomic.h>
#include <sys/queue.h>

#include <bson/bson.h>
#include <event2/event.h>

#include "mapping.h"
#include "pgread.h"

/* A sampled read and MongoDB's answer. */
struct shjob {
	bson_t cmd;               /* body without $db, sequences merged */
	bson_t reply;             /* parsed from raw on the shadow thread */
	uint8_t *raw;             /* MongoDB's reply message as received */
	size_t raw_len;
	char db[128];
	char op[64];              /* the command name */
	uint64_t conn;
	int32_t request_id;       /* the client's requestID */
	uint64_t read_seq;        /* the touch clock (dwtouch.h) at the request: every
	                           * write and resync numbered <= it is in MongoDB's
	                           * answer (shadow_race.c) */
	uint64_t fwd_seq;         /* captured writes forwarded before the reply: any
	                           * of them may be in it (shadow.c waits for them) */
	double mongo_ms;
	uint64_t deadline_us;     /* monotonic */
	TAILQ_ENTRY(shjob) link;
};

/* Where a run is.  shadow.c's shrun_set_state() is the only place that
 * changes r->st; it keeps sh.runs and sh.inflight right.
 *
 *   NEW -> PLANNING -+-> WAIT_WRITES (poll) -+-> SELECTING -> DECODING -+-> COMPARING -> DONE
 *                    +-----------------------+        ^                 |
 *                                                     +--- next set ----+
 *   calibrate: PLANNING -> COMPARING.  Deadline in SELECTING: DEAD, then
 *   DONE when the SELECT comes back.  Skipped, shed or failed: DONE.
 */
enum shrun_state {
	SHRUN_ST_NEW,             /* allocated: on no list, not counted */
	SHRUN_ST_PLANNING,        /* MongoDB's reply parsed, the read planned (run_start) */
	SHRUN_ST_WAIT_WRITES,     /* timer polls until the dual-write jobs acknowledged
	                           * before the read are applied (or its deadline) */
	SHRUN_ST_SELECTING,       /* a SELECT of set r->next in flight; timer = deadline */
	SHRUN_ST_DECODING,        /* that SELECT came back: its rows into the set */
	SHRUN_ST_COMPARING,       /* every set fetched (or calibrate): run the read,
	                           * compare, report */
	SHRUN_ST_DEAD,            /* shed at its deadline while its SELECT was in flight:
	                           * no longer counted; freed when the SELECT comes back */
	SHRUN_ST_DONE,            /* off sh.runs, about to be freed */
};

const char *shrun_state_to_str(enum shrun_state st);

/* A job being run. */
struct shrun {
	enum shrun_state st;      /* shrun_set_state() only */
	struct shjob *job;
	/* The read (common/pgread): r->rd, or its members by name (r->plan,
	 * r->colls, r->ncolls, r->sets, ...; the same memory). */
	union {
		struct pgread rd;
		struct {
			PGREAD_MEMBERS
		};
	};
	bool have_wait;           /* wait_seq is set (writes_ready in shadow.c) */
	uint64_t wait_seq;        /* submitted writes to wait for once fwd_seq replied */
	size_t next;              /* the set being fetched */
	struct event *timer;      /* deadline, and polling for the dual-write lag */
	uint64_t pg_start_us;
	double pg_ms;
	TAILQ_ENTRY(shrun) link;
};

/* What the shadow thread was configured with. */
struct shconf {
	unsigned max_inflight, queue_max;
	unsigned max_rate;        /* runs started per second; 0: no cap */
	uint64_t timeout_us;
	size_t max_rows;
	bool log_values, calibrate, strict_types;
	unsigned redis_keep;
	const struct mapping *mapping;
	struct shadow_caps *caps;
	struct shadow_ignore *ignore;
	struct mismatch_limiter *limiter;
	struct shadow_writes writes;  /* the dual-write watermark (shadow.h) */
};

extern struct shconf shadow_conf;
extern atomic_bool shadow_on;
extern _Atomic unsigned shadow_nqueued;

/* The dual-write watermark through shadow_conf.writes (true / 0 without). */
bool shadow_writes_settled(uint64_t seq);
uint64_t shadow_writes_forwarded(void);
uint64_t shadow_writes_submitted(void);
/* Hand a job to the shadow thread (worker side). */
void shadow_submit(struct shjob *job);

/* ---- shadow_exec.c ---- */
/* Plan r's read; false: skipped (counted here). */
bool shexec_plan(struct shrun *r);
/* Every set is fetched: run the read, compare, report. */
void shexec_finish(struct shrun *r);
/* calibrate: run the read on MongoDB again and compare. */
void shexec_calibrate(struct shrun *r, void *mongo_client);
void shexec_free(struct shrun *r);

/* ---- shadow.c ---- */
/* LPUSH + LTRIM tandem:mismatches:<tenant> (best effort, counted). */
void shadow_redis_push(const char *tenant, const char *line, size_t len);

/* shadow_batch.c: the firstBatch array of a find/aggregate reply. */
bool shbatch_first(const bson_t *reply, bson_iter_t *batch);
/* One element of a first batch: append what stands for it to batch under
 * key (true), or nothing (false: the next element gets the same key). */
typedef bool (*shbatch_fn)(bson_iter_t *elem, bson_t *batch, const char *key, void *arg);
/* out (initialised here) = reply with its firstBatch passed through fn;
 * returns the elements appended. */
uint32_t shbatch_map(const bson_t *reply, shbatch_fn fn, void *arg, bson_t *out);

/* shadow_race.c: whether r's answer may be compared with PostgreSQL's pg
 * (which is the same moment as MongoDB's for what is compared); documents
 * written after the read may be taken out of both replies first.  False:
 * counted as skipped "raced". */
bool shrace_fair(struct shrun *r, bson_t *pg);

#endif
