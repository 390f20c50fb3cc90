/*
 * rqueue_probe.c - drives common/queue/rqueue.c and common/queue/qentry.c against a
 * real redis-server for tests/integration/test_rqueue.py.  One command per
 * run, results as plain lines on stdout, exit 0 on success, 1 on failure
 * (reason on stderr), 2 on bad usage.
 *
 *   rqueue_probe HOST PORT push TENANT FROM COUNT   entries seq FROM..FROM+COUNT-1
 *   rqueue_probe HOST PORT claim TENANT MAX         "seq S attempts A" per entry, "claimed N"
 *   rqueue_probe HOST PORT ack TENANT N
 *   rqueue_probe HOST PORT recover TENANT           "recovered N"
 *   rqueue_probe HOST PORT depth TENANT             "pending P processing R deadletter D"
 *   rqueue_probe HOST PORT dead TENANT REASON       dead-letter the head of processing
 *   rqueue_probe HOST PORT deadlist TENANT          "dead seq S attempts A error E" per entry
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <bson/bson.h>
#include <hiredis/hiredis.h>

#include "qentry.h"
#include "rqueue.h"

static char err[512];

static int fail(const char *what)
{
	fprintf(stderr, "rqueue_probe: %s: %s\n", what, err);
	return 1;
}

static int cmd_push(redisContext *rc, const char *tenant, unsigned long from, unsigned long count)
{
	for (unsigned long seq = from; seq < from + count; seq++) {
		bson_t *key = BCON_NEW("_id", BCON_INT64((int64_t)seq));
		bson_t *doc = BCON_NEW("_id", BCON_INT64((int64_t)seq), "v", BCON_UTF8("caf\xc3\xa9"));
		struct qentry e = {
			.seq = seq, .node = "probe", .ts_ms = 1, .tenant = (char *)tenant,
			.db = "app", .coll = "users", .kind = QENTRY_INSERT,
			.doc_key = (uint8_t *)bson_get_data(key), .doc_key_len = key->len,
			.payload = (uint8_t *)bson_get_data(doc), .payload_len = doc->len,
		};
		uint8_t *buf = NULL;
		size_t len;
		bool ok = qentry_encode(&e, &buf, &len, err, sizeof err) &&
			  rqueue_push(rc, tenant, buf, len, err, sizeof err);
		free(buf);
		bson_destroy(key);
		bson_destroy(doc);
		if (!ok)
			return fail("push");
	}
	return 0;
}

static int print_entry(const char *prefix, const uint8_t *b, size_t len)
{
	struct qentry e;

	if (!qentry_decode(b, len, &e, err, sizeof err))
		return fail("decode");
	printf("%sseq %llu attempts %u", prefix, (unsigned long long)e.seq, e.attempts);
	if (e.error)
		printf(" error %s", e.error);
	printf("\n");
	qentry_free(&e);
	return 0;
}

static int cmd_claim(redisContext *rc, const char *tenant, unsigned long max)
{
	struct rqueue_batch b;

	if (!rqueue_claim(rc, tenant, max, &b, err, sizeof err))
		return fail("claim");
	for (size_t i = 0; i < b.count; i++)
		if (print_entry("", b.items[i], b.lens[i]) != 0) {
			rqueue_batch_free(&b);
			return 1;
		}
	printf("claimed %zu\n", b.count);
	rqueue_batch_free(&b);
	return 0;
}

/* Re-encode the head of processing with reason and attempts+1, dead-letter it. */
static int cmd_dead(redisContext *rc, const char *tenant, const char *reason)
{
	char key[RQUEUE_TENANT_MAX + 64];
	redisReply *r;
	struct qentry e;
	uint8_t *buf = NULL;
	size_t len;
	bool ok;

	if (!rqueue_key(RQUEUE_PROCESSING, tenant, key, sizeof key))
		return 2;
	r = redisCommand(rc, "LINDEX %s 0", key);
	if (!r || r->type != REDIS_REPLY_STRING) {
		snprintf(err, sizeof err, "processing list is empty");
		freeReplyObject(r);
		return fail("dead");
	}
	ok = qentry_decode((uint8_t *)r->str, r->len, &e, err, sizeof err);
	freeReplyObject(r);
	if (!ok)
		return fail("decode");
	e.attempts++;
	free(e.error);
	e.error = strdup(reason);
	ok = qentry_encode(&e, &buf, &len, err, sizeof err) &&
	     rqueue_deadletter(rc, tenant, buf, len, err, sizeof err);
	free(buf);
	qentry_free(&e);
	return ok ? 0 : fail("dead");
}

static int cmd_deadlist(redisContext *rc, const char *tenant)
{
	char key[RQUEUE_TENANT_MAX + 64];
	redisReply *r;
	int rc2 = 0;

	if (!rqueue_key(RQUEUE_DEADLETTER, tenant, key, sizeof key))
		return 2;
	r = redisCommand(rc, "LRANGE %s 0 -1", key);
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, sizeof err, "LRANGE failed");
		freeReplyObject(r);
		return fail("deadlist");
	}
	for (size_t i = 0; i < r->elements && rc2 == 0; i++)
		rc2 = print_entry("dead ", (uint8_t *)r->element[i]->str, r->element[i]->len);
	freeReplyObject(r);
	return rc2;
}

static int run(redisContext *rc, int argc, char **argv)
{
	const char *cmd = argv[3], *tenant = argv[4];
	struct rqueue_depth d;
	uint64_t moved;

	if (!strcmp(cmd, "push") && argc == 7)
		return cmd_push(rc, tenant, strtoul(argv[5], NULL, 10), strtoul(argv[6], NULL, 10));
	if (!strcmp(cmd, "claim") && argc == 6)
		return cmd_claim(rc, tenant, strtoul(argv[5], NULL, 10));
	if (!strcmp(cmd, "ack") && argc == 6)
		return rqueue_ack(rc, tenant, strtoul(argv[5], NULL, 10), err, sizeof err) ? 0 : fail("ack");
	if (!strcmp(cmd, "recover") && argc == 5) {
		if (!rqueue_recover(rc, tenant, 1000000, &moved, err, sizeof err))
			return fail("recover");
		printf("recovered %llu\n", (unsigned long long)moved);
		return 0;
	}
	if (!strcmp(cmd, "depth") && argc == 5) {
		if (!rqueue_depth(rc, tenant, &d, err, sizeof err))
			return fail("depth");
		printf("pending %llu processing %llu deadletter %llu\n", (unsigned long long)d.pending,
		       (unsigned long long)d.processing, (unsigned long long)d.deadletter);
		return 0;
	}
	if (!strcmp(cmd, "dead") && argc == 6)
		return cmd_dead(rc, tenant, argv[5]);
	if (!strcmp(cmd, "deadlist") && argc == 5)
		return cmd_deadlist(rc, tenant);
	fprintf(stderr, "rqueue_probe: bad command or arguments\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct timeval tv = {5, 0};
	redisContext *rc;
	int status;

	if (argc < 5) {
		fprintf(stderr, "usage: rqueue_probe HOST PORT push|claim|ack|recover|depth|dead|deadlist TENANT [ARGS]\n");
		return 2;
	}
	rc = redisConnectWithTimeout(argv[1], atoi(argv[2]), tv);
	if (!rc || rc->err) {
		snprintf(err, sizeof err, "%s", rc ? rc->errstr : "out of memory");
		redisFree(rc);
		return fail("connect");
	}
	if (redisSetTimeout(rc, tv) != REDIS_OK) {
		redisFree(rc);
		return 1;
	}
	status = run(rc, argc, argv);
	fflush(stdout);
	redisFree(rc);
	return status;
}
