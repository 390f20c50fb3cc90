/*
 * ctl_redis.h - tandemctl's Redis connection (flags, mode, mismatches).
 */
#ifndef TANDEM_CTL_REDIS_H
#define TANDEM_CTL_REDIS_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

/* Connect to url ("redis://HOST[:PORT][/DB]", 2 s timeouts) and SELECT
 * its database.  NULL on failure, with the reason printed on stderr;
 * *bad_url (may be NULL) tells a malformed URL from an unreachable or
 * refusing Redis. */
redisContext *ctl_redis_connect(const char *url, bool *bad_url);

#endif
