/*
 * wire_builder.h - a tiny byte builder for the codec's unit tests: messages
 * are assembled field by field, so each test can break exactly one thing.
 *
 *   struct tbuf b;
 *   tb_begin(&b, WIRE_OP_MSG);   header with a placeholder length
 *   tb_u32(&b, flags); tb_u8(&b, 0); tb_doc(&b, body);
 *   tb_finish(&b);               length field = bytes written
 *
 * Header-only; every function is static inline.  Overflowing the fixed
 * buffer aborts the test (criterion reports the crash).
 */
#ifndef TANDEM_TEST_WIRE_BUILDER_H
#define TANDEM_TEST_WIRE_BUILDER_H

#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "crc32c.h"
#include "wire.h"

struct tbuf {
	uint8_t b[8192];
	size_t n;
};

static inline void tb_bytes(struct tbuf *t, const void *p, size_t n)
{
	if (t->n + n > sizeof t->b)
		abort();
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static inline void tb_u8(struct tbuf *t, uint8_t v)
{
	tb_bytes(t, &v, 1);
}

static inline void tb_i32(struct tbuf *t, int32_t v)
{
	uint8_t p[4];
	wire_store_i32(p, v);
	tb_bytes(t, p, 4);
}

static inline void tb_u32(struct tbuf *t, uint32_t v)
{
	tb_i32(t, (int32_t)v);
}

static inline void tb_i64(struct tbuf *t, int64_t v)
{
	uint8_t p[8];
	wire_store_i64(p, v);
	tb_bytes(t, p, 8);
}

static inline void tb_cstr(struct tbuf *t, const char *s)
{
	tb_bytes(t, s, strlen(s) + 1);
}

static inline void tb_doc(struct tbuf *t, const bson_t *doc)
{
	tb_bytes(t, bson_get_data(doc), doc->len);
}

/* Start a message: a header with length 0 (tb_finish sets it). */
static inline void tb_begin(struct tbuf *t, int32_t opcode)
{
	t->n = 0;
	tb_i32(t, 0);
	tb_i32(t, 42);  /* requestID */
	tb_i32(t, 7);   /* responseTo */
	tb_i32(t, opcode);
}

/* Set the header's length to the bytes written so far. */
static inline void tb_finish(struct tbuf *t)
{
	wire_store_i32(t->b, (int32_t)t->n);
}

/* Finish an OP_MSG whose checksumPresent flag is set: append the CRC-32C of
 * everything so far (length counted with the checksum). */
static inline void tb_finish_checksum(struct tbuf *t)
{
	wire_store_i32(t->b, (int32_t)(t->n + 4));
	tb_u32(t, crc32c_sw(0, t->b, t->n));
}

/* A heap copy of exactly n bytes, so ASan catches any read past the end. */
static inline uint8_t *tb_exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

#endif
