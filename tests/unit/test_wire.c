/*
 * test_wire.c - the message header, status and opcode names, and the two
 * bounds helpers (wire_doc_check, wire_cstring) that every parser uses.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "wire.h"
#include "wire_builder.h"

Test(wire, header_round_trip)
{
	const struct wire_header h = {.length = 0x01020304, .request_id = -5,
				      .response_to = INT32_MIN, .opcode = WIRE_OP_MSG};
	uint8_t p[WIRE_HEADER_LEN + 1];
	struct wire_header r;

	wire_header_write(p + 1, &h); /* unaligned on purpose */
	cr_assert_eq(p[1], 0x04);
	cr_assert_eq(p[4], 0x01);
	wire_header_read(p + 1, &r);
	cr_assert_eq(r.length, h.length);
	cr_assert_eq(r.request_id, -5);
	cr_assert_eq(r.response_to, INT32_MIN);
	cr_assert_eq(r.opcode, 2013);
}

Test(wire, header_check_bounds)
{
	struct wire_header h = {.opcode = WIRE_OP_MSG};

	h.length = 15;
	cr_assert_eq(wire_header_check(&h, WIRE_MAX_MESSAGE_DEFAULT), WIRE_ERR_LENGTH);
	h.length = -1;
	cr_assert_eq(wire_header_check(&h, WIRE_MAX_MESSAGE_DEFAULT), WIRE_ERR_LENGTH);
	h.length = 16;
	cr_assert_eq(wire_header_check(&h, WIRE_MAX_MESSAGE_DEFAULT), WIRE_OK);
	h.length = WIRE_MAX_MESSAGE_DEFAULT;
	cr_assert_eq(wire_header_check(&h, WIRE_MAX_MESSAGE_DEFAULT), WIRE_OK);
	h.length = WIRE_MAX_MESSAGE_DEFAULT + 1;
	cr_assert_eq(wire_header_check(&h, WIRE_MAX_MESSAGE_DEFAULT), WIRE_ERR_LENGTH);
	h.length = INT32_MAX;
	cr_assert_eq(wire_header_check(&h, WIRE_MAX_MESSAGE_DEFAULT), WIRE_ERR_LENGTH);
}

Test(wire, status_names_are_distinct)
{
	for (int a = WIRE_OK; a <= WIRE_ERR_NOMEM; a++) {
		const char *na = wire_status_to_str((enum wire_status)a);
		cr_assert_str_neq(na, "unknown", "status %d has no name", a);
		for (int b = a + 1; b <= WIRE_ERR_NOMEM; b++)
			cr_assert_str_neq(na, wire_status_to_str((enum wire_status)b));
	}
	cr_assert_str_eq(wire_status_to_str(WIRE_ERR_CHECKSUM), "bad_checksum");
	cr_assert_str_eq(wire_status_to_str((enum wire_status)99), "unknown");
}

Test(wire, opcode_names)
{
	cr_assert_str_eq(wire_opcode_to_str(2013), "OP_MSG");
	cr_assert_str_eq(wire_opcode_to_str(2012), "OP_COMPRESSED");
	cr_assert_str_eq(wire_opcode_to_str(2004), "OP_QUERY");
	cr_assert_str_eq(wire_opcode_to_str(1), "OP_REPLY");
	cr_assert_str_eq(wire_opcode_to_str(2003), "unknown");
	cr_assert_str_eq(wire_opcode_to_str(-1), "unknown");
}

Test(wire, load_store_signed_values)
{
	uint8_t p[9];

	wire_store_i64(p + 1, INT64_MIN + 3);
	cr_assert_eq(wire_load_i64(p + 1), INT64_MIN + 3);
	wire_store_i32(p + 1, -2);
	cr_assert_eq(p[1], 0xfe);
	cr_assert_eq(p[4], 0xff);
	cr_assert_eq(wire_load_i32(p + 1), -2);
}

Test(wire, doc_check_accepts_valid_document)
{
	bson_t *d = BCON_NEW("a", BCON_INT32(1), "b", "{", "c", BCON_UTF8("x"), "}");
	uint8_t *p = tb_exact(bson_get_data(d), d->len);
	uint32_t n = 0;

	cr_assert_eq(wire_doc_check(p, d->len, &n), WIRE_OK);
	cr_assert_eq(n, d->len);
	free(p);
	bson_destroy(d);
}

Test(wire, doc_check_length_beyond_remaining_is_truncated)
{
	bson_t *d = BCON_NEW("a", BCON_INT32(1));
	uint32_t n;

	cr_assert_eq(wire_doc_check(bson_get_data(d), d->len - 1, &n), WIRE_ERR_TRUNCATED);
	cr_assert_eq(wire_doc_check(bson_get_data(d), 3, &n), WIRE_ERR_TRUNCATED);
	cr_assert_eq(wire_doc_check(bson_get_data(d), 0, &n), WIRE_ERR_TRUNCATED);
	bson_destroy(d);
}

Test(wire, doc_check_rejects_malformed_documents)
{
	uint32_t n;
	const uint8_t tiny[] = {4, 0, 0, 0, 0};
	const uint8_t negative[] = {0xff, 0xff, 0xff, 0xff, 0};
	const uint8_t no_terminator[] = {5, 0, 0, 0, 1};
	/* {a: "x"} whose string length says 9 while 2 bytes follow */
	const uint8_t string_lies[] = {14, 0, 0, 0, 2, 'a', 0, 9, 0, 0, 0, 'x', 0, 0};
	/* {a: {}} whose inner document's length says 6 */
	const uint8_t nested_lies[] = {13, 0, 0, 0, 3, 'a', 0, 6, 0, 0, 0, 0, 0};
	/* an element of type 0x42, which does not exist */
	const uint8_t bad_type[] = {8, 0, 0, 0, 0x42, 'a', 0, 0};

	cr_assert_eq(wire_doc_check(tiny, sizeof tiny, &n), WIRE_ERR_BSON);
	cr_assert_eq(wire_doc_check(negative, sizeof negative, &n), WIRE_ERR_BSON);
	cr_assert_eq(wire_doc_check(no_terminator, sizeof no_terminator, &n), WIRE_ERR_BSON);
	cr_assert_eq(wire_doc_check(string_lies, sizeof string_lies, &n), WIRE_ERR_BSON);
	cr_assert_eq(wire_doc_check(nested_lies, sizeof nested_lies, &n), WIRE_ERR_BSON);
	cr_assert_eq(wire_doc_check(bad_type, sizeof bad_type, &n), WIRE_ERR_BSON);
}

Test(wire, cstring_stays_within_remaining)
{
	const uint8_t s[] = {'a', 'b', 0, 'c'};
	size_t n = 99;

	cr_assert_eq(wire_cstring(s, sizeof s, &n), (const char *)s);
	cr_assert_eq(n, 2);
	cr_assert_null(wire_cstring(s, 2, &n));
	cr_assert_null(wire_cstring(s + 3, 1, &n));
	cr_assert_not_null(wire_cstring(s + 2, 1, &n));
	cr_assert_eq(n, 0);
}

/* {a: {a: ... {} ...}} nested depth levels: each level is 4 (length) +
 * 1 (type) + 2 ("a\0") bytes before its child and 1 terminator after. */
Test(wire, deep_nesting_is_rejected_not_recursed)
{
	uint32_t dl;

	for (int depth = 1; depth <= 100000; depth *= 10) {
		size_t n = (size_t)depth * 8 + 5;
		uint8_t *buf = calloc(n, 1);
		cr_assert_not_null(buf);
		for (int i = 0; i < depth; i++) {
			wire_store_i32(buf + (size_t)i * 7, (int32_t)(n - (size_t)i * 8));
			buf[(size_t)i * 7 + 4] = 0x03;
			buf[(size_t)i * 7 + 5] = 'a';
		}
		wire_store_i32(buf + (size_t)depth * 7, 5);
		enum wire_status st = wire_doc_check(buf, n, &dl);
		if (depth <= WIRE_MAX_DEPTH)
			cr_expect_eq(st, WIRE_OK, "depth %d: %s", depth, wire_status_to_str(st));
		else
			cr_expect_eq(st, WIRE_ERR_BSON, "depth %d: %s", depth, wire_status_to_str(st));
		free(buf);
	}
}
