/*
 * msgdoc.h - the command of a request, or the body of a reply, as one
 * self-contained BSON document: what the dual-write capture and the shadow
 * reader keep of a message.  OP_MSG only (compressed or not); kind-1
 * document sequences are merged into the body as arrays.
 */
#ifndef TANDEM_MSGDOC_H
#define TANDEM_MSGDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "inspect.h"

/* The command of an OP_MSG request (compressed or not) as one document:
 * the body without $db, kind-1 sequences merged in as arrays.  *cmd is
 * initialised only when true is returned. */
bool msgdoc_command(const struct msg_info *info, const uint8_t *msg, size_t len, bson_t *cmd)
	__attribute__((warn_unused_result));

/* The body of a reply (OP_MSG, compressed or not) into *out (initialised
 * when true). */
bool msgdoc_reply_body(const uint8_t *msg, size_t len, bson_t *out)
	__attribute__((warn_unused_result));

#endif
