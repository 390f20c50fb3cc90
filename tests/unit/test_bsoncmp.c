/*
 * test_bsoncmp.c - MongoDB comparison order: type brackets, numbers across
 * int32/int64/double/decimal128 (exact int64 vs double), NaN, strings,
 * documents and arrays, binary, timestamps, regexes, equality.
 *
 * Values are written as Extended JSON {"v": <value>} so each case is one
 * line; a case states the expected sign of cmp(a, b) and is also checked
 * reversed (antisymmetry).
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bsoncmp.h"

struct cmp_case {
	const char *a, *b; /* Extended JSON of the value, wrapped as {"v": ...} */
	int want;          /* -1, 0, 1 */
};

static bson_t *wrap(const char *json)
{
	char buf[1024];
	bson_error_t err;
	snprintf(buf, sizeof buf, "{\"v\": %s}", json);
	bson_t *b = bson_new_from_json((const uint8_t *)buf, -1, &err);
	cr_assert(b, "bad json %s: %s", buf, err.message);
	return b;
}

static int cmp_json(const char *a, const char *b)
{
	bson_t *da = wrap(a), *db = wrap(b);
	bson_iter_t ia, ib;
	cr_assert(bson_iter_init_find(&ia, da, "v") && bson_iter_init_find(&ib, db, "v"));
	int c = bsoncmp_iter(&ia, &ib);
	int c2 = bsoncmp_value(bson_iter_value(&ia), bson_iter_value(&ib));
	cr_assert_eq(c, c2);
	bson_destroy(da);
	bson_destroy(db);
	return (c > 0) - (c < 0);
}

static void run_cases(const struct cmp_case *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = cmp_json(cs[i].a, cs[i].b);
		cr_expect_eq(got, cs[i].want, "cmp(%s, %s) = %d, want %d", cs[i].a, cs[i].b, got, cs[i].want);
		int rev = cmp_json(cs[i].b, cs[i].a);
		cr_expect_eq(rev, -cs[i].want, "reverse cmp(%s, %s) = %d", cs[i].b, cs[i].a, rev);
	}
}

#define RUN(cs) run_cases(cs, sizeof cs / sizeof cs[0])

/* One representative per bracket, in ascending order. */
static const char *const bracket_order[] = {
	"{\"$minKey\": 1}",
	"null",
	"{\"$numberDouble\": \"1e300\"}",
	"\"\"",
	"{}",
	"[]",
	"{\"$binary\": {\"base64\": \"\", \"subType\": \"00\"}}",
	"{\"$oid\": \"000000000000000000000000\"}",
	"false",
	"{\"$date\": {\"$numberLong\": \"-1000\"}}",
	"{\"$timestamp\": {\"t\": 0, \"i\": 0}}",
	"{\"$regularExpression\": {\"pattern\": \"\", \"options\": \"\"}}",
	"{\"$dbPointer\": {\"$ref\": \"a\", \"$id\": {\"$oid\": \"000000000000000000000000\"}}}",
	"{\"$code\": \"\"}",
	"{\"$code\": \"\", \"$scope\": {}}",
	"{\"$maxKey\": 1}",
};

Test(bsoncmp, brackets_in_documented_order)
{
	const size_t n = sizeof bracket_order / sizeof bracket_order[0];
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int want = (i > j) - (i < j);
			cr_expect_eq(cmp_json(bracket_order[i], bracket_order[j]), want, "%s vs %s",
				     bracket_order[i], bracket_order[j]);
		}
}

Test(bsoncmp, bracket_numbers)
{
	cr_assert_eq(bsoncmp_bracket(BSON_TYPE_INT32), bsoncmp_bracket(BSON_TYPE_DECIMAL128));
	cr_assert_eq(bsoncmp_bracket(BSON_TYPE_NULL), bsoncmp_bracket(BSON_TYPE_UNDEFINED));
	cr_assert_eq(bsoncmp_bracket(BSON_TYPE_UTF8), bsoncmp_bracket(BSON_TYPE_SYMBOL));
	cr_assert_lt(bsoncmp_bracket(BSON_TYPE_MINKEY), bsoncmp_bracket(BSON_TYPE_NULL));
	cr_assert_lt(bsoncmp_bracket(BSON_TYPE_CODEWSCOPE), bsoncmp_bracket(BSON_TYPE_MAXKEY));
}

Test(bsoncmp, numbers_across_types)
{
	static const struct cmp_case cs[] = {
		{"1", "{\"$numberLong\": \"1\"}", 0},
		{"1", "{\"$numberDouble\": \"1.0\"}", 0},
		{"1", "{\"$numberDecimal\": \"1.00\"}", 0},
		{"{\"$numberLong\": \"2\"}", "{\"$numberDouble\": \"1.5\"}", 1},
		{"-1", "{\"$numberDouble\": \"-0.5\"}", -1},
		{"{\"$numberDouble\": \"-0.0\"}", "0", 0},
		/* 2^53 + 1 is not a double: it is above the double 2^53. */
		{"{\"$numberLong\": \"9007199254740993\"}", "{\"$numberDouble\": \"9007199254740992\"}", 1},
		{"{\"$numberLong\": \"9007199254740992\"}", "{\"$numberDouble\": \"9007199254740992\"}", 0},
		{"{\"$numberLong\": \"9223372036854775807\"}", "{\"$numberDouble\": \"9223372036854775807\"}", -1},
		{"{\"$numberLong\": \"-9223372036854775808\"}", "{\"$numberDouble\": \"-9223372036854775808\"}", 0},
		{"{\"$numberLong\": \"-9223372036854775808\"}", "{\"$numberDouble\": \"-1e19\"}", 1},
		{"{\"$numberLong\": \"9223372036854775807\"}", "{\"$numberDouble\": \"Infinity\"}", -1},
		{"{\"$numberLong\": \"5\"}", "{\"$numberDouble\": \"5.000001\"}", -1},
		{"{\"$numberLong\": \"-5\"}", "{\"$numberDouble\": \"-5.000001\"}", 1},
		{"{\"$numberDecimal\": \"0.1\"}", "{\"$numberDecimal\": \"0.10\"}", 0},
		{"{\"$numberDecimal\": \"2.5\"}", "2", 1},
		{"{\"$numberDecimal\": \"-Infinity\"}", "{\"$numberLong\": \"-9223372036854775808\"}", -1},
		{"{\"$numberDecimal\": \"Infinity\"}", "{\"$numberDouble\": \"Infinity\"}", 0},
		{"2147483647", "{\"$numberLong\": \"2147483648\"}", -1},
	};
	RUN(cs);
}

Test(bsoncmp, nan_equals_nan_and_is_lowest_number)
{
	static const struct cmp_case cs[] = {
		{"{\"$numberDouble\": \"NaN\"}", "{\"$numberDouble\": \"NaN\"}", 0},
		{"{\"$numberDouble\": \"NaN\"}", "{\"$numberDecimal\": \"NaN\"}", 0},
		{"{\"$numberDouble\": \"NaN\"}", "{\"$numberDouble\": \"-Infinity\"}", -1},
		{"{\"$numberDouble\": \"NaN\"}", "{\"$numberLong\": \"-9223372036854775808\"}", -1},
		{"{\"$numberDecimal\": \"NaN\"}", "-5", -1},
		{"{\"$numberDouble\": \"NaN\"}", "null", 1},
		{"{\"$numberDouble\": \"NaN\"}", "\"\"", -1},
	};
	RUN(cs);
}

Test(bsoncmp, strings_bytewise)
{
	static const struct cmp_case cs[] = {
		{"\"a\"", "\"b\"", -1},
		{"\"a\"", "\"ab\"", -1},
		{"\"B\"", "\"a\"", -1},
		{"\"\\u00e9\"", "\"z\"", 1},
		{"\"abc\"", "{\"$symbol\": \"abc\"}", 0},
		{"\"a\\u0000b\"", "\"a\"", 1},
		{"\"a\\u0000b\"", "\"a\\u0000c\"", -1},
	};
	RUN(cs);
}

Test(bsoncmp, documents_and_arrays)
{
	static const struct cmp_case cs[] = {
		{"{\"a\": 1}", "{\"a\": 1}", 0},
		{"{\"a\": 1}", "{\"a\": 1.0}", 0},
		{"{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 1}", -1},
		{"{\"a\": 1}", "{\"a\": 1, \"b\": 0}", -1},
		{"{}", "{\"a\": {\"$minKey\": 1}}", -1},
		{"{\"a\": 2}", "{\"b\": 1}", -1},
		/* the type bracket of a field comes before its name */
		{"{\"b\": 1}", "{\"a\": \"x\"}", -1},
		{"{\"a\": {\"b\": [1, 2]}}", "{\"a\": {\"b\": [1, 3]}}", -1},
		{"[1, 2]", "[1, 2]", 0},
		{"[1, 2]", "[1, 2, 0]", -1},
		{"[2]", "[1, 5]", 1},
		{"[1]", "[\"a\"]", -1},
		{"[]", "[null]", -1},
	};
	RUN(cs);
}

Test(bsoncmp, other_types)
{
	static const struct cmp_case cs[] = {
		/* binary: length, then subtype, then bytes */
		{"{\"$binary\": {\"base64\": \"AAAA\", \"subType\": \"00\"}}",
		 "{\"$binary\": {\"base64\": \"AA==\", \"subType\": \"05\"}}", 1},
		{"{\"$binary\": {\"base64\": \"AQ==\", \"subType\": \"00\"}}",
		 "{\"$binary\": {\"base64\": \"AA==\", \"subType\": \"05\"}}", -1},
		{"{\"$binary\": {\"base64\": \"AQ==\", \"subType\": \"00\"}}",
		 "{\"$binary\": {\"base64\": \"Ag==\", \"subType\": \"00\"}}", -1},
		{"{\"$oid\": \"0000000000000000000000ff\"}", "{\"$oid\": \"000000000000000000000100\"}", -1},
		{"false", "true", -1},
		{"true", "true", 0},
		{"{\"$date\": {\"$numberLong\": \"-1\"}}", "{\"$date\": {\"$numberLong\": \"1\"}}", -1},
		{"{\"$timestamp\": {\"t\": 1, \"i\": 9}}", "{\"$timestamp\": {\"t\": 2, \"i\": 0}}", -1},
		{"{\"$timestamp\": {\"t\": 2, \"i\": 1}}", "{\"$timestamp\": {\"t\": 2, \"i\": 0}}", 1},
		{"{\"$timestamp\": {\"t\": 4294967295, \"i\": 0}}", "{\"$timestamp\": {\"t\": 1, \"i\": 0}}", 1},
		{"{\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"i\"}}",
		 "{\"$regularExpression\": {\"pattern\": \"b\", \"options\": \"\"}}", -1},
		{"{\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"i\"}}",
		 "{\"$regularExpression\": {\"pattern\": \"a\", \"options\": \"\"}}", 1},
		{"null", "{\"$undefined\": true}", 0},
		{"{\"$minKey\": 1}", "{\"$minKey\": 1}", 0},
		{"{\"$code\": \"a\"}", "{\"$code\": \"b\"}", -1},
	};
	RUN(cs);
}

Test(bsoncmp, equal_requires_same_bracket_and_value)
{
	bson_value_t a, b;
	a.value_type = BSON_TYPE_INT32;
	a.value.v_int32 = 1;
	b.value_type = BSON_TYPE_DOUBLE;
	b.value.v_double = 1.0;
	cr_assert(bsoncmp_equal(&a, &b));
	b.value.v_double = 1.5;
	cr_assert_not(bsoncmp_equal(&a, &b));
	b.value_type = BSON_TYPE_BOOL;
	b.value.v_bool = true;
	cr_assert_not(bsoncmp_equal(&a, &b));
	b.value_type = BSON_TYPE_DOUBLE;
	b.value.v_double = NAN;
	a.value_type = BSON_TYPE_DOUBLE;
	a.value.v_double = NAN;
	cr_assert(bsoncmp_equal(&a, &b));
}

Test(bsoncmp, whole_documents)
{
	bson_t *a = BCON_NEW("a", BCON_INT32(1), "b", BCON_INT32(2));
	bson_t *b = BCON_NEW("a", BCON_DOUBLE(1), "b", BCON_INT64(2));
	bson_t *c = BCON_NEW("b", BCON_INT32(2), "a", BCON_INT32(1));
	cr_assert_eq(bsoncmp_doc(a, b), 0);
	cr_assert_lt(bsoncmp_doc(a, c), 0);
	cr_assert_gt(bsoncmp_doc(c, a), 0);
	bson_destroy(a);
	bson_destroy(b);
	bson_destroy(c);
}

/* Deeply nested documents must not exhaust the stack. */
Test(bsoncmp, deep_nesting_is_bounded)
{
	enum { DEPTH = 5000 };
	bson_t *docs[2];
	for (int k = 0; k < 2; k++) {
		bson_t *cur = BCON_NEW("x", BCON_INT32(k));
		for (int i = 0; i < DEPTH; i++) {
			bson_t *outer = bson_new();
			BSON_APPEND_DOCUMENT(outer, "a", cur);
			bson_destroy(cur);
			cur = outer;
		}
		docs[k] = cur;
	}
	cr_assert_lt(bsoncmp_doc(docs[0], docs[1]), 0);
	cr_assert_eq(bsoncmp_doc(docs[0], docs[0]), 0);
	bson_destroy(docs[0]);
	bson_destroy(docs[1]);
}
