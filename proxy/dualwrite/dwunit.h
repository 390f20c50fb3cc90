/*
 * dwunit.h - the apply unit, for code that computes a write inside one:
 * dwapply_op.c here, and the served writes of proxy/pgserve (pg_primary /
 * pg_only), which the engine calls through struct dwserve_ops so that this
 * folder does not depend on that one.
 *
 * A unit is one PostgreSQL transaction: its operations are computed in
 * order (SELECT candidates, decode, match and update in C, with an overlay
 * of the unit's own earlier results), their statements collected in
 * u->writes, and sent as one write batch at the end (dwapply_internal.h).
 */
#ifndef TANDEM_DWUNIT_H
#define TANDEM_DWUNIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <bson/bson.h>
#include <libpq-fe.h>
#include <mongoc/mongoc.h>

#include "dwapply.h"
#include "mapping.h"
#include "match.h"
#include "sqllist.h"

struct dwjob;
struct pgbatch;
struct pgpool_result;

/* What a unit knows of documents it already changed (a transaction may
 * read its own writes): key -> document, NULL doc = deleted. */
struct dwoverlay_item {
	char *coll;
	char *tenant;
	bson_value_t id;          /* owned copy */
	bson_t *doc;
};

/* Where a unit is.  dwapply.c's unit_set_state() is the only place that
 * changes u->st; it keeps a->building, a->inflight and a->ninflight right.
 *
 *   NEW --> COMPUTING <--dwunit_select / dwunit_select_done--> SELECTING
 *             |    \--dwunit_fail*--> FAILED | FAILED_PERMANENT
 *             v                               |
 *   unit_submit: IN_FLIGHT (a batch to send) or DONE (nothing to send, failed)
 *   IN_FLIGHT --batch_done--> DONE --head of a->inflight--> CALLBACK
 *   reject (entry not admitted): NEW --> DONE
 */
enum dwunit_state {
	DWUNIT_ST_NEW,            /* entries being gathered (pump, reject); on no list */
	DWUNIT_ST_COMPUTING,      /* ops being computed in order (a->building when it reads) */
	DWUNIT_ST_SELECTING,      /* waiting for the current op's SELECT (a->building) */
	DWUNIT_ST_FAILED,         /* computing failed (why): the rest is skipped, the unit
	                           * is called back TRANSIENT */
	DWUNIT_ST_FAILED_PERMANENT, /* computing failed for good (e.g. a document no row can
	                           * hold): entry bad_entry is dead-lettered, the others
	                           * computed again; a served write may take it back
	                           * (dwunit_recover_permanent) */
	DWUNIT_ST_IN_FLIGHT,      /* in a->inflight, its write batch in the pool */
	DWUNIT_ST_DONE,           /* in a->inflight, outcome known: called back when it
	                           * reaches the head */
	DWUNIT_ST_CALLBACK,       /* off every list: its entries are called back, then freed */
};

const char *dwunit_state_to_str(enum dwunit_state st);

struct dwunit {
	enum dwunit_state st;     /* unit_set_state() only */
	struct dwapply *a;
	struct dwentry_list entries;
	unsigned n;
	bool reads;               /* has an op that SELECTs: a barrier */
	bool marker;              /* writes tandem_applied first */
	bool overlay;             /* a transaction: later ops read earlier ones' results */
	struct sqllist writes;
	unsigned *stmt_entry;     /* statement -> entry index (error attribution) */
	uint32_t *stmt_tag;       /* statement -> served write's statement index */
	uint32_t serve_stmt;      /* served write: the statement being computed */
	bool serve;               /* a served write (k:"s"): no merging, answers the client */
	size_t *from;             /* batch statement i = writes from[i] .. from[i+1]-1 */
	size_t nbatch;
	size_t stmt_cap;
	struct dwentry *cur;      /* entry being computed */
	unsigned cur_index;
	bson_iter_t txn_it;       /* k:"t": position in ops */
	bool in_txn;
	bson_t cur_op;            /* the op being computed (static view) */
	struct dwoverlay_item *ov;
	size_t nov, ov_cap;
	char why[256];            /* FAILED*, and DONE unless APPLIED */
	enum dwapply_outcome outcome; /* DONE */
	unsigned bad_entry;       /* PERMANENT: the entry to dead-letter (index in entries) */
	TAILQ_ENTRY(dwunit) link;
};
TAILQ_HEAD(dwunit_list, dwunit);

/* Submit the current op's SELECT (b) through the engine's pool; the unit
 * waits for it (SELECTING).  True: the pool owns b, and cb (never called
 * from in here) starts with dwunit_select_done and ends with dwunit_resume
 * (or another SELECT).  False: the caller still owns b. */
bool dwunit_select(struct dwunit *u, struct pgbatch *b,
		   void (*cb)(const struct pgpool_result *res, void *arg), void *arg)
	__attribute__((warn_unused_result));
/* In a SELECT's callback: the unit computes again. */
void dwunit_select_done(struct dwunit *u);

/* Add stmts to the unit's write batch, attributed to the current entry. */
bool dwunit_add_writes(struct dwunit *u, struct sqllist *l);
/* The current op's SELECT came back (or failed): continue the unit. */
void dwunit_resume(struct dwunit *u);
/* Computing failed (the first failure wins): the unit is TRANSIENT. */
void dwunit_fail(struct dwunit *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The current entry can never be applied: it is dead-lettered, the others
 * of the unit are computed again. */
void dwunit_fail_permanent(struct dwunit *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Whether computing failed (transient or permanent): stop computing. */
static inline bool dwunit_failed(const struct dwunit *u)
{
	return u->st == DWUNIT_ST_FAILED || u->st == DWUNIT_ST_FAILED_PERMANENT;
}
/* A served write answers the current entry's permanent failure itself (a
 * writeError; u->why says what): the unit computes on.  False when u did
 * not fail permanently. */
bool dwunit_recover_permanent(struct dwunit *u);

enum dwop_step { DWOP_DONE, DWOP_WAIT, DWOP_FAILED };
/* Start computing u->cur_op; DWOP_WAIT when a SELECT was submitted. */
enum dwop_step dwop_start(struct dwunit *u);

/* A decoded row that matched (or not yet judged) a filter. */
struct dwcand {
	bson_t *doc;              /* owned (heap: moved by pointer) */
	struct match_result m;
};
/* Decode a SELECT's rows of coll, lay the unit's overlay over them and
 * match filter: the *nmatch matching ones first, in row order (the
 * overlay's documents after the rows).  NULL on out of memory; a stored
 * row that cannot be decoded fails u permanently.  *unsupported: some
 * document could not be judged (MATCH_UNSUPPORTED / MATCH_ERROR). */
struct dwcand *dwop_candidates(struct dwunit *u, const struct mapping_collection *mc,
			       const char *coll, const bson_t *filter, const PGresult *r,
			       size_t *nmatch, bool *unsupported);
void dwcands_free(struct dwcand *c, size_t n);

/* The collection's storage (mapped or default); default tables are created
 * on first use.  NULL + u failed on error. */
const struct mapping_collection *dwstore_collection(struct dwunit *u, const char *coll,
						    struct mapping_collection *scratch);
void dwoverlay_set(struct dwunit *u, const char *tenant, const char *coll, const bson_value_t *id,
		   const bson_t *doc);
/* -1: not in the overlay; 0: deleted; 1: *doc points at the overlay's copy. */
int dwoverlay_get(const struct dwunit *u, const char *tenant, const char *coll,
		  const bson_value_t *id, const bson_t **doc);
void dwoverlay_free(struct dwunit *u);
/* Put / delete through the unit (statements + overlay). */
bool dwstore_put(struct dwunit *u, const struct mapping_collection *mc, const char *tenant,
		 const bson_t *doc);
bool dwstore_delete(struct dwunit *u, const struct mapping_collection *mc, const char *tenant,
		    const bson_value_t *id);

/* The applier's MongoDB client (created on first use; blocking calls). */
mongoc_client_t *dwapply_mongo(struct dwapply *a, char *err, size_t errlen);

/* A served write (e->serve) is computed and answered by the code that
 * serves it; the engine and the applier thread call it here.  Installed
 * with dualwrite_start (NULL: nothing is served, e.g. tandemctl). */
struct dwserve_ops {
	/* Applier thread: take what job needs and push its entry (or answer at
	 * once); seq numbers the entry for its applied marker. */
	void (*submit)(struct dwapply *a, const struct dwjob *job, const char *node, uint64_t seq);
	/* The engine's verdict on the entry: reply, mirror, or compute again. */
	void (*done)(struct dwapply *a, struct dwentry *e, enum dwapply_outcome o, const char *why);
	/* Inside its unit: compute the whole command. */
	enum dwop_step (*start)(struct dwunit *u);
	/* Whether e carries a retryable-write identity (its unit writes a marker). */
	bool (*retryable)(const struct dwentry *e);
	/* PostgreSQL refused statement stmt of e (UINT32_MAX: unknown). */
	void (*refused)(struct dwentry *e, uint32_t stmt, const char *sqlstate, const char *message);
	/* The unit's marker row existed: an earlier attempt committed. */
	void (*applied_before)(struct dwentry *e);
};

#endif
