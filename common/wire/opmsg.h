/*
 * opmsg.h - OP_MSG (opcode 2013): parse a whole message into a view that
 * points into the caller's buffer, and encode replies.
 *
 *   header | flagBits u32 | section* | [checksum u32]
 *   section = 0x00 BSON-document                      (the body; exactly one)
 *           | 0x01 size i32, identifier cstring, BSON-document*   (a sequence)
 *
 * Flag bits 0..15 are required: an unknown one set makes the message invalid.
 * Bits 16..31 are optional and ignored except exhaustAllowed.
 */
#ifndef TANDEM_OPMSG_H
#define TANDEM_OPMSG_H

#include <bson/bson.h>

#include "wire.h"

#define OPMSG_CHECKSUM_PRESENT (1u << 0)
#define OPMSG_MORE_TO_COME (1u << 1)
#define OPMSG_EXHAUST_ALLOWED (1u << 16)
#define OPMSG_REQUIRED_MASK 0xffffu
#define OPMSG_KNOWN_REQUIRED (OPMSG_CHECKSUM_PRESENT | OPMSG_MORE_TO_COME)

/* At most this many kind-1 sections; more is WIRE_ERR_SECTIONS. */
#define OPMSG_MAX_SEQUENCES 8

/* One kind-1 document sequence: its documents lie back to back in docs. */
struct opmsg_sequence {
	const char *identifier; /* NUL-terminated, inside the message */
	const uint8_t *docs;
	size_t docs_len;
	uint32_t count;         /* number of documents */
};

struct opmsg_view {
	struct wire_header header;
	uint32_t flags;
	const uint8_t *body;    /* the kind-0 document */
	uint32_t body_len;
	struct opmsg_sequence seq[OPMSG_MAX_SEQUENCES];
	unsigned nseq;
	bool has_checksum;
	uint32_t checksum;
};

/*
 * Parse msg[0..len), a whole message including its header, whose header
 * length must equal len (else WIRE_ERR_LENGTH; fewer than 20 bytes is
 * WIRE_ERR_SHORT; another opcode WIRE_ERR_OPCODE).  Verifies the checksum when present, validates the
 * structure of the body and of every sequence document (bson_validate,
 * structure only).  On success fills *out with pointers into msg.
 */
enum wire_status opmsg_parse(const uint8_t *msg, size_t len, struct opmsg_view *out)
	__attribute__((warn_unused_result));

/* The command named by a body: its first key, and the value of "$db". */
struct wire_command {
	const char *name;   /* NUL-terminated, inside the message; "" if none */
	const char *db;     /* NUL-terminated, inside the message; "" if absent */
	size_t db_len;      /* bytes of the name as sent (an embedded NUL makes it > strlen(db)) */
};

/* Fill *out from a body already validated by opmsg_parse.  Never fails:
 * missing parts become "". */
void opmsg_command(const struct opmsg_view *v, struct wire_command *out);

/*
 * Encode an OP_MSG with one kind-0 section holding body and the given flags
 * (checksumPresent adds a CRC-32C).  Returns a malloc'd buffer of *len bytes,
 * or NULL when out of memory.  The caller frees it.
 */
uint8_t *opmsg_encode(int32_t request_id, int32_t response_to, uint32_t flags,
		      const bson_t *body, size_t *len) __attribute__((warn_unused_result));

/* The error document MongoDB sends: { ok: 0.0, errmsg, code, codeName },
 * in that order.  out is uninitialized storage: this function bson_init()s
 * it (do not pass a bson_new() result); the caller bson_destroy()s it. */
void opmsg_error_doc(bson_t *out, int32_t code, const char *code_name, const char *errmsg);

#endif
