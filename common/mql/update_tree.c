/*
 * update_tree.c - the lazy document tree of update_internal.h: expand a
 * container on demand, insert/replace/remove kids, serialise back.
 *
 * Values are borrowed views (input document, update operands, constants),
 * so replacing a value never copies bytes; only kids[] arrays are owned.
 * Expansion is bounded by UPDATE_MAX_NODES per apply (beyond it the
 * caller gets UPDATE_RESYNC: correct, just not computed here).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "update_internal.h"
#include "bsoncmp.h"

static const uint8_t update_empty_bson[5] = {5, 0, 0, 0, 0};

enum update_status update_fail(struct uctx *c, enum update_status st, const char *fmt, ...)
{
	va_list ap;

	if (c->st != UPDATE_OK)
		return c->st;
	c->st = st;
	if (c->err) {
		c->err->domain = UPDATE_ERROR_DOMAIN;
		c->err->code = (uint32_t)st;
		va_start(ap, fmt);
		vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
		va_end(ap);
	}
	return st;
}

bool update_node_is_container(const struct unode *n)
{
	return n->v.value_type == BSON_TYPE_DOCUMENT || n->v.value_type == BSON_TYPE_ARRAY;
}

static enum update_status node_reserve(struct uctx *c, struct unode *n, uint64_t want)
{
	uint64_t cap = n->cap ? n->cap : 4;
	struct unode *k;

	if (want <= n->cap)
		return UPDATE_OK;
	if (c->nodes + want - n->nkids > UPDATE_MAX_NODES)
		return update_fail(c, UPDATE_RESYNC, "document too large to update in place");
	while (cap < want)
		cap *= 2;
	k = realloc(n->kids, cap * sizeof *k);
	if (!k)
		return update_fail(c, UPDATE_RESYNC, "out of memory");
	n->kids = k;
	n->cap = (uint32_t)cap;
	return UPDATE_OK;
}

/* Expand a container's bytes into kids[] (no-op when done or scalar). */
enum update_status update_node_expand(struct uctx *c, struct unode *n)
{
	bson_t d;
	bson_iter_t it;
	uint32_t count = 0;

	if (n->expanded || !update_node_is_container(n))
		return UPDATE_OK;
	if (!bson_init_static(&d, n->v.value.v_doc.data, n->v.value.v_doc.data_len) ||
	    !bson_iter_init(&it, &d))
		return update_fail(c, UPDATE_ERROR, "invalid BSON in document");
	while (bson_iter_next(&it))
		count++;
	if (node_reserve(c, n, count) != UPDATE_OK)
		return c->st;
	bson_iter_init(&it, &d);
	while (bson_iter_next(&it)) {
		struct unode *k = &n->kids[n->nkids++];

		memset(k, 0, sizeof *k);
		k->key = bson_iter_key(&it);
		k->keylen = bson_iter_key_len(&it);
		k->v = *bson_iter_value(&it);
	}
	c->nodes += count;
	n->expanded = true;
	return UPDATE_OK;
}

/* Free what n owns (its kids, recursively); n itself stays. */
void update_node_clear(struct unode *n)
{
	for (uint32_t i = 0; i < n->nkids; i++)
		update_node_clear(&n->kids[i]);
	free(n->kids);
	n->kids = NULL;
	n->nkids = n->cap = 0;
	n->expanded = false;
}

/* Replace n's value by the view v (its old subtree is freed). */
void update_node_set(struct unode *n, const bson_value_t *v)
{
	update_node_clear(n);
	n->v = *v;
}

int64_t update_node_find(const struct unode *n, const char *key, uint32_t keylen)
{
	for (uint32_t i = 0; i < n->nkids; i++)
		if (n->kids[i].keylen == keylen && memcmp(n->kids[i].key, key, keylen) == 0)
			return i;
	return -1;
}

enum update_status update_node_insert(struct uctx *c, struct unode *parent, uint32_t at,
				      const char *key, uint32_t keylen, const bson_value_t *v)
{
	struct unode *k;

	if (node_reserve(c, parent, (uint64_t)parent->nkids + 1) != UPDATE_OK)
		return c->st;
	if (at > parent->nkids)
		at = parent->nkids;
	memmove(&parent->kids[at + 1], &parent->kids[at], (parent->nkids - at) * sizeof *k);
	k = &parent->kids[at];
	memset(k, 0, sizeof *k);
	k->key = key;
	k->keylen = keylen;
	k->v = *v;
	parent->nkids++;
	c->nodes++;
	return UPDATE_OK;
}

void update_node_remove(struct unode *parent, uint32_t at)
{
	update_node_clear(&parent->kids[at]);
	memmove(&parent->kids[at], &parent->kids[at + 1],
		(parent->nkids - at - 1) * sizeof parent->kids[0]);
	parent->nkids--;
}

/* Pad an array with nulls up to index k (exclusive). */
static enum update_status node_pad(struct uctx *c, struct unode *arr, int64_t k)
{
	bson_value_t null = {.value_type = BSON_TYPE_NULL};

	if (k - (int64_t)arr->nkids > UPDATE_MAX_PAD)
		return update_fail(c, UPDATE_ERROR, "can't backfill more than %d elements",
				   UPDATE_MAX_PAD);
	if (node_reserve(c, arr, (uint64_t)k + 1) != UPDATE_OK)
		return c->st;
	while ((int64_t)arr->nkids < k)
		if (update_node_insert(c, arr, arr->nkids, NULL, 0, &null) != UPDATE_OK)
			return c->st;
	return UPDATE_OK;
}

/* Store v at (parent, idx) or, when idx < 0, create it under key (an
 * array pads with nulls up to the numeric key).  *at gets the kid index. */
enum update_status update_put(struct uctx *c, struct unode *parent, int64_t idx, const char *key,
			      uint32_t keylen, const bson_value_t *v, uint32_t *at)
{
	int64_t k;

	if (idx >= 0) {
		update_node_set(&parent->kids[idx], v);
		if (at)
			*at = (uint32_t)idx;
		return UPDATE_OK;
	}
	if (parent->v.value_type == BSON_TYPE_ARRAY) {
		if (!update_seg_index(key, &k))
			return update_fail(c, UPDATE_ERROR, "Cannot create field '%s' in an array", key);
		if (node_pad(c, parent, k) != UPDATE_OK)
			return c->st;
		key = NULL;
		keylen = 0;
	}
	if (update_node_insert(c, parent, parent->nkids, key, keylen, v) != UPDATE_OK)
		return c->st;
	if (at)
		*at = parent->nkids - 1;
	return UPDATE_OK;
}

/* An empty, expanded document or array at (parent, idx/key). */
enum update_status update_node_new_container(struct uctx *c, struct unode *parent, int64_t idx,
					     const char *key, uint32_t keylen, bson_type_t t,
					     uint32_t *at)
{
	bson_value_t v = {.value_type = t};

	v.value.v_doc.data = (uint8_t *)update_empty_bson;
	v.value.v_doc.data_len = sizeof update_empty_bson;
	if (update_put(c, parent, idx, key, keylen, &v, at) != UPDATE_OK)
		return c->st;
	parent->kids[*at].expanded = true;
	return UPDATE_OK;
}

static bool emit_kids(const struct unode *n, bson_t *out);

static bool emit_one(const struct unode *k, const char *key, int keylen, bson_t *out)
{
	bson_t child;
	bool ok;

	if (!k->expanded)
		return bson_append_value(out, key, keylen, &k->v);
	if (k->v.value_type == BSON_TYPE_ARRAY)
		ok = bson_append_array_begin(out, key, keylen, &child);
	else
		ok = bson_append_document_begin(out, key, keylen, &child);
	if (!ok)
		return false;
	ok = emit_kids(k, &child);
	return bson_append_document_end(out, &child) && ok;
}

static bool emit_kids(const struct unode *n, bson_t *out)
{
	char buf[16];
	const char *key;

	for (uint32_t i = 0; i < n->nkids; i++) {
		const struct unode *k = &n->kids[i];

		if (n->v.value_type == BSON_TYPE_ARRAY) {
			size_t len = bson_uint32_to_string(i, &key, buf, sizeof buf);

			if (!emit_one(k, key, (int)len, out))
				return false;
		} else if (!emit_one(k, k->key, (int)k->keylen, out)) {
			return false;
		}
	}
	return true;
}

/* Serialise an expanded (or not) container's content into out. */
bool update_node_emit(const struct unode *n, bson_t *out)
{
	bson_t d;

	if (n->expanded)
		return emit_kids(n, out);
	if (!bson_init_static(&d, n->v.value.v_doc.data, n->v.value.v_doc.data_len))
		return false;
	return bson_concat(out, &d);
}

static bool update_tmp_doc(struct uctx *c, bson_t **out)
{
	bson_t **t = realloc(c->tmps, (c->ntmps + 1) * sizeof *t);

	if (!t)
		return false;
	c->tmps = t;
	*out = t[c->ntmps++] = bson_new();
	return true;
}

/* n's value as a view; an expanded container is serialised to scratch. */
enum update_status update_node_value(struct uctx *c, const struct unode *n, bson_value_t *out)
{
	bson_t *tmp;

	if (!n->expanded) {
		*out = n->v;
		return UPDATE_OK;
	}
	if (!update_tmp_doc(c, &tmp) || !update_node_emit(n, tmp))
		return update_fail(c, UPDATE_ERROR, "document too large");
	out->value_type = n->v.value_type;
	out->value.v_doc.data = (uint8_t *)bson_get_data(tmp);
	out->value.v_doc.data_len = tmp->len;
	return UPDATE_OK;
}

/* "{key: value}" as relaxed extended JSON, truncated, for messages. */
void update_describe(const struct unode *n, char *buf, size_t len)
{
	bson_t d = BSON_INITIALIZER;
	char *s;

	snprintf(buf, len, "{...}");
	if (emit_one(n, n->key ? n->key : "", n->key ? (int)n->keylen : 0, &d)) {
		s = bson_as_relaxed_extended_json(&d, NULL);
		if (s) {
			snprintf(buf, len, "%s", s);
			bson_free(s);
		}
	}
	bson_destroy(&d);
}

/* MongoDB's typeName() for messages. */
const char *update_type_name(bson_type_t t)
{
	const char *n = bsoncmp_type_name(t);

	return n ? n : "eoo";
}
