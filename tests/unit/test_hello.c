/*
 * test_hello.c - hello/isMaster topology rewriting.
 */
#include <criterion/criterion.h>

#include "hello.h"

static bson_t *rs_reply(bool writable)
{
	return BCON_NEW("isWritablePrimary", BCON_BOOL(writable), "topologyVersion", "{", "counter",
			BCON_INT64(3), "}", "hosts", "[", "db1:27017", "db2:27017", "]", "passives",
			"[", "db3:27017", "]", "arbiters", "[", "db4:27017", "]", "setName", "rs0",
			"setVersion", BCON_INT32(2), "primary", "db1:27017", "me",
			writable ? "db1:27017" : "db2:27017", "maxWireVersion", BCON_INT32(21), "ok",
			BCON_DOUBLE(1));
}

static const char *utf8_of(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
		return NULL;
	return bson_iter_utf8(&it, NULL);
}

Test(hello, recognises_the_three_names)
{
	cr_assert(hello_is_hello("hello"));
	cr_assert(hello_is_hello("isMaster"));
	cr_assert(hello_is_hello("ismaster"));
	cr_assert_not(hello_is_hello("find"));
	cr_assert_not(hello_is_hello(""));
}

Test(hello, primary_reply_names_only_tandem)
{
	bson_t *in = rs_reply(true);
	bson_t out;
	bson_iter_t it, arr;

	cr_assert(hello_rewrite(in, "proxy:7000", &out));
	cr_assert_str_eq(utf8_of(&out, "me"), "proxy:7000");
	cr_assert_str_eq(utf8_of(&out, "primary"), "proxy:7000");
	cr_assert_str_eq(utf8_of(&out, "setName"), "rs0");
	cr_assert(bson_iter_init_find(&it, &out, "hosts"));
	cr_assert(bson_iter_recurse(&it, &arr));
	cr_assert(bson_iter_next(&arr));
	cr_assert_str_eq(bson_iter_utf8(&arr, NULL), "proxy:7000");
	cr_assert_not(bson_iter_next(&arr), "only one host");
	cr_assert_not(bson_has_field(&out, "passives"));
	cr_assert_not(bson_has_field(&out, "arbiters"));
	cr_assert(bson_iter_init_find(&it, &out, "maxWireVersion"));
	cr_assert_eq(bson_iter_int32(&it), 21, "upstream's value kept");
	bson_destroy(&out);
	bson_destroy(in);
}

Test(hello, keeps_field_order)
{
	bson_t *in = rs_reply(true);
	bson_t out;
	bson_iter_t a, b;

	cr_assert(hello_rewrite(in, "proxy:7000", &out));
	cr_assert(bson_iter_init(&a, in) && bson_iter_init(&b, &out));
	/* Same keys in the same order, minus the dropped ones. */
	while (bson_iter_next(&a)) {
		const char *k = bson_iter_key(&a);
		if (!strcmp(k, "passives") || !strcmp(k, "arbiters"))
			continue;
		cr_assert(bson_iter_next(&b));
		cr_assert_str_eq(bson_iter_key(&b), k);
	}
	cr_assert_not(bson_iter_next(&b));
	bson_destroy(&out);
	bson_destroy(in);
}

Test(hello, secondary_reply_drops_primary)
{
	bson_t *in = rs_reply(false);
	bson_t out;

	cr_assert(hello_rewrite(in, "proxy:7000", &out));
	cr_assert_null(utf8_of(&out, "primary"), "a non-primary must not claim tandem is primary");
	cr_assert_str_eq(utf8_of(&out, "me"), "proxy:7000");
	bson_destroy(&out);
	bson_destroy(in);
}

Test(hello, standalone_reply_is_left_alone)
{
	bson_t *in = BCON_NEW("isWritablePrimary", BCON_BOOL(true), "maxWireVersion", BCON_INT32(17),
			      "ok", BCON_DOUBLE(1));
	bson_t out;

	cr_assert_not(hello_rewrite(in, "proxy:7000", &out));
	bson_destroy(in);
}

Test(hello, legacy_ismaster_field_counts_as_writable)
{
	bson_t *in = BCON_NEW("ismaster", BCON_BOOL(true), "hosts", "[", "a:1", "]", "setName", "rs",
			      "primary", "a:1", "ok", BCON_DOUBLE(1));
	bson_t out;

	cr_assert(hello_rewrite(in, "[::1]:7000", &out));
	cr_assert_str_eq(utf8_of(&out, "primary"), "[::1]:7000");
	bson_destroy(&out);
	bson_destroy(in);
}
