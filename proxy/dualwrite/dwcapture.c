/*
 * dwcapture.c - capture write commands and their replies (see dwcapture.h).
 *
 * Only OP_MSG carries writes in wire version 17+ (OP_QUERY commands are
 * legacy and not captured; a driver that still sends them is counted).
 * The command is copied with its document sequences merged into arrays,
 * so the applier sees one self-contained BSON document.
 */
#include "dwcapture.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dwforward.h"
#include "dwtrans.h"
#include "flags.h"
#include "log.h"
#include "metrics.h"
#include "msgdoc.h"
#include "tenant.h"

/* What to do with a command now; tenant gets the name whose flags decide
 * (tenant.h).  bulkWrite runs on admin and names its namespaces inside:
 * always captured, judged per op later.  In pg_primary / pg_only a plain
 * write is served by PostgreSQL (pgserve.h); DDL and writes inside a
 * transaction still go to MongoDB and are captured (pgserve answers pg_only
 * transactions with an error).  A write whose tenant is UNRESOLVED is never
 * served: it goes to MongoDB and is captured whenever its flags (the
 * default tenant's, else tandem:defaults) are not mongo_only. */
enum capture_mode { CAPTURE_NONE, CAPTURE_REPLY, CAPTURE_SERVE };

static enum capture_mode capture_mode_of(const struct msg_info *info, const uint8_t *msg,
					 size_t len, enum dwtrans_kind kind, char *tenant,
					 size_t tlen, bool *pg_only)
{
	struct flags_view fv;

	*pg_only = false;
	tenant[0] = '\0';
	if (kind != DWTRANS_WRITE && kind != DWTRANS_DDL)
		return CAPTURE_REPLY;
	if (strcmp(info->db, "admin") == 0) {
		if (tenant_needs_command())
			(void)tenant_of_request(info, msg, len, tenant, tlen);
		else
			(void)tenant_of_db(info->db, tenant, tlen, NULL);
		return CAPTURE_REPLY;
	}
	enum tenant_status ts = tenant_of_request(info, msg, len, tenant, tlen);
	flags_get(tenant, &fv);
	switch (fv.write_mode) {
	case FLAGS_WM_DUAL_WRITE:
		return CAPTURE_REPLY;
	case FLAGS_WM_PG_PRIMARY:
	case FLAGS_WM_PG_ONLY:
		if (ts == TENANT_UNRESOLVED)
			return CAPTURE_REPLY;
		*pg_only = fv.write_mode == FLAGS_WM_PG_ONLY;
		return kind == DWTRANS_WRITE ? CAPTURE_SERVE : CAPTURE_REPLY;
	default:
		return CAPTURE_NONE;
	}
}

struct dwjob *dwcapture_request(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
				size_t len)
{
	bool pg_only;
	char tenant[FLAGS_TENANT_NAME_MAX + 1];

	if (!dualwrite_enabled() || info->opcode != WIRE_OP_MSG || !info->command[0])
		return NULL;
	enum dwtrans_kind kind = dwtrans_classify(info->command);
	enum capture_mode mode = kind == DWTRANS_NONE
		? CAPTURE_NONE
		: capture_mode_of(info, msg, len, kind, tenant, sizeof(tenant), &pg_only);
	if (mode == CAPTURE_NONE)
		return NULL;

	struct dwjob *job = calloc(1, sizeof(*job));
	if (job && msgdoc_command(info, msg, len, &job->cmd)) {
		bson_init(&job->reply);
		job->conn = conn;
		job->fseq = dwforward_begin();
		job->sent_us = clock_wall_ns() / 1000u;
		snprintf(job->db, sizeof(job->db), "%s", info->db);
		memcpy(job->tenant, tenant, sizeof(job->tenant));
		if (mode == CAPTURE_SERVE) {
			struct dwtrans_txn s;
			dwtrans_session(&job->cmd, &s);
			/* pg_primary transactions run on MongoDB and are replayed at commit. */
			job->kind = s.in_txn && !pg_only ? DWJOB_CAPTURE : DWJOB_SERVE;
			job->pg_only = pg_only;
			job->request_id = info->header.request_id;
			job->expects_reply = info->expects_reply;
		}
		return job;
	}
	free(job);
	metrics_inc(METRIC_DW_CAPTURE_ERRORS);
	return NULL;
}

void dwcapture_reply(struct dwjob *job, const uint8_t *msg, size_t len)
{
	bson_destroy(&job->reply);
	if (!msgdoc_reply_body(msg, len, &job->reply)) {
		/* MongoDB's answer is unreadable: the outcome is unknown. */
		bson_init(&job->reply);
		metrics_inc(METRIC_DW_CAPTURE_ERRORS);
		job->acknowledged = false;
	} else {
		job->acknowledged = true;
	}
	dualwrite_submit(job);
}

void dwcapture_unacknowledged(struct dwjob *job)
{
	job->acknowledged = false;
	dualwrite_submit(job);
}
