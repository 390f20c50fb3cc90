/*
 * dwtrans.c - the module's entry points: classify a command by name, read
 * its session fields, and expand (cmd, reply) into replay ops (format in
 * dwtrans.h).
 *
 *   dwtrans_expand: name of cmd's first key -> not a write? no ops
 *                   -> both documents depth-checked and bson_validate'd
 *                   -> reply ok != 1? no ops
 *                   -> dw_expand_{insert,update,delete,fam,bulk}
 *                   -> on failure the op array is emptied
 *
 * Invariant: nothing recursive (ours or libbson's) runs on a document
 * before dw_depth_ok has bounded its nesting.
 */
#include "dwtrans.h"
#include "dwtrans_internal.h"

#include <string.h>

enum dwtrans_kind dwtrans_classify(const char *name)
{
	static const char *const writes[] = {
		"insert", "update", "delete", "findAndModify", "findandmodify", "bulkWrite",
	};

	if (!name)
		return DWTRANS_NONE;
	for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
		if (strcmp(name, writes[i]) == 0)
			return DWTRANS_WRITE;
	if (strcmp(name, "commitTransaction") == 0)
		return DWTRANS_COMMIT;
	if (strcmp(name, "abortTransaction") == 0)
		return DWTRANS_ABORT;
	if (strcmp(name, "drop") == 0 || strcmp(name, "dropDatabase") == 0 ||
	    strcmp(name, "renameCollection") == 0)
		return DWTRANS_DDL;
	return DWTRANS_NONE;
}

/* lsid: {id: BinData(4 or 3, 16 bytes)}. */
static void dw_session_lsid(const bson_t *cmd, struct dwtrans_txn *out)
{
	bson_iter_t it, id;
	bson_subtype_t sub;
	uint32_t len = 0;
	const uint8_t *data = NULL;

	if (!bson_iter_init_find(&it, cmd, "lsid") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &id) || !bson_iter_find(&id, "id") ||
	    !BSON_ITER_HOLDS_BINARY(&id))
		return;
	bson_iter_binary(&id, &sub, &len, &data);
	if ((sub != BSON_SUBTYPE_UUID && sub != BSON_SUBTYPE_UUID_DEPRECATED) || len != 16 || !data)
		return;
	memcpy(out->lsid, data, 16);
	out->has_lsid = true;
}

void dwtrans_session(const bson_t *cmd, struct dwtrans_txn *out)
{
	bson_iter_t it;

	memset(out, 0, sizeof *out);
	if (!cmd)
		return;
	dw_session_lsid(cmd, out);
	if (bson_iter_init_find(&it, cmd, "txnNumber") &&
	    (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it))) {
		out->has_txn = true;
		out->txn_number = bson_iter_as_int64(&it);
	}
	if (bson_iter_init_find(&it, cmd, "autocommit") && BSON_ITER_HOLDS_BOOL(&it))
		out->in_txn = !bson_iter_bool(&it);
	if (bson_iter_init_find(&it, cmd, "startTransaction") && BSON_ITER_HOLDS_BOOL(&it))
		out->starts_txn = bson_iter_bool(&it);
}

/* Nesting of doc (and of everything inside it) <= DWTRANS_MAX_DEPTH - depth.
 * Recursion is bounded by that limit; corruption found on the way fails. */
static bool dw_depth_ok(const bson_t *doc, int depth)
{
	bson_iter_t it;
	bson_t sub;

	if (depth > DWTRANS_MAX_DEPTH || !bson_iter_init(&it, doc))
		return false;
	while (bson_iter_next(&it)) {
		if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
			if (!dw_sub(&it, &sub) || !dw_depth_ok(&sub, depth + 1))
				return false;
		} else if (BSON_ITER_HOLDS_CODEWSCOPE(&it)) {
			uint32_t len = 0, slen = 0;
			const uint8_t *scope = NULL;

			bson_iter_codewscope(&it, &len, &slen, &scope);
			if (!scope || !bson_init_static(&sub, scope, slen) ||
			    !dw_depth_ok(&sub, depth + 1))
				return false;
		}
	}
	return it.err_off == 0;
}

static bool dw_doc_ok(const bson_t *doc, const char *what, bson_error_t *err)
{
	size_t off = 0;

	if (!dw_depth_ok(doc, 0))
		return dw_fail(err, DWTRANS_ERR_BSON, "%s: corrupt or nested deeper than %d", what,
			       DWTRANS_MAX_DEPTH);
	if (!bson_validate(doc, BSON_VALIDATE_NONE, &off))
		return dw_fail(err, DWTRANS_ERR_BSON, "%s: invalid BSON at offset %zu", what, off);
	return true;
}

/* 1: reply ok is 1; 0: a failed command; -1: no numeric ok at all. */
static int dw_reply_ok(const bson_t *reply)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, reply, "ok"))
		return -1;
	if (BSON_ITER_HOLDS_DOUBLE(&it))
		return bson_iter_double(&it) == 1.0;
	if (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_BOOL(&it))
		return bson_iter_as_int64(&it) == 1;
	return -1;
}

/* The namespace of a classic write: db argument + the command's value. */
static bool dw_classic_ns(const bson_iter_t *first, const char *db, struct dw_ns *ns,
			  bson_error_t *err)
{
	size_t len = db ? strnlen(db, 256) : 0;

	if (len == 0 || len >= 256 || !bson_utf8_validate(db, len, false))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "database name missing, too long or not UTF-8");
	ns->db = db;
	ns->db_len = (uint32_t)len;
	if (!dw_name(first, &ns->c, &ns->c_len))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "%s: collection name must be a non-empty string",
			       bson_iter_key(first));
	return true;
}

static bool dw_dispatch(const bson_iter_t *first, const bson_t *cmd, const char *db,
			const bson_t *reply, struct dw_out *o, bson_error_t *err)
{
	const char *name = bson_iter_key(first);
	struct dw_ns ns;

	if (strcmp(name, "bulkWrite") == 0)
		return dw_expand_bulk(cmd, reply, o, err);
	if (!dw_classic_ns(first, db, &ns, err))
		return false;
	if (strcmp(name, "insert") == 0)
		return dw_expand_insert(cmd, &ns, reply, o, err);
	if (strcmp(name, "update") == 0)
		return dw_expand_update(cmd, &ns, reply, o, err);
	if (strcmp(name, "delete") == 0)
		return dw_expand_delete(cmd, &ns, reply, o, err);
	return dw_expand_fam(cmd, &ns, reply, o, err);
}

bool dwtrans_expand(const bson_t *cmd, const char *db, const bson_t *reply, bson_t *ops,
		    bson_error_t *err)
{
	struct dw_out o = { .ops = ops };
	bson_iter_t first;
	int ok;

	bson_init(ops);
	if (!cmd || !reply)
		return dw_fail(err, DWTRANS_ERR_SHAPE, "command or reply missing");
	if (!bson_iter_init(&first, cmd) || !bson_iter_next(&first) ||
	    dwtrans_classify(bson_iter_key(&first)) != DWTRANS_WRITE)
		return true; /* not a write (or empty): nothing to replay */
	if (!dw_doc_ok(cmd, "command", err) || !dw_doc_ok(reply, "reply", err))
		return false;
	ok = dw_reply_ok(reply);
	if (ok < 0)
		return dw_fail(err, DWTRANS_ERR_SHAPE, "reply has no numeric ok");
	if (ok == 0)
		return true; /* failed command: nothing was applied */
	if (!dw_dispatch(&first, cmd, db, reply, &o, err)) {
		bson_reinit(ops);
		return false;
	}
	if (o.full) {
		bson_reinit(ops);
		return dw_fail(err, DWTRANS_ERR_SIZE, "op array exceeds the BSON size limit");
	}
	return true;
}
