/*
 * compare_walk.c - two BSON values compared field by field (see
 * compare_internal.h): the normalisation rules of compare.h, the path
 * stack, ignore paths and the recording of differences.
 *
 * Documents: each field of MongoDB's side is looked up in PostgreSQL's by
 * name (trying the next field first, so documents in the same order cost
 * one pass), then PostgreSQL's fields absent on MongoDB's side are "extra".
 * Arrays: by position.  Past COMPARE_MAX_DEPTH, bytes are compared.
 */
#include "compare_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"

/* ---- path stack ------------------------------------------------------- */

/* Append s[0..n) to buf (cap bytes); when it does not fit, end with "...". */
static void path_append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	size_t room = cap - 1 - *len;

	if (n <= room) {
		memcpy(buf + *len, s, n);
		*len += n;
	} else {
		memcpy(buf + *len, s, room);
		memcpy(buf + cap - 4, "...", 3);
		*len = cap - 1;
	}
	buf[*len] = '\0';
}

static bool key_needs_quotes(const char *key)
{
	if (!*key)
		return true;
	for (const char *p = key; *p; p++)
		if (*p == '.' || *p == '[' || *p == ']' || *p == '"' || *p == '\\')
			return true;
	return false;
}

static struct cmp_mark mark_of(const struct cmp_ctx *c)
{
	return (struct cmp_mark){ c->flen, c->dlen, c->dotted_cut };
}

struct cmp_mark cmp_path_key(struct cmp_ctx *c, const char *key)
{
	struct cmp_mark m = mark_of(c);
	size_t kl = strlen(key);

	if (key_needs_quotes(key)) {
		path_append(c->field, sizeof c->field, &c->flen, "[\"", 2);
		for (const char *p = key; *p; p++) {
			if (*p == '"' || *p == '\\')
				path_append(c->field, sizeof c->field, &c->flen, "\\", 1);
			path_append(c->field, sizeof c->field, &c->flen, p, 1);
		}
		path_append(c->field, sizeof c->field, &c->flen, "\"]", 2);
	} else {
		if (c->flen)
			path_append(c->field, sizeof c->field, &c->flen, ".", 1);
		path_append(c->field, sizeof c->field, &c->flen, key, kl);
	}
	if (c->dlen + kl + 2 > sizeof c->dotted) {
		c->dotted_cut = true;
	} else if (!c->dotted_cut) {
		if (c->dlen)
			c->dotted[c->dlen++] = '.';
		memcpy(c->dotted + c->dlen, key, kl + 1);
		c->dlen += kl;
	}
	return m;
}

struct cmp_mark cmp_path_index(struct cmp_ctx *c, size_t i)
{
	struct cmp_mark m = mark_of(c);
	char buf[32];
	int n = snprintf(buf, sizeof buf, "[%zu]", i);

	path_append(c->field, sizeof c->field, &c->flen, buf, (size_t)n);
	return m;
}

void cmp_path_pop(struct cmp_ctx *c, struct cmp_mark m)
{
	c->flen = m.flen;
	c->field[m.flen] = '\0';
	c->dlen = m.dlen;
	c->dotted[m.dlen] = '\0';
	c->dotted_cut = m.dotted_cut;
}

bool cmp_ignored(const struct cmp_ctx *c)
{
	if (c->dotted_cut)
		return false;
	for (size_t i = 0; i < c->o->n_ignore; i++) {
		const char *e = c->o->ignore[i];
		size_t el = strlen(e);

		if (el && e[el - 1] == '*') {
			if (c->dlen >= el - 1 && memcmp(c->dotted, e, el - 1) == 0)
				return true;
		} else if (c->dlen >= el && memcmp(c->dotted, e, el) == 0 &&
			   (c->dlen == el || c->dotted[el] == '.')) {
			return true;
		}
	}
	return false;
}

/* ---- recording -------------------------------------------------------- */

void cmp_emit(struct cmp_ctx *c, enum compare_kind kind, const bson_value_t *a,
	      const bson_value_t *b, const char *note)
{
	struct compare_result *r = c->res;

	r->diffs_total++;
	if (r->n_diffs >= c->max_diffs) {
		r->truncated = true;
		return;
	}
	if (!r->diffs)
		r->diffs = bson_malloc0(c->max_diffs * sizeof *r->diffs);
	struct compare_diff *d = &r->diffs[r->n_diffs++];
	memset(d, 0, sizeof *d);
	d->kind = kind;
	memcpy(d->loc, c->loc, sizeof d->loc);
	memcpy(d->loc_red, c->loc_red, sizeof d->loc_red);
	memcpy(d->field, c->field, sizeof d->field);
	d->note = note;
	d->mongo_type = a ? compare_type_name(a->value_type) : NULL;
	d->pg_type = b ? compare_type_name(b->value_type) : NULL;
	d->mongo_val.value_type = BSON_TYPE_EOD;
	d->pg_val.value_type = BSON_TYPE_EOD;
	if (a)
		bson_value_copy(a, &d->mongo_val);
	if (b)
		bson_value_copy(b, &d->pg_val);
}

/* One difference; returns false so that callers can `return differ(...)`
 * in equality mode (in emit mode they keep walking). */
static bool differ(struct cmp_ctx *c, enum compare_kind kind, const bson_value_t *a,
		   const bson_value_t *b, const char *note)
{
	if (c->emit)
		cmp_emit(c, kind, a, b, note);
	return false;
}

/* ---- numbers and ObjectIds -------------------------------------------- */

bool cmp_is_number(bson_type_t t)
{
	return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
	       t == BSON_TYPE_DECIMAL128;
}

static long double num_ld(const bson_value_t *v)
{
	char buf[BSON_DECIMAL128_STRING];

	switch (v->value_type) {
	case BSON_TYPE_INT32: return v->value.v_int32;
	case BSON_TYPE_INT64: return (long double)v->value.v_int64;
	case BSON_TYPE_DOUBLE: return v->value.v_double;
	default:
		bson_decimal128_to_string(&v->value.v_decimal128, buf);
		return strtold(buf, NULL);
	}
}

bool cmp_numbers_equal(const struct compare_opts *o, const bson_value_t *a, const bson_value_t *b)
{
	if (bsoncmp_value(a, b) == 0)
		return true;
	if (!(o->float_epsilon > 0))
		return false;
	long double x = num_ld(a), y = num_ld(b);
	return !isnan(x) && !isnan(y) && fabsl(x - y) <= (long double)o->float_epsilon;
}

bool cmp_oid_matches_string(const bson_oid_t *oid, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (len != 24)
		return false;
	for (size_t i = 0; i < 12; i++) {
		char hi = (char)(s[2 * i] | 0x20), lo = (char)(s[2 * i + 1] | 0x20);
		if (hi != hex[oid->bytes[i] >> 4] || lo != hex[oid->bytes[i] & 15])
			return false;
	}
	return true;
}

/* Returns 1 equal, 0 different ("changed"), -1 not an oid/string pair. */
static int oid_string_pair(const bson_value_t *a, const bson_value_t *b)
{
	if (a->value_type == BSON_TYPE_UTF8 && b->value_type == BSON_TYPE_OID) {
		const bson_value_t *t = a;
		a = b;
		b = t;
	}
	if (a->value_type != BSON_TYPE_OID || b->value_type != BSON_TYPE_UTF8)
		return -1;
	if (b->value.v_utf8.len != 24)
		return -1; /* not a hex ObjectId: a type difference */
	for (uint32_t i = 0; i < 24; i++)
		if (!strchr("0123456789abcdefABCDEF", b->value.v_utf8.str[i]) || !b->value.v_utf8.str[i])
			return -1;
	return cmp_oid_matches_string(&a->value.v_oid, b->value.v_utf8.str, 24);
}

/* ---- documents and arrays --------------------------------------------- */

/* Find key in the document data[0..len): first right after *hint (the
 * field matched last time), then from the start.  *hint moves to it, so
 * documents in the same order cost one step per field and, when they are
 * identical, repeated keys pair up in order. */
static bool find_key(const uint8_t *data, uint32_t len, bson_iter_t *hint, const char *key,
		     bson_iter_t *found)
{
	bson_iter_t t = *hint;

	if (bson_iter_next(&t) && strcmp(bson_iter_key(&t), key) == 0) {
		*hint = *found = t;
		return true;
	}
	if (!bson_iter_init_from_data(&t, data, len))
		return false;
	while (bson_iter_next(&t)) {
		if (strcmp(bson_iter_key(&t), key) == 0) {
			*hint = *found = t;
			return true;
		}
	}
	return false;
}

/* An ignored field: step the hint over it when y has it next, so that the
 * fields after it still pair up in order. */
static void skip_key(bson_iter_t *hint, const char *key)
{
	bson_iter_t t = *hint;

	if (bson_iter_next(&t) && strcmp(bson_iter_key(&t), key) == 0)
		*hint = t;
}

/* Fields of x missing from y: "missing" when x is MongoDB's side (a_side),
 * "extra" when it is PostgreSQL's; with walk set, common fields are
 * compared too (done once, from MongoDB's side). */
static bool doc_pass(struct cmp_ctx *c, const bson_value_t *x, const bson_value_t *y, bool a_side)
{
	const uint8_t *yd = y->value.v_doc.data;
	uint32_t yl = y->value.v_doc.data_len;
	bson_iter_t ix, hint, found;
	bool eq = true;

	if (!bson_iter_init_from_data(&ix, x->value.v_doc.data, x->value.v_doc.data_len) ||
	    !bson_iter_init_from_data(&hint, yd, yl))
		return true; /* unreachable: walk_same_type checked readable() */
	while (bson_iter_next(&ix)) {
		struct cmp_mark m = cmp_path_key(c, bson_iter_key(&ix));
		bool ok = true;

		if (cmp_ignored(c)) {
			skip_key(&hint, bson_iter_key(&ix));
		} else {
			bson_value_t xv = *bson_iter_value(&ix);
			if (!find_key(yd, yl, &hint, bson_iter_key(&ix), &found))
				ok = a_side ? differ(c, COMPARE_MISSING, &xv, NULL, NULL)
					    : differ(c, COMPARE_EXTRA, NULL, &xv, NULL);
			else if (a_side)
				ok = cmp_walk_value(c, &xv, bson_iter_value(&found));
		}
		cmp_path_pop(c, m);
		if (!ok) {
			eq = false;
			if (!c->emit)
				return false;
		}
	}
	return eq;
}

/* With ordered_fields: the non-ignored keys must come in the same order. */
static bool same_key_order(struct cmp_ctx *c, const bson_value_t *a, const bson_value_t *b)
{
	bson_iter_t ia, ib;

	if (!bson_iter_init_from_data(&ia, a->value.v_doc.data, a->value.v_doc.data_len) ||
	    !bson_iter_init_from_data(&ib, b->value.v_doc.data, b->value.v_doc.data_len))
		return true;
	for (;;) {
		bool na, nb;
		struct cmp_mark m;
		do {
			na = bson_iter_next(&ia);
			m = cmp_path_key(c, na ? bson_iter_key(&ia) : "");
			bool skip = na && cmp_ignored(c);
			cmp_path_pop(c, m);
			if (!skip)
				break;
		} while (na);
		do {
			nb = bson_iter_next(&ib);
			m = cmp_path_key(c, nb ? bson_iter_key(&ib) : "");
			bool skip = nb && cmp_ignored(c);
			cmp_path_pop(c, m);
			if (!skip)
				break;
		} while (nb);
		if (!na || !nb)
			return na == nb;
		if (strcmp(bson_iter_key(&ia), bson_iter_key(&ib)) != 0)
			return false;
	}
}

static bool walk_doc(struct cmp_ctx *c, const bson_value_t *a, const bson_value_t *b)
{
	bool eq = doc_pass(c, a, b, true);

	if (!eq && !c->emit)
		return false;
	eq = doc_pass(c, b, a, false) && eq;
	if (!eq && !c->emit)
		return false;
	if (c->o->ordered_fields && !same_key_order(c, a, b))
		return differ(c, COMPARE_CHANGED, a, b, "field order");
	return eq;
}

static bool walk_array(struct cmp_ctx *c, const bson_value_t *a, const bson_value_t *b)
{
	bson_iter_t ia, ib;
	bool eq = true;

	if (!bson_iter_init_from_data(&ia, a->value.v_doc.data, a->value.v_doc.data_len) ||
	    !bson_iter_init_from_data(&ib, b->value.v_doc.data, b->value.v_doc.data_len))
		return true;
	for (size_t i = 0;; i++) {
		bool na = bson_iter_next(&ia), nb = bson_iter_next(&ib);
		bool ok = true;

		if (!na && !nb)
			break;
		struct cmp_mark m = cmp_path_index(c, i);
		if (na && nb)
			ok = cmp_walk_value(c, bson_iter_value(&ia), bson_iter_value(&ib));
		else if (na)
			ok = differ(c, COMPARE_MISSING, bson_iter_value(&ia), NULL, NULL);
		else
			ok = differ(c, COMPARE_EXTRA, NULL, bson_iter_value(&ib), NULL);
		cmp_path_pop(c, m);
		if (!ok) {
			eq = false;
			if (!c->emit)
				return false;
		}
	}
	return eq;
}

static bool same_bytes(const bson_value_t *a, const bson_value_t *b)
{
	return a->value.v_doc.data_len == b->value.v_doc.data_len &&
	       (a->value.v_doc.data_len == 0 ||
		memcmp(a->value.v_doc.data, b->value.v_doc.data, a->value.v_doc.data_len) == 0);
}

/* libbson can iterate the document (bytes it refuses compare as bytes). */
static bool readable(const bson_value_t *v)
{
	bson_iter_t it;

	return cmp_doc_ok(v) && bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len);
}

/* Same non-number type on both sides. */
static bool walk_same_type(struct cmp_ctx *c, const bson_value_t *a, const bson_value_t *b)
{
	bool eq;

	if (a->value_type != BSON_TYPE_DOCUMENT && a->value_type != BSON_TYPE_ARRAY)
		return bsoncmp_value(a, b) == 0 ? true : differ(c, COMPARE_CHANGED, a, b, NULL);
	if (c->depth >= COMPARE_MAX_DEPTH || !readable(a) || !readable(b))
		return same_bytes(a, b) ? true : differ(c, COMPARE_CHANGED, a, b, NULL);
	c->depth++;
	eq = a->value_type == BSON_TYPE_DOCUMENT ? walk_doc(c, a, b) : walk_array(c, a, b);
	c->depth--;
	return eq;
}

bool cmp_walk_value(struct cmp_ctx *c, const bson_value_t *a, const bson_value_t *b)
{
	bson_type_t ta = a->value_type, tb = b->value_type;

	if (cmp_is_number(ta) && cmp_is_number(tb)) {
		if (c->o->strict_types && ta != tb)
			return differ(c, COMPARE_TYPE, a, b, NULL);
		return cmp_numbers_equal(c->o, a, b) ? true : differ(c, COMPARE_CHANGED, a, b, NULL);
	}
	if (ta != tb && c->o->oid_as_string) {
		int r = oid_string_pair(a, b);
		if (r >= 0)
			return r ? true : differ(c, COMPARE_CHANGED, a, b, NULL);
	}
	if (ta != tb)
		return differ(c, COMPARE_TYPE, a, b, NULL);
	return walk_same_type(c, a, b);
}
