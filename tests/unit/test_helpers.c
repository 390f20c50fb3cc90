/*
 * test_helpers.c - the small shared helpers of common/runtime: hash.h
 * (FNV-1a and SipHash-2-4 known answers, incremental = one call),
 * clock.h, utf8.h and jsonesc.h (the bytes log lines and the mismatch
 * line rely on).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "hash.h"
#include "jsonesc.h"
#include "utf8.h"

/* ---- hash ---- */

Test(hash, fnv1a_known_values)
{
	cr_expect_eq(hash_fnv1a64_add(HASH_FNV1A64_INIT, "", 0), 0xcbf29ce484222325ull);
	cr_expect_eq(hash_fnv1a64_add(HASH_FNV1A64_INIT, "a", 1), 0xaf63dc4c8601ec8cull);
	cr_expect_eq(hash_fnv1a64_add(HASH_FNV1A64_INIT, "foobar", 6), 0x85944171f73967e8ull);
	cr_expect_eq(hash_fnv1a32_add(HASH_FNV1A32_INIT, "", 0), 0x811c9dc5u);
	cr_expect_eq(hash_fnv1a32_add(HASH_FNV1A32_INIT, "a", 1), 0xe40c292cu);
	cr_expect_eq(hash_fnv1a32_add(HASH_FNV1A32_INIT, "foobar", 6), 0xbf9cf968u);
}

Test(hash, fnv1a_folds_fields)
{
	uint64_t h = hash_fnv1a64_add(HASH_FNV1A64_INIT, "foo", 3);

	cr_expect_eq(hash_fnv1a64_add(h, "bar", 3), hash_fnv1a64_add(HASH_FNV1A64_INIT, "foobar", 6));
}

static uint64_t sip_ref(size_t n)
{
	uint8_t key[16], msg[64];
	struct hash_sip st;

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (size_t i = 0; i < n; i++)
		msg[i] = (uint8_t)i;
	hash_sip_init_key(&st, key);
	hash_sip_add(&st, msg, n);
	return hash_sip_end(&st);
}

/* The SipHash paper's vectors: key 00..0f, message 00..(n-1). */
Test(hash, siphash_known_answers)
{
	cr_expect_eq(sip_ref(0), 0x726fdb47dd0e0e31ull);
	cr_expect_eq(sip_ref(15), 0xa129ca6149be45e5ull);
}

Test(hash, siphash_any_split_gives_the_same_value)
{
	uint8_t key[16] = {0}, msg[40];
	struct hash_sip whole, parts;

	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	hash_sip_init_key(&whole, key);
	hash_sip_add(&whole, msg, sizeof msg);
	uint64_t want = hash_sip_end(&whole);
	for (size_t a = 0; a <= sizeof msg; a++) {
		for (size_t b = a; b <= sizeof msg; b += 3) {
			hash_sip_init_key(&parts, key);
			hash_sip_add(&parts, msg, a);
			hash_sip_add(&parts, msg + a, b - a);
			hash_sip_add(&parts, msg + b, sizeof msg - b);
			cr_assert_eq(hash_sip_end(&parts), want, "split at %zu and %zu", a, b);
		}
	}
}

Test(hash, siphash_process_key_is_stable_and_secret)
{
	struct hash_sip st;
	uint8_t zero[16] = {0};

	cr_expect_eq(hash_sip("tenant", 6), hash_sip("tenant", 6));
	cr_expect_neq(hash_sip("tenant", 6), hash_sip("tenanu", 6));
	hash_sip_init(&st);
	hash_sip_add(&st, "tenant", 6);
	cr_expect_eq(hash_sip_end(&st), hash_sip("tenant", 6));
	hash_sip_init_key(&st, zero);
	hash_sip_add(&st, "tenant", 6);
	cr_expect_neq(hash_sip_end(&st), hash_sip("tenant", 6), "the process key is not all zero");
}

/* ---- clock ---- */

Test(clock, monotonic_never_decreases)
{
	uint64_t us = clock_mono_us(), ms = clock_mono_ms();

	for (int i = 0; i < 10000; i++) {
		uint64_t us2 = clock_mono_us(), ms2 = clock_mono_ms();
		cr_assert_geq(us2, us);
		cr_assert_geq(ms2, ms);
		us = us2;
		ms = ms2;
	}
	cr_expect_leq(clock_mono_ms() - clock_mono_us() / 1000, 1);
}

Test(clock, wall_agrees_with_time)
{
	uint64_t before = (uint64_t)time(NULL);
	uint64_t ms = clock_wall_ms(), ns = clock_wall_ns();
	uint64_t after = (uint64_t)time(NULL);

	cr_expect_geq(ms / 1000 + 1, before);
	cr_expect_leq(ms / 1000, after + 1);
	cr_expect_leq(ns / 1000000 - ms, 1000);
}

Test(clock, wall_after_is_normalised)
{
	uint64_t now = clock_wall_ms();
	struct timespec ts = clock_wall_after(1999);
	uint64_t at = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

	cr_expect(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
	cr_expect_geq(at, now + 1999);
	cr_expect_leq(at, now + 1999 + 1000);
}

/* ---- utf8 ---- */

#define SEQ(s) utf8_seq_len(s, sizeof(s) - 1)
#define VALID(s) utf8_valid(s, sizeof(s) - 1)

Test(utf8, sequence_lengths)
{
	cr_expect_eq(SEQ("a"), 1);
	cr_expect_eq(utf8_seq_len("\0", 1), 1);
	cr_expect_eq(SEQ("\xc3\xa9"), 2);             /* é */
	cr_expect_eq(SEQ("\xe6\x97\xa5"), 3);         /* 日 */
	cr_expect_eq(SEQ("\xf0\x9f\x90\x98"), 4);     /* 🐘 */
	cr_expect_eq(SEQ("\xf4\x8f\xbf\xbf"), 4);     /* U+10FFFF */
	cr_expect_eq(SEQ("\xed\x9f\xbf"), 3);         /* U+D7FF */
	cr_expect_eq(SEQ("\xee\x80\x80"), 3);         /* U+E000 */
	cr_expect_eq(utf8_seq_len("a", 0), 0);
}

Test(utf8, rejects_what_postgresql_rejects)
{
	cr_expect_eq(SEQ("\xc0\x80"), 0);             /* overlong NUL */
	cr_expect_eq(SEQ("\xc1\xbf"), 0);             /* overlong */
	cr_expect_eq(SEQ("\xe0\x9f\xbf"), 0);         /* overlong 3-byte */
	cr_expect_eq(SEQ("\xf0\x8f\xbf\xbf"), 0);     /* overlong 4-byte */
	cr_expect_eq(SEQ("\xed\xa0\x80"), 0);         /* surrogate U+D800 */
	cr_expect_eq(SEQ("\xed\xbf\xbf"), 0);         /* surrogate U+DFFF */
	cr_expect_eq(SEQ("\xf4\x90\x80\x80"), 0);     /* U+110000 */
	cr_expect_eq(SEQ("\xf5\x80\x80\x80"), 0);
	cr_expect_eq(SEQ("\xff"), 0);
	cr_expect_eq(SEQ("\x80"), 0);                 /* stray continuation */
	cr_expect_eq(SEQ("\xc3"), 0);                 /* truncated */
	cr_expect_eq(utf8_seq_len("\xe6\x97\xa5", 2), 0); /* cut by the length */
	cr_expect_eq(SEQ("\xe6\x97\x41"), 0);         /* bad continuation */
}

Test(utf8, whole_buffers)
{
	cr_expect(utf8_valid("", 0));
	cr_expect(VALID("plain ascii"));
	cr_expect(VALID("\xc3\xa9t\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x90\x98"));
	cr_expect(VALID("a\0b"));
	cr_expect_not(VALID("ok\xc0\x80"));
	cr_expect_not(VALID("\xed\xa0\x80ok"));
	cr_expect_not(VALID("ok\xf4\x90\x80\x80"));
	cr_expect_not(VALID("ok\xe6\x97"));
}

/* ---- jsonesc ---- */

static const char *esc(const char *s, size_t len)
{
	static char out[256];

	jsonesc_str(out, sizeof out, s, len);
	return out;
}

Test(jsonesc, quotes_backslashes_and_controls)
{
	cr_expect_str_eq(esc("a\"b\\c\n", 6), "a\\\"b\\\\c\\n");
	cr_expect_str_eq(esc("\x01\t\r\x1f\x7f", 5), "\\u0001\\u0009\\u000d\\u001f\\u007f");
	cr_expect_str_eq(esc("a\0b", 3), "a\\u0000b");
	cr_expect_str_eq(esc("/<>", 3), "/<>");
}

Test(jsonesc, valid_utf8_passes_invalid_bytes_become_u00xx)
{
	cr_expect_str_eq(esc("\xc3\xa9t\xc3\xa9", 5), "\xc3\xa9t\xc3\xa9");
	cr_expect_str_eq(esc("\xf0\x9f\x90\x98", 4), "\xf0\x9f\x90\x98");
	cr_expect_str_eq(esc("\xff", 1), "\\u00ff");
	cr_expect_str_eq(esc("\xc0\x80", 2), "\\u00c0\\u0080");
	cr_expect_str_eq(esc("\xed\xa0\x80", 3), "\\u00ed\\u00a0\\u0080");
	cr_expect_str_eq(esc("\xf4\x90\x80\x80", 4), "\\u00f4\\u0090\\u0080\\u0080");
	cr_expect_str_eq(esc("\xc3", 1), "\\u00c3");
}

Test(jsonesc, cuts_only_between_pieces)
{
	char out[8];

	cr_expect_eq(jsonesc_str(out, 4, "a\xe6\x97\xa5", 4), 1);
	cr_expect_str_eq(out, "a");
	cr_expect_eq(jsonesc_str(out, 6, "ab\x01", 3), 2);  /* \u0001 does not fit */
	cr_expect_str_eq(out, "ab");
	cr_expect_eq(jsonesc_str(out, 0, "a", 1), 0);
	cr_expect_eq(jsonesc_str(out, 1, "a", 1), 0);
	cr_expect_str_eq(out, "");
}

Test(jsonesc, quoted)
{
	char out[JSONESC_CAP(4) + 2];

	cr_expect_eq(jsonesc_quoted(out, sizeof out, "a\"\xff", 3), 11);
	cr_expect_str_eq(out, "\"a\\\"\\u00ff\"");
	cr_expect_eq(jsonesc_quoted(out, sizeof out, "", 0), 2);
	cr_expect_str_eq(out, "\"\"");
	cr_expect_eq(jsonesc_quoted(out, 5, "abcd", 4), 4);   /* body cut to 2 */
	cr_expect_str_eq(out, "\"ab\"");
}
