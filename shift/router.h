/*
 * router.h - which backend answers a read: pure decisions, no I/O, no
 * globals (unit-tested in tests/unit/test_router.c, fuzzed by
 * tests/fuzz/fuzz_router.c).
 *
 *   read of tenant T, read_pct p, stickiness key K
 *     bucket = mix(FNV-1a64(len(T) T K)) mod 10,000
 *     served by PostgreSQL iff bucket < p * 100      (0.01 % steps)
 *
 * The hash is unkeyed and fixed, so two tandems put the same (T, K) in the
 * same bucket (per-lsid stickiness holds across instances), and raising p
 * only adds buckets: a key served at p stays served at any p' > p.  K is
 * the request (connection id + requestID), the connection (its id) or the
 * logical session (the lsid's id bytes; a request without an lsid uses its
 * connection).  Clients may choose K (lsid) to pick their bucket; that only
 * chooses between two correct answers.
 *
 * router_check rejects what must go to MongoDB whatever the bucket says
 * (transactions, read concerns PostgreSQL cannot honour, exhaust, the
 * legacy opcode); the read engine's own skip reasons (collation, tailable,
 * untranslatable operators...) map through router_skip_fallback.
 */
#ifndef TANDEM_ROUTER_H
#define TANDEM_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "metrics.h"

#define ROUTER_BUCKETS 10000u
#define ROUTER_KEY_MAX 24

enum router_sticky {
	ROUTER_STICKY_REQUEST,     /* default: every read drawn on its own */
	ROUTER_STICKY_CONNECTION,
	ROUTER_STICKY_SESSION,     /* lsid.id; no lsid: the connection */
};

/* "request" | "connection" | "session". */
bool router_sticky_parse(const char *s, enum router_sticky *out) __attribute__((warn_unused_result));

/* Whether command (an OP_MSG command name) is a read the router may serve:
 * find, aggregate, count, distinct. */
bool router_is_read(const char *command);

/* The stickiness key of a request into key[ROUTER_KEY_MAX]; its length.
 * cmd may be NULL (no lsid then). */
size_t router_sticky_key(enum router_sticky s, uint64_t conn, int32_t request_id, const bson_t *cmd,
			 uint8_t key[ROUTER_KEY_MAX]);

/* (tenant, key) -> 0..ROUTER_BUCKETS-1, the same in every process. */
uint32_t router_bucket(const char *tenant, const uint8_t *key, size_t keylen);

/* Whether bucket is in the served share of read_pct (0..100). */
bool router_in_share(uint32_t bucket, double read_pct);

/* What in the request stops serving whatever the bucket: returns
 * METRICS_SHIFT_FALLBACK_COUNT when nothing does, else the reason.
 * opcode is the effective opcode, msg_flags the OP_MSG flags, cmd the
 * command document (NULL: not parsed yet, only the frame is checked). */
enum metrics_shift_fallback router_check(int32_t opcode, uint32_t msg_flags, const bson_t *cmd);

/* The fallback reason for a pgread_plan reason label. */
enum metrics_shift_fallback router_skip_fallback(const char *reason);

#endif
