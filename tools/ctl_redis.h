/*
 * ctl_redis.h - tandemctl's Redis connection (flags, mode, mismatches).
 */
#ifndef TANDEM_CTL_REDIS_H
#define TANDEM_CTL_REDIS_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

/* Connect to url (redisurl.h: "redis://[USER:PASSWORD@]HOST[:PORT][/DB]",
 * 2 s timeouts), AUTH and SELECT its database (redisconn_open).  NULL on failure, with the reason printed on stderr;
 * *bad_url (may be NULL) tells a malformed URL from an unreachable or
 * refusing Redis. */
redisContext *ctl_redis_connect(const char *url, bool *bad_url);

#endif
