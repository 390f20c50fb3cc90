/*
 * jsonesc.h - escaping bytes into a JSON string, the one way tandem does it
 * (log lines, the shadow-mismatch line, jsonb parameters of pushed-down
 * filters).
 *
 * Whatever the input, the output is valid JSON and valid UTF-8:
 *   "  \        ->  \"  \\
 *   newline     ->  \n
 *   other bytes below 0x20, and 0x7f  ->  \u00XX (lowercase hex)
 *   valid UTF-8 sequences (utf8.h)    ->  copied unchanged
 *   bytes that are not valid UTF-8    ->  \u00XX, one per byte
 * (so an invalid byte 0xff reads back as U+00FF: the line stays parseable;
 * the original bytes are not recoverable from it).
 *
 * Output never splits an escape or a UTF-8 sequence: when dst is too small
 * the text stops before the first piece that does not fit.
 */
#ifndef TANDEM_JSONESC_H
#define TANDEM_JSONESC_H

#include <stddef.h>

/* dst capacity that always holds the escaped body of len input bytes and
 * its NUL (an input byte becomes at most 6 bytes). */
#define JSONESC_CAP(len) (6 * (size_t)(len) + 1)

/* Write s[0..len) to dst as a JSON string body (no quotes).  Returns the
 * bytes written, never more than cap - 1; dst is NUL-terminated when
 * cap > 0 (cap == 0 writes nothing and returns 0). */
size_t jsonesc_str(char *dst, size_t cap, const char *s, size_t len);

/* The same between double quotes: '"' body '"' NUL, the body cut to fit
 * cap - 3 bytes (JSONESC_CAP(len) + 2 always holds it).  cap must be >= 3.
 * Returns the bytes written, quotes included. */
size_t jsonesc_quoted(char *dst, size_t cap, const char *s, size_t len);

#endif
