/*
 * dwapply_internal.h - what dwapply*.c share; not part of the API.
 *
 *   dwapply.c         the engine: entry queue, units, batches, callbacks
 *   dwapply_op.c      one operation: candidates, match, update, statements
 *   dwapply_resync.c  re-reading documents from MongoDB; resync horizons
 *   dwapply_store.c   tables: default-table DDL on first use, the overlay
 *
 * A unit is in exactly one place: being built (a->building when it reads;
 * u->st NEW .. FAILED_PERMANENT), in flight (a->inflight: IN_FLIGHT, DONE)
 * or being called back (CALLBACK).  While a unit with reads exists no
 * other unit is started, so its SELECTs see every earlier write.
 */
#ifndef TANDEM_DWAPPLY_INTERNAL_H
#define TANDEM_DWAPPLY_INTERNAL_H

#include "dwapply.h"
#include "dwunit.h"

#include <libpq-fe.h>
#include <mongoc/mongoc.h>

#include "pgpool.h"

#define DWAPPLY_MAX_HORIZONS 4096
#define DWAPPLY_HORIZON_GRACE_MS 1000

/* What PostgreSQL holds of a document after a resync wrote it: MongoDB's
 * state as read between start_ms and end_ms (start_ms 0: read at an unknown
 * time up to end_ms).  A resync's horizon is tentative (unit set) until
 * its unit commits: see dwhorizon_settle. */
struct dwhorizon {
	char *key;                /* tenant \x1f coll \x1f hex(id value) */
	uint64_t start_ms, end_ms;
	const struct dwunit *unit; /* not yet committed: the unit whose resync set it */
	bool had_prev;            /* tentative: a committed horizon it replaced ... */
	uint64_t prev_start_ms, prev_end_ms; /* ... and its bounds, restored if unit fails */
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
	struct dwunit *building;   /* a read unit being computed (it may wait for a SELECT) */
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

/* ---- dwapply_coalesce.c ---- */
/* Fill b from u->writes (after the marker), merging runs of identical
 * upserts when merge is true. */
bool dwcoalesce_fill(struct dwunit *u, struct pgbatch *b, bool merge)
	__attribute__((warn_unused_result));
/* The entry batch statement stmt (marker excluded) belongs to, -1 when it
 * merged rows of several entries. */
int dwcoalesce_entry(const struct dwunit *u, int stmt);

/* ---- dwapply_op.c ---- */
/* True when the op only inserts (no SELECT needed). */
bool dwop_is_insert(const bson_t *op);

/* ---- dwapply_resync.c ---- */
enum dwhorizon_verdict { DWH_APPLY, DWH_SKIP, DWH_RESYNC };
/* How op entry e (acknowledged at e->ts_ms) treats document id after
 * earlier resyncs, and after a write applied to id that was at MongoDB
 * together with e (RESYNC: their order is unknown). */
enum dwhorizon_verdict dwhorizon_check(struct dwapply *a, const struct dwentry *e, const char *coll,
				       const bson_value_t *id);
/* Whether a resync of tenant/coll read MongoDB after ts_ms (then rows may
 * already hold later writes, and counts cannot be compared). */
bool dwhorizon_after(struct dwapply *a, const char *tenant, const char *coll, uint64_t ts_ms);
/* How a unit that may have set horizons ended. */
enum dwhorizon_end {
	DWH_END_COMMITTED,        /* its own transaction committed: the horizons hold */
	DWH_END_DISCARDED,        /* not committed (transient, permanent, split): restored */
	DWH_END_APPLIED_BEFORE,   /* its marker existed: an earlier attempt committed rows
	                           * read at an unknown time; later ops are re-read */
};
/* Confirm or undo the horizons u's resyncs set (called once per unit,
 * when its outcome is known). */
void dwhorizon_settle(struct dwapply *a, const struct dwunit *u, enum dwhorizon_end how);
/* Re-read ids (a BSON array of _id values) of db.coll from MongoDB and
 * write what it holds (deleting what it no longer has).  False: u failed. */
bool dwresync(struct dwunit *u, const struct mapping_collection *mc, const char *tenant,
	      const char *db, const char *coll, const bson_t *ids, const char *why);

#endif
