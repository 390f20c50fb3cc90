/*
 * opcomp.h - OP_COMPRESSED (2012): a wrapped message compressed with
 * snappy (1), zlib (2) or zstd (3); noop (0) is accepted too.
 *
 *   header | originalOpcode i32 | uncompressedSize i32 | compressorId u8 | data
 *
 * uncompressedSize excludes the 16-byte header.  tandem decompresses only to
 * inspect; what it does not change it forwards as received.
 */
#ifndef TANDEM_OPCOMP_H
#define TANDEM_OPCOMP_H

#include "wire.h"

enum wire_compressor {
	WIRE_COMP_NOOP = 0,
	WIRE_COMP_SNAPPY = 1,
	WIRE_COMP_ZLIB = 2,
	WIRE_COMP_ZSTD = 3,
};

struct opcomp_view {
	struct wire_header header;
	int32_t original_opcode;
	int32_t uncompressed_size;
	uint8_t compressor;
	const uint8_t *data;
	size_t data_len;
};

/* Parse a whole OP_COMPRESSED.  Rejects an unknown compressor, a wrapped
 * OP_COMPRESSED, and an uncompressedSize < 0 or > max_len - 16. */
enum wire_status opcomp_parse(const uint8_t *msg, size_t len, int32_t max_len,
			      struct opcomp_view *out) __attribute__((warn_unused_result));

/*
 * Decompress into a new whole message: the original header with opcode set
 * to original_opcode and length to 16 + uncompressed_size.  *out is
 * malloc'd (caller frees) only on WIRE_OK.  Fails with WIRE_ERR_DECOMPRESS
 * unless the data decompresses to exactly uncompressed_size bytes.
 */
enum wire_status opcomp_decompress(const struct opcomp_view *v, uint8_t **out, size_t *out_len)
	__attribute__((warn_unused_result));

/* Compress a whole message msg[0..len) with compressor; same ownership. */
enum wire_status opcomp_compress(const uint8_t *msg, size_t len, uint8_t compressor,
				 uint8_t **out, size_t *out_len) __attribute__((warn_unused_result));

/* "snappy", "zlib", "zstd", "noop", or NULL for an unknown id. */
const char *opcomp_name(uint8_t compressor);

#endif
