/*
 * flags_refresh_internal.h - the flag refresher thread of shift/ (private
 * to the folder; flags.c starts and stops it).  See flags_refresh.c.
 */
#ifndef TANDEM_FLAGS_REFRESH_INTERNAL_H
#define TANDEM_FLAGS_REFRESH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redisurl.h"

struct flags_refresh_cfg {
	struct redisurl url;
	bool tracking;        /* ask Redis for invalidations (CLIENT TRACKING) */
	uint64_t poll_ms;     /* full refresh period without invalidations */
	uint64_t full_ms;     /* full refresh period with invalidations */
};

/* Start the thread (the table must be initialised). */
bool flags_refresh_start(const struct flags_refresh_cfg *c, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Stop and join it; a no-op when not started. */
void flags_refresh_stop(void);
/* tandem:flags messages received (for flags_stats). */
uint64_t flags_refresh_messages(void);

#endif
