/*
 * dwtrans.h - turn one acknowledged MongoDB write command plus MongoDB's
 * reply into the list of operations PostgreSQL must replay (BRIEF
 * "Semantics that must hold": only what MongoDB acknowledged; inside a bulk
 * only the statements that succeeded; an ordered bulk stops where MongoDB
 * stopped; upserted _ids as MongoDB reported them; nothing for a failed
 * command).  Pure: no I/O, no global state, nothing printed; cmd and reply
 * are untrusted.  Code: dwtrans.c (entry points, validation), dwtrans_ops.c
 * (op writer, readers), dwtrans_stmt.c (one statement), dwtrans_crud.c
 * (insert / update / delete), dwtrans_fam.c (findAndModify), dwtrans_bulk.c.
 *
 *   client cmd ----> MongoDB ----> reply
 *        \                          /
 *         +--> dwtrans_expand <----+ --> [op, op, ...] --> applier (PostgreSQL)
 *
 * The result is a BSON array (keys "0", "1", ...) of op documents, in the
 * order MongoDB applied the statements.  Keys are short because ops are
 * also queued durably:
 *
 *   {k:"i", db, c, st, d}                         insert document d
 *   {k:"u", db, c, st, q, u, m, up, [af], [uid], n}
 *        u: update document or pipeline array; m: multi; af: arrayFilters.
 *        up is true only when MongoDB reported an upserted _id for the
 *        statement (then uid holds it and n is 0): an upsert statement that
 *        matched existing documents gets up:false, because inserting here
 *        would need an _id MongoDB never created.
 *        n: int64 documents matched by this statement, -1 when unknown.
 *   {k:"d", db, c, st, q, lim, n}                 lim: int32 0 = all, 1 = one
 *   {k:"r", db, c, st, ids:[_id, ...], why}       re-read these _ids from MongoDB
 *   {k:"x", db, c, st, why}                       untranslatable: log and count
 *
 * st is the int32 statement index in the command (documents / updates /
 * deletes / ops array; 0 for findAndModify); -1 for an "x" op that concerns
 * the whole command (the reply contradicts the statements we derived).
 *
 * Decisions not spelled out by the op format:
 *  - findAndModify ops address the document by _id: {q:{_id}, n:1}; an
 *    upsert insert keeps the original query (q), up:true, uid, n:0.
 *  - collation is not modelled: "x", except where the _id is known
 *    (an upserted _id, a findAndModify update) which becomes "r".
 *  - a findAndModify update whose paths use the positional "$" (resolved
 *    against the original query, which a by-_id filter lacks): "r".
 *  - a non-multi update with `sort` (MongoDB 8) that did not upsert: "x".
 *  - an _id that is an array, or an array copied into an op whose keys are
 *    not "0", "1", ...: refused (false); MongoDB produces neither.
 *  - let variables (command `let`, statement `c`, bulkWrite `constants`)
 *    are not carried; pipelines are resynced by the applier anyway.
 */
#ifndef TANDEM_DWTRANS_H
#define TANDEM_DWTRANS_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

/* Deepest BSON nesting accepted in cmd and reply (mongod allows 200 levels
 * for stored documents; commands add a few).  Deeper input is refused
 * before any recursive libbson routine (bson_validate) sees it. */
#define DWTRANS_MAX_DEPTH 220

/* bson_error_t domain and codes set by this module. */
#define DWTRANS_ERROR_DOMAIN 7310
enum dwtrans_err {
	DWTRANS_ERR_BSON = 1, /* cmd or reply is not valid BSON, or too deep */
	DWTRANS_ERR_SHAPE,    /* a field has the wrong type or is missing */
	DWTRANS_ERR_REPLY,    /* the reply contradicts the command (index range...) */
	DWTRANS_ERR_SIZE,     /* the op array would exceed BSON's size limit */
};

/* Session and transaction fields of a command. */
struct dwtrans_txn {
	bool has_lsid;
	uint8_t lsid[16]; /* lsid.id (UUID binary) */
	bool has_txn;
	int64_t txn_number;
	bool in_txn;	 /* autocommit: false present */
	bool starts_txn; /* startTransaction: true */
};

enum dwtrans_kind {
	DWTRANS_NONE, /* not a write: ignore */
	DWTRANS_WRITE,
	DWTRANS_COMMIT,
	DWTRANS_ABORT,
	DWTRANS_DDL,  /* drop, dropDatabase, renameCollection: the applier decides */
};

/* Classify by command name only (called on the request path): insert,
 * update, delete, findAndModify / findandmodify, bulkWrite -> WRITE;
 * commitTransaction -> COMMIT; abortTransaction -> ABORT; anything else
 * (and NULL) -> NONE.  Names are case-sensitive, as in mongod. */
enum dwtrans_kind dwtrans_classify(const char *command_name);

/* Extract the session fields of any command into *out (zeroed first).
 * Fields of the wrong type count as absent.  cmd may be NULL. */
void dwtrans_session(const bson_t *cmd, struct dwtrans_txn *out);

/*
 * Expand cmd (the command as the client sent it, kind-1 sequences merged in
 * as arrays), run on database db, answered by reply, into ops.
 *
 * Always initialises *ops as an empty BSON document used as an array; the
 * caller owns it and must bson_destroy it.  Returns true with ops filled
 * (possibly empty: a failed command, a command that is not a write, a
 * commit/abort); false with err set and ops empty when cmd or reply is
 * malformed or contradicts itself.  A false return must be logged and
 * counted by the caller: MongoDB may have applied something that
 * PostgreSQL then lacks.
 */
bool dwtrans_expand(const bson_t *cmd, const char *db, const bson_t *reply, bson_t *ops,
		    bson_error_t *err) __attribute__((warn_unused_result));

#endif
