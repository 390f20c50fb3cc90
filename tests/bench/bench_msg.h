/*
 * bench_msg.h - the minimal MongoDB wire codec the benchmark tools use.
 *
 * Deliberately independent of common/ (the proxy's own codec): the stub
 * upstream and the load generator must not share a bug with the code they
 * measure.  Only what a benchmark needs:
 *
 *   header   messageLength | requestID | responseTo | opCode   (16 bytes, LE)
 *   OP_MSG   flagBits | 0x00 body | (0x01 size id docs...)* | [crc32c]
 *   OP_QUERY flags | fullCollectionName | skip | return | query   (legacy hello)
 *   OP_REPLY flags | cursorID | startingFrom | numberReturned | docs
 *
 * Parsers are pure and bounds-checked: they read only [msg, msg + len) and
 * return false on anything malformed.  Parsed bson_t values are static views
 * into the caller's buffer (no copy), valid while that buffer is.
 */
#ifndef TANDEM_BENCH_MSG_H
#define TANDEM_BENCH_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>
#include <event2/buffer.h>

#define BMSG_HEADER_LEN 16
#define BMSG_MAX_LEN 48000000
#define BMSG_OP_REPLY 1
#define BMSG_OP_QUERY 2004
#define BMSG_OP_MSG 2013

#define BMSG_FLAG_CHECKSUM 0x1u
#define BMSG_FLAG_MORE_TO_COME 0x2u

struct bmsg_header {
	int32_t length;
	int32_t request_id;
	int32_t response_to;
	int32_t opcode;
};

/* A parsed OP_MSG: the body and a count of the kind-1 sequence documents. */
struct bmsg_opmsg {
	uint32_t flags;
	bson_t body;      /* static view over the kind-0 section */
	int n_seq_docs;   /* documents in all kind-1 sequences together */
};

/* A parsed OP_QUERY (only what answering a legacy isMaster needs). */
struct bmsg_opquery {
	const char *ns;   /* fullCollectionName, NUL-terminated inside the message */
	bson_t query;     /* static view; a {$query: {...}} wrapper is unwrapped */
};

/* Decodes the 16 header bytes at buf; false if the length is outside 16..48 MB. */
bool bmsg_read_header(const uint8_t *buf, struct bmsg_header *h)
	__attribute__((warn_unused_result));

/* Parses a whole OP_MSG message (header included) of len bytes. */
bool bmsg_parse_opmsg(const uint8_t *msg, size_t len, struct bmsg_opmsg *out)
	__attribute__((warn_unused_result));

/* Parses a whole OP_QUERY message (header included) of len bytes. */
bool bmsg_parse_opquery(const uint8_t *msg, size_t len, struct bmsg_opquery *out)
	__attribute__((warn_unused_result));

/* Parses a whole OP_REPLY message and views its first document. */
bool bmsg_parse_opreply_first(const uint8_t *msg, size_t len, bson_t *doc)
	__attribute__((warn_unused_result));

/*
 * Appends one OP_MSG (flags, body, and when seq_id is not NULL one kind-1
 * section named seq_id holding the n_docs documents of docs) to out.
 * Returns false only if libevent cannot allocate.
 */
bool bmsg_add_opmsg(struct evbuffer *out, int32_t request_id, int32_t response_to,
                    uint32_t flags, const bson_t *body,
                    const char *seq_id, const bson_t *const *docs, int n_docs)
	__attribute__((warn_unused_result));

/* Appends an OP_REPLY carrying the single document doc. */
bool bmsg_add_opreply(struct evbuffer *out, int32_t request_id, int32_t response_to,
                      const bson_t *doc)
	__attribute__((warn_unused_result));

/* Appends an OP_QUERY of query on ns (numberToReturn -1) to out. */
bool bmsg_add_opquery(struct evbuffer *out, int32_t request_id, const char *ns,
                      const bson_t *query)
	__attribute__((warn_unused_result));

#endif
