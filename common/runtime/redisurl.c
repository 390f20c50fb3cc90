/*
 * redisurl.c - parse redis://[USER:PASSWORD@]HOST[:PORT][/DB] (grammar in
 * redisurl.h).
 *
 *   "redis://" | userinfo "@" | host | ":" port | "/" db
 *               last '@' of the authority (up to the first '/')
 *
 * Each part is a (pointer, length) view of the caller's string, checked
 * and then copied into its fixed-size field; error texts name the part and
 * never show the password.
 */
#include "redisurl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"

#define REDISURL_SCHEME "redis://"

/* url as shown in errors: at most 200 bytes, the password as "***". */
static void redisurl_shown(const char *url, char *buf, size_t len)
{
	const char *auth = strncmp(url, REDISURL_SCHEME, strlen(REDISURL_SCHEME)) ? url
			   : url + strlen(REDISURL_SCHEME);
	size_t alen = strcspn(auth, "/");
	const char *at = NULL, *colon;

	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon)
		snprintf(buf, len, "%.*s:***%.150s", (int)(colon - url), url, at);
	else
		snprintf(buf, len, "%.200s", url);
}

static bool redisurl_fail(const char *url, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool redisurl_fail(const char *url, char *err, size_t errlen, const char *fmt, ...)
{
	char shown[256], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	redisurl_shown(url, shown, sizeof(shown));
	return errbuf_fail(err, errlen, "redis URL '%s': %s", shown, why);
}

static int redisurl_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the n bytes at s (%XX escapes) into out[cap]; false on a bad or
 * NUL escape or when the result does not fit. */
static bool redisurl_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++, o++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < n ? redisurl_hex(s[i + 1]) : -1;
			int lo = hi >= 0 ? redisurl_hex(s[i + 2]) : -1;
			if (lo < 0 || (hi == 0 && lo == 0))
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return false;
		out[o] = c;
	}
	out[o] = '\0';
	return true;
}

/* Digits only, at most maxdigits of them, value in [min, max]. */
static bool redisurl_number(const char *s, size_t n, size_t maxdigits, long min, long max, long *out)
{
	long v = 0;

	if (n == 0 || n > maxdigits)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return v >= min && v <= max;
}

/* Characters of a host name or IPv4 address, or (bracketed) of IPv6. */
static bool redisurl_host_ok(const char *h, size_t n, bool v6)
{
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
			  c == '.' || (v6 ? c == ':' : ((c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') ||
							c == '-' || c == '_'));
		if (!ok)
			return false;
	}
	return !v6 || memchr(h, ':', n) != NULL;
}

/* USER:PASSWORD (the bytes before the last '@'). */
static bool redisurl_userinfo(const char *url, const char *s, size_t n, struct redisurl *u, char *err,
			      size_t errlen)
{
	const char *colon = memchr(s, ':', n);

	if (!colon)
		return redisurl_fail(url, err, errlen, "expected USER:PASSWORD@ or :PASSWORD@ before the host");
	size_t ul = (size_t)(colon - s);
	if (!redisurl_decode(s, ul, u->user, sizeof(u->user)))
		return redisurl_fail(url, err, errlen, "user: bad %%XX escape or longer than %d bytes",
				     REDISURL_USER_MAX);
	if (!redisurl_decode(colon + 1, n - ul - 1, u->password, sizeof(u->password)))
		return redisurl_fail(url, err, errlen, "password: bad %%XX escape or longer than %d bytes",
				     REDISURL_PASSWORD_MAX);
	if (!u->password[0])
		return redisurl_fail(url, err, errlen, "empty password");
	return true;
}

/* HOST[:PORT] or [V6][:PORT]. */
static bool redisurl_hostport(const char *url, const char *s, size_t n, struct redisurl *u, char *err,
			      size_t errlen)
{
	const char *host = s, *port = NULL;
	size_t hl = n;
	bool v6 = n && s[0] == '[';

	if (v6) {
		const char *close = memchr(s, ']', n);
		if (!close)
			return redisurl_fail(url, err, errlen, "unterminated '[' in the host");
		host = s + 1;
		hl = (size_t)(close - host);
		if (close + 1 < s + n && close[1] != ':')
			return redisurl_fail(url, err, errlen, "unexpected text after ']'");
		port = close + 1 < s + n ? close + 2 : NULL;
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon && memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
			return redisurl_fail(url, err, errlen, "an IPv6 address goes in brackets ([::1])");
		hl = colon ? (size_t)(colon - s) : n;
		port = colon ? colon + 1 : NULL;
	}
	if (hl == 0)
		return redisurl_fail(url, err, errlen, "no host");
	if (hl > REDISURL_HOST_MAX)
		return redisurl_fail(url, err, errlen, "host longer than %d bytes", REDISURL_HOST_MAX);
	if (!redisurl_host_ok(host, hl, v6))
		return redisurl_fail(url, err, errlen, "'%.*s' is not a host name or %s address", (int)hl,
				     host, v6 ? "IPv6" : "IPv4");
	memcpy(u->host, host, hl);
	u->host[hl] = '\0';
	u->port = REDISURL_DEFAULT_PORT;
	if (port) {
		size_t pl = n - (size_t)(port - s);
		long p;
		if (!redisurl_number(port, pl, 5, 1, 65535, &p))
			return redisurl_fail(url, err, errlen, "port '%.*s' is not a number from 1 to 65535",
					     (int)pl, port);
		u->port = (uint16_t)p;
	}
	return true;
}

void redisurl_show(const struct redisurl *u, char *buf, size_t len)
{
	bool v6 = strchr(u->host, ':') != NULL;
	char db[16] = "";

	if (u->db)
		snprintf(db, sizeof(db), "/%d", u->db);
	snprintf(buf, len, REDISURL_SCHEME "%s%s%s%s%s:%u%s", u->user, u->password[0] ? ":***@" : "",
		 v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, db);
}

bool redisurl_parse(const char *url, struct redisurl *u, char *err, size_t errlen)
{
	const size_t sl = strlen(REDISURL_SCHEME);

	memset(u, 0, sizeof(*u));
	if (!url || !*url)
		return errbuf_fail(err, errlen, "redis URL '': empty (expected redis://HOST[:PORT][/DB])");
	if (strnlen(url, REDISURL_MAX + 1) > REDISURL_MAX)
		return redisurl_fail(url, err, errlen, "longer than %d bytes", REDISURL_MAX);
	if (!strncmp(url, "rediss://", 9))
		return redisurl_fail(url, err, errlen, "TLS (rediss://) is not supported");
	if (!strncmp(url, "unix://", 7))
		return redisurl_fail(url, err, errlen, "unix sockets are not supported (use redis://HOST:PORT)");
	if (strncmp(url, REDISURL_SCHEME, sl))
		return redisurl_fail(url, err, errlen, "expected redis://HOST[:PORT][/DB]");
	const char *auth = url + sl;
	if (strpbrk(auth, "?#"))
		return redisurl_fail(url, err, errlen, "query strings and fragments are not supported");
	size_t alen = strcspn(auth, "/");
	const char *at = NULL;
	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (at && !redisurl_userinfo(url, auth, (size_t)(at - auth), u, err, errlen))
		return false;
	const char *hp = at ? at + 1 : auth;
	if (!redisurl_hostport(url, hp, alen - (size_t)(hp - auth), u, err, errlen))
		return false;
	const char *db = auth[alen] == '/' ? auth + alen + 1 : "";
	long d = 0;
	if (*db && !redisurl_number(db, strlen(db), 7, 0, REDISURL_DB_MAX, &d))
		return redisurl_fail(url, err, errlen, "database '%.20s' is not a number from 0 to %d", db,
				     REDISURL_DB_MAX);
	u->db = (int)d;
	return true;
}
