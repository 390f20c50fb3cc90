/*
 * dwtrans_ops.c - shared parts of the write expander: strict field readers,
 * the op writer, and the emitters for one insert / update / delete
 * statement (format in dwtrans.h).
 *
 * Emitters parse and check everything before they open an op, so a failure
 * never leaves a half-written op document behind; append failures (the BSON
 * size limit) only set dw_out.full, which dwtrans_expand reports.
 */
#include "dwtrans_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool dw_fail(bson_error_t *err, uint32_t code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return false;
	err->domain = DWTRANS_ERROR_DOMAIN;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return false;
}

/* ----------------------------------------------------------- readers */

bool dw_get_int(const bson_iter_t *it, int64_t *out)
{
	if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
		*out = bson_iter_as_int64(it);
		return true;
	}
	if (BSON_ITER_HOLDS_DOUBLE(it)) {
		double d = bson_iter_double(it);

		/* inside int64 (2^63 itself is not; NaN fails both), then integral */
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
		    (double)(int64_t)d != d)
			return false;
		*out = (int64_t)d;
		return true;
	}
	return false;
}

bool dw_get_bool(const bson_iter_t *it, bool *out)
{
	if (BSON_ITER_HOLDS_BOOL(it)) {
		*out = bson_iter_bool(it);
		return true;
	}
	if (BSON_ITER_HOLDS_DOUBLE(it)) {
		*out = bson_iter_double(it) != 0.0;
		return true;
	}
	if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
		*out = bson_iter_as_int64(it) != 0;
		return true;
	}
	return false;
}

bool dw_opt_bool(const bson_t *doc, const char *key, bool dflt, bool *out, const char *what,
		 bson_error_t *err)
{
	bson_iter_t it;

	*out = dflt;
	if (!bson_iter_init_find(&it, doc, key) || BSON_ITER_HOLDS_NULL(&it))
		return true;
	if (!dw_get_bool(&it, out))
		return dw_fail(err, DWTRANS_ERR_SHAPE, "%s.%s must be a bool", what, key);
	return true;
}

bool dw_sub(const bson_iter_t *it, bson_t *sub)
{
	uint32_t len = 0;
	const uint8_t *data = NULL;

	if (BSON_ITER_HOLDS_DOCUMENT(it))
		bson_iter_document(it, &len, &data);
	else if (BSON_ITER_HOLDS_ARRAY(it))
		bson_iter_array(it, &len, &data);
	return data && bson_init_static(sub, data, len);
}

bool dw_name(const bson_iter_t *it, const char **s, uint32_t *len)
{
	if (!BSON_ITER_HOLDS_UTF8(it))
		return false;
	*s = bson_iter_utf8(it, len);
	return *s && *len > 0 && memchr(*s, '\0', *len) == NULL && bson_utf8_validate(*s, *len, false);
}

bool dw_array_ok(const bson_iter_t *it)
{
	bson_t arr;
	bson_iter_t first;

	if (!BSON_ITER_HOLDS_ARRAY(it))
		return true;
	return dw_sub(it, &arr) && bson_iter_init(&first, &arr) &&
	       (!bson_iter_next(&first) || strcmp(bson_iter_key(&first), "0") == 0);
}

bool dw_id_ok(const bson_iter_t *it)
{
	return !BSON_ITER_HOLDS_ARRAY(it);
}

/* -------------------------------------------------------- op writer */

void dw_op_begin(struct dw_out *o, const char *kind, const struct dw_ns *ns, int32_t st)
{
	char buf[16];
	const char *key;

	bson_uint32_to_string(o->count, &key, buf, sizeof buf);
	if (o->full || !bson_append_document_begin(o->ops, key, -1, &o->cur)) {
		o->full = true;
		return;
	}
	o->count++;
	o->open = true;
	if (!BSON_APPEND_UTF8(&o->cur, "k", kind) ||
	    !bson_append_utf8(&o->cur, "db", 2, ns->db, (int)ns->db_len) ||
	    !bson_append_utf8(&o->cur, "c", 1, ns->c, (int)ns->c_len) ||
	    !BSON_APPEND_INT32(&o->cur, "st", st))
		o->full = true;
}

void dw_op_end(struct dw_out *o)
{
	if (!o->open)
		return;
	o->open = false;
	if (!bson_append_document_end(o->ops, &o->cur))
		o->full = true;
}

void dw_put_iter(struct dw_out *o, const char *key, const bson_iter_t *it)
{
	if (!o->full && !bson_append_iter(&o->cur, key, -1, it))
		o->full = true;
}

void dw_put_value(struct dw_out *o, const char *key, const bson_value_t *v)
{
	if (!o->full && !bson_append_value(&o->cur, key, -1, v))
		o->full = true;
}

void dw_put_bool(struct dw_out *o, const char *key, bool v)
{
	if (!o->full && !bson_append_bool(&o->cur, key, -1, v))
		o->full = true;
}

void dw_put_i64(struct dw_out *o, const char *key, int64_t v)
{
	if (!o->full && !bson_append_int64(&o->cur, key, -1, v))
		o->full = true;
}

void dw_put_i32(struct dw_out *o, const char *key, int32_t v)
{
	if (!o->full && !bson_append_int32(&o->cur, key, -1, v))
		o->full = true;
}

void dw_put_idq(struct dw_out *o, const char *key, const bson_value_t *id)
{
	bson_t q;

	if (o->full || !bson_append_document_begin(&o->cur, key, -1, &q)) {
		o->full = true;
		return;
	}
	if (!bson_append_value(&q, "_id", 3, id))
		o->full = true;
	if (!bson_append_document_end(&o->cur, &q))
		o->full = true;
}

void dw_op_x(struct dw_out *o, const struct dw_ns *ns, int32_t st, const char *why)
{
	dw_op_begin(o, "x", ns, st);
	if (!o->full && !BSON_APPEND_UTF8(&o->cur, "why", why))
		o->full = true;
	dw_op_end(o);
}

void dw_op_r(struct dw_out *o, const struct dw_ns *ns, int32_t st, const bson_value_t *id,
	     const char *why)
{
	bson_t ids;

	dw_op_begin(o, "r", ns, st);
	if (!o->full && bson_append_array_begin(&o->cur, "ids", 3, &ids)) {
		if (!bson_append_value(&ids, "0", 1, id))
			o->full = true;
		if (!bson_append_array_end(&o->cur, &ids))
			o->full = true;
	} else {
		o->full = true;
	}
	if (!o->full && !BSON_APPEND_UTF8(&o->cur, "why", why))
		o->full = true;
	dw_op_end(o);
}
