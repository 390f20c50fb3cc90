/*
 * flags_refresh_internal.h - the flag refresher thread of shift/ (private
 * to the folder; flags.c starts and stops it).  See flags_refresh.c.
 */
#ifndef TANDEM_FLAGS_REFRESH_INTERNAL_H
#define TANDEM_FLAGS_REFRESH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags.h"
#include "redisurl.h"

struct redisContext;
struct redisReply;

struct flags_refresh_cfg {
	struct redisurl url;
	bool tracking;        /* ask Redis for invalidations (CLIENT TRACKING) */
	uint64_t poll_ms;     /* full refresh period without invalidations */
	uint64_t full_ms;     /* full refresh period with invalidations */
};

#define FLAGS_PIPELINE_MAX 1024u /* HGETALLs per round trip */
#define FLAGS_PENDING_MAX 4096u  /* keys waiting for their HGETALL; more: full refresh */

/* The refresher thread's state (flags_refresh.c; flags_read.c reads the
 * hashes with it). */
struct flags_refresher {
	struct flags_refresh_cfg cfg;
	char why[256]; /* why the last connect failed */
	struct redisContext *cmd, *sub;
	bool tracking;  /* invalidations are live on this connection */
	bool want_full, want_defaults, down_logged;
	uint64_t backoff_ms, next_connect_ms, next_full_ms;
	uint64_t sub_rx_ms, ping_sent_ms; /* last message on sub; PING outstanding since (0: none) */
	uint64_t gen;   /* stamps changed views; also marks entries seen by a full refresh */
	uint64_t defaults_warned_ms[FLAGS_F_COUNT + 1];
	char *pending[FLAGS_PENDING_MAX]; /* tenant names to re-read */
	size_t npending;
	struct redisReply *replies[FLAGS_PIPELINE_MAX];
};

/* flags_read.c: SCAN every tenant hash and re-read them all (periodic:
 * what changes is counted as a repair).  False: Redis failed. */
bool flags_full_refresh(struct flags_refresher *r, bool periodic);
/* flags_read.c: re-read the tenants in r->pending (and the defaults when
 * r->want_defaults).  False: Redis failed. */
bool flags_targeted_refresh(struct flags_refresher *r);

/* Start the thread (the table must be initialised). */
bool flags_refresh_start(const struct flags_refresh_cfg *c, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Stop and join it; a no-op when not started. */
void flags_refresh_stop(void);
/* tandem:flags messages received (for flags_stats). */
uint64_t flags_refresh_messages(void);

#endif
