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

#include "dwtrans.h"
#include "flags.h"
#include "log.h"
#include "metrics.h"
#include "opcomp.h"
#include "opmsg.h"

/* What to do with a command of db now.  bulkWrite runs on admin and names
 * its namespaces inside: always captured, judged per op later.  In
 * pg_primary / pg_only a plain write is served by PostgreSQL (dwserve.h);
 * DDL and writes inside a transaction still go to MongoDB and are captured
 * (dwserve answers pg_only transactions with an error). */
enum capture_mode { CAPTURE_NONE, CAPTURE_REPLY, CAPTURE_SERVE };

static enum capture_mode capture_db(const char *db, enum dwtrans_kind kind, bool *pg_only)
{
	struct flags_view fv;

	*pg_only = false;
	if ((kind != DWTRANS_WRITE && kind != DWTRANS_DDL) || strcmp(db, "admin") == 0)
		return CAPTURE_REPLY;
	flags_get(db, &fv);
	switch (fv.write_mode) {
	case FLAGS_WM_DUAL_WRITE:
		return CAPTURE_REPLY;
	case FLAGS_WM_PG_PRIMARY:
	case FLAGS_WM_PG_ONLY:
		*pg_only = fv.write_mode == FLAGS_WM_PG_ONLY;
		return kind == DWTRANS_WRITE ? CAPTURE_SERVE : CAPTURE_REPLY;
	default:
		return CAPTURE_NONE;
	}
}

/* body + sequences -> one document. */
static bool merge_command(const struct opmsg_view *v, bson_t *out)
{
	bson_t body;

	if (!bson_init_static(&body, v->body, v->body_len))
		return false;
	bson_init(out);
	bson_copy_to_excluding_noinit(&body, out, "$db", NULL);
	for (unsigned i = 0; i < v->nseq; i++) {
		const struct opmsg_sequence *s = &v->seq[i];
		bson_t arr;
		char key[16];
		const char *k;
		size_t off = 0;

		bson_append_array_begin(out, s->identifier, -1, &arr);
		for (uint32_t n = 0; off + 4 <= s->docs_len; n++) {
			uint32_t dlen = (uint32_t)wire_load_i32(s->docs + off);
			bson_t d;

			if (dlen < 5 || dlen > s->docs_len - off ||
			    !bson_init_static(&d, s->docs + off, dlen))
				break;   /* inspect validated it; never happens */
			bson_uint32_to_string(n, &k, key, sizeof(key));
			bson_append_document(&arr, k, -1, &d);
			off += dlen;
		}
		bson_append_array_end(out, &arr);
	}
	return true;
}

bool dwcapture_command(const struct msg_info *info, const uint8_t *msg, size_t len, bson_t *cmd)
{
	uint8_t *plain = NULL;
	size_t plain_len;
	struct opmsg_view v;
	bool ok;

	if (info->compressed) {
		struct opcomp_view cv;
		if (opcomp_parse(msg, len, WIRE_MAX_MESSAGE_DEFAULT, &cv) != WIRE_OK ||
		    opcomp_decompress(&cv, &plain, &plain_len) != WIRE_OK)
			return false;
		msg = plain;
		len = plain_len;
	}
	ok = opmsg_parse(msg, len, &v) == WIRE_OK && merge_command(&v, cmd);
	free(plain);
	return ok;
}

struct dwjob *dwcapture_request(uint64_t conn, const struct msg_info *info, const uint8_t *msg,
				size_t len)
{
	bool pg_only;

	if (!dualwrite_enabled() || info->opcode != WIRE_OP_MSG || !info->command[0])
		return NULL;
	enum dwtrans_kind kind = dwtrans_classify(info->command);
	enum capture_mode mode = kind == DWTRANS_NONE ? CAPTURE_NONE
						      : capture_db(info->db, kind, &pg_only);
	if (mode == CAPTURE_NONE)
		return NULL;

	struct dwjob *job = calloc(1, sizeof(*job));
	if (job && dwcapture_command(info, msg, len, &job->cmd)) {
		bson_init(&job->reply);
		job->conn = conn;
		snprintf(job->db, sizeof(job->db), "%s", info->db);
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

bool dwcapture_reply_body(const uint8_t *msg, size_t len, bson_t *out)
{
	uint8_t *plain = NULL;
	size_t plain_len;
	struct wire_header h;
	struct opmsg_view v;
	bson_t body;
	bool ok = false;

	wire_header_read(msg, &h);
	if (h.opcode == WIRE_OP_COMPRESSED) {
		struct opcomp_view cv;
		if (opcomp_parse(msg, len, WIRE_MAX_MESSAGE_DEFAULT, &cv) != WIRE_OK ||
		    opcomp_decompress(&cv, &plain, &plain_len) != WIRE_OK)
			return false;
		msg = plain;
		len = plain_len;
	}
	if (opmsg_parse(msg, len, &v) == WIRE_OK && bson_init_static(&body, v.body, v.body_len) &&
	    bson_validate(&body, BSON_VALIDATE_NONE, NULL)) {
		bson_copy_to(&body, out);
		ok = true;
	}
	free(plain);
	return ok;
}

void dwcapture_reply(struct dwjob *job, const uint8_t *msg, size_t len)
{
	bson_destroy(&job->reply);
	if (!dwcapture_reply_body(msg, len, &job->reply)) {
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
