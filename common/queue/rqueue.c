/*
 * rqueue.c - Redis lists of queued writes (keys and semantics in rqueue.h).
 * Every command goes through rqueue_pipeline: append argv commands, read
 * their replies in order, check each reply's type in one place.
 */
#include "rqueue.h"
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RQUEUE_KEY_MAX (RQUEUE_TENANT_MAX + 64u)
#define RQUEUE_RECOVER_CHUNK 100u

bool rqueue_key(enum rqueue_list which, const char *tenant, char *buf, size_t buflen)
{
	static const char *const fmt[] = {
		"tandem:queue:%s", "tandem:queue:%s:processing", "tandem:deadletter:%s",
	};
	size_t tl = tenant ? strlen(tenant) : 0;
	int n;

	if (tl == 0 || tl > RQUEUE_TENANT_MAX || (unsigned)which > RQUEUE_DEADLETTER)
		return false;
	n = snprintf(buf, buflen, fmt[which], tenant);
	return n > 0 && (size_t)n < buflen;
}

/* The three keys of a tenant. */
struct rqueue_keys {
	char pending[RQUEUE_KEY_MAX];
	char processing[RQUEUE_KEY_MAX];
	char dead[RQUEUE_KEY_MAX];
};

static bool rqueue_keys(const char *tenant, struct rqueue_keys *k, char *err, size_t errlen)
{
	if (!rqueue_key(RQUEUE_PENDING, tenant, k->pending, sizeof k->pending) ||
	    !rqueue_key(RQUEUE_PROCESSING, tenant, k->processing, sizeof k->processing) ||
	    !rqueue_key(RQUEUE_DEADLETTER, tenant, k->dead, sizeof k->dead))
		return errbuf_fail(err, errlen, "bad tenant name (empty or > %u bytes)", RQUEUE_TENANT_MAX);
	return true;
}

static bool rqueue_ctx_fail(redisContext *rc, char *err, size_t errlen)
{
	return errbuf_fail(err, errlen, "redis: %s", rc->err ? rc->errstr : "no reply");
}

/* Read one reply; an error reply fails with its text.  *out owned by caller. */
static bool rqueue_reply(redisContext *rc, redisReply **out, char *err, size_t errlen)
{
	void *r = NULL;

	if (redisGetReply(rc, &r) != REDIS_OK || !r)
		return rqueue_ctx_fail(rc, err, errlen);
	*out = r;
	if ((*out)->type == REDIS_REPLY_ERROR) {
		errbuf_fail(err, errlen, "redis: %.*s", (int)(*out)->len, (*out)->str);
		freeReplyObject(*out);
		*out = NULL;
		return false;
	}
	return true;
}

/* Read n replies and discard them (after an error: keep the pipe in step). */
static void rqueue_drain(redisContext *rc, size_t n)
{
	for (size_t i = 0; i < n && !rc->err; i++) {
		void *r = NULL;
		if (redisGetReply(rc, &r) != REDIS_OK)
			return;
		freeReplyObject(r);
	}
}

/* One command whose reply must be an integer (into *v, may be NULL). */
static bool rqueue_cmd_int(redisContext *rc, int argc, const char **argv, const size_t *lens,
			   long long *v, char *err, size_t errlen)
{
	redisReply *r;
	bool ok;

	if (redisAppendCommandArgv(rc, argc, argv, lens) != REDIS_OK)
		return rqueue_ctx_fail(rc, err, errlen);
	if (!rqueue_reply(rc, &r, err, errlen))
		return false;
	ok = r->type == REDIS_REPLY_INTEGER || r->type == REDIS_REPLY_STATUS;
	if (ok && v)
		*v = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	return ok || errbuf_fail(err, errlen, "redis: unexpected reply type");
}

bool rqueue_push(redisContext *rc, const char *tenant, const void *entry, size_t len, char *err,
		 size_t errlen)
{
	struct rqueue_keys k;
	const char *argv[3] = {"RPUSH", NULL, entry};
	size_t lens[3] = {5, 0, len};

	if (!rqueue_keys(tenant, &k, err, errlen))
		return false;
	if (!entry || len == 0)
		return errbuf_fail(err, errlen, "empty entry");
	argv[1] = k.pending, lens[1] = strlen(k.pending);
	return rqueue_cmd_int(rc, 3, argv, lens, NULL, err, errlen);
}

void rqueue_batch_free(struct rqueue_batch *b)
{
	for (size_t i = 0; b && i < b->count; i++)
		free(b->items[i]);
	if (b) {
		free(b->items);
		free(b->lens);
		memset(b, 0, sizeof *b);
	}
}

/* Keep a string reply as the next item of b. */
static bool rqueue_batch_add(struct rqueue_batch *b, const redisReply *r)
{
	uint8_t *copy = malloc(r->len ? r->len : 1);

	if (!copy)
		return false;
	memcpy(copy, r->str, r->len);
	b->items[b->count] = copy;
	b->lens[b->count++] = r->len;
	return true;
}

/* Send n copies of argv (pipelined). */
static bool rqueue_append_n(redisContext *rc, size_t n, int argc, const char **argv,
			    const size_t *lens, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (redisAppendCommandArgv(rc, argc, argv, lens) != REDIS_OK)
			return rqueue_ctx_fail(rc, err, errlen);
	return true;
}

bool rqueue_claim(redisContext *rc, const char *tenant, size_t max, struct rqueue_batch *out,
		  char *err, size_t errlen)
{
	struct rqueue_keys k;
	const char *argv[5] = {"LMOVE", NULL, NULL, "LEFT", "RIGHT"};
	size_t lens[5] = {5, 0, 0, 4, 5};

	memset(out, 0, sizeof *out);
	if (!rqueue_keys(tenant, &k, err, errlen))
		return false;
	if (max == 0 || max > RQUEUE_CLAIM_MAX)
		return errbuf_fail(err, errlen, "claim size %zu out of range", max);
	argv[1] = k.pending, lens[1] = strlen(k.pending);
	argv[2] = k.processing, lens[2] = strlen(k.processing);
	out->items = calloc(max, sizeof *out->items);
	out->lens = calloc(max, sizeof *out->lens);
	if (!out->items || !out->lens) {
		rqueue_batch_free(out);
		return errbuf_fail(err, errlen, "out of memory");
	}
	if (!rqueue_append_n(rc, max, 5, argv, lens, err, errlen)) {
		rqueue_batch_free(out);
		return false;
	}
	for (size_t i = 0; i < max; i++) {
		redisReply *r = NULL;
		bool ok = rqueue_reply(rc, &r, err, errlen);
		if (ok && r->type == REDIS_REPLY_STRING)
			ok = rqueue_batch_add(out, r) || errbuf_fail(err, errlen, "out of memory");
		else if (ok && r->type != REDIS_REPLY_NIL)
			ok = errbuf_fail(err, errlen, "redis: unexpected LMOVE reply");
		if (r)
			freeReplyObject(r);
		if (!ok) {
			rqueue_drain(rc, max - i - 1);
			rqueue_batch_free(out);
			return false;
		}
	}
	return true;
}

bool rqueue_ack(redisContext *rc, const char *tenant, size_t n, char *err, size_t errlen)
{
	struct rqueue_keys k;
	char start[24];
	const char *argv[4] = {"LTRIM", NULL, start, "-1"};
	size_t lens[4] = {5, 0, 0, 2};

	if (!rqueue_keys(tenant, &k, err, errlen))
		return false;
	if (n == 0)
		return true;
	argv[1] = k.processing, lens[1] = strlen(k.processing);
	lens[2] = (size_t)snprintf(start, sizeof start, "%zu", n);
	return rqueue_cmd_int(rc, 4, argv, lens, NULL, err, errlen);
}

/* Check EXEC's reply to MULTI; RPUSH dead; LPOP processing. */
static bool rqueue_deadletter_exec(const redisReply *r, char *err, size_t errlen)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return errbuf_fail(err, errlen, "redis: dead-letter transaction aborted");
	if (r->element[1]->type != REDIS_REPLY_STRING)
		return errbuf_fail(err, errlen, "dead-letter: processing list was empty (entry kept in dead letters)");
	return true;
}

bool rqueue_deadletter(redisContext *rc, const char *tenant, const void *entry, size_t len,
		       char *err, size_t errlen)
{
	struct rqueue_keys k;
	const char *multi[1] = {"MULTI"}, *exec[1] = {"EXEC"};
	const char *push[3] = {"RPUSH", NULL, entry}, *pop[2] = {"LPOP", NULL};
	size_t l5[1] = {5}, l4[1] = {4}, plens[3] = {5, 0, len}, olens[2] = {4, 0};
	redisReply *r = NULL;
	bool ok = true;

	if (!rqueue_keys(tenant, &k, err, errlen))
		return false;
	if (!entry || len == 0)
		return errbuf_fail(err, errlen, "empty entry");
	push[1] = k.dead, plens[1] = strlen(k.dead);
	pop[1] = k.processing, olens[1] = strlen(k.processing);
	if (redisAppendCommandArgv(rc, 1, multi, l5) != REDIS_OK ||
	    redisAppendCommandArgv(rc, 3, push, plens) != REDIS_OK ||
	    redisAppendCommandArgv(rc, 2, pop, olens) != REDIS_OK ||
	    redisAppendCommandArgv(rc, 1, exec, l4) != REDIS_OK)
		return rqueue_ctx_fail(rc, err, errlen);
	for (int i = 0; i < 4; i++) { /* +OK, +QUEUED, +QUEUED, EXEC's array */
		if (ok && rqueue_reply(rc, &r, err, errlen)) {
			if (i == 3)
				ok = rqueue_deadletter_exec(r, err, errlen);
			freeReplyObject(r);
		} else if (ok) {
			ok = false;
			rqueue_drain(rc, (size_t)(3 - i));
			break;
		}
	}
	return ok;
}

bool rqueue_recover(redisContext *rc, const char *tenant, uint64_t max_moves, uint64_t *moved,
		    char *err, size_t errlen)
{
	struct rqueue_keys k;
	const char *argv[5] = {"LMOVE", NULL, NULL, "RIGHT", "LEFT"};
	size_t lens[5] = {5, 0, 0, 5, 4};
	bool more = true;

	*moved = 0;
	if (!rqueue_keys(tenant, &k, err, errlen))
		return false;
	argv[1] = k.processing, lens[1] = strlen(k.processing);
	argv[2] = k.pending, lens[2] = strlen(k.pending);
	while (more && *moved < max_moves) {
		size_t n = max_moves - *moved < RQUEUE_RECOVER_CHUNK ? (size_t)(max_moves - *moved)
								     : RQUEUE_RECOVER_CHUNK;
		if (!rqueue_append_n(rc, n, 5, argv, lens, err, errlen))
			return false;
		for (size_t i = 0; i < n; i++) {
			redisReply *r;
			if (!rqueue_reply(rc, &r, err, errlen)) {
				rqueue_drain(rc, n - i - 1);
				return false;
			}
			if (r->type == REDIS_REPLY_STRING)
				(*moved)++;
			else
				more = false;
			freeReplyObject(r);
		}
	}
	return true;
}

bool rqueue_depth(redisContext *rc, const char *tenant, struct rqueue_depth *out, char *err,
		  size_t errlen)
{
	struct rqueue_keys k;
	const char *keys[3];
	uint64_t *dst[3] = {&out->pending, &out->processing, &out->deadletter};

	if (!rqueue_keys(tenant, &k, err, errlen))
		return false;
	keys[0] = k.pending, keys[1] = k.processing, keys[2] = k.dead;
	for (int i = 0; i < 3; i++) {
		const char *argv[2] = {"LLEN", keys[i]};
		size_t lens[2] = {4, strlen(keys[i])};
		long long v = 0;
		if (!rqueue_cmd_int(rc, 2, argv, lens, &v, err, errlen))
			return false;
		*dst[i] = v < 0 ? 0 : (uint64_t)v;
	}
	return true;
}
