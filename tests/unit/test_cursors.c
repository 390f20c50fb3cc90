/*
 * test_cursors.c - shift/cursors.c: batches, ownership, CursorNotFound,
 * kill, connection end, idle timeout, the memory cap.
 */
#include <criterion/criterion.h>

#include "cursors.h"

/* n documents {i: k} concatenated. */
static uint8_t *docs(int n, size_t *len)
{
	bson_t all = BSON_INITIALIZER;
	for (int k = 0; k < n; k++) {
		bson_t d = BSON_INITIALIZER;
		BSON_APPEND_INT32(&d, "i", k);
		bson_append_document(&all, "x", -1, &d);   /* a holder: take the bytes below */
		bson_destroy(&d);
	}
	/* every element is 1 type byte + "x\0" + the document */
	uint8_t *buf = malloc(all.len);
	size_t off = 0;
	bson_iter_t it;
	cr_assert(bson_iter_init(&it, &all));
	while (bson_iter_next(&it)) {
		const uint8_t *p;
		uint32_t l;
		bson_iter_document(&it, &l, &p);
		memcpy(buf + off, p, l);
		off += l;
	}
	bson_destroy(&all);
	*len = off;
	return buf;
}

static int batch_count(const bson_t *reply, int64_t *id)
{
	bson_iter_t it, c, b;
	int n = 0;

	cr_assert(bson_iter_init_find(&it, reply, "cursor") && bson_iter_recurse(&it, &c));
	cr_assert(bson_iter_find(&c, "nextBatch") && bson_iter_recurse(&c, &b));
	while (bson_iter_next(&b))
		n++;
	cr_assert(bson_iter_init_find(&it, reply, "cursor") && bson_iter_recurse(&it, &c) &&
		  bson_iter_find(&c, "id"));
	*id = bson_iter_int64(&c);
	return n;
}

static int32_t code_of(const bson_t *reply)
{
	bson_iter_t it;
	return bson_iter_init_find(&it, reply, "code") ? bson_iter_int32(&it) : 0;
}

Test(cursors, batches_until_drained)
{
	size_t len;
	uint8_t *buf = docs(25, &len);
	bson_t reply;
	int64_t id, next;

	cursors_init(600000, 1 << 20);
	id = cursors_open(1, "db.c", buf, len, 0, false);
	cr_assert(id > 0);
	cr_assert(cursors_any() && cursors_owns(id));
	cr_assert(cursors_getmore(1, id, "db", "c", 10, &reply));
	cr_assert_eq(batch_count(&reply, &next), 10);
	cr_assert_eq(next, id);
	bson_destroy(&reply);
	cr_assert(cursors_getmore(1, id, "db", "c", 0, &reply));   /* no batchSize: the rest */
	cr_assert_eq(batch_count(&reply, &next), 15);
	cr_assert_eq(next, 0);
	bson_destroy(&reply);
	cr_assert(!cursors_owns(id));
	cr_assert(!cursors_getmore(1, id, "db", "c", 0, &reply));   /* gone: the upstream's now */
	cursors_fini();
}

Test(cursors, other_connection_gets_cursor_not_found)
{
	size_t len;
	uint8_t *buf = docs(5, &len);
	bson_t reply;

	cursors_init(600000, 1 << 20);
	int64_t id = cursors_open(1, "db.c", buf, len, 0, false);
	cr_assert(cursors_getmore(2, id, "db", "c", 1, &reply));
	cr_assert_eq(code_of(&reply), 43);
	bson_destroy(&reply);
	cr_assert(!cursors_kill(2, id));
	cr_assert(cursors_getmore(1, id, "db", "other", 1, &reply));
	cr_assert_eq(code_of(&reply), 13);
	bson_destroy(&reply);
	cr_assert(cursors_kill(1, id));
	cr_assert(!cursors_owns(id));
	cursors_fini();
}

Test(cursors, connection_end_and_idle_timeout)
{
	size_t la, lb, lc;
	cursors_init(100, 1 << 20);
	uint8_t *da = docs(3, &la), *db = docs(3, &lb), *dc = docs(3, &lc);
	int64_t a = cursors_open(1, "db.c", da, la, 0, false);
	int64_t b = cursors_open(1, "db.c", db, lb, 0, true);
	int64_t c = cursors_open(2, "db.c", dc, lc, 0, false);
	cursors_reap(UINT64_MAX / 2);   /* far in the future: a and c idle, b never */
	cr_assert(!cursors_owns(a) && cursors_owns(b) && !cursors_owns(c));
	cursors_close_conn(1);
	cr_assert(!cursors_owns(b));
	cr_assert(!cursors_any());
	cr_assert_eq(cursors_bytes(), 0);
	cursors_fini();
}

Test(cursors, memory_cap_refuses)
{
	size_t len;
	cursors_init(600000, 2048);
	uint8_t *big = docs(200, &len);   /* > 2 KiB */
	cr_assert_gt(len, 2048);
	cr_assert_eq(cursors_open(1, "db.c", big, len, 0, false), 0);
	cr_assert(!cursors_any());
	cursors_fini();
}

Test(cursors, fill_respects_count_and_bytes)
{
	size_t len, off = 0;
	uint8_t *buf = docs(10, &len);
	bson_t arr = BSON_INITIALIZER;

	cr_assert_eq(cursors_fill(&arr, buf, len, &off, 0, 1 << 20), 0);
	cr_assert_eq(cursors_fill(&arr, buf, len, &off, 3, 1 << 20), 3);
	bson_reinit(&arr);
	cr_assert_eq(cursors_fill(&arr, buf, len, &off, -1, 1), 1);   /* at least one */
	bson_reinit(&arr);
	cr_assert_eq(cursors_fill(&arr, buf, len, &off, -1, 1 << 20), 6);
	cr_assert_eq(off, len);
	bson_destroy(&arr);
	free(buf);
}
