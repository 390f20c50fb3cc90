/*
 * fuzz_router.c - libFuzzer target for the read router's request parsing
 * (router.h, pgread_plan as the worker runs it) and the cursor table
 * (cursors.h) with getMore / killCursors as clients send them
 * (shift_cursor_command).
 *
 * Input: byte 0 picks the operation mix, then one BSON document (the
 * command; invalid: only the table is exercised), then free bytes that
 * drive cursor operations.  What must hold: no crash, no leak, no UB; a
 * bucket is below 10 000 and the same twice; replies are valid OP_MSG.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "cursors.h"
#include "inspect.h"
#include "opmsg.h"
#include "pgread.h"
#include "router.h"
#include "shift.h"

static void route_command(const bson_t *cmd)
{
	uint8_t key[ROUTER_KEY_MAX];
	bson_error_t err;
	struct pgread rd;

	(void)router_check(WIRE_OP_MSG, 0, cmd);
	for (int s = 0; s < 3; s++) {
		size_t n = router_sticky_key((enum router_sticky)s, 7, 9, cmd, key);
		uint32_t b = router_bucket("tenant", key, n);
		if (b >= ROUTER_BUCKETS || b != router_bucket("tenant", key, n))
			abort();
	}
	pgread_init(&rd);
	const char *why = pgread_plan(&rd, cmd, "db", &err);
	if (why)
		(void)router_skip_fallback(why);
	pgread_free(&rd);
}

/* The command as a client's OP_MSG, through shift_cursor_command. */
static void cursor_command(uint64_t conn, const bson_t *cmd)
{
	size_t len = 0, out_len = 0;
	struct msg_info info;
	uint8_t *msg = opmsg_encode(1, 0, 0, cmd, &len);

	if (!msg)
		return;
	if (inspect_request(msg, len, 48000000, &info) == WIRE_OK) {
		bool up = false;
		uint8_t *out = shift_cursor_command(conn, &info, msg, len, &out_len, &up);
		if (out) {
			struct opmsg_view v;
			if (opmsg_parse(out, out_len, &v) != WIRE_OK)
				abort();
			free(out);
		}
	}
	free(msg);
}

static uint8_t *some_docs(const uint8_t *p, size_t n, size_t *len)
{
	bson_t all = BSON_INITIALIZER;
	size_t ndocs = n % 9, off = 0;
	uint8_t *buf;

	for (size_t i = 0; i < ndocs; i++) {
		bson_t d = BSON_INITIALIZER;
		BSON_APPEND_INT32(&d, "i", (int32_t)i);
		BSON_APPEND_UTF8(&d, "s", n ? (const char *)"x" : "");
		bson_append_document(&all, "k", -1, &d);
		bson_destroy(&d);
	}
	buf = malloc(all.len);
	bson_iter_t it;
	if (buf && bson_iter_init(&it, &all))
		while (bson_iter_next(&it)) {
			const uint8_t *d;
			uint32_t l;
			bson_iter_document(&it, &l, &d);
			memcpy(buf + off, d, l);
			off += l;
		}
	(void)p;
	bson_destroy(&all);
	*len = off;
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t cmd;
	size_t used = 1;
	int64_t ids[4] = {0};

	if (size < 1)
		return 0;
	cursors_init(1000, 1 << 16);
	if (size >= 5) {
		uint32_t l = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
			     (uint32_t)data[4] << 24;
		if (l >= 5 && l <= size - 1 && bson_init_static(&cmd, data + 1, l) &&
		    bson_validate(&cmd, BSON_VALIDATE_NONE, NULL)) {
			route_command(&cmd);
			used += l;
			for (size_t i = used; i < size && i < used + 8; i++) {
				size_t len;
				uint8_t *docs = some_docs(data + i, data[i], &len);
				if (docs)
					ids[i % 4] = cursors_open(data[i] % 3, "db.c", docs, len, 0, data[i] & 1);
			}
			cursor_command(data[0] % 3, &cmd);
		}
	}
	for (size_t i = used; i < size; i++) {
		bson_t reply;
		int64_t id = ids[data[i] % 4];
		switch (data[i] >> 6) {
		case 0:
			if (cursors_getmore(data[i] % 3, id, "db", "c", data[i] % 5, &reply))
				bson_destroy(&reply);
			break;
		case 1:
			(void)cursors_kill(data[i] % 3, id);
			break;
		case 2:
			cursors_close_conn(data[i] % 3);
			break;
		default:
			cursors_reap((uint64_t)data[i] << 40);
		}
	}
	cursors_fini();
	return 0;
}
