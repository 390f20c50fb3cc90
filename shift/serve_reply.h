/*
 * serve_reply.h - a served read's answer in mongod's format (serve_reply.c).
 */
#ifndef TANDEM_SERVE_REPLY_H
#define TANDEM_SERVE_REPLY_H

#include "serve_internal.h"

/* Every set of j is fetched: compute the read and encode the reply message
 * to j's request (malloc'd, *len); for a cursor read, what the first
 * batch does not take becomes a tandem cursor.  NULL: go to MongoDB, *why
 * says why (untranslatable, a read error MongoDB words itself, too large,
 * cursor memory). */
uint8_t *serve_reply_build(struct shift_job *j, size_t *len, enum metrics_shift_fallback *why);

#endif
