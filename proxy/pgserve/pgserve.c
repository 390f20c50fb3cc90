/*
 * pgserve.c - served writes around their computation (pgserve.h): intake
 * and refusals, the reply to the client's worker, the retry cache, the
 * copy to MongoDB behind PostgreSQL (pg_primary), computing again after
 * PostgreSQL refused a statement.  The statements: pgserve_exec.c.
 *
 * Runs on the applier thread only, like the rest of the apply engine.
 */
#include "pgserve_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwtrans.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "opmsg.h"
#include "project.h"

#define RETRY_SLOTS 4096
#define MIRROR_CHUNK 1000

struct retry_slot {
	uint8_t lsid[16];
	int64_t txn;
	bson_t *reply;
};

static struct retry_slot retry_cache[RETRY_SLOTS];
static atomic_int reply_request_id = 1;
static pgserve_reply_fn reply_fn;

void pgserve_set_reply(pgserve_reply_fn fn)
{
	reply_fn = fn;
}

const char *pgserve_code_name(int32_t code)
{
	switch (code) {
	case 2: return "BadValue";
	case 6: return "HostUnreachable";
	case 9: return "FailedToParse";
	case 66: return "ImmutableField";
	case 73: return "InvalidNamespace";
	case 121: return "DocumentValidationFailure";
	case 238: return "NotImplemented";
	case 263: return "OperationNotSupportedInTransaction";
	case 11000: return "DuplicateKey";
	default: return "UnknownError";
	}
}

void pgserve_error_append(bson_t *arr, uint32_t *n, uint32_t index, int32_t code, const char *msg)
{
	bson_t e;
	char key[16];
	const char *k;

	bson_uint32_to_string((*n)++, &k, key, sizeof(key));
	BSON_APPEND_DOCUMENT_BEGIN(arr, k, &e);
	BSON_APPEND_INT32(&e, "index", (int32_t)index);
	BSON_APPEND_INT32(&e, "code", code);
	BSON_APPEND_UTF8(&e, "errmsg", msg);
	bson_append_document_end(arr, &e);
	metrics_inc(METRIC_DW_SERVE_WRITE_ERRORS);
}

/* ---- replies ---- */

static void post(const struct pgserve *s, const bson_t *body)
{
	size_t len;
	uint8_t *msg;

	if (!s->expects_reply || !s->w || !reply_fn)
		return;
	msg = opmsg_encode(atomic_fetch_add(&reply_request_id, 1), s->response_to, 0, body, &len);
	if (msg)
		reply_fn(s->w, s->conn, s->response_to, msg, len);
}

static void post_error(const struct pgserve *s, int32_t code, const char *msg, bool retryable)
{
	bson_t doc, labels;

	opmsg_error_doc(&doc, code, pgserve_code_name(code), msg);
	if (retryable) {
		BSON_APPEND_ARRAY_BEGIN(&doc, "errorLabels", &labels);
		BSON_APPEND_UTF8(&labels, "0", "RetryableWriteError");
		bson_append_array_end(&doc, &labels);
	}
	post(s, &doc);
	bson_destroy(&doc);
}

/* writeErrors of the run and of refused statements, in index order. */
static void merge_errors(const struct pgserve *s, bson_t *out)
{
	bson_iter_t a, b;
	bool ha, hb;
	uint32_t n = 0;
	bson_t arr;

	if (s->run.nerrors + s->nlate == 0)
		return;
	BSON_APPEND_ARRAY_BEGIN(out, "writeErrors", &arr);
	ha = bson_iter_init(&a, &s->run.errors) && bson_iter_next(&a);
	hb = bson_iter_init(&b, &s->late) && bson_iter_next(&b);
	while (ha || hb) {
		bson_iter_t ia, ib;
		int32_t xa = INT32_MAX, xb = INT32_MAX;
		if (ha && bson_iter_recurse(&a, &ia) && bson_iter_find(&ia, "index"))
			xa = bson_iter_int32(&ia);
		if (hb && bson_iter_recurse(&b, &ib) && bson_iter_find(&ib, "index"))
			xb = bson_iter_int32(&ib);
		bson_iter_t *take = ha && (!hb || xa <= xb) ? &a : &b;
		char key[16];
		const char *k;
		uint32_t len;
		const uint8_t *data;
		bson_t d;
		bson_iter_document(take, &len, &data);
		bson_uint32_to_string(n++, &k, key, sizeof(key));
		if (bson_init_static(&d, data, len))
			BSON_APPEND_DOCUMENT(&arr, k, &d);
		if (take == &a)
			ha = bson_iter_next(&a);
		else
			hb = bson_iter_next(&b);
	}
	bson_append_array_end(out, &arr);
}

void pgserve_build_reply(struct pgserve *s, const struct dwunit *u)
{
	const struct pgserve_run *r = &s->run;

	bson_reinit(&s->reply);
	if (s->cmd == DWS_FAM) {
		bson_concat(&s->reply, &r->fam);
		if (!r->fam_error)
			BSON_APPEND_DOUBLE(&s->reply, "ok", 1.0);
	} else {
		BSON_APPEND_INT32(&s->reply, "n", (int32_t)r->n);
		if (s->cmd == DWS_UPDATE) {
			BSON_APPEND_INT32(&s->reply, "nModified", (int32_t)r->nmod);
			if (r->nupserted)
				BSON_APPEND_ARRAY(&s->reply, "upserted", &r->upserted);
		}
		merge_errors(s, &s->reply);
		BSON_APPEND_DOUBLE(&s->reply, "ok", 1.0);
	}
	/* What MongoDB must hold afterwards: the final state by _id. */
	bson_reinit(&s->mirror_put);
	bson_reinit(&s->mirror_del);
	s->nput = s->ndel = 0;
	for (size_t i = 0; i < u->nov; i++) {
		const struct dwoverlay_item *ov = &u->ov[i];
		char key[16];
		const char *k;
		if (strcmp(ov->coll, s->coll) || strcmp(ov->tenant, TAILQ_FIRST(&u->entries)->tenant))
			continue;
		if (ov->doc) {
			bson_uint32_to_string(s->nput++, &k, key, sizeof(key));
			BSON_APPEND_DOCUMENT(&s->mirror_put, k, ov->doc);
		} else {
			bson_uint32_to_string(s->ndel++, &k, key, sizeof(key));
			BSON_APPEND_VALUE(&s->mirror_del, k, &ov->id);
		}
	}
}

/* ---- retries ---- */

/* Keyed (SipHash): the client sends lsid and txnNumber, and a forced
 * collision would evict other sessions' cached replies (their retries
 * would then run again).  The cache lives in this process only. */
static struct retry_slot *retry_slot(const struct pgserve *s)
{
	struct hash_sip h;

	hash_sip_init(&h);
	hash_sip_add(&h, s->lsid, 16);
	hash_sip_add(&h, &s->txn, sizeof s->txn);
	return &retry_cache[hash_sip_end(&h) % RETRY_SLOTS];
}

static const bson_t *retry_find(const struct pgserve *s)
{
	struct retry_slot *r = retry_slot(s);

	if (s->retry && r->reply && r->txn == s->txn && !memcmp(r->lsid, s->lsid, 16))
		return r->reply;
	return NULL;
}

static void retry_store(const struct pgserve *s)
{
	struct retry_slot *r = retry_slot(s);

	if (!s->retry)
		return;
	if (r->reply)
		bson_destroy(r->reply);
	memcpy(r->lsid, s->lsid, 16);
	r->txn = s->txn;
	r->reply = bson_copy(&s->reply);
}

/* ---- MongoDB behind PostgreSQL ---- */

static void mirror_log(const struct pgserve *s, const char *what, const char *error)
{
	struct log_line *l = log_begin(LOG_WARN, "pgserve_mirror_failed", s->conn);

	metrics_inc(METRIC_DW_MIRROR_ERRORS);
	if (l) {
		log_str(l, "db", s->db);
		log_str(l, "coll", s->coll);
		log_str(l, "command", what);
		log_str(l, "error", error);
		log_end(l);
	}
}

/* Run one mirror command; writeErrors and failures are logged. */
static void mirror_run(struct dwapply *a, const struct pgserve *s, const bson_t *cmd,
		       const char *what)
{
	char err[256];
	mongoc_client_t *mc = dwapply_mongo(a, err, sizeof(err));
	bson_t reply;
	bson_error_t e;
	bson_iter_t it;

	if (!mc) {
		mirror_log(s, what, err);
		return;
	}
	if (!mongoc_client_write_command_with_opts(mc, s->db, cmd, NULL, &reply, &e))
		mirror_log(s, what, e.message);
	else if (bson_iter_init_find(&it, &reply, "writeErrors"))
		mirror_log(s, what, "MongoDB reported writeErrors");
	else
		metrics_inc(METRIC_DW_MIRRORED);
	bson_destroy(&reply);
}

/* pg_primary: every document the command changed, by _id, in chunks. */
static void mirror(struct dwapply *a, const struct pgserve *s)
{
	bson_iter_t it;
	bson_t cmd, arr, st, q;
	uint32_t n = 0;
	char key[16];
	const char *k;
	bool put = true;

	for (int pass = 0; pass < 2; pass++, put = false) {
		if (!bson_iter_init(&it, put ? &s->mirror_put : &s->mirror_del))
			continue;
		bool more = bson_iter_next(&it);
		while (more) {
			bson_init(&cmd);
			BSON_APPEND_UTF8(&cmd, put ? "update" : "delete", s->coll);
			BSON_APPEND_ARRAY_BEGIN(&cmd, put ? "updates" : "deletes", &arr);
			for (n = 0; more && n < MIRROR_CHUNK; n++, more = bson_iter_next(&it)) {
				bson_uint32_to_string(n, &k, key, sizeof(key));
				BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &st);
				BSON_APPEND_DOCUMENT_BEGIN(&st, "q", &q);
				if (put) {
					bson_iter_t d;
					uint32_t len;
					const uint8_t *data;
					bson_t doc;
					bson_iter_document(&it, &len, &data);
					if (bson_init_static(&doc, data, len) && bson_iter_init_find(&d, &doc, "_id"))
						BSON_APPEND_VALUE(&q, "_id", bson_iter_value(&d));
					bson_append_document_end(&st, &q);
					BSON_APPEND_DOCUMENT(&st, "u", &doc);
					BSON_APPEND_BOOL(&st, "upsert", true);
				} else {
					BSON_APPEND_VALUE(&q, "_id", bson_iter_value(&it));
					bson_append_document_end(&st, &q);
					BSON_APPEND_INT32(&st, "limit", 1);
				}
				bson_append_document_end(&arr, &st);
			}
			bson_append_array_end(&cmd, &arr);
			BSON_APPEND_BOOL(&cmd, "ordered", false);
			mirror_run(a, s, &cmd, put ? "update" : "delete");
			bson_destroy(&cmd);
		}
	}
}

/* ---- life of a served write ---- */

static void serve_free(struct pgserve *s)
{
	pgserve_run_free(&s->run);
	bson_destroy(&s->late);
	bson_destroy(&s->reply);
	bson_destroy(&s->mirror_put);
	bson_destroy(&s->mirror_del);
	free(s->excluded);
	free(s);
}

static void entry_free(struct dwentry *e)
{
	serve_free(e->serve);
	e->serve = NULL;
	dwentry_free(e);
}

bool pgserve_retryable(const struct dwentry *e)
{
	return e->serve && e->serve->retry;
}

void pgserve_refused(struct dwentry *e, uint32_t stmt, const char *sqlstate, const char *message)
{
	struct pgserve *s = e->serve;
	bool dup = strcmp(sqlstate, "23505") == 0;

	s->refused_stmt = stmt;
	s->refused_code = dup ? 11000 : 121;
	snprintf(s->refused_msg, sizeof(s->refused_msg), "%s collection: %s.%s: PostgreSQL: %s",
		 dup ? "E11000 duplicate key error" : "Document failed validation", s->db, s->coll,
		 message);
}

void pgserve_applied_before(struct dwentry *e)
{
	e->serve->applied_before = true;
}

void pgserve_done(struct dwapply *a, struct dwentry *e, enum dwapply_outcome o, const char *why)
{
	struct pgserve *s = e->serve;
	char msg[512];

	if (o == DWAPPLY_APPLIED) {
		metrics_inc(METRIC_DW_SERVED);
		/* MongoDB before the reply: a read the client sends next and
		 * MongoDB serves sees the write too. */
		if (!s->pg_only && !s->applied_before && (s->nput || s->ndel))
			mirror(a, s);
		post(s, &s->reply);
		retry_store(s);
		entry_free(e);
		return;
	}
	if (o == DWAPPLY_PERMANENT && s->cmd != DWS_FAM && s->refused_stmt < s->nstmts &&
	    s->reruns++ <= s->nstmts) {
		/* That statement fails; the command is computed again without it
		 * (an ordered one up to it). */
		pgserve_error_append(&s->late, &s->nlate, s->refused_stmt, s->refused_code,
				     s->refused_msg);
		if (s->ordered || s->cmd == DWS_FAM)
			s->stop_at = s->refused_stmt;
		s->excluded[s->refused_stmt] = 1;
		s->refused_stmt = UINT32_MAX;
		dwapply_push_front(a, e);
		return;
	}
	if (o == DWAPPLY_PERMANENT) {
		if (s->refused_stmt != UINT32_MAX)
			post_error(s, s->refused_code, s->refused_msg, false);
		else {
			snprintf(msg, sizeof(msg), "PostgreSQL refused the write: %s", why ? why : "");
			post_error(s, 121, msg, false);
		}
	} else {
		metrics_inc(METRIC_DW_SERVE_FAILED);
		snprintf(msg, sizeof(msg), "tandem: PostgreSQL (write_mode %s) did not take the write: %s",
			 s->pg_only ? "pg_only" : "pg_primary", why ? why : "unknown");
		post_error(s, 6, msg, true);
	}
	entry_free(e);
}

/* ---- intake ---- */

static const struct {
	const char *name;
	enum pgserve_cmd cmd;
	const char *array;
} commands[] = {
	{"insert", DWS_INSERT, "documents"},
	{"update", DWS_UPDATE, "updates"},
	{"delete", DWS_DELETE, "deletes"},
	{"findAndModify", DWS_FAM, NULL},
	{"findandmodify", DWS_FAM, NULL},
};

/* Whether key occurs in the command's statements (collation). */
static bool uses(const bson_t *cmd, const char *array, const char *key)
{
	bson_iter_t it, st, f;

	if (bson_iter_init_find(&it, cmd, key))
		return true;
	if (!array || !bson_iter_init_find(&it, cmd, array) || !bson_iter_recurse(&it, &st))
		return false;
	while (bson_iter_next(&st))
		if (BSON_ITER_HOLDS_DOCUMENT(&st) && bson_iter_recurse(&st, &f) && bson_iter_find(&f, key))
			return true;
	return false;
}

/* Fill s from job; false (s->reply set to an error) when not served. */
static bool serve_parse(struct pgserve *s, const struct dwjob *job, int32_t *code,
			const char **why)
{
	bson_iter_t it;
	const char *array = NULL;
	struct dwtrans_txn t;

	*why = NULL;
	if (!bson_iter_init(&it, &job->cmd) || !bson_iter_next(&it))
		return *code = 9, *why = "empty command", false;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(bson_iter_key(&it), commands[i].name)) {
			s->cmd = commands[i].cmd;
			array = commands[i].array;
			snprintf(s->cmdname, sizeof(s->cmdname), "%s", commands[i].name);
			*why = "";
		}
	if (!*why)
		return *code = 238, *why = "tandem does not serve this command from PostgreSQL", false;
	if (!BSON_ITER_HOLDS_UTF8(&it) || !bson_iter_utf8(&it, NULL)[0])
		return *code = 73, *why = "collection name must be a non-empty string", false;
	snprintf(s->coll, sizeof(s->coll), "%s", bson_iter_utf8(&it, NULL));
	snprintf(s->db, sizeof(s->db), "%s", job->db);
	dwtrans_session(&job->cmd, &t);
	if (t.in_txn)
		return *code = 263, *why = "tandem: transactions are not supported in write_mode pg_only", false;
	if (uses(&job->cmd, array, "collation"))
		return *code = 238, *why = "tandem: collation is not supported when PostgreSQL answers writes", false;
	s->retry = t.has_lsid && t.has_txn;
	memcpy(s->lsid, t.lsid, 16);
	s->txn = t.txn_number;
	s->ordered = !bson_iter_init_find(&it, &job->cmd, "ordered") || bson_iter_as_bool(&it);
	s->nstmts = 1;
	if (array) {
		bson_iter_t arr;
		if (!bson_iter_init_find(&it, &job->cmd, array) || !BSON_ITER_HOLDS_ARRAY(&it) ||
		    !bson_iter_recurse(&it, &arr))
			return *code = 9, *why = "the statements must be an array", false;
		s->nstmts = 0;
		while (bson_iter_next(&arr))
			s->nstmts++;
	}
	s->stop_at = UINT32_MAX;
	s->refused_stmt = UINT32_MAX;
	return (s->excluded = calloc(s->nstmts + 1, 1)) != NULL ||
	       (*code = 6, *why = "out of memory", false);
}

void pgserve_submit(struct dwapply *a, const struct dwjob *job, const char *node, uint64_t seq)
{
	struct pgserve *s = calloc(1, sizeof(*s));
	struct dwentry *e = NULL;
	const bson_t *cached;
	const char *why;
	int32_t code;

	if (!s)
		return;
	bson_init(&s->late);
	bson_init(&s->reply);
	bson_init(&s->mirror_put);
	bson_init(&s->mirror_del);
	s->w = job->w;
	s->conn = job->conn;
	s->response_to = job->request_id;
	s->expects_reply = job->expects_reply;
	s->pg_only = job->pg_only;
	if (!serve_parse(s, job, &code, &why)) {
		post_error(s, code, why, false);
		serve_free(s);
		return;
	}
	if ((cached = retry_find(s))) {
		metrics_inc(METRIC_DW_SERVE_RETRIES);
		post(s, cached);
		serve_free(s);
		return;
	}
	if (!(e = dwentry_new())) {
		post_error(s, 6, "tandem: out of memory", true);
		serve_free(s);
		return;
	}
	BSON_APPEND_UTF8(&e->op, "k", "s");
	BSON_APPEND_UTF8(&e->op, "db", s->db);
	BSON_APPEND_UTF8(&e->op, "c", s->coll);
	BSON_APPEND_DOCUMENT(&e->op, "cmd", &job->cmd);
	snprintf(e->tenant, sizeof(e->tenant), "%s", job->db);
	if (s->retry) {
		char *p = e->key + snprintf(e->key, sizeof(e->key), "s:");
		for (int i = 0; i < 16; i++)
			p += sprintf(p, "%02x", s->lsid[i]);
		snprintf(p, sizeof(e->key) - (size_t)(p - e->key), ":%lld", (long long)s->txn);
	} else {
		snprintf(e->key, sizeof(e->key), "%s:%llu", node, (unsigned long long)seq);
	}
	e->ts_ms = job->ack_seq;
	e->serve = s;
	dwapply_push(a, e);
}

bool pgserve_project(const bson_t *fields, const bson_t *filter, const bson_t *doc,
		     const struct match_result *m, bson_t *out, bson_error_t *err)
{
	struct project *p = NULL;
	enum project_status st = project_compile(fields, filter, &p, err);

	if (st == PROJECT_OK)
		st = project_apply(p, doc, m, out, err);
	else
		bson_init(out);
	project_free(p);
	if (st == PROJECT_UNSUPPORTED)
		err->code = 238;
	else if (st == PROJECT_ERROR && err->code < 2)
		err->code = 2;
	return st == PROJECT_OK;
}

const struct dwserve_ops pgserve_ops = {
	.submit = pgserve_submit,
	.done = pgserve_done,
	.start = pgserve_start,
	.retryable = pgserve_retryable,
	.refused = pgserve_refused,
	.applied_before = pgserve_applied_before,
};
