/*
 * opquery.h - the legacy OP_QUERY (2004) and OP_REPLY (1) messages that
 * drivers still use for the first handshake (isMaster on admin.$cmd).
 *
 *   OP_QUERY: header | flags i32 | fullCollectionName cstring | skip i32 |
 *             numberToReturn i32 | query BSON | [returnFieldsSelector BSON]
 *   OP_REPLY: header | responseFlags i32 | cursorID i64 | startingFrom i32 |
 *             numberReturned i32 | BSON*
 */
#ifndef TANDEM_OPQUERY_H
#define TANDEM_OPQUERY_H

#include <bson/bson.h>

#include "opmsg.h"
#include "wire.h"

#define OPREPLY_QUERY_FAILURE (1 << 1)
#define OPREPLY_AWAIT_CAPABLE (1 << 3)

struct opquery_view {
	struct wire_header header;
	int32_t flags;
	const char *collection; /* "db.$cmd", NUL-terminated inside the message */
	int32_t skip;
	int32_t nreturn;
	const uint8_t *query;
	uint32_t query_len;
	const uint8_t *fields;  /* NULL when absent */
	uint32_t fields_len;
};

struct opreply_view {
	struct wire_header header;
	int32_t flags;
	int64_t cursor_id;
	int32_t starting_from;
	int32_t nreturned;
	const uint8_t *docs;    /* nreturned documents back to back, validated */
	size_t docs_len;
};

/* Parse a whole OP_QUERY (header included, length == header length).
 * Statuses: WIRE_ERR_SHORT (< 20 bytes), WIRE_ERR_LENGTH (header length !=
 * len, or bytes after the fields selector), WIRE_ERR_OPCODE,
 * WIRE_ERR_TRUNCATED (a field runs past the end), WIRE_ERR_BSON. */
enum wire_status opquery_parse(const uint8_t *msg, size_t len, struct opquery_view *out)
	__attribute__((warn_unused_result));

/* Parse a whole OP_REPLY; every document is validated and counted against
 * numberReturned: fewer documents than that is WIRE_ERR_TRUNCATED, bytes
 * left after them (or numberReturned < 0) WIRE_ERR_LENGTH; < 36 bytes is
 * WIRE_ERR_SHORT. */
enum wire_status opreply_parse(const uint8_t *msg, size_t len, struct opreply_view *out)
	__attribute__((warn_unused_result));

/*
 * The command of an OP_QUERY on "<db>.$cmd": the first key of the query (or
 * of its "$query"/"query" wrapper).  db is copied into dbbuf (truncated to
 * dbbuf_len - 1; the part before the first '.') and out->db points to
 * dbbuf; out->db_len is the length of that part before any truncation.  Returns false when the collection is not a "$cmd" namespace;
 * out->name is then "" (out->db is still filled).  The view must come from
 * opquery_parse (the query is read without re-validation).
 */
bool opquery_command(const struct opquery_view *v, struct wire_command *out, char *dbbuf,
		     size_t dbbuf_len);

/* Encode an OP_REPLY holding one document.  malloc'd; caller frees. */
uint8_t *opreply_encode(int32_t request_id, int32_t response_to, int32_t flags,
			int64_t cursor_id, const bson_t *doc, size_t *len)
	__attribute__((warn_unused_result));

#endif
