/*
 * test_compare.c - the shadow-read comparator: each normalisation both ways
 * (equal when it should be, the right path/kind/types when not), multisets
 * and sort order with ties, ignore paths, the money case, the diff cap,
 * reply extraction (find/aggregate/getMore/count/distinct/errors), and a
 * seeded property: a random result set equals itself shuffled.
 *
 * Result sets are written as Extended JSON arrays: L("[{...}, ...]").
 */
#include <string.h>

#include <criterion/criterion.h>

#include "compare.h"
#include "random_bson.h"

/* ---- helpers ------------------------------------------------------------ */

static bson_t *J(const char *json)
{
	bson_error_t err;
	bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
	cr_assert(b, "bad json %s: %s", json, err.message);
	return b;
}

/* Compare two result sets given as JSON arrays. */
static bool cmp(const char *mongo, const char *pg, const struct compare_opts *o,
		struct compare_result *res)
{
	char bm[4096], bp[4096];
	snprintf(bm, sizeof bm, "{\"d\": %s}", mongo);
	snprintf(bp, sizeof bp, "{\"d\": %s}", pg);
	bson_t *dm = J(bm), *dp = J(bp);
	bson_iter_t it;
	struct compare_list lm = {0}, lp = {0};
	struct compare_list *ls[2] = {&lm, &lp};
	bson_t *ds[2] = {dm, dp};

	for (int s = 0; s < 2; s++) {
		bson_iter_t child;
		cr_assert(bson_iter_init_find(&it, ds[s], "d") && bson_iter_recurse(&it, &child));
		ls[s]->items = calloc(256, sizeof(bson_value_t));
		while (bson_iter_next(&child))
			ls[s]->items[ls[s]->n++] = *bson_iter_value(&child);
	}
	bool eq = compare_lists(&lm, &lp, o, res);
	cr_assert_eq(eq, res->diffs_total == 0);
	free(lm.items);
	free(lp.items);
	bson_destroy(dm); /* diffs own copies: nothing may point in here */
	bson_destroy(dp);
	return eq;
}

static const struct compare_opts DEF = {0};

static void expect_equal(const char *m, const char *p, const struct compare_opts *o)
{
	struct compare_result r;
	char path[512];
	bool eq = cmp(m, p, o, &r);
	cr_expect(eq, "%s vs %s: %zu diffs, first %s (%s)", m, p, r.diffs_total,
		  r.n_diffs ? compare_diff_path(&r.diffs[0], false, path, sizeof path) : "-",
		  r.n_diffs ? compare_kind_to_str(r.diffs[0].kind) : "-");
	compare_result_free(&r);
}

static void check_diff(const struct compare_diff *d, const char *path, const char *kind,
		       const char *mt, const char *pt)
{
	char buf[512];
	compare_diff_path(d, false, buf, sizeof buf);
	cr_expect_str_eq(buf, path);
	cr_expect_str_eq(compare_kind_to_str(d->kind), kind, "kind at %s", path);
	cr_expect_str_eq(d->mongo_type ? d->mongo_type : "null", mt, "mongo_type at %s", path);
	cr_expect_str_eq(d->pg_type ? d->pg_type : "null", pt, "pg_type at %s", path);
}

/* Exactly one difference, as described. */
static void expect_one(const char *m, const char *p, const struct compare_opts *o,
		       const char *path, const char *kind, const char *mt, const char *pt)
{
	struct compare_result r;
	cr_expect_not(cmp(m, p, o, &r), "%s vs %s compared equal", m, p);
	cr_assert_eq(r.diffs_total, 1, "%s vs %s: %zu diffs", m, p, r.diffs_total);
	check_diff(&r.diffs[0], path, kind, mt, pt);
	compare_result_free(&r);
}

/* ---- numbers ------------------------------------------------------------ */

Test(compare, numbers_equal_by_value_across_types)
{
	expect_equal("[{\"_id\":1,\"a\":{\"$numberInt\":\"5\"}}]", "[{\"_id\":1,\"a\":{\"$numberLong\":\"5\"}}]", &DEF);
	expect_equal("[{\"_id\":1,\"a\":{\"$numberLong\":\"5\"}}]", "[{\"_id\":1,\"a\":5.0}]", &DEF);
	expect_equal("[{\"_id\":1,\"a\":5.0}]", "[{\"_id\":1,\"a\":{\"$numberDecimal\":\"5.00\"}}]", &DEF);
	expect_equal("[{\"_id\":1,\"a\":0.5}]", "[{\"_id\":1,\"a\":{\"$numberDecimal\":\"0.5\"}}]", &DEF);
	expect_equal("[{\"_id\":1,\"a\":{\"$numberDouble\":\"NaN\"}}]", "[{\"_id\":1,\"a\":{\"$numberDouble\":\"NaN\"}}]", &DEF);
	expect_equal("[{\"_id\":1,\"a\":{\"$numberDouble\":\"-0.0\"}}]", "[{\"_id\":1,\"a\":0}]", &DEF);
	/* the _id itself matches across numeric types */
	expect_equal("[{\"_id\":{\"$numberLong\":\"7\"},\"a\":1}]", "[{\"_id\":7.0,\"a\":1}]", &DEF);
}

Test(compare, numbers_differ)
{
	expect_one("[{\"_id\":1,\"a\":5}]", "[{\"_id\":1,\"a\":6}]", &DEF, "_id=1.a", "changed", "int", "int");
	expect_one("[{\"_id\":1,\"a\":{\"$numberLong\":\"9007199254740993\"}}]",
		   "[{\"_id\":1,\"a\":9007199254740992.0}]", &DEF, "_id=1.a", "changed", "long", "double");
	/* a double and a decimal of "the same" text differ in value */
	expect_one("[{\"_id\":1,\"a\":0.1}]", "[{\"_id\":1,\"a\":{\"$numberDecimal\":\"0.1\"}}]", &DEF,
		   "_id=1.a", "changed", "double", "decimal");
}

Test(compare, strict_types_makes_numeric_type_a_diff)
{
	struct compare_opts o = {.strict_types = true};
	expect_one("[{\"_id\":1,\"a\":5}]", "[{\"_id\":1,\"a\":5.0}]", &o, "_id=1.a", "type", "int", "double");
	expect_equal("[{\"_id\":1,\"a\":5.5}]", "[{\"_id\":1,\"a\":5.5}]", &o);
	/* the multiset hash must separate them too (documents without _id) */
	struct compare_result r;
	cr_expect_not(cmp("[{\"a\":5}]", "[{\"a\":5.0}]", &o, &r));
	compare_result_free(&r);
	expect_equal("[{\"a\":5}]", "[{\"a\":5.0}]", &DEF);
}

Test(compare, money_rounding_is_caught)
{
	struct compare_opts strict = {.strict_types = true};
	const char *m = "[{\"_id\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"},\"price\":19.99}]";
	const char *p = "[{\"_id\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"},\"price\":1999}]";
	expect_one(m, p, &DEF, "_id=ObjectId(650c1f1e8f1b2c3d4e5f6a7b).price", "changed", "double", "int");
	expect_one(m, p, &strict, "_id=ObjectId(650c1f1e8f1b2c3d4e5f6a7b).price", "type", "double", "int");
	/* no epsilon by default; an epsilon when configured */
	struct compare_opts eps = {.float_epsilon = 1e-6};
	expect_one("[{\"_id\":1,\"p\":19.99}]", "[{\"_id\":1,\"p\":19.990000001}]", &DEF,
		   "_id=1.p", "changed", "double", "double");
	expect_equal("[{\"_id\":1,\"p\":19.99}]", "[{\"_id\":1,\"p\":19.990000001}]", &eps);
	expect_equal("[{\"p\":19.99}]", "[{\"p\":19.990000001}]", &eps); /* by hash too */
	expect_one("[{\"_id\":1,\"p\":19.99}]", "[{\"_id\":1,\"p\":1999}]", &eps, "_id=1.p", "changed", "double", "int");
}

/* ---- other types -------------------------------------------------------- */

Test(compare, dates)
{
	expect_equal("[{\"_id\":1,\"d\":{\"$date\":{\"$numberLong\":\"1700000000123\"}}}]",
		     "[{\"_id\":1,\"d\":{\"$date\":{\"$numberLong\":\"1700000000123\"}}}]", &DEF);
	expect_one("[{\"_id\":1,\"d\":{\"$date\":{\"$numberLong\":\"1700000000123\"}}}]",
		   "[{\"_id\":1,\"d\":{\"$date\":{\"$numberLong\":\"1700000000124\"}}}]", &DEF,
		   "_id=1.d", "changed", "date", "date");
	expect_one("[{\"_id\":1,\"d\":{\"$date\":{\"$numberLong\":\"1700000000123\"}}}]",
		   "[{\"_id\":1,\"d\":\"2023-11-14T22:13:20.123Z\"}]", &DEF, "_id=1.d", "type", "date", "string");
	expect_one("[{\"_id\":1,\"d\":{\"$date\":{\"$numberLong\":\"1700000000123\"}}}]",
		   "[{\"_id\":1,\"d\":{\"$numberLong\":\"1700000000123\"}}]", &DEF, "_id=1.d", "type", "date", "long");
}

Test(compare, oid_as_string_only_when_enabled)
{
	struct compare_opts on = {.oid_as_string = true};
	const char *m = "[{\"_id\":1,\"r\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"}}]";
	expect_one(m, "[{\"_id\":1,\"r\":\"650c1f1e8f1b2c3d4e5f6a7b\"}]", &DEF, "_id=1.r", "type", "objectId", "string");
	expect_equal(m, "[{\"_id\":1,\"r\":\"650c1f1e8f1b2c3d4e5f6a7b\"}]", &on);
	expect_equal(m, "[{\"_id\":1,\"r\":\"650C1F1E8F1B2C3D4E5F6A7B\"}]", &on);
	expect_equal("[{\"_id\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"}}]",
		     "[{\"_id\":\"650c1f1e8f1b2c3d4e5f6a7b\"}]", &on); /* matched by _id */
	expect_equal("[{\"r\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"}}]",
		     "[{\"r\":\"650c1f1e8f1b2c3d4e5f6a7b\"}]", &on); /* by hash */
	expect_one(m, "[{\"_id\":1,\"r\":\"650c1f1e8f1b2c3d4e5f6a7c\"}]", &on, "_id=1.r", "changed", "objectId", "string");
	expect_one(m, "[{\"_id\":1,\"r\":\"zz0c1f1e8f1b2c3d4e5f6a7b\"}]", &on, "_id=1.r", "type", "objectId", "string");
}

Test(compare, null_undefined_missing)
{
	expect_one("[{\"_id\":1,\"a\":null}]", "[{\"_id\":1,\"a\":{\"$undefined\":true}}]", &DEF,
		   "_id=1.a", "type", "null", "undefined");
	expect_one("[{\"_id\":1,\"a\":null}]", "[{\"_id\":1}]", &DEF, "_id=1.a", "missing", "null", "null");
	expect_one("[{\"_id\":1}]", "[{\"_id\":1,\"b\":\"x\"}]", &DEF, "_id=1.b", "extra", "null", "string");
	expect_one("[{\"_id\":1,\"s\":\"abc\"}]", "[{\"_id\":1,\"s\":\"abd\"}]", &DEF, "_id=1.s", "changed", "string", "string");
	expect_one("[{\"_id\":1,\"b\":true}]", "[{\"_id\":1,\"b\":1}]", &DEF, "_id=1.b", "type", "bool", "int");
}

/* ---- documents and arrays ----------------------------------------------- */

Test(compare, field_order_ignored_unless_configured)
{
	struct compare_opts ord = {.ordered_fields = true};
	const char *m = "[{\"_id\":1,\"a\":1,\"n\":{\"x\":1,\"y\":2}}]";
	const char *p = "[{\"n\":{\"y\":2,\"x\":1},\"a\":1,\"_id\":1}]";
	expect_equal(m, p, &DEF);
	expect_equal("[{\"a\":1,\"b\":2}]", "[{\"b\":2,\"a\":1}]", &DEF); /* by hash */
	struct compare_result r;
	cr_expect_not(cmp(m, p, &ord, &r));
	cr_assert_eq(r.diffs_total, 2);
	check_diff(&r.diffs[0], "_id=1.n", "changed", "object", "object");
	cr_expect_str_eq(r.diffs[0].note, "field order");
	check_diff(&r.diffs[1], "_id=1", "changed", "object", "object");
	compare_result_free(&r);
}

Test(compare, array_order_kept)
{
	struct compare_result r;
	cr_expect_not(cmp("[{\"_id\":1,\"t\":[1,2,3]}]", "[{\"_id\":1,\"t\":[2,1]}]", &DEF, &r));
	cr_assert_eq(r.diffs_total, 3);
	check_diff(&r.diffs[0], "_id=1.t[0]", "changed", "int", "int");
	check_diff(&r.diffs[1], "_id=1.t[1]", "changed", "int", "int");
	check_diff(&r.diffs[2], "_id=1.t[2]", "missing", "int", "null");
	compare_result_free(&r);
	expect_one("[{\"_id\":1,\"t\":[{\"a\":1}]}]", "[{\"_id\":1,\"t\":[{\"a\":1},{\"a\":2}]}]", &DEF,
		   "_id=1.t[1]", "extra", "null", "object");
	expect_one("[{\"_id\":1,\"t\":[{\"a\":{\"b\":[0,{\"c\":1}]}}]}]",
		   "[{\"_id\":1,\"t\":[{\"a\":{\"b\":[0,{\"c\":\"1\"}]}}]}]", &DEF,
		   "_id=1.t[0].a.b[1].c", "type", "int", "string");
	struct compare_result r2;
	cr_expect_not(cmp("[{\"t\":[1,2]}]", "[{\"t\":[2,1]}]", &DEF, &r2)); /* by hash */
	compare_result_free(&r2);
}

Test(compare, hostile_keys_are_quoted_in_paths)
{
	expect_one("[{\"_id\":1,\"a.b\":1}]", "[{\"_id\":1,\"a.b\":2}]", &DEF, "_id=1[\"a.b\"]", "changed", "int", "int");
	expect_one("[{\"_id\":1,\"o\":{\"\":1}}]", "[{\"_id\":1,\"o\":{\"\":2}}]", &DEF, "_id=1.o[\"\"]", "changed", "int", "int");
	expect_one("[{\"_id\":1,\"q\\\"\":1}]", "[{\"_id\":1,\"q\\\"\":2}]", &DEF, "_id=1[\"q\\\"\"]", "changed", "int", "int");
}

Test(compare, long_paths_are_cut_not_overflowed)
{
	char m[4096], p[4096], key[150];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	snprintf(m, sizeof m, "[{\"_id\":1,\"%s\":{\"%s\":1}}]", key, key);
	snprintf(p, sizeof p, "[{\"_id\":1,\"%s\":{\"%s\":2}}]", key, key);
	struct compare_result r;
	cr_expect_not(cmp(m, p, &DEF, &r));
	cr_assert_eq(r.n_diffs, 1);
	cr_expect_eq(strlen(r.diffs[0].field), COMPARE_FIELD_MAX - 1);
	cr_expect_str_eq(r.diffs[0].field + COMPARE_FIELD_MAX - 4, "...");
	compare_result_free(&r);
}

/* ---- result sets -------------------------------------------------------- */

Test(compare, documents_matched_by_id)
{
	struct compare_result r;
	const char *m = "[{\"_id\":1,\"a\":1},{\"_id\":2,\"a\":2},{\"_id\":3,\"a\":3}]";
	const char *p = "[{\"_id\":3,\"a\":3},{\"_id\":4,\"a\":4},{\"_id\":1,\"a\":9}]";
	cr_expect_not(cmp(m, p, &DEF, &r));
	cr_assert_eq(r.diffs_total, 3);
	cr_expect_eq(r.mongo_n, 3);
	cr_expect_eq(r.pg_n, 3);
	check_diff(&r.diffs[0], "_id=1.a", "changed", "int", "int");
	check_diff(&r.diffs[1], "_id=2", "missing", "object", "null");
	check_diff(&r.diffs[2], "_id=4", "extra", "null", "object");
	/* redacted paths: a non-ObjectId _id becomes the position */
	char buf[256];
	cr_expect_str_eq(compare_diff_path(&r.diffs[1], true, buf, sizeof buf), "[1]");
	cr_expect_str_eq(compare_diff_path(&r.diffs[2], true, buf, sizeof buf), "[1]");
	cr_expect_str_eq(compare_diff_path(&r.diffs[0], true, buf, sizeof buf), "[0].a");
	compare_result_free(&r);
	expect_one("[{\"_id\":\"u\\\"1\",\"a\":1}]", "[{\"_id\":\"u\\\"1\",\"a\":2}]", &DEF,
		   "_id=\"u\"1\".a", "changed", "int", "int");
}

Test(compare, multiset_without_id)
{
	struct compare_result r;
	expect_equal("[{\"x\":1},{\"x\":2},{\"x\":1}]", "[{\"x\":2},{\"x\":1},{\"x\":1}]", &DEF);
	cr_expect_not(cmp("[{\"x\":1},{\"x\":1}]", "[{\"x\":1}]", &DEF, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "[1]", "missing", "object", "null");
	compare_result_free(&r);
	cr_expect_not(cmp("[{\"x\":1}]", "[{\"x\":2},{\"x\":1}]", &DEF, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "[0]", "extra", "null", "object");
	compare_result_free(&r);
	expect_equal("[]", "[]", &DEF);
}

static int by_k(const bson_t *a, const bson_t *b, void *arg)
{
	bson_iter_t x, y;
	(void)arg;
	int64_t ka = bson_iter_init_find(&x, a, "k") ? bson_iter_as_int64(&x) : 0;
	int64_t kb = bson_iter_init_find(&y, b, "k") ? bson_iter_as_int64(&y) : 0;
	return (ka > kb) - (ka < kb);
}

Test(compare, sorted_ties_are_multisets)
{
	struct compare_opts o = {.key_cmp = by_k};
	const char *m = "[{\"k\":1,\"v\":\"a\"},{\"k\":1,\"v\":\"b\"},{\"k\":2,\"v\":\"c\"}]";
	expect_equal(m, "[{\"k\":1,\"v\":\"b\"},{\"k\":1,\"v\":\"a\"},{\"k\":2,\"v\":\"c\"}]", &o);
	/* out of sort order: one "order" diff, though the multiset is equal */
	struct compare_result r;
	const char *bad = "[{\"k\":2,\"v\":\"c\"},{\"k\":1,\"v\":\"a\"},{\"k\":1,\"v\":\"b\"}]";
	expect_equal(m, bad, &DEF);
	cr_expect_not(cmp(m, bad, &o, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "[1]", "changed", "object", "object");
	cr_expect_str_eq(r.diffs[0].note, "order");
	compare_result_free(&r);
}

Test(compare, order_check_needs_mongo_in_key_order)
{
	/* key_cmp that does not describe MongoDB's order: no "order" diff */
	struct compare_opts o = {.key_cmp = by_k};
	const char *l = "[{\"k\":2},{\"k\":1}]";
	expect_equal(l, l, &o);
}

Test(compare, sorted_changed_sort_key_pairs_by_id)
{
	struct compare_opts o = {.key_cmp = by_k};
	struct compare_result r;
	cr_expect_not(cmp("[{\"_id\":1,\"k\":5},{\"_id\":2,\"k\":7},{\"_id\":3,\"k\":8}]",
			  "[{\"_id\":1,\"k\":5},{\"_id\":3,\"k\":8},{\"_id\":2,\"k\":900}]", &o, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "_id=2.k", "changed", "int", "int");
	compare_result_free(&r);
	/* a missing document in the middle does not shift everything after it */
	cr_expect_not(cmp("[{\"_id\":1,\"k\":1},{\"_id\":2,\"k\":2},{\"_id\":3,\"k\":3},{\"_id\":4,\"k\":4}]",
			  "[{\"_id\":1,\"k\":1},{\"_id\":3,\"k\":3},{\"_id\":4,\"k\":4}]", &o, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "_id=2", "missing", "object", "null");
	compare_result_free(&r);
}

Test(compare, tail_ties_loose_accepts_other_members_of_the_last_run)
{
	const char *m = "[{\"_id\":1,\"k\":1},{\"_id\":2,\"k\":2},{\"_id\":3,\"k\":2}]";
	const char *p = "[{\"_id\":1,\"k\":1},{\"_id\":2,\"k\":2},{\"_id\":4,\"k\":2}]";
	struct compare_opts strict = {.key_cmp = by_k}, loose = {.key_cmp = by_k, .tail_ties_loose = true};
	struct compare_result r;
	cr_expect_not(cmp(m, p, &strict, &r));
	cr_assert_eq(r.diffs_total, 2);
	check_diff(&r.diffs[0], "_id=3", "missing", "object", "null");
	check_diff(&r.diffs[1], "_id=4", "extra", "null", "object");
	compare_result_free(&r);
	expect_equal(m, p, &loose);
	/* but not a middle run */
	cr_expect_not(cmp("[{\"_id\":2,\"k\":2},{\"_id\":3,\"k\":2},{\"_id\":5,\"k\":5}]",
			  "[{\"_id\":2,\"k\":2},{\"_id\":4,\"k\":2},{\"_id\":5,\"k\":5}]", &loose, &r));
	cr_expect_eq(r.diffs_total, 2);
	compare_result_free(&r);
}

Test(compare, ignore_paths)
{
	const char *ign[] = {"meta.ts", "items.price", "tmp_*"};
	struct compare_opts o = {.ignore = ign, .n_ignore = 3};
	const char *m = "[{\"_id\":1,\"meta\":{\"ts\":1,\"by\":\"a\"},\"items\":[{\"price\":1,\"q\":1}],\"tmp_x\":1}]";
	expect_equal(m, "[{\"_id\":1,\"meta\":{\"ts\":2,\"by\":\"a\"},\"items\":[{\"price\":9,\"q\":1}],\"tmp_y\":3}]", &o);
	expect_one(m, "[{\"_id\":1,\"meta\":{\"ts\":2,\"by\":\"b\"},\"items\":[{\"price\":9,\"q\":1}],\"tmp_x\":1}]", &o,
		   "_id=1.meta.by", "changed", "string", "string");
	expect_one(m, "[{\"_id\":1,\"meta\":{\"ts\":1,\"by\":\"a\"},\"items\":[{\"price\":1,\"q\":2}],\"tmp_x\":1}]", &o,
		   "_id=1.items[0].q", "changed", "int", "int");
	/* "meta.ts" is not a prefix of "meta.tsx"; a whole subtree is covered */
	expect_one("[{\"_id\":1,\"meta\":{\"tsx\":1}}]", "[{\"_id\":1,\"meta\":{\"tsx\":2}}]", &o,
		   "_id=1.meta.tsx", "changed", "int", "int");
	const char *sub[] = {"meta"};
	struct compare_opts o2 = {.ignore = sub, .n_ignore = 1};
	expect_equal("[{\"_id\":1,\"meta\":{\"a\":1}}]", "[{\"_id\":1,\"meta\":[3]}]", &o2);
	/* ignore paths also hold when documents are matched by equality */
	expect_equal("[{\"a\":1,\"meta\":{\"ts\":1}}]", "[{\"meta\":{\"ts\":2},\"a\":1}]", &o);
}

Test(compare, ignored_field_keeps_repeated_keys_in_step)
{
	/* found by fuzz_compare: an ignored field between repeated keys */
	const char *ign[] = {"f*"};
	struct compare_opts o = {.ignore = ign, .n_ignore = 1};
	bson_t *d = bson_new();
	BSON_APPEND_INT32(d, "_id", 1);
	BSON_APPEND_INT32(d, "a", 1);
	BSON_APPEND_INT32(d, "f1", 0);
	BSON_APPEND_INT32(d, "a", 2);
	const bson_t *l[1] = {d};
	struct compare_result r;
	cr_expect(compare_docs(l, 1, l, 1, &o, &r), "%zu diffs", r.diffs_total);
	compare_result_free(&r);
	bson_destroy(d);
}

Test(compare, diff_cap_counts_everything)
{
	char m[4096] = "[", p[4096] = "[";
	for (int i = 0; i < 30; i++) {
		char e[64];
		snprintf(e, sizeof e, "%s{\"_id\":%d,\"a\":1}", i ? "," : "", i);
		strcat(m, e);
		snprintf(e, sizeof e, "%s{\"_id\":%d,\"a\":2}", i ? "," : "", i);
		strcat(p, e);
	}
	strcat(m, "]");
	strcat(p, "]");
	struct compare_result r;
	cr_expect_not(cmp(m, p, &DEF, &r));
	cr_expect_eq(r.diffs_total, 30);
	cr_expect_eq(r.n_diffs, COMPARE_MAX_DIFFS_DEFAULT);
	cr_expect(r.truncated);
	compare_result_free(&r);
	struct compare_opts five = {.max_diffs = 5};
	cr_expect_not(cmp(m, p, &five, &r));
	cr_expect_eq(r.n_diffs, 5);
	cr_expect_eq(r.diffs_total, 30);
	compare_result_free(&r);
}

Test(compare, deep_nesting_is_bounded)
{
	bson_t *a = bson_new(), *b = bson_new();
	bson_t *la[300], *lb[300];
	/* 250 levels, differing at the bottom */
	bson_t *cur_a = a, *cur_b = b;
	bson_t kids_a[250], kids_b[250];
	for (int i = 0; i < 250; i++) {
		bson_append_document_begin(cur_a, "d", 1, &kids_a[i]);
		bson_append_document_begin(cur_b, "d", 1, &kids_b[i]);
		cur_a = &kids_a[i];
		cur_b = &kids_b[i];
	}
	BSON_APPEND_INT32(cur_a, "x", 1);
	BSON_APPEND_INT32(cur_b, "x", 2);
	for (int i = 249; i >= 0; i--) {
		bson_append_document_end(i ? &kids_a[i - 1] : a, &kids_a[i]);
		bson_append_document_end(i ? &kids_b[i - 1] : b, &kids_b[i]);
	}
	la[0] = a;
	lb[0] = b;
	struct compare_result r;
	/* no _id: reported whole, as missing + extra */
	cr_expect_not(compare_docs((const bson_t *const *)la, 1, (const bson_t *const *)lb, 1, &DEF, &r));
	cr_expect_eq(r.diffs_total, 2);
	compare_result_free(&r);
	/* with _id: one "changed" where the walk stops descending */
	bson_t *ia = bson_new(), *ib = bson_new();
	BSON_APPEND_INT32(ia, "_id", 1);
	BSON_APPEND_INT32(ib, "_id", 1);
	bson_concat(ia, a);
	bson_concat(ib, b);
	la[1] = ia;
	lb[1] = ib;
	cr_expect_not(compare_docs((const bson_t *const *)la + 1, 1, (const bson_t *const *)lb + 1, 1, &DEF, &r));
	cr_assert_eq(r.diffs_total, 1);
	cr_expect_eq(r.diffs[0].kind, COMPARE_CHANGED);
	cr_expect_eq(r.diffs[0].mongo_val.value_type, BSON_TYPE_DOCUMENT);
	compare_result_free(&r);
	bson_destroy(ia);
	bson_destroy(ib);
	cr_expect(compare_docs((const bson_t *const *)la, 1, (const bson_t *const *)la, 1, &DEF, &r));
	compare_result_free(&r);
	bson_destroy(a);
	bson_destroy(b);
}

Test(compare, duplicate_ids_prefer_the_equal_document)
{
	/* $unwind output: one _id, several documents */
	expect_equal("[{\"_id\":1,\"t\":\"a\"},{\"_id\":1,\"t\":\"b\"}]",
		     "[{\"_id\":1,\"t\":\"b\"},{\"_id\":1,\"t\":\"a\"}]", &DEF);
	expect_one("[{\"_id\":1,\"t\":\"a\"},{\"_id\":1,\"t\":\"b\"}]",
		   "[{\"_id\":1,\"t\":\"b\"},{\"_id\":1,\"t\":\"c\"}]", &DEF,
		   "_id=1.t", "changed", "string", "string");
}

Test(compare, deterministic)
{
	const char *m = "[{\"_id\":1,\"a\":1,\"b\":[1,2]},{\"x\":1},{\"_id\":2}]";
	const char *p = "[{\"x\":2},{\"_id\":2,\"c\":1},{\"_id\":1,\"a\":2,\"b\":[1]}]";
	struct compare_result r1, r2;
	char x[256], y[256];
	cmp(m, p, &DEF, &r1);
	cmp(m, p, &DEF, &r2);
	cr_assert_eq(r1.n_diffs, r2.n_diffs);
	cr_expect_eq(r1.diffs_total, 5);
	for (size_t i = 0; i < r1.n_diffs; i++)
		cr_expect_str_eq(compare_diff_path(&r1.diffs[i], false, x, sizeof x),
				 compare_diff_path(&r2.diffs[i], false, y, sizeof y));
	compare_result_free(&r1);
	compare_result_free(&r2);
}

/* Random result sets equal themselves shuffled; a changed copy does not. */
Test(compare, property_shuffled_sets_are_equal)
{
	uint64_t seed = seed_init("COMPARE_SEED");
	for (int round = 0; round < 200; round++) {
		size_t n = rndn(12);
		bson_t *docs[12], *shuf[12];
		for (size_t i = 0; i < n; i++) {
			docs[i] = bson_new();
			if (rndn(2))
				BSON_APPEND_INT32(docs[i], "_id", (int32_t)i); /* unique ids */
			gen_doc(docs[i], 0, 3);
			shuf[i] = docs[i];
		}
		for (size_t i = n; i > 1; i--) {
			size_t j = rndn((uint32_t)i), t = i - 1;
			bson_t *x = shuf[t];
			shuf[t] = shuf[j];
			shuf[j] = x;
		}
		struct compare_result r;
		bool eq = compare_docs((const bson_t *const *)docs, n, (const bson_t *const *)shuf, n, &DEF, &r);
		if (!eq) {
			char pb[512];
			for (size_t k = 0; k < r.n_diffs; k++)
				fprintf(stderr, "diff %s %s %s/%s\n", compare_diff_path(&r.diffs[k], false, pb, sizeof pb),
					compare_kind_to_str(r.diffs[k].kind), r.diffs[k].mongo_type, r.diffs[k].pg_type);
			for (size_t k = 0; k < n; k++) {
				char *js = bson_as_canonical_extended_json(docs[k], NULL);
				fprintf(stderr, "doc %zu: %s\n", k, js ? js : "(null)");
				bson_free(js);
			}
		}
		cr_assert(eq, "seed %llu round %d: %zu diffs", (unsigned long long)seed, round, r.diffs_total);
		compare_result_free(&r);
		if (n) { /* one more document on PostgreSQL's side */
			shuf[n] = docs[0];
			eq = compare_docs((const bson_t *const *)docs, n, (const bson_t *const *)shuf, n + 1, &DEF, &r);
			cr_assert_not(eq, "seed %llu round %d", (unsigned long long)seed, round);
			cr_assert_eq(r.diffs_total, 1);
			cr_assert_eq(r.diffs[0].kind, COMPARE_EXTRA);
			compare_result_free(&r);
		}
		for (size_t i = 0; i < n; i++)
			bson_destroy(docs[i]);
	}
}

/* ---- replies ------------------------------------------------------------ */

static bool replies(const char *op, const char *m, const char *p, const struct compare_opts *o,
		    struct compare_result *r)
{
	bson_t *bm = J(m), *bp = J(p);
	bool eq = false;
	char err[128];
	cr_assert(compare_replies(op, bm, bp, o, r, &eq, err, sizeof err), "%s", err);
	bson_destroy(bm);
	bson_destroy(bp);
	return eq;
}

Test(compare, reply_find_and_aggregate_ignore_server_fields)
{
	struct compare_result r;
	const char *m = "{\"cursor\":{\"firstBatch\":[{\"_id\":1,\"a\":1}],\"id\":0,\"ns\":\"db.c\"},\"ok\":1,"
			"\"$clusterTime\":{\"clusterTime\":{\"$timestamp\":{\"t\":1,\"i\":1}}},"
			"\"operationTime\":{\"$timestamp\":{\"t\":1,\"i\":1}}}";
	const char *p = "{\"cursor\":{\"id\":0,\"ns\":\"db.c\",\"firstBatch\":[{\"_id\":1,\"a\":1}]},\"ok\":1.0}";
	cr_expect(replies("find", m, p, &DEF, &r));
	compare_result_free(&r);
	cr_expect(replies("aggregate", m, p, &DEF, &r));
	compare_result_free(&r);
	const char *p2 = "{\"cursor\":{\"firstBatch\":[{\"_id\":1,\"a\":2}],\"id\":0},\"ok\":1}";
	cr_expect_not(replies("find", m, p2, &DEF, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "_id=1.a", "changed", "int", "int");
	compare_result_free(&r);
	/* getMore: nextBatch */
	cr_expect_not(replies("getMore", "{\"cursor\":{\"nextBatch\":[1,2],\"id\":0},\"ok\":1}",
			      "{\"cursor\":{\"nextBatch\":[1],\"id\":0},\"ok\":1}", &DEF, &r));
	cr_expect_eq(r.diffs_total, 1);
	compare_result_free(&r);
}

Test(compare, reply_more_on_one_side)
{
	struct compare_result r;
	struct compare_opts sorted = {.key_cmp = by_k};
	const char *m = "{\"cursor\":{\"firstBatch\":[{\"k\":1}],\"id\":{\"$numberLong\":\"77\"}},\"ok\":1}";
	const char *p = "{\"cursor\":{\"firstBatch\":[{\"k\":2}],\"id\":0},\"ok\":1}";
	/* unsorted and cut: documents are not compared, only "more" */
	cr_expect_not(replies("find", m, p, &DEF, &r));
	cr_expect(r.partial);
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "cursor.id", "changed", "bool", "bool");
	compare_result_free(&r);
	cr_expect(replies("find", m, m, &DEF, &r));
	cr_expect(r.partial);
	compare_result_free(&r);
	/* sorted: documents compared too */
	cr_expect_not(replies("find", m, p, &sorted, &r));
	cr_expect_not(r.partial);
	cr_expect_eq(r.diffs_total, 3);
	compare_result_free(&r);
}

Test(compare, reply_count_and_distinct)
{
	struct compare_result r;
	cr_expect(replies("count", "{\"n\":5,\"ok\":1}", "{\"n\":{\"$numberLong\":\"5\"},\"ok\":1}", &DEF, &r));
	compare_result_free(&r);
	cr_expect_not(replies("count", "{\"n\":5,\"ok\":1}", "{\"n\":4,\"ok\":1}", &DEF, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "n", "changed", "long", "long");
	cr_expect_eq(r.mongo_n, 5);
	cr_expect_eq(r.pg_n, 4);
	compare_result_free(&r);
	struct compare_opts sorted = {.key_cmp = by_k};
	cr_expect(replies("distinct", "{\"values\":[1,\"a\",2.5],\"ok\":1}",
			  "{\"values\":[\"a\",2.5,{\"$numberLong\":\"1\"}],\"ok\":1}", &sorted, &r));
	compare_result_free(&r);
	cr_expect_not(replies("distinct", "{\"values\":[1,2],\"ok\":1}", "{\"values\":[1,2,3],\"ok\":1}", &DEF, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "[2]", "extra", "null", "int");
	compare_result_free(&r);
}

Test(compare, reply_errors)
{
	struct compare_result r;
	const char *err2 = "{\"ok\":0,\"code\":2,\"codeName\":\"BadValue\",\"errmsg\":\"mongo words\"}";
	const char *err2b = "{\"ok\":0.0,\"code\":2,\"errmsg\":\"pg words\"}";
	const char *ok = "{\"cursor\":{\"firstBatch\":[],\"id\":0},\"ok\":1}";
	cr_expect(replies("find", err2, err2b, &DEF, &r));
	compare_result_free(&r);
	cr_expect_not(replies("find", err2, ok, &DEF, &r));
	cr_assert_eq(r.diffs_total, 1);
	check_diff(&r.diffs[0], "code", "error", "error", "null");
	compare_result_free(&r);
	cr_expect_not(replies("find", ok, err2b, &DEF, &r));
	check_diff(&r.diffs[0], "code", "error", "null", "error");
	compare_result_free(&r);
	cr_expect_not(replies("find", err2, "{\"ok\":0,\"code\":11000}", &DEF, &r));
	check_diff(&r.diffs[0], "code", "changed", "int", "int");
	compare_result_free(&r);
}

Test(compare, reply_other_commands_and_bad_shapes)
{
	struct compare_result r;
	cr_expect(replies("dbStats", "{\"db\":\"x\",\"ok\":1,\"electionId\":{\"$oid\":\"650c1f1e8f1b2c3d4e5f6a7b\"},"
			  "\"lastCommittedOpTime\":1,\"$gleStats\":{},\"$topologyTime\":1,\"$configServerState\":{}}",
			  "{\"db\":\"x\",\"ok\":1}", &DEF, &r));
	compare_result_free(&r);
	cr_expect(compare_server_field("$clusterTime"));
	cr_expect_not(compare_server_field("ok"));
	bson_t *bad = J("{\"ok\":1,\"cursor\":5}"), *good = J("{\"ok\":1,\"cursor\":{\"firstBatch\":[],\"id\":0}}");
	bool eq;
	char err[128] = "";
	cr_expect_not(compare_replies("find", bad, good, &DEF, &r, &eq, err, sizeof err));
	cr_expect(strstr(err, "cursor"), "%s", err);
	cr_expect_not(compare_replies("find", good, bad, &DEF, &r, &eq, err, sizeof err));
	cr_expect_not(compare_replies("count", good, good, &DEF, &r, &eq, err, sizeof err));
	bson_destroy(bad);
	bson_destroy(good);
}

Test(compare, names)
{
	cr_expect_str_eq(compare_type_name(BSON_TYPE_OID), "objectId");
	cr_expect_str_eq(compare_type_name(BSON_TYPE_INT64), "long");
	cr_expect_str_eq(compare_type_name(BSON_TYPE_DECIMAL128), "decimal");
	cr_expect_str_eq(compare_type_name(BSON_TYPE_CODEWSCOPE), "javascriptWithScope");
	cr_expect_str_eq(compare_kind_to_str(COMPARE_TYPE), "type");
	cr_expect_str_eq(compare_kind_to_str(COMPARE_ERROR), "error");
}
