/*
 * dwapply_internal.h - what dwapply*.c share; not part of the API.
 *
 *   dwapply.c         the engine: entry queue, units, batches, callbacks
 *   dwapply_op.c      one operation: candidates, match, update, statements
 *   dwapply_resync.c  re-reading documents from MongoDB; resync horizons
 *   dwapply_store.c   tables: default-table DDL on first use, the overlay
 *
 * A unit is in exactly one place: being built (a->building), in flight
 * (a->inflight) or being called back.  While a unit with reads exists no
 * other unit is started, so its SELECTs see every earlier write.
 */
#ifndef TANDEM_DWAPPLY_INTERNAL_H
#define TANDEM_DWAPPLY_INTERNAL_H

#include "dwapply.h"

#include <libpq-fe.h>
#include <mongoc/mongoc.h>

#include "mapping.h"
#include "match.h"
#include "pgpool.h"
#include "sqllist.h"

#define DWAPPLY_MAX_HORIZONS 4096
#define DWAPPLY_HORIZON_GRACE_MS 1000

/* What a unit knows of documents it already changed (a transaction may
 * read its own writes): key -> document, NULL doc = deleted. */
struct dwoverlay_item {
	char *coll;
	char *tenant;
	bson_value_t id;          /* owned copy */
	bson_t *doc;
};

struct dwunit {
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
	bool failed;              /* compute failed: transient for the whole unit */
	char why[256];
	bool done;                /* outcome known; called back when it reaches the head */
	enum dwapply_outcome outcome;
	unsigned bad_entry;       /* PERMANENT: the entry to dead-letter (index in entries) */
	bool permanent;           /* computing failed for good (e.g. a document no row can hold) */
	TAILQ_ENTRY(dwunit) link;
};
TAILQ_HEAD(dwunit_list, dwunit);

struct dwhorizon {
	char *key;                /* tenant \x1f coll \x1f hex(id value) */
	uint64_t start_ms, end_ms;
};

struct dwapply {
	struct event_base *base;
	struct pgpool *pool;
	struct dwapply_opts o;
	char *conninfo, *mongo_uri;
	struct dwentry_list queue;
	unsigned nqueue;
	struct dwunit_list inflight;
	unsigned ninflight;
	struct dwunit *building;   /* a read unit waiting for a SELECT */
	unsigned pending;
	struct event *kick;
	bool pg_down;
	mongoc_client_t *mongo;
	PGconn *ddl;               /* blocking, for CREATE TABLE IF NOT EXISTS */
	char **known;              /* tables ensured */
	size_t nknown, known_cap;
	unsigned plain;            /* entries to run unmerged (after a merged statement failed) */
	struct dwhorizon horizons[DWAPPLY_MAX_HORIZONS];
	size_t nhorizons;
};

/* ---- dwapply.c ---- */
uint64_t dwapply_now_ms(void);
/* Add stmts to the unit's write batch, attributed to the current entry. */
bool dwunit_add_writes(struct dwunit *u, struct sqllist *l);
/* The current op's SELECT came back (or failed): continue the unit. */
void dwunit_resume(struct dwunit *u);
void dwunit_fail(struct dwunit *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The current entry can never be applied: it is dead-lettered, the others
 * of the unit are computed again. */
void dwunit_fail_permanent(struct dwunit *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- dwapply_coalesce.c ---- */
/* Fill b from u->writes (after the marker), merging runs of identical
 * upserts when merge is true. */
bool dwcoalesce_fill(struct dwunit *u, struct pgbatch *b, bool merge)
	__attribute__((warn_unused_result));
/* The entry batch statement stmt (marker excluded) belongs to, -1 when it
 * merged rows of several entries. */
int dwcoalesce_entry(const struct dwunit *u, int stmt);

/* ---- dwapply_op.c ---- */
enum dwop_step { DWOP_DONE, DWOP_WAIT, DWOP_FAILED };
/* Start computing u->cur_op; DWOP_WAIT when a SELECT was submitted. */
enum dwop_step dwop_start(struct dwunit *u);
/* True when the op only inserts (no SELECT needed). */
bool dwop_is_insert(const bson_t *op);

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

/* ---- dwapply_store.c ---- */
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

/* ---- dwapply_resync.c ---- */
/* The applier's MongoDB client (created on first use; blocking calls). */
mongoc_client_t *dwapply_mongo(struct dwapply *a, char *err, size_t errlen);
enum dwhorizon_verdict { DWH_APPLY, DWH_SKIP, DWH_RESYNC };
/* How an op acknowledged at ts_ms treats document id after earlier resyncs. */
enum dwhorizon_verdict dwhorizon_check(struct dwapply *a, const char *tenant, const char *coll,
				       const bson_value_t *id, uint64_t ts_ms);
/* Whether a resync of tenant/coll read MongoDB after ts_ms (then rows may
 * already hold later writes, and counts cannot be compared). */
bool dwhorizon_after(struct dwapply *a, const char *tenant, const char *coll, uint64_t ts_ms);
/* Re-read ids (a BSON array of _id values) of db.coll from MongoDB and
 * write what it holds (deleting what it no longer has).  False: u failed. */
bool dwresync(struct dwunit *u, const struct mapping_collection *mc, const char *tenant,
	      const char *db, const char *coll, const bson_t *ids, const char *why);

#endif
