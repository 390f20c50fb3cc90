/*
 * test_router.c - shift/router.c: buckets, shares, stickiness keys and the
 * requests that must go to MongoDB whatever the bucket says.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "opmsg.h"
#include "router.h"
#include "wire.h"

static uint32_t bucket_of(const char *tenant, uint64_t conn, int32_t rid)
{
	uint8_t key[ROUTER_KEY_MAX];
	size_t n = router_sticky_key(ROUTER_STICKY_REQUEST, conn, rid, NULL, key);

	return router_bucket(tenant, key, n);
}

Test(router, bucket_is_deterministic_and_in_range)
{
	for (int i = 0; i < 1000; i++) {
		uint32_t b = bucket_of("acme", 7, i);
		cr_assert_lt(b, ROUTER_BUCKETS);
		cr_assert_eq(b, bucket_of("acme", 7, i));
	}
	/* a known answer: the same in every process and build */
	uint8_t key[] = {'C', 1, 0, 0, 0, 0, 0, 0, 0};
	uint32_t b = router_bucket("acme", key, sizeof(key));
	cr_assert_eq(b, router_bucket("acme", key, sizeof(key)));
}

Test(router, share_is_close_to_pct)
{
	int n = 0, total = 20000;

	for (int i = 0; i < total; i++)
		n += router_in_share(bucket_of("tenant_x", 3, i), 25.0);
	cr_assert(n > total * 0.23 && n < total * 0.27, "share %d of %d", n, total);
}

Test(router, raising_pct_only_adds_buckets)
{
	for (int i = 0; i < 5000; i++) {
		uint32_t b = bucket_of("t", 1, i);
		if (router_in_share(b, 10.0))
			cr_assert(router_in_share(b, 10.5) && router_in_share(b, 50) && router_in_share(b, 100));
	}
	cr_assert(!router_in_share(0, 0));
	cr_assert(router_in_share(9999, 100));
	cr_assert(router_in_share(0, 0.01));
	cr_assert(!router_in_share(1, 0.01));
}

Test(router, framing_is_unambiguous)
{
	uint8_t k1[] = {'b', 'c'}, k2[] = {'c'};

	/* ("ab", "c") and ("a", "bc") are different inputs (the tenant's length
	 * is hashed first); these two land in different buckets */
	cr_assert_neq(router_bucket("ab", k2, 1), router_bucket("a", k1, 2));
}

static void lsid_cmd(bson_t *cmd, uint8_t fill)
{
	uint8_t id[16];
	bson_t l;

	memset(id, fill, sizeof(id));
	bson_init(cmd);
	BSON_APPEND_UTF8(cmd, "find", "c");
	BSON_APPEND_DOCUMENT_BEGIN(cmd, "lsid", &l);
	BSON_APPEND_BINARY(&l, "id", BSON_SUBTYPE_UUID, id, sizeof(id));
	bson_append_document_end(cmd, &l);
}

Test(router, sticky_keys)
{
	uint8_t a[ROUTER_KEY_MAX], b[ROUTER_KEY_MAX];
	bson_t s1, s2, none = BSON_INITIALIZER;

	lsid_cmd(&s1, 1);
	lsid_cmd(&s2, 2);
	/* session: the lsid decides, not the connection */
	size_t na = router_sticky_key(ROUTER_STICKY_SESSION, 1, 5, &s1, a);
	size_t nb = router_sticky_key(ROUTER_STICKY_SESSION, 2, 9, &s1, b);
	cr_assert_eq(na, nb);
	cr_assert_eq(memcmp(a, b, na), 0);
	nb = router_sticky_key(ROUTER_STICKY_SESSION, 1, 5, &s2, b);
	cr_assert(memcmp(a, b, na) != 0);
	/* session without lsid: the connection */
	na = router_sticky_key(ROUTER_STICKY_SESSION, 4, 1, &none, a);
	nb = router_sticky_key(ROUTER_STICKY_CONNECTION, 4, 2, NULL, b);
	cr_assert_eq(na, nb);
	cr_assert_eq(memcmp(a, b, na), 0);
	/* request: each request differs */
	na = router_sticky_key(ROUTER_STICKY_REQUEST, 4, 1, NULL, a);
	nb = router_sticky_key(ROUTER_STICKY_REQUEST, 4, 2, NULL, b);
	cr_assert(na != nb || memcmp(a, b, na) != 0);
	bson_destroy(&s1);
	bson_destroy(&s2);
}

Test(router, sticky_parse)
{
	enum router_sticky s;

	cr_assert(router_sticky_parse("session", &s) && s == ROUTER_STICKY_SESSION);
	cr_assert(router_sticky_parse("request", &s) && s == ROUTER_STICKY_REQUEST);
	cr_assert(!router_sticky_parse("lsid", &s));
}

static enum metrics_shift_fallback check_json(const char *json)
{
	bson_error_t err;
	bson_t *cmd = bson_new_from_json((const uint8_t *)json, -1, &err);
	cr_assert(cmd, "%s", err.message);
	enum metrics_shift_fallback r = router_check(WIRE_OP_MSG, 0, cmd);
	bson_destroy(cmd);
	return r;
}

Test(router, check_reasons)
{
	cr_assert_eq(check_json("{\"find\": \"c\", \"filter\": {}}"), METRICS_SHIFT_FALLBACK_COUNT);
	cr_assert_eq(check_json("{\"find\": \"c\", \"txnNumber\": 1}"), METRICS_SHIFT_TRANSACTION);
	cr_assert_eq(check_json("{\"find\": \"c\", \"autocommit\": false}"), METRICS_SHIFT_TRANSACTION);
	cr_assert_eq(check_json("{\"find\": \"c\", \"tailable\": true}"), METRICS_SHIFT_TAILABLE);
	cr_assert_eq(check_json("{\"find\": \"c\", \"tailable\": false}"), METRICS_SHIFT_FALLBACK_COUNT);
	cr_assert_eq(check_json("{\"find\": \"c\", \"awaitData\": true}"), METRICS_SHIFT_TAILABLE);
	cr_assert_eq(check_json("{\"find\": \"c\", \"readConcern\": {\"level\": \"snapshot\"}}"),
		     METRICS_SHIFT_READ_CONCERN);
	cr_assert_eq(check_json("{\"find\": \"c\", \"readConcern\": {\"level\": \"linearizable\"}}"),
		     METRICS_SHIFT_READ_CONCERN);
	cr_assert_eq(check_json("{\"find\": \"c\", \"readConcern\": {\"level\": \"majority\"}}"),
		     METRICS_SHIFT_FALLBACK_COUNT);
	cr_assert_eq(check_json("{\"find\": \"c\", \"readConcern\": {\"afterClusterTime\": "
				"{\"$timestamp\": {\"t\": 1, \"i\": 1}}}}"),
		     METRICS_SHIFT_READ_CONCERN);
	cr_assert_eq(router_check(WIRE_OP_QUERY, 0, NULL), METRICS_SHIFT_OP_QUERY);
	cr_assert_eq(router_check(WIRE_OP_MSG, OPMSG_EXHAUST_ALLOWED, NULL), METRICS_SHIFT_EXHAUST);
	cr_assert_eq(router_check(WIRE_OP_MSG, OPMSG_MORE_TO_COME, NULL), METRICS_SHIFT_EXHAUST);
	cr_assert_eq(router_check(WIRE_OP_MSG, 0, NULL), METRICS_SHIFT_FALLBACK_COUNT);
}

Test(router, skip_reasons_map)
{
	cr_assert_eq(router_skip_fallback("collation"), METRICS_SHIFT_COLLATION);
	cr_assert_eq(router_skip_fallback("invalid_command"), METRICS_SHIFT_INVALID_COMMAND);
	cr_assert_eq(router_skip_fallback("text"), METRICS_SHIFT_UNTRANSLATABLE);
	cr_assert_eq(router_skip_fallback("read_concern_snapshot"), METRICS_SHIFT_READ_CONCERN);
}

Test(router, reads)
{
	cr_assert(router_is_read("find") && router_is_read("aggregate") && router_is_read("count") &&
		  router_is_read("distinct"));
	cr_assert(!router_is_read("insert") && !router_is_read("getMore") && !router_is_read(""));
}

/* ---- ryw.c: the per-database write watermark ---- */
#include "ryw.h"

static uint64_t applied;
static bool settled_upto(uint64_t seq)
{
	return seq <= applied;
}

Test(ryw, per_database_and_shared_floor)
{
	ryw_reset();
	ryw_init(settled_upto);
	applied = 0;
	cr_assert_eq(ryw_seq("a"), 0);
	ryw_note("a", 5);
	ryw_note("b", 7);
	cr_assert_eq(ryw_seq("a"), 5);
	cr_assert_eq(ryw_seq("b"), 7);
	cr_assert_eq(ryw_seq("c"), 0);
	ryw_note("admin", 9);   /* a transaction's commit: every database waits */
	cr_assert_eq(ryw_seq("a"), 9);
	cr_assert_eq(ryw_seq("c"), 9);
}

Test(ryw, full_table_is_conservative)
{
	char name[32];

	ryw_reset();
	ryw_init(settled_upto);
	applied = 0;   /* nothing settles: no slot can be reused */
	for (int i = 0; i < RYW_SLOTS * 2; i++) {
		snprintf(name, sizeof(name), "db%d", i);
		ryw_note(name, (uint64_t)i + 1);
	}
	/* every database waits at least for its own writes */
	for (int i = 0; i < RYW_SLOTS * 2; i++) {
		snprintf(name, sizeof(name), "db%d", i);
		cr_assert_geq(ryw_seq(name), (uint64_t)i + 1, "%s", name);
	}
	applied = UINT64_MAX;   /* everything in PostgreSQL: slots are reused */
	ryw_note("fresh", 1);
	cr_assert_geq(ryw_seq("fresh"), 1);
}
