/*
 * utf8.h - strict UTF-8 validation, the one validator tandem uses.
 *
 * Strict as PostgreSQL's server encoding: no overlong forms (C0 80,
 * E0 80 80, F0 80 80 80), no surrogates (ED A0 80 .. ED BF BF), nothing
 * above U+10FFFF (F4 90 80 80 and up), no stray continuation bytes, no
 * truncated sequences.  NUL is valid UTF-8: callers that cannot hold it
 * (C strings, PostgreSQL text) check for it themselves.
 *
 * Pure functions; they never read past the length given.
 */
#ifndef TANDEM_UTF8_H
#define TANDEM_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at p[0..left), or 0 when the
 * bytes there are not one (or left is 0). */
size_t utf8_seq_len(const void *p, size_t left) __attribute__((warn_unused_result));

/* Whether s[0..n) is entirely valid UTF-8 (true for n == 0). */
bool utf8_valid(const void *s, size_t n) __attribute__((warn_unused_result));

#endif
