/*
 * rowstore_split.c - pass 1 of storing a mapped document (rowstore_put.c
 * writes the SQL): which value goes to which typed column, child row or
 * junction row, and the marker that replaces it in `extras`.
 *
 *   every value a column can hold exactly (rowstore_cell*.c), every array
 *   of documents of a child, every array of references of a junction is
 *   *marked*: its element, identified by the address of its key inside the
 *   document's own buffer, gets {"~t":"c","c":NAME,"y":TYPE[,"st":SUBTYPE]}
 *   (NAME: the column; "+child"; "&junction").  rs_extras_of then encodes a
 *   document (or a child element) with rowcodec, writing marked values as
 *   their markers.
 *
 * Rules: a path follows embedded documents only (first occurrence of each
 * key); a value already marked is not marked again; a child array whose
 * elements are not all documents, or whose keys are not "0","1",..., stays
 * in extras whole, as does a junction array with an element its ref type
 * cannot hold.  A column whose field is missing or does not fit gets the
 * mapping's default (NULL when none).
 */
#include "rowstore_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "oid_uuid.h"
#include "rowcodec.h"
#include "rowcodec_hooks.h"
#include "utf8.h"

/* ---- marks: element key address -> marker JSON ------------------------- */



static int mark_cmp(const void *a, const void *b)
{
	const char *x = ((const struct mark *)a)->key, *y = ((const struct mark *)b)->key;
	return (x > y) - (x < y);
}

static const char *enc_marker(void *ctx, const bson_iter_t *it)
{
	struct marks *m = ctx;
	struct mark k = { bson_iter_key(it), NULL };
	struct mark *f = m->n ? bsearch(&k, m->v, m->n, sizeof k, mark_cmp) : NULL;
	return f ? f->json : NULL;
}

/* Linear: called once per child/junction array, before sorting. */
static bool marked(const struct marks *m, const bson_iter_t *it)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].key == bson_iter_key(it))
			return true;
	return false;
}

static void json_name(FILE *f, char prefix, const char *name)
{
	fputc('"', f);
	if (prefix)
		fputc(prefix, f);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static bool mark_add(struct marks *m, const bson_iter_t *it, char prefix, const char *name, int y,
		     int st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return false;
	fputs("{\"~t\":\"c\",\"c\":", f);
	json_name(f, prefix, name);
	fprintf(f, ",\"y\":%d", y);
	if (st >= 0)
		fprintf(f, ",\"st\":%d", st);
	fputc('}', f);
	if (fclose(f) != 0 || !buf) {
		free(buf);
		return false;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct mark *nv = realloc(m->v, cap * sizeof *nv);
		if (!nv) {
			free(buf);
			return false;
		}
		m->v = nv;
		m->cap = cap;
	}
	m->v[m->n].key = bson_iter_key(it);
	m->v[m->n++].json = buf;
	return true;
}

static void marks_free(struct marks *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].json);
	free(m->v);
}

/* ---- paths --------------------------------------------------------------- */

bool rs_find_path(const bson_t *doc, const char *path, bson_iter_t *it)
{
	bson_iter_t cur;
	const char *seg = path;

	if (!bson_iter_init(&cur, doc))
		return false;
	for (;;) {
		const char *dot = strchr(seg, '.');
		size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
		bool found = false;
		while (bson_iter_next(&cur)) {
			const char *k = bson_iter_key(&cur);
			if (strlen(k) == n && !memcmp(k, seg, n)) {
				found = true;
				break;
			}
		}
		if (!found)
			return false;
		if (!dot) {
			*it = cur;
			return true;
		}
		if (!BSON_ITER_HOLDS_DOCUMENT(&cur) || !bson_iter_recurse(&cur, &cur))
			return false;
		seg = dot + 1;
	}
}

/* ---- parameters ---------------------------------------------------------- */


/* Push s (taken; NULL = SQL NULL). */
void rs_param_take(struct params *p, char *s)
{
	if (p->n == p->cap) {
		int cap = p->cap ? p->cap * 2 : 16;
		char **nv = realloc(p->v, (size_t)cap * sizeof *nv);
		if (!nv) {
			free(s);
			p->oom = true;
			return;
		}
		p->v = nv;
		p->cap = cap;
	}
	p->v[p->n++] = s;
}

void rs_param_dup(struct params *p, const char *s)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		p->oom = true;
	rs_param_take(p, d);
}

void rs_params_free(struct params *p)
{
	for (int i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof *p);
}

/* Hand params to a new statement (sql taken too). */
/* The value of one column for a document (or child element) into params;
 * marks the element when the column holds it. */
static bool column_value(const bson_t *doc, const struct mapping_column *col, struct marks *m,
			 struct params *p)
{
	bson_iter_t it;
	struct rs_cell c;

	/* No marked() check: mapping validation keeps two sources of one table
	 * from reaching the same element, and children/junctions come later. */
	if (rs_find_path(doc, col->source, &it) && rs_cell_encode(col, &it, &c)) {
		if (!mark_add(m, &it, 0, col->name, c.y, c.st)) {
			rs_cell_free(&c);
			return false;
		}
		rs_param_take(p, c.in);
		free(c.out);
		return true;
	}
	rs_param_take(p, rs_cell_default(col));
	return true;
}

/* ---- pass 1: what goes where -------------------------------------------- */



void rs_split_free(struct split *s, const struct mapping_collection *mc)
{
	marks_free(&s->marks);
	rs_params_free(&s->cols);
	for (size_t i = 0; s->children && i < mc->n_children; i++) {
		free(s->children[i].elems);
		rs_params_free(&s->children[i].vals);
	}
	for (size_t i = 0; s->refs && i < mc->n_junctions; i++)
		rs_params_free(&s->refs[i]);
	free(s->children);
	free(s->refs);
}

/* An array whose keys are "0", "1", ... ; *n = its length. */
static bool canonical_array(const bson_iter_t *it, bson_iter_t *ai, size_t *n)
{
	bson_iter_t i2;
	char want[24];

	if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, ai))
		return false;
	i2 = *ai;
	*n = 0;
	while (bson_iter_next(&i2)) {
		snprintf(want, sizeof want, "%zu", (*n)++);
		if (strcmp(bson_iter_key(&i2), want))
			return false;
	}
	return true;
}

static bool split_child(const bson_t *doc, const struct mapping_child *ch, struct child_split *cs,
			struct marks *m)
{
	bson_iter_t it, ai;
	size_t n, i = 0;
	uint32_t len;
	const uint8_t *data;

	if (!rs_find_path(doc, ch->source, &it) || marked(m, &it) || !canonical_array(&it, &ai, &n))
		return true; /* stays in extras */
	bson_iter_t probe = ai;
	while (bson_iter_next(&probe))
		if (!BSON_ITER_HOLDS_DOCUMENT(&probe))
			return true; /* not all documents: stays in extras */
	if (n && !(cs->elems = calloc(n, sizeof *cs->elems)))
		return false;
	while (bson_iter_next(&ai)) {
		bson_iter_document(&ai, &len, &data);
		if (!bson_init_static(&cs->elems[i], data, len))
			return false;
		for (size_t c = 0; c < ch->n_columns; c++)
			if (!column_value(&cs->elems[i], &ch->columns[c], m, &cs->vals))
				return false;
		i++;
	}
	cs->n = i;
	return mark_add(m, &it, RS_CHILD_PREFIX, ch->name, BSON_TYPE_ARRAY, -1);
}

/* Text of one reference for a junction of type t, or NULL if it cannot be one. */
static char *junction_ref(enum mapping_type t, const bson_iter_t *it, int y)
{
	uint8_t u[16];
	char buf[40];
	uint32_t len;
	const char *s;

	if ((int)bson_iter_type(it) != y)
		return NULL;
	switch (t) {
	case MAPPING_T_UUID:
		if (y != BSON_TYPE_OID)
			return NULL;
		oid_to_uuid(bson_iter_oid(it), u);
		uuid_format(u, buf);
		return strdup(buf);
	case MAPPING_T_TEXT:
		if (y != BSON_TYPE_UTF8)
			return NULL;
		s = bson_iter_utf8(it, &len);
		if (memchr(s, 0, len) || !utf8_valid(s, len))
			return NULL;
		return strdup(s);
	case MAPPING_T_INT4:
		if (y != BSON_TYPE_INT32)
			return NULL;
		snprintf(buf, sizeof buf, "%d", bson_iter_int32(it));
		return strdup(buf);
	case MAPPING_T_INT8:
		if (y == BSON_TYPE_INT32)
			snprintf(buf, sizeof buf, "%d", bson_iter_int32(it));
		else if (y == BSON_TYPE_INT64)
			snprintf(buf, sizeof buf, "%" PRId64, bson_iter_int64(it));
		else
			return NULL;
		return strdup(buf);
	default:
		return NULL;
	}
}

static bool split_junction(const bson_t *doc, const struct mapping_junction *j, struct params *refs,
			   struct marks *m)
{
	bson_iter_t it, ai, first;
	size_t n;
	int y = BSON_TYPE_ARRAY; /* empty array: no element type */
	char *r;

	if (!rs_find_path(doc, j->source, &it) || marked(m, &it) || !canonical_array(&it, &ai, &n))
		return true;
	first = ai;
	if (n && bson_iter_next(&first))
		y = (int)bson_iter_type(&first);
	while (bson_iter_next(&ai)) {
		if (!(r = junction_ref(j->ref_type, &ai, y))) {
			rs_params_free(refs); /* an element a ref cannot hold: all stays in extras */
			return true;
		}
		rs_param_take(refs, r);
	}
	return !refs->oom && mark_add(m, &it, RS_JUNCTION_PREFIX, j->name, y, -1);
}

bool rs_split_doc(const struct mapping_collection *mc, const bson_t *doc, struct split *s)
{
	memset(s, 0, sizeof *s);
	s->children = calloc(mc->n_children ? mc->n_children : 1, sizeof *s->children);
	s->refs = calloc(mc->n_junctions ? mc->n_junctions : 1, sizeof *s->refs);
	if (!s->children || !s->refs)
		return false;
	for (size_t i = 0; i < mc->n_columns; i++)
		if (!column_value(doc, &mc->columns[i], &s->marks, &s->cols))
			return false;
	for (size_t i = 0; i < mc->n_children; i++)
		if (!split_child(doc, &mc->children[i], &s->children[i], &s->marks))
			return false;
	for (size_t i = 0; i < mc->n_junctions; i++)
		if (!split_junction(doc, &mc->junctions[i], &s->refs[i], &s->marks))
			return false;
	if (s->marks.n)
		qsort(s->marks.v, s->marks.n, sizeof *s->marks.v, mark_cmp);
	return !s->cols.oom;
}

/* ---- pass 2 + statements ------------------------------------------------ */

char *rs_extras_of(const bson_t *doc, struct marks *m, bson_error_t *err)
{
	struct rowcodec_hooks h = { enc_marker, NULL, m };
	char *json, *s;
	size_t len;

	if (!rowcodec_to_json_hooked(doc, &h, &json, &len, err))
		return NULL;
	s = strdup(json);
	bson_free(json);
	return s;
}

/* INSERT INTO "table" (tenant, <key col>, cols...) VALUES ( */
