/*
 * test_opmsg.c - OP_MSG: round trips through opmsg_encode, a pymongo-encoded
 * insert, and one test per way a message can be wrong (length, flags,
 * checksum, sections, BSON).  Every parse reads from an exact-size heap copy
 * so that ASan builds catch any read past the end.
 */
#include <criterion/criterion.h>

#include "fixtures/fixtures.h"
#include "opmsg.h"
#include "wire_builder.h"

static uint8_t *copy;

static void free_copy(void)
{
	free(copy);
	copy = NULL;
}

TestSuite(opmsg, .fini = free_copy);

/* Parse p[0..n) from an exact heap copy that lives until the next call. */
static enum wire_status parse(const void *p, size_t n, struct opmsg_view *v)
{
	free_copy();
	copy = tb_exact(p, n);
	return opmsg_parse(copy, n, v);
}

static enum wire_status parse_tb(const struct tbuf *t, struct opmsg_view *v)
{
	return parse(t->b, t->n, v);
}

/* header | flags | kind 0 {ping: 1, $db: "admin"} */
static void ping_msg(struct tbuf *t, uint32_t flags)
{
	bson_t *body = BCON_NEW("ping", BCON_INT32(1), "$db", BCON_UTF8("admin"));
	tb_begin(t, WIRE_OP_MSG);
	tb_u32(t, flags);
	tb_u8(t, 0);
	tb_doc(t, body);
	bson_destroy(body);
}

/* A kind-1 section holding n documents {i: k}. */
static void seq_section(struct tbuf *t, const char *id, int n)
{
	struct tbuf docs = {.n = 0};
	for (int k = 0; k < n; k++) {
		bson_t *d = BCON_NEW("i", BCON_INT32(k));
		tb_doc(&docs, d);
		bson_destroy(d);
	}
	tb_u8(t, 1);
	tb_i32(t, (int32_t)(4 + strlen(id) + 1 + docs.n));
	tb_cstr(t, id);
	tb_bytes(t, docs.b, docs.n);
}

Test(opmsg, encode_parse_round_trip)
{
	bson_t *body = BCON_NEW("find", BCON_UTF8("users"), "filter", "{", "a", BCON_INT64(5), "}",
				"$db", BCON_UTF8("shop"));
	size_t len = 0;
	uint8_t *m = opmsg_encode(11, 22, 0, body, &len);
	struct opmsg_view v;
	struct wire_command c;

	cr_assert_not_null(m);
	cr_assert_eq(len, 16 + 4 + 1 + body->len);
	cr_assert_eq(parse(m, len, &v), WIRE_OK);
	cr_assert_eq(v.header.length, (int32_t)len);
	cr_assert_eq(v.header.request_id, 11);
	cr_assert_eq(v.header.response_to, 22);
	cr_assert_eq(v.header.opcode, WIRE_OP_MSG);
	cr_assert_eq(v.body_len, body->len);
	cr_assert_eq(memcmp(v.body, bson_get_data(body), body->len), 0);
	cr_assert_eq(v.nseq, 0);
	cr_assert_not(v.has_checksum);
	opmsg_command(&v, &c);
	cr_assert_str_eq(c.name, "find");
	cr_assert_str_eq(c.db, "shop");
	free(m);
	bson_destroy(body);
}

Test(opmsg, encode_with_checksum_parses_and_verifies)
{
	bson_t *body = BCON_NEW("hello", BCON_INT32(1));
	size_t len = 0;
	uint8_t *m = opmsg_encode(1, 0, OPMSG_CHECKSUM_PRESENT | OPMSG_EXHAUST_ALLOWED, body, &len);
	struct opmsg_view v;

	cr_assert_not_null(m);
	cr_assert_eq(len, 16 + 4 + 1 + body->len + 4);
	cr_assert_eq(wire_load_i32(m), (int32_t)len);
	cr_assert_eq((uint32_t)wire_load_i32(m + len - 4), crc32c_sw(0, m, len - 4));
	cr_assert_eq(parse(m, len, &v), WIRE_OK);
	cr_assert(v.has_checksum);
	cr_assert_eq(v.checksum, crc32c_sw(0, m, len - 4));
	cr_assert_eq(v.flags, OPMSG_CHECKSUM_PRESENT | OPMSG_EXHAUST_ALLOWED);
	free(m);
	bson_destroy(body);
}

Test(opmsg, hand_built_checksum_is_accepted)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, OPMSG_CHECKSUM_PRESENT);
	seq_section(&t, "documents", 2);
	tb_finish_checksum(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	cr_assert_eq(v.nseq, 1);
	cr_assert_eq(v.seq[0].count, 2);
}

Test(opmsg, rejects_bad_checksum)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, OPMSG_CHECKSUM_PRESENT);
	tb_finish_checksum(&t);
	t.b[t.n - 1] ^= 0x01; /* the checksum itself */
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_CHECKSUM);
	t.b[t.n - 1] ^= 0x01;
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	t.b[30] ^= 0x20; /* a byte of the body */
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_CHECKSUM);
	t.b[30] ^= 0x20;
	t.b[5] ^= 0x01; /* the header's requestID is covered too */
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_CHECKSUM);
}

Test(opmsg, checksum_flag_without_room_for_it_is_short)
{
	struct tbuf t;
	struct opmsg_view v;

	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, OPMSG_CHECKSUM_PRESENT);
	tb_u8(&t, 0);
	tb_u8(&t, 0);
	tb_finish(&t); /* 22 bytes: flags, then 2 bytes where 4 are needed */
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SHORT);
}

Test(opmsg, pymongo_insert_with_document_sequence)
{
	struct opmsg_view v;
	struct wire_command c;
	bson_t doc;
	bson_iter_t it;

	cr_assert_eq(parse(fx_insert_opmsg, sizeof fx_insert_opmsg, &v), WIRE_OK);
	opmsg_command(&v, &c);
	cr_assert_str_eq(c.name, "insert");
	cr_assert_str_eq(c.db, "test");
	cr_assert_eq(v.nseq, 1);
	cr_assert_str_eq(v.seq[0].identifier, "documents");
	cr_assert_eq(v.seq[0].count, 3);
	/* the documents lie back to back: read the third one's _id */
	const uint8_t *p = v.seq[0].docs;
	p += wire_load_i32(p);
	p += wire_load_i32(p);
	cr_assert(bson_init_static(&doc, p, (size_t)wire_load_i32(p)));
	cr_assert(bson_iter_init_find(&it, &doc, "_id"));
	cr_assert_eq(bson_iter_int32(&it), 2);
	cr_assert_eq(p + wire_load_i32(p), v.seq[0].docs + v.seq[0].docs_len);
}

Test(opmsg, sequence_documents_are_counted)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, 0);
	seq_section(&t, "updates", 5);
	seq_section(&t, "empty", 0);
	seq_section(&t, "", 1);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	cr_assert_eq(v.nseq, 3);
	cr_assert_str_eq(v.seq[0].identifier, "updates");
	cr_assert_eq(v.seq[0].count, 5);
	cr_assert_eq(v.seq[0].docs_len, 5 * 12);
	cr_assert_str_eq(v.seq[1].identifier, "empty");
	cr_assert_eq(v.seq[1].count, 0);
	cr_assert_eq(v.seq[1].docs_len, 0);
	cr_assert_eq(v.seq[2].count, 1);
}

Test(opmsg, body_may_follow_a_sequence)
{
	struct tbuf t;
	struct opmsg_view v;
	bson_t *body = BCON_NEW("delete", BCON_UTF8("c"));

	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	seq_section(&t, "deletes", 2);
	tb_u8(&t, 0);
	tb_doc(&t, body);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	cr_assert_eq(v.body_len, body->len);
	bson_destroy(body);
}

Test(opmsg, rejects_too_many_sequences)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, 0);
	for (int i = 0; i < OPMSG_MAX_SEQUENCES; i++)
		seq_section(&t, "s", 1);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	seq_section(&t, "s", 1);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);
}

Test(opmsg, rejects_short_input)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, 0);
	tb_finish(&t);
	cr_assert_eq(parse(t.b, 0, &v), WIRE_ERR_SHORT);
	cr_assert_eq(parse(t.b, 15, &v), WIRE_ERR_SHORT);
	/* a 16..19-byte message has a header but no flag bits */
	wire_store_i32(t.b, 18);
	cr_assert_eq(parse(t.b, 18, &v), WIRE_ERR_SHORT);
}

Test(opmsg, rejects_length_below_16_and_mismatch)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, 0);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	wire_store_i32(t.b, 12);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_LENGTH);
	wire_store_i32(t.b, -100);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_LENGTH);
	wire_store_i32(t.b, (int32_t)t.n + 1); /* claims more than was given */
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_LENGTH);
	wire_store_i32(t.b, (int32_t)t.n - 1);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_LENGTH);
}

Test(opmsg, rejects_other_opcodes)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, 0);
	tb_finish(&t);
	wire_store_i32(t.b + 12, WIRE_OP_QUERY);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_OPCODE);
}

Test(opmsg, rejects_unknown_required_flag_bits)
{
	struct tbuf t;
	struct opmsg_view v;

	for (int bit = 2; bit < 16; bit++) {
		ping_msg(&t, 1u << bit);
		tb_finish(&t);
		cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_FLAGS, "bit %d", bit);
	}
}

Test(opmsg, accepts_known_and_optional_flag_bits)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, OPMSG_MORE_TO_COME);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	cr_assert_eq(v.flags, OPMSG_MORE_TO_COME);
	for (int bit = 16; bit < 32; bit++) {
		ping_msg(&t, 1u << bit);
		tb_finish(&t);
		cr_assert_eq(parse_tb(&t, &v), WIRE_OK, "bit %d", bit);
		cr_assert_eq(v.flags, 1u << bit);
	}
}

Test(opmsg, rejects_two_kind0_sections)
{
	struct tbuf t;
	struct opmsg_view v;
	bson_t *body = BCON_NEW("ping", BCON_INT32(1));

	ping_msg(&t, 0);
	tb_u8(&t, 0);
	tb_doc(&t, body);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);
	bson_destroy(body);
}

Test(opmsg, rejects_zero_kind0_sections)
{
	struct tbuf t;
	struct opmsg_view v;

	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	tb_finish(&t); /* no sections at all */
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);
	seq_section(&t, "documents", 1); /* only a sequence */
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);
}

Test(opmsg, rejects_unknown_section_kind)
{
	struct tbuf t;
	struct opmsg_view v;

	for (int kind = 2; kind < 256; kind += 17) {
		ping_msg(&t, 0);
		t.b[20] = (uint8_t)kind;
		tb_finish(&t);
		cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS, "kind %d", kind);
	}
}

Test(opmsg, rejects_truncated_sections)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, 0);
	tb_u8(&t, 1);
	tb_u8(&t, 9); /* a kind-1 size with only 1 of its 4 bytes */
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_TRUNCATED);

	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	tb_u8(&t, 0);
	tb_i32(&t, 40); /* a body claiming 40 bytes; 8 follow */
	tb_i32(&t, 0);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_TRUNCATED);

	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	tb_u8(&t, 0); /* a kind byte and nothing after it */
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_TRUNCATED);

	ping_msg(&t, 0);
	tb_u8(&t, 1); /* a body, then a kind-1 byte and nothing after it */
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_TRUNCATED);
}

Test(opmsg, rejects_kind1_size_that_lies)
{
	struct tbuf t;
	struct opmsg_view v;

	/* larger than the message */
	ping_msg(&t, 0);
	const size_t at = t.n + 1;
	seq_section(&t, "documents", 2);
	tb_finish(&t);
	wire_store_i32(t.b + at, wire_load_i32(t.b + at) + 1);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_TRUNCATED);

	/* smaller: the last document crosses the section's end */
	wire_store_i32(t.b + at, wire_load_i32(t.b + at) - 2);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);

	/* so small the identifier's NUL is outside it */
	wire_store_i32(t.b + at, 6);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);

	/* below the minimum of 5 */
	wire_store_i32(t.b + at, 4);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);
	wire_store_i32(t.b + at, -1);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_SECTIONS);
}

Test(opmsg, rejects_invalid_bson_body)
{
	struct tbuf t;
	struct opmsg_view v;

	/* missing terminator */
	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	tb_u8(&t, 0);
	tb_i32(&t, 6);
	tb_u8(&t, 0x0A); /* null element "" ... */
	tb_u8(&t, 1);    /* ... where the document's terminating 0 should be */
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_BSON);

	/* the document length is shorter than its elements */
	ping_msg(&t, 0);
	wire_store_i32(t.b + 21, wire_load_i32(t.b + 21) - 6);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_BSON);

	/* a string whose length runs past the document */
	ping_msg(&t, 0);
	tb_finish(&t);
	/* body: len(4) 0x10 "ping\0" int32(4) 0x02 "$db\0" strlen(4) ... */
	wire_store_i32(t.b + 21 + 4 + 1 + 5 + 4 + 1 + 4, 200);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_BSON);

	/* a document length below 5 */
	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	tb_u8(&t, 0);
	tb_i32(&t, 4);
	tb_u8(&t, 0);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_BSON);
}

Test(opmsg, rejects_invalid_bson_in_sequence)
{
	struct tbuf t;
	struct opmsg_view v;

	ping_msg(&t, 0);
	const size_t doc_at = t.n + 1 + 4 + strlen("documents") + 1;
	seq_section(&t, "documents", 2);
	tb_finish(&t);
	/* {i: int32}: element type 0x10 at doc+4; make it a type that does not exist */
	t.b[doc_at + 4] = 0x42;
	cr_assert_eq(parse_tb(&t, &v), WIRE_ERR_BSON);
}

Test(opmsg, every_prefix_is_rejected_without_overread)
{
	struct opmsg_view v;
	const size_t n = sizeof fx_insert_opmsg;
	const size_t body_end = 21 + (size_t)wire_load_i32(fx_insert_opmsg + 21);
	uint8_t tmp[sizeof fx_insert_opmsg];

	memcpy(tmp, fx_insert_opmsg, n);
	for (size_t k = 0; k < n; k++) {
		if (k >= 4)
			wire_store_i32(tmp, (int32_t)k);
		enum wire_status st = parse(tmp, k, &v);
		if (k == body_end)
			cr_assert_eq(st, WIRE_OK, "prefix %zu", k);
		else
			cr_assert_neq(st, WIRE_OK, "prefix %zu", k);
	}
}

Test(opmsg, command_without_db_or_with_empty_body)
{
	struct tbuf t;
	struct opmsg_view v;
	struct wire_command c;
	bson_t *empty = bson_new();
	bson_t *numdb = BCON_NEW("count", BCON_UTF8("c"), "$db", BCON_INT32(3));

	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	tb_u8(&t, 0);
	tb_doc(&t, empty);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	opmsg_command(&v, &c);
	cr_assert_str_eq(c.name, "");
	cr_assert_str_eq(c.db, "");

	tb_begin(&t, WIRE_OP_MSG);
	tb_u32(&t, 0);
	tb_u8(&t, 0);
	tb_doc(&t, numdb);
	tb_finish(&t);
	cr_assert_eq(parse_tb(&t, &v), WIRE_OK);
	opmsg_command(&v, &c);
	cr_assert_str_eq(c.name, "count");
	cr_assert_str_eq(c.db, "", "a non-string $db is ignored");
	bson_destroy(empty);
	bson_destroy(numdb);
}

Test(opmsg, error_doc_matches_mongod_layout)
{
	bson_t doc;
	bson_iter_t it;
	const char *keys[] = {"ok", "errmsg", "code", "codeName"};
	const bson_type_t types[] = {BSON_TYPE_DOUBLE, BSON_TYPE_UTF8, BSON_TYPE_INT32,
				     BSON_TYPE_UTF8};

	opmsg_error_doc(&doc, 2, "BadValue", "checksum mismatch");
	cr_assert(bson_iter_init(&it, &doc));
	for (int i = 0; i < 4; i++) {
		cr_assert(bson_iter_next(&it));
		cr_assert_str_eq(bson_iter_key(&it), keys[i]);
		cr_assert_eq(bson_iter_type(&it), types[i], "%s", keys[i]);
	}
	cr_assert_not(bson_iter_next(&it));
	cr_assert(bson_iter_init_find(&it, &doc, "ok"));
	cr_assert_eq(bson_iter_double(&it), 0.0);
	cr_assert(bson_iter_init_find(&it, &doc, "errmsg"));
	cr_assert_str_eq(bson_iter_utf8(&it, NULL), "checksum mismatch");
	cr_assert(bson_iter_init_find(&it, &doc, "code"));
	cr_assert_eq(bson_iter_int32(&it), 2);
	cr_assert(bson_iter_init_find(&it, &doc, "codeName"));
	cr_assert_str_eq(bson_iter_utf8(&it, NULL), "BadValue");

	size_t len;
	uint8_t *m = opmsg_encode(5, 4, 0, &doc, &len);
	struct opmsg_view v;
	cr_assert_not_null(m);
	cr_assert_eq(parse(m, len, &v), WIRE_OK);
	cr_assert_eq(v.header.response_to, 4);
	free(m);
	bson_destroy(&doc);
}
