/*
 * fuzz_wire.c - libFuzzer target for the wire codec in common/.
 *
 * Every input is fed, as a whole message, to the header check and to every
 * parser (OP_MSG, OP_QUERY, OP_REPLY, OP_COMPRESSED); a second pass does the
 * same with the header's length patched to the input's size, so the fuzzer
 * reaches the section parsers without having to guess the length first.
 * An OP_COMPRESSED that decompresses is parsed again, then re-compressed with
 * the same compressor and decompressed once more.  The input's CRC-32C is
 * computed by both implementations (hardware and table), which must agree.
 *
 * Besides ASan/UBSan findings, the target traps (__builtin_trap) when an
 * invariant of a successful parse does not hold: pointers inside the input,
 * sequence counts that match a re-walk, encode -> parse round trips.
 *
 *   input --> parse_all(raw) --> parse_all(length patched)
 *                  |
 *                  +-- opcomp_decompress --> parse_all(decompressed)
 *                                        +-> compress --> decompress == same
 */
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "opcomp.h"
#include "opmsg.h"
#include "opquery.h"

/* Smaller than MongoDB's 48 MB so that claimed sizes stay cheap to allocate. */
#define FUZZ_MAX_LEN (4 * 1024 * 1024)

#define FUZZ_CHECK(cond)                 \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

static bool inside(const uint8_t *p, size_t n, const uint8_t *msg, size_t len)
{
	return p >= msg && n <= len && (size_t)(p - msg) <= len - n;
}

/* Re-walk a sequence and count its documents by their length fields. */
static uint32_t count_docs(const struct opmsg_sequence *s)
{
	size_t off = 0;
	uint32_t n = 0;

	while (off < s->docs_len) {
		FUZZ_CHECK(s->docs_len - off >= 5);
		off += (uint32_t)wire_load_i32(s->docs + off);
		n++;
	}
	FUZZ_CHECK(off == s->docs_len);
	return n;
}

static void fuzz_opmsg(const uint8_t *msg, size_t len)
{
	struct opmsg_view v, again;
	struct wire_command cmd;
	bson_t body;
	size_t elen;

	if (opmsg_parse(msg, len, &v) != WIRE_OK)
		return;
	FUZZ_CHECK(inside(v.body, v.body_len, msg, len));
	for (unsigned i = 0; i < v.nseq; i++) {
		FUZZ_CHECK(inside(v.seq[i].docs, v.seq[i].docs_len, msg, len));
		FUZZ_CHECK(count_docs(&v.seq[i]) == v.seq[i].count);
	}
	opmsg_command(&v, &cmd);
	FUZZ_CHECK(cmd.name && cmd.db);

	/* The body re-encoded (with a checksum) parses back to the same bytes. */
	FUZZ_CHECK(bson_init_static(&body, v.body, v.body_len));
	uint8_t *enc = opmsg_encode(v.header.request_id, v.header.response_to,
				    v.flags & OPMSG_KNOWN_REQUIRED, &body, &elen);
	FUZZ_CHECK(enc != NULL);
	FUZZ_CHECK(opmsg_parse(enc, elen, &again) == WIRE_OK);
	FUZZ_CHECK(again.body_len == v.body_len && memcmp(again.body, v.body, v.body_len) == 0);
	free(enc);
}

static void fuzz_opquery(const uint8_t *msg, size_t len)
{
	struct opquery_view q;
	struct opreply_view r;
	struct wire_command cmd;
	char db[8];

	if (opquery_parse(msg, len, &q) == WIRE_OK) {
		FUZZ_CHECK(inside(q.query, q.query_len, msg, len));
		FUZZ_CHECK(!q.fields || inside(q.fields, q.fields_len, msg, len));
		(void)opquery_command(&q, &cmd, db, sizeof db);
		FUZZ_CHECK(strlen(db) < sizeof db && cmd.name != NULL);
	}
	if (opreply_parse(msg, len, &r) == WIRE_OK)
		FUZZ_CHECK(inside(r.docs, r.docs_len, msg, len));
}

static void parse_all(const uint8_t *msg, size_t len, int depth);

/* Decompress; parse the result; compress it again and check it comes back. */
static void fuzz_opcomp(const uint8_t *msg, size_t len, int depth)
{
	struct opcomp_view v, v2;
	uint8_t *d = NULL, *c = NULL, *d2 = NULL;
	size_t dlen, clen, d2len;

	if (opcomp_parse(msg, len, FUZZ_MAX_LEN, &v) != WIRE_OK)
		return;
	FUZZ_CHECK(inside(v.data, v.data_len, msg, len));
	if (opcomp_decompress(&v, &d, &dlen) != WIRE_OK)
		return;
	FUZZ_CHECK(dlen == WIRE_HEADER_LEN + (size_t)v.uncompressed_size);
	FUZZ_CHECK(wire_load_i32(d) == (int32_t)dlen);
	parse_all(d, dlen, depth + 1);

	FUZZ_CHECK(opcomp_compress(d, dlen, v.compressor, &c, &clen) == WIRE_OK);
	FUZZ_CHECK(opcomp_parse(c, clen, FUZZ_MAX_LEN, &v2) == WIRE_OK);
	FUZZ_CHECK(opcomp_decompress(&v2, &d2, &d2len) == WIRE_OK);
	FUZZ_CHECK(d2len == dlen && memcmp(d, d2, dlen) == 0);
	free(d);
	free(c);
	free(d2);
}

static void parse_all(const uint8_t *msg, size_t len, int depth)
{
	struct wire_header h;

	if (len >= WIRE_HEADER_LEN) {
		wire_header_read(msg, &h);
		if (wire_header_check(&h, FUZZ_MAX_LEN) == WIRE_OK)
			FUZZ_CHECK(h.length >= WIRE_HEADER_LEN);
		(void)wire_opcode_to_str(h.opcode);
	}
	fuzz_opmsg(msg, len);
	fuzz_opquery(msg, len);
	if (depth == 0)
		fuzz_opcomp(msg, len, depth);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_LEN)
		return 0;
	FUZZ_CHECK(crc32c(0, data, size) == crc32c_sw(0, data, size));
	parse_all(data, size, 0);

	/* The same bytes with a header length that agrees with the size. */
	if (size >= WIRE_HEADER_LEN) {
		uint8_t *copy = malloc(size);
		if (!copy)
			return 0;
		memcpy(copy, data, size);
		wire_store_i32(copy, (int32_t)size);
		parse_all(copy, size, 0);
		free(copy);
	}
	return 0;
}
