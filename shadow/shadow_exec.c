/*
 * shadow_exec.c - one shadow read's logic (shadow.h): plan it, run it in C
 * over the candidates PostgreSQL returned, build the reply MongoDB would
 * have sent, compare, report.
 *
 *   find / count / distinct / estimatedDocumentCount   readexec.h
 *   aggregate                                           aggregate.h ($lookup
 *                                                       collections fetched too)
 *   compare_replies (compare.h): numbers by value, field order ignored,
 *   multisets without sort, ties as multisets with one, ignore paths
 *   mismatch -> metrics by kind, one JSON line (rate-limited), Redis list
 */
#include "shadow_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "clock.h"
#include "compare.h"
#include "log.h"
#include "mismatch.h"
#include "sample.h"
#include "shaccum.h"
#include "shmetrics.h"

static const char *coll_name(const struct shrun *r)
{
	return r->ncolls ? r->colls[0] : "";
}

void shexec_free(struct shrun *r)
{
	if (r->timer)
		event_free(r->timer);
	pgread_free(&r->rd);
	shadow_job_free(r->job);
	free(r);
}

static bool skip(struct shrun *r, const char *reason)
{
	bson_iter_t it;
	const char *coll = bson_iter_init(&it, &r->job->cmd) && bson_iter_next(&it) &&
				   BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";

	shmetrics_skipped(r->job->db, coll, reason);
	return false;
}

bool shexec_plan(struct shrun *r)
{
	bson_error_t err;
	bson_iter_t it;
	const char *why = pgread_plan(&r->rd, &r->job->cmd, r->job->db, &err);

	/* MongoDB's own error is compared too, but only for reads tandem could
	 * run; the pipeline's own reasons come after MongoDB's error. */
	if (why && (!r->have_plan || r->plan.skip_reason != READEXEC_SKIP_NONE))
		return skip(r, why);
	if (bson_iter_init_find(&it, &r->job->reply, "ok") && !bson_iter_as_bool(&it))
		return skip(r, "mongo_error");
	return why ? skip(r, why) : true;
}

/* The reply MongoDB would have sent, computed from the fetched sets. */
static bool pg_reply(struct shrun *r, bson_t *reply)
{
	char why[64];

	if (pgread_reply(&r->rd, shadow_conf.max_rows, reply, why, sizeof(why)) == PGREAD_UNSUPPORTED)
		return skip(r, why);
	return true;
}

static int key_cmp(const bson_t *a, const bson_t *b, void *arg)
{
	return sortspec_cmp(arg, a, b);
}

static void report(struct shrun *r, const struct compare_result *res, const char *event)
{
	struct shjob *j = r->job;
	uint64_t suppressed = 0;
	int64_t now_ms = (int64_t)clock_wall_ms(); /* the line's ts, and the limiter's clock */
	const char *kind = res->n_diffs ? compare_kind_to_str(res->diffs[0].kind) : "changed";
	shmetrics_mismatch(j->db, coll_name(r), kind, j->mongo_ms, r->pg_ms);
	if (!mismatch_limiter_take(shadow_conf.limiter, j->db, now_ms, &suppressed))
		return;
	char rid[48];   /* connection id : the client's requestID */
	snprintf(rid, sizeof(rid), "%llu:%d", (unsigned long long)j->conn, (int)j->request_id);
	bool is_agg = r->plan.kind == READEXEC_AGGREGATE;
	struct mismatch_event ev = {
		.ts_ms = now_ms, .tenant = j->db, .db = j->db, .coll = coll_name(r), .op = j->op,
		.request_id = rid, .query = is_agg ? &r->plan.pipeline : &r->plan.filter,
		.query_is_array = is_agg, .mongo_ms = j->mongo_ms, .pg_ms = r->pg_ms,
		.suppressed = suppressed, .full_values = shadow_conf.log_values,
	};
	size_t len;
	char *line = mismatch_line(&ev, res, &len);
	if (!line)
		return;
	if (strcmp(event, "shadow_mismatch") != 0) {
		/* calibration: the same line under its own event name, so that
		 * alerting on shadow_mismatch does not fire on MongoDB's noise */
		char *p = strstr(line, "\"shadow_mismatch\"");
		if (p) {
			char *renamed = bson_strdup_printf("%.*s\"%s\"%s", (int)(p - line), line, event,
							   p + strlen("\"shadow_mismatch\""));
			bson_free(line);
			line = renamed;
			len = strlen(line);
		}
	}
	log_line_raw(LOG_WARN, line, len);
	shadow_redis_push(j->db, line, len);
	bson_free(line);
}

/* Compare MongoDB's reply with other (PostgreSQL's, or MongoDB's again). */
static void compare_and_report(struct shrun *r, const bson_t *other, const char *event)
{
	const char *ignore[SHADOW_IGNORE_MAX];
	struct compare_opts o = {0};
	struct compare_result res = {0};
	char err[256];
	bool equal = false;

	o.strict_types = shadow_conf.strict_types;
	o.ignore = ignore;
	o.n_ignore = shadow_ignore_for(shadow_conf.ignore, coll_name(r), ignore, SHADOW_IGNORE_MAX);
	if (r->plan.sortc) {
		o.key_cmp = key_cmp;
		o.key_arg = r->plan.sortc;
		o.tail_ties_loose = true;
	}
	if (!compare_replies(r->job->op, &r->job->reply, other, &o, &res, &equal, err, sizeof(err))) {
		shmetrics_skipped(r->job->db, coll_name(r), "unreadable_reply");
	} else if (equal) {
		shmetrics_match(r->job->db, coll_name(r), r->job->mongo_ms, r->pg_ms);
	} else {
		report(r, &res, event);
	}
	compare_result_free(&res);
}

void shexec_finish(struct shrun *r)
{
	bson_t reply;

	bson_init(&reply);
	if (pg_reply(r, &reply) && shrace_fair(r, &reply)) {
		if (r->plan.kind == READEXEC_AGGREGATE)
			(void)shaccum_tolerate(&r->plan.pipeline, &r->job->reply, &reply);
		compare_and_report(r, &reply, "shadow_mismatch");
	}
	bson_destroy(&reply);
}

/* The command as sent, without what belongs to the client's session. */
static void strip_session(const bson_t *cmd, bson_t *out)
{
	bson_init(out);
	bson_copy_to_excluding_noinit(cmd, out, "lsid", "txnNumber", "$clusterTime", "$readPreference",
				      "autocommit", "startTransaction", "readConcern", NULL);
}

void shexec_calibrate(struct shrun *r, void *mongo_client)
{
	bson_t cmd, reply;
	bson_error_t err;
	uint64_t t0 = clock_mono_us();

	strip_session(&r->job->cmd, &cmd);
	if (!mongoc_client_command_simple(mongo_client, r->job->db, &cmd, NULL, &reply, &err) &&
	    bson_empty(&reply)) {
		shmetrics_skipped(r->job->db, coll_name(r), "calibrate_mongo_error");
	} else {
		r->pg_ms = (double)(clock_mono_us() - t0) / 1000.0;
		if (shrace_fair(r, &reply))
			compare_and_report(r, &reply, "shadow_calibration_mismatch");
	}
	bson_destroy(&reply);
	bson_destroy(&cmd);
}
