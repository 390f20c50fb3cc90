/*
 * test_opquery.c - OP_QUERY (commands on "<db>.$cmd", the $query/query
 * wrapper, the optional fields selector) and OP_REPLY (documents counted
 * against numberReturned), with pymongo- and mockupdb-encoded fixtures.
 */
#include <criterion/criterion.h>

#include "fixtures/fixtures.h"
#include "opquery.h"
#include "wire_builder.h"

static uint8_t *copy;

static void free_copy(void)
{
	free(copy);
	copy = NULL;
}

TestSuite(opquery, .fini = free_copy);
TestSuite(opreply, .fini = free_copy);

static enum wire_status qparse(const void *p, size_t n, struct opquery_view *v)
{
	free_copy();
	copy = tb_exact(p, n);
	return opquery_parse(copy, n, v);
}

static enum wire_status rparse(const void *p, size_t n, struct opreply_view *v)
{
	free_copy();
	copy = tb_exact(p, n);
	return opreply_parse(copy, n, v);
}

/* OP_QUERY on ns with query q and, when f is not NULL, a fields selector. */
static void query_msg(struct tbuf *t, const char *ns, const bson_t *q, const bson_t *f)
{
	tb_begin(t, WIRE_OP_QUERY);
	tb_i32(t, 0);
	tb_cstr(t, ns);
	tb_i32(t, 0);
	tb_i32(t, -1);
	tb_doc(t, q);
	if (f)
		tb_doc(t, f);
	tb_finish(t);
}

/* The command name and db of an OP_QUERY built from ns and q. */
static bool command_of(const char *ns, const bson_t *q, struct wire_command *c, char *db,
		       size_t dblen)
{
	struct tbuf t;
	struct opquery_view v;

	query_msg(&t, ns, q, NULL);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_OK);
	return opquery_command(&v, c, db, dblen);
}

Test(opquery, pymongo_ismaster_handshake)
{
	struct opquery_view v;
	struct wire_command c;
	char db[64];

	cr_assert_eq(qparse(fx_ismaster_opquery, sizeof fx_ismaster_opquery, &v), WIRE_OK);
	cr_assert_str_eq(v.collection, "admin.$cmd");
	cr_assert_eq(v.skip, 0);
	cr_assert_eq(v.nreturn, -1);
	cr_assert_null(v.fields);
	cr_assert_eq(v.query + v.query_len, copy + sizeof fx_ismaster_opquery);
	cr_assert(opquery_command(&v, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "ismaster");
	cr_assert_str_eq(c.db, "admin");
}

Test(opquery, pymongo_query_wrapper)
{
	struct opquery_view v;
	struct wire_command c;
	char db[64];

	cr_assert_eq(qparse(fx_wrapped_opquery, sizeof fx_wrapped_opquery, &v), WIRE_OK);
	cr_assert_eq(v.flags, 4);
	cr_assert(opquery_command(&v, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "count");
	cr_assert_str_eq(c.db, "tenant_a");
}

Test(opquery, pymongo_find_with_fields_selector_is_not_a_command)
{
	struct opquery_view v;
	struct wire_command c;
	char db[64];
	bson_t f;
	bson_iter_t it;

	cr_assert_eq(qparse(fx_find_opquery_fields, sizeof fx_find_opquery_fields, &v), WIRE_OK);
	cr_assert_str_eq(v.collection, "test.users");
	cr_assert_eq(v.skip, 5);
	cr_assert_eq(v.nreturn, 10);
	cr_assert_not_null(v.fields);
	cr_assert(bson_init_static(&f, v.fields, v.fields_len));
	cr_assert(bson_iter_init_find(&it, &f, "name"));
	cr_assert_not(opquery_command(&v, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "");
	cr_assert_str_eq(c.db, "test");
}

Test(opquery, plain_query_wrapper_key)
{
	struct wire_command c;
	char db[16];
	bson_t *q = BCON_NEW("query", "{", "isMaster", BCON_INT32(1), "}", "$maxTimeMS",
			     BCON_INT32(5));
	bson_t *notdoc = BCON_NEW("query", BCON_INT32(1));
	bson_t *empty = BCON_NEW("$query", "{", "}");

	cr_assert(command_of("x.$cmd", q, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "isMaster");
	cr_assert(command_of("x.$cmd", notdoc, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "query", "a non-document value is not a wrapper");
	cr_assert(command_of("x.$cmd", empty, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "");
	bson_destroy(q);
	bson_destroy(notdoc);
	bson_destroy(empty);
}

Test(opquery, cmd_namespace_rules)
{
	struct wire_command c;
	char db[4];
	bson_t *q = BCON_NEW("ping", BCON_INT32(1));

	cr_assert(command_of("admin.$cmd", q, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "ping");
	cr_assert_str_eq(c.db, "adm", "the db is truncated to the buffer");
	cr_assert_not(command_of(".$cmd", q, &c, db, sizeof db));
	cr_assert_not(command_of("admin.$cmdx", q, &c, db, sizeof db));
	cr_assert_not(command_of("admin.cmd", q, &c, db, sizeof db));
	cr_assert_not(command_of("", q, &c, db, sizeof db));
	cr_assert_str_eq(c.name, "");
	cr_assert(command_of("a.$cmd", q, &c, NULL, 0));
	cr_assert_str_eq(c.db, "");
	bson_destroy(q);
}

Test(opquery, rejects_malformed)
{
	struct tbuf t;
	struct opquery_view v;
	bson_t *q = BCON_NEW("ping", BCON_INT32(1));

	query_msg(&t, "admin.$cmd", q, NULL);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_OK);
	cr_assert_eq(qparse(t.b, 10, &v), WIRE_ERR_SHORT);
	cr_assert_eq(qparse(t.b, t.n - 1, &v), WIRE_ERR_LENGTH);
	wire_store_i32(t.b + 12, WIRE_OP_MSG);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_OPCODE);
	wire_store_i32(t.b + 12, WIRE_OP_QUERY);

	/* the collection name never ends */
	tb_begin(&t, WIRE_OP_QUERY);
	tb_i32(&t, 0);
	tb_bytes(&t, "admin.$cmd", 10);
	tb_finish(&t);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_TRUNCATED);

	/* skip present, numberToReturn missing */
	tb_begin(&t, WIRE_OP_QUERY);
	tb_i32(&t, 0);
	tb_cstr(&t, "a.$cmd");
	tb_i32(&t, 0);
	tb_finish(&t);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_TRUNCATED);

	/* no query document */
	tb_i32(&t, 1);
	tb_finish(&t);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_TRUNCATED);

	/* a query whose length lies */
	tb_i32(&t, 50);
	tb_i32(&t, 0);
	tb_finish(&t);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_TRUNCATED);
	bson_destroy(q);
}

Test(opquery, rejects_invalid_bson_and_trailing_bytes)
{
	struct tbuf t;
	struct opquery_view v;
	bson_t *q = BCON_NEW("ping", BCON_INT32(1));
	bson_t *f = BCON_NEW("a", BCON_INT32(1));

	query_msg(&t, "admin.$cmd", q, f);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_OK);
	cr_assert_eq(v.fields_len, f->len);
	tb_u8(&t, 0); /* a stray byte after the fields selector */
	tb_finish(&t);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_LENGTH);

	query_msg(&t, "admin.$cmd", q, NULL);
	t.b[t.n - 1] = 1; /* the query's terminator */
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_BSON);

	query_msg(&t, "admin.$cmd", q, NULL);
	tb_u8(&t, 1); /* 3 bytes that cannot be a fields selector */
	tb_u8(&t, 2);
	tb_u8(&t, 3);
	tb_finish(&t);
	cr_assert_eq(qparse(t.b, t.n, &v), WIRE_ERR_TRUNCATED);
	bson_destroy(q);
	bson_destroy(f);
}

Test(opreply, mockupdb_reply_with_two_documents)
{
	struct opreply_view v;

	cr_assert_eq(rparse(fx_two_doc_opreply, sizeof fx_two_doc_opreply, &v), WIRE_OK);
	cr_assert_eq(v.header.opcode, WIRE_OP_REPLY);
	cr_assert_eq(v.header.response_to, 1001);
	cr_assert_eq(v.nreturned, 2);
	cr_assert_eq(v.cursor_id, 0);
	cr_assert_eq(v.docs_len, sizeof fx_two_doc_opreply - 36);
}

Test(opreply, encode_parse_round_trip)
{
	bson_t *doc = BCON_NEW("ismaster", BCON_BOOL(true), "maxWireVersion", BCON_INT32(17));
	size_t len = 0;
	uint8_t *m = opreply_encode(3, 9, OPREPLY_AWAIT_CAPABLE, INT64_C(0x1122334455667788), doc,
				    &len);
	struct opreply_view v;

	cr_assert_not_null(m);
	cr_assert_eq(len, 36 + doc->len);
	cr_assert_eq(rparse(m, len, &v), WIRE_OK);
	cr_assert_eq(v.header.request_id, 3);
	cr_assert_eq(v.header.response_to, 9);
	cr_assert_eq(v.flags, OPREPLY_AWAIT_CAPABLE);
	cr_assert_eq(v.cursor_id, INT64_C(0x1122334455667788));
	cr_assert_eq(v.starting_from, 0);
	cr_assert_eq(v.nreturned, 1);
	cr_assert_eq(v.docs_len, doc->len);
	cr_assert_eq(memcmp(v.docs, bson_get_data(doc), doc->len), 0);
	free(m);
	bson_destroy(doc);
}

Test(opreply, rejects_numberreturned_mismatch)
{
	struct opreply_view v;
	uint8_t m[sizeof fx_two_doc_opreply];

	memcpy(m, fx_two_doc_opreply, sizeof m);
	wire_store_i32(m + 32, 3); /* claims 3, holds 2 */
	cr_assert_eq(rparse(m, sizeof m, &v), WIRE_ERR_TRUNCATED);
	wire_store_i32(m + 32, 1); /* claims 1, holds 2 */
	cr_assert_eq(rparse(m, sizeof m, &v), WIRE_ERR_LENGTH);
	wire_store_i32(m + 32, 0);
	cr_assert_eq(rparse(m, sizeof m, &v), WIRE_ERR_LENGTH);
	wire_store_i32(m + 32, -1);
	cr_assert_eq(rparse(m, sizeof m, &v), WIRE_ERR_LENGTH);
	wire_store_i32(m + 32, INT32_MAX);
	cr_assert_eq(rparse(m, sizeof m, &v), WIRE_ERR_TRUNCATED);
}

Test(opreply, rejects_short_and_invalid_documents)
{
	struct opreply_view v;
	uint8_t m[sizeof fx_two_doc_opreply];

	memcpy(m, fx_two_doc_opreply, sizeof m);
	wire_store_i32(m, 30);
	cr_assert_eq(rparse(m, 30, &v), WIRE_ERR_SHORT);
	memcpy(m, fx_two_doc_opreply, sizeof m);
	m[sizeof m - 1] = 7; /* the second document's terminator */
	cr_assert_eq(rparse(m, sizeof m, &v), WIRE_ERR_BSON);
	memcpy(m, fx_two_doc_opreply, sizeof m);
	wire_store_i32(m + 12, WIRE_OP_QUERY);
	cr_assert_eq(rparse(m, sizeof m, &v), WIRE_ERR_OPCODE);
}

Test(opreply, empty_reply_is_valid)
{
	struct tbuf t;
	struct opreply_view v;

	tb_begin(&t, WIRE_OP_REPLY);
	tb_i32(&t, 0);
	tb_i64(&t, 0);
	tb_i32(&t, 0);
	tb_i32(&t, 0);
	tb_finish(&t);
	cr_assert_eq(rparse(t.b, t.n, &v), WIRE_OK);
	cr_assert_eq(v.docs_len, 0);
}
