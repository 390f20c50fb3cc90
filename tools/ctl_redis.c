/*
 * ctl_redis.c - tandemctl's Redis connection (see ctl_redis.h).
 */
#include "ctl_redis.h"

#include <stdio.h>

#include "redisconn.h"
#include "redisurl.h"

redisContext *ctl_redis_connect(const char *url, bool *bad_url)
{
	struct redisurl u;
	char err[512];

	if (bad_url)
		*bad_url = false;
	if (!redisurl_parse(url, &u, err, sizeof(err))) {
		fprintf(stderr, "tandemctl: %s\n", err);
		if (bad_url)
			*bad_url = true;
		return NULL;
	}
	redisContext *c = redisconn_open(&u, 2000, 2000, err, sizeof(err));
	if (!c)
		fprintf(stderr, "tandemctl: %s\n", err);
	return c;
}
