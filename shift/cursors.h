/*
 * cursors.h - the cursors tandem owns for reads PostgreSQL served: the
 * documents left after the first batch, handed out by getMore on the
 * worker thread (no PostgreSQL round trip), closed by killCursors, the
 * idle timeout or the end of the connection that opened them.
 *
 * Memory is decided up front: a served read computes its whole result
 * (at most shift.max_result_bytes, else it goes to MongoDB); what the
 * first batch did not take is kept as one buffer of concatenated BSON
 * documents plus a read offset.  The table holds at most
 * shift.cursor_memory_max bytes of documents and CURSORS_MAX cursors;
 * a read that would pass either goes to MongoDB (cursor_memory).
 *
 * Ids: 64-bit, drawn from a keyed hash of a counter (unguessable), never 0,
 * positive.  A getMore / killCursors id is tandem's iff the table holds it
 * (then it must belong to the asking connection, else CursorNotFound 43,
 * as mongod answers for another session's cursor); any other id is the
 * upstream's and is forwarded.  An upstream id on the same connection
 * equal to a live tandem id would need mongod to draw the same 64 random
 * bits (p ~ n / 2^63); that is the one residual risk, documented.
 *
 * Thread-safe (one mutex; every call is short: a lookup and a copy of at
 * most one batch).
 */
#ifndef TANDEM_CURSORS_H
#define TANDEM_CURSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#define CURSORS_MAX 100000
#define CURSORS_BATCH_BYTES (16u * 1024 * 1024)   /* mongod's reply limit per batch */
#define CURSORS_FIRST_BATCH 101                    /* mongod's default first batch */

void cursors_init(uint64_t idle_timeout_ms, uint64_t memory_max);
void cursors_fini(void);

/* Append documents of buf[*off..len) (concatenated BSON documents) to the
 * array being built in arr, keys from 0: at most n (n < 0: no count
 * limit) and within max_bytes (at least one document when n != 0).
 * Advances *off; returns the number appended. */
size_t cursors_fill(bson_t *arr, const uint8_t *buf, size_t len, size_t *off, int64_t n,
		    size_t max_bytes);

/* Keep buf[off..len) (takes buf, malloc'd) for connection conn as the
 * cursor on ns ("db.coll").  Returns its id, or 0 when the table is full
 * (buf freed). */
int64_t cursors_open(uint64_t conn, const char *ns, uint8_t *buf, size_t len, size_t off,
		     bool no_timeout);

/* Whether any tandem cursor is open (cheap; lets the worker skip parsing
 * getMore and killCursors when there are none). */
bool cursors_any(void);

/* Whether id is a cursor tandem holds (any connection). */
bool cursors_owns(int64_t id);

/* getMore of id on connection conn for collection coll of db: false when
 * the id is not tandem's (forward it).  True: reply (initialised here)
 * holds mongod's answer: the next batch (batch_size <= 0: up to 16 MiB),
 * or CursorNotFound 43 for another connection's cursor, or mongod's
 * namespace error. */
bool cursors_getmore(uint64_t conn, int64_t id, const char *db, const char *coll,
		     int64_t batch_size, bson_t *reply);

/* Close id if conn holds it; true when it did. */
bool cursors_kill(uint64_t conn, int64_t id);

/* Close every cursor of conn (the connection ended). */
void cursors_close_conn(uint64_t conn);

/* Close cursors idle longer than the timeout (now: monotonic us). */
void cursors_reap(uint64_t now_us);

/* Bytes held by open cursors (documents + bookkeeping). */
uint64_t cursors_bytes(void);

#endif
