/*
 * test_aggexpr.c - the aggregation expression evaluator against mongod's
 * documented behaviour (examples from the manual's operator pages, plus
 * type promotion, null/missing rules and error codes).
 *
 * A case is (expression, document, expected status, expected value).  The
 * expected value is JSON for {"v": value} ("" means missing); values
 * compare byte for byte, so int32/int64/double must be exactly as mongod
 * returns them.  Single quotes stand for double quotes.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "aggexpr.h"

#define OK AGG_OK
#define ER AGG_ERROR
#define UN AGG_UNSUPPORTED

struct xcase {
	const char *expr, *doc;
	int want;
	const char *value; /* {"v": ...} JSON, "" missing; or error code as "#17124" */
};

static bson_t *parse(const char *sq)
{
	char buf[4096];
	bson_error_t err;
	size_t n = strlen(sq);
	cr_assert_lt(n, sizeof buf);
	for (size_t i = 0; i <= n; i++)
		buf[i] = sq[i] == '\'' ? '"' : sq[i];
	bson_t *b = bson_new_from_json((const uint8_t *)buf, -1, &err);
	cr_assert(b, "bad json %s: %s", buf, err.message);
	return b;
}

static const struct xcase cases[] = {
	/* field paths */
	{ "{'e': '$a.b'}", "{'a': {'b': 5}}", OK, "{'v': 5}" },
	{ "{'e': '$a.b'}", "{'a': [{'b': 1}, {'c': 2}, {'b': [3]}, 7, [{'b': 9}]]}", OK, "{'v': [1, [3]]}" },
	{ "{'e': '$a.b.c'}", "{'a': [{'b': [{'c': 1}, {'c': 2}]}]}", OK, "{'v': [[1, 2]]}" },
	{ "{'e': '$nope'}", "{'a': 1}", OK, "" },
	{ "{'e': '$$ROOT.a'}", "{'a': 1}", OK, "{'v': 1}" },
	{ "{'e': '$$CURRENT'}", "{'a': 1}", OK, "{'v': {'a': 1}}" },
	{ "{'e': '$$REMOVE'}", "{'a': 1}", OK, "" },
	{ "{'e': '$$NOW'}", "{}", UN, "" },
	{ "{'e': {'$literal': '$a'}}", "{'a': 1}", OK, "{'v': '$a'}" },
	{ "{'e': {'x': '$a', 'y': '$nope'}}", "{'a': 1}", OK, "{'v': {'x': 1}}" },
	{ "{'e': ['$a', '$nope']}", "{'a': 1}", OK, "{'v': [1, null]}" },
	{ "{'e': {'$dateToString': {}}}", "{}", UN, "" },
	/* arithmetic: types and promotion */
	{ "{'e': {'$add': [1, 2]}}", "{}", OK, "{'v': 3}" },
	{ "{'e': {'$add': [2147483647, 1]}}", "{}", OK, "{'v': {'$numberLong': '2147483648'}}" },
	{ "{'e': {'$add': [{'$numberLong': '1'}, 2]}}", "{}", OK, "{'v': {'$numberLong': '3'}}" },
	{ "{'e': {'$add': [{'$numberLong': '9223372036854775807'}, 1]}}", "{}", OK, "{'v': 9.2233720368547758e18}" },
	{ "{'e': {'$add': [1, 2.5]}}", "{}", OK, "{'v': 3.5}" },
	{ "{'e': {'$add': [1, null]}}", "{}", OK, "{'v': null}" },
	{ "{'e': {'$add': [1, '$nope']}}", "{}", OK, "{'v': null}" },
	{ "{'e': {'$add': ['$d', 1000]}}", "{'d': {'$date': 0}}", OK, "{'v': {'$date': 1000}}" },
	{ "{'e': {'$add': ['$d', '$d']}}", "{'d': {'$date': 0}}", ER, "#16612" },
	{ "{'e': {'$add': [1, 'x']}}", "{}", UN, "" },
	{ "{'e': {'$subtract': [5, 7]}}", "{}", OK, "{'v': -2}" },
	{ "{'e': {'$subtract': ['$d', '$e']}}", "{'d': {'$date': 5000}, 'e': {'$date': 1000}}", OK,
	  "{'v': {'$numberLong': '4000'}}" },
	{ "{'e': {'$multiply': [3, 4]}}", "{}", OK, "{'v': 12}" },
	{ "{'e': {'$multiply': [65536, 65536]}}", "{}", OK, "{'v': {'$numberLong': '4294967296'}}" },
	{ "{'e': {'$divide': [9, 2]}}", "{}", OK, "{'v': 4.5}" },
	{ "{'e': {'$divide': [8, 2]}}", "{}", OK, "{'v': 4.0}" },
	{ "{'e': {'$divide': [1, 0]}}", "{}", ER, "#2" },
	{ "{'e': {'$mod': [7, 3]}}", "{}", OK, "{'v': 1}" },
	{ "{'e': {'$mod': [-7, 3]}}", "{}", OK, "{'v': -1}" },
	{ "{'e': {'$mod': [7.5, 2]}}", "{}", OK, "{'v': 1.5}" },
	{ "{'e': {'$mod': [{'$numberLong': '7'}, 3]}}", "{}", OK, "{'v': {'$numberLong': '1'}}" },
	{ "{'e': {'$abs': -5}}", "{}", OK, "{'v': 5}" },
	{ "{'e': {'$abs': -2147483648}}", "{}", OK, "{'v': {'$numberLong': '2147483648'}}" },
	{ "{'e': {'$abs': {'$numberLong': '-9223372036854775808'}}}", "{}", ER, "#28680" },
	/* $sum / $avg: the accumulators over the arguments (summation.h) */
	{ "{'e': {'$sum': [1, 2, 3]}}", "{}", OK, "{'v': 6}" },
	{ "{'e': {'$sum': [2147483647, 1]}}", "{}", OK, "{'v': {'$numberLong': '2147483648'}}" },
	{ "{'e': {'$sum': '$a'}}", "{'a': [1, 'x', 2.5, null]}", OK, "{'v': 3.5}" },
	{ "{'e': {'$sum': '$a'}}", "{'a': [0.1, 0.2, 0.3]}", OK, "{'v': 0.6}" },
	{ "{'e': {'$add': ['$a', '$b', '$c']}}", "{'a': 0.1, 'b': 0.2, 'c': 0.3}", OK, "{'v': 0.6000000000000001}" },
	{ "{'e': {'$sum': '$a'}}", "{'a': [1e16, 1.0, 1.0, -1e16]}", OK, "{'v': 2.0}" },
	{ "{'e': {'$sum': ['$a', 1]}}", "{'a': [1, 2]}", OK, "{'v': 1}" },
	{ "{'e': {'$sum': [[1, 2]]}}", "{}", OK, "{'v': 3}" },
	{ "{'e': {'$sum': '$nope'}}", "{}", OK, "{'v': 0}" },
	{ "{'e': {'$sum': []}}", "{}", OK, "{'v': 0}" },
	{ "{'e': {'$sum': ['$a', {'$numberDecimal': '1'}]}}", "{'a': 1}", UN, "" },
	{ "{'e': {'$avg': [1, 2]}}", "{}", OK, "{'v': 1.5}" },
	{ "{'e': {'$avg': '$a'}}", "{'a': [1e16, 1.0, 1.0, -1e16]}", OK, "{'v': 0.5}" },
	{ "{'e': {'$avg': '$nope'}}", "{}", OK, "{'v': null}" },
	{ "{'e': {'$avg': ['x', []]}}", "{}", OK, "{'v': null}" },
	{ "{'e': {'$ceil': 1.2}}", "{}", OK, "{'v': 2.0}" },
	{ "{'e': {'$floor': -1.2}}", "{}", OK, "{'v': -2.0}" },
	{ "{'e': {'$floor': 7}}", "{}", OK, "{'v': 7}" },
	{ "{'e': {'$round': 2.5}}", "{}", OK, "{'v': 2.0}" },
	{ "{'e': {'$round': 3.5}}", "{}", OK, "{'v': 4.0}" },
	{ "{'e': {'$round': [1.25, 1]}}", "{}", UN, "" },
	{ "{'e': {'$trunc': -2.7}}", "{}", OK, "{'v': -2.0}" },
	{ "{'e': {'$add': [{'$numberDecimal': '1'}, 1]}}", "{}", UN, "" },
	/* comparison and boolean */
	{ "{'e': {'$gt': ['a', 1]}}", "{}", OK, "{'v': true}" },
	{ "{'e': {'$eq': [1, 1.0]}}", "{}", OK, "{'v': true}" },
	{ "{'e': {'$eq': ['$nope', null]}}", "{}", OK, "{'v': false}" },
	{ "{'e': {'$lt': ['$nope', null]}}", "{}", OK, "{'v': true}" },
	{ "{'e': {'$cmp': [2, 1]}}", "{}", OK, "{'v': 1}" },
	{ "{'e': {'$and': [1, 'x', []]}}", "{}", OK, "{'v': true}" },
	{ "{'e': {'$and': [1, 0]}}", "{}", OK, "{'v': false}" },
	{ "{'e': {'$and': [false, {'$divide': [1, 0]}]}}", "{}", OK, "{'v': false}" },
	{ "{'e': {'$or': []}}", "{}", OK, "{'v': false}" },
	{ "{'e': {'$not': [null]}}", "{}", OK, "{'v': true}" },
	{ "{'e': {'$cond': [{'$gte': ['$q', 250]}, 30, 20]}}", "{'q': 300}", OK, "{'v': 30}" },
	{ "{'e': {'$cond': {'if': false, 'then': {'$divide': [1, 0]}, 'else': 'no'}}}", "{}", OK, "{'v': 'no'}" },
	{ "{'e': {'$cond': {'if': true, 'then': 1}}}", "{}", UN, "" },
	{ "{'e': {'$ifNull': ['$nope', null, 'x']}}", "{}", OK, "{'v': 'x'}" },
	{ "{'e': {'$ifNull': ['$a', 'x']}}", "{'a': 0}", OK, "{'v': 0}" },
	{ "{'e': {'$switch': {'branches': [{'case': {'$eq': ['$a', 1]}, 'then': 'one'}], 'default': 'other'}}}",
	  "{'a': 2}", OK, "{'v': 'other'}" },
	{ "{'e': {'$switch': {'branches': [{'case': false, 'then': 1}]}}}", "{}", ER, "#40066" },
	/* strings */
	{ "{'e': {'$concat': ['a', '-', 'b']}}", "{}", OK, "{'v': 'a-b'}" },
	{ "{'e': {'$concat': ['a', '$nope']}}", "{}", OK, "{'v': null}" },
	{ "{'e': {'$concat': ['a', 1]}}", "{}", ER, "#16702" },
	{ "{'e': {'$toUpper': 'abC1'}}", "{}", OK, "{'v': 'ABC1'}" },
	{ "{'e': {'$toLower': null}}", "{}", OK, "{'v': ''}" },
	{ "{'e': {'$toLower': 12}}", "{}", OK, "{'v': '12'}" },
	{ "{'e': {'$strLenBytes': 'h\\u00e9'}}", "{}", OK, "{'v': 3}" },
	{ "{'e': {'$strLenCP': 'h\\u00e9'}}", "{}", OK, "{'v': 2}" },
	{ "{'e': {'$strLenBytes': 1}}", "{}", ER, "#34473" },
	{ "{'e': {'$substrBytes': ['abcde', 1, 2]}}", "{}", OK, "{'v': 'bc'}" },
	{ "{'e': {'$substr': ['abcde', 3, -1]}}", "{}", OK, "{'v': 'de'}" },
	{ "{'e': {'$substrBytes': ['abc', 9, 2]}}", "{}", OK, "{'v': ''}" },
	{ "{'e': {'$split': ['a,b,,c', ',']}}", "{}", OK, "{'v': ['a', 'b', '', 'c']}" },
	{ "{'e': {'$split': [null, ',']}}", "{}", OK, "{'v': null}" },
	{ "{'e': {'$type': '$nope'}}", "{}", OK, "{'v': 'missing'}" },
	{ "{'e': {'$type': '$a'}}", "{'a': {'$numberLong': '1'}}", OK, "{'v': 'long'}" },
	{ "{'e': {'$toString': 42}}", "{}", OK, "{'v': '42'}" },
	{ "{'e': {'$toString': 1.5}}", "{}", UN, "" },
	/* arrays */
	{ "{'e': {'$size': '$a'}}", "{'a': [1, 2, 3]}", OK, "{'v': 3}" },
	{ "{'e': {'$size': '$nope'}}", "{}", ER, "#17124" },
	{ "{'e': {'$arrayElemAt': [[1, 2, 3], -1]}}", "{}", OK, "{'v': 3}" },
	{ "{'e': {'$arrayElemAt': [[1, 2, 3], 15]}}", "{}", OK, "" },
	{ "{'e': {'$first': '$a'}}", "{'a': []}", OK, "" },
	{ "{'e': {'$last': '$a'}}", "{'a': [1, 2]}", OK, "{'v': 2}" },
	{ "{'e': {'$in': [2, [1, 2.0]]}}", "{}", OK, "{'v': true}" },
	{ "{'e': {'$in': [2, '$nope']}}", "{}", ER, "#40081" },
	{ "{'e': {'$isArray': ['$a']}}", "{'a': [1]}", OK, "{'v': true}" },
	{ "{'e': {'$slice': [[1, 2, 3, 4], -2]}}", "{}", OK, "{'v': [3, 4]}" },
	{ "{'e': {'$slice': [[1, 2, 3, 4], 1, 2]}}", "{}", OK, "{'v': [2, 3]}" },
	{ "{'e': {'$concatArrays': [[1], [2, 3]]}}", "{}", OK, "{'v': [1, 2, 3]}" },
	/* shapes */
	{ "{'e': {'$add': [1], 'x': 1}}", "{}", UN, "" },
	{ "{'e': {'$size': [1, 2]}}", "{}", UN, "" },
	{ "{'e': '$a..b'}", "{}", UN, "" },
};

static void run_case(const struct xcase *c)
{
	bson_t *e = parse(c->expr), *doc = parse(c->doc);
	bson_iter_t it;
	bson_value_t out;
	bson_error_t err = { 0 };
	struct aggx_arena arena;
	enum agg_status st;

	cr_assert(bson_iter_init_find(&it, e, "e"));
	aggx_arena_init(&arena, 1 << 20);
	st = aggx_check(bson_iter_value(&it), &err);
	if (st == AGG_OK)
		st = aggx_eval(bson_iter_value(&it), doc, &arena, &out, &err);
	cr_assert_eq(st, c->want, "%s on %s: status %d (%s)", c->expr, c->doc, st, err.message);
	if (st == AGG_ERROR) {
		cr_assert_eq((int)err.code, atoi(c->value + 1), "%s: code %u (%s)", c->expr, err.code, err.message);
	} else if (st == AGG_OK) {
		bson_t got = BSON_INITIALIZER;
		if (out.value_type != BSON_TYPE_EOD)
			bson_append_value(&got, "v", 1, &out);
		bson_t *want = parse(*c->value ? c->value : "{}");
		char *gj = bson_as_canonical_extended_json(&got, NULL);
		char *wj = bson_as_canonical_extended_json(want, NULL);
		cr_assert(bson_equal(&got, want), "%s on %s: got %s want %s", c->expr, c->doc, gj, wj);
		bson_free(gj);
		bson_free(wj);
		bson_destroy(want);
		bson_destroy(&got);
	}
	aggx_arena_free(&arena);
	bson_destroy(e);
	bson_destroy(doc);
}

Test(aggexpr, table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

Test(aggexpr, arena_limit_is_unsupported)
{
	bson_t *e = parse("{'e': {'$concat': ['$s', '$s', '$s', '$s']}}");
	bson_t *doc = bson_new();
	char big[1000];
	bson_iter_t it;
	bson_value_t out;
	bson_error_t err;
	struct aggx_arena arena;

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	BSON_APPEND_UTF8(doc, "s", big);
	aggx_arena_init(&arena, 2000);
	cr_assert(bson_iter_init_find(&it, e, "e"));
	cr_assert_eq(aggx_eval(bson_iter_value(&it), doc, &arena, &out, &err), AGG_UNSUPPORTED);
	cr_assert_str_eq(err.message, "limit:memory");
	aggx_arena_free(&arena);
	bson_destroy(e);
	bson_destroy(doc);
}

Test(aggexpr, deep_nesting_is_bounded)
{
	char buf[8192];
	size_t n = 0;
	bson_error_t err;
	bson_t *e;
	bson_iter_t it;

	n += (size_t)snprintf(buf + n, sizeof buf - n, "{'e': ");
	for (int i = 0; i < 90; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "{'$not': ");
	n += (size_t)snprintf(buf + n, sizeof buf - n, "1");
	for (int i = 0; i < 90; i++)
		buf[n++] = '}';
	buf[n++] = '}';
	buf[n] = 0;
	e = parse(buf);
	cr_assert(bson_iter_init_find(&it, e, "e"));
	cr_assert_eq(aggx_check(bson_iter_value(&it), &err), AGG_UNSUPPORTED);
	cr_assert_str_eq(err.message, "limit:depth");
	bson_destroy(e);
}
