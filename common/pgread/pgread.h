/*
 * pgread.h - one read command answered from PostgreSQL, the part the
 * shadow runner and the served-read thread share:
 *
 *   pgread_plan     cmd -> readexec plan (+ agg_check, the pushed-down
 *                   filter, the collections to fetch: [0] main, then
 *                   $lookup's), or the stable reason it cannot be computed
 *   pgread_select   collection i -> one read pgbatch (rowstore_select: a
 *                   superset of the candidates, $1 = the tenant's db;
 *                   pgbatch_read_only: prepared once per connection)
 *   pgread_decode   the SELECT's rows -> set i (rowstore_decode)
 *   pgread_result   every set fetched -> the documents (find, aggregate)
 *                   or mongod's whole reply (count, distinct), or mongod's
 *                   error for a read mongod would fail
 *   pgread_reply    the same as mongod's first reply (shadow's comparison)
 *
 * No I/O and no globals: the caller owns the event loop, the pool and the
 * timers.  A struct pgread holds views into the command it was planned
 * from: the command must outlive it.  Memory: max_rows candidates per set
 * (the caller checks pgread_set_size after each decode).
 */
#ifndef TANDEM_PGREAD_H
#define TANDEM_PGREAD_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

#include "aggregate.h"
#include "mapping.h"
#include "readexec.h"

struct pgbatch;
struct pg_result;

#define PGREAD_MAX_COLLS (1 + AGG_MAX_LOOKUPS)

/* The decoded candidates of one collection. */
struct pgread_set {
	bson_t **docs;
	size_t n, cap;
};

/* The members of struct pgread, as a list, so that a user may embed them
 * both by name and anonymously (shadow's struct shrun does). */
#define PGREAD_MEMBERS                                                                      \
	struct readexec_plan plan;                                                          \
	bool have_plan;                                                                     \
	bson_t filter;                          /* pushed down for colls[0] (owned) */      \
	struct agg_info agg;                                                                \
	const char *colls[PGREAD_MAX_COLLS];    /* [0] main; then $lookup's */              \
	size_t ncolls;                                                                      \
	struct pgread_set sets[PGREAD_MAX_COLLS];

struct pgread {
	PGREAD_MEMBERS
};

enum pgread_status {
	PGREAD_OK,           /* computed */
	PGREAD_ERROR,        /* mongod would fail the command: reply holds its error */
	PGREAD_UNSUPPORTED,  /* tandem cannot compute it exactly: why says why */
};

void pgread_init(struct pgread *r);
void pgread_free(struct pgread *r);

/* Plan cmd (first key the command name) on db.  NULL: plannable.  Else a
 * stable reason label: "invalid_command" (err has mongod's error), a
 * readexec skip label ("collation", "tailable", ...), an aggregate
 * reason, "invalid_pipeline", or PGREAD_UNORDERED: plannable and planned,
 * but arrays in the result have an order mongod leaves unspecified
 * ($addToSet, $lookup): fine to serve, not to compare element by element. */
#define PGREAD_UNORDERED "unordered_arrays"
const char *pgread_plan(struct pgread *r, const bson_t *cmd, const char *db, bson_error_t *err)
	__attribute__((warn_unused_result));

/* The storage of coll: mapped, or the default table (in *scratch). */
const struct mapping_collection *pgread_collection(const struct mapping *m, const char *coll,
						   struct mapping_collection *scratch);

/* The SELECT of set i (rows kept for the callback), or NULL (allocation or
 * a filter rowstore cannot push down). */
struct pgbatch *pgread_select(const struct pgread *r, size_t i, const struct mapping *m,
			      const char *db) __attribute__((warn_unused_result));

/* Decode rows (a libpq PGresult, NULL = none) into set i.  NULL: done;
 * else a reason label ("undecodable_row", "out_of_memory"). */
const char *pgread_decode(struct pgread *r, size_t i, const struct mapping *m,
			  const struct pg_result *rows) __attribute__((warn_unused_result));

/* Every set is fetched: compute the read over at most max_rows candidates.
 * *docs is initialised here (the caller destroys it).  find / aggregate:
 * *is_cursor true and *docs holds every resulting document as an array;
 * otherwise reply holds mongod's whole reply.  PGREAD_ERROR: reply holds
 * mongod's error.  reply must be initialised by the caller. */
enum pgread_status pgread_result(struct pgread *r, size_t max_rows, bson_t *reply, bson_t *docs,
				 bool *is_cursor, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* pgread_result as mongod's first reply: the first batch, cursor id
 * non-zero (1) when documents remain. */
enum pgread_status pgread_reply(struct pgread *r, size_t max_rows, bson_t *reply, char *why,
				size_t whylen) __attribute__((warn_unused_result));

#endif
