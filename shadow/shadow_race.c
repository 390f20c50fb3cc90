/*
 * shadow_race.c - compare a shadow read only against the PostgreSQL state
 * that matches MongoDB's answer (docs/shadow.md, "Races").
 *
 * At capture the read records n = the dual-write jobs submitted so far:
 * MongoDB's answer holds every write numbered <= n, and may or may not
 * hold a later one.  The runner already waits until the writes up to the
 * reply are applied; a later write (the application's next save, say) may
 * also have reached PostgreSQL before the SELECT.  The applier publishes
 * which document every write touched (struct shadow_writes, dwtouch.h), so
 * after the SELECT:
 *
 *   no collection of the read written after n          -> compare
 *   find, whole result (no skip, no limit, one batch)  -> leave out the
 *        documents written after n, on both sides; compare the rest
 *        (none left: raced)
 *   find, a prefix of the result (limit, batchSize)    -> compare if none of
 *        the documents on either side was written after n and both sides
 *        agree whether more follow, else raced
 *   skip, count, distinct, aggregate, $lookup          -> raced
 *
 * A prefix is safe because a write that changes which documents form it
 * touches one that is on one side or the other; a skip is not (the
 * document that moves can sit in the skipped part).  `raced` reads are
 * counted as skipped, never as a match or a mismatch.
 */
#include "shadow_internal.h"

#include <string.h>

#include "bsoncmp.h"
#include "metrics.h"
#include "shmetrics.h"

/* More documents written after the read than this: raced (keeps the
 * membership test below linear in practice). */
#define RACE_MAX_IDS 64

struct race_ids {
	bson_value_t v[RACE_MAX_IDS];
	size_t n;
	bool overflow;
};

static bool later(const struct shrun *r, const char *coll)
{
	const struct shadow_writes *w = &shadow_conf.writes;

	return w->coll_seq && w->coll_seq(r->job->db, coll) > r->job->read_seq;
}

static int64_t cursor_id(const bson_t *reply)
{
	bson_iter_t it;

	return bson_iter_init(&it, reply) && bson_iter_find_descendant(&it, "cursor.id", &it) &&
	       BSON_ITER_HOLDS_NUMBER(&it) ? bson_iter_as_int64(&it) : -1;
}

/* _id equality as MongoDB's unique index sees it (1 and 1.0 are one). */
static bool has_id(const struct race_ids *ids, const bson_value_t *v)
{
	for (size_t i = 0; i < ids->n; i++)
		if (bsoncmp_equal(&ids->v[i], v))
			return true;
	return false;
}

/* Add to ids the _id of every document of reply's first batch written
 * after the read.  False: a document without an _id (projected away). */
static bool collect(const struct shrun *r, const bson_t *reply, struct race_ids *ids)
{
	const struct shadow_writes *w = &shadow_conf.writes;
	bson_iter_t b, d;

	if (!shbatch_first(reply, &b))
		return false;
	while (bson_iter_next(&b)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&b) || !bson_iter_recurse(&b, &d) || !bson_iter_find(&d, "_id"))
			return false;
		const bson_value_t *v = bson_iter_value(&d);
		if (w->doc_seq(r->job->db, r->colls[0], v) <= r->job->read_seq || has_id(ids, v))
			continue;
		if (ids->n == RACE_MAX_IDS) {
			ids->overflow = true;
			return true;
		}
		bson_value_copy(v, &ids->v[ids->n++]);
	}
	return true;
}

static bool keep_unless_raced(bson_iter_t *elem, bson_t *batch, const char *key, void *arg)
{
	const struct race_ids *ids = arg;
	bson_iter_t d;

	if (bson_iter_recurse(elem, &d) && bson_iter_find(&d, "_id") && has_id(ids, bson_iter_value(&d)))
		return false;
	bson_append_iter(batch, key, -1, elem);
	return true;
}

/* reply without the documents of ids in its first batch; *kept counts the
 * documents left. */
static void strip(const bson_t *reply, const struct race_ids *ids, bson_t *out, uint32_t *kept)
{
	*kept = shbatch_map(reply, keep_unless_raced, (void *)ids, out);
}

static void ids_free(struct race_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		bson_value_destroy(&ids->v[i]);
}

/* Whether both answers are whole results: no skip, no limit, and neither
 * side has a batch to follow (PostgreSQL's may be longer than MongoDB's). */
static bool whole_result(const struct shrun *r, const bson_t *pg)
{
	return r->plan.skip == 0 && r->plan.limit == 0 && !r->plan.single_batch &&
	       cursor_id(&r->job->reply) == 0 && cursor_id(pg) == 0;
}

bool shrace_fair(struct shrun *r, bson_t *pg)
{
	struct race_ids ids = {0};
	bool touched = false, fair = false;

	for (size_t i = 0; i < r->ncolls; i++)
		touched = touched || later(r, r->colls[i]);
	if (!touched)
		return true;
	if (r->plan.kind != READEXEC_FIND || r->ncolls != 1 || r->plan.skip != 0 ||
	    !shadow_conf.writes.doc_seq || !collect(r, &r->job->reply, &ids) || !collect(r, pg, &ids) ||
	    ids.overflow)
		goto raced;
	if (ids.n == 0) {
		/* A prefix holds the same documents; whether more follow it depends
		 * on documents past it, which later writes may have changed. */
		fair = whole_result(r, pg) || (cursor_id(&r->job->reply) != 0) == (cursor_id(pg) != 0);
	} else if (whole_result(r, pg)) {
		bson_t m, p;
		uint32_t m_kept, p_kept;
		strip(&r->job->reply, &ids, &m, &m_kept);
		strip(pg, &ids, &p, &p_kept);
		bson_destroy(&r->job->reply);
		bson_destroy(pg);
		bson_steal(&r->job->reply, &m);
		bson_steal(pg, &p);
		metrics_add(METRIC_SHADOW_RACED_DOCS, ids.n);
		fair = m_kept + p_kept > 0;
	}
raced:
	if (!fair)
		shmetrics_skipped(r->job->db, r->colls[0], "raced");
	ids_free(&ids);
	return fair;
}
