/*
 * serve_reply.c - mongod's reply to a served read (serve_reply.h).
 *
 *   count / distinct / $collStats count   pgread's whole reply, as is
 *   find / aggregate                      {cursor: {firstBatch, id, ns}, ok: 1.0}
 *     first batch: batchSize (find: batchSize; aggregate: cursor.batchSize),
 *     default 101 documents, within 16 MiB (at least one document);
 *     singleBatch: no cursor; documents left: a tandem cursor (cursors.h)
 *
 * Errors: a read mongod would fail goes to MongoDB, which words the error
 * itself; tandem never answers a read error of its own making.
 * $clusterTime / operationTime are omitted: pymongo and the Node.js driver
 * read them only when present (a served read then does not advance the
 * session's cluster time; reads needing it, afterClusterTime, go to
 * MongoDB).
 */
#include "serve_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cursors.h"
#include "opmsg.h"

static _Atomic int32_t served_request_id = 1 << 29;

/* The documents of array docs as one buffer of concatenated BSON. */
static uint8_t *flatten(const bson_t *docs, size_t *len)
{
	bson_iter_t it;
	uint8_t *buf = malloc(docs->len > 0 ? docs->len : 1);
	size_t off = 0;

	if (!buf || !bson_iter_init(&it, docs))
		return free(buf), NULL;
	while (bson_iter_next(&it)) {
		const uint8_t *d;
		uint32_t dlen;
		if (!BSON_ITER_HOLDS_DOCUMENT(&it))
			continue;
		bson_iter_document(&it, &dlen, &d);
		memcpy(buf + off, d, dlen);   /* each element is smaller than the array */
		off += dlen;
	}
	*len = off;
	return buf;
}

static bool cursor_reply(struct shift_job *j, const bson_t *docs, bson_t *reply,
			 enum metrics_shift_fallback *why)
{
	const struct readexec_plan *p = &j->rd.plan;
	size_t len = 0, off = 0;
	uint8_t *buf = flatten(docs, &len);
	bson_t cur, arr;
	char ns[400];
	int64_t id = 0;

	if (!buf)
		return *why = METRICS_SHIFT_TOO_LARGE, false;
	snprintf(ns, sizeof(ns), "%s.%s", j->db, j->rd.colls[0]);
	BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cur);
	BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &arr);
	cursors_fill(&arr, buf, len, &off, p->batch_size >= 0 ? p->batch_size : CURSORS_FIRST_BATCH,
		     CURSORS_BATCH_BYTES);
	bson_append_array_end(&cur, &arr);
	if (off < len && !p->single_batch) {
		id = cursors_open(j->conn, ns, buf, len, off, j->no_cursor_timeout);
		if (!id)
			return *why = METRICS_SHIFT_CURSOR_MEMORY, false;   /* buf freed */
	} else {
		free(buf);
	}
	BSON_APPEND_INT64(&cur, "id", id);
	BSON_APPEND_UTF8(&cur, "ns", ns);
	bson_append_document_end(reply, &cur);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
	return true;
}

uint8_t *serve_reply_build(struct shift_job *j, size_t *len, enum metrics_shift_fallback *why)
{
	bson_t reply = BSON_INITIALIZER, docs;
	bool is_cursor = false, ok = true;
	char reason[64];
	uint8_t *msg = NULL;

	switch (pgread_result(&j->rd, shift_conf.max_rows, &reply, &docs, &is_cursor, reason,
			      sizeof(reason))) {
	case PGREAD_OK:
		break;
	case PGREAD_ERROR:
		*why = METRICS_SHIFT_INVALID_COMMAND;
		ok = false;
		break;
	case PGREAD_UNSUPPORTED:
		*why = METRICS_SHIFT_UNTRANSLATABLE;
		ok = false;
		break;
	}
	/* A whole reply (count, distinct) must fit one BSON document, as mongod's. */
	if (ok && (docs.len > shift_conf.max_result_bytes || reply.len > shift_conf.max_result_bytes ||
		   reply.len > CURSORS_BATCH_BYTES)) {
		*why = METRICS_SHIFT_TOO_LARGE;
		ok = false;
	}
	if (ok && is_cursor)
		ok = cursor_reply(j, &docs, &reply, why);
	if (ok) {
		msg = opmsg_encode(atomic_fetch_add(&served_request_id, 1), j->request_id, 0, &reply, len);
		if (!msg)
			*why = METRICS_SHIFT_TOO_LARGE;
	}
	bson_destroy(&docs);
	bson_destroy(&reply);
	return msg;
}
