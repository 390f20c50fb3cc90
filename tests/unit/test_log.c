/*
 * test_log.c - JSON escaping of log values: valid UTF-8 passes through,
 * everything else is escaped so a line stays valid JSON.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "log.h"

static const char *esc(const char *s, size_t len)
{
	static char out[256];

	log_json_escape(out, sizeof(out), s, len);
	return out;
}

Test(log, escapes_quotes_controls_and_keeps_utf8)
{
	cr_expect_str_eq(esc("a\"b\\c\n", 6), "a\\\"b\\\\c\\n");
	cr_expect_str_eq(esc("\x01", 1), "\\u0001");
	cr_expect_str_eq(esc("\xc3\xa9t\xc3\xa9", 5), "\xc3\xa9t\xc3\xa9");              /* été */
	cr_expect_str_eq(esc("\xe6\x97\xa5", 3), "\xe6\x97\xa5");                        /* 日 */
	cr_expect_str_eq(esc("\xf0\x9f\x90\x98", 4), "\xf0\x9f\x90\x98");                /* 🐘 */
}

Test(log, escapes_bytes_that_are_not_utf8)
{
	cr_expect_str_eq(esc("\xff", 1), "\\u00ff");
	cr_expect_str_eq(esc("\xc0\x80", 2), "\\u00c0\\u0080");          /* overlong NUL */
	cr_expect_str_eq(esc("\xed\xa0\x80", 3), "\\u00ed\\u00a0\\u0080"); /* surrogate */
	cr_expect_str_eq(esc("\xc3", 1), "\\u00c3");                      /* truncated */
	cr_expect_str_eq(esc("\xf4\x90\x80\x80", 4), "\\u00f4\\u0090\\u0080\\u0080"); /* > U+10FFFF */
}

Test(log, never_cuts_a_sequence)
{
	char out[4];

	log_json_escape(out, sizeof(out), "a\xe6\x97\xa5", 4);
	cr_expect_str_eq(out, "a");
}
