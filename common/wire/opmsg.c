/*
 * opmsg.c - OP_MSG (2013): parse a whole message into a view over the
 * caller's bytes, name its command, and encode replies and error documents.
 *
 *   0        16        20                                      len-4   len
 *   | header | flagBits | section | section | ...              | [crc32c] |
 *
 * Parsing order: header and length, flag bits (an unknown required bit is
 * WIRE_ERR_FLAGS), checksum (verified over bytes [0, len-4) before anything
 * else is read), then the sections, which must fill [20, end) exactly.
 *
 * Invariants of a view returned with WIRE_OK: exactly one kind-0 section;
 * every pointer lies inside msg; every document (body and each sequence
 * document) was length-checked and passed bson_validate; each kind-1 section's
 * size covers its own 4 bytes, the identifier and its documents exactly.
 * Parsing never allocates.
 */
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "opmsg.h"

#define OPMSG_FIXED_LEN (WIRE_HEADER_LEN + 4) /* header + flagBits */
#define OPMSG_KIND_BODY 0
#define OPMSG_KIND_SEQUENCE 1

/* Header, flags and checksum; *end is where the sections stop. */
static enum wire_status opmsg_frame(const uint8_t *msg, size_t len, struct opmsg_view *out,
				    size_t *end)
{
	if (len < WIRE_HEADER_LEN)
		return WIRE_ERR_SHORT;
	wire_header_read(msg, &out->header);
	if (out->header.length < WIRE_HEADER_LEN || (size_t)out->header.length != len)
		return WIRE_ERR_LENGTH;
	if (out->header.opcode != WIRE_OP_MSG)
		return WIRE_ERR_OPCODE;
	if (len < OPMSG_FIXED_LEN)
		return WIRE_ERR_SHORT;

	out->flags = (uint32_t)wire_load_i32(msg + WIRE_HEADER_LEN);
	if (out->flags & OPMSG_REQUIRED_MASK & ~OPMSG_KNOWN_REQUIRED)
		return WIRE_ERR_FLAGS;

	*end = len;
	out->has_checksum = (out->flags & OPMSG_CHECKSUM_PRESENT) != 0;
	if (out->has_checksum) {
		if (len < OPMSG_FIXED_LEN + 4)
			return WIRE_ERR_SHORT;
		*end = len - 4;
		out->checksum = (uint32_t)wire_load_i32(msg + *end);
		if (crc32c(0, msg, *end) != out->checksum)
			return WIRE_ERR_CHECKSUM;
	}
	return WIRE_OK;
}

/* Kind 0: one document, the body. */
static enum wire_status opmsg_section_body(const uint8_t *p, size_t rem, struct opmsg_view *out,
					   size_t *used)
{
	uint32_t n;

	if (out->body)
		return WIRE_ERR_SECTIONS;
	enum wire_status st = wire_doc_check(p, rem, &n);
	if (st != WIRE_OK)
		return st;
	out->body = p;
	out->body_len = n;
	*used = n;
	return WIRE_OK;
}

/* The documents of a sequence fill docs[0..len) exactly; count them. */
static enum wire_status opmsg_sequence_docs(const uint8_t *docs, size_t len, uint32_t *count)
{
	size_t off = 0;
	uint32_t n;

	*count = 0;
	while (off < len) {
		enum wire_status st = wire_doc_check(docs + off, len - off, &n);
		if (st == WIRE_ERR_TRUNCATED)
			return WIRE_ERR_SECTIONS; /* a document crosses the section's end */
		if (st != WIRE_OK)
			return st;
		off += n;
		(*count)++;
	}
	return WIRE_OK;
}

/* Kind 1: size i32 (counting itself), identifier cstring, documents. */
static enum wire_status opmsg_section_seq(const uint8_t *p, size_t rem, struct opmsg_view *out,
					  size_t *used)
{
	size_t idlen;

	if (out->nseq >= OPMSG_MAX_SEQUENCES)
		return WIRE_ERR_SECTIONS;
	if (rem < 4)
		return WIRE_ERR_TRUNCATED;
	int32_t size = wire_load_i32(p);
	if (size < 5) /* its own 4 bytes and at least the identifier's NUL */
		return WIRE_ERR_SECTIONS;
	if ((size_t)size > rem)
		return WIRE_ERR_TRUNCATED;

	const char *id = wire_cstring(p + 4, (size_t)size - 4, &idlen);
	if (!id)
		return WIRE_ERR_SECTIONS;
	struct opmsg_sequence *seq = &out->seq[out->nseq];
	seq->identifier = id;
	seq->docs = p + 4 + idlen + 1;
	seq->docs_len = (size_t)size - 4 - idlen - 1;
	enum wire_status st = opmsg_sequence_docs(seq->docs, seq->docs_len, &seq->count);
	if (st != WIRE_OK)
		return st;
	out->nseq++;
	*used = (size_t)size;
	return WIRE_OK;
}

enum wire_status opmsg_parse(const uint8_t *msg, size_t len, struct opmsg_view *out)
{
	size_t end, off = OPMSG_FIXED_LEN;

	memset(out, 0, sizeof *out);
	enum wire_status st = opmsg_frame(msg, len, out, &end);
	if (st != WIRE_OK)
		return st;

	while (off < end) {
		const uint8_t kind = msg[off++];
		size_t used = 0;
		if (kind == OPMSG_KIND_BODY)
			st = opmsg_section_body(msg + off, end - off, out, &used);
		else if (kind == OPMSG_KIND_SEQUENCE)
			st = opmsg_section_seq(msg + off, end - off, out, &used);
		else
			st = WIRE_ERR_SECTIONS;
		if (st != WIRE_OK)
			return st;
		off += used;
	}
	return out->body ? WIRE_OK : WIRE_ERR_SECTIONS;
}

void opmsg_command(const struct opmsg_view *v, struct wire_command *out)
{
	bson_t body;
	bson_iter_t it;

	out->name = "";
	out->db = "";
	out->db_len = 0;
	if (!v->body || !bson_init_static(&body, v->body, v->body_len))
		return;
	if (bson_iter_init(&it, &body) && bson_iter_next(&it))
		out->name = bson_iter_key(&it);
	if (bson_iter_init_find(&it, &body, "$db") && BSON_ITER_HOLDS_UTF8(&it)) {
		uint32_t n;
		out->db = bson_iter_utf8(&it, &n);
		out->db_len = n;
	}
}

uint8_t *opmsg_encode(int32_t request_id, int32_t response_to, uint32_t flags,
		      const bson_t *body, size_t *len)
{
	const bool sum = (flags & OPMSG_CHECKSUM_PRESENT) != 0;
	const size_t n = OPMSG_FIXED_LEN + 1 + body->len + (sum ? 4 : 0);

	if (n > INT32_MAX)
		return NULL;
	uint8_t *buf = malloc(n);
	if (!buf)
		return NULL;
	const struct wire_header h = {
		.length = (int32_t)n,
		.request_id = request_id,
		.response_to = response_to,
		.opcode = WIRE_OP_MSG,
	};
	wire_header_write(buf, &h);
	wire_store_i32(buf + WIRE_HEADER_LEN, (int32_t)flags);
	buf[OPMSG_FIXED_LEN] = OPMSG_KIND_BODY;
	memcpy(buf + OPMSG_FIXED_LEN + 1, bson_get_data(body), body->len);
	if (sum)
		wire_store_i32(buf + n - 4, (int32_t)crc32c(0, buf, n - 4));
	*len = n;
	return buf;
}

void opmsg_error_doc(bson_t *out, int32_t code, const char *code_name, const char *errmsg)
{
	bson_init(out);
	BSON_APPEND_DOUBLE(out, "ok", 0.0);
	BSON_APPEND_UTF8(out, "errmsg", errmsg);
	BSON_APPEND_INT32(out, "code", code);
	BSON_APPEND_UTF8(out, "codeName", code_name);
}
