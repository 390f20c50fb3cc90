/*
 * fuzz_dwtrans.c - libFuzzer target for the write expander (dwtrans.h).
 *
 * Input: two BSON documents back to back, the command (its first int32 is
 * its length) and the reply (the rest).  Both are untrusted.  Whatever
 * dwtrans_expand returns must hold: true -> a valid BSON array of op
 * documents, each {k: one of i u d r x, db, c, st: int32, ...}; false ->
 * an empty array and an error of this module.  A second call on the same
 * input gives the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "dwtrans.h"

static void check_op(const bson_iter_t *it)
{
	bson_iter_t f;
	bson_t op;
	uint32_t len = 0;
	const uint8_t *data = NULL;
	const char *k;

	if (!BSON_ITER_HOLDS_DOCUMENT(it))
		abort();
	bson_iter_document(it, &len, &data);
	if (!bson_init_static(&op, data, len) || !bson_iter_init(&f, &op) || !bson_iter_next(&f) ||
	    strcmp(bson_iter_key(&f), "k") != 0 || !BSON_ITER_HOLDS_UTF8(&f))
		abort();
	k = bson_iter_utf8(&f, NULL);
	if (strlen(k) != 1 || !strchr("iudrx", k[0]))
		abort();
	if (!bson_iter_next(&f) || strcmp(bson_iter_key(&f), "db") != 0 || !BSON_ITER_HOLDS_UTF8(&f) ||
	    !bson_iter_next(&f) || strcmp(bson_iter_key(&f), "c") != 0 || !BSON_ITER_HOLDS_UTF8(&f) ||
	    !bson_iter_next(&f) || strcmp(bson_iter_key(&f), "st") != 0 || !BSON_ITER_HOLDS_INT32(&f))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t cmd, reply, ops, again;
	bson_error_t err, err2;
	bson_iter_t it;
	struct dwtrans_txn txn;
	const char *db;
	uint32_t len;
	size_t off;
	bool ok, ok2;

	if (size < 10)
		return 0;
	len = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	      (uint32_t)data[3] << 24;
	if (len < 5 || len > size - 5 || !bson_init_static(&cmd, data, len) ||
	    !bson_init_static(&reply, data + len, size - len))
		return 0;
	db = (size & 1) ? "admin" : "app";
	dwtrans_session(&cmd, &txn);
	ok = dwtrans_expand(&cmd, db, &reply, &ops, &err);
	if (ok) {
		if (!bson_validate(&ops, BSON_VALIDATE_NONE, &off) || !bson_iter_init(&it, &ops))
			abort();
		while (bson_iter_next(&it))
			check_op(&it);
	} else if (!bson_empty(&ops) || err.domain != DWTRANS_ERROR_DOMAIN || !err.message[0]) {
		abort();
	}
	ok2 = dwtrans_expand(&cmd, db, &reply, &again, &err2);
	if (ok2 != ok || again.len != ops.len ||
	    memcmp(bson_get_data(&again), bson_get_data(&ops), ops.len) != 0)
		abort(); /* deterministic */
	bson_destroy(&ops);
	bson_destroy(&again);
	return 0;
}
