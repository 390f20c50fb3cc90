/*
 * test_crc32c.c - CRC-32C against published vectors (the "123456789" check
 * value and RFC 3720's iSCSI examples), incremental use, and agreement of the
 * hardware and table implementations on every length and alignment.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "crc32c.h"

Test(crc32c, check_value_123456789)
{
	cr_assert_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(crc32c_sw(0, "123456789", 9), 0xE3069283u);
}

Test(crc32c, empty_input_is_zero)
{
	cr_assert_eq(crc32c(0, "", 0), 0u);
	cr_assert_eq(crc32c(0x12345678u, "", 0), 0x12345678u);
}

/* RFC 3720, appendix B.4. */
Test(crc32c, rfc3720_vectors)
{
	uint8_t buf[32];

	memset(buf, 0, sizeof buf);
	cr_assert_eq(crc32c(0, buf, sizeof buf), 0x8A9136AAu);
	memset(buf, 0xff, sizeof buf);
	cr_assert_eq(crc32c(0, buf, sizeof buf), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	cr_assert_eq(crc32c(0, buf, sizeof buf), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	cr_assert_eq(crc32c(0, buf, sizeof buf), 0x113FDB5Cu);
	cr_assert_eq(crc32c_sw(0, buf, sizeof buf), 0x113FDB5Cu);
}

Test(crc32c, incremental_equals_one_shot)
{
	const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
	const size_t n = strlen(s);
	const uint32_t whole = crc32c(0, s, n);

	for (size_t cut = 0; cut <= n; cut++) {
		cr_assert_eq(crc32c(crc32c(0, s, cut), s + cut, n - cut), whole, "cut %zu", cut);
		cr_assert_eq(crc32c_sw(crc32c_sw(0, s, cut), s + cut, n - cut), whole);
	}
}

Test(crc32c, hardware_and_table_agree)
{
	static uint8_t buf[1024 + 8];
	uint32_t x = 0x9E3779B9u;

	for (size_t i = 0; i < sizeof buf; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 1024; len += (len < 64 ? 1 : 37))
			cr_assert_eq(crc32c(0, buf + off, len), crc32c_sw(0, buf + off, len),
				     "off %zu len %zu (hw %d)", off, len, crc32c_hw_available());
}

Test(crc32c, detects_every_single_bit_flip)
{
	uint8_t buf[64];

	for (int i = 0; i < 64; i++)
		buf[i] = (uint8_t)(i * 7);
	const uint32_t good = crc32c(0, buf, sizeof buf);
	for (int bit = 0; bit < 64 * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_neq(crc32c(0, buf, sizeof buf), good, "bit %d", bit);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}
