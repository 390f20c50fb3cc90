/*
 * test_aggregate.c - pipelines over in-memory documents against mongod's
 * documented behaviour (examples of the manual's stage pages, order and
 * tie rules, limits), and the CRUD conformance files
 * ../shared/conformance/crud/read/aggregate*.json (skipped with a reason
 * when absent; $out and collation tests are skipped: $out is a write and
 * collations are not evaluated by tandem).
 *
 * A case is (pipeline, input docs, expected status, expected result or
 * reason).  Results with tied documents (aggregate.h) compare as
 * multisets, others in order.  Single quotes stand for double quotes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "aggregate.h"

#define OK AGG_OK
#define ER AGG_ERROR
#define UN AGG_UNSUPPORTED

struct acase {
	const char *pipeline, *docs;
	int want;
	const char *result; /* array JSON; for UN the reason; for ER "#code" */
};

static bson_t *parse(const char *sq)
{
	static char buf[16384];
	bson_error_t err;
	size_t n = strlen(sq);
	cr_assert_lt(n, sizeof buf);
	for (size_t i = 0; i <= n; i++)
		buf[i] = sq[i] == '\'' ? '"' : sq[i];
	bson_t *b = bson_new_from_json((const uint8_t *)buf, -1, &err);
	cr_assert(b, "bad json %s: %s", buf, err.message);
	return b;
}

/* Parse "[...]" by wrapping it: {"a": [...]} -> the array as a document. */
static bson_t *parse_array(const char *sq)
{
	char w[16384];
	bson_t *d, *arr;
	bson_iter_t it;
	uint32_t len;
	const uint8_t *data;

	snprintf(w, sizeof w, "{'a': %s}", sq);
	d = parse(w);
	cr_assert(bson_iter_init_find(&it, d, "a") && BSON_ITER_HOLDS_ARRAY(&it));
	bson_iter_array(&it, &len, &data);
	arr = bson_new_from_data(data, len);
	bson_destroy(d);
	return arr;
}

/* docs array -> bson_t*[] */
static size_t docs_of(const bson_t *arr, bson_t ***out)
{
	bson_iter_t it;
	size_t n = 0;

	*out = calloc(1024, sizeof **out);
	cr_assert(bson_iter_init(&it, arr));
	while (bson_iter_next(&it) && n < 1024) {
		uint32_t len;
		const uint8_t *data;
		cr_assert(BSON_ITER_HOLDS_DOCUMENT(&it));
		bson_iter_document(&it, &len, &data);
		(*out)[n++] = bson_new_from_data(data, len);
	}
	return n;
}

static void free_docs(bson_t **d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bson_destroy(d[i]);
	free(d);
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Compare got with want (arrays of documents), as multisets when unordered. */
static void expect_same(const bson_t *got, const bson_t *want, bool unordered, const char *what)
{
	bson_t **g, **w;
	size_t ng = docs_of(got, &g), nw = docs_of(want, &w);
	char *gs[1024], *ws[1024];
	char *gj = bson_as_relaxed_extended_json(got, NULL), *wj = bson_as_relaxed_extended_json(want, NULL);

	cr_assert_eq(ng, nw, "%s: got %s want %s", what, gj, wj);
	for (size_t i = 0; i < ng; i++) {
		gs[i] = bson_as_canonical_extended_json(g[i], NULL);
		ws[i] = bson_as_canonical_extended_json(w[i], NULL);
	}
	if (unordered) {
		qsort(gs, ng, sizeof *gs, strp_cmp);
		qsort(ws, nw, sizeof *ws, strp_cmp);
	}
	for (size_t i = 0; i < ng; i++)
		cr_assert_str_eq(gs[i], ws[i], "%s: got %s want %s", what, gj, wj);
	for (size_t i = 0; i < ng; i++) {
		bson_free(gs[i]);
		bson_free(ws[i]);
	}
	bson_free(gj);
	bson_free(wj);
	free_docs(g, ng);
	free_docs(w, nw);
}

static const char *const FOREIGN =
	"[{'_id': 1, 'sku': 'almonds', 'instock': 120}, {'_id': 2, 'sku': 'bread', 'instock': 80},"
	" {'_id': 3, 'sku': 'cashews', 'instock': 60}, {'_id': 4, 'sku': 'pecans', 'instock': 70},"
	" {'_id': 5, 'sku': null}, {'_id': 6}]";

static const char *const SALES =
	"[{'_id': 1, 'item': 'abc', 'price': 10, 'quantity': 2},"
	" {'_id': 2, 'item': 'jkl', 'price': 20, 'quantity': 1},"
	" {'_id': 3, 'item': 'xyz', 'price': 5, 'quantity': 10},"
	" {'_id': 4, 'item': 'xyz', 'price': 5, 'quantity': 20},"
	" {'_id': 5, 'item': 'abc', 'price': 10, 'quantity': 10}]";

static const struct acase cases[] = {
	/* $match / $sort / $skip / $limit */
	{ "[{'$match': {'price': {'$gt': 5}}}, {'$sort': {'_id': -1}}]", NULL, OK,
	  "[{'_id': 5, 'item': 'abc', 'price': 10, 'quantity': 10}, {'_id': 2, 'item': 'jkl', 'price': 20, 'quantity': 1},"
	  " {'_id': 1, 'item': 'abc', 'price': 10, 'quantity': 2}]" },
	{ "[{'$sort': {'quantity': 1, '_id': 1}}, {'$skip': 1}, {'$limit': 2}, {'$project': {'_id': 1}}]", NULL, OK,
	  "[{'_id': 1}, {'_id': 3}]" },
	{ "[{'$limit': 2}]", NULL, UN, "order:$limit" },
	/* countDocuments with skip/limit: only how many pass matters */
	{ "[{'$match': {'price': {'$gte': 10}}}, {'$skip': 1}, {'$limit': 5}, {'$group': {'_id': 1, 'n': {'$sum': 1}}}]",
	  NULL, OK, "[{'_id': 1, 'n': 2}]" },
	{ "[{'$skip': 2}, {'$count': 'c'}]", NULL, OK, "[{'c': 3}]" },
	{ "[{'$skip': 1}, {'$group': {'_id': 1, 'q': {'$sum': '$quantity'}}}]", NULL, UN, "order:$skip" },
	{ "[{'$limit': 2}, {'$group': {'_id': '$item', 'n': {'$sum': 1}}}]", NULL, UN, "order:$limit" },
	{ "[{'$sort': {'price': 1}}, {'$limit': 1}]", NULL, UN, "order:$limit" },
	{ "[{'$sort': {'price': 1}}, {'$limit': 2}, {'$project': {'_id': 1}}]", NULL, OK, "[{'_id': 3}, {'_id': 4}]" },
	{ "[{'$limit': 10}]", NULL, OK, SALES },
	{ "[{'$limit': 0}]", NULL, UN, "invalid:$limit" },
	{ "[{'$match': {'$where': 'true'}}]", NULL, UN, "match:unsupported" },
	/* $count */
	{ "[{'$match': {'item': 'xyz'}}, {'$count': 'n'}]", NULL, OK, "[{'n': 2}]" },
	{ "[{'$match': {'item': 'none'}}, {'$count': 'n'}]", NULL, OK, "[]" },
	{ "[{'$count': '$n'}]", NULL, UN, "invalid:$count" },
	/* $project / $addFields / $unset */
	{ "[{'$match': {'_id': 1}}, {'$project': {'item': 1, 'total': {'$multiply': ['$price', '$quantity']}}}]", NULL,
	  OK, "[{'_id': 1, 'item': 'abc', 'total': 20}]" },
	{ "[{'$match': {'_id': 1}}, {'$project': {'_id': 0, 'item': 1}}]", NULL, OK, "[{'item': 'abc'}]" },
	{ "[{'$match': {'_id': 1}}, {'$project': {'price': 0, 'quantity': 0}}]", NULL, OK, "[{'_id': 1, 'item': 'abc'}]" },
	{ "[{'$match': {'_id': 1}}, {'$project': {'price': 0, 'item': 1}}]", NULL, UN, "invalid:projection_mixed" },
	{ "[{'$match': {'_id': 1}}, {'$project': {'q': '$quantity', 'item': 1}}]", NULL, OK,
	  "[{'_id': 1, 'item': 'abc', 'q': 2}]" },
	{ "[{'$project': {'a.b': 1, 'a.c': {'$literal': 5}}}]", "[{'_id': 1, 'a': [1, {'b': 2, 'x': 3}, [{'b': 4}]]}]", OK,
	  "[{'_id': 1, 'a': [{'c': 5}, {'b': 2, 'c': 5}, [{'b': 4, 'c': 5}]]}]" },
	{ "[{'$project': {'a': {'b': 1}}}]", "[{'_id': 1, 'a': 7}, {'_id': 2, 'a': {'b': 1, 'c': 2}}]", OK,
	  "[{'_id': 1}, {'_id': 2, 'a': {'b': 1}}]" },
	{ "[{'$project': {'a.b': 0}}]", "[{'_id': 1, 'a': [{'b': 1, 'c': 2}, 3]}]", OK,
	  "[{'_id': 1, 'a': [{'c': 2}, 3]}]" },
	{ "[{'$project': {'a': 1, 'a.b': 1}}]", "[{'_id': 1}]", UN, "invalid:projection_collision" },
	{ "[{'$project': {}}]", "[{'_id': 1}]", UN, "invalid:projection_empty" },
	{ "[{'$addFields': {'total': {'$add': ['$x', 1]}, 'x': '$$REMOVE', 'n.m': 1}}]", "[{'_id': 1, 'x': 1, 'y': 2}]", OK,
	  "[{'_id': 1, 'y': 2, 'total': 2, 'n': {'m': 1}}]" },
	{ "[{'$set': {'a.b': 1}}]", "[{'_id': 1, 'a': [1, {'c': 1}]}]", OK, "[{'_id': 1, 'a': [{'b': 1}, {'c': 1, 'b': 1}]}]" },
	{ "[{'$set': {'_id': 'x', 'a': 2}}]", "[{'a': 1, '_id': 1}]", OK, "[{'a': 2, '_id': 'x'}]" },
	{ "[{'$unset': ['price', 'quantity']}, {'$match': {'_id': 2}}]", NULL, OK, "[{'_id': 2, 'item': 'jkl'}]" },
	{ "[{'$unset': 'a.b'}]", "[{'_id': 1, 'a': {'b': 1, 'c': 1}}]", OK, "[{'_id': 1, 'a': {'c': 1}}]" },
	/* $group */
	{ "[{'$group': {'_id': '$item', 'total': {'$sum': {'$multiply': ['$price', '$quantity']}},"
	  " 'avgQ': {'$avg': '$quantity'}, 'n': {'$sum': 1}, 'c': {'$count': {}}}}]",
	  NULL, OK,
	  "[{'_id': 'abc', 'total': 120, 'avgQ': 6.0, 'n': 2, 'c': 2}, {'_id': 'jkl', 'total': 20, 'avgQ': 1.0, 'n': 1, 'c': 1},"
	  " {'_id': 'xyz', 'total': 150, 'avgQ': 15.0, 'n': 2, 'c': 2}]" },
	{ "[{'$group': {'_id': null, 'mx': {'$max': '$quantity'}, 'mn': {'$min': '$item'}, 'set': {'$addToSet': '$price'}}},"
	  " {'$project': {'_id': 1, 'mx': 1, 'mn': 1, 'n': {'$size': '$set'}}}]",
	  NULL, OK, "[{'_id': null, 'mx': 20, 'mn': 'abc', 'n': 3}]" },
	{ "[{'$group': {'_id': '$k', 's': {'$sum': '$v'}}}]",
	  "[{'k': 1, 'v': 0.1}, {'k': 1.0, 'v': 0.2}, {'k': {'$numberLong': '1'}, 'v': 0.3}, {'v': 2147483647}, {'k': null, 'v': 1}]",
	  OK, "[{'_id': 1, 's': 0.6}, {'_id': null, 's': {'$numberLong': '2147483648'}}]" },
	{ "[{'$group': {'_id': '$k', 's': {'$sum': '$v'}, 'a': {'$avg': '$v'}, 'm': {'$min': '$v'}}}]",
	  "[{'k': 1, 'v': 'x'}, {'k': 1}]", OK, "[{'_id': 1, 's': 0, 'a': null, 'm': 'x'}]" },
	/* doubles: mongod's double-double sum (naive adding gives 0.0 twice), whose
	 * last addend is not added in ([1e16, 1.0, -1e16] is 0.0 in this order) */
	{ "[{'$group': {'_id': null, 's': {'$sum': '$x'}, 'a': {'$avg': '$x'}}}]",
	  "[{'x': 1e16}, {'x': 1.0}, {'x': 1.0}, {'x': -1e16}]", OK, "[{'_id': null, 's': 2.0, 'a': 0.5}]" },
	{ "[{'$group': {'_id': null, 's': {'$sum': '$x'}}}]", "[{'x': 1e16}, {'x': 1.0}, {'x': -1e16}]", OK,
	  "[{'_id': null, 's': 0.0}]" },
	{ "[{'$group': {'_id': null, 's': {'$sum': '$x'}}}]", "[{'x': 1e16}, {'x': -1e16}, {'x': 1.0}]", OK,
	  "[{'_id': null, 's': 1.0}]" },
	{ "[{'$project': {'_id': 0, 's': {'$sum': '$xs'}, 'a': {'$avg': '$xs'}}}]",
	  "[{'xs': [1e16, 1.0, 1.0, -1e16]}]", OK, "[{'s': 2.0, 'a': 0.5}]" },
	{ "[{'$group': {'_id': {'i': '$item', 'p': '$nope'}, 'n': {'$sum': 1}}}, {'$sort': {'_id.i': 1}}, {'$limit': 1}]",
	  NULL, OK, "[{'_id': {'i': 'abc'}, 'n': 2}]" },
	{ "[{'$group': {'_id': '$item', 'f': {'$first': '$quantity'}}}]", NULL, UN, "order:$group" },
	{ "[{'$sort': {'_id': 1}}, {'$group': {'_id': '$item', 'f': {'$first': '$quantity'}, 'l': {'$last': '$quantity'},"
	  " 'p': {'$push': '$quantity'}}}]",
	  NULL, OK,
	  "[{'_id': 'abc', 'f': 2, 'l': 10, 'p': [2, 10]}, {'_id': 'jkl', 'f': 1, 'l': 1, 'p': [1]},"
	  " {'_id': 'xyz', 'f': 10, 'l': 20, 'p': [10, 20]}]" },
	{ "[{'$group': {'_id': 1, 'f': {'$first': '$nope'}}}]", "[{'a': 1}]", OK, "[{'_id': 1, 'f': null}]" },
	{ "[{'$group': {'_id': '$a', 'x': {'$stdDevPop': '$a'}}}]", "[{'a': 1}]", UN, "group:$stdDevPop" },
	{ "[{'$group': {'n': {'$sum': 1}}}]", "[{'a': 1}]", UN, "invalid:$group_no_id" },
	/* a constant with a fraction: mongod versions add it naively or not */
	{ "[{'$group': {'_id': null, 's': {'$sum': 0.1}}}]", "[{'a': 1}]", UN, "group:$sum_double_constant" },
	{ "[{'$group': {'_id': null, 's': {'$sum': {'$literal': 2.5}}}}]", "[{'a': 1}]", UN, "group:$sum_double_constant" },
	{ "[{'$group': {'_id': null, 's': {'$sum': 2.0}}}]", "[{'a': 1}, {'a': 2}]", OK, "[{'_id': null, 's': 4.0}]" },
	{ "[{'$group': {'_id': null, 's': {'$sum': '$x'}}}]", "[{'x': {'$numberDecimal': '1'}}]", UN, "expr:decimal" },
	/* $unwind */
	{ "[{'$unwind': '$s'}]", "[{'_id': 1, 's': ['S', 'M']}, {'_id': 2, 's': []}, {'_id': 3}, {'_id': 4, 's': 'L'}]", OK,
	  "[{'_id': 1, 's': 'S'}, {'_id': 1, 's': 'M'}, {'_id': 4, 's': 'L'}]" },
	{ "[{'$unwind': {'path': '$s', 'includeArrayIndex': 'i', 'preserveNullAndEmptyArrays': true}}]",
	  "[{'_id': 1, 's': ['S', 'M']}, {'_id': 2, 's': []}, {'_id': 3, 's': null}, {'_id': 4}]", OK,
	  "[{'_id': 1, 's': 'S', 'i': {'$numberLong': '0'}}, {'_id': 1, 's': 'M', 'i': {'$numberLong': '1'}},"
	  " {'_id': 2, 'i': null}, {'_id': 3, 's': null, 'i': null}, {'_id': 4, 'i': null}]" },
	{ "[{'$unwind': '$a.b'}]", "[{'_id': 1, 'a': {'b': [1, 2], 'c': 3}}]", OK,
	  "[{'_id': 1, 'a': {'b': 1, 'c': 3}}, {'_id': 1, 'a': {'b': 2, 'c': 3}}]" },
	{ "[{'$unwind': 's'}]", "[{'_id': 1}]", UN, "invalid:$unwind" },
	/* other stages */
	{ "[{'$facet': {}}]", "[{'_id': 1}]", UN, "stage:$facet" },
	{ "[{'$out': 'x'}]", "[{'_id': 1}]", UN, "stage:$out" },
	{ "[{'$match': {}, '$sort': {'a': 1}}]", "[{'_id': 1}]", ER, "#40323" },
	/* $lookup: foreign collection 'inventory' is FOREIGN */
	{ "[{'$lookup': {'from': 'inventory', 'localField': 'item', 'foreignField': 'sku', 'as': 'inv'}},"
	  " {'$project': {'ids': '$inv._id'}}]",
	  "[{'_id': 1, 'item': 'almonds'}, {'_id': 2, 'item': ['bread', 'pecans']}, {'_id': 3}]", OK,
	  "[{'_id': 1, 'ids': [1]}, {'_id': 2, 'ids': [2, 4]}, {'_id': 3, 'ids': [5, 6]}]" },
	{ "[{'$lookup': {'from': 'inventory', 'pipeline': [], 'as': 'x'}}]", "[{'_id': 1}]", UN, "lookup:pipeline" },
	{ "[{'$lookup': {'from': 'other', 'localField': 'a', 'foreignField': 'b', 'as': 'x'}}]", "[{'_id': 1}]", UN,
	  "lookup:no_input" },
};

static void run_case(const struct acase *c, size_t idx)
{
	bson_t *pipe = parse_array(c->pipeline);
	bson_t *darr = parse_array(c->docs ? c->docs : SALES), *farr = parse_array(FOREIGN);
	struct agg_input in[2];
	bson_t **docs, **fdocs;
	bson_t out = BSON_INITIALIZER;
	bson_error_t err = { 0 };
	uint32_t *ties = NULL;
	enum agg_status st;
	char what[64];

	in[0].coll = "sales";
	in[0].n = docs_of(darr, &docs);
	in[0].docs = docs;
	in[1].coll = "inventory";
	in[1].n = docs_of(farr, &fdocs);
	in[1].docs = fdocs;
	snprintf(what, sizeof what, "case %zu", idx);
	st = agg_run(pipe, in, 2, NULL, &out, &ties, &err);
	cr_assert_eq(st, c->want, "%s %s: status %d (%s)", what, c->pipeline, st, err.message);
	if (st == AGG_UNSUPPORTED) {
		cr_assert_str_eq(err.message, c->result, "%s", what);
	} else if (st == AGG_ERROR) {
		cr_assert_eq((int)err.code, atoi(c->result + 1), "%s: %s", what, err.message);
	} else {
		bson_t *want = parse_array(c->result);
		bool unordered = false;
		for (uint32_t i = 0; i < bson_count_keys(&out); i++)
			unordered = unordered || ties[i] != 0;
		expect_same(&out, want, unordered, what);
		bson_destroy(want);
	}
	free(ties);
	bson_destroy(&out);
	free_docs(docs, in[0].n);
	free_docs(fdocs, in[1].n);
	bson_destroy(pipe);
	bson_destroy(darr);
	bson_destroy(farr);
}

Test(aggregate, table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i], i);
}

Test(aggregate, check_lists_lookups_and_flags)
{
	bson_t *p = parse_array("[{'$lookup': {'from': 'inv', 'localField': 'a', 'foreignField': 'b', 'as': 'x'}},"
				" {'$lookup': {'from': 'inv', 'localField': 'a', 'foreignField': 'c', 'as': 'y'}},"
				" {'$lookup': {'from': 'other', 'localField': 'a', 'foreignField': 'c', 'as': 'z'}}]");
	struct agg_info info;
	bson_error_t err;

	cr_assert_eq(agg_check(p, &info, &err), AGG_OK, "%s", err.message);
	cr_assert_eq(info.nlookups, 2);
	cr_assert_str_eq(info.lookups[0], "inv");
	cr_assert_str_eq(info.lookups[1], "other");
	cr_assert(info.unordered_arrays);
	bson_destroy(p);
	p = parse_array("[{'$geoNear': {}}]");
	cr_assert_eq(agg_check(p, &info, &err), AGG_UNSUPPORTED);
	cr_assert_str_eq(info.reason, "stage:$geoNear");
	bson_destroy(p);
}

Test(aggregate, pushdown_takes_leading_matches)
{
	bson_t *p = parse_array("[{'$match': {'a': 1}}, {'$match': {'b': 2}}, {'$sort': {'a': 1}}, {'$match': {'c': 3}}]");
	bson_t f = BSON_INITIALIZER;
	bson_t *want = parse("{'$and': [{'a': 1}, {'b': 2}]}");

	cr_assert(agg_pushdown(p, &f));
	cr_assert(bson_equal(&f, want));
	bson_destroy(&f);
	bson_destroy(want);
	bson_destroy(p);
	p = parse_array("[{'$sort': {'a': 1}}, {'$match': {'c': 3}}]");
	bson_init(&f);
	cr_assert(agg_pushdown(p, &f));
	cr_assert_eq(bson_count_keys(&f), 0);
	bson_destroy(&f);
	bson_destroy(p);
}

Test(aggregate, memory_and_doc_limits)
{
	bson_t *p = parse_array("[{'$unwind': '$a'}, {'$unwind': '$b'}]");
	bson_t *d = parse("{'a': [1,2,3,4,5,6,7,8,9,10], 'b': [1,2,3,4,5,6,7,8,9,10]}");
	bson_t *docs[1] = { d };
	struct agg_input in = { "c", docs, 1 };
	struct agg_limits lim = { .max_docs = 50, .max_bytes = 0 };
	bson_t out = BSON_INITIALIZER;
	bson_error_t err;

	cr_assert_eq(agg_run(p, &in, 1, &lim, &out, NULL, &err), AGG_UNSUPPORTED);
	cr_assert_str_eq(err.message, "limit:docs");
	lim.max_docs = 0;
	lim.max_bytes = 1500;
	cr_assert_eq(agg_run(p, &in, 1, &lim, &out, NULL, &err), AGG_UNSUPPORTED);
	cr_assert_str_eq(err.message, "limit:memory");
	lim.max_bytes = 0;
	cr_assert_eq(agg_run(p, &in, 1, &lim, &out, NULL, &err), AGG_OK, "%s", err.message);
	cr_assert_eq(bson_count_keys(&out), 100);
	bson_destroy(&out);
	bson_destroy(d);
	bson_destroy(p);
}

/* ---- conformance: ../shared/conformance/crud/read/aggregate*.json ----------- */

static const char *shared_dir(char *buf, size_t len)
{
	const char *src = getenv("TANDEM_SOURCE_DIR");

	if (src)
		snprintf(buf, len, "%s/../shared/conformance/crud/read", src);
	else
		snprintf(buf, len, "%.*s/../../../shared/conformance/crud/read",
			 (int)(strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') - __FILE__ : 1),
			 strrchr(__FILE__, '/') ? __FILE__ : ".");
	return buf;
}

static bson_t *load_json(const char *path)
{
	bson_error_t err;
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	bson_t *b;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	b = bson_new_from_json((const uint8_t *)buf, n, &err);
	cr_assert(b, "%s: %s", path, err.message);
	free(buf);
	return b;
}

static bson_t *sub(const bson_t *b, const char *path)
{
	bson_iter_t it, d;
	uint32_t len;
	const uint8_t *data;

	if (!bson_iter_init(&it, b) || !bson_iter_find_descendant(&it, path, &d) ||
	    !(BSON_ITER_HOLDS_ARRAY(&d) || BSON_ITER_HOLDS_DOCUMENT(&d)))
		return NULL;
	if (BSON_ITER_HOLDS_ARRAY(&d))
		bson_iter_array(&d, &len, &data);
	else
		bson_iter_document(&d, &len, &data);
	return bson_new_from_data(data, len);
}

/* Run every test of one file; returns how many ran (skips counted apart). */
static int run_file(const char *path, int *skipped)
{
	bson_t *file = load_json(path), *data, *tests, **docs;
	bson_iter_t it;
	int ran = 0;

	cr_assert(file, "cannot read %s", path);
	data = sub(file, "data");
	tests = sub(file, "tests");
	cr_assert(data && tests);
	size_t n = docs_of(data, &docs);
	cr_assert(bson_iter_init(&it, tests));
	while (bson_iter_next(&it)) {
		uint32_t len;
		const uint8_t *d;
		bson_iter_document(&it, &len, &d);
		bson_t *t = bson_new_from_data(d, len);
		bson_t *pipe = sub(t, "operation.arguments.pipeline");
		bson_t *coll = sub(t, "operation.arguments.collation");
		bson_t *want = sub(t, "outcome.result");
		struct agg_input in = { "test", docs, n };
		bson_t out = BSON_INITIALIZER;
		bson_error_t err;
		uint32_t *ties = NULL;
		struct agg_info info;
		cr_assert(pipe);
		if (coll || !want) { /* collation not evaluated; $out tests have no result */
			(*skipped)++;
			cr_assert(coll || agg_check(pipe, &info, &err) == AGG_UNSUPPORTED);
		} else {
			enum agg_status st = agg_run(pipe, &in, 1, NULL, &out, &ties, &err);
			bool unordered = false;
			cr_assert_eq(st, AGG_OK, "%s: %s", path, err.message);
			for (uint32_t i = 0; i < bson_count_keys(&out); i++)
				unordered = unordered || ties[i] != 0;
			expect_same(&out, want, unordered, path);
			ran++;
		}
		free(ties);
		bson_destroy(&out);
		if (coll)
			bson_destroy(coll);
		if (want)
			bson_destroy(want);
		bson_destroy(pipe);
		bson_destroy(t);
	}
	free_docs(docs, n);
	bson_destroy(data);
	bson_destroy(tests);
	bson_destroy(file);
	return ran;
}

Test(aggregate, conformance_crud_read)
{
	char dir[4096], path[4200];
	static const char *const files[] = { "aggregate.json", "aggregate-out.json", "aggregate-collation.json" };
	int ran = 0, skipped = 0;
	FILE *probe;

	snprintf(path, sizeof path, "%s/aggregate.json", shared_dir(dir, sizeof dir));
	if (!(probe = fopen(path, "rb")))
		cr_skip_test("conformance folder absent: %s", dir);
	fclose(probe);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		ran += run_file(path, &skipped);
	}
	cr_assert_geq(ran, 1);
	cr_log_info("conformance: %d aggregate tests ran, %d skipped ($out / collation)", ran, skipped);
}
