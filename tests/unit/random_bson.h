/*
 * random_bson.h - seeded random BSON documents for property tests (the
 * rowcodec and rowstore suites): every BSON type, nesting, unicode and
 * hostile keys, duplicates, huge and empty values, NaN/-0.0/Inf, decimal
 * specials.  Header-only: each test program gets its own PRNG state.
 *
 *   uint64_t seed = seed_init("ROWCODEC_SEED");   // env overrides the seed
 *   gen_doc(&b, 0, maxdepth);
 */
#ifndef TANDEM_TEST_RANDOM_BSON_H
#define TANDEM_TEST_RANDOM_BSON_H

#include <bson/bson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- PRNG (xorshift64*) ------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint32_t rndn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static uint64_t seed_init(const char *env_name)
{
	const char *env = getenv(env_name);
	uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	rng_state = seed * 2654435761ULL + 1;
	return seed;
}


/* ---- random documents -------------------------------------------------- */

static const char *const key_pool[] = {
	"", "a", "_id", "a.b", "$set", "$", "..", "~", "~o", "~d", "~t", "~~",
	"~x", "v", "0", "ключ", "日本語", "😀", "é", "x y", "\"q\"", "back\\slash",
	"tab\tnl\n", "\x7f", "a.b.c.$d",
};

/* Random bytes: valid UTF-8 mostly, sometimes NUL, controls, invalid. */
static char *rnd_text(size_t *len, bool allow_nul)
{
	static const char *const pieces[] = {
		"a", "Z", " ", "\"", "\\", "/", "\n", "\x01", "\x1f", "é", "€",
		"😀", "日", "\xed\x9f\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
		"\xc0\x80", "\xed\xa0\x80", "\xff", "\x80", "\xe2\x82", "\xf5\x80\x80\x80",
	};
	size_t n = rndn(8) == 0 ? rndn(300) : rndn(12), cap = n * 5 + 1, o = 0;
	char *s = malloc(cap);
	bool clean = rndn(3) != 0;

	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rndn(clean ? 13 : 22)];
		memcpy(s + o, p, strlen(p));
		o += strlen(p);
		if (allow_nul && !clean && rndn(20) == 0)
			s[o++] = '\0';
	}
	s[o] = '\0';
	*len = o;
	return s;
}

static void append_raw(bson_t *b, const char *key, uint8_t type,
		       const uint8_t *pl, size_t plen)
{
	size_t kl = strlen(key), total = 4 + 1 + kl + 1 + plen + 1;
	uint8_t *buf = malloc(total);
	bson_t tmp;
	uint32_t t = (uint32_t)total;

	memcpy(buf, &t, 4);
	buf[4] = type;
	memcpy(buf + 5, key, kl + 1);
	memcpy(buf + 6 + kl, pl, plen);
	buf[total - 1] = 0;
	cr_assert(bson_init_static(&tmp, buf, total));
	cr_assert(bson_concat(b, &tmp));
	free(buf);
}

static double rnd_double(void)
{
	static const double fixed[] = { 0.0, -0.0, 1.0, -1.0, 0.1, 5.0, 1e300,
		-1e-300, 4.9e-324, 1.7976931348623157e308, 2.2250738585072014e-308,
		123456789012345678.0, 0.30000000000000004, 1e21, 1e-7 };
	uint64_t bits;
	double d;

	switch (rndn(5)) {
	case 0: return fixed[rndn(sizeof fixed / sizeof *fixed)];
	case 1: return rndn(2) ? INFINITY : -INFINITY;
	case 2: bits = rnd(); memcpy(&d, &bits, 8); return d; /* incl. NaNs */
	case 3: bits = 0x7ff0000000000000ULL | (rnd() & 0x800fffffffffffffULL) | 1;
		memcpy(&d, &bits, 8); return d; /* NaN payloads */
	default: return (double)(int32_t)rnd() / (double)(rndn(1000) + 1);
	}
}

static void rnd_decimal(bson_decimal128_t *d)
{
	static const char *const s[] = { "NaN", "-NaN", "Infinity", "-Infinity",
		"0", "-0", "1.000", "1E-6176", "9.999999999999999999999999999999999E+6144",
		"-0E+6111", "12345678901234567890.123", "0.1" };
	if (rndn(2)) {
		cr_assert(bson_decimal128_from_string(s[rndn(12)], d));
	} else {
		d->high = rnd();
		d->low = rnd();
	}
}

static void gen_doc(bson_t *b, int depth, int maxdepth);

static void gen_value(bson_t *b, const char *k, int depth, int maxdepth)
{
	bson_t child;
	bson_oid_t oid;
	bson_decimal128_t dec;
	uint8_t pl[64];
	size_t len;
	char *s;
	int type = rndn(depth < maxdepth ? 24 : 21);

	switch (type) {
	case 0: bson_append_double(b, k, -1, rnd_double()); break;
	case 1: case 2:
		s = rnd_text(&len, true);
		bson_append_utf8(b, k, -1, s, (int)len);
		free(s);
		break;
	case 3: {
		uint8_t st = rndn(3) ? (uint8_t)rndn(9) : (uint8_t)rnd();
		len = rndn(40);
		for (size_t i = 0; i < len; i++) pl[i] = (uint8_t)rnd();
		bson_append_binary(b, k, -1, st, pl, (uint32_t)len);
		break;
	}
	case 4: bson_append_undefined(b, k, -1); break;
	case 5:
		for (int i = 0; i < 12; i++) oid.bytes[i] = (uint8_t)rnd();
		bson_append_oid(b, k, -1, &oid);
		break;
	case 6: bson_append_bool(b, k, -1, rndn(2)); break;
	case 7: bson_append_date_time(b, k, -1, rndn(2) ? (int64_t)rnd()
					       : (int64_t)rndn(2000000000) * 1000);
		break;
	case 8: bson_append_null(b, k, -1); break;
	case 9: { /* regex, options unsorted on purpose */
		char *p = rnd_text(&len, false);
		const char *opts[] = { "", "i", "xmi", "us", "mxsliu", "\xff" };
		const char *o = opts[rndn(6)];
		size_t pos = 0;
		uint8_t *buf = malloc(len + strlen(o) + 2);
		memcpy(buf, p, len + 1); pos = len + 1;
		memcpy(buf + pos, o, strlen(o) + 1); pos += strlen(o) + 1;
		append_raw(b, k, BSON_TYPE_REGEX, buf, pos);
		free(buf);
		free(p);
		break;
	}
	case 10:
		for (int i = 0; i < 12; i++) oid.bytes[i] = (uint8_t)rnd();
		bson_append_dbpointer(b, k, -1, rndn(2) ? "db.coll" : "日本.x", &oid);
		break;
	case 11: case 12: { /* code / symbol, may hold NUL */
		s = rnd_text(&len, true);
		uint8_t *buf = malloc(len + 5);
		uint32_t l = (uint32_t)len + 1;
		memcpy(buf, &l, 4);
		memcpy(buf + 4, s, len + 1);
		append_raw(b, k, type == 11 ? BSON_TYPE_CODE : BSON_TYPE_SYMBOL,
			   buf, len + 5);
		free(buf);
		free(s);
		break;
	}
	case 13: bson_append_int32(b, k, -1, rndn(2) ? (int32_t)rnd()
					       : (int32_t)rndn(100) - 50);
		break;
	case 14: bson_append_timestamp(b, k, -1, (uint32_t)rnd(), (uint32_t)rnd());
		break;
	case 15: bson_append_int64(b, k, -1, rndn(2) ? (int64_t)rnd()
					       : (int64_t)rndn(100) - 50);
		break;
	case 16: rnd_decimal(&dec); bson_append_decimal128(b, k, -1, &dec); break;
	case 17: bson_append_minkey(b, k, -1); break;
	case 18: bson_append_maxkey(b, k, -1); break;
	case 19: bson_append_int32(b, k, -1, rndn(2) ? INT32_MIN : INT32_MAX); break;
	case 20: bson_append_int64(b, k, -1, rndn(2) ? INT64_MIN : INT64_MAX); break;
	case 21:
		bson_append_document_begin(b, k, -1, &child);
		gen_doc(&child, depth + 1, maxdepth);
		bson_append_document_end(b, &child);
		break;
	case 22: {
		uint32_t n = rndn(6);
		bool odd = rndn(8) == 0;
		char idx[16];
		bson_append_array_begin(b, k, -1, &child);
		for (uint32_t i = 0; i < n; i++) {
			snprintf(idx, sizeof idx, "%u", odd ? i * 2 + 1 : i);
			gen_value(&child, idx, depth + 1, maxdepth);
		}
		bson_append_array_end(b, &child);
		break;
	}
	default: {
		bson_t scope = BSON_INITIALIZER;
		gen_doc(&scope, depth + 1, maxdepth);
		s = rnd_text(&len, false);
		bson_append_code_with_scope(b, k, -1, s, &scope);
		bson_destroy(&scope);
		free(s);
	}
	}
}

static void gen_doc(bson_t *b, int depth, int maxdepth)
{
	uint32_t n = rndn(7);
	const char *prev = "a";
	char k[64];

	if (depth < maxdepth && rndn(3) == 0) { /* one long spine */
		bson_t child;
		bson_append_document_begin(b, "deep", -1, &child);
		gen_doc(&child, depth + 1, maxdepth);
		bson_append_document_end(b, &child);
	}
	for (uint32_t i = 0; i < n; i++) {
		switch (rndn(4)) {
		case 0: snprintf(k, sizeof k, "%s", prev); break; /* duplicate */
		case 1: snprintf(k, sizeof k, "f%u", rndn(50)); break;
		default:
			snprintf(k, sizeof k, "%s",
				 key_pool[rndn(sizeof key_pool / sizeof *key_pool)]);
		}
		gen_value(b, k, depth, maxdepth);
		prev = key_pool[rndn(sizeof key_pool / sizeof *key_pool)];
	}
}


#endif
