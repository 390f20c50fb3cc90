/*
 * sortspec.c - compile a sort pattern, extract each document's sort key
 * the way mongod's key generator does, compare, and merge-sort.
 *
 *   spec --compile--> parts[] (path split in segments, direction)
 *   doc  --key_of-->  one bson_value_t per part (a view into doc, or a
 *                     static null/undefined), + the arrays it traversed
 *   sort:  keys[n * nparts] computed once, bottom-up merge sort of indexes
 *
 * Invariants: key values are views into the documents (no copies); walks
 * recurse at most once per path segment (segments <= SORTSPEC_MAX_PARTS);
 * documents are trusted to be valid BSON (callers validated them).
 */
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"
#include "sortspec.h"

#define SORTSPEC_MAX_PARTS 200

struct seg {
	const char *name;
	uint32_t len;
	bool numeric;
};

struct part {
	char *path;
	struct seg *segs;
	size_t nsegs;
	int dir; /* 1 or -1 */
};

struct sortspec {
	struct part *parts;
	size_t n;
};

/* The key of one part for one document. */
struct keyacc {
	const struct part *p;
	bool have;
	bson_value_t best;
	uint64_t arrays; /* bit d: an array was expanded at segment d */
};

static const bson_value_t null_value = {.value_type = BSON_TYPE_NULL};
static const bson_value_t undef_value = {.value_type = BSON_TYPE_UNDEFINED};

/* ---- field paths ------------------------------------------------------- */

static int fp_fail(bson_error_t *err, uint32_t domain, int code, const char *msg)
{
	bson_set_error(err, domain, (uint32_t)code, "%s", msg);
	return code;
}

int sortspec_fieldpath_check(const char *path, size_t len, bson_error_t *err, uint32_t domain)
{
	size_t start = 0, parts = 0;

	if (len == 0)
		return fp_fail(err, domain, 40352, "FieldPath cannot be constructed with empty string");
	if (path[len - 1] == '.')
		return fp_fail(err, domain, 40353, "FieldPath must not end with a '.'.");
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '.')
			continue;
		const char *p = path + start;
		size_t n = i - start;
		if (n == 0)
			return fp_fail(err, domain, 15998, "FieldPath field names may not be empty strings.");
		if (p[0] == '$' && !((n == 3 && memcmp(p, "$id", 3) == 0) ||
				     (n == 4 && memcmp(p, "$ref", 4) == 0) ||
				     (n == 3 && memcmp(p, "$db", 3) == 0)))
			return fp_fail(err, domain, 16410,
				       "FieldPath field names may not start with '$'. Consider using "
				       "$getField or $setField.");
		if (memchr(p, '\0', n))
			return fp_fail(err, domain, 16411, "FieldPath field names may not contain '\\0'.");
		if (++parts > SORTSPEC_MAX_PARTS)
			return fp_fail(err, domain, SORTSPEC_CODE_UNSUPPORTED,
				       "field path has more parts than tandem evaluates");
		start = i + 1;
	}
	return 0;
}

/* ---- compile ----------------------------------------------------------- */

static bool split_path(struct part *p, const char *key, uint32_t klen)
{
	size_t n = 1;

	for (uint32_t i = 0; i < klen; i++)
		n += key[i] == '.';
	p->path = bson_strndup(key, klen);
	p->segs = calloc(n, sizeof *p->segs);
	if (!p->segs)
		return false;
	for (uint32_t i = 0, start = 0; i <= klen; i++) {
		if (i < klen && key[i] != '.')
			continue;
		struct seg *s = &p->segs[p->nsegs++];
		s->name = p->path + start;
		s->len = i - start;
		s->numeric = s->len > 0 && (s->len == 1 || s->name[0] != '0');
		for (uint32_t j = 0; j < s->len && s->numeric; j++)
			s->numeric = s->name[j] >= '0' && s->name[j] <= '9';
		start = i + 1;
	}
	return true;
}

/* mongod reads the direction with safeNumberLong: 1.5 -> 1, NaN -> 0. */
static int direction_of(const bson_iter_t *it)
{
	bson_type_t t = bson_iter_type(it);
	double d;

	if (t == BSON_TYPE_INT32)
		return bson_iter_int32(it) == 1 ? 1 : bson_iter_int32(it) == -1 ? -1 : 0;
	if (t == BSON_TYPE_INT64)
		return bson_iter_int64(it) == 1 ? 1 : bson_iter_int64(it) == -1 ? -1 : 0;
	if (t == BSON_TYPE_DOUBLE) {
		d = bson_iter_double(it);
	} else {
		bson_decimal128_t dec;
		char s[BSON_DECIMAL128_STRING];
		bson_iter_decimal128(it, &dec);
		bson_decimal128_to_string(&dec, s);
		d = strtod(s, NULL);
	}
	if (d != d)
		return 0;
	return (d >= 1 && d < 2) ? 1 : (d <= -1 && d > -2) ? -1 : 0;
}

static bool is_number(bson_type_t t)
{
	return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
	       t == BSON_TYPE_DECIMAL128;
}

static bool compile_meta(const bson_iter_t *it, bson_error_t *err)
{
	bson_iter_t m;
	uint32_t n = 0;
	bool first_meta = false;

	if (!bson_iter_recurse(it, &m))
		return false;
	while (bson_iter_next(&m)) {
		if (n++ == 0)
			first_meta = strcmp(bson_iter_key(&m), "$meta") == 0;
	}
	if (!first_meta)
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 17312,
			       "$meta is the only expression supported by $sort right now");
	else if (n != 1)
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 9,
			       "Cannot have additional keys in a $meta sort specification");
	else
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, SORTSPEC_CODE_UNSUPPORTED,
			       "$meta sort is not evaluated by tandem");
	return false;
}

static bool compile_part(struct sortspec *s, const bson_iter_t *it, bson_error_t *err)
{
	uint32_t klen = bson_iter_key_len(it);
	const char *key = bson_iter_key(it);
	int dir;

	if (BSON_ITER_HOLDS_DOCUMENT(it))
		return compile_meta(it, err);
	if (!is_number(bson_iter_type(it))) {
		if (BSON_ITER_HOLDS_UTF8(it))
			bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 15974,
				       "Illegal key in $sort specification: %s: \"%s\"", key,
				       bson_iter_utf8(it, NULL));
		else if (BSON_ITER_HOLDS_BOOL(it) || BSON_ITER_HOLDS_NULL(it))
			bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 15974,
				       "Illegal key in $sort specification: %s: %s", key,
				       BSON_ITER_HOLDS_NULL(it) ? "null" : bson_iter_bool(it) ? "true" : "false");
		else
			bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 15974,
				       "Illegal key in $sort specification: %s", key);
		return false;
	}
	dir = direction_of(it);
	if (dir == 0) {
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 15975,
			       "$sort key ordering must be 1 (for ascending) or -1 (for descending)");
		return false;
	}
	if (sortspec_fieldpath_check(key, klen, err, SORTSPEC_ERROR_DOMAIN) != 0)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		if (strlen(s->parts[i].path) == klen && memcmp(s->parts[i].path, key, klen) == 0) {
			bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 7472500,
				       "$sort key must not contain duplicate keys (duplicate: '%s')", key);
			return false;
		}
	}
	s->parts[s->n].dir = dir;
	if (!split_path(&s->parts[s->n++], key, klen)) {
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 146, "out of memory");
		return false;
	}
	return true;
}

bool sortspec_compile(const bson_t *spec, struct sortspec **out, bson_error_t *err)
{
	struct sortspec *s;
	bson_iter_t it;
	uint32_t count;

	*out = NULL;
	if (!bson_iter_init(&it, spec)) {
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 2, "invalid sort specification");
		return false;
	}
	count = bson_count_keys(spec);
	s = calloc(1, sizeof *s);
	if (!s || !(s->parts = calloc(count ? count : 1, sizeof *s->parts))) {
		free(s);
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 146, "out of memory");
		return false;
	}
	while (bson_iter_next(&it)) {
		if (!compile_part(s, &it, err)) {
			sortspec_free(s);
			return false;
		}
	}
	*out = s;
	return true;
}

size_t sortspec_nfields(const struct sortspec *s)
{
	return s ? s->n : 0;
}

void sortspec_free(struct sortspec *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		bson_free(s->parts[i].path);
		free(s->parts[i].segs);
	}
	free(s->parts);
	free(s);
}

/* ---- sort keys --------------------------------------------------------- */

/* Values in sort keys: bsoncmp order, but undefined (an empty array)
 * before null (missing), as mongod's canonical type order has it. */
static int key_cmp(const bson_value_t *a, const bson_value_t *b)
{
	bool an = a->value_type == BSON_TYPE_NULL || a->value_type == BSON_TYPE_UNDEFINED;
	bool bn = b->value_type == BSON_TYPE_NULL || b->value_type == BSON_TYPE_UNDEFINED;

	if (an && bn)
		return (a->value_type == BSON_TYPE_NULL) - (b->value_type == BSON_TYPE_NULL);
	return bsoncmp_value(a, b);
}

static void offer(struct keyacc *acc, const bson_value_t *v)
{
	int c;

	if (!acc->have) {
		acc->best = *v;
		acc->have = true;
		return;
	}
	c = key_cmp(v, &acc->best);
	if (acc->p->dir > 0 ? c < 0 : c > 0)
		acc->best = *v;
}

static void mark(struct keyacc *acc, size_t i)
{
	if (i < 64)
		acc->arrays |= (uint64_t)1 << i;
}

static void walk_val(struct keyacc *acc, bson_iter_t *it, size_t i);

static void walk_doc(struct keyacc *acc, const uint8_t *data, uint32_t len, size_t i)
{
	const struct seg *s = &acc->p->segs[i];
	bson_t d;
	bson_iter_t it;

	if (!bson_init_static(&d, data, len) || !bson_iter_init_find_w_len(&it, &d, s->name, (int)s->len)) {
		offer(acc, &null_value);
		return;
	}
	walk_val(acc, &it, i);
}

static void walk_array_tail(struct keyacc *acc, bson_iter_t *arr, size_t i)
{
	bson_iter_t e;
	bool any = false;
	uint32_t len;
	const uint8_t *data;

	mark(acc, i);
	if (bson_iter_recurse(arr, &e)) {
		while (bson_iter_next(&e)) {
			any = true;
			if (i + 1 == acc->p->nsegs) {
				offer(acc, bson_iter_value(&e));
			} else if (BSON_ITER_HOLDS_DOCUMENT(&e)) {
				bson_iter_document(&e, &len, &data);
				walk_doc(acc, data, len, i + 1);
			} else {
				offer(acc, &null_value);
			}
		}
	}
	if (!any)
		offer(acc, i + 1 == acc->p->nsegs ? &undef_value : &null_value);
}

/* it points at the value of segment i. */
static void walk_val(struct keyacc *acc, bson_iter_t *it, size_t i)
{
	uint32_t len;
	const uint8_t *data;
	bson_iter_t e;

	if (BSON_ITER_HOLDS_ARRAY(it)) {
		const struct seg *next = i + 1 < acc->p->nsegs ? &acc->p->segs[i + 1] : NULL;
		if (next && next->numeric) {
			bson_iter_array(it, &len, &data);
			bson_t a;
			if (bson_init_static(&a, data, len) &&
			    bson_iter_init_find_w_len(&e, &a, next->name, (int)next->len))
				walk_val(acc, &e, i + 1);
			else
				offer(acc, &null_value);
			return;
		}
		walk_array_tail(acc, it, i);
	} else if (i + 1 == acc->p->nsegs) {
		offer(acc, bson_iter_value(it));
	} else if (BSON_ITER_HOLDS_DOCUMENT(it)) {
		bson_iter_document(it, &len, &data);
		walk_doc(acc, data, len, i + 1);
	} else {
		offer(acc, &null_value);
	}
}

static void key_of(const struct part *p, const bson_t *doc, struct keyacc *acc)
{
	memset(acc, 0, sizeof *acc);
	acc->p = p;
	walk_doc(acc, bson_get_data(doc), doc->len, 0);
	if (!acc->have)
		acc->best = null_value;
}

/* Do parts p and q expand the same array at depth d?  Same prefix. */
static bool same_prefix(const struct part *p, const struct part *q, size_t d)
{
	if (d >= p->nsegs || d >= q->nsegs)
		return false;
	for (size_t i = 0; i <= d; i++)
		if (p->segs[i].len != q->segs[i].len ||
		    memcmp(p->segs[i].name, q->segs[i].name, p->segs[i].len) != 0)
			return false;
	return true;
}

static bool has_own_array(const struct part *p, uint64_t mp, const struct part *q, uint64_t mq)
{
	for (size_t d = 0; d < 64; d++)
		if ((mp >> d & 1) && !((mq >> d & 1) && same_prefix(p, q, d)))
			return true;
	return false;
}

static bool parallel(const struct sortspec *s, const struct keyacc *accs, bson_error_t *err)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = i + 1; j < s->n; j++)
			if (has_own_array(accs[i].p, accs[i].arrays, accs[j].p, accs[j].arrays) &&
			    has_own_array(accs[j].p, accs[j].arrays, accs[i].p, accs[i].arrays)) {
				bson_set_error(err, SORTSPEC_ERROR_DOMAIN, SORTSPEC_CODE_BAD_VALUE,
					       "cannot sort with keys that are parallel arrays");
				return true;
			}
	return false;
}

/* Keys of doc into out[0..s->n); false on parallel arrays. */
static bool keys_of(const struct sortspec *s, const bson_t *doc, bson_value_t *out, bson_error_t *err)
{
	struct keyacc one, *accs = NULL;
	bool ok = true;

	if (s->n == 1) {
		key_of(&s->parts[0], doc, &one);
		out[0] = one.best;
		return true;
	}
	accs = calloc(s->n ? s->n : 1, sizeof *accs);
	if (!accs) {
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 146, "out of memory");
		return false;
	}
	for (size_t i = 0; i < s->n; i++) {
		key_of(&s->parts[i], doc, &accs[i]);
		out[i] = accs[i].best;
	}
	if (parallel(s, accs, err))
		ok = false;
	free(accs);
	return ok;
}

bool sortspec_doc_check(const struct sortspec *s, const bson_t *doc, bson_error_t *err)
{
	bson_value_t *keys;
	bool ok;

	if (!s || s->n < 2)
		return true;
	keys = calloc(s->n, sizeof *keys);
	if (!keys) {
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 146, "out of memory");
		return false;
	}
	ok = keys_of(s, doc, keys, err);
	free(keys);
	return ok;
}

static int keys_cmp(const struct sortspec *s, const bson_value_t *a, const bson_value_t *b)
{
	for (size_t i = 0; i < s->n; i++) {
		int c = key_cmp(&a[i], &b[i]);
		if (c)
			return s->parts[i].dir * (c < 0 ? -1 : 1);
	}
	return 0;
}

int sortspec_cmp(const struct sortspec *s, const bson_t *a, const bson_t *b)
{
	struct keyacc ka, kb;

	for (size_t i = 0; s && i < s->n; i++) {
		key_of(&s->parts[i], a, &ka);
		key_of(&s->parts[i], b, &kb);
		int c = key_cmp(&ka.best, &kb.best);
		if (c)
			return s->parts[i].dir * (c < 0 ? -1 : 1);
	}
	return 0;
}

/* ---- merge sort -------------------------------------------------------- */

static void merge_pass(const struct sortspec *s, const bson_value_t *keys, const size_t *src, size_t *dst,
		       size_t n, size_t width)
{
	for (size_t lo = 0; lo < n; lo += 2 * width) {
		size_t mid = lo + width < n ? lo + width : n;
		size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
		size_t i = lo, j = mid, k = lo;
		while (i < mid && j < hi)
			dst[k++] = keys_cmp(s, &keys[src[j] * s->n], &keys[src[i] * s->n]) < 0 ? src[j++] : src[i++];
		while (i < mid)
			dst[k++] = src[i++];
		while (j < hi)
			dst[k++] = src[j++];
	}
}

static bool sort_alloc(size_t n, size_t k, bson_value_t **keys, size_t **a, size_t **b, bson_t ***tmp)
{
	if (k && n > SIZE_MAX / sizeof(bson_value_t) / k)
		return false;
	*keys = malloc(n * k * sizeof **keys);
	*a = malloc(n * sizeof **a);
	*b = malloc(n * sizeof **b);
	*tmp = malloc(n * sizeof **tmp);
	return *keys && *a && *b && *tmp;
}

bool sortspec_sort_ex(const struct sortspec *s, bson_t **docs, size_t n, bson_error_t *err)
{
	bson_value_t *keys = NULL;
	size_t *a = NULL, *b = NULL;
	bson_t **tmp = NULL;
	bool ok = false;

	if (!s || s->n == 0)
		return true;
	if (n < 2)
		return n == 0 || sortspec_doc_check(s, docs[0], err);
	if (!sort_alloc(n, s->n, &keys, &a, &b, &tmp)) {
		bson_set_error(err, SORTSPEC_ERROR_DOMAIN, 146, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = i;
		if (!keys_of(s, docs[i], &keys[i * s->n], err))
			goto out;
	}
	for (size_t width = 1; width < n; width *= 2) {
		merge_pass(s, keys, a, b, n, width);
		size_t *t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++)
		tmp[i] = docs[a[i]];
	memcpy(docs, tmp, n * sizeof *docs);
	ok = true;
out:
	free(keys);
	free(a);
	free(b);
	free(tmp);
	return ok;
}

bool sortspec_sort(const struct sortspec *s, bson_t **docs, size_t n)
{
	bson_error_t err;

	return sortspec_sort_ex(s, docs, n, &err);
}
