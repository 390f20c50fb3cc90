/*
 * dwtrans_internal.h - what the dwtrans_*.c files share: the op writer,
 * strict field readers, and the emitters for one insert / update / delete
 * statement (used by both the classic commands and bulkWrite).
 *
 * Not part of the module's interface: only dwtrans*.c include it.
 */
#ifndef TANDEM_DWTRANS_INTERNAL_H
#define TANDEM_DWTRANS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <bson/bson.h>

#include "dwtrans.h"

/* A namespace: slices that need not be NUL-terminated. */
struct dw_ns {
	const char *db;
	uint32_t db_len;
	const char *c;
	uint32_t c_len;
};

/* The op array being written.  Append failures (BSON size limit) are sticky
 * in `full` and reported once by dwtrans_expand. */
struct dw_out {
	bson_t *ops;
	uint32_t count;
	bson_t cur; /* the op document being written, while open */
	bool open;
	bool full;
};

/* One update statement, as read from `updates` or bulkWrite `ops`. */
struct dw_upd {
	bson_iter_t q, u;   /* q: document; u: document or array */
	bool multi, upsert;
	bool has_af;	    /* arrayFilters: array */
	bson_iter_t af;
	bool has_collation; /* collation present and not null */
	bool has_sort;	    /* sort present and not null */
};

/* Set err (may be NULL) and return false. */
bool dw_fail(bson_error_t *err, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Strict readers: int32 / int64 / integral double -> *out; bool, or a
 * number (non-zero = true) -> *out.  False for any other type. */
bool dw_get_int(const bson_iter_t *it, int64_t *out) __attribute__((warn_unused_result));
bool dw_get_bool(const bson_iter_t *it, bool *out) __attribute__((warn_unused_result));

/* Optional field `key` of doc: absent or null -> dflt; otherwise it must be
 * a bool/number, else false with err naming `what`.`key`. */
bool dw_opt_bool(const bson_t *doc, const char *key, bool dflt, bool *out, const char *what,
		 bson_error_t *err) __attribute__((warn_unused_result));

/* View a document or array element as a bson_t (no copy). */
bool dw_sub(const bson_iter_t *it, bson_t *sub) __attribute__((warn_unused_result));

/* A collection or database name from a UTF-8 element: non-empty, no NUL. */
bool dw_name(const bson_iter_t *it, const char **s, uint32_t *len) __attribute__((warn_unused_result));

/* libbson copies an array only when its first key is "0" (else it prints a
 * warning to stderr); MongoDB refuses an array _id.  These check both. */
bool dw_array_ok(const bson_iter_t *it) __attribute__((warn_unused_result));
bool dw_id_ok(const bson_iter_t *it) __attribute__((warn_unused_result));

/* ----------------------------------------------------------- op writer */

void dw_op_begin(struct dw_out *o, const char *kind, const struct dw_ns *ns, int32_t st);
void dw_op_end(struct dw_out *o);
void dw_put_iter(struct dw_out *o, const char *key, const bson_iter_t *it);
void dw_put_value(struct dw_out *o, const char *key, const bson_value_t *v);
void dw_put_bool(struct dw_out *o, const char *key, bool v);
void dw_put_i64(struct dw_out *o, const char *key, int64_t v);
void dw_put_i32(struct dw_out *o, const char *key, int32_t v);
void dw_put_idq(struct dw_out *o, const char *key, const bson_value_t *id); /* {_id: id} */
void dw_op_x(struct dw_out *o, const struct dw_ns *ns, int32_t st, const char *why);
void dw_op_r(struct dw_out *o, const struct dw_ns *ns, int32_t st, const bson_value_t *id,
	     const char *why);

/* ------------------------------------------------------------ emitters */

/* doc_it holds the document to insert; "x" when it has no _id. */
bool dw_emit_insert(struct dw_out *o, const struct dw_ns *ns, int32_t st, const bson_iter_t *doc_it,
		    bson_error_t *err) __attribute__((warn_unused_result));

/* Read an update statement from stmt (keys qkey/ukey differ by command). */
bool dw_upd_parse(const bson_t *stmt, const char *qkey, const char *ukey, struct dw_upd *u,
		  bson_error_t *err) __attribute__((warn_unused_result));

/* uid: MongoDB's upserted _id for this statement or NULL; n: matched. */
void dw_emit_update(struct dw_out *o, const struct dw_ns *ns, int32_t st, const struct dw_upd *u,
		    const bson_value_t *uid, int64_t n);

void dw_emit_delete(struct dw_out *o, const struct dw_ns *ns, int32_t st, const bson_iter_t *q,
		    int32_t lim, bool has_collation, int64_t n);

/* --------------------------------------------------------- per command */

bool dw_expand_insert(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		      struct dw_out *o, bson_error_t *err) __attribute__((warn_unused_result));
bool dw_expand_update(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		      struct dw_out *o, bson_error_t *err) __attribute__((warn_unused_result));
bool dw_expand_delete(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		      struct dw_out *o, bson_error_t *err) __attribute__((warn_unused_result));
bool dw_expand_fam(const bson_t *cmd, const struct dw_ns *ns, const bson_t *reply,
		   struct dw_out *o, bson_error_t *err) __attribute__((warn_unused_result));
bool dw_expand_bulk(const bson_t *cmd, const bson_t *reply, struct dw_out *o, bson_error_t *err)
	__attribute__((warn_unused_result));

#endif
