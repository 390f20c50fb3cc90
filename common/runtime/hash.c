/*
 * hash.c - FNV-1a and keyed SipHash-2-4 (contract and when to use which in
 * hash.h).
 *
 * SipHash-2-4 as in Aumasson & Bernstein, "SipHash: a fast short-input
 * PRF" (2012): four 64-bit words initialised from the key, two SipRounds
 * per 8-byte little-endian message word, the length in the top byte of
 * the last word, four SipRounds to finish.  The incremental state keeps
 * the bytes of a partial word in `tail`, so hash_sip_add may split the
 * input anywhere.
 *
 * The process key is 16 bytes from getrandom(2), drawn once (pthread_once)
 * on the first hash_sip_init; nothing else writes it.
 */
#include "hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

uint64_t hash_fnv1a64_add(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

uint32_t hash_fnv1a32_add(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* ---- SipHash-2-4 ---- */

static uint8_t hash_key[16];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_create(void)
{
	size_t got = 0;

	while (got < sizeof hash_key) {
		ssize_t n = getrandom(hash_key + got, sizeof hash_key - got, 0);
		if (n > 0) {
			got += (size_t)n;
		} else if (errno != EINTR) {
			/* Linux >= 3.17 always answers; without a key every table
			 * keyed by client names could be flooded. */
			fprintf(stderr, "tandem: getrandom failed (errno %d)\n", errno);
			abort();
		}
	}
}

static uint64_t hash_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define HASH_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void hash_sipround(struct hash_sip *s)
{
	s->v0 += s->v1; s->v1 = HASH_ROTL(s->v1, 13); s->v1 ^= s->v0; s->v0 = HASH_ROTL(s->v0, 32);
	s->v2 += s->v3; s->v3 = HASH_ROTL(s->v3, 16); s->v3 ^= s->v2;
	s->v0 += s->v3; s->v3 = HASH_ROTL(s->v3, 21); s->v3 ^= s->v0;
	s->v2 += s->v1; s->v1 = HASH_ROTL(s->v1, 17); s->v1 ^= s->v2; s->v2 = HASH_ROTL(s->v2, 32);
}

/* One message word: v3 ^= m, two SipRounds, v0 ^= m. */
static void hash_sip_word(struct hash_sip *s, uint64_t m)
{
	s->v3 ^= m;
	hash_sipround(s);
	hash_sipround(s);
	s->v0 ^= m;
}

void hash_sip_init_key(struct hash_sip *st, const uint8_t key[16])
{
	uint64_t k0 = hash_le64(key), k1 = hash_le64(key + 8);

	st->v0 = k0 ^ 0x736f6d6570736575ull; /* "somepseudorandomlygeneratedbytes" */
	st->v1 = k1 ^ 0x646f72616e646f6dull;
	st->v2 = k0 ^ 0x6c7967656e657261ull;
	st->v3 = k1 ^ 0x7465646279746573ull;
	st->tail = 0;
	st->len = 0;
}

void hash_sip_init(struct hash_sip *st)
{
	pthread_once(&hash_key_once, hash_key_create);
	hash_sip_init_key(st, hash_key);
}

void hash_sip_add(struct hash_sip *st, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0 && st->len % 8) { /* finish a partial word */
		st->tail |= (uint64_t)*b++ << (8 * (st->len++ % 8));
		n--;
		if (st->len % 8 == 0) {
			hash_sip_word(st, st->tail);
			st->tail = 0;
		}
	}
	for (; n >= 8; n -= 8, b += 8, st->len += 8)
		hash_sip_word(st, hash_le64(b));
	for (; n > 0; n--)
		st->tail |= (uint64_t)*b++ << (8 * (st->len++ % 8));
}

uint64_t hash_sip_end(struct hash_sip *st)
{
	hash_sip_word(st, st->tail | st->len << 56);
	st->v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		hash_sipround(st);
	return st->v0 ^ st->v1 ^ st->v2 ^ st->v3;
}

uint64_t hash_sip(const void *p, size_t n)
{
	struct hash_sip st;

	hash_sip_init(&st);
	hash_sip_add(&st, p, n);
	return hash_sip_end(&st);
}
