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

#include "random_bson.h"

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
	uint64_t seed = seed_init("ROWCODEC_SEED");

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
	uint64_t seed = seed_init("ROWCODEC_SEED");
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
	uint64_t seed = seed_init("ROWCODEC_SEED");
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
	uint64_t seed = seed_init("ROWCODEC_SEED");
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
