/*
 * inspect.h - what tandem needs to know about one whole message before it
 * forwards it: the effective opcode (inside OP_COMPRESSED), the OP_MSG
 * flags, whether a reply will come, the command name and the database.
 *
 * inspect_request validates what it reads (header limits, OP_MSG structure
 * and checksum, BSON of the body and sequences, OP_COMPRESSED data); a
 * message that fails gets a wire_status and is never forwarded.  Opcodes
 * tandem does not know are not inspected and are forwarded untouched.
 *
 * The database name is never cut: a name MongoDB would refuse (longer than
 * INSPECT_DB_MAX bytes, or with '.', NUL, '/', '\\', ' ' or '"') leaves the
 * message valid but sets db_status; the caller answers it with
 * inspect_db_refusal (InvalidNamespace, as mongod words it) and must not
 * let the name select anything.  '$' is allowed, as mongod allows it in
 * commands ($external).
 */
#ifndef TANDEM_INSPECT_H
#define TANDEM_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* MongoDB's longest database name in bytes ("db name must be at most 63
 * characters"). */
#define INSPECT_DB_MAX 63

enum inspect_db {
	INSPECT_DB_OK,       /* a valid name, or none ("") */
	INSPECT_DB_TOO_LONG, /* more than INSPECT_DB_MAX bytes; db is "" */
	INSPECT_DB_DOT,      /* has a '.' */
	INSPECT_DB_NUL,      /* has an embedded NUL; db holds the part before it */
	INSPECT_DB_CHAR,     /* has '/', '\\', ' ' or '"' */
};

struct msg_info {
	struct wire_header header;   /* the outer header, as on the wire */
	int32_t opcode;              /* effective opcode (unwrapped) */
	uint8_t compressor;          /* valid when compressed */
	bool compressed;
	bool known;                  /* opcode tandem parses */
	uint32_t msg_flags;          /* OP_MSG flag bits, else 0 */
	bool expects_reply;
	char command[64];            /* "" when none / unknown opcode */
	char db[INSPECT_DB_MAX + 1]; /* "" when absent or too long (see db_status) */
	size_t db_len;               /* length of the name as sent */
	enum inspect_db db_status;
};

/* Inspect a whole client message msg[0..len) (len == header length). */
enum wire_status inspect_request(const uint8_t *msg, size_t len, int32_t max_len,
				 struct msg_info *out) __attribute__((warn_unused_result));

/* The reply to a request whose db_status is not INSPECT_DB_OK: MongoDB's
 * { ok: 0, errmsg, code: 73, codeName: "InvalidNamespace" } in the
 * request's protocol (OP_MSG, or OP_REPLY for OP_QUERY), uncompressed,
 * answering info->header.request_id.  malloc'd, *len bytes; NULL when no
 * reply is expected (moreToCome) or out of memory. */
uint8_t *inspect_db_refusal(const struct msg_info *info, int32_t request_id, size_t *len)
	__attribute__((warn_unused_result));

/* Error code and code name to send for a rejected message. */
void inspect_error_code(enum wire_status st, int32_t *code, const char **code_name);

#endif
