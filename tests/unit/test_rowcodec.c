/*
 * test_rowcodec.c - the BSON <-> jsonb row codec and ObjectId -> uuid.
 *
 * Property test: a seeded PRNG builds thousands of random documents (every
 * BSON type, nesting past depth 20, unicode and odd keys, duplicate keys,
 * invalid UTF-8, NaN payloads, decimal128 bit patterns, ~1 MB strings);
 * each must come back byte-identical, and every encoding must pass an
 * independent strict JSON/UTF-8 validator written here. ROWCODEC_SEED=n
 * replays a run; every failure message prints the seed.
 * Hostile inputs (truncations, wrong shapes, deep nesting, giant numbers,
 * bad base64, mutated encodings) must be refused with a message, not crash.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "oid_uuid.h"
#include "rowcodec.h"

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

static uint64_t seed_init(void)
{
	const char *env = getenv("ROWCODEC_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	rng_state = seed * 2654435761ULL + 1;
	return seed;
}

/* ---- an independent strict JSON validator ------------------------------ */

static bool v_value(const char **p, const char *e, int depth);

static void v_ws(const char **p, const char *e)
{
	while (*p < e && strchr(" \t\r\n", **p) && **p)
		(*p)++;
}

static bool v_string(const char **p, const char *e)
{
	(*p)++;
	while (*p < e) {
		unsigned char c = (unsigned char)**p;
		if (c == '"') { (*p)++; return true; }
		if (c < 0x20) return false;
		if (c == '\\') {
			if (++*p >= e) return false;
			if (**p == 'u') {
				if (e - *p < 5) return false;
				if (!strncmp(*p, "u0000", 5)) return false; /* jsonb refuses */
				*p += 5;
				continue;
			}
			if (!strchr("\"\\/bfnrt", **p) || !**p) return false;
			(*p)++;
			continue;
		}
		int k = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1
		      : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
		if (k < 0 || e - *p <= k) return false;
		uint32_t cp = k == 0 ? c : c & (0x3f >> k);
		for (int i = 1; i <= k; i++) {
			unsigned char cc = (unsigned char)(*p)[i];
			if ((cc & 0xc0) != 0x80) return false;
			cp = cp << 6 | (cc & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		*p += k + 1;
	}
	return false;
}

static bool v_seq(const char **p, const char *e, int depth, char close,
		  bool obj)
{
	(*p)++;
	v_ws(p, e);
	if (*p < e && **p == close) { (*p)++; return true; }
	for (;;) {
		v_ws(p, e);
		if (obj) {
			if (*p >= e || **p != '"' || !v_string(p, e)) return false;
			v_ws(p, e);
			if (*p >= e || **p != ':') return false;
			(*p)++;
		}
		if (!v_value(p, e, depth + 1)) return false;
		v_ws(p, e);
		if (*p < e && **p == ',') { (*p)++; continue; }
		if (*p < e && **p == close) { (*p)++; return true; }
		return false;
	}
}

static bool v_value(const char **p, const char *e, int depth)
{
	v_ws(p, e);
	if (*p >= e || depth > 1000) return false;
	if (**p == '{') return v_seq(p, e, depth, '}', true);
	if (**p == '[') return v_seq(p, e, depth, ']', false);
	if (**p == '"') return v_string(p, e);
	for (const char *w = "true\0false\0null\0"; *w; w += strlen(w) + 1)
		if ((size_t)(e - *p) >= strlen(w) && !strncmp(*p, w, strlen(w))) {
			*p += strlen(w);
			return true;
		}
	const char *s = *p;
	if (*p < e && **p == '-') (*p)++;
	if (*p >= e || **p < '0' || **p > '9') return false;
	if (**p == '0') (*p)++;
	else while (*p < e && **p >= '0' && **p <= '9') (*p)++;
	if (*p < e && **p == '.') {
		(*p)++;
		if (*p >= e || **p < '0' || **p > '9') return false;
		while (*p < e && **p >= '0' && **p <= '9') (*p)++;
	}
	return *p > s; /* rowcodec never writes exponents */
}

static bool json_valid(const char *s, size_t n)
{
	const char *p = s, *e = s + n;
	if (!v_value(&p, e, 0)) return false;
	v_ws(&p, e);
	return p == e;
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

/* ---- helpers ----------------------------------------------------------- */

static void check_roundtrip(const bson_t *doc, uint64_t seed, int iter)
{
	char *json;
	size_t len;
	bson_error_t err;
	bson_t back;

	cr_assert(rowcodec_to_json(doc, &json, &len, &err),
		  "seed %lu iter %d: to_json: %s", (unsigned long)seed, iter,
		  err.message);
	cr_assert_eq(strlen(json), len, "seed %lu iter %d: NUL in output",
		     (unsigned long)seed, iter);
	cr_assert(json_valid(json, len), "seed %lu iter %d: invalid JSON: %.300s",
		  (unsigned long)seed, iter, json);
	cr_assert(rowcodec_from_json(json, len, &back, &err),
		  "seed %lu iter %d: from_json: %s in %.300s", (unsigned long)seed,
		  iter, err.message, json);
	cr_assert_eq(back.len, doc->len, "seed %lu iter %d: length differs",
		     (unsigned long)seed, iter);
	cr_assert(bson_equal(&back, doc), "seed %lu iter %d: not equal",
		  (unsigned long)seed, iter);
	cr_assert(!memcmp(bson_get_data(&back), bson_get_data(doc), doc->len),
		  "seed %lu iter %d: bytes differ", (unsigned long)seed, iter);
	bson_destroy(&back);
	bson_free(json);
}

static void expect_json(const bson_t *doc, const char *want)
{
	char *json;
	size_t len;
	bson_error_t err;

	cr_assert(rowcodec_to_json(doc, &json, &len, &err), "%s", err.message);
	cr_assert_str_eq(json, want);
	bson_free(json);
}

static void expect_reject(const char *json, size_t len, const char *why)
{
	bson_error_t err;
	bson_t out;

	memset(&err, 0, sizeof err);
	cr_assert_not(rowcodec_from_json(json, len, &out, &err),
		      "accepted (%s): %.200s", why, json);
	cr_assert(err.message[0] != '\0', "no message (%s)", why);
	cr_assert_eq(out.len, 5u, "out not emptied (%s)", why);
	bson_destroy(&out);
}

/* A chain of `levels` nested documents/arrays with random siblings. */
static void gen_deep(bson_t *b, int levels)
{
	bson_t child;

	if (levels == 0) {
		gen_doc(b, 0, 3);
		return;
	}
	gen_value(b, "s", 0, 0);
	if (rndn(2)) {
		bson_append_document_begin(b, "d", -1, &child);
		gen_deep(&child, levels - 1);
		bson_append_document_end(b, &child);
	} else {
		bson_t inner;
		bson_append_array_begin(b, "arr", -1, &child);
		bson_append_document_begin(&child, "0", -1, &inner);
		gen_deep(&inner, levels - 1);
		bson_append_document_end(&child, &inner);
		bson_append_array_end(b, &child);
	}
}

/* ---- property tests ---------------------------------------------------- */

Test(rowcodec, random_documents_roundtrip_bytewise, .timeout = 110)
{
	uint64_t seed = seed_init();

	for (int i = 0; i < 5000; i++) {
		bson_t doc = BSON_INITIALIZER;
		if (i % 10 == 0)
			gen_deep(&doc, 20 + (int)rndn(30));
		else
			gen_doc(&doc, 0, (int)rndn(6));
		check_roundtrip(&doc, seed, i);
		bson_destroy(&doc);
	}
}

Test(rowcodec, huge_values_roundtrip)
{
	uint64_t seed = seed_init();
	size_t n = 1 << 20;
	char *s = malloc(n);
	uint8_t *bin = malloc(n);
	bson_t doc = BSON_INITIALIZER, arr;
	char idx[16];

	for (size_t i = 0; i < n; i++) {
		s[i] = "aé\"\\\n€x"[rndn(9)];
		bin[i] = (uint8_t)rnd();
	}
	s[n - 1] = 'z'; /* do not end inside a multibyte piece */
	bson_append_utf8(&doc, "big", -1, s, (int)n);
	bson_append_binary(&doc, "bin", -1, BSON_SUBTYPE_BINARY, bin, (uint32_t)n);
	s[10] = (char)0xff; /* invalid UTF-8 megabyte string */
	bson_append_utf8(&doc, "bad", -1, s, (int)n);
	bson_append_array_begin(&doc, "many", -1, &arr);
	for (int i = 0; i < 20000; i++) {
		snprintf(idx, sizeof idx, "%d", i);
		bson_append_int32(&arr, idx, -1, i);
	}
	bson_append_array_end(&doc, &arr);
	check_roundtrip(&doc, seed, 0);
	bson_destroy(&doc);
	free(s);
	free(bin);
}

Test(rowcodec, empty_containers_roundtrip)
{
	bson_t doc = BSON_INITIALIZER, c;

	check_roundtrip(&doc, 0, 0);
	bson_append_document_begin(&doc, "d", -1, &c);
	bson_append_document_end(&doc, &c);
	bson_append_array_begin(&doc, "a", -1, &c);
	bson_append_array_end(&doc, &c);
	bson_append_utf8(&doc, "", -1, "", 0);
	bson_append_binary(&doc, "b", -1, BSON_SUBTYPE_BINARY_DEPRECATED, NULL, 0);
	check_roundtrip(&doc, 0, 1);
	bson_destroy(&doc);
}

/* ---- the documented format --------------------------------------------- */

Test(rowcodec, format_is_queryable_object_with_order)
{
	bson_t *doc = BCON_NEW("b", BCON_INT32(1), "a", BCON_UTF8("x"),
			       "~o", BCON_BOOL(true), "n", BCON_NULL);
	expect_json(doc, "{\"b\":1,\"a\":\"x\",\"~~o\":true,\"n\":null,"
			 "\"~o\":[\"b\",\"a\",\"~o\",\"n\"]}");
	bson_destroy(doc);
}

Test(rowcodec, numbers_keep_their_type)
{
	bson_t *doc = BCON_NEW("i", BCON_INT32(5), "l", BCON_INT64(5),
			       "L", BCON_INT64(5000000000LL), "d", BCON_DOUBLE(5.0),
			       "e", BCON_DOUBLE(1e21), "f", BCON_DOUBLE(0.1),
			       "z", BCON_DOUBLE(-0.0));
	expect_json(doc, "{\"i\":5,\"l\":{\"~t\":\"l\",\"v\":5},\"L\":5000000000,"
			 "\"d\":5.0,\"e\":1000000000000000000000.0,\"f\":0.1,"
			 "\"z\":{\"~t\":\"d\",\"x\":\"8000000000000000\"},"
			 "\"~o\":[\"i\",\"l\",\"L\",\"d\",\"e\",\"f\",\"z\"]}");
	bson_destroy(doc);
}

Test(rowcodec, duplicate_keys_survive_in_order)
{
	bson_t doc = BSON_INITIALIZER;

	bson_append_int32(&doc, "k", -1, 1);
	bson_append_int32(&doc, "j", -1, 2);
	bson_append_int32(&doc, "k", -1, 3);
	bson_append_utf8(&doc, "k", -1, "4", 1);
	expect_json(&doc, "{\"k\":1,\"j\":2,\"~o\":[\"k\",\"j\",\"k\",\"k\"],"
			  "\"~d\":[3,\"4\"]}");
	check_roundtrip(&doc, 0, 0);
	bson_destroy(&doc);
}

Test(rowcodec, nul_and_invalid_utf8_strings_become_base64)
{
	bson_t doc = BSON_INITIALIZER;

	bson_append_utf8(&doc, "a", -1, "x\0y", 3);
	bson_append_utf8(&doc, "b", -1, "\xff", 1);
	expect_json(&doc, "{\"a\":{\"~t\":\"s\",\"b64\":\"eAB5\"},"
			  "\"b\":{\"~t\":\"s\",\"b64\":\"/w==\"},\"~o\":[\"a\",\"b\"]}");
	bson_destroy(&doc);
}

Test(rowcodec, rejects_invalid_bson_and_bad_keys)
{
	bson_t doc = BSON_INITIALIZER, *deep;
	char *json;
	size_t len;
	bson_error_t err;

	bson_append_int32(&doc, "\xff", -1, 1);
	cr_assert_not(rowcodec_to_json(&doc, &json, &len, &err));
	cr_assert_null(json);
	cr_assert(strstr(err.message, "UTF-8"), "%s", err.message);
	cr_assert(strstr(err.message, "offset 4"), "%s", err.message);
	bson_destroy(&doc);

	deep = bson_new();
	for (int i = 0; i < ROWCODEC_MAX_BSON_DEPTH + 5; i++) {
		bson_t *outer = bson_new();
		bson_append_document(outer, "x", -1, deep);
		bson_destroy(deep);
		deep = outer;
	}
	cr_assert_not(rowcodec_to_json(deep, &json, &len, &err));
	cr_assert(strstr(err.message, "deeper"), "%s", err.message);
	bson_destroy(deep);
}

/* ---- hostile input ----------------------------------------------------- */

Test(rowcodec, rejects_malformed_shapes)
{
	static const char *const bad[] = {
		"", " ", "[]", "1", "\"x\"", "{}", "{\"~o\":\"a\"}", "{\"a\":1}",
		"{\"~o\":[\"a\"]}", "{\"~o\":[],\"a\":1}", "{\"~o\":[1]}",
		"{\"~o\":[\"a\",\"a\"],\"a\":1}", "{\"~o\":[\"a\"],\"a\":1,\"~d\":[2]}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"zz\"}}", "{\"~o\":[\"a\"],\"a\":{}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":1}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"d\",\"x\":\"zz\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"d\",\"x\":\"000000000000000A\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"u\",\"v\":1}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"s\",\"b64\":\"abc\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"s\",\"b64\":\"ab=c\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"s\",\"b64\":\"QR==\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"s\",\"b64\":\"QQ==QQ==\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"s\",\"b64\":\"Q Q=\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"b\",\"st\":256,\"b64\":\"\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"b\",\"st\":-1,\"b64\":\"\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"ts\",\"t\":4294967296,\"i\":0}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"oid\",\"v\":\"abc\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"m\",\"v\":\"pony\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"re\",\"p\":{\"b64\":\"AA==\"},\"o\":\"\"}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"jss\",\"v\":\"x\",\"scope\":1}}",
		"{\"~o\":[\"a\"],\"a\":{\"~t\":\"dt\",\"v\":1.5}}",
		"{\"~o\":[\"a\"],\"a\":99999999999999999999}",
		"{\"~o\":[\"a\"],\"a\":1e999}", "{\"~o\":[\"a\"],\"a\":-}",
		"{\"~o\":[\"a\"],\"a\":01}", "{\"~o\":[\"a\"],\"a\":1.}",
		"{\"~o\":[\"a\"],\"a\":tru}", "{\"~o\":[\"a\"],\"a\":\"\\u0000\"}",
		"{\"~o\":[\"a\"],\"a\":\"\\ud800\"}", "{\"~o\":[\"a\"],\"a\":\"\\q\"}",
		"{\"~o\":[\"a\"],\"a\":\"\xff\"}", "{\"~o\":[\"a\"],\"a\":\"\x01\"}",
		"{\"~o\":[\"a\"],\"a\":\"\xed\xa0\x80\"}",
		"{\"~o\":[],\"~x\":1}", "{\"~o\":[],\"~o\":[]}",
		"{\"~o\":[]} x", "{\"~o\":[],}", "{\"~o\" []}", "{\"~o\":[]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect_reject(bad[i], strlen(bad[i]), bad[i]);
}

Test(rowcodec, rejects_giant_numbers_and_deep_nesting)
{
	size_t n = 10000;
	char *s = malloc(4 * n + 64);
	if (!s)
		abort();
	int o = sprintf(s, "{\"~o\":[\"a\"],\"a\":");
	if (o < 0)
		abort();

	memset(s + o, '9', n);
	strcpy(s + o + n, "}");
	expect_reject(s, strlen(s), "10000-digit integer");
	s[o + 1] = '.';
	expect_reject(s, strlen(s), "10000-digit double");

	o = sprintf(s, "{\"~o\":[\"a\"],\"a\":");
	memset(s + o, '[', n);
	memset(s + o + n, ']', n);
	strcpy(s + o + 2 * n, "}");
	expect_reject(s, strlen(s), "10000 nested arrays");

	o = 0;
	for (size_t i = 0; i < 300; i++)
		o += sprintf(s + o, "{\"~o\":[\"a\"],\"a\":");
	o += sprintf(s + o, "1");
	for (size_t i = 0; i < 300; i++)
		s[o++] = '}';
	s[o] = '\0';
	expect_reject(s, (size_t)o, "300 nested documents");
	free(s);
}

Test(rowcodec, truncations_and_mutations_never_crash)
{
	uint64_t seed = seed_init();
	int accepted = 0;

	for (int i = 0; i < 300; i++) {
		bson_t doc = BSON_INITIALIZER, out;
		char *json;
		size_t len;
		bson_error_t err;

		gen_doc(&doc, 0, 3);
		cr_assert(rowcodec_to_json(&doc, &json, &len, &err));
		for (size_t cut = 0; cut < len; cut += 1 + len / 40)
			expect_reject(json, cut, "truncated");
		for (int m = 0; m < 20; m++) {
			char *mut = malloc(len + 1);
			memcpy(mut, json, len + 1);
			for (int f = 0; f < 1 + (int)rndn(3); f++)
				mut[rndn((uint32_t)len)] = (char)rnd();
			if (rowcodec_from_json(mut, len, &out, &err)) {
				accepted++;
				cr_assert(bson_validate(&out, BSON_VALIDATE_NONE, NULL),
					  "seed %lu: accepted mutation gave bad BSON",
					  (unsigned long)seed);
			} else {
				cr_assert(err.message[0], "seed %lu: no message",
					  (unsigned long)seed);
			}
			bson_destroy(&out);
			free(mut);
		}
		bson_free(json);
		bson_destroy(&doc);
	}
	cr_log_info("mutations accepted as other valid documents: %d", accepted);
}

/* ---- ObjectId -> uuid -------------------------------------------------- */

Test(oid_uuid, known_vector_and_layout)
{
	bson_oid_t oid;
	uint8_t u[16];
	char txt[37];

	bson_oid_init_from_string(&oid, "507f1f77bcf86cd799439011");
	oid_to_uuid(&oid, u);
	uuid_format(u, txt);
	cr_assert_str_eq(txt, "507f1f77-bcf8-806c-80d7-994390110000");
	cr_assert_eq(u[6] >> 4, 8, "version 8");
	cr_assert_eq(u[8] >> 6, 2, "RFC 9562 variant");
}

Test(oid_uuid, reversible_and_rejects_foreign_uuids)
{
	uint64_t seed = seed_init();
	bson_oid_t oid, back;
	uint8_t u[16], u2[16];

	for (int i = 0; i < 10000; i++) {
		for (int j = 0; j < 12; j++)
			oid.bytes[j] = (uint8_t)rnd();
		oid_to_uuid(&oid, u);
		oid_to_uuid(&oid, u2);
		cr_assert(!memcmp(u, u2, 16), "seed %lu: not deterministic",
			  (unsigned long)seed);
		cr_assert(uuid_to_oid(u, &back));
		cr_assert(!memcmp(oid.bytes, back.bytes, 12), "seed %lu",
			  (unsigned long)seed);
	}
	u[15] = 1;
	cr_assert_not(uuid_to_oid(u, &back));
	u[15] = 0;
	u[6] = 0x40; /* a v4 uuid */
	cr_assert_not(uuid_to_oid(u, &back));
}
