/*
 * rowcodec_dec.c - jnode tree -> BSON, the exact inverse of rowcodec_enc.c
 * (format: docs/storage.md), and the rowcodec_from_json entry point.
 *
 *   text --rowcodec_json_parse--> jnode tree
 *        --dec_doc: walk "~o", take repeats from "~d"--> fields
 *        --dec_value / dec_wrapper ({"~t": code})--> bson_t
 *
 * The tree comes from text PostgreSQL returned, so nothing in it is
 * trusted: every shape check names the problem (ROWCODEC_ERR_SHAPE), every
 * member and "~d" value must be used exactly once, and nesting is limited
 * to ROWCODEC_MAX_BSON_DEPTH. Types libbson's append helpers would
 * normalise (regex options are sorted, code is strlen'd) are written as raw
 * elements so the bytes survive.
 */
#include "rowcodec_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dec {
	bson_error_t *err;
	const struct rowcodec_hooks *hooks; /* NULL: markers are refused */
};

#define DEC_FAIL(d, ...) (ERR((d)->err, ROWCODEC_ERR_SHAPE, __VA_ARGS__), false)

static const struct jnode *obj_get(const struct jnode *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->mem[i].key, key) == 0 &&
		    strlen(key) == o->mem[i].klen)
			return &o->mem[i].val;
	return NULL;
}

static bool num_i64(const struct jnode *n, int64_t *v)
{
	char *end;

	if (!n || n->t != J_NUM || strpbrk(n->s, ".eE"))
		return false;
	errno = 0;
	long long x = strtoll(n->s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

static bool num_u32(const struct jnode *n, uint32_t *v)
{
	int64_t x;

	if (!num_i64(n, &x) || x < 0 || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

/* A wrapper text field: JSON string or {"b64":...}. *buf is malloc'd. */
static bool get_text(struct dec *d, const struct jnode *n, char **buf,
		     size_t *len, const char *what)
{
	const struct jnode *b;

	if (n && n->t == J_STR) {
		*buf = bson_malloc(n->n + 1);
		memcpy(*buf, n->s, n->n + 1);
		*len = n->n;
		return true;
	}
	if (!n || n->t != J_OBJ || n->n != 1 || !(b = obj_get(n, "b64")) ||
	    b->t != J_STR)
		return DEC_FAIL(d, "%s: expected string or {\"b64\":...}", what);
	*buf = bson_malloc(b->n / 4 * 3 + 1);
	if (!rowcodec_base64_decode(b->s, b->n, (uint8_t *)*buf, len)) {
		bson_free(*buf);
		*buf = NULL;
		return DEC_FAIL(d, "%s: bad base64", what);
	}
	(*buf)[*len] = '\0';
	return true;
}

/* Append one element from raw payload bytes (keeps bytes libbson's typed
 * appenders would change). */
static bool append_raw(struct dec *d, bson_t *out, const char *key,
		       size_t klen, uint8_t type, const uint8_t *pl, size_t plen)
{
	size_t total = 4 + 1 + klen + 1 + plen + 1;
	uint8_t *buf;
	bson_t tmp;
	bool ok;

	if (total > INT32_MAX)
		return DEC_FAIL(d, "element too large");
	buf = bson_malloc(total);
	uint32_t t32 = BSON_UINT32_TO_LE((uint32_t)total);
	memcpy(buf, &t32, 4);
	buf[4] = type;
	memcpy(buf + 5, key, klen);
	buf[5 + klen] = 0;
	memcpy(buf + 6 + klen, pl, plen);
	buf[total - 1] = 0;
	ok = bson_init_static(&tmp, buf, total) && bson_concat(out, &tmp);
	bson_free(buf);
	return ok ? true : DEC_FAIL(d, "cannot append element");
}

static void put_le32(struct strbuf *sb, uint32_t v)
{
	uint32_t le = BSON_UINT32_TO_LE(v);
	rowcodec_sb_put(sb, &le, 4);
}

/* BSON "string" payload: int32 length incl. NUL, bytes, NUL. */
static void put_bstring(struct strbuf *sb, const char *s, size_t n)
{
	put_le32(sb, (uint32_t)n + 1);
	rowcodec_sb_put(sb, s, n);
	rowcodec_sb_put(sb, "", 1); /* the literal's NUL byte */
}

static bool dec_doc(struct dec *d, const struct jnode *o, bson_t *out,
		    int depth);
static bool dec_value(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *v, int depth);

/* Wrapper codes and their member names; "x" of "m" is optional. */
static const struct wrapper_spec {
	const char *code;
	const char *keys[3];
} wrapper_specs[] = {
	{ "d", { "x" } },	{ "s", { "b64" } },	{ "arr", { "v" } },
	{ "b", { "st", "b64" } }, { "u", { NULL } },	{ "min", { NULL } },
	{ "max", { NULL } },	{ "oid", { "v" } },	{ "dt", { "v" } },
	{ "re", { "p", "o" } },	{ "dbp", { "ns", "id" } }, { "js", { "v" } },
	{ "sym", { "v" } },	{ "jss", { "v", "scope" } },
	{ "ts", { "t", "i" } },	{ "l", { "v" } },	{ "m", { "v" } },
};

/* Find the spec of wrapper o and check it has exactly its members. */
static const struct wrapper_spec *wrapper_check(struct dec *d,
						const struct jnode *o)
{
	const struct jnode *t = obj_get(o, "~t");
	size_t want = 1;

	if (!t || t->t != J_STR)
		return ERR(d->err, ROWCODEC_ERR_SHAPE, "object is neither document (~o) nor typed "
			       "value (~t)"), NULL;
	for (size_t i = 0; i < sizeof wrapper_specs / sizeof *wrapper_specs; i++) {
		const struct wrapper_spec *w = &wrapper_specs[i];
		if (strcmp(w->code, t->s) != 0)
			continue;
		for (int k = 0; k < 3 && w->keys[k]; k++, want++)
			if (!obj_get(o, w->keys[k]))
				return ERR(d->err, ROWCODEC_ERR_SHAPE, "typed value \"%s\" lacks \"%s\"",
						w->code, w->keys[k]), NULL;
		if (!strcmp(w->code, "m") && obj_get(o, "x"))
			want++;
		if (o->n != want)
			return ERR(d->err, ROWCODEC_ERR_SHAPE, "typed value \"%s\" has extra members",
					w->code), NULL;
		return w;
	}
	return ERR(d->err, ROWCODEC_ERR_SHAPE, "unknown type code \"%.20s\"", t->s), NULL;
}

static bool get_hex(struct dec *d, const struct jnode *n, uint8_t *out,
		    size_t bytes, const char *what)
{
	if (!n || n->t != J_STR || !rowcodec_hex_decode(n->s, n->n, out, bytes))
		return DEC_FAIL(d, "%s: expected %zu lowercase hex digits", what,
				bytes * 2);
	return true;
}

static uint64_t be64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static bool dec_decimal(struct dec *d, bson_t *out, const char *key,
			size_t klen, const struct jnode *o)
{
	const struct jnode *v = obj_get(o, "v"), *x = obj_get(o, "x");
	bson_decimal128_t dec;
	uint8_t b[16];

	if (x) {
		if (!get_hex(d, x, b, 16, "decimal128 bits"))
			return false;
		dec.high = be64(b);
		dec.low = be64(b + 8);
	} else if (v->t != J_STR || !bson_decimal128_from_string(v->s, &dec)) {
		return DEC_FAIL(d, "bad decimal128 value");
	}
	return bson_append_decimal128(out, key, (int)klen, &dec);
}

/* Text-bearing raw types: regex, DBPointer, code, symbol, code w/ scope. */
static bool dec_textual(struct dec *d, bson_t *out, const char *key,
			size_t klen, const struct jnode *o, const char *c,
			int depth)
{
	struct strbuf pl = { NULL, 0, 0 };
	char *a = NULL, *b = NULL;
	size_t al, bl;
	uint8_t type, oid[12];
	bson_t scope = BSON_INITIALIZER;
	bool ok = false;

	if (!strcmp(c, "re")) {
		type = BSON_TYPE_REGEX;
		if (!get_text(d, obj_get(o, "p"), &a, &al, "regex pattern") ||
		    !get_text(d, obj_get(o, "o"), &b, &bl, "regex options"))
			goto out;
		if (memchr(a, 0, al) || memchr(b, 0, bl)) {
			ERR(d->err, ROWCODEC_ERR_SHAPE, "regex holds a NUL");
			goto out;
		}
		rowcodec_sb_put(&pl, a, al + 1);
		rowcodec_sb_put(&pl, b, bl + 1);
	} else if (!strcmp(c, "dbp")) {
		type = BSON_TYPE_DBPOINTER;
		if (!get_text(d, obj_get(o, "ns"), &a, &al, "dbpointer ns") ||
		    !get_hex(d, obj_get(o, "id"), oid, 12, "dbpointer id"))
			goto out;
		put_bstring(&pl, a, al);
		rowcodec_sb_put(&pl, oid, 12);
	} else if (!strcmp(c, "jss")) {
		type = BSON_TYPE_CODEWSCOPE;
		if (!get_text(d, obj_get(o, "v"), &a, &al, "code") ||
		    !dec_doc(d, obj_get(o, "scope"), &scope, depth + 1))
			goto out;
		put_le32(&pl, (uint32_t)(4 + 4 + al + 1 + scope.len));
		put_bstring(&pl, a, al);
		rowcodec_sb_put(&pl, bson_get_data(&scope), scope.len);
	} else {
		type = !strcmp(c, "js") ? BSON_TYPE_CODE : BSON_TYPE_SYMBOL;
		if (!get_text(d, obj_get(o, "v"), &a, &al, "code/symbol"))
			goto out;
		put_bstring(&pl, a, al);
	}
	ok = append_raw(d, out, key, klen, type, (const uint8_t *)pl.p, pl.len);
out:
	bson_free(a);
	bson_free(b);
	bson_free(pl.p);
	bson_destroy(&scope);
	return ok;
}

static bool dec_bytes(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *o, bool binary)
{
	const struct jnode *b64 = obj_get(o, "b64");
	int64_t st = 0;
	uint8_t *buf;
	size_t len;
	bool ok;

	if (binary && (!num_i64(obj_get(o, "st"), &st) || st < 0 || st > 255))
		return DEC_FAIL(d, "binary subtype must be 0..255");
	if (b64->t != J_STR)
		return DEC_FAIL(d, "b64 must be a string");
	buf = bson_malloc(b64->n / 4 * 3 + 1);
	if (!rowcodec_base64_decode(b64->s, b64->n, buf, &len)) {
		bson_free(buf);
		return DEC_FAIL(d, "bad base64");
	}
	if (binary && st == BSON_SUBTYPE_BINARY_DEPRECATED && len > INT32_MAX - 4)
		len = 0;
	ok = binary ? bson_append_binary(out, key, (int)klen, (bson_subtype_t)st,
					 buf, (uint32_t)len)
		    : bson_append_utf8(out, key, (int)klen, (const char *)buf,
				       (int)len);
	bson_free(buf);
	return ok ? true : DEC_FAIL(d, "cannot append bytes");
}

/* {"~t":"c","c":NAME,"y":TYPE[,"st":SUBTYPE]}: a value held in a typed
 * column of a mapped table; the rowstore hook appends it. */
static bool dec_marker(struct dec *d, bson_t *out, const char *key,
		       size_t klen, const struct jnode *o)
{
	const struct jnode *c = obj_get(o, "c"), *st = obj_get(o, "st");
	int64_t y, sv = -1;

	if (!c || c->t != J_STR || memchr(c->s, 0, c->n) ||
	    !num_i64(obj_get(o, "y"), &y) || (st && !num_i64(st, &sv)) ||
	    o->n != 3u + (st != NULL))
		return DEC_FAIL(d, "bad column marker");
	return d->hooks->dec_marker(d->hooks->ctx, c->s, y, sv, out, key, klen,
				    d->err);
}

static bool dec_wrapper(struct dec *d, bson_t *out, const char *key,
			size_t klen, const struct jnode *o, int depth)
{
	const struct jnode *tc = obj_get(o, "~t");

	if (d->hooks && d->hooks->dec_marker && tc && tc->t == J_STR &&
	    !strcmp(tc->s, "c") && tc->n == 1)
		return dec_marker(d, out, key, klen, o);

	const struct wrapper_spec *w = wrapper_check(d, o);
	const char *c;
	const struct jnode *v;
	int64_t i64;
	uint32_t t, inc;
	uint8_t b[12];
	bson_t child;
	bool ok;

	if (!w)
		return false;
	c = w->code;
	v = obj_get(o, "v");
	if (!strcmp(c, "d")) {
		if (!get_hex(d, obj_get(o, "x"), b, 8, "double bits"))
			return false;
		uint64_t bits = be64(b);
		double dv;
		memcpy(&dv, &bits, 8);
		return bson_append_double(out, key, (int)klen, dv);
	}
	if (!strcmp(c, "s") || !strcmp(c, "b"))
		return dec_bytes(d, out, key, klen, o, c[0] == 'b');
	if (!strcmp(c, "arr")) {
		bson_append_array_begin(out, key, (int)klen, &child);
		ok = dec_doc(d, v, &child, depth + 1);
		bson_append_array_end(out, &child);
		return ok;
	}
	if (!strcmp(c, "u")) return bson_append_undefined(out, key, (int)klen);
	if (!strcmp(c, "min")) return bson_append_minkey(out, key, (int)klen);
	if (!strcmp(c, "max")) return bson_append_maxkey(out, key, (int)klen);
	if (!strcmp(c, "oid")) {
		if (!get_hex(d, v, b, 12, "ObjectId"))
			return false;
		bson_oid_t oid;
		memcpy(oid.bytes, b, 12);
		return bson_append_oid(out, key, (int)klen, &oid);
	}
	if (!strcmp(c, "dt") || !strcmp(c, "l")) {
		if (!num_i64(v, &i64))
			return DEC_FAIL(d, "\"%s\" needs an int64", c);
		return c[0] == 'l' ? bson_append_int64(out, key, (int)klen, i64)
				   : bson_append_date_time(out, key, (int)klen, i64);
	}
	if (!strcmp(c, "ts")) {
		if (!num_u32(obj_get(o, "t"), &t) || !num_u32(obj_get(o, "i"), &inc))
			return DEC_FAIL(d, "timestamp needs two uint32");
		return bson_append_timestamp(out, key, (int)klen, t, inc);
	}
	if (!strcmp(c, "m"))
		return dec_decimal(d, out, key, klen, o);
	return dec_textual(d, out, key, klen, o, c, depth);
}

static bool dec_number(struct dec *d, bson_t *out, const char *key,
		       size_t klen, const struct jnode *v)
{
	int64_t i;

	if (strpbrk(v->s, ".eE")) {
		double x = strtod(v->s, NULL);
		if (!isfinite(x))
			return DEC_FAIL(d, "number out of double range");
		return bson_append_double(out, key, (int)klen, x);
	}
	if (!num_i64(v, &i))
		return DEC_FAIL(d, "integer out of int64 range");
	if (i >= INT32_MIN && i <= INT32_MAX)
		return bson_append_int32(out, key, (int)klen, (int32_t)i);
	return bson_append_int64(out, key, (int)klen, i);
}

static bool dec_array(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *v, int depth)
{
	bson_t child;
	char idx[16];
	bool ok = true;

	if (depth > ROWCODEC_MAX_BSON_DEPTH)
		return DEC_FAIL(d, "nested deeper than %d", ROWCODEC_MAX_BSON_DEPTH);
	bson_append_array_begin(out, key, (int)klen, &child);
	for (size_t i = 0; ok && i < v->n; i++) {
		int n = snprintf(idx, sizeof idx, "%zu", i);
		ok = dec_value(d, &child, idx, (size_t)n, &v->items[i], depth + 1);
	}
	bson_append_array_end(out, &child);
	return ok;
}

static bool dec_value(struct dec *d, bson_t *out, const char *key,
		      size_t klen, const struct jnode *v, int depth)
{
	bson_t child;
	bool ok;

	switch (v->t) {
	case J_NULL: return bson_append_null(out, key, (int)klen);
	case J_TRUE: return bson_append_bool(out, key, (int)klen, true);
	case J_FALSE: return bson_append_bool(out, key, (int)klen, false);
	case J_STR: return bson_append_utf8(out, key, (int)klen, v->s, (int)v->n);
	case J_NUM: return dec_number(d, out, key, klen, v);
	case J_ARR: return dec_array(d, out, key, klen, v, depth);
	case J_OBJ:
		if (!obj_get(v, "~o"))
			return dec_wrapper(d, out, key, klen, v, depth);
		bson_append_document_begin(out, key, (int)klen, &child);
		ok = dec_doc(d, v, &child, depth + 1);
		bson_append_document_end(out, &child);
		return ok;
	}
	return DEC_FAIL(d, "impossible node");
}

/* Order of member pointers by key bytes (no context: thread-safe qsort). */
static int member_cmp(const void *a, const void *b)
{
	const struct jmember *x = *(const struct jmember *const *)a;
	const struct jmember *y = *(const struct jmember *const *)b;
	int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
	return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Members sorted by key; refuses duplicate and unknown '~' keys. */
static const struct jmember **dec_index(struct dec *d, const struct jnode *o)
{
	const struct jmember **ix = bson_malloc(sizeof *ix * (o->n ? o->n : 1));

	for (size_t i = 0; i < o->n; i++) {
		const char *k = o->mem[i].key;
		ix[i] = &o->mem[i];
		if (k[0] == '~' && k[1] != '~' && strcmp(k, "~o") && strcmp(k, "~d")) {
			bson_free((void *)ix);
			return ERR(d->err, ROWCODEC_ERR_SHAPE,
				   "unknown meta key \"%.20s\"", k), NULL;
		}
	}
	qsort(ix, o->n, sizeof *ix, member_cmp);
	for (size_t i = 1; i < o->n; i++)
		if (member_cmp(&ix[i - 1], &ix[i]) == 0) {
			bson_free((void *)ix);
			return ERR(d->err, ROWCODEC_ERR_SHAPE,
				   "duplicate key in object"), NULL;
		}
	return ix;
}

/* Index in o->mem of the member whose key is ek (eklen bytes), or -1. */
static long dec_find(const struct jnode *o, const struct jmember **ix,
		     const char *ek, size_t eklen)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct jmember *m = ix[mid];
		int c = memcmp(m->key, ek, m->klen < eklen ? m->klen : eklen);
		if (c == 0)
			c = (m->klen > eklen) - (m->klen < eklen);
		if (c == 0)
			return (long)(m - o->mem);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Walk "~o": first occurrence of a key takes the member, repeats take the
 * next "~d" value. Every member and every "~d" value must be used once. */
static bool dec_fields(struct dec *d, const struct jnode *o,
		       const struct jmember **ix,
		       const struct jnode *ord, const struct jnode *dups,
		       bson_t *out, int depth)
{
	bool *used = bson_malloc0(o->n ? o->n : 1);
	struct strbuf ek = { NULL, 0, 0 };
	size_t di = 0, nmeta = 1 + (dups != NULL), nused = 0;
	bool ok = true;

	for (size_t i = 0; ok && i < ord->n; i++) {
		const struct jnode *k = &ord->items[i], *v;
		if (k->t != J_STR) {
			ok = DEC_FAIL(d, "~o entries must be strings");
			break;
		}
		ek.len = 0;
		rowcodec_sb_put(&ek, "~", k->s[0] == '~');
		rowcodec_sb_put(&ek, k->s, k->n);
		long m = dec_find(o, ix, ek.p, ek.len);
		if (m < 0) {
			ok = DEC_FAIL(d, "key \"%.40s\" in ~o has no value", k->s);
			break;
		}
		if (used[m]) {
			if (!dups || di >= dups->n) {
				ok = DEC_FAIL(d, "repeated key \"%.40s\" lacks a ~d value",
					      k->s);
				break;
			}
			v = &dups->items[di++];
		} else {
			used[m] = true;
			nused++;
			v = &o->mem[m].val;
		}
		ok = dec_value(d, out, k->s, k->n, v, depth);
	}
	if (ok && (nused + nmeta != o->n || (dups && di != dups->n)))
		ok = DEC_FAIL(d, "object has values not listed in ~o");
	bson_free(used);
	bson_free(ek.p);
	return ok;
}

static bool dec_doc(struct dec *d, const struct jnode *o, bson_t *out,
		    int depth)
{
	const struct jnode *ord, *dups;
	const struct jmember **ix;
	bool ok;

	if (depth > ROWCODEC_MAX_BSON_DEPTH)
		return DEC_FAIL(d, "nested deeper than %d", ROWCODEC_MAX_BSON_DEPTH);
	if (!o || o->t != J_OBJ || !(ord = obj_get(o, "~o")) || ord->t != J_ARR)
		return DEC_FAIL(d, "document must be an object with a ~o array");
	dups = obj_get(o, "~d");
	if (dups && dups->t != J_ARR)
		return DEC_FAIL(d, "~d must be an array");
	if (!(ix = dec_index(d, o)))
		return false;
	ok = dec_fields(d, o, ix, ord, dups, out, depth);
	bson_free((void *)ix);
	return ok;
}

/* ---- entry point ------------------------------------------------------- */

bool rowcodec_from_json(const char *json, size_t len, bson_t *out,
			bson_error_t *err)
{
	return rowcodec_from_json_hooked(json, len, NULL, out, err);
}

bool rowcodec_value_from_json(const char *json, size_t len, bson_t *out,
			      const char *key, size_t klen, bson_error_t *err)
{
	struct dec d = { err, NULL };
	struct jnode root;
	bool ok;

	memset(&root, 0, sizeof root);
	ok = rowcodec_json_parse(json, len, &root, err) &&
	     dec_value(&d, out, key, klen, &root, 1);
	rowcodec_jnode_free(&root);
	return ok;
}

bool rowcodec_from_json_hooked(const char *json, size_t len,
			       const struct rowcodec_hooks *h, bson_t *out,
			       bson_error_t *err)
{
	struct dec d = { err, h };
	struct jnode root;
	bool ok;

	memset(&root, 0, sizeof root);
	bson_init(out);
	ok = rowcodec_json_parse(json, len, &root, err);
	ok = ok && dec_doc(&d, &root, out, 1);
	rowcodec_jnode_free(&root);
	if (!ok)
		bson_reinit(out);
	return ok;
}
