/*
 * rowstore_pgarr.c - PostgreSQL array literals: writing text[] parameters
 * and strictly reading text[] output (a text[] column, a junction's refs,
 * a child table's rows aggregated as a two-dimensional text[]).
 *
 * Output grammar read here (array_out): '{' items '}' with items separated
 * by ','; an item is NULL, a bare word (no quotes, braces, commas,
 * backslashes or white space), or a double-quoted string in which '\'
 * escapes the next byte.  No dimension decoration ("[0:1]=") is accepted.
 */
#include "rowstore_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ITEMS (1u << 24)

void rs_strs_free(struct rs_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static bool strs_push(struct rs_strs *s, char *v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **nv = cap > MAX_ITEMS ? NULL : realloc(s->v, cap * sizeof *nv);
		if (!nv) {
			free(v);
			return false;
		}
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
	return true;
}

struct parser {
	const char *p;
	bson_error_t *err;
};

#define PFAIL(ps, msg) (RS_ERR((ps)->err, ROWSTORE_ERR_ROW, "array literal: %s", msg), false)

static bool bare_char(char c)
{
	return c && !strchr("{}\",\\ \t\n\r\v\f", c);
}

/* One item at ps->p; pushes a malloc'd string or NULL. */
static bool parse_item(struct parser *ps, struct rs_strs *out)
{
	const char *p = ps->p, *q;
	char *s;
	size_t n = 0;

	if (*p == '"') {
		for (q = ++p; *q && *q != '"'; q++)
			if (*q == '\\' && !*++q)
				break;
		if (*q != '"')
			return PFAIL(ps, "unterminated string");
		if (!(s = malloc((size_t)(q - p) + 1)))
			return PFAIL(ps, "out of memory");
		for (; p < q; p++) {
			if (*p == '\\')
				p++;
			s[n++] = *p;
		}
		s[n] = '\0';
		ps->p = q + 1;
		return strs_push(out, s) ? true : PFAIL(ps, "too many items");
	}
	for (q = p; bare_char(*q); q++)
		;
	if (q == p)
		return PFAIL(ps, "empty item");
	ps->p = q;
	if (q - p == 4 && !strncmp(p, "NULL", 4))
		return strs_push(out, NULL) ? true : PFAIL(ps, "too many items");
	if (!(s = strndup(p, (size_t)(q - p))))
		return PFAIL(ps, "out of memory");
	return strs_push(out, s) ? true : PFAIL(ps, "too many items");
}

static bool parse_level(struct parser *ps, int level, int dims, size_t width, struct rs_strs *out)
{
	size_t before = out->n;

	if (*ps->p != '{')
		return PFAIL(ps, "expected '{'");
	ps->p++;
	if (*ps->p == '}' && level == 1) {
		ps->p++;
		return true; /* empty array */
	}
	for (;;) {
		if (level < dims ? !parse_level(ps, level + 1, dims, width, out)
				 : !parse_item(ps, out))
			return false;
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p != '}')
			return PFAIL(ps, "expected ',' or '}'");
		ps->p++;
		break;
	}
	if (level == dims && dims > 1 && out->n - before != width)
		return PFAIL(ps, "inner array of the wrong length");
	return true;
}

bool rs_pgarray_parse(const char *s, int dims, size_t width, struct rs_strs *out, bson_error_t *err)
{
	struct parser ps = { s, err };

	bool ok;

	memset(out, 0, sizeof *out);
	ok = parse_level(&ps, 1, dims, width, out);
	if (ok && *ps.p)
		ok = PFAIL(&ps, "trailing bytes");
	if (!ok)
		rs_strs_free(out);
	return ok;
}

char *rs_pgarray_format(const char *const *items, size_t n)
{
	size_t cap = 3;
	char *s, *o;

	for (size_t i = 0; i < n; i++)
		cap += 2 * strlen(items[i]) + 3;
	if (!(s = malloc(cap)))
		return NULL;
	o = s;
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*o++ = ',';
		*o++ = '"';
		for (const char *p = items[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				*o++ = '\\';
			*o++ = *p;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return s;
}
