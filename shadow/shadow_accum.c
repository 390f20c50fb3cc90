/*
 * shadow_accum.c - the one tolerance the comparison allows: the double
 * outputs of $sum / $avg in an aggregation's last $group.
 *
 * mongod adds doubles with a double-double (compensated) sum, and so does
 * the read engine (common/readexec/summation.c), but the documents come in
 * another order from PostgreSQL than from mongod's collection scan; the
 * compensated sum is almost, not exactly, independent of the order.  So
 * before comparing, an accumulator output of PostgreSQL's answer that is a
 * double within SHACCUM_ULPS units in the last place of MongoDB's double
 * for the same group takes MongoDB's value, and the read counts one
 * `tandem_shadow_tolerated_total` per value so treated.  Never for stored
 * values: only
 *   - fields named by a $sum / $avg of the LAST $group of the pipeline,
 *   - when every stage after it keeps documents whole ($match, $sort,
 *     $skip, $limit),
 *   - between documents of the two answers with equal _id (the group key),
 *   - when both values are doubles, finite, of the same sign.
 * Anything else compares exactly.
 */
#include "shaccum.h"
#include "shadow_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "bsoncmp.h"
#include "metrics.h"

#define SHACCUM_ULPS 4.0
#define SHACCUM_MAX_FIELDS 32
#define SHACCUM_MAX_DOCS 4096

struct accum_fields {
	const char *name[SHACCUM_MAX_FIELDS];
	size_t n;
};

/* A $group spec's accumulator outputs that may be doubles. */
static void group_fields(bson_iter_t *spec, struct accum_fields *f)
{
	bson_iter_t acc;

	f->n = 0;
	while (bson_iter_next(spec)) {
		if (!strcmp(bson_iter_key(spec), "_id") || !BSON_ITER_HOLDS_DOCUMENT(spec) ||
		    !bson_iter_recurse(spec, &acc) || !bson_iter_next(&acc))
			continue;
		const char *op = bson_iter_key(&acc);
		if ((!strcmp(op, "$sum") || !strcmp(op, "$avg")) && f->n < SHACCUM_MAX_FIELDS)
			f->name[f->n++] = bson_iter_key(spec);
	}
}

/* The fields the tolerance may apply to; false: none (exact). */
static bool tolerated_fields(const bson_t *pipeline, struct accum_fields *f)
{
	static const char *const keeps[] = {"$match", "$sort", "$skip", "$limit"};
	bson_iter_t st, op, spec;
	bool after = false;

	f->n = 0;
	if (!bson_iter_init(&st, pipeline))
		return false;
	while (bson_iter_next(&st)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&st) || !bson_iter_recurse(&st, &op) || !bson_iter_next(&op))
			return false;
		const char *name = bson_iter_key(&op);
		if (!strcmp(name, "$group") && BSON_ITER_HOLDS_DOCUMENT(&op) &&
		    bson_iter_recurse(&op, &spec)) {
			group_fields(&spec, f);
			after = true;
			continue;
		}
		bool kept = false;
		for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++)
			kept = kept || !strcmp(name, keeps[i]);
		if (after && !kept)
			f->n = 0;   /* a later stage may move or reshape the outputs */
	}
	return f->n > 0;
}

static bool is_field(const struct accum_fields *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->name[i], key))
			return true;
	return false;
}

static bool close_doubles(double a, double b)
{
	if (!isfinite(a) || !isfinite(b) || signbit(a) != signbit(b))
		return false;
	return fabs(a - b) <= SHACCUM_ULPS * DBL_EPSILON * fmax(fabs(a), fabs(b));
}

/* MongoDB's document of the group whose _id is id, as an iterator. */
static bool find_group(const bson_t *mongo, const bson_value_t *id, bson_t *doc)
{
	bson_iter_t b, d;
	uint32_t len;
	const uint8_t *data;

	if (!shbatch_first(mongo, &b))
		return false;
	while (bson_iter_next(&b)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&b) || !bson_iter_recurse(&b, &d) || !bson_iter_find(&d, "_id") ||
		    !bsoncmp_equal(bson_iter_value(&d), id))
			continue;
		bson_iter_document(&b, &len, &data);
		return bson_init_static(doc, data, len);
	}
	return false;
}

/* One of PostgreSQL's documents with its tolerated outputs replaced. */
static void fix_doc(const struct accum_fields *f, const bson_t *mongo, bson_iter_t *pgdoc,
		    bson_t *out, uint64_t *n)
{
	bson_iter_t d, m;
	bson_t mdoc;
	bool have = bson_iter_recurse(pgdoc, &d) && bson_iter_find(&d, "_id") &&
		    find_group(mongo, bson_iter_value(&d), &mdoc);

	if (!bson_iter_recurse(pgdoc, &d))
		return;
	while (bson_iter_next(&d)) {
		if (have && BSON_ITER_HOLDS_DOUBLE(&d) && is_field(f, bson_iter_key(&d)) &&
		    bson_iter_init_find(&m, &mdoc, bson_iter_key(&d)) && BSON_ITER_HOLDS_DOUBLE(&m)) {
			double a = bson_iter_double(&m), b = bson_iter_double(&d);
			if (memcmp(&a, &b, sizeof(a)) != 0 && close_doubles(a, b)) {
				BSON_APPEND_DOUBLE(out, bson_iter_key(&d), a);
				(*n)++;
				continue;
			}
		}
		bson_append_iter(out, NULL, 0, &d);
	}
}

struct fix {
	const struct accum_fields *f;
	const bson_t *mongo;
	uint64_t n;
};

static bool fix_elem(bson_iter_t *elem, bson_t *batch, const char *key, void *arg)
{
	struct fix *x = arg;
	bson_t doc;

	if (!BSON_ITER_HOLDS_DOCUMENT(elem)) {
		bson_append_iter(batch, key, -1, elem);
		return true;
	}
	bson_append_document_begin(batch, key, -1, &doc);
	fix_doc(x->f, x->mongo, elem, &doc, &x->n);
	bson_append_document_end(batch, &doc);
	return true;
}

uint64_t shaccum_tolerate(const bson_t *pipeline, const bson_t *mongo, bson_t *pg)
{
	struct accum_fields f;
	bson_iter_t b;
	uint64_t n = 0;
	uint32_t docs = 0;
	bson_t fixed;

	if (!tolerated_fields(pipeline, &f) || !shbatch_first(pg, &b))
		return 0;
	while (bson_iter_next(&b))
		if (++docs > SHACCUM_MAX_DOCS)
			return 0;   /* the pairing is quadratic: exact beyond this */
	struct fix x = {&f, mongo, 0};
	(void)shbatch_map(pg, fix_elem, &x, &fixed);
	if ((n = x.n) == 0) {
		bson_destroy(&fixed);
		return 0;
	}
	bson_destroy(pg);
	bson_steal(pg, &fixed);
	metrics_add(METRIC_SHADOW_TOLERATED, n);
	return n;
}
