/*
 * pgserve_internal.h - what pgserve.c (intake, replies, mirror, retry
 * cache) and pgserve_exec.c (statements inside a unit) share.
 */
#ifndef TANDEM_PGSERVE_INTERNAL_H
#define TANDEM_PGSERVE_INTERNAL_H

#include "pgserve.h"

#include "mapping.h"
#include "update.h"

enum pgserve_cmd { DWS_INSERT, DWS_UPDATE, DWS_DELETE, DWS_FAM };

/* Per computation of the command (reset when it is computed again). */
struct pgserve_run {
	uint32_t i;               /* statement being computed */
	bson_iter_t it;           /* positioned on statement i (not FAM) */
	bool started;
	int phase;                /* step inside statement i (exec's own) */
	int64_t n, nmod;
	bson_t upserted;          /* [{index, _id}] */
	uint32_t nupserted;
	bson_t errors;            /* writeErrors found while computing */
	uint32_t nerrors;
	bool stop;                /* ordered and statement i failed */
	bson_t found;             /* insert: _ids PostgreSQL already holds */
	bool found_loaded;
	bson_value_t upsert_id;   /* owned: the _id an upsert would insert */
	bool have_upsert_id;
	/* findAndModify */
	bson_t fam;               /* the reply: {lastErrorObject, value} or an error */
	bool fam_error;
	const PGresult *rows;     /* the SELECT's rows, while its callback runs */
	struct mapping_collection scratch;
	const struct mapping_collection *mc;
};

struct pgserve {
	enum pgserve_cmd cmd;
	char cmdname[16];
	char db[128];
	char coll[256];
	bool ordered;
	bool pg_only;
	struct worker *w;
	uint64_t conn;
	int32_t response_to;
	bool expects_reply;
	bool retry;               /* lsid + txnNumber present */
	uint8_t lsid[16];
	int64_t txn;
	uint32_t nstmts;
	uint8_t *excluded;        /* [nstmts]: refused by PostgreSQL at write time */
	uint32_t stop_at;         /* ordered: nothing from this statement on */
	bson_t late;              /* writeErrors from refused statements */
	uint32_t nlate;
	unsigned reruns;
	uint32_t refused_stmt;    /* set by pgserve_refused for the callback that follows */
	int32_t refused_code;
	char refused_msg[512];
	bool applied_before;      /* the marker said so: PostgreSQL kept the first attempt */
	struct pgserve_run run;
	bson_t reply;             /* built when computing ends */
	bson_t mirror_put;        /* final documents (array) */
	bson_t mirror_del;        /* deleted _ids (array) */
	uint32_t nput, ndel;
};

/* Steps inside one statement (run.phase). */
enum { PH_START, PH_ROWS, PH_ID_CHECK };

/* MongoDB error codes a served write answers with. */
#define CODE_BAD_VALUE 2
#define CODE_FAILED_TO_PARSE 9
#define CODE_IMMUTABLE_FIELD 66
#define CODE_VALIDATION 121
#define CODE_NOT_IMPLEMENTED 238
#define CODE_DUPLICATE_KEY 11000

/* ---- pgserve.c: the entry points of pgserve_ops ---- */
/* Take what job needs (the caller frees job) and push the entry, or answer
 * at once (retry cache hit, a command tandem does not serve). */
void pgserve_submit(struct dwapply *a, const struct dwjob *job, const char *node, uint64_t seq);

/* dwapply's done callback for an entry with e->serve: reply, mirror, or
 * compute again; frees e when it is finished with. */
void pgserve_done(struct dwapply *a, struct dwentry *e, enum dwapply_outcome o, const char *why);

/* PostgreSQL refused statement stmt of e's write (UINT32_MAX: unknown). */
void pgserve_refused(struct dwentry *e, uint32_t stmt, const char *sqlstate, const char *message);

/* The unit's marker row existed: an earlier attempt of this retryable
 * write committed (its outcome was in doubt); nothing was written now. */
void pgserve_applied_before(struct dwentry *e);

/* Whether e carries a retryable-write identity (its unit writes a marker). */
bool pgserve_retryable(const struct dwentry *e);

/* Inside a unit (dwapply_op.c, k:"s"): compute the whole command. */
enum dwop_step pgserve_start(struct dwunit *u);

/* ---- pgserve_exec.c: the statement loop, inserts, shared steps ---- */
void pgserve_run_reset(struct pgserve *s);
void pgserve_run_free(struct pgserve_run *r);
const char *pgserve_tenant(const struct dwunit *u);
bool pgserve_sub_doc(const bson_t *parent, const char *key, bson_t *out);
bool pgserve_flag(const bson_t *doc, const char *key);
/* Statement run.i failed: a writeError (findAndModify: a command error);
 * an ordered command stops. */
void pgserve_stmt_error(struct pgserve *s, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pgserve_dup_key(struct pgserve *s, const bson_value_t *id);
void pgserve_update_failed(struct pgserve *s, enum update_status st, const bson_error_t *err);
/* dwstore_put; a row PostgreSQL cannot hold becomes a writeError. */
bool pgserve_put(struct dwunit *u, struct pgserve *s, const bson_t *doc);
/* Submit the SELECT of filter's candidates; the loop continues in its callback. */
bool pgserve_select(struct dwunit *u, const bson_t *filter);
/* The candidates of the SELECT being called back, matched (NULL: none /
 * an error recorded / u failed). */
struct dwcand *pgserve_candidates(struct dwunit *u, struct pgserve *s, const bson_t *filter,
				  size_t *nmatch);
bool pgserve_filter_ok(struct pgserve *s, const bson_t *q);

/* ---- pgserve_stmt.c ---- */
enum dwop_step pgserve_stmt_run(struct dwunit *u, struct pgserve *s, const bson_t *st);

/* ---- pgserve.c ---- */
/* Append a writeError {index, code, errmsg} to arr (count in *n). */
void pgserve_error_append(bson_t *arr, uint32_t *n, uint32_t index, int32_t code,
			  const char *msg);
/* findAndModify's `fields` applied to doc (m: the filter's match, for a
 * positional projection).  False: err has MongoDB's code and message. */
bool pgserve_project(const bson_t *fields, const bson_t *filter, const bson_t *doc,
		     const struct match_result *m, bson_t *out, bson_error_t *err);
/* MongoDB's codeName for the codes a served write uses. */
const char *pgserve_code_name(int32_t code);
/* Build s->reply and the mirror from the run and the unit's overlay. */
void pgserve_build_reply(struct pgserve *s, const struct dwunit *u);

#endif
