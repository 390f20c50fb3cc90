/*
 * stub_reply.h - the canned answers of the benchmark's stub MongoDB upstream.
 *
 * One stub_session per client connection holds its open cursors; the
 * configuration (stub_cfg) is shared read-only by every thread.  The stub
 * presents itself as a modern standalone primary (maxWireVersion 17) so that
 * current drivers accept it, and answers:
 *
 *   hello / isMaster (OP_MSG or legacy OP_QUERY)  ping  buildInfo  endSessions
 *   insert / update / delete (n = documents in the array or kind-1 sequence)
 *   find -> firstBatch, getMore -> nextBatch of generated documents
 *   killCursors; anything else -> CommandNotFound (code 59)
 *
 * A request with moreToCome set is processed but never answered.
 */
#ifndef TANDEM_BENCH_STUB_REPLY_H
#define TANDEM_BENCH_STUB_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>

#define STUB_MAX_CURSORS 16
#define STUB_NS_MAX 160
#define STUB_FIRST_BATCH_DEFAULT 101

struct stub_cfg {
	int64_t docs_total;  /* documents a find cursor yields in all */
	int doc_bytes;       /* BSON size of each generated document (>= 28) */
	int batch;           /* getMore batch when the request names none */
	char *pad;           /* doc_bytes - 28 'x' characters, NUL-terminated */
};

struct stub_cursor {
	int64_t id;          /* 0: slot free */
	int64_t returned;    /* documents sent so far */
	int64_t total;       /* documents this cursor yields in all */
	char ns[STUB_NS_MAX];
};

struct stub_session {
	const struct stub_cfg *cfg;
	struct stub_cursor cursors[STUB_MAX_CURSORS];
	int64_t cursor_seq;  /* next cursor id (made unique per thread by its top bits) */
	int32_t reply_id;    /* requestID of the next reply */
	int32_t conn_id;     /* connectionId reported by hello */
};

/* Builds the 'x' padding of cfg from doc_bytes; false on bad size or no memory. */
bool stub_cfg_init(struct stub_cfg *cfg) __attribute__((warn_unused_result));

/*
 * Answers the complete message msg (len bytes, header included) by appending
 * the reply, if any, to out.  Returns false when the message is malformed or
 * of an opcode the stub does not speak: the caller closes the connection.
 */
bool stub_reply_message(struct stub_session *s, const uint8_t *msg, size_t len,
                        struct evbuffer *out) __attribute__((warn_unused_result));

#endif
