/*
 * test_opcomp.c - OP_COMPRESSED: round trips with every compressor, a
 * pymongo zlib message, rejected headers (unknown compressor, nested
 * OP_COMPRESSED, sizes out of range), wrong stated sizes, corrupt data and
 * decompression bombs.  The bomb tests run under an address-space limit, so
 * an implementation that allocated the claimed (or the real) size before
 * checking would fail them with WIRE_ERR_NOMEM.
 */
#include <sys/resource.h>

#include <criterion/criterion.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "fixtures/fixtures.h"
#include "opcomp.h"
#include "opmsg.h"
#include "wire_builder.h"

#if defined(__SANITIZE_ADDRESS__)
#define OPCOMP_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OPCOMP_TEST_ASAN 1
#endif
#endif

static const uint8_t comps[] = {WIRE_COMP_NOOP, WIRE_COMP_SNAPPY, WIRE_COMP_ZLIB, WIRE_COMP_ZSTD};

/* An OP_MSG of a few KiB with a repetitive body (so it compresses). */
static uint8_t *sample_msg(size_t *len)
{
	bson_t body = BSON_INITIALIZER;
	char key[16];

	BSON_APPEND_UTF8(&body, "insert", "events");
	for (int i = 0; i < 150; i++) {
		snprintf(key, sizeof key, "k%03d", i);
		BSON_APPEND_UTF8(&body, key, "tenant_a/some/repeated/path");
	}
	BSON_APPEND_UTF8(&body, "$db", "shop");
	uint8_t *m = opmsg_encode(77, 0, 0, &body, len);
	bson_destroy(&body);
	cr_assert_not_null(m);
	return m;
}

/* Build an OP_COMPRESSED by hand around data. */
static void comp_msg(struct tbuf *t, int32_t orig, int32_t usize, uint8_t comp, const void *data,
		     size_t n)
{
	tb_begin(t, WIRE_OP_COMPRESSED);
	tb_i32(t, orig);
	tb_i32(t, usize);
	tb_u8(t, comp);
	tb_bytes(t, data, n);
	tb_finish(t);
}

static enum wire_status parse_and_decompress(const struct tbuf *t, uint8_t **out, size_t *n)
{
	struct opcomp_view v;
	uint8_t *c = tb_exact(t->b, t->n);
	enum wire_status st = opcomp_parse(c, t->n, WIRE_MAX_MESSAGE_DEFAULT, &v);

	if (st == WIRE_OK)
		st = opcomp_decompress(&v, out, n);
	free(c);
	return st;
}

/* Cap the address space at what is mapped now plus extra_mb (not under ASan,
 * which reserves terabytes of shadow memory). */
static bool limit_address_space(size_t extra_mb)
{
#ifdef OPCOMP_TEST_ASAN
	(void)extra_mb;
	return false;
#else
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;
	if (!f)
		return false;
	if (fscanf(f, "%lu", &pages) != 1)
		pages = 0;
	fclose(f);
	if (!pages)
		return false;
	const rlim_t cap = (rlim_t)pages * 4096u + (rlim_t)extra_mb * 1024u * 1024u;
	const struct rlimit rl = {.rlim_cur = cap, .rlim_max = RLIM_INFINITY};
	return setrlimit(RLIMIT_AS, &rl) == 0;
#endif
}

Test(opcomp, round_trip_every_compressor)
{
	size_t len;
	uint8_t *m = sample_msg(&len);

	for (size_t i = 0; i < sizeof comps; i++) {
		uint8_t *c = NULL, *d = NULL;
		size_t clen = 0, dlen = 0;
		struct opcomp_view v;
		struct opmsg_view mv;

		cr_assert_eq(opcomp_compress(m, len, comps[i], &c, &clen), WIRE_OK);
		cr_assert_eq(wire_load_i32(c), (int32_t)clen);
		if (comps[i] != WIRE_COMP_NOOP)
			cr_assert_lt(clen, len / 2, "%s did not compress", opcomp_name(comps[i]));
		cr_assert_eq(opcomp_parse(c, clen, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_OK);
		cr_assert_eq(v.compressor, comps[i]);
		cr_assert_eq(v.original_opcode, WIRE_OP_MSG);
		cr_assert_eq(v.uncompressed_size, (int32_t)len - 16);
		cr_assert_eq(v.header.request_id, 77);
		cr_assert_eq(opcomp_decompress(&v, &d, &dlen), WIRE_OK);
		cr_assert_eq(dlen, len);
		cr_assert_eq(memcmp(d, m, len), 0, "%s", opcomp_name(comps[i]));
		cr_assert_eq(opmsg_parse(d, dlen, &mv), WIRE_OK);
		free(c);
		free(d);
	}
	free(m);
}

Test(opcomp, pymongo_zlib_message)
{
	struct opcomp_view v;
	uint8_t *d = NULL;
	size_t dlen = 0;

	cr_assert_eq(opcomp_parse(fx_insert_zlib_opcomp, sizeof fx_insert_zlib_opcomp,
				  WIRE_MAX_MESSAGE_DEFAULT, &v),
		     WIRE_OK);
	cr_assert_eq(v.compressor, WIRE_COMP_ZLIB);
	cr_assert_eq(opcomp_decompress(&v, &d, &dlen), WIRE_OK);
	cr_assert_eq(dlen, sizeof fx_insert_opmsg);
	cr_assert_eq(wire_load_i32(d + 12), WIRE_OP_MSG);
	cr_assert_eq(wire_load_i32(d), (int32_t)dlen);
	cr_assert_eq(memcmp(d + 16, fx_insert_opmsg + 16, dlen - 16), 0);
	free(d);
}

Test(opcomp, names)
{
	cr_assert_str_eq(opcomp_name(0), "noop");
	cr_assert_str_eq(opcomp_name(1), "snappy");
	cr_assert_str_eq(opcomp_name(2), "zlib");
	cr_assert_str_eq(opcomp_name(3), "zstd");
	cr_assert_null(opcomp_name(4));
	cr_assert_null(opcomp_name(255));
}

Test(opcomp, rejects_unknown_compressor)
{
	struct tbuf t;
	struct opcomp_view v;
	size_t len;
	uint8_t *m = sample_msg(&len), *c = NULL;

	comp_msg(&t, WIRE_OP_MSG, 3, 4, "abc", 3);
	cr_assert_eq(opcomp_parse(t.b, t.n, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_ERR_COMPRESSOR);
	t.b[24] = 0xff;
	cr_assert_eq(opcomp_parse(t.b, t.n, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_ERR_COMPRESSOR);
	cr_assert_eq(opcomp_compress(m, len, 9, &c, &len), WIRE_ERR_COMPRESSOR);
	cr_assert_null(c);
	free(m);
}

Test(opcomp, rejects_bad_headers)
{
	struct tbuf t;
	struct opcomp_view v;

	comp_msg(&t, WIRE_OP_COMPRESSED, 3, WIRE_COMP_NOOP, "abc", 3);
	cr_assert_eq(opcomp_parse(t.b, t.n, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_ERR_OPCODE);
	comp_msg(&t, WIRE_OP_MSG, -1, WIRE_COMP_NOOP, "abc", 3);
	cr_assert_eq(opcomp_parse(t.b, t.n, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_ERR_LENGTH);
	comp_msg(&t, WIRE_OP_MSG, 1000 - 15, WIRE_COMP_NOOP, "abc", 3);
	cr_assert_eq(opcomp_parse(t.b, t.n, 1000, &v), WIRE_ERR_LENGTH);
	comp_msg(&t, WIRE_OP_MSG, 1000 - 16, WIRE_COMP_NOOP, "abc", 3);
	cr_assert_eq(opcomp_parse(t.b, t.n, 1000, &v), WIRE_OK);
	cr_assert_eq(opcomp_parse(t.b, 24, 1000, &v), WIRE_ERR_LENGTH);
	wire_store_i32(t.b, 24);
	cr_assert_eq(opcomp_parse(t.b, 24, 1000, &v), WIRE_ERR_SHORT);
	cr_assert_eq(opcomp_parse(t.b, 15, 1000, &v), WIRE_ERR_SHORT);
	comp_msg(&t, WIRE_OP_MSG, 3, WIRE_COMP_NOOP, "abc", 3);
	wire_store_i32(t.b + 12, WIRE_OP_MSG);
	cr_assert_eq(opcomp_parse(t.b, t.n, 1000, &v), WIRE_ERR_OPCODE);
}

Test(opcomp, compress_rejects_compressed_or_bad_input)
{
	struct tbuf t;
	uint8_t *c = NULL;
	size_t n;

	comp_msg(&t, WIRE_OP_MSG, 3, WIRE_COMP_NOOP, "abc", 3);
	cr_assert_eq(opcomp_compress(t.b, t.n, WIRE_COMP_ZLIB, &c, &n), WIRE_ERR_OPCODE);
	cr_assert_eq(opcomp_compress(t.b, 10, WIRE_COMP_ZLIB, &c, &n), WIRE_ERR_SHORT);
	cr_assert_eq(opcomp_compress(t.b, t.n - 1, WIRE_COMP_ZLIB, &c, &n), WIRE_ERR_LENGTH);
	cr_assert_null(c);
}

Test(opcomp, empty_body_round_trips)
{
	struct tbuf t;
	uint8_t *c = NULL, *d = NULL;
	size_t clen, dlen;
	struct opcomp_view v;

	tb_begin(&t, 2099); /* an opcode tandem does not know */
	tb_finish(&t);
	for (size_t i = 0; i < sizeof comps; i++) {
		cr_assert_eq(opcomp_compress(t.b, t.n, comps[i], &c, &clen), WIRE_OK);
		cr_assert_eq(opcomp_parse(c, clen, 1000, &v), WIRE_OK);
		cr_assert_eq(v.uncompressed_size, 0);
		cr_assert_eq(opcomp_decompress(&v, &d, &dlen), WIRE_OK, "%s", opcomp_name(comps[i]));
		cr_assert_eq(dlen, 16);
		cr_assert_eq(memcmp(d, t.b, 16), 0);
		free(c);
		free(d);
	}
}

Test(opcomp, rejects_wrong_uncompressed_size)
{
	size_t len;
	uint8_t *m = sample_msg(&len);

	for (size_t i = 0; i < sizeof comps; i++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			uint8_t *c = NULL, *d = NULL;
			size_t clen, dlen;
			struct opcomp_view v;

			cr_assert_eq(opcomp_compress(m, len, comps[i], &c, &clen), WIRE_OK);
			wire_store_i32(c + 20, (int32_t)(len - 16) + delta);
			cr_assert_eq(opcomp_parse(c, clen, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_OK);
			cr_assert_eq(opcomp_decompress(&v, &d, &dlen), WIRE_ERR_DECOMPRESS,
				     "%s delta %d", opcomp_name(comps[i]), delta);
			cr_assert_null(d);
			free(c);
		}
	}
	free(m);
}

Test(opcomp, rejects_corrupt_data)
{
	size_t len;
	uint8_t *m = sample_msg(&len);
	const uint8_t junk[] = "this is not compressed data at all, not in any format";
	struct tbuf t;
	uint8_t *d = NULL;
	size_t dlen;

	for (size_t i = 1; i < sizeof comps; i++) {
		comp_msg(&t, WIRE_OP_MSG, (int32_t)sizeof junk, comps[i], junk, sizeof junk);
		cr_assert_eq(parse_and_decompress(&t, &d, &dlen), WIRE_ERR_DECOMPRESS, "%s",
			     opcomp_name(comps[i]));

		/* a real stream cut in half */
		uint8_t *c = NULL;
		size_t clen;
		cr_assert_eq(opcomp_compress(m, len, comps[i], &c, &clen), WIRE_OK);
		t.n = 0;
		tb_bytes(&t, c, 25 + (clen - 25) / 2);
		tb_finish(&t);
		cr_assert_eq(parse_and_decompress(&t, &d, &dlen), WIRE_ERR_DECOMPRESS, "%s half",
			     opcomp_name(comps[i]));
		free(c);
	}
	cr_assert_null(d);
	free(m);
}

/* Tiny data claiming 40 MB: rejected before anything that size is allocated. */
Test(opcomp, rejects_tiny_data_claiming_huge_size)
{
	size_t len;
	uint8_t *m = sample_msg(&len);
	uint8_t *cs[4];
	size_t clens[4];

	for (size_t i = 0; i < sizeof comps; i++)
		cr_assert_eq(opcomp_compress(m, len, comps[i], &cs[i], &clens[i]), WIRE_OK);
	const bool limited = limit_address_space(16);
	for (size_t i = 0; i < sizeof comps; i++) {
		uint8_t *d = NULL;
		size_t dlen;
		struct opcomp_view v;

		wire_store_i32(cs[i] + 20, 40 * 1000 * 1000);
		cr_assert_eq(opcomp_parse(cs[i], clens[i], WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_OK);
		cr_assert_eq(opcomp_decompress(&v, &d, &dlen), WIRE_ERR_DECOMPRESS,
			     "%s (address space limited: %d)", opcomp_name(comps[i]), limited);
		free(cs[i]);
	}
	free(m);
}

/* Real bombs: 64 MiB of zeros compressed, claiming 1000 bytes. */
Test(opcomp, rejects_bombs_without_inflating_them)
{
	const size_t big = 64u << 20;
	uint8_t *zeros = calloc(1, big);
	size_t zlen = compressBound(big), slen = snappy_max_compressed_length(big);
	size_t zslen = ZSTD_compressBound(big);
	uint8_t *z = malloc(zlen), *s = malloc(slen), *zs = malloc(zslen);
	uLongf zl = zlen;

	cr_assert(zeros && z && s && zs);
	cr_assert_eq(compress2(z, &zl, zeros, big, 9), Z_OK);
	cr_assert_eq(snappy_compress((const char *)zeros, big, (char *)s, &slen), SNAPPY_OK);
	zslen = ZSTD_compress(zs, zslen, zeros, big, 3);
	cr_assert_not(ZSTD_isError(zslen));
	free(zeros);

	const struct { uint8_t comp; const uint8_t *data; size_t n; } bombs[] = {
		{WIRE_COMP_ZLIB, z, zl}, {WIRE_COMP_SNAPPY, s, slen}, {WIRE_COMP_ZSTD, zs, zslen},
	};
	const bool limited = limit_address_space(16);
	for (size_t i = 0; i < 3; i++) {
		struct tbuf head;
		uint8_t *msg = malloc(25 + bombs[i].n), *d = NULL;
		size_t dlen;
		struct opcomp_view v;

		cr_assert_not_null(msg);
		comp_msg(&head, WIRE_OP_MSG, 1000, bombs[i].comp, "", 0);
		memcpy(msg, head.b, 25);
		memcpy(msg + 25, bombs[i].data, bombs[i].n);
		wire_store_i32(msg, (int32_t)(25 + bombs[i].n));
		cr_assert_eq(opcomp_parse(msg, 25 + bombs[i].n, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_OK);
		cr_assert_eq(opcomp_decompress(&v, &d, &dlen), WIRE_ERR_DECOMPRESS,
			     "%s (address space limited: %d)", opcomp_name(bombs[i].comp), limited);
		free(msg);
	}
	free(z);
	free(s);
	free(zs);
}

/* Zeros compress close to deflate's 1032:1 limit; the bomb guard must still
 * let such honest data through. */
Test(opcomp, zlib_at_maximum_ratio_is_accepted)
{
	struct tbuf head;
	const size_t n = 4u << 20;
	uint8_t *zeros = calloc(1, n);
	uLongf zl = compressBound(n);
	uint8_t *z = malloc(zl), *d = NULL;
	size_t dlen;
	struct opcomp_view v;

	cr_assert(zeros && z);
	cr_assert_eq(compress2(z, &zl, zeros, n, 9), Z_OK);
	cr_assert_gt(n / zl, 1000, "ratio %zu", (size_t)(n / zl));
	comp_msg(&head, WIRE_OP_MSG, (int32_t)n, WIRE_COMP_ZLIB, "", 0);
	uint8_t *msg = malloc(25 + zl);
	cr_assert_not_null(msg);
	memcpy(msg, head.b, 25);
	memcpy(msg + 25, z, zl);
	wire_store_i32(msg, (int32_t)(25 + zl));
	cr_assert_eq(opcomp_parse(msg, 25 + zl, WIRE_MAX_MESSAGE_DEFAULT, &v), WIRE_OK);
	cr_assert_eq(opcomp_decompress(&v, &d, &dlen), WIRE_OK);
	cr_assert_eq(dlen, 16 + n);
	cr_assert_eq(memcmp(d + 16, zeros, n), 0);
	free(d);
	free(msg);
	free(z);
	free(zeros);
}

/* A zstd frame without a content size is still checked: it must decompress
 * to exactly the stated size. */
Test(opcomp, zstd_frame_without_content_size)
{
	size_t len;
	uint8_t *m = sample_msg(&len);
	const size_t cap = ZSTD_compressBound(len - 16);
	uint8_t *frame = malloc(cap), *d = NULL;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	struct tbuf t;

	cr_assert(frame && cctx);
	cr_assert_not(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
	const size_t n = ZSTD_compress2(cctx, frame, cap, m + 16, len - 16);
	cr_assert_not(ZSTD_isError(n));
	cr_assert_eq(ZSTD_getFrameContentSize(frame, n), ZSTD_CONTENTSIZE_UNKNOWN);

	size_t dlen;
	comp_msg(&t, WIRE_OP_MSG, (int32_t)(len - 16), WIRE_COMP_ZSTD, frame, n);
	cr_assert_eq(parse_and_decompress(&t, &d, &dlen), WIRE_OK);
	cr_assert_eq(dlen, len);
	cr_assert_eq(memcmp(d + 16, m + 16, len - 16), 0);
	free(d);
	d = NULL;
	comp_msg(&t, WIRE_OP_MSG, (int32_t)(len - 17), WIRE_COMP_ZSTD, frame, n);
	cr_assert_eq(parse_and_decompress(&t, &d, &dlen), WIRE_ERR_DECOMPRESS);
	comp_msg(&t, WIRE_OP_MSG, (int32_t)(len - 15), WIRE_COMP_ZSTD, frame, n);
	cr_assert_eq(parse_and_decompress(&t, &d, &dlen), WIRE_ERR_DECOMPRESS);
	ZSTD_freeCCtx(cctx);
	free(frame);
	free(m);
}
