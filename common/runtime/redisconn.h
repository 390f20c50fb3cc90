/*
 * redisconn.h - open a synchronous hiredis connection the way every tandem
 * Redis user must: to the URL's host and port, AUTH when the URL carries a
 * password, SELECT the URL's database.  The flag cache, the durable queue,
 * the mismatch lists and tandemctl all connect through redisconn_open, so
 * `redis://host/2` puts every key of tandem in database 2.
 *
 *   redisurl_parse --struct redisurl--> redisconn_open
 *       connect (connect_ms) -> timeouts (io_ms) -> [AUTH] -> [SELECT db]
 *
 * Plumbing every part shares, so it lives in common/runtime.
 */
#ifndef TANDEM_REDISCONN_H
#define TANDEM_REDISCONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redisurl.h"

/* A connected, authenticated context on u's database, with io_ms as its
 * read/write timeout; redisFree it.  NULL on failure, with err holding
 * "cannot reach Redis at URL: <reason>" or "Redis at URL refused AUTH|SELECT:
 * <its error>", URL as redisurl_show writes it (no password). */
redisContext *redisconn_open(const struct redisurl *u, unsigned connect_ms, unsigned io_ms, char *err,
			     size_t errlen) __attribute__((warn_unused_result));

#endif
