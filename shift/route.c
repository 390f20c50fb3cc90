/*
 * route.c - the worker side of served reads (shift.h): decide per request,
 * keep the command of a read to serve, answer getMore / killCursors of
 * tandem's cursors.
 *
 * Cost for a read of a tenant at read_pct 0: the command-name check, the
 * tenant and one flag lookup.  In a MongoDB bucket: one hash more.  Only a
 * read in a served bucket is parsed and planned (on the worker, so that a
 * read tandem cannot compute goes to MongoDB at once).
 */
#include "serve_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cursors.h"
#include "flags.h"
#include "msgdoc.h"
#include "opmsg.h"
#include "ryw.h"
#include "tenant.h"

static _Atomic int32_t reply_request_id = 1 << 30;

static void count_fallback(const char *tenant, enum metrics_shift_fallback why)
{
	metrics_shift_fallback(why);
	metrics_shift_read(tenant, false);
}

void sjob_free(struct shift_job *job)
{
	if (!job)
		return;
	if (job->timer)
		event_free(job->timer);
	pgread_free(&job->rd);
	bson_destroy(&job->cmd);
	free(job);
}

const char *shift_job_db(const struct shift_job *job)
{
	return job->db;
}

const char *shift_job_coll(const struct shift_job *job)
{
	return job->rd.colls[0] ? job->rd.colls[0] : "";
}

void shift_job_drop(struct shift_job *job, enum metrics_shift_fallback why)
{
	count_fallback(job->tenant, why);
	sjob_free(job);
}

static struct shift_job *new_job(const struct msg_info *info, const uint8_t *msg, size_t len)
{
	struct shift_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	pgread_init(&job->rd);
	if (!msgdoc_command(info, msg, len, &job->cmd)) {
		pgread_free(&job->rd);
		free(job);
		return NULL;
	}
	return job;
}

/* MongoDB's own databases and system collections (views' definitions,
 * profiles, users...) hold nothing PostgreSQL has. */
static bool internal_namespace(const char *db, const char *coll)
{
	return !strcmp(db, "admin") || !strcmp(db, "local") || !strcmp(db, "config") ||
	       !strncmp(coll, "system.", 7);
}

/* Everything after the bucket said PostgreSQL: NULL with the reason in *why. */
static struct shift_job *prepare(struct shift_job *job, uint64_t conn, const struct msg_info *info,
				 enum metrics_shift_fallback *why)
{
	bson_error_t err;
	bson_iter_t it;
	const struct shift_writes *w = &shift_conf.writes;

	if ((*why = router_check(info->opcode, info->msg_flags, &job->cmd)) != METRICS_SHIFT_FALLBACK_COUNT)
		return NULL;
	if (!atomic_load_explicit(&shift_on, memory_order_relaxed))
		return *why = METRICS_SHIFT_UNAVAILABLE, NULL;
	if (atomic_load(&shift_inflight) >= shift_conf.max_inflight)
		return *why = METRICS_SHIFT_BUSY, NULL;
	if (w->queued && w->queued() > 0)
		return *why = METRICS_SHIFT_QUEUED_WRITES, NULL;
	job->wait_seq = ryw_seq(info->db);
	if (w->settled && !w->settled(job->wait_seq) && shift_conf.ryw_wait_us == 0)
		return *why = METRICS_SHIFT_BEHIND_WRITES, NULL;
	const char *skip = pgread_plan(&job->rd, &job->cmd, info->db, &err);
	if (skip && strcmp(skip, PGREAD_UNORDERED) != 0)
		return *why = router_skip_fallback(skip), NULL;
	if (internal_namespace(info->db, job->rd.colls[0]))
		return *why = METRICS_SHIFT_INTERNAL_NAMESPACE, NULL;
	snprintf(job->db, sizeof(job->db), "%s", info->db);
	job->conn = conn;
	job->request_id = info->header.request_id;
	job->no_cursor_timeout = bson_iter_init_find(&it, &job->cmd, "noCursorTimeout") &&
				 bson_iter_as_bool(&it);
	return job;
}

struct shift_job *shift_route(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
			      size_t len)
{
	struct flags_view fv;
	struct shift_job *job = NULL;
	char tenant[sizeof(job->tenant)];
	uint8_t key[ROUTER_KEY_MAX];
	enum metrics_shift_fallback why;

	if (!router_is_read(info->command))
		return NULL;
	bool parsed_first = tenant_needs_command() || shift_conf.sticky == ROUTER_STICKY_SESSION;
	if (parsed_first && info->opcode == WIRE_OP_MSG && !(job = new_job(info, msg, len)))
		return NULL;
	if (tenant_resolve(info->db, job ? &job->cmd : NULL, tenant, sizeof(tenant)) == TENANT_UNRESOLVED) {
		metrics_shift_fallback(METRICS_SHIFT_TENANT_UNRESOLVED);
		sjob_free(job);
		return NULL;   /* no flags to read: MongoDB, like every unmatched request */
	}
	flags_get(tenant, &fv);
	if (!(fv.read_pct > 0)) {
		sjob_free(job);
		return NULL;
	}
	size_t klen = router_sticky_key(shift_conf.sticky, conn, info->header.request_id,
					job ? &job->cmd : NULL, key);
	if (!router_in_share(router_bucket(tenant, key, klen), fv.read_pct)) {
		metrics_shift_read(tenant, false);
		sjob_free(job);
		return NULL;
	}
	if ((why = router_check(info->opcode, info->msg_flags, NULL)) != METRICS_SHIFT_FALLBACK_COUNT) {
		count_fallback(tenant, why);
		sjob_free(job);
		return NULL;
	}
	if (!job && !(job = new_job(info, msg, len))) {
		count_fallback(tenant, METRICS_SHIFT_INVALID_COMMAND);
		return NULL;
	}
	snprintf(job->tenant, sizeof(job->tenant), "%s", tenant);
	if (!prepare(job, conn, info, &why)) {
		shift_job_drop(job, why);
		return NULL;
	}
	return job;
}

/* ---- getMore / killCursors ---- */

static uint8_t *encode(const struct msg_info *info, const bson_t *reply, size_t *outlen)
{
	return opmsg_encode(atomic_fetch_add(&reply_request_id, 1), info->header.request_id, 0, reply,
			    outlen);
}

static uint8_t *getmore(uint64_t conn, const struct msg_info *info, const bson_t *cmd,
			size_t *outlen)
{
	bson_iter_t it;
	int64_t id, batch = 0;
	const char *coll = "";
	bson_t reply;

	if (!bson_iter_init_find(&it, cmd, "getMore") || !BSON_ITER_HOLDS_INT64(&it))
		return NULL;   /* MongoDB words the type error */
	id = bson_iter_int64(&it);
	if (bson_iter_init_find(&it, cmd, "collection") && BSON_ITER_HOLDS_UTF8(&it))
		coll = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, cmd, "batchSize") && BSON_ITER_HOLDS_NUMBER(&it))
		batch = bson_iter_as_int64(&it);
	if (batch < 0 || !cursors_getmore(conn, id, info->db, coll, batch, &reply))
		return NULL;   /* not tandem's, or a bad batchSize: MongoDB answers */
	uint8_t *out = encode(info, &reply, outlen);
	bson_destroy(&reply);
	return out;
}

static void append_ids(bson_t *reply, const char *key, const int64_t *ids, size_t n)
{
	bson_t arr;
	char kb[16];
	const char *k;

	BSON_APPEND_ARRAY_BEGIN(reply, key, &arr);
	for (size_t i = 0; i < n; i++) {
		bson_uint32_to_string((uint32_t)i, &k, kb, sizeof(kb));
		BSON_APPEND_INT64(&arr, k, ids[i]);
	}
	bson_append_array_end(reply, &arr);
}

#define KILL_MAX 1024

/* killCursors naming upstream ids too: the command for MongoDB without
 * tandem's ids, with the client's requestID (its reply answers the client). */
static uint8_t *upstream_part(const struct msg_info *info, const bson_t *cmd, const int64_t *ids,
			      size_t n, size_t *outlen)
{
	bson_t body = BSON_INITIALIZER;
	uint8_t *out;

	bson_copy_to_excluding_noinit(cmd, &body, "cursors", NULL);
	append_ids(&body, "cursors", ids, n);
	BSON_APPEND_UTF8(&body, "$db", info->db);
	out = opmsg_encode(info->header.request_id, 0, 0, &body, outlen);
	bson_destroy(&body);
	return out;
}

static uint8_t *kill_cursors(uint64_t conn, const struct msg_info *info, const bson_t *cmd,
			     size_t *outlen, bool *to_upstream)
{
	bson_iter_t it, a;
	int64_t killed[KILL_MAX], not_found[KILL_MAX], upstream[KILL_MAX];
	size_t nk = 0, nn = 0, nup = 0;

	if (!bson_iter_init_find(&it, cmd, "cursors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
	    !bson_iter_recurse(&it, &a))
		return NULL;
	while (bson_iter_next(&a)) {
		if (!BSON_ITER_HOLDS_INT64(&a) || nk + nn + nup >= KILL_MAX)
			return NULL;   /* MongoDB words the error (tandem's stay open) */
		int64_t id = bson_iter_int64(&a);
		if (!cursors_owns(id))
			upstream[nup++] = id;
		else if (cursors_kill(conn, id))
			killed[nk++] = id;
		else
			not_found[nn++] = id;   /* another connection's: not found, as mongod */
	}
	if (nk + nn == 0)
		return NULL;   /* none of tandem's: forwarded as it came */
	if (nup > 0) {   /* tandem's are closed; MongoDB gets only its own */
		*to_upstream = true;
		return upstream_part(info, cmd, upstream, nup, outlen);
	}
	bson_t reply = BSON_INITIALIZER;
	append_ids(&reply, "cursorsKilled", killed, nk);
	append_ids(&reply, "cursorsNotFound", not_found, nn);
	append_ids(&reply, "cursorsAlive", NULL, 0);
	append_ids(&reply, "cursorsUnknown", NULL, 0);
	BSON_APPEND_DOUBLE(&reply, "ok", 1.0);
	uint8_t *out = encode(info, &reply, outlen);
	bson_destroy(&reply);
	return out;
}

uint8_t *shift_cursor_command(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
			      size_t len, size_t *outlen, bool *to_upstream)
{
	bson_t cmd;
	uint8_t *out = NULL;
	bool gm = !strcmp(info->command, "getMore");

	if (info->opcode != WIRE_OP_MSG || (!gm && strcmp(info->command, "killCursors")) ||
	    !cursors_any() || (info->msg_flags & OPMSG_MORE_TO_COME))
		return NULL;
	if (!msgdoc_command(info, msg, len, &cmd))
		return NULL;
	*to_upstream = false;
	out = gm ? getmore(conn, info, &cmd, outlen)
		 : kill_cursors(conn, info, &cmd, outlen, to_upstream);
	bson_destroy(&cmd);
	return out;
}

void shift_note_write(const char *db)
{
	const struct shift_writes *w = &shift_conf.writes;

	if (w->submitted)
		ryw_note(db, w->submitted());
}

void shift_conn_closed(uint64_t conn)
{
	cursors_close_conn(conn);
}
