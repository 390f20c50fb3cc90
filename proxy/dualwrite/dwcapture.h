/*
 * dwcapture.h - on a worker's request path, keep what the dual-write
 * applier will need from a write command; on the reply path, add MongoDB's
 * reply and hand both over (dualwrite.h).
 *
 * Cost when the tenant is not dual-written: the tenant (tenant.h: the
 * database name, a regex match, or in field mode a read of the command in
 * place) and a flag lookup, no copy.
 */
#ifndef TANDEM_DWCAPTURE_H
#define TANDEM_DWCAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "dualwrite.h"
#include "inspect.h"

/* A job for this request (msg[0..len) is the whole message as received),
 * or NULL when it is not a write to capture. */
struct dwjob *dwcapture_request(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
				size_t len);

/* MongoDB answered job's request with msg[0..len): submit it.  Takes job. */
void dwcapture_reply(struct dwjob *job, const uint8_t *msg, size_t len);

/* No reply will come (moreToCome): submit as unacknowledged.  Takes job. */
void dwcapture_unacknowledged(struct dwjob *job);

#endif
