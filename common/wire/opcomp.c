/*
 * opcomp.c - OP_COMPRESSED (2012): parse, decompress for inspection, and
 * compress, with noop (0), snappy (1), zlib (2) and zstd (3).
 *
 *   | header 16 | originalOpcode 4 | uncompressedSize 4 | compressorId 1 | data |
 *
 *   decompress:  header' = header with opcode = originalOpcode,
 *                          length = 16 + uncompressedSize
 *                out     = header' | inflate(data)        (exactly that size)
 *
 * Invariants: a decompression never allocates more than 16 +
 * uncompressedSize bytes, and before allocating it checks what each format
 * states about its own size (noop: the data length; snappy: its length
 * preamble; zstd: the frame's content size when present; zlib: deflate's
 * 1032:1 ratio limit), so a tiny message claiming a huge size costs nothing.
 * The result must be exactly uncompressedSize bytes, else WIRE_ERR_DECOMPRESS.
 */
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "opcomp.h"

#define OPCOMP_FIXED_LEN (WIRE_HEADER_LEN + 4 + 4 + 1) /* 25 */
/* Deflate cannot expand more than 1032:1; the slack covers the stream header. */
#define OPCOMP_ZLIB_MAX_RATIO 1032u
#define OPCOMP_ZLIB_SLACK 64u

const char *opcomp_name(uint8_t compressor)
{
	switch (compressor) {
	case WIRE_COMP_NOOP: return "noop";
	case WIRE_COMP_SNAPPY: return "snappy";
	case WIRE_COMP_ZLIB: return "zlib";
	case WIRE_COMP_ZSTD: return "zstd";
	}
	return NULL;
}

enum wire_status opcomp_parse(const uint8_t *msg, size_t len, int32_t max_len,
			      struct opcomp_view *out)
{
	memset(out, 0, sizeof *out);
	if (len < WIRE_HEADER_LEN)
		return WIRE_ERR_SHORT;
	wire_header_read(msg, &out->header);
	if (out->header.length < WIRE_HEADER_LEN || (size_t)out->header.length != len)
		return WIRE_ERR_LENGTH;
	if (out->header.opcode != WIRE_OP_COMPRESSED)
		return WIRE_ERR_OPCODE;
	if (len < OPCOMP_FIXED_LEN)
		return WIRE_ERR_SHORT;

	out->original_opcode = wire_load_i32(msg + WIRE_HEADER_LEN);
	out->uncompressed_size = wire_load_i32(msg + WIRE_HEADER_LEN + 4);
	out->compressor = msg[WIRE_HEADER_LEN + 8];
	out->data = msg + OPCOMP_FIXED_LEN;
	out->data_len = len - OPCOMP_FIXED_LEN;
	if (out->original_opcode == WIRE_OP_COMPRESSED)
		return WIRE_ERR_OPCODE;
	if (!opcomp_name(out->compressor))
		return WIRE_ERR_COMPRESSOR;
	if (out->uncompressed_size < 0 || max_len < WIRE_HEADER_LEN ||
	    out->uncompressed_size > max_len - WIRE_HEADER_LEN)
		return WIRE_ERR_LENGTH;
	return WIRE_OK;
}

/* What the format says about its decompressed size, checked before allocating. */
static bool opcomp_size_plausible(const struct opcomp_view *v, size_t want)
{
	size_t snappy_len;
	unsigned long long zstd_len;

	switch (v->compressor) {
	case WIRE_COMP_NOOP:
		return v->data_len == want;
	case WIRE_COMP_SNAPPY:
		return snappy_uncompressed_length((const char *)v->data, v->data_len,
						  &snappy_len) == SNAPPY_OK &&
		       snappy_len == want;
	case WIRE_COMP_ZLIB:
		return want <= v->data_len * OPCOMP_ZLIB_MAX_RATIO + OPCOMP_ZLIB_SLACK;
	case WIRE_COMP_ZSTD:
		zstd_len = ZSTD_getFrameContentSize(v->data, v->data_len);
		if (zstd_len == ZSTD_CONTENTSIZE_ERROR)
			return false;
		return zstd_len == ZSTD_CONTENTSIZE_UNKNOWN || zstd_len == want;
	}
	return false;
}

/* Inflate v->data into dst, which holds exactly want bytes. */
static bool opcomp_inflate(const struct opcomp_view *v, uint8_t *dst, size_t want)
{
	size_t got = want;
	uLongf zgot = want;

	switch (v->compressor) {
	case WIRE_COMP_NOOP:
		if (want)
			memcpy(dst, v->data, want);
		return true;
	case WIRE_COMP_SNAPPY:
		return snappy_uncompress((const char *)v->data, v->data_len, (char *)dst, &got) ==
			       SNAPPY_OK &&
		       got == want;
	case WIRE_COMP_ZLIB:
		return uncompress(dst, &zgot, v->data, v->data_len) == Z_OK && zgot == want;
	case WIRE_COMP_ZSTD:
		got = ZSTD_decompress(dst, want, v->data, v->data_len);
		return !ZSTD_isError(got) && got == want;
	}
	return false;
}

enum wire_status opcomp_decompress(const struct opcomp_view *v, uint8_t **out, size_t *out_len)
{
	if (!opcomp_name(v->compressor))
		return WIRE_ERR_COMPRESSOR;
	if (v->uncompressed_size < 0)
		return WIRE_ERR_LENGTH;
	const size_t want = (size_t)v->uncompressed_size;
	if (!opcomp_size_plausible(v, want))
		return WIRE_ERR_DECOMPRESS;

	uint8_t *buf = malloc(WIRE_HEADER_LEN + want);
	if (!buf)
		return WIRE_ERR_NOMEM;
	if (!opcomp_inflate(v, buf + WIRE_HEADER_LEN, want)) {
		free(buf);
		return WIRE_ERR_DECOMPRESS;
	}
	struct wire_header h = v->header;
	h.length = (int32_t)(WIRE_HEADER_LEN + want);
	h.opcode = v->original_opcode;
	wire_header_write(buf, &h);
	*out = buf;
	*out_len = WIRE_HEADER_LEN + want;
	return WIRE_OK;
}

/* Upper bound of the compressed size of n bytes. */
static size_t opcomp_bound(uint8_t compressor, size_t n)
{
	switch (compressor) {
	case WIRE_COMP_SNAPPY: return snappy_max_compressed_length(n);
	case WIRE_COMP_ZLIB: return compressBound(n);
	case WIRE_COMP_ZSTD: return ZSTD_compressBound(n);
	}
	return n;
}

/* Compress src[0..n) into dst (room for *dlen bytes); *dlen becomes the size. */
static bool opcomp_deflate(uint8_t compressor, const uint8_t *src, size_t n, uint8_t *dst,
			   size_t *dlen)
{
	uLongf zlen = *dlen;

	switch (compressor) {
	case WIRE_COMP_NOOP:
		if (n)
			memcpy(dst, src, n);
		*dlen = n;
		return true;
	case WIRE_COMP_SNAPPY:
		return snappy_compress((const char *)src, n, (char *)dst, dlen) == SNAPPY_OK;
	case WIRE_COMP_ZLIB:
		if (compress2(dst, &zlen, src, n, Z_DEFAULT_COMPRESSION) != Z_OK)
			return false;
		*dlen = zlen;
		return true;
	case WIRE_COMP_ZSTD:
		*dlen = ZSTD_compress(dst, *dlen, src, n, ZSTD_CLEVEL_DEFAULT);
		return !ZSTD_isError(*dlen);
	}
	return false;
}

enum wire_status opcomp_compress(const uint8_t *msg, size_t len, uint8_t compressor,
				 uint8_t **out, size_t *out_len)
{
	struct wire_header h;

	if (len < WIRE_HEADER_LEN)
		return WIRE_ERR_SHORT;
	wire_header_read(msg, &h);
	if (h.length < WIRE_HEADER_LEN || (size_t)h.length != len)
		return WIRE_ERR_LENGTH;
	if (h.opcode == WIRE_OP_COMPRESSED)
		return WIRE_ERR_OPCODE;
	if (!opcomp_name(compressor))
		return WIRE_ERR_COMPRESSOR;

	const size_t n = len - WIRE_HEADER_LEN;
	size_t clen = opcomp_bound(compressor, n);
	uint8_t *buf = malloc(OPCOMP_FIXED_LEN + clen);
	if (!buf)
		return WIRE_ERR_NOMEM;
	/* A codec fails only when it cannot allocate its state. */
	if (!opcomp_deflate(compressor, msg + WIRE_HEADER_LEN, n, buf + OPCOMP_FIXED_LEN, &clen) ||
	    OPCOMP_FIXED_LEN + clen > INT32_MAX) {
		free(buf);
		return WIRE_ERR_NOMEM;
	}
	const struct wire_header ch = {
		.length = (int32_t)(OPCOMP_FIXED_LEN + clen),
		.request_id = h.request_id,
		.response_to = h.response_to,
		.opcode = WIRE_OP_COMPRESSED,
	};
	wire_header_write(buf, &ch);
	wire_store_i32(buf + WIRE_HEADER_LEN, h.opcode);
	wire_store_i32(buf + WIRE_HEADER_LEN + 4, (int32_t)n);
	buf[WIRE_HEADER_LEN + 8] = compressor;
	*out = buf;
	*out_len = OPCOMP_FIXED_LEN + clen;
	return WIRE_OK;
}
