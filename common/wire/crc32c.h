/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of OP_MSG's checksumPresent.
 */
#ifndef TANDEM_CRC32C_H
#define TANDEM_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extend crc (start with 0) over len bytes of data; returns the new CRC. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The portable table-driven implementation (same result); for tests. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t len);

/* Whether crc32c() uses the CPU's SSE4.2 crc32 instruction. */
bool crc32c_hw_available(void);

#endif
