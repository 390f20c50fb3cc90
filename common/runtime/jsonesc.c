/*
 * jsonesc.c - JSON string escaping (rules in jsonesc.h).
 *
 * One pass over the input: each byte (or whole valid UTF-8 sequence)
 * becomes one piece of at most 6 bytes, built in a small buffer and
 * copied only when it fits, so a cut never lands inside a piece.
 */
#include "jsonesc.h"

#include <string.h>

#include "utf8.h"

size_t jsonesc_str(char *dst, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t n = 0;

		if (c == '"' || c == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)c;
		} else if (c == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (c >= 0x80 && (n = utf8_seq_len(s + i, len - i))) {
			memcpy(esc, s + i, n);   /* valid UTF-8 passes through */
			i += n - 1;
		} else if (c < 0x20 || c >= 0x7f) {
			/* Control bytes and bytes that are not UTF-8: \u00XX keeps the
			 * text valid JSON whatever bytes a client sent. */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		} else {
			esc[n++] = (char)c;
		}
		if (o + n >= cap)
			break;
		memcpy(dst + o, esc, n);
		o += n;
	}
	dst[o] = '\0';
	return o;
}

size_t jsonesc_quoted(char *dst, size_t cap, const char *s, size_t len)
{
	size_t o;

	dst[0] = '"';
	o = 1 + jsonesc_str(dst + 1, cap - 2, s, len);
	dst[o++] = '"';
	dst[o] = '\0';
	return o;
}
