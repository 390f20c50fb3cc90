/*
 * wire.h - the MongoDB wire protocol message header, opcodes and the
 * status codes every wire parser in common/ returns.
 *
 * Every message on the wire starts with a 16-byte little-endian header:
 *
 *   +---------------+---------------+---------------+---------------+
 *   | messageLength |   requestID   |  responseTo   |    opCode     |
 *   +---------------+---------------+---------------+---------------+
 *
 * messageLength counts the header itself.  The parsers here are pure: they
 * read only the bytes they are given, never allocate (except the explicit
 * decompress/encode functions), and return a wire_status instead of failing
 * loudly.  Callers own every buffer.
 */
#ifndef TANDEM_WIRE_H
#define TANDEM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_HEADER_LEN 16
/* MongoDB's maxMessageSizeBytes. */
#define WIRE_MAX_MESSAGE_DEFAULT (48 * 1000 * 1000)
/* Deepest BSON nesting tandem reads (mongod's own limit is 200). */
#define WIRE_MAX_DEPTH 256

enum wire_opcode {
	WIRE_OP_REPLY = 1,
	WIRE_OP_UPDATE = 2001,
	WIRE_OP_INSERT = 2002,
	WIRE_OP_QUERY = 2004,
	WIRE_OP_GET_MORE = 2005,
	WIRE_OP_DELETE = 2006,
	WIRE_OP_KILL_CURSORS = 2007,
	WIRE_OP_COMPRESSED = 2012,
	WIRE_OP_MSG = 2013,
};

enum wire_status {
	WIRE_OK = 0,
	WIRE_ERR_SHORT,       /* fewer bytes than the structure needs */
	WIRE_ERR_LENGTH,      /* messageLength < 16 or > the limit */
	WIRE_ERR_TRUNCATED,   /* a field runs past the end of the message */
	WIRE_ERR_FLAGS,       /* a required (unknown) flag bit is set */
	WIRE_ERR_CHECKSUM,    /* OP_MSG CRC-32C does not match */
	WIRE_ERR_BSON,        /* a document is not valid BSON */
	WIRE_ERR_SECTIONS,    /* OP_MSG: not exactly one kind-0 section, bad kind */
	WIRE_ERR_COMPRESSOR,  /* OP_COMPRESSED: unknown compressor id */
	WIRE_ERR_DECOMPRESS,  /* OP_COMPRESSED: data does not decompress to the stated size */
	WIRE_ERR_OPCODE,      /* an opcode this function does not handle */
	WIRE_ERR_NOMEM,
};

/* Short stable name of a status, for logs and error messages ("bad_checksum"). */
const char *wire_status_to_str(enum wire_status st);

/* Name of an opcode ("OP_MSG"), or "unknown". */
const char *wire_opcode_to_str(int32_t opcode);

struct wire_header {
	int32_t length;
	int32_t request_id;
	int32_t response_to;
	int32_t opcode;
};

/* Read the header from p, which must hold at least WIRE_HEADER_LEN bytes. */
void wire_header_read(const uint8_t *p, struct wire_header *h);

/* Write the header to p, which must have room for WIRE_HEADER_LEN bytes. */
void wire_header_write(uint8_t *p, const struct wire_header *h);

/* Sanity of a header before its body is read: 16 <= length <= max_len. */
enum wire_status wire_header_check(const struct wire_header *h, int32_t max_len)
	__attribute__((warn_unused_result));

/* Little-endian loads and stores that work on unaligned pointers. */
static inline int32_t wire_load_i32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			 (uint32_t)p[3] << 24);
}

static inline int64_t wire_load_i64(const uint8_t *p)
{
	return (int64_t)((uint64_t)(uint32_t)wire_load_i32(p) |
			 (uint64_t)(uint32_t)wire_load_i32(p + 4) << 32);
}

static inline void wire_store_i32(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;
	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

static inline void wire_store_i64(uint8_t *p, int64_t v)
{
	wire_store_i32(p, (int32_t)(uint32_t)(uint64_t)v);
	wire_store_i32(p + 4, (int32_t)(uint32_t)((uint64_t)v >> 32));
}

/*
 * Bounds helpers shared by the parsers (added by the codec, not part of the
 * original contract).
 *
 * wire_doc_check: the BSON document that starts at p, with `remaining` bytes
 * available.  Its length field is checked against `remaining` before libbson
 * sees it; then the structure is validated (bson_validate, no flags).  On
 * WIRE_OK *doc_len is the document's length.  Returns WIRE_ERR_TRUNCATED when
 * the length field or the document runs past `remaining`, WIRE_ERR_BSON when
 * the bytes are not a valid document.
 */
enum wire_status wire_doc_check(const uint8_t *p, size_t remaining, uint32_t *doc_len)
	__attribute__((warn_unused_result));

/* The NUL-terminated string at p within `remaining` bytes: its length
 * without the NUL in *len, or NULL when no NUL lies within `remaining`. */
const char *wire_cstring(const uint8_t *p, size_t remaining, size_t *len)
	__attribute__((warn_unused_result));

#endif
