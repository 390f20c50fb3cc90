/*
 * test_shaccum.c - the $sum/$avg tolerance of shadow reads (shaccum.h):
 * applied only to double outputs of the last $group, within 4 ulps, between
 * documents of the same group; never to other fields, other stages, wider
 * differences or other types.
 */
#include <float.h>
#include <math.h>

#include <criterion/criterion.h>

#include "shaccum.h"

static bson_t *J(const char *json)
{
	bson_error_t err;
	bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &err);
	cr_assert(b, "bad json %s: %s", json, err.message);
	return b;
}

/* A cursor reply whose firstBatch holds {_id, total: t, n: n} per group. */
static bson_t *reply(const char *ids[], const double *totals, const double *ns, size_t k)
{
	bson_t *r = bson_new(), cur, batch, doc;
	char key[8];

	BSON_APPEND_DOCUMENT_BEGIN(r, "cursor", &cur);
	BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
	for (size_t i = 0; i < k; i++) {
		snprintf(key, sizeof(key), "%zu", i);
		BSON_APPEND_DOCUMENT_BEGIN(&batch, key, &doc);
		BSON_APPEND_UTF8(&doc, "_id", ids[i]);
		BSON_APPEND_DOUBLE(&doc, "total", totals[i]);
		BSON_APPEND_DOUBLE(&doc, "n", ns[i]);
		bson_append_document_end(&batch, &doc);
	}
	bson_append_array_end(&cur, &batch);
	BSON_APPEND_INT64(&cur, "id", 0);
	bson_append_document_end(r, &cur);
	BSON_APPEND_DOUBLE(r, "ok", 1.0);
	return r;
}

static double field(const bson_t *r, const char *path)
{
	bson_iter_t it;

	cr_assert(bson_iter_init(&it, r) && bson_iter_find_descendant(&it, path, &it), "%s", path);
	return bson_iter_double(&it);
}

static const char *GROUP = "{\"0\": {\"$match\": {}}, \"1\": {\"$group\": {\"_id\": \"$s\", "
			   "\"total\": {\"$sum\": \"$v\"}, \"n\": {\"$first\": \"$v\"}}}, "
			   "\"2\": {\"$sort\": {\"_id\": 1}}}";

Test(shaccum, last_bits_of_a_sum_take_mongos_value)
{
	const char *ids[] = {"a", "b"};
	double mt[] = {0.30000000000000004, 1e16}, pt[] = {nextafter(0.30000000000000004, 1), 1e16};
	double n[] = {1.0, 2.0};
	bson_t *pipe = J(GROUP), *m = reply(ids, mt, n, 2), *p = reply(ids, pt, n, 2);

	cr_assert_eq(shaccum_tolerate(pipe, m, p), 1);
	cr_assert_eq(field(p, "cursor.firstBatch.0.total"), mt[0]);
	cr_assert_eq(field(p, "cursor.firstBatch.1.total"), mt[1]);
	bson_destroy(pipe);
	bson_destroy(m);
	bson_destroy(p);
}

Test(shaccum, pairs_groups_by_id_not_position)
{
	const char *mi[] = {"a", "b"}, *pi[] = {"b", "a"};
	double mt[] = {1.0, 2.0}, pt[] = {2.0, nextafter(1.0, 2)}, n[] = {1.0, 1.0};
	bson_t *pipe = J(GROUP), *m = reply(mi, mt, n, 2), *p = reply(pi, pt, n, 2);

	cr_assert_eq(shaccum_tolerate(pipe, m, p), 1);
	cr_assert_eq(field(p, "cursor.firstBatch.1.total"), 1.0);
	bson_destroy(pipe);
	bson_destroy(m);
	bson_destroy(p);
}

Test(shaccum, never_wider_than_a_few_ulps_nor_other_fields)
{
	const char *ids[] = {"a"};
	double mt[] = {1.0}, pt[] = {1.0 + 1e-12}, mn[] = {3.0}, pn[] = {nextafter(3.0, 4)};
	bson_t *pipe = J(GROUP), *m = reply(ids, mt, mn, 1), *p = reply(ids, pt, pn, 1);

	/* total differs by far more than 4 ulps; n is $first: a stored value */
	cr_assert_eq(shaccum_tolerate(pipe, m, p), 0);
	cr_assert_eq(field(p, "cursor.firstBatch.0.total"), 1.0 + 1e-12);
	cr_assert_eq(field(p, "cursor.firstBatch.0.n"), nextafter(3.0, 4));
	bson_destroy(pipe);
	bson_destroy(m);
	bson_destroy(p);
}

Test(shaccum, a_reshaping_stage_after_the_group_makes_it_exact)
{
	const char *ids[] = {"a"};
	double mt[] = {1.0}, pt[] = {nextafter(1.0, 2)}, n[] = {1.0};
	bson_t *pipe = J("{\"0\": {\"$group\": {\"_id\": \"$s\", \"total\": {\"$sum\": \"$v\"}, "
			 "\"n\": {\"$avg\": \"$v\"}}}, \"1\": {\"$project\": {\"total\": \"$n\", \"n\": \"$total\"}}}");
	bson_t *m = reply(ids, mt, n, 1), *p = reply(ids, pt, n, 1);

	cr_assert_eq(shaccum_tolerate(pipe, m, p), 0);
	bson_destroy(pipe);
	bson_destroy(m);
	bson_destroy(p);
}

Test(shaccum, not_across_signs_nor_infinities)
{
	const char *ids[] = {"a", "b"};
	double mt[] = {0.0, INFINITY}, pt[] = {-0.0, INFINITY}, n[] = {1.0, 1.0};
	bson_t *pipe = J(GROUP), *m = reply(ids, mt, n, 2), *p = reply(ids, pt, n, 2);

	cr_assert_eq(shaccum_tolerate(pipe, m, p), 0);
	bson_destroy(pipe);
	bson_destroy(m);
	bson_destroy(p);
}
