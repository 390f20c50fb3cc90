/*
 * test_match.c - the query matcher against MongoDB's documented semantics.
 *
 * Each case is (filter, document, expected status, expected positional
 * index or ANY).  JSON is written with single quotes (turned into double
 * quotes before parsing) and may use Extended JSON.  Most cases come from
 * the examples of the MongoDB manual's query operator pages; the others
 * pin down null/missing/array rules and error messages.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "match.h"

#define ANY (-2)
#define Y MATCH_YES
#define N MATCH_NO
#define E MATCH_ERROR
#define U MATCH_UNSUPPORTED

struct mcase {
	const char *filter, *doc;
	int want;
	int pos; /* expected match_result.pos, or ANY */
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

/* libbson's JSON parser reads {"$type": ...} and {"$regex": ...} as legacy
 * Extended JSON, so cases spell those operators "$_type", "$_regex",
 * "$_options"; rename() restores the real names in the parsed BSON. */
static void rename_into(bson_t *dst, const bson_t *src)
{
	bson_iter_t it;
	cr_assert(bson_iter_init(&it, src));
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		char key[64];
		if (strncmp(k, "$_", 2) == 0)
			snprintf(key, sizeof key, "$%s", k + 2);
		else
			snprintf(key, sizeof key, "%s", k);
		if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
			uint32_t len;
			const uint8_t *data;
			bson_t in, out;
			bool arr = BSON_ITER_HOLDS_ARRAY(&it);
			if (arr)
				bson_iter_array(&it, &len, &data);
			else
				bson_iter_document(&it, &len, &data);
			cr_assert(bson_init_static(&in, data, len));
			if (arr)
				bson_append_array_begin(dst, key, -1, &out);
			else
				bson_append_document_begin(dst, key, -1, &out);
			rename_into(&out, &in);
			if (arr)
				bson_append_array_end(dst, &out);
			else
				bson_append_document_end(dst, &out);
		} else {
			bson_append_value(dst, key, -1, bson_iter_value(&it));
		}
	}
}

static bson_t *parse_ops(const char *sq)
{
	bson_t *raw = parse(sq), *b = bson_new();
	rename_into(b, raw);
	bson_destroy(raw);
	return b;
}

static int run_one(const char *filter, const char *doc, struct match_result *res, bson_error_t *err)
{
	bson_t *f = parse_ops(filter), *d = parse(doc);
	int st = match_doc(f, d, res, err);
	bson_destroy(f);
	bson_destroy(d);
	return st;
}

static void run_cases(const struct mcase *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct match_result res;
		bson_error_t err = {0};
		int st = run_one(cs[i].filter, cs[i].doc, &res, &err);
		cr_expect_eq(st, cs[i].want, "filter %s doc %s: got %d want %d (%s)", cs[i].filter, cs[i].doc, st,
			     cs[i].want, err.message);
		if (st == MATCH_YES && cs[i].pos != ANY)
			cr_expect_eq(res.pos, cs[i].pos, "filter %s doc %s: pos %d want %d", cs[i].filter, cs[i].doc,
				     res.pos, cs[i].pos);
	}
}

#define RUN(cs) run_cases(cs, sizeof cs / sizeof cs[0])

Test(match, implicit_equality)
{
	static const struct mcase cs[] = {
		{"{}", "{'a': 1}", Y, -1},
		{"{'a': 1}", "{'a': 1}", Y, -1},
		{"{'a': 1}", "{'a': 1.0}", Y, -1},
		{"{'a': 1}", "{'a': {'$numberLong': '1'}}", Y, -1},
		{"{'a': 1}", "{'a': {'$numberDecimal': '1.0'}}", Y, -1},
		{"{'a': 1}", "{'a': '1'}", N, ANY},
		{"{'a': 1}", "{'a': true}", N, ANY},
		{"{'a': 1}", "{'b': 1}", N, ANY},
		{"{'a': 'x', 'b': 2}", "{'b': 2, 'a': 'x'}", Y, -1},
		{"{'a': 'x', 'b': 2}", "{'b': 3, 'a': 'x'}", N, ANY},
		/* whole embedded documents: exact, field order matters */
		{"{'size': {'h': 14, 'w': 21, 'uom': 'cm'}}", "{'size': {'h': 14, 'w': 21, 'uom': 'cm'}}", Y, -1},
		{"{'size': {'w': 21, 'h': 14, 'uom': 'cm'}}", "{'size': {'h': 14, 'w': 21, 'uom': 'cm'}}", N, ANY},
		{"{'size': {'h': 14}}", "{'size': {'h': 14, 'w': 21}}", N, ANY},
		{"{'a': {}}", "{'a': {}}", Y, -1},
		{"{'a': {}}", "{'a': {'b': 1}}", N, ANY},
		{"{'size.uom': 'in'}", "{'size': {'h': 14, 'uom': 'in'}}", Y, -1},
		{"{'a.b.c': 1}", "{'a': {'b': {'c': 1}}}", Y, -1},
		{"{'a.b.c': 1}", "{'a': {'b': 5}}", N, ANY},
		/* DBRef-like documents are values, not operators */
		{"{'r': {'$ref': 'c', '$id': 1}}", "{'r': {'$ref': 'c', '$id': 1}}", Y, -1},
	};
	RUN(cs);
}

Test(match, arrays)
{
	static const struct mcase cs[] = {
		/* manual: Query an Array */
		{"{'tags': ['red', 'blank']}", "{'tags': ['red', 'blank']}", Y, -1},
		{"{'tags': ['red', 'blank']}", "{'tags': ['blank', 'red']}", N, ANY},
		{"{'tags': ['red', 'blank']}", "{'tags': [['red', 'blank'], 'x']}", Y, 0},
		{"{'tags': 'red'}", "{'tags': ['blue', 'red']}", Y, 1},
		{"{'tags': 'red'}", "{'tags': [['red']]}", N, ANY},
		{"{'dim_cm': {'$gt': 25}}", "{'dim_cm': [14, 21]}", N, ANY},
		{"{'dim_cm': {'$gt': 25}}", "{'dim_cm': [22.85, 30]}", Y, 1},
		/* compound conditions on an array: different elements may satisfy each */
		{"{'dim_cm': {'$gt': 15, '$lt': 20}}", "{'dim_cm': [10, 25]}", Y, ANY},
		{"{'dim_cm': {'$elemMatch': {'$gt': 15, '$lt': 20}}}", "{'dim_cm': [10, 25]}", N, ANY},
		{"{'dim_cm': {'$elemMatch': {'$gt': 15, '$lt': 20}}}", "{'dim_cm': [10, 25, 17]}", Y, 2},
		{"{'dim_cm.1': {'$gt': 25}}", "{'dim_cm': [14, 30]}", Y, -1},
		{"{'dim_cm.1': {'$gt': 25}}", "{'dim_cm': [30, 14]}", N, ANY},
		{"{'tags': {'$size': 3}}", "{'tags': ['a', 'b', 'c']}", Y, -1},
		{"{'tags': {'$size': 3}}", "{'tags': ['a', 'b']}", N, ANY},
		/* arrays of embedded documents */
		{"{'instock': {'warehouse': 'A', 'qty': 5}}", "{'instock': [{'warehouse': 'A', 'qty': 5}]}", Y, 0},
		{"{'instock': {'qty': 5, 'warehouse': 'A'}}", "{'instock': [{'warehouse': 'A', 'qty': 5}]}", N, ANY},
		{"{'instock.qty': {'$lte': 20}}", "{'instock': [{'qty': 40}, {'qty': 5}]}", Y, 1},
		{"{'instock.0.qty': {'$lte': 20}}", "{'instock': [{'qty': 5}, {'qty': 40}]}", Y, -1},
		{"{'instock.0.qty': {'$lte': 20}}", "{'instock': [{'qty': 40}, {'qty': 5}]}", N, ANY},
		{"{'instock': {'$elemMatch': {'qty': 5, 'warehouse': 'A'}}}",
		 "{'instock': [{'warehouse': 'B', 'qty': 5}, {'warehouse': 'A', 'qty': 5}]}", Y, 1},
		{"{'instock': {'$elemMatch': {'qty': {'$gt': 10, '$lte': 20}}}}",
		 "{'instock': [{'qty': 5}, {'qty': 60}]}", N, ANY},
		{"{'instock.qty': {'$gt': 10, '$lte': 20}}", "{'instock': [{'qty': 5}, {'qty': 60}]}", Y, ANY},
		{"{'instock.qty': 5, 'instock.warehouse': 'A'}",
		 "{'instock': [{'warehouse': 'A', 'qty': 1}, {'warehouse': 'B', 'qty': 5}]}", Y, ANY},
		/* nested arrays are not traversed by a path; array of arrays */
		{"{'a.b': 1}", "{'a': [[{'b': 1}]]}", N, ANY},
		{"{'a.b': 1}", "{'a': [{'b': [0, 1]}]}", Y, 0},
		{"{'a.b.c': 3}", "{'a': [{'b': [{'c': 1}, {'c': 3}]}, {'b': []}]}", Y, 0},
		{"{'a.b.c': 3}", "{'a': [{'b': []}, {'b': [{'c': 1}, {'c': 3}]}]}", Y, 1},
		/* a numeric segment is also a field name inside documents */
		{"{'a.0': 5}", "{'a': {'0': 5}}", Y, -1},
		{"{'a.0': 5}", "{'a': [{'0': 5}]}", Y, 0},
		{"{'a.1.b': 2}", "{'a': [{'b': 1}, {'b': 2}]}", Y, -1},
		{"{'a.01': 2}", "{'a': [1, 2]}", N, ANY},
		/* explicit indexes (MongoDB's path iterator): no leaf expansion, nested arrays
		 * entered by index, scalars under an index yield nothing */
		{"{'a.0': 5}", "{'a': [[2, 5]]}", N, ANY},
		{"{'a.0': [2, 5]}", "{'a': [[2, 5]]}", Y, -1},
		{"{'a.0.b': 1}", "{'a': [[{'b': 1}]]}", Y, 0},
		{"{'a.0.1': 6}", "{'a': [[5, 6]]}", Y, -1},
		{"{'a.0.b': null}", "{'a': [5]}", N, ANY},
		{"{'a.0': null}", "{'a': [{'x': 1}]}", Y, 0},
		{"{'a.1.b': null}", "{'a': [{'b': 1}, {'b': 2}]}", Y, 0},
		{"{'a.b': 2}", "{'a': {'b': [1, 2]}}", Y, 1},
	};
	RUN(cs);
}

Test(match, null_and_missing)
{
	static const struct mcase cs[] = {
		/* manual: Query for Null or Missing Fields */
		{"{'item': null}", "{'item': null}", Y, -1},
		{"{'item': null}", "{}", Y, -1},
		{"{'item': null}", "{'item': 1}", N, ANY},
		{"{'item': null}", "{'item': {'$undefined': true}}", Y, -1},
		{"{'item': {'$_type': 10}}", "{'item': null}", Y, -1},
		{"{'item': {'$_type': 10}}", "{}", N, ANY},
		{"{'item': {'$exists': false}}", "{}", Y, -1},
		{"{'item': {'$exists': false}}", "{'item': null}", N, ANY},
		/* arrays: null matches a null element or a sub-document missing the field */
		{"{'a': null}", "{'a': [1, null]}", Y, 1},
		{"{'a': null}", "{'a': []}", N, ANY},
		{"{'a': null}", "{'a': [1, 2]}", N, ANY},
		{"{'a.b': null}", "{'a': [{'c': 1}]}", Y, 0},
		{"{'a.b': null}", "{'a': [{'b': 1}, {'c': 1}]}", Y, 1},
		{"{'a.b': null}", "{'a': [{'b': 1}]}", N, ANY},
		{"{'a.b': null}", "{'a': []}", N, ANY},
		{"{'a.b': null}", "{'a': [null]}", N, ANY},
		{"{'a.b': null}", "{'a': [1, 2]}", N, ANY},
		{"{'a.b': null}", "{'a': 5}", Y, -1},
		{"{'a.b': null}", "{'a': {}}", Y, -1},
		{"{'a.b': null}", "{'a': {'b': {}}}", N, ANY},
		{"{'a.b': null}", "{'b': 4}", Y, -1},
		{"{'a': {'$ne': null}}", "{}", N, ANY},
		{"{'a': {'$ne': null}}", "{'a': 0}", Y, -1},
		{"{'a': {'$gte': null}}", "{}", Y, -1},
		{"{'a': {'$lte': null}}", "{'a': null}", Y, -1},
		{"{'a': {'$gt': null}}", "{'a': null}", N, ANY},
		{"{'a': {'$lt': null}}", "{}", N, ANY},
		{"{'a': {'$in': [null, 5]}}", "{}", Y, -1},
		{"{'a': {'$nin': [null]}}", "{}", N, ANY},
		{"{'a': {'$exists': true}}", "{'a': []}", Y, -1},
		{"{'a': {'$exists': true}}", "{'a': null}", Y, -1},
		{"{'a.b': {'$exists': false}}", "{'a': [1, 2]}", Y, -1},
		{"{'a.b': {'$exists': true}}", "{'a': [{'c': 1}, {'b': 2}]}", Y, ANY},
		{"{'arr.1': {'$exists': true}}", "{'arr': [1]}", N, ANY},
		{"{'arr.1': {'$exists': true}}", "{'arr': [1, 2]}", Y, -1},
		{"{'a': {'$exists': 0}}", "{'a': 1}", N, ANY},
		{"{'a': {'$exists': 'yes'}}", "{'a': 1}", Y, -1},
	};
	RUN(cs);
}

Test(match, comparison_and_brackets)
{
	static const struct mcase cs[] = {
		{"{'qty': {'$gt': 20}}", "{'qty': 25}", Y, -1},
		{"{'qty': {'$gt': 20}}", "{'qty': 20}", N, ANY},
		{"{'qty': {'$gte': 20}}", "{'qty': 20.0}", Y, -1},
		{"{'qty': {'$lt': 20}}", "{'qty': '10'}", N, ANY},
		{"{'qty': {'$gt': 1}}", "{'qty': 'abc'}", N, ANY},
		{"{'qty': {'$lt': 'a'}}", "{'qty': 5}", N, ANY},
		{"{'qty': {'$lte': 20}}", "{'qty': {'$numberDecimal': '19.99'}}", Y, -1},
		{"{'s': {'$gt': 'apple'}}", "{'s': 'banana'}", Y, -1},
		{"{'s': {'$gt': 'apple'}}", "{'s': 'Banana'}", N, ANY},
		{"{'n': {'$gt': {'$numberDouble': '9007199254740992'}}}",
		 "{'n': {'$numberLong': '9007199254740993'}}", Y, -1},
		{"{'n': {'$numberDouble': '9007199254740992'}}", "{'n': {'$numberLong': '9007199254740993'}}", N, ANY},
		{"{'d': {'$gt': {'$date': '2020-01-01T00:00:00Z'}}}", "{'d': {'$date': '2021-01-01T00:00:00Z'}}", Y, -1},
		{"{'d': {'$gt': {'$date': '2020-01-01T00:00:00Z'}}}", "{'d': 1700000000000}", N, ANY},
		{"{'ts': {'$gte': {'$timestamp': {'t': 5, 'i': 2}}}}", "{'ts': {'$timestamp': {'t': 5, 'i': 3}}}", Y, -1},
		{"{'o': {'$lt': {'$oid': '000000000000000000000002'}}}", "{'o': {'$oid': '000000000000000000000001'}}", Y, -1},
		{"{'b': {'$gt': false}}", "{'b': true}", Y, -1},
		{"{'x': {'$gt': {'$minKey': 1}}}", "{'x': 'anything'}", Y, -1},
		{"{'x': {'$lt': {'$maxKey': 1}}}", "{'x': [1]}", Y, ANY},
		{"{'x': {'$gt': {'$maxKey': 1}}}", "{'x': 1}", N, ANY},
		{"{'x': {'$eq': {'$maxKey': 1}}}", "{'x': {'$maxKey': 1}}", Y, -1},
		/* NaN: equal only to NaN, never ordered */
		{"{'x': {'$numberDouble': 'NaN'}}", "{'x': {'$numberDouble': 'NaN'}}", Y, -1},
		{"{'x': {'$numberDouble': 'NaN'}}", "{'x': {'$numberDecimal': 'NaN'}}", Y, -1},
		{"{'x': {'$lt': 0}}", "{'x': {'$numberDouble': 'NaN'}}", N, ANY},
		{"{'x': {'$gte': {'$numberDouble': 'NaN'}}}", "{'x': {'$numberDouble': 'NaN'}}", Y, -1},
		{"{'x': {'$gt': {'$numberDouble': 'NaN'}}}", "{'x': 5}", N, ANY},
		/* $eq / $ne */
		{"{'a': {'$eq': [1, 2]}}", "{'a': [1, 2]}", Y, -1},
		{"{'a': {'$eq': 2}}", "{'a': [1, 2]}", Y, 1},
		{"{'a': {'$ne': 1}}", "{}", Y, -1},
		{"{'a': {'$ne': 1}}", "{'a': [1, 2]}", N, ANY},
		{"{'a': {'$ne': 1}}", "{'a': [2, 3]}", Y, -1},
		{"{'a': {'$eq': {'$regularExpression': {'pattern': 'x', 'options': ''}}}}", "{'a': 'x'}", N, ANY},
		{"{'a': {'$eq': {'$regularExpression': {'pattern': 'x', 'options': ''}}}}",
		 "{'a': {'$regularExpression': {'pattern': 'x', 'options': ''}}}", Y, -1},
		{"{'a': {'$gt': [1]}}", "{'a': [2]}", Y, -1},
		{"{'a': {'$gt': 1, '$lt': 3}}", "{'a': 2}", Y, -1},
	};
	RUN(cs);
}

Test(match, in_nin)
{
	static const struct mcase cs[] = {
		{"{'qty': {'$in': [5, 15]}}", "{'qty': 15}", Y, -1},
		{"{'qty': {'$in': [5, 15]}}", "{'qty': 10}", N, ANY},
		{"{'qty': {'$in': []}}", "{'qty': 10}", N, ANY},
		{"{'tags': {'$in': ['school', 'home']}}", "{'tags': ['x', 'home']}", Y, 1},
		{"{'tags': {'$in': [{'$regularExpression': {'pattern': '^be', 'options': ''}}, "
		 "{'$regularExpression': {'pattern': '^st', 'options': ''}}]}}",
		 "{'tags': ['a', 'store']}", Y, 1},
		{"{'tags': {'$in': [{'$regularExpression': {'pattern': '^BE', 'options': 'i'}}]}}", "{'tags': 'best'}", Y,
		 -1},
		{"{'tags': {'$in': [{'$regularExpression': {'pattern': '^be', 'options': ''}}]}}", "{'tags': 5}", N, ANY},
		{"{'qty': {'$nin': [5, 15]}}", "{'qty': 10}", Y, -1},
		{"{'qty': {'$nin': [5, 15]}}", "{}", Y, -1},
		{"{'qty': {'$nin': [5, 15]}}", "{'qty': [1, 5]}", N, ANY},
		{"{'qty': {'$nin': []}}", "{'qty': 1}", Y, -1},
		{"{'a': {'$in': [[1, 2]]}}", "{'a': [1, 2]}", Y, -1},
		{"{'a': {'$in': [{'b': 1}]}}", "{'a': {'b': 1}}", Y, -1},
	};
	RUN(cs);
}

Test(match, logical)
{
	static const struct mcase cs[] = {
		{"{'$and': [{'a': 1}, {'b': 2}]}", "{'a': 1, 'b': 2}", Y, -1},
		{"{'$and': [{'a': 1}, {'b': 2}]}", "{'a': 1, 'b': 3}", N, ANY},
		{"{'$or': [{'qty': {'$lt': 20}}, {'price': 10}]}", "{'qty': 30, 'price': 10}", Y, -1},
		{"{'$or': [{'qty': {'$lt': 20}}, {'price': 10}]}", "{'qty': 30, 'price': 11}", N, ANY},
		{"{'$nor': [{'price': 1.99}, {'sale': true}]}", "{'price': 2}", Y, -1},
		{"{'$nor': [{'price': 1.99}, {'sale': true}]}", "{'price': 2, 'sale': true}", N, ANY},
		{"{'$nor': [{'price': 1.99}, {'sale': true}]}", "{}", Y, -1},
		{"{'price': {'$not': {'$gt': 1.99}}}", "{'price': 1.5}", Y, -1},
		{"{'price': {'$not': {'$gt': 1.99}}}", "{}", Y, -1},
		{"{'price': {'$not': {'$gt': 1.99}}}", "{'price': 2}", N, ANY},
		{"{'price': {'$not': {'$gt': 1.99}}}", "{'price': 'x'}", Y, -1},
		{"{'item': {'$not': {'$regularExpression': {'pattern': '^p.*', 'options': ''}}}}", "{'item': 'pen'}", N, ANY},
		{"{'item': {'$not': {'$regularExpression': {'pattern': '^p.*', 'options': ''}}}}", "{'item': 'ink'}", Y, -1},
		{"{'item': {'$not': {'$_regex': '^P', '$_options': 'i'}}}", "{'item': 'pen'}", N, ANY},
		{"{'a': {'$not': {'$elemMatch': {'$gt': 5}}}}", "{'a': [1, 2]}", Y, -1},
		{"{'$or': [{'a': {'$ne': 1}}, {'b': 2}]}", "{'a': [1, 3], 'b': 2}", Y, -1},
		{"{'$or': [{'a': 9}, {'a': 3}]}", "{'a': [1, 3]}", Y, 1},
		{"{'$and': [{'a': 3}, {'b': 7}]}", "{'a': [1, 3], 'b': [6, 7]}", Y, 1},
		{"{'$comment': 'hello', 'a': 1}", "{'a': 1}", Y, -1},
		{"{'$alwaysTrue': 1}", "{}", Y, -1},
		{"{'$alwaysFalse': 1}", "{}", N, ANY},
	};
	RUN(cs);
}

Test(match, regex)
{
	static const struct mcase cs[] = {
		{"{'sku': {'$_regex': '789$'}}", "{'sku': 'abc789'}", Y, -1},
		{"{'sku': {'$_regex': '789$'}}", "{'sku': 'abc7890'}", N, ANY},
		{"{'sku': {'$_regex': '^ABC', '$_options': 'i'}}", "{'sku': 'abc123'}", Y, -1},
		{"{'sku': {'$regularExpression': {'pattern': '^ABC', 'options': 'i'}}}", "{'sku': 'abc123'}", Y, -1},
		{"{'sku': {'$_regex': {'$regularExpression': {'pattern': '^ABC', 'options': 'i'}}}}", "{'sku': 'abc'}", Y, -1},
		{"{'d': {'$_regex': '^S', '$_options': 'm'}}", "{'d': 'First line\\nSecond line'}", Y, -1},
		{"{'d': {'$_regex': '^S'}}", "{'d': 'First line\\nSecond line'}", N, ANY},
		{"{'d': {'$_regex': 'm.*line', '$_options': 'si'}}", "{'d': 'Multiple\\nline'}", Y, -1},
		{"{'d': {'$_regex': 'm.*line', '$_options': 'i'}}", "{'d': 'Multiple\\nline'}", N, ANY},
		{"{'s': {'$_regex': 'abc # comment\\n 123', '$_options': 'x'}}", "{'s': 'abc123'}", Y, -1},
		{"{'s': {'$_regex': '^\\\\p{L}+$'}}", "{'s': '\\u00e9t\\u00e9'}", Y, -1},
		{"{'s': {'$_regex': '^.$'}}", "{'s': '\\u00e9'}", Y, -1},
		{"{'s': {'$_regex': 'a'}}", "{'s': 1}", N, ANY},
		{"{'s': {'$_regex': 'a'}}", "{'s': ['x', 'yay']}", Y, 1},
		{"{'s': {'$_regex': 'a'}}", "{'s': {'$symbol': 'cat'}}", Y, -1},
		{"{'s': {'$regularExpression': {'pattern': 'a', 'options': 'i'}}}",
		 "{'s': {'$regularExpression': {'pattern': 'a', 'options': 'i'}}}", Y, -1},
		{"{'s': {'$regularExpression': {'pattern': 'a', 'options': 'i'}}}",
		 "{'s': {'$regularExpression': {'pattern': 'a', 'options': ''}}}", N, ANY},
	};
	RUN(cs);
}

Test(match, type_operator)
{
	static const struct mcase cs[] = {
		{"{'z': {'$_type': 2}}", "{'z': 'x'}", Y, -1},
		{"{'z': {'$_type': 'string'}}", "{'z': 'x'}", Y, -1},
		{"{'z': {'$_type': 'number'}}", "{'z': {'$numberDecimal': '1'}}", Y, -1},
		{"{'z': {'$_type': 'number'}}", "{'z': '1'}", N, ANY},
		{"{'z': {'$_type': 'double'}}", "{'z': 1}", N, ANY},
		{"{'z': {'$_type': 'int'}}", "{'z': 1}", Y, -1},
		{"{'z': {'$_type': 'long'}}", "{'z': {'$numberLong': '1'}}", Y, -1},
		{"{'z': {'$_type': 18.0}}", "{'z': {'$numberLong': '1'}}", Y, -1},
		{"{'z': {'$_type': ['string', 'bool']}}", "{'z': true}", Y, -1},
		{"{'z': {'$_type': ['string', 'bool']}}", "{'z': 1}", N, ANY},
		{"{'z': {'$_type': 'array'}}", "{'z': []}", Y, -1},
		{"{'z': {'$_type': 'array'}}", "{'z': [[1]]}", Y, ANY},
		{"{'z': {'$_type': 'array'}}", "{'z': 1}", N, ANY},
		{"{'z': {'$_type': 'string'}}", "{'z': [1, 'a']}", Y, 1},
		{"{'z': {'$_type': 'minKey'}}", "{'z': {'$minKey': 1}}", Y, -1},
		{"{'z': {'$_type': -1}}", "{'z': {'$minKey': 1}}", Y, -1},
		{"{'z': {'$_type': 127}}", "{'z': {'$maxKey': 1}}", Y, -1},
		{"{'z': {'$_type': 'object'}}", "{'z': {'a': 1}}", Y, -1},
		{"{'z': {'$_type': 'binData'}}", "{'z': {'$binary': {'base64': 'AA==', 'subType': '00'}}}", Y, -1},
		{"{'z': {'$_type': 'timestamp'}}", "{'z': {'$timestamp': {'t': 1, 'i': 1}}}", Y, -1},
		{"{'z': {'$_type': 'date'}}", "{'z': {'$date': '2020-01-01T00:00:00Z'}}", Y, -1},
		{"{'z': {'$_type': 'objectId'}}", "{'z': {'$oid': '000000000000000000000001'}}", Y, -1},
		{"{'z': {'$_type': 'regex'}}", "{'z': {'$regularExpression': {'pattern': 'a', 'options': ''}}}", Y, -1},
	};
	RUN(cs);
}

Test(match, mod_size_all_elemmatch)
{
	static const struct mcase cs[] = {
		{"{'qty': {'$mod': [4, 0]}}", "{'qty': 12}", Y, -1},
		{"{'qty': {'$mod': [4, 0]}}", "{'qty': 21}", N, ANY},
		{"{'qty': {'$mod': [4, 0]}}", "{'qty': '12'}", N, ANY},
		{"{'qty': {'$mod': [4, 1]}}", "{'qty': 5.9}", Y, -1},
		{"{'qty': {'$mod': [4.5, 1]}}", "{'qty': 5}", Y, -1},
		{"{'qty': {'$mod': [-4, -1]}}", "{'qty': -5}", Y, -1},
		{"{'qty': {'$mod': [-1, 0]}}", "{'qty': {'$numberLong': '-9223372036854775808'}}", Y, -1},
		{"{'qty': {'$mod': [4, 0]}}", "{'qty': {'$numberDouble': 'NaN'}}", N, ANY},
		{"{'a': {'$size': 0}}", "{'a': []}", Y, -1},
		{"{'a': {'$size': 1}}", "{'a': 1}", N, ANY},
		{"{'a': {'$size': 2.0}}", "{'a': [1, [2, 3]]}", Y, -1},
		{"{'a.b': {'$size': 2}}", "{'a': [{'b': [1]}, {'b': [1, 2]}]}", Y, 1},
		{"{'a': {'$size': 1}}", "{'a': [[1, 2]]}", Y, -1},
		/* manual: $all */
		{"{'tags': {'$all': ['ssl', 'security']}}", "{'tags': ['security', 'x', 'ssl']}", Y, ANY},
		{"{'tags': {'$all': ['ssl', 'security']}}", "{'tags': ['ssl']}", N, ANY},
		{"{'tags': {'$all': ['ssl']}}", "{'tags': 'ssl'}", Y, -1},
		{"{'tags': {'$all': []}}", "{'tags': []}", N, ANY},
		{"{'tags': {'$all': [['ssl', 'security']]}}", "{'tags': [['ssl', 'security'], 'x']}", Y, ANY},
		{"{'tags': {'$all': [['ssl', 'security']]}}", "{'tags': ['ssl', 'security']}", Y, -1},
		{"{'tags': {'$all': [{'$regularExpression': {'pattern': '^s', 'options': ''}}]}}", "{'tags': ['x', 'sa']}",
		 Y, ANY},
		{"{'qty': {'$all': [{'$elemMatch': {'size': 'M', 'num': {'$gt': 50}}}, "
		 "{'$elemMatch': {'num': 100, 'color': 'green'}}]}}",
		 "{'qty': [{'size': 'S', 'num': 10, 'color': 'blue'}, {'size': 'M', 'num': 100, 'color': 'blue'}, "
		 "{'size': 'L', 'num': 100, 'color': 'green'}]}",
		 Y, ANY},
		{"{'qty': {'$all': [{'$elemMatch': {'size': 'M', 'num': {'$gt': 50}}}, "
		 "{'$elemMatch': {'num': 100, 'color': 'green'}}]}}",
		 "{'qty': [{'size': 'M', 'num': 100, 'color': 'blue'}]}", N, ANY},
		/* manual: $elemMatch */
		{"{'results': {'$elemMatch': {'$gte': 80, '$lt': 85}}}", "{'results': [82, 85, 88]}", Y, 0},
		{"{'results': {'$elemMatch': {'$gte': 80, '$lt': 85}}}", "{'results': [75, 88, 89]}", N, ANY},
		{"{'results': {'$elemMatch': {'product': 'xyz', 'score': {'$gte': 8}}}}",
		 "{'results': [{'product': 'abc', 'score': 10}, {'product': 'xyz', 'score': 9}]}", Y, 1},
		{"{'results': {'$elemMatch': {'product': 'xyz', 'score': {'$gte': 8}}}}",
		 "{'results': [{'product': 'abc', 'score': 10}, {'product': 'xyz', 'score': 5}]}", N, ANY},
		{"{'results': {'$elemMatch': {'product': 'xyz'}}}", "{'results': {'product': 'xyz'}}", N, ANY},
		{"{'a': {'$elemMatch': {'$or': [{'b': 1}, {'c': 1}]}}}", "{'a': [{'b': 0}, {'c': 1}]}", Y, 1},
		{"{'a': {'$elemMatch': {'$elemMatch': {'$eq': 2}}}}", "{'a': [[1], [3, 2]]}", Y, 1},
		{"{'a': {'$elemMatch': {'$eq': 1}}}", "{'a': [[1]]}", N, ANY},
		{"{'a': {'$elemMatch': {'$not': {'$gt': 5}}}}", "{'a': [7, 3]}", Y, 1},
		{"{'a': {'$elemMatch': {'$_type': 'string', '$_regex': '^x'}}}", "{'a': [1, 'y', 'xa']}", Y, 2},
		{"{'a.b': {'$elemMatch': {'c': 1}}}", "{'a': [{'b': [{'c': 2}]}, {'b': [{'c': 1}]}]}", Y, 1},
	};
	RUN(cs);
}

Test(match, bit_operators)
{
	/* manual: the collection with a = 54 (00110110), 20 (00010100), 20.0, BinData "Zg==" (01100110) */
	static const struct mcase cs[] = {
		{"{'a': {'$bitsAllSet': [1, 5]}}", "{'a': 54}", Y, -1},
		{"{'a': {'$bitsAllSet': [1, 5]}}", "{'a': 20}", N, ANY},
		{"{'a': {'$bitsAllSet': [1, 5]}}", "{'a': {'$binary': {'base64': 'Zg==', 'subType': '00'}}}", Y, -1},
		{"{'a': {'$bitsAllSet': 50}}", "{'a': 54}", Y, -1},
		{"{'a': {'$bitsAllSet': 50}}", "{'a': 20}", N, ANY},
		{"{'a': {'$bitsAllSet': {'$binary': {'base64': 'MA==', 'subType': '00'}}}}", "{'a': 54}", Y, -1},
		{"{'a': {'$bitsAnySet': [1, 5]}}", "{'a': 20.0}", N, ANY},
		{"{'a': {'$bitsAnySet': [1, 4]}}", "{'a': 20.0}", Y, -1},
		{"{'a': {'$bitsAllClear': [1, 5]}}", "{'a': 20}", Y, -1},
		{"{'a': {'$bitsAllClear': 35}}", "{'a': 20}", Y, -1},
		{"{'a': {'$bitsAnyClear': [1, 5]}}", "{'a': 20}", Y, -1},
		{"{'a': {'$bitsAnyClear': [1, 5]}}", "{'a': 54}", N, ANY},
		{"{'a': {'$bitsAllSet': [1]}}", "{'a': 2.5}", N, ANY},
		{"{'a': {'$bitsAllSet': [1]}}", "{'a': '2'}", N, ANY},
		{"{'a': {'$bitsAllSet': [100]}}", "{'a': -1}", Y, -1},
		{"{'a': {'$bitsAllSet': [100]}}", "{'a': 1}", N, ANY},
		{"{'a': {'$bitsAllSet': []}}", "{'a': 1}", Y, -1},
		{"{'a': {'$bitsAnySet': []}}", "{'a': 1}", N, ANY},
		{"{'a': {'$bitsAllSet': [1]}}", "{'a': [1, 2]}", Y, 1},
	};
	RUN(cs);
}

Test(match, expr_subset)
{
	static const struct mcase cs[] = {
		{"{'$expr': {'$gt': ['$spent', '$budget']}}", "{'spent': 400, 'budget': 300}", Y, -1},
		{"{'$expr': {'$gt': ['$spent', '$budget']}}", "{'spent': 200, 'budget': 300}", N, ANY},
		{"{'$expr': {'$eq': ['$a.b', 1]}}", "{'a': {'b': 1.0}}", Y, -1},
		{"{'$expr': {'$eq': ['$a', null]}}", "{}", N, ANY},
		{"{'$expr': {'$lt': ['$a', null]}}", "{}", Y, -1},
		{"{'$expr': {'$gt': ['$a', 5]}}", "{'a': 'str'}", Y, -1},
		{"{'$expr': {'$and': [{'$gte': ['$a', 1]}, {'$lte': ['$a', 3]}]}}", "{'a': 2}", Y, -1},
		{"{'$expr': {'$or': [{'$eq': ['$a', 1]}, {'$eq': ['$a', 3]}]}}", "{'a': 2}", N, ANY},
		{"{'$expr': {'$not': [{'$eq': ['$a', 1]}]}}", "{'a': 2}", Y, -1},
		{"{'$expr': {'$ne': ['$a', {'$literal': '$x'}]}}", "{'a': '$x'}", N, ANY},
		{"{'$expr': '$flag'}", "{'flag': 0}", N, ANY},
		{"{'$expr': '$flag'}", "{'flag': 'x'}", Y, -1},
		{"{'$expr': true}", "{}", Y, -1},
		{"{'$expr': {'$eq': ['$a.b', 1]}}", "{'a': [{'b': 1}]}", U, ANY},
		{"{'$expr': {'$add': ['$a', 1]}}", "{'a': 1}", U, ANY},
		{"{'$expr': {'$eq': ['$$ROOT', 1]}}", "{'a': 1}", U, ANY},
		{"{'$expr': {'$eq': ['$a']}}", "{'a': 1}", E, ANY},
		{"{'$expr': {'$eq': [1, 1], '$ne': [1, 2]}}", "{}", E, ANY},
	};
	RUN(cs);
}

Test(match, errors_and_unsupported)
{
	static const struct mcase cs[] = {
		{"{'a': {'$foo': 1}}", "{}", E, ANY},
		{"{'$foo': 1}", "{}", E, ANY},
		{"{'a': {'$gt': 1, 'b': 2}}", "{}", E, ANY},
		{"{'a': {'$in': 5}}", "{}", E, ANY},
		{"{'a': {'$nin': {'x': 1}}}", "{}", E, ANY},
		{"{'a': {'$in': [{'$gt': 1}]}}", "{}", E, ANY},
		{"{'a': {'$all': 1}}", "{}", E, ANY},
		{"{'a': {'$all': [{'$elemMatch': {'b': 1}}, 2]}}", "{}", E, ANY},
		{"{'a': {'$elemMatch': 1}}", "{}", E, ANY},
		{"{'a': {'$size': 'x'}}", "{}", E, ANY},
		{"{'a': {'$size': 1.5}}", "{}", E, ANY},
		{"{'a': {'$size': -1}}", "{}", E, ANY},
		{"{'a': {'$mod': 1}}", "{}", E, ANY},
		{"{'a': {'$mod': [1]}}", "{}", E, ANY},
		{"{'a': {'$mod': [1, 2, 3]}}", "{}", E, ANY},
		{"{'a': {'$mod': [0, 1]}}", "{}", E, ANY},
		{"{'a': {'$mod': ['x', 1]}}", "{}", E, ANY},
		{"{'a': {'$mod': [2, 'x']}}", "{}", E, ANY},
		{"{'a': {'$mod': [{'$numberDouble': 'NaN'}, 1]}}", "{}", E, ANY},
		{"{'a': {'$_type': 'nope'}}", "{}", E, ANY},
		{"{'a': {'$_type': 99}}", "{}", E, ANY},
		{"{'a': {'$_type': {}}}", "{}", E, ANY},
		{"{'a': {'$_regex': 5}}", "{}", E, ANY},
		{"{'a': {'$_regex': '('}}", "{}", E, ANY},
		{"{'a': {'$_regex': 'a', '$_options': 'q'}}", "{}", E, ANY},
		{"{'a': {'$_options': 'i'}}", "{}", E, ANY},
		{"{'a': {'$_regex': {'$regularExpression': {'pattern': 'a', 'options': 'i'}}, '$_options': 'm'}}", "{}", E,
		 ANY},
		{"{'a': {'$not': 5}}", "{}", E, ANY},
		{"{'a': {'$not': {}}}", "{}", E, ANY},
		{"{'$and': []}", "{}", E, ANY},
		{"{'$or': {'a': 1}}", "{}", E, ANY},
		{"{'$nor': [1]}", "{}", E, ANY},
		{"{'$alwaysTrue': 2}", "{}", E, ANY},
		{"{'a': {'$bitsAllSet': -1}}", "{}", E, ANY},
		{"{'a': {'$bitsAllSet': [-1]}}", "{}", E, ANY},
		{"{'a': {'$bitsAllSet': 'x'}}", "{}", E, ANY},
		{"{'a': {'$eq': {'$undefined': true}}}", "{}", E, ANY},
		/* an error in a branch that evaluation would skip is still an error */
		{"{'$or': [{'a': 1}, {'b': {'$foo': 1}}]}", "{'a': 1}", E, ANY},
		{"{'$where': 'this.a == 1'}", "{}", U, ANY},
		{"{'$text': {'$search': 'x'}}", "{}", U, ANY},
		{"{'$jsonSchema': {}}", "{}", U, ANY},
		{"{'loc': {'$near': [0, 0]}}", "{}", U, ANY},
		{"{'loc': {'$geoWithin': {'$box': [[0, 0], [1, 1]]}}}", "{}", U, ANY},
	};
	RUN(cs);
}

Test(match, error_messages_like_mongodb)
{
	static const struct {
		const char *filter, *msg;
	} cs[] = {
		{"{'a': {'$foo': 1}}", "unknown operator: $foo"},
		{"{'$foo': 1}", "unknown top level operator: $foo"},
		{"{'a': {'$in': 5}}", "$in needs an array"},
		{"{'a': {'$nin': 5}}", "$nin needs an array"},
		{"{'a': {'$all': 5}}", "$all needs an array"},
		{"{'a': {'$elemMatch': 5}}", "$elemMatch needs an Object"},
		{"{'$and': []}", "$and/$or/$nor must be a nonempty array"},
		{"{'$or': [1]}", "$or/$and/$nor entries need to be full objects"},
		{"{'a': {'$mod': [0, 1]}}", "divisor cannot be 0"},
		{"{'a': {'$mod': 3}}", "malformed mod, needs to be an array"},
		{"{'a': {'$_options': 'i'}}", "$options needs a $regex"},
		{"{'a': {'$not': 1}}", "$not needs a regex or a document"},
		{"{'a': {'$size': -1}}", "Failed to parse $size. Expected a non-negative number in: $size: -1"},
		{"{'a': {'$type': 'nope'}}", "Unknown type name alias: nope"},
	};
	for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
		bson_error_t err = {0};
		bson_t *f = parse_ops(cs[i].filter);
		cr_expect_eq(match_check(f, &err), MATCH_ERROR, "%s", cs[i].filter);
		cr_expect_str_eq(err.message, cs[i].msg);
		cr_expect_eq(err.domain, MATCH_ERROR_DOMAIN);
		bson_destroy(f);
	}
}

Test(match, check_accepts_valid_filters)
{
	static const char *const ok[] = {
		"{'a': 1, 'b': {'$gt': 1}, '$or': [{'c': {'$in': [1, 2]}}, {'d': {'$exists': false}}]}",
		"{'a': {'$elemMatch': {'b': {'$_regex': 'x', '$_options': 'i'}}}, '$comment': 'c'}",
		"{'a': {'$not': {'$_type': ['int', 'string']}}, '$expr': {'$eq': ['$x', '$y']}}",
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		bson_error_t err = {0};
		bson_t *f = parse_ops(ok[i]);
		cr_expect_eq(match_check(f, &err), MATCH_YES, "%s: %s", ok[i], err.message);
		bson_destroy(f);
	}
}

/* Filters nested past the limit are rejected, without exhausting the stack. */
Test(match, deep_filters_rejected)
{
	bson_t *inner = BCON_NEW("a", BCON_INT32(1));
	for (int i = 0; i < 5000; i++) {
		bson_t *outer = bson_new(), arr;
		BSON_APPEND_ARRAY_BEGIN(outer, "$and", &arr);
		BSON_APPEND_DOCUMENT(&arr, "0", inner);
		bson_append_array_end(outer, &arr);
		bson_destroy(inner);
		inner = outer;
	}
	bson_t *doc = BCON_NEW("a", BCON_INT32(1));
	bson_error_t err;
	cr_assert_eq(match_doc(inner, doc, NULL, &err), MATCH_ERROR);
	cr_assert(strstr(err.message, "depth"), "%s", err.message);
	bson_destroy(inner);

	/* 50 levels of $elemMatch are fine */
	bson_t *f = BCON_NEW("x", BCON_INT32(1));
	for (int i = 0; i < 50; i++) {
		bson_t *outer = bson_new(), em;
		BSON_APPEND_DOCUMENT_BEGIN(outer, "x", &em);
		BSON_APPEND_DOCUMENT(&em, "$elemMatch", f);
		bson_append_document_end(outer, &em);
		bson_destroy(f);
		f = outer;
	}
	cr_assert_eq(match_check(f, &err), MATCH_YES, "%s", err.message);
	cr_assert_eq(match_doc(f, doc, NULL, &err), MATCH_NO);
	bson_destroy(f);
	bson_destroy(doc);
}

Test(match, null_result_and_error_pointers_allowed)
{
	bson_t *f = parse("{'a': {'$foo': 1}}"), *d = parse("{'a': 1}");
	cr_assert_eq(match_doc(f, d, NULL, NULL), MATCH_ERROR);
	bson_destroy(f);
	f = parse("{'a': 1}");
	cr_assert_eq(match_doc(f, d, NULL, NULL), MATCH_YES);
	bson_destroy(f);
	bson_destroy(d);
}

/* Catastrophic backtracking stops at PCRE2's match limit: unsupported, not a guess. */
Test(match, regex_backtracking_is_bounded)
{
	char doc[200];
	memset(doc, 0, sizeof doc);
	strcpy(doc, "{'s': '");
	memset(doc + strlen(doc), 'a', 60);
	strcat(doc, "!'}");
	bson_error_t err = {0};
	int st = run_one("{'s': {'$_regex': '^(a+)+$'}}", doc, NULL, &err);
	cr_assert_eq(st, MATCH_UNSUPPORTED, "st %d %s", st, err.message);
	cr_assert(strstr(err.message, "limit"), "%s", err.message);
}
