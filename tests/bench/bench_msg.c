/*
 * bench_msg.c - the benchmark tools' own tiny wire codec (see bench_msg.h).
 *
 * Every read goes through bmsg_cursor, which tracks (pointer, remaining) and
 * refuses to step past the end, in the style of libbson's parsers.  The
 * checksum of an OP_MSG with checksumPresent is skipped, not verified: the
 * stub trusts its clients, the proxy under test is the one that must verify.
 */
#include "bench_msg.h"

#include <string.h>

struct bmsg_cursor {
	const uint8_t *p;
	size_t left;
};

static uint32_t bmsg_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void bmsg_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static bool bmsg_take_u32(struct bmsg_cursor *c, uint32_t *v)
{
	if (c->left < 4)
		return false;
	*v = bmsg_le32(c->p);
	c->p += 4;
	c->left -= 4;
	return true;
}

static bool bmsg_take_cstring(struct bmsg_cursor *c, const char **s)
{
	const uint8_t *nul = memchr(c->p, 0, c->left);

	if (nul == NULL)
		return false;
	*s = (const char *)c->p;
	c->left -= (size_t)(nul - c->p) + 1;
	c->p = nul + 1;
	return true;
}

/* Views one BSON document at the cursor; its length prefix must fit. */
static bool bmsg_take_doc(struct bmsg_cursor *c, bson_t *doc)
{
	uint32_t len;

	if (c->left < 5)
		return false;
	len = bmsg_le32(c->p);
	if (len < 5 || len > c->left)
		return false;
	if (!bson_init_static(doc, c->p, len))
		return false;
	c->p += len;
	c->left -= len;
	return true;
}

bool bmsg_read_header(const uint8_t *buf, struct bmsg_header *h)
{
	h->length = (int32_t)bmsg_le32(buf);
	h->request_id = (int32_t)bmsg_le32(buf + 4);
	h->response_to = (int32_t)bmsg_le32(buf + 8);
	h->opcode = (int32_t)bmsg_le32(buf + 12);
	return h->length >= BMSG_HEADER_LEN && h->length <= BMSG_MAX_LEN;
}

/* Counts the documents of one kind-1 section (after its kind byte). */
static bool bmsg_take_sequence(struct bmsg_cursor *c, int *n_docs)
{
	struct bmsg_cursor seq;
	uint32_t size;
	const char *id;
	bson_t doc;

	if (c->left < 4)
		return false;
	size = bmsg_le32(c->p);
	if (size < 4 || size > c->left)
		return false;
	seq.p = c->p + 4;
	seq.left = size - 4;
	c->p += size;
	c->left -= size;
	if (!bmsg_take_cstring(&seq, &id))
		return false;
	while (seq.left > 0) {
		if (!bmsg_take_doc(&seq, &doc))
			return false;
		(*n_docs)++;
	}
	return true;
}

bool bmsg_parse_opmsg(const uint8_t *msg, size_t len, struct bmsg_opmsg *out)
{
	struct bmsg_cursor c = { msg + BMSG_HEADER_LEN, len - BMSG_HEADER_LEN };
	bool have_body = false;

	if (len < BMSG_HEADER_LEN || !bmsg_take_u32(&c, &out->flags))
		return false;
	if (out->flags & BMSG_FLAG_CHECKSUM) {
		if (c.left < 4)
			return false;
		c.left -= 4;
	}
	out->n_seq_docs = 0;
	while (c.left > 0) {
		uint8_t kind = *c.p;

		c.p++;
		c.left--;
		if (kind == 0 && !have_body) {
			if (!bmsg_take_doc(&c, &out->body))
				return false;
			have_body = true;
		} else if (kind == 1) {
			if (!bmsg_take_sequence(&c, &out->n_seq_docs))
				return false;
		} else {
			return false;
		}
	}
	return have_body;
}

bool bmsg_parse_opquery(const uint8_t *msg, size_t len, struct bmsg_opquery *out)
{
	struct bmsg_cursor c = { msg + BMSG_HEADER_LEN, len - BMSG_HEADER_LEN };
	uint32_t flags, skip, nret;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t dlen;

	if (len < BMSG_HEADER_LEN || !bmsg_take_u32(&c, &flags) ||
	    !bmsg_take_cstring(&c, &out->ns) || !bmsg_take_u32(&c, &skip) ||
	    !bmsg_take_u32(&c, &nret) || !bmsg_take_doc(&c, &out->query))
		return false;
	if (bson_iter_init(&it, &out->query) && bson_iter_next(&it) &&
	    strcmp(bson_iter_key(&it), "$query") == 0 && BSON_ITER_HOLDS_DOCUMENT(&it)) {
		bson_iter_document(&it, &dlen, &data);
		return bson_init_static(&out->query, data, dlen);
	}
	return true;
}

bool bmsg_parse_opreply_first(const uint8_t *msg, size_t len, bson_t *doc)
{
	/* responseFlags(4) cursorID(8) startingFrom(4) numberReturned(4) */
	struct bmsg_cursor c = { msg + BMSG_HEADER_LEN + 20, 0 };

	if (len < BMSG_HEADER_LEN + 20)
		return false;
	c.left = len - BMSG_HEADER_LEN - 20;
	return bmsg_take_doc(&c, doc);
}

static void bmsg_fill_header(uint8_t *h, size_t total, int32_t request_id,
                             int32_t response_to, int32_t opcode)
{
	bmsg_put_le32(h, (uint32_t)total);
	bmsg_put_le32(h + 4, (uint32_t)request_id);
	bmsg_put_le32(h + 8, (uint32_t)response_to);
	bmsg_put_le32(h + 12, (uint32_t)opcode);
}

bool bmsg_add_opmsg(struct evbuffer *out, int32_t request_id, int32_t response_to,
                    uint32_t flags, const bson_t *body,
                    const char *seq_id, const bson_t *const *docs, int n_docs)
{
	uint8_t head[BMSG_HEADER_LEN + 5];
	uint8_t seqhead[5];
	size_t seq_len = 0;
	int i;

	if (seq_id != NULL) {
		seq_len = 4 + strlen(seq_id) + 1;
		for (i = 0; i < n_docs; i++)
			seq_len += docs[i]->len;
	}
	bmsg_fill_header(head, sizeof head + body->len + (seq_id ? 1 + seq_len : 0),
	                 request_id, response_to, BMSG_OP_MSG);
	bmsg_put_le32(head + BMSG_HEADER_LEN, flags);
	head[BMSG_HEADER_LEN + 4] = 0; /* kind 0: the body */
	if (evbuffer_add(out, head, sizeof head) != 0 ||
	    evbuffer_add(out, bson_get_data(body), body->len) != 0)
		return false;
	if (seq_id == NULL)
		return true;
	seqhead[0] = 1;
	bmsg_put_le32(seqhead + 1, (uint32_t)seq_len);
	if (evbuffer_add(out, seqhead, sizeof seqhead) != 0 ||
	    evbuffer_add(out, seq_id, strlen(seq_id) + 1) != 0)
		return false;
	for (i = 0; i < n_docs; i++)
		if (evbuffer_add(out, bson_get_data(docs[i]), docs[i]->len) != 0)
			return false;
	return true;
}

bool bmsg_add_opreply(struct evbuffer *out, int32_t request_id, int32_t response_to,
                      const bson_t *doc)
{
	uint8_t head[BMSG_HEADER_LEN + 20];

	memset(head, 0, sizeof head);
	bmsg_fill_header(head, sizeof head + doc->len, request_id, response_to,
	                 BMSG_OP_REPLY);
	bmsg_put_le32(head + BMSG_HEADER_LEN + 16, 1); /* numberReturned */
	return evbuffer_add(out, head, sizeof head) == 0 &&
	       evbuffer_add(out, bson_get_data(doc), doc->len) == 0;
}

bool bmsg_add_opquery(struct evbuffer *out, int32_t request_id, const char *ns,
                      const bson_t *query)
{
	uint8_t head[BMSG_HEADER_LEN + 4];
	uint8_t tail[8];
	size_t nslen = strlen(ns) + 1;

	bmsg_fill_header(head, sizeof head + nslen + sizeof tail + query->len,
	                 request_id, 0, BMSG_OP_QUERY);
	bmsg_put_le32(head + BMSG_HEADER_LEN, 0);  /* flags */
	bmsg_put_le32(tail, 0);                     /* numberToSkip */
	bmsg_put_le32(tail + 4, (uint32_t)-1);      /* numberToReturn */
	return evbuffer_add(out, head, sizeof head) == 0 &&
	       evbuffer_add(out, ns, nslen) == 0 &&
	       evbuffer_add(out, tail, sizeof tail) == 0 &&
	       evbuffer_add(out, bson_get_data(query), query->len) == 0;
}
