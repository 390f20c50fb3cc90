/*
 * redisconn.c - connect, AUTH, SELECT (contract in redisconn.h).
 */
#include "redisconn.h"

#include <sys/time.h>

#include "errbuf.h"

static struct timeval redisconn_tv(unsigned ms)
{
	return (struct timeval){(time_t)(ms / 1000u), (suseconds_t)(ms % 1000u) * 1000};
}

/* r is the reply to what, which must be +OK; false (reason in err) otherwise.
 * Frees r. */
static bool redisconn_ok(redisContext *c, const struct redisurl *u, const char *what, redisReply *r,
			 char *err, size_t errlen)
{
	bool ok = r && r->type == REDIS_REPLY_STATUS;
	char shown[REDISURL_HOST_MAX + REDISURL_USER_MAX + 64];

	if (!ok) {
		redisurl_show(u, shown, sizeof(shown));
		errbuf_fail(err, errlen, "Redis at %s refused %s: %s", shown, what,
			    r && r->type == REDIS_REPLY_ERROR ? r->str : c->err ? c->errstr : "no reply");
	}
	if (r)
		freeReplyObject(r);
	return ok;
}

redisContext *redisconn_open(const struct redisurl *u, unsigned connect_ms, unsigned io_ms, char *err,
			     size_t errlen)
{
	redisContext *c = redisConnectWithTimeout(u->host, u->port, redisconn_tv(connect_ms));
	char shown[REDISURL_HOST_MAX + REDISURL_USER_MAX + 64];

	if (!c || c->err || redisSetTimeout(c, redisconn_tv(io_ms)) != REDIS_OK) {
		redisurl_show(u, shown, sizeof(shown));
		errbuf_fail(err, errlen, "cannot reach Redis at %s: %s", shown, c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	if (u->password[0] &&
	    !redisconn_ok(c, u, "AUTH", u->user[0] ? redisCommand(c, "AUTH %s %s", u->user, u->password)
						   : redisCommand(c, "AUTH %s", u->password), err, errlen)) {
		redisFree(c);
		return NULL;
	}
	if (u->db && !redisconn_ok(c, u, "SELECT", redisCommand(c, "SELECT %d", u->db), err, errlen)) {
		redisFree(c);
		return NULL;
	}
	return c;
}
