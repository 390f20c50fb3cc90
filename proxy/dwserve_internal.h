/*
 * dwserve_internal.h - what dwserve.c (intake, replies, mirror, retry
 * cache) and dwserve_exec.c (statements inside a unit) share.
 */
#ifndef TANDEM_DWSERVE_INTERNAL_H
#define TANDEM_DWSERVE_INTERNAL_H

#include "dwserve.h"

#include "mapping.h"
#include "update.h"

enum dwserve_cmd { DWS_INSERT, DWS_UPDATE, DWS_DELETE, DWS_FAM };

/* Per computation of the command (reset when it is computed again). */
struct dwserve_run {
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

struct dwserve {
	enum dwserve_cmd cmd;
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
	uint32_t refused_stmt;    /* set by dwserve_refused for the callback that follows */
	int32_t refused_code;
	char refused_msg[512];
	bool applied_before;      /* the marker said so: PostgreSQL kept the first attempt */
	struct dwserve_run run;
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

/* ---- dwserve_exec.c: the statement loop, inserts, shared steps ---- */
void dwserve_run_reset(struct dwserve *s);
void dwserve_run_free(struct dwserve_run *r);
const char *dwserve_tenant(const struct dwunit *u);
bool dwserve_sub_doc(const bson_t *parent, const char *key, bson_t *out);
bool dwserve_flag(const bson_t *doc, const char *key);
/* Statement run.i failed: a writeError (findAndModify: a command error);
 * an ordered command stops. */
void dwserve_stmt_error(struct dwserve *s, int32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dwserve_dup_key(struct dwserve *s, const bson_value_t *id);
void dwserve_update_failed(struct dwserve *s, enum update_status st, const bson_error_t *err);
/* dwstore_put; a row PostgreSQL cannot hold becomes a writeError. */
bool dwserve_put(struct dwunit *u, struct dwserve *s, const bson_t *doc);
/* Submit the SELECT of filter's candidates; the loop continues in its callback. */
bool dwserve_select(struct dwunit *u, const bson_t *filter);
/* The candidates of the SELECT being called back, matched (NULL: none /
 * an error recorded / u failed). */
struct dwcand *dwserve_candidates(struct dwunit *u, struct dwserve *s, const bson_t *filter,
				  size_t *nmatch);
bool dwserve_filter_ok(struct dwserve *s, const bson_t *q);

/* ---- dwserve_stmt.c ---- */
enum dwop_step dwserve_stmt_run(struct dwunit *u, struct dwserve *s, const bson_t *st);

/* ---- dwserve.c ---- */
/* Append a writeError {index, code, errmsg} to arr (count in *n). */
void dwserve_error_append(bson_t *arr, uint32_t *n, uint32_t index, int32_t code,
			  const char *msg);
/* findAndModify's `fields` applied to doc (m: the filter's match, for a
 * positional projection).  False: err has MongoDB's code and message. */
bool dwserve_project(const bson_t *fields, const bson_t *filter, const bson_t *doc,
		     const struct match_result *m, bson_t *out, bson_error_t *err);
/* MongoDB's codeName for the codes a served write uses. */
const char *dwserve_code_name(int32_t code);
/* Build s->reply and the mirror from the run and the unit's overlay. */
void dwserve_build_reply(struct dwserve *s, const struct dwunit *u);

#endif
