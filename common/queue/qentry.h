/*
 * qentry.h - one queued PostgreSQL write, as stored in the durable queue
 * (the Redis list of rqueue.h and the local spool of spool.h).
 *
 * Encoding: a msgpack map with short string keys, so fields can be added
 * later without breaking old readers (unknown keys are ignored):
 *
 *   "v"  uint   format version (QENTRY_VERSION; newer is rejected)
 *   "s"  uint   seq, monotonic per (node, process)
 *   "n"  str    node id of the writer (with "s": unique across instances)
 *   "t"  uint   ts_ms, wall clock when queued (ms since the epoch)
 *   "tn" str    tenant       "d" str  database      "c" str  collection
 *   "k"  uint   kind (enum qentry_kind)
 *   "id" bin    doc_key: a BSON document {_id: <value>} ({} for txn)
 *   "p"  bin    payload: a BSON document, what to apply
 *   "a"  uint   attempts so far        (optional, default 0)
 *   "e"  str    last error, for dead letters (optional, may be empty)
 *   "us" uint   wall clock (µs) when the write was forwarded to MongoDB
 *   "ua" uint   wall clock (µs) when MongoDB's reply reached tandem
 *               (both optional, 0 / absent = unknown: no overlap check)
 *
 * Decoding treats the bytes as untrusted: a bounded structural pre-scan
 * (declared counts never exceed the bytes left, nesting <= 8) before
 * msgpack-c sees them, strict types, bounded lengths, UTF-8 strings without
 * NUL, duplicate keys rejected, every BSON blob bson_validate'd.
 */
#ifndef TANDEM_QENTRY_H
#define TANDEM_QENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QENTRY_VERSION 1u
#define QENTRY_NAME_MAX 255u			  /* node, tenant, db, coll (bytes) */
#define QENTRY_ERROR_MAX 4096u			  /* "e" (bytes) */
#define QENTRY_KEY_MAX (16u * 1024 * 1024 + 1024) /* doc_key BSON */
#define QENTRY_PAYLOAD_MAX (48u * 1024 * 1024)	  /* payload BSON */
#define QENTRY_ENCODED_MAX (QENTRY_PAYLOAD_MAX + QENTRY_KEY_MAX + 64u * 1024)

enum qentry_kind {
	QENTRY_INSERT = 0,
	QENTRY_UPDATE = 1,
	QENTRY_DELETE = 2,
	QENTRY_REPLACE = 3,
	QENTRY_RESYNC = 4, /* re-read the document from MongoDB by _id */
	QENTRY_TXN = 5,	   /* payload holds a committed transaction's writes */
	QENTRY_KIND_COUNT
};

/*
 * A decoded (or to-be-encoded) entry.  After qentry_decode every pointer is
 * malloc'd and owned by the entry (qentry_free releases them); strings are
 * NUL-terminated.  For qentry_encode the caller may point anywhere.
 */
struct qentry {
	uint32_t version;
	uint64_t seq;
	char *node;
	uint64_t ts_ms;
	char *tenant;
	char *db;
	char *coll;
	enum qentry_kind kind;
	uint8_t *doc_key;
	size_t doc_key_len;
	uint8_t *payload;
	size_t payload_len;
	uint32_t attempts;
	char *error; /* NULL when absent */
	uint64_t sent_us, ack_us; /* 0 when absent (older entries) */
};

/* "insert", "update", ... or NULL for an out-of-range kind. */
const char *qentry_kind_name(enum qentry_kind kind);

/*
 * Encode e (version forced to QENTRY_VERSION).  Validates like the decoder
 * would, so an entry that encodes also decodes.  On success *out is
 * malloc'd (caller frees) and *out_len set; on failure err (may be NULL)
 * holds a one-line reason.
 */
bool qentry_encode(const struct qentry *e, uint8_t **out, size_t *out_len, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Decode len bytes at data into *e (zeroed first).  Pure: no global state,
 * never reads outside data[0..len).  On failure *e holds nothing that needs
 * freeing and err says why.  On success call qentry_free(e).
 */
bool qentry_decode(const uint8_t *data, size_t len, struct qentry *e, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Release what qentry_decode allocated; e is zeroed.  NULL-safe. */
void qentry_free(struct qentry *e);

#endif
