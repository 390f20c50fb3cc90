/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum OP_MSG carries when checksumPresent is set.
 *
 * Two implementations give the same answer:
 *   - crc32c_sw: table-driven, slicing-by-8 (eight 256-entry tables built
 *     once, thread-safe through pthread_once);
 *   - on x86-64 CPUs with SSE4.2, the crc32 instruction, chosen at run time.
 * crc32c() picks one; crc32c_sw() is exported so tests can compare them.
 *
 * Convention: crc32c(0, "123456789", 9) == 0xE3069283, and
 * crc32c(crc32c(0, a, n), b, m) equals the CRC of a followed by b.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

static void crc32c_table_build(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		crc32c_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = crc32c_table[0][i];
		for (int t = 1; t < 8; t++) {
			c = (c >> 8) ^ crc32c_table[0][c & 0xffu];
			crc32c_table[t][i] = c;
		}
	}
}

/* Little-endian 32-bit load that works on unaligned pointers. */
static inline uint32_t crc32c_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;

	pthread_once(&crc32c_table_once, crc32c_table_build);
	while (len >= 8) {
		uint32_t lo = crc32c_le32(p) ^ c;
		uint32_t hi = crc32c_le32(p + 4);
		c = crc32c_table[7][lo & 0xff] ^ crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^ crc32c_table[4][lo >> 24] ^
		    crc32c_table[3][hi & 0xff] ^ crc32c_table[2][(hi >> 8) & 0xff] ^
		    crc32c_table[1][(hi >> 16) & 0xff] ^ crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xffu];
	return ~c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_HW 1

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *data,
							    size_t len)
{
	const uint8_t *p = data;
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof w); /* x86 is little-endian; memcpy is unaligned-safe */
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

bool crc32c_hw_available(void)
{
#ifdef CRC32C_HAVE_HW
	return __builtin_cpu_supports("sse4.2");
#else
	return false;
#endif
}

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
#ifdef CRC32C_HAVE_HW
	if (__builtin_cpu_supports("sse4.2"))
		return crc32c_hw(crc, data, len);
#endif
	return crc32c_sw(crc, data, len);
}
