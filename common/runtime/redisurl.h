/*
 * redisurl.h - the one parser of Redis URLs (config key `redis`, tandemctl
 * --redis, $TANDEM_REDIS).  Every Redis connection tandem opens (flag cache,
 * durable queue, mismatch lists, tandemctl) starts from a struct redisurl,
 * so all of them reach the same server, authenticate the same way and use
 * the same database.
 *
 *   redis://[USER:PASSWORD@]HOST[:PORT][/DB]
 *     HOST   a name, an IPv4 address or an IPv6 address in brackets ([::1])
 *     PORT   1..65535, default 6379
 *     DB     0..REDISURL_DB_MAX, default 0 ("/" alone is db 0)
 *     USER:PASSWORD  AUTH USER PASSWORD (Redis 6 ACL); ":PASSWORD" alone is
 *            AUTH PASSWORD.  '%XX' escapes are decoded in both.
 *
 * No query string, fragment, rediss:// (TLS) or unix:// socket: no caller
 * has supported them, and they are refused with a reason rather than
 * half-parsed.  Pure and bounded: no allocation, nothing read past the
 * terminating NUL, every part length-checked against its buffer.  The
 * connection itself is redisconn_open (common/queue/redisconn.h), which
 * keeps hiredis out of this library.
 */
#ifndef TANDEM_REDISURL_H
#define TANDEM_REDISURL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REDISURL_MAX 1024          /* longest URL accepted */
#define REDISURL_HOST_MAX 255      /* bytes of HOST, brackets excluded */
#define REDISURL_USER_MAX 127      /* bytes of USER after %XX decoding */
#define REDISURL_PASSWORD_MAX 511  /* bytes of PASSWORD after %XX decoding */
#define REDISURL_DB_MAX 1000000
#define REDISURL_DEFAULT_PORT 6379

struct redisurl {
	char host[REDISURL_HOST_MAX + 1];         /* without the IPv6 brackets */
	uint16_t port;
	int db;
	char user[REDISURL_USER_MAX + 1];         /* "" = none */
	char password[REDISURL_PASSWORD_MAX + 1]; /* "" = no AUTH */
};

/* Parse url into *out.  On failure *out is unspecified and err (may be
 * NULL) holds "redis URL '<url>': <reason>" with the password masked. */
bool redisurl_parse(const char *url, struct redisurl *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* u as a URL for messages: "redis://[USER:***@]HOST:PORT[/DB]" (IPv6 in
 * brackets, the password never shown, "/DB" only when not 0). */
void redisurl_show(const struct redisurl *u, char *buf, size_t len);

#endif
