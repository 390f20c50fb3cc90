/*
 * test_qentry.c - the queue entry codec: round trips (unicode, empty and
 * huge fields, every kind), versioning (unknown keys ignored, newer version
 * rejected), and hostile input (truncation, wrong types, oversize lengths,
 * huge declared counts, deep nesting, seeded random bytes and mutations):
 * decode must return false with a reason and never crash.
 */
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <criterion/criterion.h>
#include <msgpack.h>

#include "qentry.h"

/* A sample entry; key and payload BSON are owned by the fixture. */
struct sample {
	bson_t *key;
	bson_t *payload;
	struct qentry e;
};

static void sample_init(struct sample *s, const char *tenant, size_t payload_bytes)
{
	char *big = malloc(payload_bytes + 1);

	memset(big, 'x', payload_bytes);
	big[payload_bytes] = '\0';
	s->key = BCON_NEW("_id", BCON_INT64(42));
	s->payload = BCON_NEW("$set", "{", "name", BCON_UTF8(big), "n", BCON_INT32(7), "}");
	free(big);
	memset(&s->e, 0, sizeof s->e);
	s->e.seq = 123456789012345ull;
	s->e.node = "node-a";
	s->e.ts_ms = 1700000000123ull;
	s->e.tenant = (char *)tenant;
	s->e.db = "app";
	s->e.coll = "users";
	s->e.kind = QENTRY_UPDATE;
	s->e.doc_key = (uint8_t *)bson_get_data(s->key);
	s->e.doc_key_len = s->key->len;
	s->e.payload = (uint8_t *)bson_get_data(s->payload);
	s->e.payload_len = s->payload->len;
	s->e.attempts = 3;
}

static void sample_free(struct sample *s)
{
	bson_destroy(s->key);
	bson_destroy(s->payload);
}

static void assert_same(const struct qentry *a, const struct qentry *b)
{
	cr_assert_eq(b->version, QENTRY_VERSION);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_str_eq(a->node, b->node);
	cr_assert_eq(a->ts_ms, b->ts_ms);
	cr_assert_str_eq(a->tenant, b->tenant);
	cr_assert_str_eq(a->db, b->db);
	cr_assert_str_eq(a->coll, b->coll);
	cr_assert_eq(a->kind, b->kind);
	cr_assert_eq(a->doc_key_len, b->doc_key_len);
	cr_assert_eq(memcmp(a->doc_key, b->doc_key, a->doc_key_len), 0);
	cr_assert_eq(a->payload_len, b->payload_len);
	cr_assert_eq(memcmp(a->payload, b->payload, a->payload_len), 0);
	cr_assert_eq(a->attempts, b->attempts);
	cr_assert_eq(a->sent_us, b->sent_us);
	cr_assert_eq(a->ack_us, b->ack_us);
	if (a->error)
		cr_assert_str_eq(a->error, b->error);
	else
		cr_assert_null(b->error);
}

static void round_trip(const struct qentry *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct qentry d;
	char err[256] = "";

	cr_assert(qentry_encode(e, &buf, &len, err, sizeof err), "encode: %s", err);
	cr_assert(qentry_decode(buf, len, &d, err, sizeof err), "decode: %s", err);
	assert_same(e, &d);
	qentry_free(&d);
	free(buf);
}

Test(qentry, round_trip_every_kind)
{
	struct sample s;

	sample_init(&s, "acme", 10);
	for (int k = 0; k < QENTRY_KIND_COUNT; k++) {
		s.e.kind = (enum qentry_kind)k;
		cr_assert_not_null(qentry_kind_name(s.e.kind));
		round_trip(&s.e);
	}
	cr_assert_null(qentry_kind_name(QENTRY_KIND_COUNT));
	sample_free(&s);
}

Test(qentry, round_trip_forward_and_reply_times)
{
	struct sample s;

	sample_init(&s, "acme", 10);
	round_trip(&s.e);   /* absent: 0, as in entries queued before they existed */
	s.e.sent_us = 1796690228169001ull;
	s.e.ack_us = 1796690228169734ull;
	round_trip(&s.e);
	s.e.sent_us = 0;
	round_trip(&s.e);
	sample_free(&s);
}

Test(qentry, round_trip_unicode_empty_and_error)
{
	struct sample s;

	sample_init(&s, "t\xc3\xa9nant-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x98\x80", 0);
	s.e.db = "";
	s.e.coll = "";
	s.e.node = "";
	s.e.seq = UINT64_MAX;
	s.e.ts_ms = 0;
	s.e.attempts = UINT32_MAX;
	s.e.error = "23505: duplicate key \xe2\x80\x94 users_email_key";
	round_trip(&s.e);
	s.e.error = "";
	round_trip(&s.e);
	sample_free(&s);
}

Test(qentry, round_trip_empty_bson_and_huge_payload)
{
	struct sample s;
	bson_t empty = BSON_INITIALIZER;

	sample_init(&s, "acme", 20u * 1024 * 1024); /* a 20 MiB string field */
	cr_assert_gt(s.e.payload_len, 20u * 1024 * 1024);
	round_trip(&s.e);
	s.e.kind = QENTRY_TXN;
	s.e.doc_key = (uint8_t *)bson_get_data(&empty);
	s.e.doc_key_len = empty.len;
	round_trip(&s.e);
	sample_free(&s);
}

Test(qentry, encode_rejects_what_decode_would)
{
	struct sample s;
	uint8_t *buf = NULL, bad[5] = {5, 0, 0, 0, 1};
	size_t len;
	char err[256] = "", name[300];

	sample_init(&s, "", 1);
	cr_assert_not(qentry_encode(&s.e, &buf, &len, err, sizeof err), "empty tenant");
	cr_assert_not_null(strstr(err, "tenant"));
	memset(name, 'a', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	s.e.tenant = name; /* 299 > QENTRY_NAME_MAX */
	cr_assert_not(qentry_encode(&s.e, &buf, &len, err, sizeof err));
	s.e.tenant = "acme";
	s.e.db = "bad\xff";
	cr_assert_not(qentry_encode(&s.e, &buf, &len, err, sizeof err), "invalid UTF-8");
	s.e.db = "app";
	s.e.kind = QENTRY_KIND_COUNT;
	cr_assert_not(qentry_encode(&s.e, &buf, &len, err, sizeof err));
	s.e.kind = QENTRY_INSERT;
	s.e.payload = bad;
	s.e.payload_len = sizeof bad;
	cr_assert_not(qentry_encode(&s.e, &buf, &len, err, sizeof err), "bad BSON terminator");
	cr_assert_not_null(strstr(err, "payload"));
	cr_assert_null(buf);
	sample_free(&s);
}

/* ---- hand-built maps, to test the decoder on what encode never makes ---- */

struct mp {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void mp_init(struct mp *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mp_str(struct mp *m, const char *s)
{
	msgpack_pack_str(&m->pk, strlen(s));
	msgpack_pack_str_body(&m->pk, s, strlen(s));
}

static void mp_bson(struct mp *m, const bson_t *b)
{
	msgpack_pack_bin(&m->pk, b->len);
	msgpack_pack_bin_body(&m->pk, bson_get_data(b), b->len);
}

/* The 10 required keys, with field `skip` left out and `wrong` given a
 * string in place of its value; extra unknown keys first when extra. */
static void mp_entry(struct mp *m, const char *skip, const char *wrong, bool extra, unsigned version)
{
	static const char *const keys[] = {"v", "s", "n", "t", "tn", "d", "c", "k", "id", "p"};
	bson_t *b = BCON_NEW("_id", BCON_INT32(1));
	unsigned n = 0;

	for (int i = 0; i < 10; i++)
		n += !(skip && strcmp(skip, keys[i]) == 0);
	msgpack_pack_map(&m->pk, n + (extra ? 3 : 0));
	if (extra) {
		mp_str(m, "future");
		msgpack_pack_array(&m->pk, 2);
		msgpack_pack_int(&m->pk, -1);
		msgpack_pack_map(&m->pk, 0);
		msgpack_pack_int(&m->pk, 5); /* non-string key: ignored */
		msgpack_pack_nil(&m->pk);
		mp_str(m, "zz");
		msgpack_pack_double(&m->pk, 1.5);
	}
	for (int i = 0; i < 10; i++) {
		const char *k = keys[i];
		if (skip && strcmp(skip, k) == 0)
			continue;
		mp_str(m, k);
		if (wrong && strcmp(wrong, k) == 0)
			mp_str(m, "oops");
		else if (!strcmp(k, "v"))
			msgpack_pack_uint32(&m->pk, version);
		else if (!strcmp(k, "s") || !strcmp(k, "t") || !strcmp(k, "k"))
			msgpack_pack_uint32(&m->pk, 1);
		else if (!strcmp(k, "id") || !strcmp(k, "p"))
			mp_bson(m, b);
		else
			mp_str(m, "x");
	}
	bson_destroy(b);
}

static bool mp_decodes(struct mp *m, char *err, size_t errlen)
{
	struct qentry e;
	bool ok = qentry_decode((uint8_t *)m->sb.data, m->sb.size, &e, err, errlen);

	if (ok)
		qentry_free(&e);
	msgpack_sbuffer_destroy(&m->sb);
	return ok;
}

Test(qentry, unknown_keys_ignored_and_attempts_optional)
{
	struct mp m;
	char err[256] = "";

	mp_init(&m);
	mp_entry(&m, NULL, NULL, true, 1);
	cr_assert(mp_decodes(&m, err, sizeof err), "%s", err);
}

Test(qentry, missing_required_key_rejected)
{
	static const char *const keys[] = {"v", "s", "n", "t", "tn", "d", "c", "k", "id", "p"};
	struct mp m;
	char err[256];

	for (int i = 0; i < 10; i++) {
		mp_init(&m);
		mp_entry(&m, keys[i], NULL, false, 1);
		cr_assert_not(mp_decodes(&m, err, sizeof err), "without %s", keys[i]);
		cr_assert_not_null(strstr(err, "missing"), "%s: %s", keys[i], err);
	}
}

Test(qentry, wrong_type_rejected)
{
	static const char *const keys[] = {"v", "s", "t", "k", "id", "p"};
	struct mp m;
	char err[256];

	for (int i = 0; i < 6; i++) {
		mp_init(&m);
		mp_entry(&m, NULL, keys[i], false, 1);
		cr_assert_not(mp_decodes(&m, err, sizeof err), "string as %s", keys[i]);
		cr_assert_not_null(strstr(err, "bad value"), "%s: %s", keys[i], err);
	}
}

Test(qentry, newer_version_and_zero_version_rejected)
{
	struct mp m;
	char err[256];

	mp_init(&m);
	mp_entry(&m, NULL, NULL, false, QENTRY_VERSION + 1);
	cr_assert_not(mp_decodes(&m, err, sizeof err));
	mp_init(&m);
	mp_entry(&m, NULL, NULL, false, 0);
	cr_assert_not(mp_decodes(&m, err, sizeof err));
}

Test(qentry, duplicate_key_rejected)
{
	struct mp m;
	char err[256];

	mp_init(&m);
	mp_entry(&m, NULL, NULL, false, 1);
	/* patch the map header: fixmap 10 -> 11 and append "s": 2 */
	cr_assert_eq((uint8_t)m.sb.data[0], 0x8a);
	m.sb.data[0] = (char)0x8b;
	mp_str(&m, "s");
	msgpack_pack_uint32(&m.pk, 2);
	cr_assert_not(mp_decodes(&m, err, sizeof err));
	cr_assert_not_null(strstr(err, "duplicate"), "%s", err);
}

/* ---- hostile bytes ---- */

static void assert_rejects(const uint8_t *b, size_t n, const char *what)
{
	struct qentry e;
	char err[256] = "";

	cr_assert_not(qentry_decode(b, n, &e, err, sizeof err), "%s accepted", what);
	cr_assert_neq(err[0], '\0', "%s: no reason", what);
	cr_assert_null(e.tenant);
	cr_assert_null(e.payload);
}

Test(qentry, every_truncation_rejected)
{
	struct sample s;
	uint8_t *buf;
	size_t len;
	char err[256];

	sample_init(&s, "acme", 40);
	cr_assert(qentry_encode(&s.e, &buf, &len, err, sizeof err));
	for (size_t cut = 0; cut < len; cut++)
		assert_rejects(buf, cut, "truncated");
	/* trailing garbage after a whole entry */
	uint8_t *more = malloc(len + 1);
	memcpy(more, buf, len);
	more[len] = 0xc0;
	assert_rejects(more, len + 1, "trailing byte");
	free(more);
	free(buf);
	sample_free(&s);
}

Test(qentry, oversize_declared_lengths_rejected)
{
	/* map32 claiming 4e9 pairs; array32 of 4e9; str32/bin32 of 4 GiB */
	static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01};
	static const uint8_t arr32[] = {0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
	static const uint8_t str32[] = {0x81, 0xa2, 't', 'n', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
	static const uint8_t bin32[] = {0x81, 0xa1, 'p', 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x05};
	static const uint8_t ext32[] = {0x81, 0xa1, 'p', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const uint8_t never[] = {0x81, 0xa1, 'p', 0xc1};
	static const uint8_t notmap[] = {0x92, 0x01, 0x02};
	uint8_t deep[64];

	assert_rejects(map32, sizeof map32, "map32");
	assert_rejects(arr32, sizeof arr32, "array32");
	assert_rejects(str32, sizeof str32, "str32");
	assert_rejects(bin32, sizeof bin32, "bin32");
	assert_rejects(ext32, sizeof ext32, "ext32");
	assert_rejects(never, sizeof never, "0xc1");
	assert_rejects(notmap, sizeof notmap, "array at top");
	memset(deep, 0x91, sizeof deep); /* 63 nested one-element arrays, then 0 */
	deep[63] = 0x00;
	assert_rejects(deep, sizeof deep, "deep nesting");
	assert_rejects(NULL, 0, "NULL");
}

Test(qentry, bad_bson_inside_rejected)
{
	struct sample s;
	uint8_t *buf;
	size_t len;
	char err[256];

	sample_init(&s, "acme", 8);
	cr_assert(qentry_encode(&s.e, &buf, &len, err, sizeof err));
	/* Corrupt the payload's BSON length prefix in place. */
	const uint8_t *p = memmem(buf, len, bson_get_data(s.payload), s.payload->len);
	cr_assert_not_null(p);
	buf[p - buf] ^= 0x01;
	assert_rejects(buf, len, "bad payload length");
	buf[p - buf] ^= 0x01;
	buf[p - buf + s.payload->len - 1] = 0x01; /* terminator */
	assert_rejects(buf, len, "bad payload terminator");
	free(buf);
	sample_free(&s);
}

/* xorshift64*: deterministic, seeded, no libc state. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

Test(qentry, random_bytes_never_crash, .timeout = 60)
{
	uint64_t seed = 0x7a6e64656d2d7131ull;
	uint8_t buf[512];
	unsigned accepted = 0;

	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)(rng_next(&seed) % sizeof buf);
		struct qentry e;
		char err[128];
		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rng_next(&seed);
		if (i & 1)
			buf[0] = (uint8_t)(0x80 | (buf[0] & 0x0f)); /* a fixmap, to get further in */
		if (qentry_decode(buf, n, &e, err, sizeof err)) {
			accepted++;
			qentry_free(&e);
		}
	}
	cr_assert_eq(accepted, 0u);
}

Test(qentry, random_mutations_never_crash, .timeout = 60)
{
	uint64_t seed = 12345;
	struct sample s;
	uint8_t *good, *buf;
	size_t len;
	char err[256];
	unsigned accepted = 0, rejected = 0;

	sample_init(&s, "acme", 16);
	cr_assert(qentry_encode(&s.e, &good, &len, err, sizeof err));
	buf = malloc(len);
	for (int i = 0; i < 20000; i++) {
		struct qentry e;
		memcpy(buf, good, len);
		for (int f = 0; f < 1 + (int)(rng_next(&seed) % 4); f++)
			buf[rng_next(&seed) % len] = (uint8_t)rng_next(&seed);
		size_t n = len - (size_t)(rng_next(&seed) % 3);
		if (qentry_decode(buf, n, &e, err, sizeof err)) {
			/* whatever is accepted must satisfy the invariants */
			cr_assert_not_null(e.tenant);
			cr_assert_neq(e.tenant[0], '\0');
			cr_assert_lt((unsigned)e.kind, (unsigned)QENTRY_KIND_COUNT);
			cr_assert_geq(e.payload_len, 5u);
			accepted++;
			qentry_free(&e);
		} else {
			rejected++;
		}
	}
	cr_assert_gt(rejected, 10000u, "accepted %u rejected %u", accepted, rejected);
	free(buf);
	free(good);
	sample_free(&s);
}
