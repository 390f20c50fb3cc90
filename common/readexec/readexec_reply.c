/*
 * readexec_reply.c - wrap readexec results in mongod's reply documents:
 *
 *   find      {cursor: {firstBatch: [...], id: Int64(0), ns: "db.coll"}, ok: 1.0}
 *   count     {n: int32 (int64 past 2^31), ok: 1.0}
 *   distinct  {values: [...], ok: 1.0}
 *   error     {ok: 0.0, errmsg, code, codeName}
 *
 * The cursor id is always 0 here: the caller opens a real cursor when the
 * result does not fit the first batch.  A batch holds at most batchSize
 * documents (101 by default for the first batch, as mongod) and stops
 * before 16 MiB (at least one document, as mongod).
 */
#include <string.h>

#include "readexec.h"

#define FIRST_BATCH_DEFAULT 101
#define BATCH_MAX_BYTES (16u * 1024 * 1024)

static void append_ns(bson_t *cursor, const struct readexec_plan *plan)
{
	char *ns = bson_strdup_printf("%s.%s", plan->db ? plan->db : "", plan->coll ? plan->coll : "$cmd.aggregate");

	BSON_APPEND_UTF8(cursor, "ns", ns);
	bson_free(ns);
}

void readexec_reply_find(const struct readexec_plan *plan, const bson_t *docs_array, bson_t *reply)
{
	bson_t cursor, batch;
	bson_iter_t it;
	int64_t max = plan->batch_size >= 0 ? plan->batch_size : FIRST_BATCH_DEFAULT, n = 0;
	size_t bytes = 0;
	char buf[16];
	const char *key;

	if (plan->limit < 0 && (max == 0 || -plan->limit < max))
		max = -plan->limit;
	bson_init(reply);
	BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cursor);
	BSON_APPEND_ARRAY_BEGIN(&cursor, "firstBatch", &batch);
	if (bson_iter_init(&it, docs_array)) {
		while (n < max && bson_iter_next(&it)) {
			uint32_t len;
			const uint8_t *data;
			bson_iter_document(&it, &len, &data);
			if (n > 0 && bytes + len > BATCH_MAX_BYTES)
				break;
			bytes += len;
			bson_uint32_to_string((uint32_t)n++, &key, buf, sizeof buf);
			bson_append_iter(&batch, key, -1, &it);
		}
	}
	bson_append_array_end(&cursor, &batch);
	BSON_APPEND_INT64(&cursor, "id", 0);
	append_ns(&cursor, plan);
	bson_append_document_end(reply, &cursor);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static void append_number(bson_t *b, const char *key, int64_t v)
{
	if (v >= INT32_MIN && v <= INT32_MAX)
		BSON_APPEND_INT32(b, key, (int32_t)v);
	else
		BSON_APPEND_INT64(b, key, v);
}

void readexec_reply_count(int64_t count, bson_t *reply)
{
	bson_init(reply);
	append_number(reply, "n", count);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

void readexec_reply_distinct(const bson_t *values_array, bson_t *reply)
{
	bson_init(reply);
	BSON_APPEND_ARRAY(reply, "values", values_array);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

void readexec_reply_collstats_count(const struct readexec_plan *plan, int64_t count, bson_t *reply)
{
	bson_t cursor, batch, doc;

	bson_init(reply);
	BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cursor);
	BSON_APPEND_ARRAY_BEGIN(&cursor, "firstBatch", &batch);
	BSON_APPEND_DOCUMENT_BEGIN(&batch, "0", &doc);
	BSON_APPEND_INT32(&doc, "_id", 1);
	append_number(&doc, "n", count);
	bson_append_document_end(&batch, &doc);
	bson_append_array_end(&cursor, &batch);
	BSON_APPEND_INT64(&cursor, "id", 0);
	append_ns(&cursor, plan);
	bson_append_document_end(reply, &cursor);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static const char *code_name(uint32_t code)
{
	static const struct {
		uint32_t code;
		const char *name;
	} names[] = {{2, "BadValue"},          {9, "FailedToParse"},     {14, "TypeMismatch"},
		     {73, "InvalidNamespace"}, {40414, "Location40414"}, {292, "QueryExceededMemoryLimitNoDiskUseAllowed"}};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].code == code)
			return names[i].name;
	return NULL;
}

void readexec_reply_error(const bson_error_t *err, bson_t *reply)
{
	const char *name = code_name(err->code);
	char loc[32];

	if (!name) {
		snprintf(loc, sizeof loc, "Location%u", err->code);
		name = loc;
	}
	bson_init(reply);
	BSON_APPEND_DOUBLE(reply, "ok", 0.0);
	BSON_APPEND_UTF8(reply, "errmsg", err->message);
	BSON_APPEND_INT32(reply, "code", (int32_t)err->code);
	BSON_APPEND_UTF8(reply, "codeName", name);
}
