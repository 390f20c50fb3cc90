/*
 * shadow_capture.c - the worker side of shadow reads (shadow.h): decide on
 * the request path whether a read is sampled, keep its command, and queue
 * it with MongoDB's reply once the reply has gone to the client.
 *
 * Cost for a read that is not sampled: the command-name check, the tenant
 * (tenant.h; the flags are the tenant's, rows stay keyed by database), one
 * flag lookup (no Redis round trip) and one random draw.  A sampled read costs
 * a copy of the command and one memcpy of the reply; parsing and
 * validating the reply is the shadow thread's work.  When the queue is
 * full the read is shed before anything is copied but the command.
 */
#include "shadow_internal.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "msgdoc.h"
#include "flags.h"
#include "sample.h"
#include "shmetrics.h"
#include "tenant.h"

static bool is_read(const char *cmd)
{
	return !strcmp(cmd, "find") || !strcmp(cmd, "aggregate") || !strcmp(cmd, "count") ||
	       !strcmp(cmd, "distinct");
}

static const char *coll_of(const bson_t *cmd)
{
	bson_iter_t it;

	if (bson_iter_init(&it, cmd) && bson_iter_next(&it) && BSON_ITER_HOLDS_UTF8(&it))
		return bson_iter_utf8(&it, NULL);
	return "";
}

struct shjob *shadow_capture_request(uint64_t conn, const struct msg_info *info,
				     const uint8_t *msg, size_t len)
{
	struct flags_view fv;
	char tenant[FLAGS_TENANT_NAME_MAX + 1];

	if (!atomic_load_explicit(&shadow_on, memory_order_relaxed) || info->opcode != WIRE_OP_MSG ||
	    !is_read(info->command))
		return NULL;
	/* An unresolved read is not compared: PostgreSQL may hold only some
	 * of the tenants of its database.  The router counted it already. */
	if (tenant_peek_request(info, msg, len, tenant, sizeof(tenant)) == TENANT_UNRESOLVED)
		return NULL;
	flags_get(tenant, &fv);
	if (fv.shadow_pct <= 0 || !shadow_sample(fv.shadow_pct))
		return NULL;
	struct shjob *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	if (!msgdoc_command(info, msg, len, &job->cmd)) {
		free(job);
		return NULL;
	}
	/* A collection's ceiling narrows the tenant's share: draw again with
	 * the ratio, so the overall probability is the ceiling. */
	double pct = shadow_caps_apply(shadow_conf.caps, coll_of(&job->cmd), fv.shadow_pct);
	if (pct < fv.shadow_pct && !shadow_sample(pct * 100.0 / fv.shadow_pct)) {
		bson_destroy(&job->cmd);
		free(job);
		return NULL;
	}
	if (atomic_load(&shadow_nqueued) >= shadow_conf.queue_max) {
		shmetrics_read(info->db, coll_of(&job->cmd));
		shmetrics_shed(info->db, coll_of(&job->cmd), "queue_full");
		bson_destroy(&job->cmd);
		free(job);
		return NULL;
	}
	bson_init(&job->reply);
	job->conn = conn;
	job->request_id = info->header.request_id;
	job->read_seq = shadow_conf.writes.touch_now ? shadow_conf.writes.touch_now() : 0;
	snprintf(job->db, sizeof(job->db), "%s", info->db);
	snprintf(job->op, sizeof(job->op), "%s", info->command);
	return job;
}

void shadow_job_free(struct shjob *job)
{
	if (!job)
		return;
	bson_destroy(&job->cmd);
	bson_destroy(&job->reply);
	free(job->raw);
	free(job);
}

bool shadow_capture_keep(struct shjob *job, const uint8_t *msg, size_t len, uint64_t mongo_us)
{
	shmetrics_read(job->db, coll_of(&job->cmd));
	if (!(job->raw = malloc(len))) {
		shmetrics_skipped(job->db, coll_of(&job->cmd), "out_of_memory");
		return false;
	}
	memcpy(job->raw, msg, len);
	job->raw_len = len;
	job->mongo_ms = (double)mongo_us / 1000.0;
	return true;
}

void shadow_capture_submit(struct shjob *job)
{
	if (atomic_load(&shadow_nqueued) >= shadow_conf.queue_max) {
		shmetrics_shed(job->db, coll_of(&job->cmd), "queue_full");
		shadow_job_free(job);
		return;
	}
	job->fwd_seq = shadow_writes_forwarded();
	job->deadline_us = clock_mono_us() + shadow_conf.timeout_us;
	shadow_submit(job);
}
