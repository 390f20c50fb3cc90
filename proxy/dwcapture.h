/*
 * dwcapture.h - on a worker's request path, keep what the dual-write
 * applier will need from a write command; on the reply path, add MongoDB's
 * reply and hand both over (dualwrite.h).
 *
 * Cost when the tenant is not dual-written: a flag lookup, no copy.
 */
#ifndef TANDEM_DWCAPTURE_H
#define TANDEM_DWCAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "dualwrite.h"
#include "inspect.h"

/* The command of an OP_MSG request (compressed or not) as one document:
 * the body without $db, kind-1 sequences merged in as arrays.  *cmd is
 * initialised only when true is returned. */
bool dwcapture_command(const struct msg_info *info, const uint8_t *msg, size_t len, bson_t *cmd)
	__attribute__((warn_unused_result));

/* The body of a reply (OP_MSG, compressed or not) into *out (initialised
 * when true). */
bool dwcapture_reply_body(const uint8_t *msg, size_t len, bson_t *out)
	__attribute__((warn_unused_result));

/* A job for this request (msg[0..len) is the whole message as received),
 * or NULL when it is not a write to capture. */
struct dwjob *dwcapture_request(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
				size_t len);

/* MongoDB answered job's request with msg[0..len): submit it.  Takes job. */
void dwcapture_reply(struct dwjob *job, const uint8_t *msg, size_t len);

/* No reply will come (moreToCome): submit as unacknowledged.  Takes job. */
void dwcapture_unacknowledged(struct dwjob *job);

#endif
