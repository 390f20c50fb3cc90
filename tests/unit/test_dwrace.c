/*
 * test_dwrace.c - what the shadow runner learns from the applier about
 * writes that may race a read (proxy/dualwrite/dwforward.c, dwtouch.c).
 */
#include <criterion/criterion.h>

#include "dwforward.h"
#include "dwtouch.h"

static bson_value_t int_id(int32_t v)
{
	bson_value_t id = {.value_type = BSON_TYPE_INT32};

	id.value.v_int32 = v;
	return id;
}

Test(dwforward, watermark_waits_for_the_oldest_write_in_flight)
{
	uint64_t base = dwforward_count();
	uint64_t a = dwforward_begin(), b = dwforward_begin(), c = dwforward_begin();

	cr_assert(a == base + 1 && b == a + 1 && c == b + 1);
	cr_assert(dwforward_replied(base));
	dwforward_end(c);             /* replies come back out of order */
	dwforward_end(b);
	cr_assert_not(dwforward_replied(b), "a is still in flight");
	dwforward_end(a);
	cr_assert(dwforward_replied(c));
	dwforward_end(0);             /* an untracked write is ignored */
	cr_assert(dwforward_replied(c));
}

Test(dwforward, slots_are_reused_around_the_ring)
{
	for (unsigned i = 0; i < DWFORWARD_RING + 10; i++)
		dwforward_end(dwforward_begin());
	cr_assert(dwforward_replied(dwforward_count()));
	uint64_t n = dwforward_begin();
	cr_assert_not(dwforward_replied(n));
	dwforward_end(n);
	cr_assert(dwforward_replied(n));
}

Test(dwtouch, a_document_reports_the_latest_write)
{
	bson_value_t id = int_id(7), other = int_id(8);

	cr_assert_eq(dwtouch_doc_seq("t1", "c", &id), 0);
	dwtouch_doc("t1", "c", &id, 5, 0);
	dwtouch_doc("t1", "c", &id, 3, 0);   /* an older number never lowers it */
	cr_assert_eq(dwtouch_doc_seq("t1", "c", &id), 5);
	cr_assert_eq(dwtouch_coll_seq("t1", "c"), 5);
	/* Other documents, collections and tenants are not touched (unless a
	 * slot collides, which only ever reports a later number). */
	cr_assert_leq(dwtouch_doc_seq("t1", "c", &other), 5);
	cr_assert_eq(dwtouch_coll_seq("t1", "d"), 0);
	cr_assert_eq(dwtouch_coll_seq("t2", "c"), 0);
}

Test(dwtouch, names_are_framed)
{
	bson_value_t id = int_id(1);

	dwtouch_doc("ab", "c", &id, 9, 0);
	cr_assert_eq(dwtouch_coll_seq("a", "bc"), 0, "(ab, c) and (a, bc) are different collections");
}

Test(dwtouch, a_drop_touches_every_document)
{
	bson_value_t id = int_id(42);

	dwtouch_coll_all("t3", "gone", 11);
	cr_assert_eq(dwtouch_doc_seq("t3", "gone", &id), 11);
	cr_assert_eq(dwtouch_coll_seq("t3", "gone"), 11);
}

Test(dwtouch, an_unknown_write_number_is_taken_as_now)
{
	bson_value_t id = int_id(3);

	/* Without a running applier nothing was submitted: 0 stays 0 here,
	 * but the call must not lower what is there. */
	dwtouch_doc("t4", "c", &id, 6, 0);
	dwtouch_doc("t4", "c", &id, 0, 0);
	cr_assert_eq(dwtouch_doc_seq("t4", "c", &id), 6);
}

Test(dwtouch, the_latest_reply_time_of_a_document_only_grows)
{
	bson_value_t id = int_id(5), other = int_id(6);
	uint64_t by = 0;

	cr_assert_eq(dwtouch_doc_acked("t5", "c", &id, NULL), 0);
	dwtouch_doc("t5", "c", &id, 1, 2000);
	dwtouch_doc("t5", "c", &id, 2, 1500);   /* an older reply never lowers it */
	cr_assert_eq(dwtouch_doc_acked("t5", "c", &id, &by), 2000);
	cr_assert_eq(by, 1, "the write that set it");
	/* A write forwarded at 1999 was at MongoDB with the one acknowledged at
	 * 2000 (overlap); one forwarded at 2001 came after it. */
	cr_assert_geq(dwtouch_doc_acked("t5", "c", &id, NULL), 1999);
	cr_assert_lt(dwtouch_doc_acked("t5", "c", &id, NULL), 2001);
	cr_assert_leq(dwtouch_doc_acked("t5", "c", &other, NULL), 2000);
	dwtouch_doc("t5", "c", &id, 3, 2500);
	cr_assert_eq(dwtouch_doc_acked("t5", "c", &id, &by), 2500);
	cr_assert_eq(by, 3);
}

Test(dwtouch, writes_and_resyncs_share_one_clock)
{
	uint64_t a = dwtouch_now(), b = dwtouch_tick();

	cr_assert_eq(b, a + 1);
	cr_assert_eq(dwtouch_now(), b, "a read captured now is numbered with the tick");
	cr_assert_gt(dwtouch_tick(), b);
}
