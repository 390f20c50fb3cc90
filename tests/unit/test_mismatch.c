/*
 * test_mismatch.c - the shadow_mismatch line: fields, timestamp, shape
 * redaction, redacted lengths vs full values, hostile strings and random
 * values always giving one line of valid JSON and valid UTF-8 (checked by
 * a strict parser below and by libbson's), and the per-tenant limiter.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "mismatch.h"
#include "random_bson.h"

/* ---- a strict JSON checker (RFC 8259, UTF-8 validated) ------------------ */

struct jp {
	const unsigned char *s;
	size_t n, i;
	int depth;
};

static bool jvalue(struct jp *p);

static void jws(struct jp *p)
{
	while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]))
		p->i++;
}

static bool jutf8(struct jp *p)
{
	unsigned char c = p->s[p->i];
	size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
	if (!k || c > 0xf4 || p->i + k > p->n)
		return false;
	for (size_t j = 1; j < k; j++)
		if ((p->s[p->i + j] & 0xc0) != 0x80)
			return false;
	unsigned char d = p->s[p->i + 1];
	if ((c == 0xe0 && d < 0xa0) || (c == 0xed && d >= 0xa0) || (c == 0xf0 && d < 0x90) ||
	    (c == 0xf4 && d >= 0x90))
		return false;
	p->i += k;
	return true;
}

static bool jstring(struct jp *p)
{
	if (p->i >= p->n || p->s[p->i] != '"')
		return false;
	for (p->i++; p->i < p->n;) {
		unsigned char c = p->s[p->i];
		if (c == '"') {
			p->i++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++p->i >= p->n)
				return false;
			c = p->s[p->i];
			if (c == 'u') {
				for (int k = 1; k <= 4; k++)
					if (p->i + k >= p->n || !strchr("0123456789abcdefABCDEF", p->s[p->i + k]))
						return false;
				p->i += 5;
			} else if (strchr("\"\\/bfnrt", c) && c) {
				p->i++;
			} else {
				return false;
			}
		} else if (c >= 0x80) {
			if (!jutf8(p))
				return false;
		} else {
			p->i++;
		}
	}
	return false;
}

static bool jnumber(struct jp *p)
{
	size_t st = p->i;
	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->n || !strchr("0123456789", p->s[p->i]) || !p->s[p->i])
		return false;
	if (p->s[p->i] == '0')
		p->i++;
	else
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		size_t d = p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (d == p->i)
			return false;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		size_t d = p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (d == p->i)
			return false;
	}
	return p->i > st;
}

static bool jlist(struct jp *p, char close, bool obj)
{
	p->i++;
	jws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		return true;
	}
	for (;;) {
		jws(p);
		if (obj) {
			if (!jstring(p))
				return false;
			jws(p);
			if (p->i >= p->n || p->s[p->i++] != ':')
				return false;
		}
		if (!jvalue(p))
			return false;
		jws(p);
		if (p->i >= p->n)
			return false;
		if (p->s[p->i] == close) {
			p->i++;
			return true;
		}
		if (p->s[p->i++] != ',')
			return false;
	}
}

static bool jvalue(struct jp *p)
{
	jws(p);
	if (p->i >= p->n || ++p->depth > 500)
		return false;
	bool ok;
	unsigned char c = p->s[p->i];
	if (c == '{')
		ok = jlist(p, '}', true);
	else if (c == '[')
		ok = jlist(p, ']', false);
	else if (c == '"')
		ok = jstring(p);
	else if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "true", 4))
		ok = (p->i += 4, true);
	else if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "false", 5))
		ok = (p->i += 5, true);
	else if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "null", 4))
		ok = (p->i += 4, true);
	else
		ok = jnumber(p);
	p->depth--;
	return ok;
}

static bool json_valid(const char *s, size_t n)
{
	struct jp p = {(const unsigned char *)s, n, 0, 0};
	if (!jvalue(&p))
		return false;
	jws(&p);
	return p.i == n;
}

Test(mismatch, checker_rejects_bad_json)
{
	const char *good = "{\"a\":[1,-2.5e3,\"\\u00ff\",true,null,{}]}";
	cr_expect(json_valid(good, strlen(good)));
	cr_expect_not(json_valid("{\"a\":1,}", 8));
	cr_expect_not(json_valid("{\"a\":\"\xff\"}", 9));
	cr_expect_not(json_valid("{\"a\":\"\n\"}", 9));
	cr_expect_not(json_valid("{\"a\":01}", 8));
	cr_expect_not(json_valid("{\"a\":1}x", 8));
	cr_expect_not(json_valid("{\"a\":\"\xed\xa0\x80\"}", 11)); /* surrogate */
}

/* ---- helpers ------------------------------------------------------------ */

static bson_t *J(const char *json)
{
	bson_error_t err;
	bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
	cr_assert(b, "bad json %s: %s", json, err.message);
	return b;
}

/* Compare two single-document result sets given as JSON. */
static void cmp1(const char *m, const char *p, struct compare_result *r)
{
	bson_t *bm = J(m), *bp = J(p);
	const bson_t *lm[1] = {bm}, *lp[1] = {bp};
	struct compare_opts o = {0};
	(void)compare_docs(lm, 1, lp, 1, &o, r);
	bson_destroy(bm);
	bson_destroy(bp);
}

/* The line must be one valid JSON object, parseable by libbson too. */
static char *line_ok(const struct mismatch_event *ev, const struct compare_result *r)
{
	size_t len = 0;
	char *line = mismatch_line(ev, r, &len);
	bson_error_t err;
	cr_assert_eq(len, strlen(line));
	cr_assert_null(memchr(line, '\n', len), "newline in %s", line);
	cr_assert(json_valid(line, len), "invalid JSON: %s", line);
	bson_t *b = bson_new_from_json((const uint8_t *)line, (ssize_t)len, &err);
	cr_assert(b, "libbson rejects %s: %s", line, err.message);
	bson_destroy(b);
	return line;
}

/* ---- the line ----------------------------------------------------------- */

Test(mismatch, money_case_redacted)
{
	struct compare_result r;
	cmp1("{\"_id\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"},\"price\":19.99,\"name\":\"hello\"}",
	     "{\"_id\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"},\"price\":1999,\"name\":\"hell\"}", &r);
	bson_t *q = J("{\"status\":\"A\",\"age\":{\"$gt\":30}}");
	struct mismatch_event ev = {.ts_ms = 1714564800123, .tenant = "acme", .db = "shop",
		.coll = "orders", .op = "find", .request_id = "r-17", .query = q,
		.mongo_ms = 1.25, .pg_ms = 3.5};
	char *line = line_ok(&ev, &r);
	const char *want =
		"{\"ts\":\"2024-05-01T12:00:00.123Z\",\"level\":\"warn\",\"event\":\"shadow_mismatch\","
		"\"tenant\":\"acme\",\"db\":\"shop\",\"coll\":\"orders\",\"op\":\"find\","
		"\"shape\":{\"status\":\"<string>\",\"age\":{\"$gt\":\"<int>\"}},\"mongo_n\":1,\"pg_n\":1,"
		"\"diff\":[{\"path\":\"_id=ObjectId(650c1f1e8f1b2c3d4e5f6a7b).price\",\"kind\":\"changed\","
		"\"mongo_type\":\"double\",\"pg_type\":\"int\"},"
		"{\"path\":\"_id=ObjectId(650c1f1e8f1b2c3d4e5f6a7b).name\",\"kind\":\"changed\","
		"\"mongo_type\":\"string\",\"mongo_len\":5,\"pg_type\":\"string\",\"pg_len\":4}],"
		"\"diffs_total\":2,\"truncated\":false,\"mongo_ms\":1.250,\"pg_ms\":3.500,\"request_id\":\"r-17\"}";
	cr_expect_str_eq(line, want);
	cr_expect_null(strstr(line, "19.99"));
	cr_expect_null(strstr(line, "hello"));
	bson_free(line);
	bson_destroy(q);
	compare_result_free(&r);
}

Test(mismatch, full_values_on_request)
{
	struct compare_result r;
	cmp1("{\"_id\":\"secret@x\",\"price\":19.99,\"t\":[1,2]}", "{\"_id\":\"secret@x\",\"price\":1999}", &r);
	struct mismatch_event ev = {.ts_ms = 0, .tenant = "t", .op = "find", .full_values = true};
	char *line = line_ok(&ev, &r);
	cr_expect(strstr(line, "\"ts\":\"1970-01-01T00:00:00.000Z\""), "%s", line);
	cr_expect(strstr(line, "\"path\":\"_id=\\\"secret@x\\\".price\""), "%s", line);
	cr_expect(strstr(line, "\"mongo_value\":{ \"$numberDouble\" : \"19.989999999999998437\" }"), "%s", line);
	cr_expect(strstr(line, "\"pg_value\":{ \"$numberInt\" : \"1999\" }"), "%s", line);
	cr_expect(strstr(line, "\"kind\":\"missing\",\"mongo_type\":\"array\",\"mongo_value\":[ { \"$numberInt\" : \"1\" }, { \"$numberInt\" : \"2\" } ],\"pg_type\":null"), "%s", line);
	bson_free(line);
	/* redacted: the string _id is replaced by the position, arrays by their count */
	ev.full_values = false;
	line = line_ok(&ev, &r);
	cr_expect_null(strstr(line, "secret"), "%s", line);
	cr_expect(strstr(line, "\"path\":\"[0].t\",\"kind\":\"missing\",\"mongo_type\":\"array\",\"mongo_len\":2,\"pg_type\":null"), "%s", line);
	bson_free(line);
	compare_result_free(&r);
}

Test(mismatch, counts_suppressed_partial_and_notes)
{
	struct compare_result r = {.mongo_n = 3, .pg_n = 0, .diffs_total = 40, .truncated = true, .partial = true};
	struct mismatch_event ev = {.ts_ms = -1, .suppressed = 7, .mongo_ms = 0.0 / 0.0};
	char *line = line_ok(&ev, &r);
	cr_expect(strstr(line, "\"ts\":\"1969-12-31T23:59:59.999Z\""), "%s", line);
	cr_expect(strstr(line, "\"diff\":[],\"diffs_total\":40,\"truncated\":true,\"partial\":true"), "%s", line);
	cr_expect(strstr(line, "\"mongo_ms\":null"), "%s", line);
	cr_expect(strstr(line, "\"suppressed\":7}"), "%s", line);
	cr_expect(strstr(line, "\"tenant\":\"\""), "%s", line);
	cr_expect(strstr(line, "\"shape\":{}"), "%s", line);
	bson_free(line);
}

Test(mismatch, shape_redacts_every_scalar)
{
	bson_string_t *s = bson_string_new(NULL);
	bson_t *q = J("{\"status\":\"A\",\"$or\":[{\"n\":{\"$in\":[1,{\"$numberLong\":\"2\"},null]}},"
		      "{\"d\":{\"$date\":{\"$numberLong\":\"5\"}}},{\"r\":{\"$regex\":\"^a\",\"$options\":\"i\"}}],"
		      "\"o\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"},\"x\":{\"$exists\":true}}");
	mismatch_shape(s, q, false);
	cr_expect_str_eq(s->str, "{\"status\":\"<string>\",\"$or\":[{\"n\":{\"$in\":[\"<int>\",\"<long>\",\"<null>\"]}},"
			 "{\"d\":\"<date>\"},{\"r\":\"<regex>\"}],\"o\":\"<objectId>\",\"x\":{\"$exists\":\"<bool>\"}}");
	bson_string_free(s, true);
	bson_destroy(q);
	/* a pipeline: the array holder's bytes */
	s = bson_string_new(NULL);
	q = J("{\"0\":{\"$match\":{\"a\":1}},\"1\":{\"$limit\":5}}");
	mismatch_shape(s, q, true);
	cr_expect_str_eq(s->str, "[{\"$match\":{\"a\":\"<int>\"}},{\"$limit\":\"<int>\"}]");
	bson_string_free(s, true);
	bson_destroy(q);
}

Test(mismatch, shape_is_bounded)
{
	bson_t *q = bson_new();
	char k[16];
	for (int i = 0; i < 2000; i++) {
		snprintf(k, sizeof k, "field%d", i);
		BSON_APPEND_INT32(q, k, i);
	}
	bson_string_t *s = bson_string_new(NULL);
	mismatch_shape(s, q, false);
	cr_expect_lt(s->len, MISMATCH_SHAPE_MAX + 100);
	cr_expect(strstr(s->str, "\"...\":\"<truncated>\"}"));
	cr_expect(json_valid(s->str, s->len));
	bson_string_free(s, true);
	bson_destroy(q);
	/* deep nesting */
	q = bson_new();
	bson_t kids[100];
	bson_t *cur = q;
	for (int i = 0; i < 100; i++) {
		bson_append_document_begin(cur, "a", 1, &kids[i]);
		cur = &kids[i];
	}
	for (int i = 99; i >= 0; i--)
		bson_append_document_end(i ? &kids[i - 1] : q, &kids[i]);
	s = bson_string_new(NULL);
	mismatch_shape(s, q, false);
	cr_expect(strstr(s->str, "\"<object>\""));
	cr_expect(json_valid(s->str, s->len));
	bson_string_free(s, true);
	bson_destroy(q);
}

Test(mismatch, hostile_strings_stay_valid_json)
{
	bson_t *q = bson_new();
	BSON_APPEND_INT32(q, "k\"\\\n\x01\xff\xc0\x80", 1);
	BSON_APPEND_INT32(q, "\xe2\x82", 1);
	struct compare_result r;
	cmp1("{\"_id\":\"a\\\"\\n\",\"v\":1}", "{\"_id\":\"a\\\"\\n\",\"v\":2}", &r);
	/* a value that is not UTF-8 */
	bson_t *bm = bson_new(), *bp = bson_new();
	BSON_APPEND_INT32(bm, "_id", 1);
	BSON_APPEND_INT32(bp, "_id", 1);
	bson_append_utf8(bm, "s\xff", -1, "bad\xff\xfe", 5);
	bson_append_utf8(bp, "s\xff", -1, "bad\xc3", 4);
	const bson_t *lm[1] = {bm}, *lp[1] = {bp};
	struct compare_opts o = {0};
	struct compare_result r2;
	(void)compare_docs(lm, 1, lp, 1, &o, &r2);
	for (int full = 0; full < 2; full++) {
		struct mismatch_event ev = {.tenant = "t\"\n\xff", .db = "\x7f\x1b", .coll = "c\xed\xa0\x80",
			.op = "find", .request_id = "\\", .query = q, .full_values = full};
		bson_free(line_ok(&ev, &r));
		char *line = line_ok(&ev, &r2);
		if (full)
			cr_expect(strstr(line, "\"$unprintable\":\"string\""), "%s", line);
		else
			cr_expect(strstr(line, "\"mongo_len\":5"), "%s", line);
		bson_free(line);
	}
	compare_result_free(&r);
	compare_result_free(&r2);
	bson_destroy(bm);
	bson_destroy(bp);
	bson_destroy(q);
}

Test(mismatch, random_values_stay_valid_json)
{
	uint64_t seed = seed_init("MISMATCH_SEED");
	for (int round = 0; round < 300; round++) {
		bson_t *a = bson_new(), *b = bson_new();
		BSON_APPEND_INT32(a, "_id", 1);
		BSON_APPEND_INT32(b, "_id", 1);
		gen_doc(a, 0, 3);
		gen_doc(b, 0, 3);
		const bson_t *lm[1] = {a}, *lp[1] = {b};
		struct compare_opts o = {0};
		struct compare_result r;
		(void)compare_docs(lm, 1, lp, 1, &o, &r);
		struct mismatch_event ev = {.tenant = "t", .query = a, .full_values = round & 1};
		size_t len;
		char *line = mismatch_line(&ev, &r, &len);
		cr_assert(json_valid(line, len), "seed %llu round %d: %s", (unsigned long long)seed, round, line);
		cr_assert_null(memchr(line, '\n', len));
		bson_free(line);
		compare_result_free(&r);
		bson_destroy(a);
		bson_destroy(b);
	}
}

/* ---- rate limiter ------------------------------------------------------- */

Test(mismatch, limiter_token_bucket)
{
	struct mismatch_limiter *l = mismatch_limiter_new(2.0, 3.0, 10);
	uint64_t sup = 99;
	for (int i = 0; i < 3; i++) {
		cr_expect(mismatch_limiter_take(l, "a", 1000, &sup));
		cr_expect_eq(sup, 0);
	}
	cr_expect_not(mismatch_limiter_take(l, "a", 1000, &sup));
	cr_expect_not(mismatch_limiter_take(l, "a", 1200, &sup)); /* 0.4 token */
	cr_expect(mismatch_limiter_take(l, "b", 1200, &sup), "tenants are independent");
	cr_expect_eq(sup, 0);
	cr_expect(mismatch_limiter_take(l, "a", 1500, &sup)); /* 1 token */
	cr_expect_eq(sup, 2);
	cr_expect_not(mismatch_limiter_take(l, "a", 1500, &sup));
	/* the clock going backwards adds nothing */
	cr_expect_not(mismatch_limiter_take(l, "a", 100, &sup));
	/* a long pause refills up to burst only */
	for (int i = 0; i < 3; i++)
		cr_expect(mismatch_limiter_take(l, "a", 100000, &sup));
	cr_expect_not(mismatch_limiter_take(l, "a", 100000, &sup));
	mismatch_limiter_free(l);
}

Test(mismatch, limiter_bounded_tenants_and_unlimited)
{
	struct mismatch_limiter *l = mismatch_limiter_new(1.0, 1.0, 2);
	uint64_t sup;
	cr_expect(mismatch_limiter_take(l, "a", 0, &sup));
	cr_expect(mismatch_limiter_take(l, "b", 0, &sup));
	cr_expect(mismatch_limiter_take(l, "c", 0, &sup)); /* overflow bucket */
	cr_expect_not(mismatch_limiter_take(l, "d", 0, &sup)); /* shares it */
	cr_expect(mismatch_limiter_take(l, "e", 1000, &sup));
	cr_expect_eq(sup, 1);
	mismatch_limiter_free(l);
	l = mismatch_limiter_new(0, 0, 4);
	for (int i = 0; i < 1000; i++)
		cr_expect(mismatch_limiter_take(l, NULL, 0, &sup));
	mismatch_limiter_free(l);
}
