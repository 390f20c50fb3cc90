/*
 * compare_reply.c - the comparable part of a whole command reply, and two
 * replies compared (see compare.h).
 *
 *   find / aggregate / getMore  cursor.firstBatch (nextBatch), cursor.id != 0
 *   count                       n
 *   distinct                    values (a multiset whatever the options)
 *   ok != 1                     code, errmsg (errmsg is never compared: the
 *                               two servers word their errors differently)
 *   anything else               the reply minus the server-only fields
 *
 * Views: list items point into the reply, which must outlive the result of
 * compare_reply_extract; only OTHER owns a copy (the stripped reply).
 */
#include "compare_internal.h"

#include <stdio.h>
#include <string.h>

#include "errbuf.h"

static const char *const server_fields[] = {
	"$clusterTime", "operationTime", "$configServerState", "$gleStats",
	"lastCommittedOpTime", "electionId", "$topologyTime",
};

bool compare_server_field(const char *key)
{
	for (size_t i = 0; i < sizeof server_fields / sizeof *server_fields; i++)
		if (strcmp(key, server_fields[i]) == 0)
			return true;
	return false;
}

/* Views of every element of the array at it. */
static void list_from_array(const bson_iter_t *it, struct compare_list *l)
{
	bson_iter_t child;
	size_t n = 0, cap = 16;

	l->items = bson_malloc(cap * sizeof *l->items);
	if (bson_iter_recurse(it, &child)) {
		while (bson_iter_next(&child)) {
			if (n == cap) {
				cap *= 2;
				l->items = bson_realloc(l->items, cap * sizeof *l->items);
			}
			l->items[n++] = *bson_iter_value(&child);
		}
	}
	l->n = n;
}

static bool reply_ok(const bson_t *reply)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, reply, "ok") && bson_iter_as_double(&it) == 1.0;
}

static bool extract_error(const bson_t *reply, struct compare_reply *out)
{
	bson_iter_t it;

	out->kind = COMPARE_REPLY_ERROR;
	out->errmsg = "";
	if (bson_iter_init_find(&it, reply, "code") && BSON_ITER_HOLDS_NUMBER(&it))
		out->code = (int32_t)bson_iter_as_int64(&it);
	if (bson_iter_init_find(&it, reply, "errmsg") && BSON_ITER_HOLDS_UTF8(&it))
		out->errmsg = bson_iter_utf8(&it, NULL);
	return true;
}

static bool extract_cursor(const bson_t *reply, struct compare_reply *out, char *err, size_t errlen)
{
	bson_iter_t it, cur, batch, id;

	if (!bson_iter_init_find(&it, reply, "cursor") || !BSON_ITER_HOLDS_DOCUMENT(&it) ||
	    !bson_iter_recurse(&it, &cur))
		return errbuf_fail(err, errlen, "reply has no cursor document");
	bson_iter_t cur2 = cur;
	bool first = bson_iter_find(&cur, "firstBatch");
	if (!first && !bson_iter_find(&cur2, "nextBatch"))
		return errbuf_fail(err, errlen, "cursor has no firstBatch/nextBatch");
	bson_iter_t *b = first ? &cur : &cur2;
	if (!BSON_ITER_HOLDS_ARRAY(b))
		return errbuf_fail(err, errlen, "cursor batch is not an array");
	batch = *b;
	out->kind = COMPARE_REPLY_DOCS;
	list_from_array(&batch, &out->list);
	if (bson_iter_recurse(&it, &id) && bson_iter_find(&id, "id") && BSON_ITER_HOLDS_NUMBER(&id))
		out->list.more = bson_iter_as_int64(&id) != 0;
	return true;
}

static void extract_other(const bson_t *reply, struct compare_reply *out)
{
	bson_iter_t it;

	out->kind = COMPARE_REPLY_OTHER;
	bson_init(&out->other);
	if (bson_iter_init(&it, reply))
		while (bson_iter_next(&it))
			if (!compare_server_field(bson_iter_key(&it)))
				bson_append_iter(&out->other, NULL, 0, &it);
	out->list.items = bson_malloc0(sizeof *out->list.items);
	out->list.items[0].value_type = BSON_TYPE_DOCUMENT;
	out->list.items[0].value.v_doc.data = (uint8_t *)bson_get_data(&out->other);
	out->list.items[0].value.v_doc.data_len = out->other.len;
	out->list.n = 1;
}

bool compare_reply_extract(const char *op, const bson_t *reply, struct compare_reply *out,
			   char *err, size_t errlen)
{
	bson_iter_t it;

	memset(out, 0, sizeof *out);
	if (!reply_ok(reply))
		return extract_error(reply, out);
	if (!strcmp(op, "find") || !strcmp(op, "aggregate") || !strcmp(op, "getMore"))
		return extract_cursor(reply, out, err, errlen);
	if (!strcmp(op, "count")) {
		if (!bson_iter_init_find(&it, reply, "n") || !BSON_ITER_HOLDS_NUMBER(&it))
			return errbuf_fail(err, errlen, "count reply has no numeric n");
		out->kind = COMPARE_REPLY_COUNT;
		out->count = bson_iter_as_int64(&it);
		return true;
	}
	if (!strcmp(op, "distinct")) {
		if (!bson_iter_init_find(&it, reply, "values") || !BSON_ITER_HOLDS_ARRAY(&it))
			return errbuf_fail(err, errlen, "distinct reply has no values array");
		out->kind = COMPARE_REPLY_VALUES;
		list_from_array(&it, &out->list);
		return true;
	}
	extract_other(reply, out);
	return true;
}

void compare_reply_free(struct compare_reply *r)
{
	bson_free(r->list.items);
	if (r->kind == COMPARE_REPLY_OTHER)
		bson_destroy(&r->other);
	memset(r, 0, sizeof *r);
}

/* ---- two replies ------------------------------------------------------ */

/* One reply-level diff at field (no document locator). */
static void emit_field(struct compare_result *res, const struct compare_opts *o, const char *field,
		       enum compare_kind kind, const bson_value_t *a, const bson_value_t *b,
		       const char *note)
{
	struct cmp_ctx c = {.o = o, .res = res, .emit = true};

	c.max_diffs = o->max_diffs ? o->max_diffs : COMPARE_MAX_DIFFS_DEFAULT;
	snprintf(c.field, sizeof c.field, "%s", field);
	cmp_emit(&c, kind, a, b, note);
}

static bson_value_t int_value(int64_t v, bool is32)
{
	bson_value_t x = {0};

	x.value_type = is32 ? BSON_TYPE_INT32 : BSON_TYPE_INT64;
	if (is32)
		x.value.v_int32 = (int32_t)v;
	else
		x.value.v_int64 = v;
	return x;
}

static void compare_errors(const struct compare_reply *m, const struct compare_reply *p,
			   const struct compare_opts *o, struct compare_result *res)
{
	bson_value_t a = int_value(m->code, true), b = int_value(p->code, true);
	bool me = m->kind == COMPARE_REPLY_ERROR, pe = p->kind == COMPARE_REPLY_ERROR;

	if (me && pe) {
		if (m->code != p->code)
			emit_field(res, o, "code", COMPARE_CHANGED, &a, &b, NULL);
		return;
	}
	emit_field(res, o, "code", COMPARE_ERROR, me ? &a : NULL, pe ? &b : NULL, NULL);
	if (res->n_diffs) {
		struct compare_diff *d = &res->diffs[res->n_diffs - 1];
		d->mongo_type = me ? "error" : NULL;
		d->pg_type = pe ? "error" : NULL;
	}
}

static void compare_more(const struct compare_reply *m, const struct compare_reply *p,
			 const struct compare_opts *o, struct compare_result *res)
{
	bson_value_t a = {0}, b = {0};

	if (m->list.more == p->list.more)
		return;
	a.value_type = b.value_type = BSON_TYPE_BOOL;
	a.value.v_bool = m->list.more;
	b.value.v_bool = p->list.more;
	emit_field(res, o, "cursor.id", COMPARE_CHANGED, &a, &b, "more");
}

static void compare_extracted(const struct compare_reply *m, const struct compare_reply *p,
			      const struct compare_opts *o, struct compare_result *res)
{
	struct compare_opts multiset = *o;

	if (m->kind == COMPARE_REPLY_ERROR || p->kind == COMPARE_REPLY_ERROR) {
		memset(res, 0, sizeof *res);
		compare_errors(m, p, o, res);
	} else if (m->kind == COMPARE_REPLY_COUNT) {
		bson_value_t a = int_value(m->count, false), b = int_value(p->count, false);
		memset(res, 0, sizeof *res);
		res->mongo_n = (size_t)(m->count > 0 ? m->count : 0);
		res->pg_n = (size_t)(p->count > 0 ? p->count : 0);
		if (m->count != p->count)
			emit_field(res, o, "n", COMPARE_CHANGED, &a, &b, NULL);
	} else if (m->kind == COMPARE_REPLY_DOCS && !o->key_cmp && (m->list.more || p->list.more)) {
		memset(res, 0, sizeof *res);
		res->mongo_n = m->list.n;
		res->pg_n = p->list.n;
		res->partial = true;
		compare_more(m, p, o, res);
	} else {
		if (m->kind == COMPARE_REPLY_VALUES)
			multiset.key_cmp = NULL;
		(void)compare_lists(&m->list, &p->list, &multiset, res);
		if (m->kind == COMPARE_REPLY_DOCS)
			compare_more(m, p, o, res);
	}
}

bool compare_replies(const char *op, const bson_t *mongo_reply, const bson_t *pg_reply,
		     const struct compare_opts *o, struct compare_result *res, bool *equal,
		     char *err, size_t errlen)
{
	struct compare_reply m, p;

	memset(res, 0, sizeof *res);
	if (!compare_reply_extract(op, mongo_reply, &m, err, errlen))
		return false;
	if (!compare_reply_extract(op, pg_reply, &p, err, errlen)) {
		compare_reply_free(&m);
		return false;
	}
	compare_extracted(&m, &p, o, res);
	res->truncated = res->diffs_total > res->n_diffs;
	*equal = res->diffs_total == 0;
	compare_reply_free(&m);
	compare_reply_free(&p);
	return true;
}
