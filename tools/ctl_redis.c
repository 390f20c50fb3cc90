/*
 * ctl_redis.c - tandemctl's Redis connection (see ctl_redis.h).
 */
#include "ctl_redis.h"

#include <stdio.h>
#include <sys/time.h>

#include "flags.h"

redisContext *ctl_redis_connect(const char *url, bool *bad_url)
{
	char host[256], err[512];
	uint16_t port;
	int db;

	if (bad_url)
		*bad_url = false;
	if (!flags_redis_url_parse(url, host, sizeof(host), &port, &db, err, sizeof(err))) {
		fprintf(stderr, "tandemctl: %s\n", err);
		if (bad_url)
			*bad_url = true;
		return NULL;
	}
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	if (!c || c->err) {
		fprintf(stderr, "tandemctl: cannot reach Redis at %s: %s\n", url, c ? c->errstr : "no memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	redisReply *r = db ? redisCommand(c, "SELECT %d", db) : NULL;
	bool ok = !db || (r && r->type == REDIS_REPLY_STATUS);
	if (r)
		freeReplyObject(r);
	if (!ok) {
		fprintf(stderr, "tandemctl: Redis at %s refused SELECT %d\n", url, db);
		redisFree(c);
		return NULL;
	}
	return c;
}
