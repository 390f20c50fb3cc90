/*
 * hash.h - the one place tandem's non-cryptographic hashes live.
 *
 * Two families, chosen per call site:
 *
 *   hash_sip*    keyed SipHash-2-4, 64-bit output.  The key is 16 random
 *                bytes drawn once per process (getrandom(2)), so a client
 *                cannot compute which names collide.  Use it for every
 *                in-memory table keyed by what clients send (tenant, db and
 *                collection names, lsids, $group keys).  Values differ
 *                between processes and runs: never store or share them.
 *   hash_fnv1a*  FNV-1a, unkeyed and deterministic: the same bytes hash the
 *                same in every process, build and machine.  Use it only
 *                where that stability is the point (e.g. a hash that goes
 *                into a schema name); never for a table clients can fill.
 *
 * Both are incremental, so a caller can fold several fields:
 *
 *   struct hash_sip st;                     uint64_t h = HASH_FNV1A64_INIT;
 *   hash_sip_init(&st);                     h = hash_fnv1a64_add(h, a, alen);
 *   hash_sip_add(&st, a, alen);             h = hash_fnv1a64_add(h, b, blen);
 *   hash_sip_add(&st, b, blen);
 *   uint64_t h = hash_sip_end(&st);
 *
 * A caller that folds fields must make the framing unambiguous itself
 * (a length before a variable-length field, or a separator byte that the
 * fields cannot hold).  Every function is thread-safe.
 */
#ifndef TANDEM_HASH_H
#define TANDEM_HASH_H

#include <stddef.h>
#include <stdint.h>

/* ---- FNV-1a (deterministic) ---- */

#define HASH_FNV1A32_INIT 0x811c9dc5u
#define HASH_FNV1A64_INIT 0xcbf29ce484222325ull

/* h folded with p[0..n): start from HASH_FNV1A64_INIT (or a previous result). */
uint64_t hash_fnv1a64_add(uint64_t h, const void *p, size_t n);

/* The same in 32 bits (HASH_FNV1A32_INIT), for values stored at that width. */
uint32_t hash_fnv1a32_add(uint32_t h, const void *p, size_t n);

/* ---- SipHash-2-4 (keyed) ---- */

/* The running state of one hash; fill with hash_sip_init*, feed with
 * hash_sip_add, read once with hash_sip_end. */
struct hash_sip {
	uint64_t v0, v1, v2, v3;
	uint64_t tail;		/* the last len % 8 bytes, little-endian */
	uint64_t len;		/* bytes added so far */
};

/* Start a hash under the process key (created on first use). */
void hash_sip_init(struct hash_sip *st);

/* Start a hash under an explicit key (the known-answer tests use it). */
void hash_sip_init_key(struct hash_sip *st, const uint8_t key[16]);

/* Add p[0..n); any split of the same bytes gives the same result. */
void hash_sip_add(struct hash_sip *st, const void *p, size_t n);

/* The 64-bit SipHash-2-4 of everything added.  st is spent afterwards. */
uint64_t hash_sip_end(struct hash_sip *st);

/* One call: SipHash-2-4 of p[0..n) under the process key. */
uint64_t hash_sip(const void *p, size_t n);

#endif
