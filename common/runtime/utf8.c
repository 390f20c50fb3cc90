/*
 * utf8.c - strict UTF-8 validation (see utf8.h).
 *
 * The lead byte fixes the length and the range its first continuation
 * byte may take (Unicode's table of well-formed byte sequences); that one
 * range check rules out overlongs, surrogates and values past U+10FFFF:
 *
 *   00..7F                    1 byte
 *   C2..DF  80..BF            2
 *   E0      A0..BF  80..BF    3   (E0 80..9F would be overlong)
 *   E1..EC  80..BF  80..BF
 *   ED      80..9F  80..BF        (ED A0..BF: surrogates)
 *   EE..EF  80..BF  80..BF
 *   F0      90..BF  80..BF x2 4   (F0 80..8F would be overlong)
 *   F1..F3  80..BF  80..BF x2
 *   F4      80..8F  80..BF x2     (F4 90..: above U+10FFFF)
 */
#include "utf8.h"

#include <stdint.h>

size_t utf8_seq_len(const void *p, size_t left)
{
	const uint8_t *s = p;
	uint8_t c, lo = 0x80, hi = 0xbf;
	size_t n;

	if (left == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (left < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

bool utf8_valid(const void *s, size_t n)
{
	const uint8_t *p = s;

	for (size_t i = 0, k; i < n; i += k) {
		if (p[i] < 0x80)
			k = 1; /* the common case, without the call */
		else if (!(k = utf8_seq_len(p + i, n - i)))
			return false;
	}
	return true;
}
