/*
 * opquery.c - the legacy OP_QUERY (2004) and OP_REPLY (1): parse into views
 * over the caller's bytes, find the command of a "<db>.$cmd" query, and
 * encode a one-document OP_REPLY.
 *
 *   OP_QUERY  | header 16 | flags 4 | "db.coll\0" | skip 4 | nreturn 4 | query | [fields] |
 *   OP_REPLY  | header 16 | flags 4 | cursorID 8 | startingFrom 4 | numberReturned 4 | doc* |
 *
 * Invariants of a view returned with WIRE_OK: every pointer lies inside the
 * message; every document was length-checked and passed bson_validate; the
 * documents fill the message exactly (bytes left over are WIRE_ERR_LENGTH).
 * Parsing never allocates.
 */
#include <stdlib.h>
#include <string.h>

#include "opquery.h"

#define OPQUERY_FIXED_LEN (WIRE_HEADER_LEN + 4)                 /* header + flags */
#define OPREPLY_FIXED_LEN (WIRE_HEADER_LEN + 4 + 8 + 4 + 4)     /* 36 */
#define OPQUERY_CMD_SUFFIX ".$cmd"

/* Header of a whole message of the given opcode, at least fixed bytes long. */
static enum wire_status opquery_frame(const uint8_t *msg, size_t len, int32_t opcode, size_t fixed,
				      struct wire_header *h)
{
	if (len < WIRE_HEADER_LEN)
		return WIRE_ERR_SHORT;
	wire_header_read(msg, h);
	if (h->length < WIRE_HEADER_LEN || (size_t)h->length != len)
		return WIRE_ERR_LENGTH;
	if (h->opcode != opcode)
		return WIRE_ERR_OPCODE;
	return len < fixed ? WIRE_ERR_SHORT : WIRE_OK;
}

enum wire_status opquery_parse(const uint8_t *msg, size_t len, struct opquery_view *out)
{
	size_t off = OPQUERY_FIXED_LEN, nslen;
	uint32_t n;

	memset(out, 0, sizeof *out);
	enum wire_status st = opquery_frame(msg, len, WIRE_OP_QUERY, OPQUERY_FIXED_LEN, &out->header);
	if (st != WIRE_OK)
		return st;
	out->flags = wire_load_i32(msg + WIRE_HEADER_LEN);

	out->collection = wire_cstring(msg + off, len - off, &nslen);
	if (!out->collection)
		return WIRE_ERR_TRUNCATED;
	off += nslen + 1;
	if (len - off < 8)
		return WIRE_ERR_TRUNCATED;
	out->skip = wire_load_i32(msg + off);
	out->nreturn = wire_load_i32(msg + off + 4);
	off += 8;

	st = wire_doc_check(msg + off, len - off, &n);
	if (st != WIRE_OK)
		return st;
	out->query = msg + off;
	out->query_len = n;
	off += n;
	if (off == len)
		return WIRE_OK;

	st = wire_doc_check(msg + off, len - off, &n);
	if (st != WIRE_OK)
		return st;
	out->fields = msg + off;
	out->fields_len = n;
	off += n;
	return off == len ? WIRE_OK : WIRE_ERR_LENGTH;
}

enum wire_status opreply_parse(const uint8_t *msg, size_t len, struct opreply_view *out)
{
	size_t off = OPREPLY_FIXED_LEN;
	uint32_t n;

	memset(out, 0, sizeof *out);
	enum wire_status st = opquery_frame(msg, len, WIRE_OP_REPLY, OPREPLY_FIXED_LEN, &out->header);
	if (st != WIRE_OK)
		return st;
	out->flags = wire_load_i32(msg + WIRE_HEADER_LEN);
	out->cursor_id = wire_load_i64(msg + WIRE_HEADER_LEN + 4);
	out->starting_from = wire_load_i32(msg + WIRE_HEADER_LEN + 12);
	out->nreturned = wire_load_i32(msg + WIRE_HEADER_LEN + 16);
	if (out->nreturned < 0)
		return WIRE_ERR_LENGTH;

	for (int32_t i = 0; i < out->nreturned; i++) {
		if (off == len)
			return WIRE_ERR_TRUNCATED; /* fewer documents than numberReturned */
		st = wire_doc_check(msg + off, len - off, &n);
		if (st != WIRE_OK)
			return st;
		off += n;
	}
	if (off != len)
		return WIRE_ERR_LENGTH; /* bytes beyond numberReturned documents */
	out->docs = msg + OPREPLY_FIXED_LEN;
	out->docs_len = len - OPREPLY_FIXED_LEN;
	return WIRE_OK;
}

/* The first key of doc, descending once into a "$query"/"query" wrapper. */
static const char *opquery_first_key(const uint8_t *doc, uint32_t len)
{
	bson_t b;
	bson_iter_t it, child;

	if (!doc || !bson_init_static(&b, doc, len))
		return "";
	if (!bson_iter_init(&it, &b) || !bson_iter_next(&it))
		return "";
	const char *key = bson_iter_key(&it);
	if ((strcmp(key, "$query") == 0 || strcmp(key, "query") == 0) &&
	    BSON_ITER_HOLDS_DOCUMENT(&it)) {
		if (bson_iter_recurse(&it, &child) && bson_iter_next(&child))
			return bson_iter_key(&child);
		return "";
	}
	return key;
}

/* Copy the database part of "db.rest" into dbbuf, truncated to fit. */
static void opquery_copy_db(const char *ns, char *dbbuf, size_t dbbuf_len)
{
	if (!dbbuf || dbbuf_len == 0)
		return;
	size_t n = strcspn(ns, ".");
	if (n > dbbuf_len - 1)
		n = dbbuf_len - 1;
	memcpy(dbbuf, ns, n);
	dbbuf[n] = '\0';
}

bool opquery_command(const struct opquery_view *v, struct wire_command *out, char *dbbuf,
		     size_t dbbuf_len)
{
	const char *ns = v->collection ? v->collection : "";
	const size_t nslen = strlen(ns), sfx = strlen(OPQUERY_CMD_SUFFIX);

	out->name = "";
	out->db = "";
	out->db_len = strcspn(ns, ".");
	opquery_copy_db(ns, dbbuf, dbbuf_len);
	if (dbbuf && dbbuf_len > 0)
		out->db = dbbuf;
	if (nslen <= sfx || strcmp(ns + nslen - sfx, OPQUERY_CMD_SUFFIX) != 0)
		return false;
	out->name = opquery_first_key(v->query, v->query_len);
	return true;
}

uint8_t *opreply_encode(int32_t request_id, int32_t response_to, int32_t flags,
			int64_t cursor_id, const bson_t *doc, size_t *len)
{
	const size_t n = OPREPLY_FIXED_LEN + doc->len;

	if (n > INT32_MAX)
		return NULL;
	uint8_t *buf = malloc(n);
	if (!buf)
		return NULL;
	const struct wire_header h = {
		.length = (int32_t)n,
		.request_id = request_id,
		.response_to = response_to,
		.opcode = WIRE_OP_REPLY,
	};
	wire_header_write(buf, &h);
	wire_store_i32(buf + WIRE_HEADER_LEN, flags);
	wire_store_i64(buf + WIRE_HEADER_LEN + 4, cursor_id);
	wire_store_i32(buf + WIRE_HEADER_LEN + 12, 0); /* startingFrom */
	wire_store_i32(buf + WIRE_HEADER_LEN + 16, 1); /* numberReturned */
	memcpy(buf + OPREPLY_FIXED_LEN, bson_get_data(doc), doc->len);
	*len = n;
	return buf;
}
