/*
 * test_sortspec.c - sort patterns against MongoDB's documented sort order
 * (bson-type-comparison-order, "Sort arrays", cursor.sort()) and mongod's
 * error codes for bad patterns.
 *
 * A case is a pattern, a list of documents with distinct integer _id, and
 * the expected order of the _ids.  JSON uses single quotes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "sortspec.h"

static bson_t *parse(const char *sq)
{
	char *buf = strdup(sq);
	bson_error_t err;
	for (char *p = buf; *p; p++)
		if (*p == '\'')
			*p = '"';
	bson_t *b = bson_new_from_json((const uint8_t *)buf, -1, &err);
	cr_assert(b, "bad json %s: %s", buf, err.message);
	free(buf);
	return b;
}

/* docs: a JSON array of documents; want: "3,1,2" */
static void check_order(const char *spec, const char *docs, const char *want)
{
	bson_t *sp = parse(spec), *arr = parse(docs);
	bson_t *list[64];
	size_t n = 0;
	bson_iter_t it;
	struct sortspec *s;
	bson_error_t err;
	char got[512] = "";

	cr_assert(sortspec_compile(sp, &s, &err), "%s: %s", spec, err.message);
	cr_assert(bson_iter_init(&it, arr));
	while (bson_iter_next(&it)) {
		uint32_t len;
		const uint8_t *data;
		bson_iter_document(&it, &len, &data);
		list[n++] = bson_new_from_data(data, len);
	}
	cr_assert(sortspec_sort(s, list, n));
	for (size_t i = 0; i < n; i++) {
		bson_iter_t id;
		cr_assert(bson_iter_init_find(&id, list[i], "_id"));
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? "," : "",
			 bson_iter_int32(&id));
		/* sortspec_cmp agrees with the sorted order */
		if (i)
			cr_assert_leq(sortspec_cmp(s, list[i - 1], list[i]), 0, "%s: cmp disagrees at %zu", spec, i);
	}
	for (size_t i = 0; i < n; i++)
		bson_destroy(list[i]);
	cr_assert_str_eq(got, want, "sort %s over %s", spec, docs);
	sortspec_free(s);
	bson_destroy(sp);
	bson_destroy(arr);
}

static void check_error(const char *spec, uint32_t code, const char *msg_part)
{
	bson_t *sp = parse(spec);
	struct sortspec *s = (struct sortspec *)1;
	bson_error_t err;

	cr_assert_not(sortspec_compile(sp, &s, &err), "%s compiled", spec);
	cr_assert_null(s);
	cr_assert_eq(err.code, code, "%s: code %u (%s)", spec, err.code, err.message);
	cr_assert(strstr(err.message, msg_part), "%s: message %s", spec, err.message);
	bson_destroy(sp);
}

Test(sortspec, mixed_types_follow_bson_order)
{
	/* MinKey < null/missing < numbers < string < object < array < binData
	 * < ObjectId < bool < date < timestamp < regex < MaxKey */
	check_order("{'a': 1}",
		    "[{'_id': 1, 'a': {'$maxKey': 1}}, {'_id': 2, 'a': true},"
		    " {'_id': 3, 'a': 'x'}, {'_id': 4, 'a': 2.5}, {'_id': 5, 'a': null},"
		    " {'_id': 6, 'a': {'$minKey': 1}}, {'_id': 7, 'a': {'b': 1}},"
		    " {'_id': 8, 'a': {'$oid': '5f0000000000000000000000'}},"
		    " {'_id': 9, 'a': {'$date': 0}}, {'_id': 10, 'a': {'$numberLong': '2'}},"
		    " {'_id': 11, 'a': {'$timestamp': {'t': 1, 'i': 1}}}, {'_id': 12}]",
		    "6,5,12,10,4,3,7,8,2,9,11,1");
}

Test(sortspec, descending_and_numbers_across_types)
{
	check_order("{'a': -1}",
		    "[{'_id': 1, 'a': 1}, {'_id': 2, 'a': {'$numberLong': '3'}},"
		    " {'_id': 3, 'a': 2.0}, {'_id': 4, 'a': {'$numberDecimal': '2.5'}}]",
		    "2,4,3,1");
}

Test(sortspec, missing_and_null_tie_in_input_order)
{
	check_order("{'a': 1}", "[{'_id': 1, 'a': null}, {'_id': 2}, {'_id': 3, 'a': null}, {'_id': 4}]",
		    "1,2,3,4");
	check_order("{'a': -1}", "[{'_id': 1, 'a': 0}, {'_id': 2}, {'_id': 3, 'a': null}]", "1,2,3");
}

Test(sortspec, arrays_sort_by_smallest_ascending_largest_descending)
{
	const char *docs = "[{'_id': 1, 'a': [1, 10]}, {'_id': 2, 'a': [5]}, {'_id': 3, 'a': 3}]";
	check_order("{'a': 1}", docs, "1,3,2");
	check_order("{'a': -1}", docs, "1,2,3");
}

Test(sortspec, empty_array_before_null_and_missing)
{
	const char *docs = "[{'_id': 1, 'a': null}, {'_id': 2, 'a': []}, {'_id': 3}, {'_id': 4, 'a': 1}]";
	check_order("{'a': 1}", docs, "2,1,3,4");
	check_order("{'a': -1}", docs, "4,1,3,2");
}

/* mongomock agrees on the ascending order; descending it puts [1, 10]
 * after [5], against the manual ("a descending sort compares the largest
 * elements"): mongod's documented behaviour wins. */
Test(sortspec, arrays_nulls_and_missing_together)
{
	const char *docs = "[{'_id': 1, 'a': null}, {'_id': 2, 'a': []}, {'_id': 3}, {'_id': 4, 'a': 1},"
			   " {'_id': 5, 'a': [1, 10]}, {'_id': 6, 'a': [5]}, {'_id': 7, 'a': [[0], 5]}]";
	check_order("{'a': 1}", docs, "2,1,3,4,5,6,7");
	check_order("{'a': -1}", docs, "7,5,6,4,1,3,2");
}

Test(sortspec, nested_array_is_an_array_value)
{
	/* a: [[0], 5] gives keys [0] (Array bracket) and 5: ascending 5. */
	check_order("{'a': 1}", "[{'_id': 1, 'a': [[0], 5]}, {'_id': 2, 'a': 4}, {'_id': 3, 'a': 'z'}]", "2,1,3");
	check_order("{'a': -1}", "[{'_id': 1, 'a': [[0], 5]}, {'_id': 2, 'a': 'z'}]", "1,2");
}

Test(sortspec, dotted_paths_through_documents_and_arrays)
{
	check_order("{'a.b': 1}",
		    "[{'_id': 1, 'a': {'b': 3}}, {'_id': 2, 'a': [{'b': 5}, {'b': 2}]},"
		    " {'_id': 3, 'a': [{'c': 1}, {'b': 9}]}, {'_id': 4, 'a': 7}]",
		    "3,4,2,1");
	/* descending: the largest of 9 and null is 9 */
	check_order("{'a.b': -1}",
		    "[{'_id': 1, 'a': {'b': 3}}, {'_id': 2, 'a': [{'b': 5}, {'b': 2}]},"
		    " {'_id': 3, 'a': [{'c': 1}, {'b': 9}]}, {'_id': 4, 'a': 7}]",
		    "3,2,1,4");
	/* positional part selects an element */
	check_order("{'a.1': 1}", "[{'_id': 1, 'a': [9, 1]}, {'_id': 2, 'a': [0, 5]}, {'_id': 3, 'a': [0]}]", "3,1,2");
}

Test(sortspec, compound_and_ties)
{
	check_order("{'a': 1, 'b': -1}",
		    "[{'_id': 1, 'a': 1, 'b': 1}, {'_id': 2, 'a': 1, 'b': 2}, {'_id': 3, 'a': 0, 'b': 0},"
		    " {'_id': 4, 'a': 1, 'b': 2}]",
		    "3,2,4,1");
	check_order("{}", "[{'_id': 2}, {'_id': 1}]", "2,1");
}

Test(sortspec, direction_is_read_as_mongod_reads_it)
{
	check_order("{'a': 1.5}", "[{'_id': 1, 'a': 2}, {'_id': 2, 'a': 1}]", "2,1");
	check_order("{'a': {'$numberLong': '-1'}}", "[{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}]", "2,1");
	check_order("{'a': {'$numberDecimal': '-1'}}", "[{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}]", "2,1");
}

Test(sortspec, bad_patterns_fail_like_mongod)
{
	check_error("{'a': 2}", 15975, "must be 1 (for ascending) or -1");
	check_error("{'a': 0}", 15975, "ordering");
	check_error("{'a': 'asc'}", 15974, "Illegal key in $sort specification: a: \"asc\"");
	check_error("{'a': true}", 15974, "Illegal key");
	check_error("{'a': {'x': 1}}", 17312, "$meta is the only expression");
	check_error("{'a': 1, 'a': -1}", 7472500, "duplicate");
	check_error("{'': 1}", 40352, "empty string");
	check_error("{'a.': 1}", 40353, "end with a '.'");
	check_error("{'a..b': 1}", 15998, "empty strings");
	check_error("{'$a': 1}", 16410, "may not start with '$'");
}

Test(sortspec, meta_is_unsupported_not_an_error)
{
	check_error("{'s': {'$meta': 'textScore'}}", SORTSPEC_CODE_UNSUPPORTED, "$meta");
}

Test(sortspec, parallel_arrays_are_rejected)
{
	bson_t *sp = parse("{'a': 1, 'b': 1}");
	bson_t *bad = parse("{'a': [1, 2], 'b': [3, 4]}");
	bson_t *ok = parse("{'a': [1, 2], 'b': 3}");
	bson_t *docs[2] = {ok, bad};
	struct sortspec *s;
	bson_error_t err;

	cr_assert(sortspec_compile(sp, &s, &err));
	cr_assert(sortspec_doc_check(s, ok, &err));
	cr_assert_not(sortspec_doc_check(s, bad, &err));
	cr_assert_eq(err.code, 2);
	cr_assert_str_eq(err.message, "cannot sort with keys that are parallel arrays");
	cr_assert_not(sortspec_sort_ex(s, docs, 2, &err));
	cr_assert(docs[0] == ok && docs[1] == bad, "docs unchanged on failure");
	sortspec_free(s);
	/* two paths through the same array are not parallel */
	sp = (bson_destroy(sp), parse("{'a.x': 1, 'a.y': 1}"));
	bson_destroy(bad);
	bad = parse("{'a': [{'x': 1, 'y': 2}, {'x': 0, 'y': 1}]}");
	cr_assert(sortspec_compile(sp, &s, &err));
	cr_assert(sortspec_doc_check(s, bad, &err), "%s", err.message);
	sortspec_free(s);
	bson_destroy(sp);
	bson_destroy(bad);
	bson_destroy(ok);
}

/* 200,000 documents with few distinct keys: sorted and stable. */
Test(sortspec, large_sort_is_ordered_and_stable)
{
	size_t n = 200000;
	bson_t **docs = calloc(n, sizeof *docs);
	bson_t *sp = parse("{'k': -1}");
	struct sortspec *s;
	bson_error_t err;
	uint32_t seed = 12345;

	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		docs[i] = bson_new();
		BSON_APPEND_INT32(docs[i], "k", (int32_t)((seed >> 16) % 97));
		BSON_APPEND_INT64(docs[i], "seq", (int64_t)i);
	}
	cr_assert(sortspec_compile(sp, &s, &err));
	cr_assert(sortspec_sort(s, docs, n));
	for (size_t i = 1; i < n; i++) {
		bson_iter_t a, b, sa, sb;
		cr_assert(bson_iter_init_find(&a, docs[i - 1], "k") && bson_iter_init_find(&b, docs[i], "k"));
		cr_assert_geq(bson_iter_int32(&a), bson_iter_int32(&b));
		if (bson_iter_int32(&a) == bson_iter_int32(&b)) {
			cr_assert(bson_iter_init_find(&sa, docs[i - 1], "seq") &&
				  bson_iter_init_find(&sb, docs[i], "seq"));
			cr_assert_lt(bson_iter_int64(&sa), bson_iter_int64(&sb), "stable at %zu", i);
		}
	}
	for (size_t i = 0; i < n; i++)
		bson_destroy(docs[i]);
	free(docs);
	sortspec_free(s);
	bson_destroy(sp);
}
