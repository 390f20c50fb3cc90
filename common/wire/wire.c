/*
 * wire.c - the 16-byte message header, the names of opcodes and statuses,
 * and the two bounds helpers every parser in common/ builds on.
 *
 * Invariants: nothing here reads outside the (pointer, remaining) range it is
 * given, and nothing allocates.  wire_doc_check is the only door through
 * which a document reaches libbson: its length is checked against the bytes
 * that exist before bson_init_static is called.
 */
#include <string.h>

#include <bson/bson.h>

#include "wire.h"

/* The smallest BSON document: int32 length 5 and the terminating NUL. */
#define WIRE_MIN_DOC 5

const char *wire_status_to_str(enum wire_status st)
{
	switch (st) {
	case WIRE_OK: return "ok";
	case WIRE_ERR_SHORT: return "short";
	case WIRE_ERR_LENGTH: return "bad_length";
	case WIRE_ERR_TRUNCATED: return "truncated";
	case WIRE_ERR_FLAGS: return "bad_flags";
	case WIRE_ERR_CHECKSUM: return "bad_checksum";
	case WIRE_ERR_BSON: return "invalid_bson";
	case WIRE_ERR_SECTIONS: return "bad_sections";
	case WIRE_ERR_COMPRESSOR: return "bad_compressor";
	case WIRE_ERR_DECOMPRESS: return "decompress_failed";
	case WIRE_ERR_OPCODE: return "bad_opcode";
	case WIRE_ERR_NOMEM: return "out_of_memory";
	}
	return "unknown";
}

const char *wire_opcode_to_str(int32_t opcode)
{
	switch (opcode) {
	case WIRE_OP_REPLY: return "OP_REPLY";
	case WIRE_OP_UPDATE: return "OP_UPDATE";
	case WIRE_OP_INSERT: return "OP_INSERT";
	case WIRE_OP_QUERY: return "OP_QUERY";
	case WIRE_OP_GET_MORE: return "OP_GET_MORE";
	case WIRE_OP_DELETE: return "OP_DELETE";
	case WIRE_OP_KILL_CURSORS: return "OP_KILL_CURSORS";
	case WIRE_OP_COMPRESSED: return "OP_COMPRESSED";
	case WIRE_OP_MSG: return "OP_MSG";
	}
	return "unknown";
}

void wire_header_read(const uint8_t *p, struct wire_header *h)
{
	h->length = wire_load_i32(p);
	h->request_id = wire_load_i32(p + 4);
	h->response_to = wire_load_i32(p + 8);
	h->opcode = wire_load_i32(p + 12);
}

void wire_header_write(uint8_t *p, const struct wire_header *h)
{
	wire_store_i32(p, h->length);
	wire_store_i32(p + 4, h->request_id);
	wire_store_i32(p + 8, h->response_to);
	wire_store_i32(p + 12, h->opcode);
}

enum wire_status wire_header_check(const struct wire_header *h, int32_t max_len)
{
	if (h->length < WIRE_HEADER_LEN || h->length > max_len)
		return WIRE_ERR_LENGTH;
	return WIRE_OK;
}

/* Nesting of documents, arrays and code-with-scope at most WIRE_MAX_DEPTH
 * (mongod refuses more than 200).  bson_iter checks each element's bounds,
 * so this is safe before validation; a malformed element at any level
 * makes the document invalid. */
static bool wire_depth_ok(const bson_t *doc, int depth)
{
	bson_iter_t it;
	bson_t sub;
	uint32_t len, slen;
	const uint8_t *data;

	if (depth > WIRE_MAX_DEPTH)
		return false;
	if (!bson_iter_init(&it, doc))
		return false;
	while (bson_iter_next(&it)) {
		data = NULL;
		if (BSON_ITER_HOLDS_DOCUMENT(&it))
			bson_iter_document(&it, &len, &data);
		else if (BSON_ITER_HOLDS_ARRAY(&it))
			bson_iter_array(&it, &len, &data);
		else if (BSON_ITER_HOLDS_CODEWSCOPE(&it))
			bson_iter_codewscope(&it, &slen, &len, &data);
		if (data && (!bson_init_static(&sub, data, len) || !wire_depth_ok(&sub, depth + 1)))
			return false;
	}
	/* Corruption stops the walk silently: libbson 1.23's bson_validate misses
	 * it at the end of a nested document, and bson_copy_to_excluding (msgdoc.c)
	 * would abort on it (found by fuzz_router). */
	return it.err_off == 0;
}

enum wire_status wire_doc_check(const uint8_t *p, size_t remaining, uint32_t *doc_len)
{
	if (remaining < 4)
		return WIRE_ERR_TRUNCATED;
	int32_t n = wire_load_i32(p);
	if (n < WIRE_MIN_DOC)
		return WIRE_ERR_BSON;
	if ((size_t)n > remaining)
		return WIRE_ERR_TRUNCATED;
	if (p[n - 1] != '\0')
		return WIRE_ERR_BSON;

	bson_t doc;
	bson_error_t err;
	if (!bson_init_static(&doc, p, (size_t)n))
		return WIRE_ERR_BSON;
	/* libbson's validator recurses without a limit: bound the depth first. */
	if (!wire_depth_ok(&doc, 0) || !bson_validate_with_error(&doc, BSON_VALIDATE_NONE, &err))
		return WIRE_ERR_BSON;
	*doc_len = (uint32_t)n;
	return WIRE_OK;
}

const char *wire_cstring(const uint8_t *p, size_t remaining, size_t *len)
{
	const uint8_t *nul = memchr(p, '\0', remaining);
	if (!nul)
		return NULL;
	*len = (size_t)(nul - p);
	return (const char *)p;
}
