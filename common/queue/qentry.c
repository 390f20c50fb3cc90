/*
 * qentry.c - msgpack codec of queue entries (format in qentry.h).
 *
 * Decode flow:  bytes -> qentry_prescan (bounds, nesting)
 *                     -> msgpack_unpack_next (whole input, one map)
 *                     -> qentry_take_field per key (types, lengths)
 *                     -> required keys present, BSON validated
 *
 * The pre-scan exists because msgpack-c allocates an array's or map's
 * object slots up front from the declared count: 5 hostile bytes could ask
 * for gigabytes.  After the pre-scan every count is <= the bytes left.
 */
#include "qentry.h"
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <msgpack.h>

#define QENTRY_NEST_MAX 8

enum qentry_field {
	QF_V,
	QF_S,
	QF_N,
	QF_T,
	QF_TN,
	QF_D,
	QF_C,
	QF_K,
	QF_ID,
	QF_P,
	QF_A,
	QF_E,
	QF_US,
	QF_UA,
	QF_COUNT
};

static const char *const qentry_keys[QF_COUNT] = {
	"v", "s", "n", "t", "tn", "d", "c", "k", "id", "p", "a", "e", "us", "ua",
};

/* Fields a decoder must see. */
static const uint32_t qentry_required = (1u << QF_V) | (1u << QF_S) | (1u << QF_N) |
					(1u << QF_T) | (1u << QF_TN) | (1u << QF_D) |
					(1u << QF_C) | (1u << QF_K) | (1u << QF_ID) | (1u << QF_P);

static const char *const qentry_kind_names[QENTRY_KIND_COUNT] = {
	"insert", "update", "delete", "replace", "resync", "txn",
};

const char *qentry_kind_name(enum qentry_kind kind)
{
	if ((unsigned)kind >= QENTRY_KIND_COUNT)
		return NULL;
	return qentry_kind_names[kind];
}

/* ------------------------------------------------------------ validation */

static bool qentry_name_ok(const char *s, size_t len, size_t max)
{
	return s && len <= max && memchr(s, '\0', len) == NULL && bson_utf8_validate(s, len, false);
}

static bool qentry_bson_ok(const uint8_t *b, size_t len, size_t max)
{
	bson_t doc;
	size_t off;

	if (!b || len < 5 || len > max || !bson_init_static(&doc, b, len))
		return false;
	return bson_validate(&doc, BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL, &off);
}

/* What encode and decode both insist on. */
static bool qentry_check(const struct qentry *e, char *err, size_t errlen)
{
	const char *names[4] = {e->node, e->tenant, e->db, e->coll};
	const char *what[4] = {"node", "tenant", "db", "coll"};

	for (int i = 0; i < 4; i++)
		if (!names[i] || !qentry_name_ok(names[i], strlen(names[i]), QENTRY_NAME_MAX))
			return errbuf_fail(err, errlen, "%s: missing, too long or not UTF-8", what[i]);
	if (e->tenant[0] == '\0')
		return errbuf_fail(err, errlen, "tenant: empty");
	if ((unsigned)e->kind >= QENTRY_KIND_COUNT)
		return errbuf_fail(err, errlen, "kind: %u out of range", (unsigned)e->kind);
	if (!qentry_bson_ok(e->doc_key, e->doc_key_len, QENTRY_KEY_MAX))
		return errbuf_fail(err, errlen, "doc_key: not a valid BSON document");
	if (!qentry_bson_ok(e->payload, e->payload_len, QENTRY_PAYLOAD_MAX))
		return errbuf_fail(err, errlen, "payload: not a valid BSON document");
	if (e->error && !qentry_name_ok(e->error, strlen(e->error), QENTRY_ERROR_MAX))
		return errbuf_fail(err, errlen, "error: too long or not UTF-8");
	return true;
}

/* ------------------------------------------------------------ encode */

static void qentry_pack_key(msgpack_packer *pk, enum qentry_field f)
{
	size_t n = strlen(qentry_keys[f]);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, qentry_keys[f], n);
}

static void qentry_pack_strf(msgpack_packer *pk, enum qentry_field f, const char *s)
{
	size_t n = strlen(s);
	qentry_pack_key(pk, f);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void qentry_pack_binf(msgpack_packer *pk, enum qentry_field f, const uint8_t *b, size_t n)
{
	qentry_pack_key(pk, f);
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, b, n);
}

static void qentry_pack_uintf(msgpack_packer *pk, enum qentry_field f, uint64_t v)
{
	qentry_pack_key(pk, f);
	msgpack_pack_uint64(pk, v);
}

/* The packer's sink: an sbuffer that remembers a failed write (msgpack-c's
 * pack functions report it, but checking each of ~30 calls would bury the
 * format; one sticky flag is checked at the end instead). */
struct qentry_sink {
	msgpack_sbuffer sb;
	bool failed;
};

static int qentry_sink_write(void *data, const char *buf, size_t len)
{
	struct qentry_sink *s = data;

	if (s->failed || msgpack_sbuffer_write(&s->sb, buf, len) != 0)
		s->failed = true;
	return s->failed ? -1 : 0;
}

bool qentry_encode(const struct qentry *e, uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
	struct qentry_sink sink = {.failed = false};
	msgpack_packer pk;

	if (!qentry_check(e, err, errlen))
		return false;
	msgpack_sbuffer_init(&sink.sb);
	msgpack_packer_init(&pk, &sink, qentry_sink_write);
	msgpack_pack_map(&pk, (e->error ? 12u : 11u) + (e->sent_us ? 1u : 0u) + (e->ack_us ? 1u : 0u));
	qentry_pack_uintf(&pk, QF_V, QENTRY_VERSION);
	qentry_pack_uintf(&pk, QF_S, e->seq);
	qentry_pack_strf(&pk, QF_N, e->node);
	qentry_pack_uintf(&pk, QF_T, e->ts_ms);
	qentry_pack_strf(&pk, QF_TN, e->tenant);
	qentry_pack_strf(&pk, QF_D, e->db);
	qentry_pack_strf(&pk, QF_C, e->coll);
	qentry_pack_uintf(&pk, QF_K, (uint64_t)e->kind);
	qentry_pack_binf(&pk, QF_ID, e->doc_key, e->doc_key_len);
	qentry_pack_binf(&pk, QF_P, e->payload, e->payload_len);
	qentry_pack_uintf(&pk, QF_A, e->attempts);
	if (e->error)
		qentry_pack_strf(&pk, QF_E, e->error);
	if (e->sent_us)
		qentry_pack_uintf(&pk, QF_US, e->sent_us);
	if (e->ack_us)
		qentry_pack_uintf(&pk, QF_UA, e->ack_us);
	if (sink.failed || !sink.sb.data) {
		msgpack_sbuffer_destroy(&sink.sb);
		return errbuf_fail(err, errlen, "out of memory");
	}
	*out = (uint8_t *)sink.sb.data; /* sbuffer memory is malloc'd: caller frees */
	*out_len = sink.sb.size;
	return true;
}

/* ------------------------------------------------------------ pre-scan */

static bool qentry_need(const uint8_t **p, size_t *left, size_t n)
{
	if (n > *left)
		return false;
	*p += n;
	*left -= n;
	return true;
}

static uint64_t qentry_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Read an n-byte big-endian length after the type byte; skip it. */
static bool qentry_len(const uint8_t **p, size_t *left, int n, uint64_t *len)
{
	if ((size_t)n > *left)
		return false;
	*len = qentry_be(*p, n);
	*p += n;
	*left -= (size_t)n;
	return true;
}

static bool qentry_prescan(const uint8_t **p, size_t *left, int depth);

static bool qentry_prescan_items(const uint8_t **p, size_t *left, int depth, uint64_t items)
{
	if (depth >= QENTRY_NEST_MAX || items > *left) /* every item takes >= 1 byte */
		return false;
	for (uint64_t i = 0; i < items; i++)
		if (!qentry_prescan(p, left, depth + 1))
			return false;
	return true;
}

/* Skip one msgpack object; false if it is malformed or runs past the end. */
static bool qentry_prescan(const uint8_t **p, size_t *left, int depth)
{
	static const uint8_t fixed[0x20] = {
		/* c0..df: bytes after the type byte, 0xff = variable */
		0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 4, 8, 1, 2, 4, 8,
		1, 2, 4, 8, 2, 3, 5, 9, 17, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	uint8_t t;
	uint64_t n;

	if (*left < 1)
		return false;
	t = **p;
	(*p)++, (*left)--;
	if (t <= 0x7f || t >= 0xe0)
		return true;
	if (t <= 0x8f)
		return qentry_prescan_items(p, left, depth, 2u * (t & 0x0f));
	if (t <= 0x9f)
		return qentry_prescan_items(p, left, depth, t & 0x0f);
	if (t <= 0xbf)
		return qentry_need(p, left, t & 0x1f);
	if (t == 0xc1)
		return false;
	if (fixed[t - 0xc0] != 0xff)
		return qentry_need(p, left, fixed[t - 0xc0]);
	switch (t) {
	case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
		return qentry_len(p, left, 1 << (t - 0xc4), &n) && qentry_need(p, left, n);
	case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, type, data */
		return qentry_len(p, left, 1 << (t - 0xc7), &n) && n < SIZE_MAX &&
		       qentry_need(p, left, n + 1);
	case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
		return qentry_len(p, left, 1 << (t - 0xd9), &n) && qentry_need(p, left, n);
	case 0xdc: case 0xdd: /* array 16/32 */
		return qentry_len(p, left, t == 0xdc ? 2 : 4, &n) &&
		       qentry_prescan_items(p, left, depth, n);
	default: /* 0xde, 0xdf: map 16/32 */
		return qentry_len(p, left, t == 0xde ? 2 : 4, &n) &&
		       qentry_prescan_items(p, left, depth, 2 * n);
	}
}

/* ------------------------------------------------------------ decode */

static char *qentry_strdup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static bool qentry_take_str(const msgpack_object *o, size_t max, char **dst)
{
	if (o->type != MSGPACK_OBJECT_STR ||
	    !qentry_name_ok(o->via.str.ptr, o->via.str.size, max))
		return false;
	*dst = qentry_strdup_n(o->via.str.ptr, o->via.str.size);
	return *dst != NULL;
}

static bool qentry_take_bin(const msgpack_object *o, size_t max, uint8_t **dst, size_t *len)
{
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size > max ||
	    !qentry_bson_ok((const uint8_t *)o->via.bin.ptr, o->via.bin.size, max))
		return false;
	*dst = malloc(o->via.bin.size);
	if (!*dst)
		return false;
	memcpy(*dst, o->via.bin.ptr, o->via.bin.size);
	*len = o->via.bin.size;
	return true;
}

static bool qentry_take_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
		return false;
	*v = o->via.u64;
	return true;
}

/* Store value o of field f into e; false on a wrong type or bound. */
static bool qentry_take_field(struct qentry *e, enum qentry_field f, const msgpack_object *o)
{
	uint64_t u;

	switch (f) {
	case QF_V:
		if (!qentry_take_uint(o, QENTRY_VERSION, &u) || u < 1)
			return false;
		e->version = (uint32_t)u;
		return true;
	case QF_S: return qentry_take_uint(o, UINT64_MAX, &e->seq);
	case QF_N: return qentry_take_str(o, QENTRY_NAME_MAX, &e->node);
	case QF_T: return qentry_take_uint(o, UINT64_MAX, &e->ts_ms);
	case QF_TN: return qentry_take_str(o, QENTRY_NAME_MAX, &e->tenant) && e->tenant[0];
	case QF_D: return qentry_take_str(o, QENTRY_NAME_MAX, &e->db);
	case QF_C: return qentry_take_str(o, QENTRY_NAME_MAX, &e->coll);
	case QF_K:
		if (!qentry_take_uint(o, QENTRY_KIND_COUNT - 1, &u))
			return false;
		e->kind = (enum qentry_kind)u;
		return true;
	case QF_ID: return qentry_take_bin(o, QENTRY_KEY_MAX, &e->doc_key, &e->doc_key_len);
	case QF_P: return qentry_take_bin(o, QENTRY_PAYLOAD_MAX, &e->payload, &e->payload_len);
	case QF_A:
		if (!qentry_take_uint(o, UINT32_MAX, &u))
			return false;
		e->attempts = (uint32_t)u;
		return true;
	case QF_US: return qentry_take_uint(o, UINT64_MAX, &e->sent_us);
	case QF_UA: return qentry_take_uint(o, UINT64_MAX, &e->ack_us);
	default: return qentry_take_str(o, QENTRY_ERROR_MAX, &e->error);
	}
}

static int qentry_field_of(const msgpack_object *k)
{
	if (k->type != MSGPACK_OBJECT_STR)
		return -1;
	for (int f = 0; f < QF_COUNT; f++)
		if (strlen(qentry_keys[f]) == k->via.str.size &&
		    memcmp(qentry_keys[f], k->via.str.ptr, k->via.str.size) == 0)
			return f;
	return -1;
}

static bool qentry_from_map(const msgpack_object *root, struct qentry *e, char *err, size_t errlen)
{
	uint32_t seen = 0;

	if (root->type != MSGPACK_OBJECT_MAP)
		return errbuf_fail(err, errlen, "not a msgpack map");
	for (uint32_t i = 0; i < root->via.map.size; i++) {
		const msgpack_object_kv *kv = &root->via.map.ptr[i];
		int f = qentry_field_of(&kv->key);

		if (f < 0)
			continue; /* unknown key (or non-string key): ignored */
		if (seen & (1u << f))
			return errbuf_fail(err, errlen, "duplicate key \"%s\"", qentry_keys[f]);
		seen |= 1u << f;
		if (!qentry_take_field(e, (enum qentry_field)f, &kv->val))
			return errbuf_fail(err, errlen, "bad value for \"%s\"", qentry_keys[f]);
	}
	for (int f = 0; f < QF_COUNT; f++)
		if ((qentry_required & (1u << f)) && !(seen & (1u << f)))
			return errbuf_fail(err, errlen, "missing key \"%s\"", qentry_keys[f]);
	return true;
}

bool qentry_decode(const uint8_t *data, size_t len, struct qentry *e, char *err, size_t errlen)
{
	const uint8_t *p = data;
	size_t left = len;
	msgpack_unpacked up;
	size_t off = 0;
	bool ok;

	memset(e, 0, sizeof *e);
	if (!data || len == 0 || len > QENTRY_ENCODED_MAX)
		return errbuf_fail(err, errlen, "entry size %zu out of range", len);
	if (!qentry_prescan(&p, &left, 0) || left != 0)
		return errbuf_fail(err, errlen, "malformed msgpack (truncated, trailing or too deep)");
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, (const char *)data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len) {
		msgpack_unpacked_destroy(&up);
		return errbuf_fail(err, errlen, "malformed msgpack");
	}
	ok = qentry_from_map(&up.data, e, err, errlen);
	msgpack_unpacked_destroy(&up);
	if (!ok)
		qentry_free(e);
	return ok;
}

void qentry_free(struct qentry *e)
{
	if (!e)
		return;
	free(e->node);
	free(e->tenant);
	free(e->db);
	free(e->coll);
	free(e->doc_key);
	free(e->payload);
	free(e->error);
	memset(e, 0, sizeof *e);
}
