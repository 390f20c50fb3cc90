/*
 * router.c - the read router's pure decisions (router.h).
 */
#include "router.h"

#include <string.h>

#include "hash.h"
#include "opmsg.h"
#include "wire.h"

bool router_sticky_parse(const char *s, enum router_sticky *out)
{
	if (!strcmp(s, "request"))
		*out = ROUTER_STICKY_REQUEST;
	else if (!strcmp(s, "connection"))
		*out = ROUTER_STICKY_CONNECTION;
	else if (!strcmp(s, "session"))
		*out = ROUTER_STICKY_SESSION;
	else
		return false;
	return true;
}

bool router_is_read(const char *command)
{
	return !strcmp(command, "find") || !strcmp(command, "aggregate") ||
	       !strcmp(command, "count") || !strcmp(command, "distinct");
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* lsid.id's bytes (a UUID, binary subtype 4), at most ROUTER_KEY_MAX - 1. */
static size_t lsid_bytes(const bson_t *cmd, uint8_t *out)
{
	bson_iter_t it, id;
	const uint8_t *bin;
	uint32_t len;
	bson_subtype_t sub;

	if (!cmd || !bson_iter_init_find(&it, cmd, "lsid") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &id) || !bson_iter_find(&id, "id") || !BSON_ITER_HOLDS_BINARY(&id))
		return 0;
	bson_iter_binary(&id, &sub, &len, &bin);
	if (len == 0)
		return 0;
	if (len > ROUTER_KEY_MAX - 1)
		len = ROUTER_KEY_MAX - 1;
	out[0] = 'S';   /* a session key never equals a connection key */
	memcpy(out + 1, bin, len);
	return len + 1;
}

size_t router_sticky_key(enum router_sticky s, uint64_t conn, int32_t request_id, const bson_t *cmd,
			 uint8_t key[ROUTER_KEY_MAX])
{
	size_t n;

	if (s == ROUTER_STICKY_SESSION && (n = lsid_bytes(cmd, key)) > 0)
		return n;
	key[0] = s == ROUTER_STICKY_REQUEST ? 'R' : 'C';
	put_u64(key + 1, conn);
	if (s != ROUTER_STICKY_REQUEST)
		return 9;
	put_u64(key + 9, (uint64_t)(uint32_t)request_id);
	return 17;
}

/* splitmix64's finaliser: FNV-1a's low bits alone mix short keys poorly. */
static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint32_t router_bucket(const char *tenant, const uint8_t *key, size_t keylen)
{
	uint64_t tlen = strlen(tenant);
	uint8_t lenb[8];
	uint64_t h = HASH_FNV1A64_INIT;

	put_u64(lenb, tlen);   /* the length first: (T, K) framing is unambiguous */
	h = hash_fnv1a64_add(h, lenb, sizeof(lenb));
	h = hash_fnv1a64_add(h, tenant, (size_t)tlen);
	h = hash_fnv1a64_add(h, key, keylen);
	return (uint32_t)(mix(h) % ROUTER_BUCKETS);
}

bool router_in_share(uint32_t bucket, double read_pct)
{
	if (!(read_pct > 0))
		return false;
	/* pct has at most two decimals that matter: 25.5 -> 2550 buckets */
	uint32_t served = read_pct >= 100 ? ROUTER_BUCKETS : (uint32_t)(read_pct * 100.0 + 0.5);
	return bucket < served;
}

/* readConcern that PostgreSQL cannot honour: snapshot, linearizable,
 * atClusterTime, afterClusterTime (causal: may need writes made through
 * another instance). */
static bool read_concern_blocks(const bson_t *cmd)
{
	bson_iter_t it, rc;

	if (!bson_iter_init_find(&it, cmd, "readConcern") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &rc))
		return false;
	while (bson_iter_next(&rc)) {
		const char *k = bson_iter_key(&rc);
		if (!strcmp(k, "afterClusterTime") || !strcmp(k, "atClusterTime") ||
		    !strcmp(k, "afterOpTime"))
			return true;
		if (!strcmp(k, "level") && BSON_ITER_HOLDS_UTF8(&rc)) {
			const char *l = bson_iter_utf8(&rc, NULL);
			if (!strcmp(l, "snapshot") || !strcmp(l, "linearizable"))
				return true;
		}
	}
	return false;
}

enum metrics_shift_fallback router_check(int32_t opcode, uint32_t msg_flags, const bson_t *cmd)
{
	bson_iter_t it;

	if (opcode != WIRE_OP_MSG)
		return METRICS_SHIFT_OP_QUERY;
	if (msg_flags & (OPMSG_MORE_TO_COME | OPMSG_EXHAUST_ALLOWED))
		return METRICS_SHIFT_EXHAUST;
	if (!cmd)
		return METRICS_SHIFT_FALLBACK_COUNT;
	if (bson_iter_init(&it, cmd))
		while (bson_iter_next(&it)) {
			const char *k = bson_iter_key(&it);
			if (!strcmp(k, "txnNumber") || !strcmp(k, "autocommit") ||
			    !strcmp(k, "startTransaction"))
				return METRICS_SHIFT_TRANSACTION;
			if ((!strcmp(k, "tailable") || !strcmp(k, "awaitData")) && bson_iter_as_bool(&it))
				return METRICS_SHIFT_TAILABLE;
			if (!strcmp(k, "exhaust") && bson_iter_as_bool(&it))
				return METRICS_SHIFT_EXHAUST;
		}
	if (read_concern_blocks(cmd))
		return METRICS_SHIFT_READ_CONCERN;
	return METRICS_SHIFT_FALLBACK_COUNT;
}

enum metrics_shift_fallback router_skip_fallback(const char *reason)
{
	static const struct {
		const char *label;
		enum metrics_shift_fallback fb;
	} map[] = {
		{"invalid_command", METRICS_SHIFT_INVALID_COMMAND},
		{"invalid_pipeline", METRICS_SHIFT_INVALID_COMMAND},
		{"collation", METRICS_SHIFT_COLLATION},
		{"tailable", METRICS_SHIFT_TAILABLE},
		{"read_concern_snapshot", METRICS_SHIFT_READ_CONCERN},
		{"at_cluster_time", METRICS_SHIFT_READ_CONCERN},
		{"transaction", METRICS_SHIFT_TRANSACTION},
		{"too_large", METRICS_SHIFT_TOO_LARGE},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(reason, map[i].label))
			return map[i].fb;
	return METRICS_SHIFT_UNTRANSLATABLE;
}
