/*
 * test_inspect.c - inspect_request's database names (common/wire/inspect.h):
 * never cut, refused as mongod refuses them (InvalidNamespace, code 73,
 * its wording) in the request's protocol; '$' allowed.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "inspect.h"
#include "opmsg.h"
#include "opquery.h"
#include "wire_builder.h"

/* An OP_MSG {ping: 1, $db: db[0..dblen)} (flags as given). */
static void build(struct tbuf *b, const char *db, size_t dblen, uint32_t flags)
{
	bson_t body = BSON_INITIALIZER;

	BSON_APPEND_INT32(&body, "ping", 1);
	bson_append_utf8(&body, "$db", -1, db, (int)dblen);
	memset(b, 0, sizeof(*b));
	tb_begin(b, WIRE_OP_MSG);
	tb_u32(b, flags);
	tb_u8(b, 0);
	tb_doc(b, &body);
	tb_finish(b);
	bson_destroy(&body);
}

/* The refusal's errmsg and code. */
static void refusal(const struct msg_info *info, const char *errmsg)
{
	size_t len = 0;
	uint8_t *r = inspect_db_refusal(info, 77, &len);
	struct opmsg_view v;
	bson_t body;
	bson_iter_t it;

	cr_assert(r);
	cr_assert_eq(opmsg_parse(r, len, &v), WIRE_OK);
	cr_assert_eq(v.header.response_to, info->header.request_id);
	cr_assert(bson_init_static(&body, v.body, v.body_len));
	cr_assert(bson_iter_init_find(&it, &body, "ok") && bson_iter_as_double(&it) == 0.0);
	cr_assert(bson_iter_init_find(&it, &body, "code") && bson_iter_int32(&it) == 73);
	cr_assert(bson_iter_init_find(&it, &body, "codeName"));
	cr_assert_str_eq(bson_iter_utf8(&it, NULL), "InvalidNamespace");
	cr_assert(bson_iter_init_find(&it, &body, "errmsg"));
	cr_assert_str_eq(bson_iter_utf8(&it, NULL), errmsg);
	free(r);
}

Test(inspect, valid_names_pass_whole)
{
	struct tbuf b;
	struct msg_info info;
	char name[64];

	memset(name, 'a', 63);
	name[63] = '\0';
	build(&b, name, 63, 0);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_OK);
	cr_assert_str_eq(info.db, name);
	build(&b, "$external", 9, 0);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_OK);
	cr_assert_str_eq(info.db, "$external");
}

Test(inspect, long_names_are_refused_never_cut)
{
	struct tbuf b;
	struct msg_info info;
	static char name[5000];

	memset(name, 'x', sizeof(name));
	build(&b, name, 64, 0);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_TOO_LONG);
	cr_assert_str_eq(info.db, "");
	cr_assert_eq(info.db_len, 64);
	refusal(&info, "db name must be at most 63 characters, found: 64");
	build(&b, name, sizeof(name), 0);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_TOO_LONG);
	refusal(&info, "db name must be at most 63 characters, found: 5000");
}

Test(inspect, invalid_characters_are_refused_in_mongods_words)
{
	struct tbuf b;
	struct msg_info info;
	static const char *const bad[] = {"a/b", "a\\b", "a b", "a\"b"};

	for (size_t i = 0; i < 4; i++) {
		char want[64];
		build(&b, bad[i], strlen(bad[i]), 0);
		cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
		cr_assert_eq(info.db_status, INSPECT_DB_CHAR, "%s", bad[i]);
		snprintf(want, sizeof(want), "Invalid database name: '%s'", bad[i]);
		refusal(&info, want);
	}
	build(&b, "a.b", 3, 0);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_DOT);
	refusal(&info, "'.' is an invalid character in a db name: a.b");
	build(&b, "ab\0cd", 5, 0);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_NUL);
	cr_assert_str_eq(info.db, "ab");
	refusal(&info, "database names cannot have embedded null characters");
}

Test(inspect, no_refusal_for_more_to_come)
{
	struct tbuf b;
	struct msg_info info;
	size_t len = 0;

	build(&b, "a/b", 3, OPMSG_MORE_TO_COME);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_CHAR);
	cr_assert_null(inspect_db_refusal(&info, 1, &len));
}

Test(inspect, op_query_long_database_is_refused_with_an_op_reply)
{
	struct tbuf b = {0};
	struct msg_info info;
	char ns[200];
	bson_t *q = BCON_NEW("isMaster", BCON_INT32(1));
	size_t len = 0;
	struct opreply_view v;

	memset(ns, 'd', 100);
	strcpy(ns + 100, ".$cmd");
	tb_begin(&b, WIRE_OP_QUERY);
	tb_i32(&b, 0);
	tb_cstr(&b, ns);
	tb_i32(&b, 0);
	tb_i32(&b, -1);
	tb_doc(&b, q);
	tb_finish(&b);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(info.db_status, INSPECT_DB_TOO_LONG);
	cr_assert_eq(info.db_len, 100);
	uint8_t *r = inspect_db_refusal(&info, 5, &len);
	cr_assert(r);
	cr_assert_eq(opreply_parse(r, len, &v), WIRE_OK);
	cr_assert_eq(v.nreturned, 1);
	free(r);
	bson_destroy(q);
}
