/*
 * fuzz_rowselect.c - libFuzzer target for the filter push-down of
 * rowstore_select (rowstore_select.c, rowstore_where.c, rowstore_wherecol.c).
 *
 * Input: one BSON document (its first int32 is its length), the filter a
 * client sent; untrusted.  It is validated (every level, depth <= 200) and
 * turned into a SELECT for the default table and for one mapped table per
 * id kind, whose columns have every type (MAPPING below).  What must hold:
 *
 *   - rowstore_select succeeds and appends exactly one statement;
 *   - values reach PostgreSQL only as parameters: the filter is run again
 *     twice with a random marker (A, then B, same length) appended to every
 *     string value and to every key the mapping does not name, and to the
 *     tenant; neither marker may appear in the SQL text, and both SQL texts
 *     must be byte-identical;
 *   - the SQL text has no literal, number or quoted identifier that the
 *     filter-less SELECT of the same collection lacks (besides COLLATE "C"),
 *     no ';', no comment, no dollar quote; quotes and parentheses balance;
 *   - every $n is 1..nparams, every parameter is referenced (PostgreSQL
 *     cannot type an unused one), always with the same cast;
 *   - every parameter is NULL or valid UTF-8, and parses as its cast type
 *     (int8, float8, numeric within PostgreSQL's exponent limits, bool,
 *     uuid, jsonb, and arrays of those in PostgreSQL's array syntax).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "mapping.h"
#include "rowstore.h"

#define MAX_DEPTH 200
#define MARKER_LEN 16
#define MAX_TOKENS 4096

static const char MAPPING[] =
	"version: 1\n"
	"collections:\n"
	"%s";
static const char COLL_FMT[] =
	"  k_%s:\n"
	"    id: %s\n"
	"    columns:\n"
	"      c_i4: {type: int4}\n"
	"      c_i8: {type: int8, source: n.i8}\n"
	"      c_f8: {type: float8}\n"
	"      c_num: {type: numeric}\n"
	"      c_price: {type: 'numeric(12,2)', source: price.amount, default: 0}\n"
	"      c_text: {type: text, nullable: false}\n"
	"      c_status: {type: text, default: new, enum: [new, done]}\n"
	"      c_bool: {type: bool, default: true}\n"
	"      c_ts: {type: timestamptz, source: at, default: now()}\n"
	"      c_uuid: {type: uuid, source: owner}\n"
	"      c_tags: {type: 'text[]', source: tags}\n"
	"      c_json: {type: jsonb}\n"
	"      c_bytes: {type: bytea}\n"
	"      c_deep: {type: text, source: a.b.c.d}\n"
	"    children:\n"
	"      kids: {columns: {k_i8: {type: int8}, k_f: {type: float8}, k_t: {type: text}}}\n"
	"    junctions:\n"
	"      refs: {type: text}\n"
	"      owners: {type: uuid, source: ownerIds}\n";
static const char *const KINDS[] = { "objectid", "any", "text", "int8", "uuid" };
#define NCOLL (1 + sizeof KINDS / sizeof *KINDS)

/* Tokens of a SELECT's text that did not come from a parameter. */
struct toks {
	char *v[MAX_TOKENS];
	int n;
};

static struct mapping *mapping;
static struct mapping_collection default_coll;
static const struct mapping_collection *colls[NCOLL];
static struct toks base[NCOLL];	/* of the filter-less SELECT */
static bool have_base[NCOLL];
/* What the WHERE's template adds to the select list's: t."id", COLLATE "C". */
static struct toks where_toks = { { "\"id", "\"C" }, 2 };
static char marker[2][MARKER_LEN + 1];

/* ---- validation of the input (as fuzz_readexec.c) ----------------------- */

static bool strict_valid(const uint8_t *data, uint32_t len, int depth)
{
	bson_t b;
	bson_iter_t it;

	if (depth > MAX_DEPTH || !bson_init_static(&b, data, len) || !bson_iter_init(&it, &b))
		return false;
	while (bson_iter_next(&it)) {
		if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
			uint32_t l;
			const uint8_t *d;
			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_iter_document(&it, &l, &d);
			else
				bson_iter_array(&it, &l, &d);
			if (!strict_valid(d, l, depth + 1))
				return false;
		}
	}
	return it.err_off == 0;
}

/* ---- planting the marker --------------------------------------------------- */

/* A key the mapping names (kept as is so the push-down still sees it). */
static bool named_key(const char *k)
{
	if (k[0] == '$' || !strcmp(k, "_id"))
		return true;
	for (size_t c = 0; c < mapping->n_collections; c++) {
		const struct mapping_collection *mc = &mapping->collections[c];
		for (size_t i = 0; i < mc->n_columns; i++)
			if (!strcmp(mc->columns[i].source, k))
				return true;
		for (size_t i = 0; i < mc->n_children; i++)
			if (!strcmp(mc->children[i].source, k))
				return true;
		for (size_t i = 0; i < mc->n_junctions; i++)
			if (!strcmp(mc->junctions[i].source, k))
				return true;
	}
	return false;
}

static char *cat(const char *s, size_t len, const char *m)
{
	char *r = malloc(len + MARKER_LEN + 1);

	if (!r)
		abort();
	memcpy(r, s, len);
	memcpy(r + len, m, MARKER_LEN + 1);
	return r;
}

/* out = in with m appended to every string value and unnamed key (array
 * keys stay). */
static void plant(const bson_t *in, bson_t *out, const char *m, bool is_array)
{
	bson_iter_t it;
	bson_t sub, child;
	uint32_t len;
	const uint8_t *d;
	const char *s, *s2;

	if (!bson_iter_init(&it, in))
		abort();
	while (bson_iter_next(&it)) {
		const char *k0 = bson_iter_key(&it);
		char *k = is_array || named_key(k0) ? strdup(k0) : cat(k0, strlen(k0), m), *v;
		switch (bson_iter_type(&it)) {
		case BSON_TYPE_UTF8:
			s = bson_iter_utf8(&it, &len);
			v = cat(s, len, m);
			bson_append_utf8(out, k, -1, v, (int)(len + MARKER_LEN));
			free(v);
			break;
		case BSON_TYPE_SYMBOL:
			s = bson_iter_symbol(&it, &len);
			v = cat(s, len, m);
			bson_append_symbol(out, k, -1, v, (int)(len + MARKER_LEN));
			free(v);
			break;
		case BSON_TYPE_REGEX:
			s = bson_iter_regex(&it, &s2);
			v = cat(s, strlen(s), m);
			bson_append_regex(out, k, -1, v, s2);
			free(v);
			break;
		case BSON_TYPE_DOCUMENT:
		case BSON_TYPE_ARRAY:
			if (BSON_ITER_HOLDS_DOCUMENT(&it)) {
				bson_iter_document(&it, &len, &d);
				bson_append_document_begin(out, k, -1, &child);
			} else {
				bson_iter_array(&it, &len, &d);
				bson_append_array_begin(out, k, -1, &child);
			}
			if (!bson_init_static(&sub, d, len))
				abort();
			plant(&sub, &child, m, BSON_ITER_HOLDS_ARRAY(&it));
			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_append_document_end(out, &child);
			else
				bson_append_array_end(out, &child);
			break;
		default:
			bson_append_iter(out, k, -1, &it);
		}
		free(k);
	}
}

/* ---- the SQL text ---------------------------------------------------------- */

static bool toks_has(const struct toks *t, const char *s)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->v[i], s))
			return true;
	return false;
}

static void toks_add(struct toks *t, char kind, const char *s, size_t len)
{
	char *v = malloc(len + 2);

	if (!v)
		abort();
	v[0] = kind;
	memcpy(v + 1, s, len);
	v[len + 1] = '\0';
	if (toks_has(t, v)) {
		free(v);
		return;
	}
	if (t->n == MAX_TOKENS)
		abort(); /* more distinct tokens than any template has */
	t->v[t->n++] = v;
}

static void toks_free(struct toks *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->v[i]);
	t->n = 0;
}

/* End of a quoted token starting at s (q doubled inside = itself). */
static const char *quoted_end(const char *s, char q)
{
	for (s++; *s; s++) {
		if (*s == q && s[1] == q)
			s++;
		else if (*s == q)
			return s;
	}
	abort(); /* unterminated */
}

/* Length of the type name (with "[]") at s. */
static size_t cast_len(const char *s)
{
	size_t n = 0;

	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	if (n && !strncmp(s + n, "[]", 2))
		n += 2;
	return n;
}

/* $n at s: check n and its cast ("" = none); the position after the number. */
static const char *placeholder(const char *s, const struct sqlstmt *st, const char **casts)
{
	char *end;
	long n;

	if (!isdigit((unsigned char)s[1]))
		abort(); /* a dollar quote or a stray '$' */
	errno = 0;
	n = strtol(s + 1, &end, 10);
	if (errno || n < 1 || n > st->nparams)
		abort();
	const char *cast = strncmp(end, "::", 2) ? "" : end + 2;
	if (!casts[n - 1])
		casts[n - 1] = cast;
	else if (cast_len(cast) != cast_len(casts[n - 1]) || strncmp(cast, casts[n - 1], cast_len(cast)))
		abort(); /* one parameter, two types */
	return end;
}

/* Walk the text: tokens into t, placeholders checked (casts: per parameter). */
static void scan(const struct sqlstmt *st, struct toks *t, const char **casts)
{
	const char *s = st->sql, *e;
	int depth = 0;

	while (*s) {
		switch (*s) {
		case '"': case '\'':
			e = quoted_end(s, *s);
			toks_add(t, *s, s + 1, (size_t)(e - s - 1));
			s = e + 1;
			continue;
		case '$':
			s = placeholder(s, st, casts);
			continue;
		case '(': depth++; break;
		case ')': if (--depth < 0) abort(); break;
		case ';': case '\\': abort();
		case '-': if (s[1] == '-') abort(); break;
		case '/': if (s[1] == '*') abort(); break;
		default:
			if ((unsigned char)*s >= 0x80 || (*s < 0x20 && *s != '\n'))
				abort(); /* only identifiers and literals hold such bytes */
			if (isdigit((unsigned char)*s) && (s == st->sql || !(isalnum((unsigned char)s[-1]) || s[-1] == '_'))) {
				for (e = s; isdigit((unsigned char)*e) || *e == '.'; e++)
					;
				toks_add(t, '#', s, (size_t)(e - s));
				s = e;
				continue;
			}
		}
		s++;
	}
	if (depth)
		abort();
}

/* ---- the parameters --------------------------------------------------------- */

static bool is_int8(const char *s)
{
	char *end;

	errno = 0;
	(void)strtoll(s, &end, 10);
	return *s && !errno && !*end && !isspace((unsigned char)*s);
}

static bool is_float8(const char *s)
{
	char *end;

	if (!strcmp(s, "Infinity") || !strcmp(s, "-Infinity") || !strcmp(s, "NaN"))
		return true;
	(void)strtod(s, &end);
	return *s && !*end && !isspace((unsigned char)*s) && !strpbrk(s, "nNiIxX");
}

/* numeric input: digits, one point, an exponent within +-1000. */
static bool is_numeric(const char *s)
{
	const char *p = s + (*s == '-');
	size_t digits = 0;

	for (; isdigit((unsigned char)*p); p++)
		digits++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits++;
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		char *end;
		long x = strtol(p + 1, &end, 10);
		if (end == p + 1 || *end || x > 1000 || x < -1000)
			return false;
		return true;
	}
	return !*p;
}

static bool is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool is_jsonb(const char *s)
{
	bson_error_t e;
	bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &e);

	if (b)
		bson_destroy(b);
	return b != NULL;
}

static bool scalar_ok(const char *type, size_t tl, const char *s)
{
#define IS(name) (tl == strlen(name) && !strncmp(type, name, tl))
	if (IS("int8"))
		return is_int8(s);
	if (IS("float8"))
		return is_float8(s);
	if (IS("numeric"))
		return is_numeric(s);
	if (IS("bool"))
		return !strcmp(s, "true") || !strcmp(s, "false");
	if (IS("uuid"))
		return is_uuid(s);
	if (IS("jsonb"))
		return is_jsonb(s);
	if (IS("timestamptz"))
		return strlen(s) >= 26 && !strcmp(s + strlen(s) - 3, "+00");
	return IS("text") || tl == 0;
#undef IS
}

/* {"a","b\"c"} with every element quoted (rs_pgarray_format's form). */
static bool array_ok(const char *type, size_t tl, const char *s)
{
	char buf[8192];

	if (*s++ != '{')
		return false;
	while (*s == '"') {
		size_t n = 0;
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && !*++s)
				return false;
			if (n == sizeof buf - 1)
				return true; /* long element: quoting checked, value not */
			buf[n++] = *s;
		}
		if (*s++ != '"')
			return false;
		buf[n] = '\0';
		if (!scalar_ok(type, tl, buf))
			return false;
		if (*s == ',')
			s++;
		else
			break;
	}
	return s[0] == '}' && !s[1];
}

static void check_param(const char *p, const char *cast)
{
	size_t tl = 0;

	if (!p)
		return;
	if (!bson_utf8_validate(p, strlen(p), false))
		abort();
	while (isalnum((unsigned char)cast[tl]) || cast[tl] == '_')
		tl++;
	if (tl && !strncmp(cast + tl, "[]", 2) ? !array_ok(cast, tl, p) : !scalar_ok(cast, tl, p))
		abort();
}

/* ---- one SELECT ---------------------------------------------------------------- */

/* Run rowstore_select; the checked statement's SQL (caller frees). */
static char *select_one(int c, const bson_t *filter, const char *tenant, int *nparams)
{
	struct sqllist l;
	bson_error_t err;
	struct toks t = { .n = 0 };
	const char **casts;
	char *sql;

	sqllist_init(&l);
	if (!rowstore_select(colls[c], tenant, filter, &l, &err) || l.n != 1)
		abort();
	const struct sqlstmt *st = &l.stmts[0];
	if (st->nparams < 1 || !st->params[0] || strcmp(st->params[0], tenant))
		abort();
	if (!(casts = calloc((size_t)st->nparams, sizeof *casts)))
		abort();
	scan(st, &t, casts);
	for (int i = 0; i < t.n; i++)
		if (have_base[c] && !toks_has(&base[c], t.v[i]) && !toks_has(&where_toks, t.v[i])) {
			fprintf(stderr, "token %s not from the template in: %s\n", t.v[i], st->sql);
			abort(); /* text that is neither the template nor a placeholder */
		}
	for (int i = 0; i < st->nparams; i++) {
		if (!casts[i])
			abort(); /* unreferenced: PostgreSQL cannot infer its type */
		check_param(st->params[i], casts[i]);
	}
	free(casts);
	if (!have_base[c]) {
		base[c] = t;
		have_base[c] = true;
	} else {
		toks_free(&t);
	}
	*nparams = st->nparams;
	sql = strdup(st->sql);
	sqllist_free(&l);
	return sql;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char text[16384], colls_text[16000];
	size_t off = 0;
	struct mapping_errors errs;
	FILE *r = fopen("/dev/urandom", "rb");
	int np;

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < NCOLL - 1; i++)
		off += (size_t)snprintf(colls_text + off, sizeof colls_text - off, COLL_FMT, KINDS[i], KINDS[i]);
	snprintf(text, sizeof text, MAPPING, colls_text);
	mapping_errors_init(&errs);
	if (!mapping_load_string(text, strlen(text), "fuzz.yaml", &mapping, &errs)) {
		fprintf(stderr, "fuzz_rowselect: mapping: %s\n", errs.n ? errs.msgs[0] : "?");
		abort();
	}
	mapping_errors_free(&errs);
	mapping_default_collection("things", &default_coll);
	colls[0] = &default_coll;
	for (size_t i = 0; i < NCOLL - 1; i++) {
		char name[32];
		snprintf(name, sizeof name, "k_%s", KINDS[i]);
		if (!(colls[i + 1] = mapping_find(mapping, name)))
			abort();
	}
	/* Random markers: the input cannot plant them where the template is. */
	for (int m = 0; m < 2; m++)
		for (int i = 0; i < MARKER_LEN; i++) {
			unsigned char b = 0;
			if (!r || fread(&b, 1, 1, r) != 1)
				b = (unsigned char)rand();
			marker[m][i] = (char)((i & 1 ? 'a' : 'A') + b % 26);
		}
	if (r)
		fclose(r);
	for (size_t c = 0; c < NCOLL; c++)
		free(select_one((int)c, NULL, "tenant", &np));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t filter;
	uint32_t len;
	size_t off;

	if (size < 5)
		return 0;
	len = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	if (len < 5 || len > size || !bson_init_static(&filter, data, len) ||
	    !bson_validate(&filter, BSON_VALIDATE_NONE, &off) || !strict_valid(data, len, 0))
		return 0;
	bson_t planted[2] = { BSON_INITIALIZER, BSON_INITIALIZER };
	char tenant[2][MARKER_LEN + 8];
	for (int m = 0; m < 2; m++) {
		plant(&filter, &planted[m], marker[m], false);
		snprintf(tenant[m], sizeof tenant[m], "acme%s", marker[m]);
	}
	for (size_t c = 0; c < NCOLL; c++) {
		int n0, na, nb;
		char *s0 = select_one((int)c, &filter, "acme", &n0);
		char *sa = select_one((int)c, &planted[0], tenant[0], &na);
		char *sb = select_one((int)c, &planted[1], tenant[1], &nb);
		if (strstr(sa, marker[0]) || strstr(sa, marker[1]) || strstr(sb, marker[0]) ||
		    strstr(sb, marker[1]) || strstr(s0, marker[0]))
			abort(); /* a value or key of the filter in the SQL text */
		if (strcmp(sa, sb) || na != nb)
			abort(); /* the SQL text depends on string values */
		free(s0);
		free(sa);
		free(sb);
	}
	bson_destroy(&planted[0]);
	bson_destroy(&planted[1]);
	return 0;
}
