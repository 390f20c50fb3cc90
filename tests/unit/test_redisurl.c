/*
 * test_redisurl.c - the one Redis URL parser (common/runtime/redisurl.c):
 * hosts (name, IPv4, bracketed IPv6), default and explicit port, database,
 * USER:PASSWORD with %XX escapes, the masked display form, and the inputs
 * it must refuse with a reason (scheme, port and db ranges, brackets,
 * lengths, options).
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "redisurl.h"

static struct redisurl parse_ok(const char *url)
{
	struct redisurl u;
	char err[512] = "";

	cr_assert(redisurl_parse(url, &u, err, sizeof(err)), "'%s' refused: %s", url, err);
	return u;
}

/* url is refused and the error contains want. */
static void refused(const char *url, const char *want)
{
	struct redisurl u;
	char err[512] = "";

	cr_assert_not(redisurl_parse(url, &u, err, sizeof(err)), "'%s' accepted", url ? url : "(null)");
	cr_assert(strstr(err, "redis URL '"), "'%s': error '%s' does not name the URL", url, err);
	cr_assert(strstr(err, want), "'%s': error '%s' does not contain '%s'", url, err, want);
}

Test(redisurl, ipv4_with_port_and_db)
{
	struct redisurl u = parse_ok("redis://127.0.0.1:6380/2");

	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_eq(u.port, 6380);
	cr_assert_eq(u.db, 2);
	cr_assert_str_eq(u.user, "");
	cr_assert_str_eq(u.password, "");
}

Test(redisurl, hostname_gets_the_default_port_and_db_0)
{
	struct redisurl u = parse_ok("redis://cache-1.internal_x");

	cr_assert_str_eq(u.host, "cache-1.internal_x");
	cr_assert_eq(u.port, REDISURL_DEFAULT_PORT);
	cr_assert_eq(u.port, 6379);
	cr_assert_eq(u.db, 0);
	u = parse_ok("redis://cache/");
	cr_assert_eq(u.db, 0, "a bare slash is db 0");
	u = parse_ok("redis://cache/15");
	cr_assert_eq(u.port, 6379);
	cr_assert_eq(u.db, 15);
}

Test(redisurl, ipv6_in_brackets)
{
	struct redisurl u = parse_ok("redis://[::1]:6380/3");

	cr_assert_str_eq(u.host, "::1");
	cr_assert_eq(u.port, 6380);
	cr_assert_eq(u.db, 3);
	u = parse_ok("redis://[fe80::1:2]");
	cr_assert_str_eq(u.host, "fe80::1:2");
	cr_assert_eq(u.port, 6379);
	u = parse_ok("redis://[::ffff:10.0.0.1]/1");
	cr_assert_str_eq(u.host, "::ffff:10.0.0.1");
	cr_assert_eq(u.db, 1);
}

Test(redisurl, password_and_user)
{
	struct redisurl u = parse_ok("redis://:s3cret@h:1/4");

	cr_assert_str_eq(u.user, "");
	cr_assert_str_eq(u.password, "s3cret");
	cr_assert_str_eq(u.host, "h");
	cr_assert_eq(u.port, 1);
	cr_assert_eq(u.db, 4);
	u = parse_ok("redis://tandem:p%40ss%3Aw%2Fd@[::1]:7000");
	cr_assert_str_eq(u.user, "tandem");
	cr_assert_str_eq(u.password, "p@ss:w/d");
	cr_assert_str_eq(u.host, "::1");
	u = parse_ok("redis://u:a@b@h");
	cr_assert_str_eq(u.password, "a@b", "the last '@' ends the user info");
	cr_assert_str_eq(u.host, "h");
}

Test(redisurl, limits_are_inclusive)
{
	char url[600];

	cr_assert_eq(parse_ok("redis://h:65535").port, 65535);
	cr_assert_eq(parse_ok("redis://h:1/1000000").db, REDISURL_DB_MAX);
	snprintf(url, sizeof(url), "redis://%0*d", REDISURL_HOST_MAX, 0);
	cr_assert_eq(strlen(parse_ok(url).host), REDISURL_HOST_MAX);
}

Test(redisurl, refuses_other_schemes)
{
	refused(NULL, "empty");
	refused("", "empty");
	refused("127.0.0.1:6379", "expected redis://HOST[:PORT][/DB]");
	refused("http://x:1", "expected redis://");
	refused("REDIS://h", "expected redis://");
	refused("rediss://h:6380", "TLS");
	refused("unix:///run/redis.sock?db=2", "unix sockets are not supported");
}

Test(redisurl, refuses_bad_ports)
{
	refused("redis://h:0", "port '0' is not a number from 1 to 65535");
	refused("redis://h:99999", "port '99999'");
	refused("redis://h:65536", "port '65536'");
	refused("redis://h:", "port ''");
	refused("redis://h:-1", "port '-1'");
	refused("redis://h:+80", "port '+80'");
	refused("redis://h:80x", "port '80x'");
	refused("redis://h:000006379", "port '000006379'");
	refused("redis://[::1]:", "port ''");
}

Test(redisurl, refuses_bad_databases)
{
	refused("redis://h:1/-1", "database '-1' is not a number from 0 to 1000000");
	refused("redis://h:1/abc", "database 'abc'");
	refused("redis://h:1/1000001", "database '1000001'");
	refused("redis://h:1/2/3", "database '2/3'");
	refused("redis://h:1/ 2", "database ' 2'");
	refused("redis://h:1/99999999999999999999", "database '");
}

Test(redisurl, refuses_bad_hosts)
{
	char url[600];

	refused("redis://", "no host");
	refused("redis://:6379", "no host");
	refused("redis:///2", "no host");
	refused("redis://[::1", "unterminated '['");
	refused("redis://[::1/2", "unterminated '['");
	refused("redis://[]:1", "no host");
	refused("redis://[::1]x:1", "unexpected text after ']'");
	refused("redis://[localhost]:1", "not a host name or IPv6 address");
	refused("redis://::1:6379", "an IPv6 address goes in brackets");
	refused("redis://ho st:1", "not a host name or IPv4 address");
	refused("redis://h\n:1", "not a host name");
	snprintf(url, sizeof(url), "redis://%0*d:1", REDISURL_HOST_MAX + 1, 0);
	refused(url, "host longer than 255 bytes");
}

Test(redisurl, refuses_bad_userinfo_and_options)
{
	char url[REDISURL_MAX + 64];

	refused("redis://secret@h", "expected USER:PASSWORD@ or :PASSWORD@");
	refused("redis://u:@h", "empty password");
	refused("redis://:%zz@h", "password: bad %XX escape");
	refused("redis://:ab%0@h", "password: bad %XX escape");
	refused("redis://:a%00b@h", "password: bad %XX escape");
	refused("redis://h:1?db=2", "query strings and fragments are not supported");
	refused("redis://h:1/2#x", "query strings");
	memset(url, 'a', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	memcpy(url, "redis://:", 9);
	refused(url, "longer than 1024 bytes");
	snprintf(url, sizeof(url), "redis://:%0*d@h", REDISURL_PASSWORD_MAX + 1, 0);
	refused(url, "password: bad %XX escape or longer than 511 bytes");
}

Test(redisurl, errors_never_show_the_password)
{
	struct redisurl u;
	char err[512] = "";

	cr_assert_not(redisurl_parse("redis://admin:hunter2@h:0", &u, err, sizeof(err)));
	cr_assert_null(strstr(err, "hunter2"), "%s", err);
	cr_assert(strstr(err, "redis://admin:***@h:0"), "%s", err);
}

Test(redisurl, show_masks_the_password_and_omits_db_0)
{
	char buf[600];
	struct redisurl u = parse_ok("redis://u:pw@[::1]:7000/3");

	redisurl_show(&u, buf, sizeof(buf));
	cr_assert_str_eq(buf, "redis://u:***@[::1]:7000/3");
	u = parse_ok("redis://cache");
	redisurl_show(&u, buf, sizeof(buf));
	cr_assert_str_eq(buf, "redis://cache:6379");
	u = parse_ok("redis://:pw@10.0.0.1:1/0");
	redisurl_show(&u, buf, sizeof(buf));
	cr_assert_str_eq(buf, "redis://:***@10.0.0.1:1");
}
