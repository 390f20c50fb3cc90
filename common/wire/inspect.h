/*
 * inspect.h - what tandem needs to know about one whole message before it
 * forwards it: the effective opcode (inside OP_COMPRESSED), the OP_MSG
 * flags, whether a reply will come, the command name and the database.
 *
 * inspect_request validates what it reads (header limits, OP_MSG structure
 * and checksum, BSON of the body and sequences, OP_COMPRESSED data); a
 * message that fails gets a wire_status and is never forwarded.  Opcodes
 * tandem does not know are not inspected and are forwarded untouched.
 */
#ifndef TANDEM_INSPECT_H
#define TANDEM_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct msg_info {
	struct wire_header header;   /* the outer header, as on the wire */
	int32_t opcode;              /* effective opcode (unwrapped) */
	uint8_t compressor;          /* valid when compressed */
	bool compressed;
	bool known;                  /* opcode tandem parses */
	uint32_t msg_flags;          /* OP_MSG flag bits, else 0 */
	bool expects_reply;
	char command[64];            /* "" when none / unknown opcode */
	char db[128];
};

/* Inspect a whole client message msg[0..len) (len == header length). */
enum wire_status inspect_request(const uint8_t *msg, size_t len, int32_t max_len,
				 struct msg_info *out) __attribute__((warn_unused_result));

/* Error code and code name to send for a rejected message. */
void inspect_error_code(enum wire_status st, int32_t *code, const char **code_name);

#endif
