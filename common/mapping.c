/*
 * mapping.c - load and validate the mapping spec (YAML -> struct mapping).
 *
 * The file is read whole with libyaml's document loader, so every node keeps
 * its line.  Each level (root, collection, column, index, child, junction)
 * has one function that checks its keys, fills its struct and reports every
 * problem through lerr(); a problem never stops the walk, so one run lists
 * every mistake in the file.  Cross-checks that need the whole collection
 * (reserved names, duplicate sources, index columns) and the whole file
 * (duplicate tables) run after the walk.  Any error -> the mapping is freed.
 *
 * Memory: allocation failure aborts (a config loader has no useful fallback).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "mapping.h"

#define MAPPING_MAX_ERRORS 1000

struct loader {
	yaml_document_t doc;
	const char *name;
	struct mapping_errors *errs;
	size_t n_errors;
};

/* Where an error is: "collection 'c' child 's' column 'x'". Unset parts are NULL. */
struct where {
	const char *coll;
	const char *kind; /* "child" | "junction" | NULL */
	const char *sub;
	const char *col;
};

/* ------------------------------------------------------------ utilities */

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

void mapping_errors_init(struct mapping_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
}

void mapping_errors_free(struct mapping_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	mapping_errors_init(errs);
}

static void errs_push(struct mapping_errors *errs, char *msg)
{
	if (errs->n == errs->cap) {
		size_t cap = errs->cap ? errs->cap * 2 : 8;
		char **m = realloc(errs->msgs, cap * sizeof(*m));

		if (!m)
			abort();
		errs->msgs = m;
		errs->cap = cap;
	}
	errs->msgs[errs->n++] = msg;
}

static void errs_addf(struct mapping_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void errs_addf(struct mapping_errors *errs, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	errs_push(errs, xstrdup(buf));
}

/* Report one problem at a YAML line (1-based; 0 when unknown). */
static void lerr_at(struct loader *L, size_t line, const struct where *w, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void lerr_at(struct loader *L, size_t line, const struct where *w, const char *fmt, ...)
{
	char ctx[512] = "", reason[512];
	va_list ap;

	L->n_errors++;
	if (L->errs->n >= MAPPING_MAX_ERRORS)
		return;
	if (w && w->coll) {
		int k = snprintf(ctx, sizeof(ctx), "collection '%s'", w->coll);
		if (w->kind && k > 0 && (size_t)k < sizeof(ctx))
			k += snprintf(ctx + k, sizeof(ctx) - (size_t)k, " %s '%s'", w->kind, w->sub);
		if (w->col && k > 0 && (size_t)k < sizeof(ctx))
			snprintf(ctx + k, sizeof(ctx) - (size_t)k, " column '%s'", w->col);
	}
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	errs_addf(L->errs, "%s:%zu: %s%s%s", L->name, line, ctx, *ctx ? ": " : "", reason);
}

#define lerr(L, n, w, ...) lerr_at((L), (n) ? (size_t)(n)->start_mark.line + 1 : 0, (w), __VA_ARGS__)

static yaml_node_t *node_at(struct loader *L, int id)
{
	return yaml_document_get_node(&L->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

#define FOR_PAIRS(p, n) \
	for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start; p < (n)->data.mapping.pairs.top; p++)
#define FOR_ITEMS(i, n) \
	for (yaml_node_item_t *i = (n)->data.sequence.items.start; i < (n)->data.sequence.items.top; i++)

static size_t n_pairs(const yaml_node_t *n)
{
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static size_t n_items(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/*
 * Check that n (the value of key node owner, used for the line of
 * whole-mapping errors; NULL = n itself) is a mapping whose keys are scalars from allowed (NULL-ended),
 * each once, and that every key in required is present.  Returns false only
 * when n is not a mapping at all (the caller then skips it).
 */
static bool check_keys(struct loader *L, const yaml_node_t *owner, yaml_node_t *n, const struct where *w,
		       const char *what, const char *const *allowed, const char *const *required)
{
	if (!owner)
		owner = n;
	if (!n || n->type != YAML_MAPPING_NODE) {
		lerr(L, owner, w, "%s must be a mapping of keys", what);
		return false;
	}
	FOR_PAIRS(p, n) {
		yaml_node_t *k = node_at(L, p->key);
		const char *ks = scalar(k);
		bool known = false;

		for (size_t i = 0; ks && allowed[i]; i++)
			known |= strcmp(ks, allowed[i]) == 0;
		if (!known) {
			lerr(L, k, w, "unknown key '%s' in %s", ks ? ks : "?", what);
			continue;
		}
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
			if (scalar(node_at(L, q->key)) && strcmp(scalar(node_at(L, q->key)), ks) == 0)
				lerr(L, k, w, "duplicate key '%s'", ks);
	}
	for (size_t i = 0; required && required[i]; i++) {
		bool found = false;
		FOR_PAIRS(p, n)
			found |= scalar(node_at(L, p->key)) && strcmp(scalar(node_at(L, p->key)), required[i]) == 0;
		if (!found)
			lerr(L, owner, w, "missing required key '%s'", required[i]);
	}
	return true;
}

/* The value of key in mapping n (first occurrence), or NULL. */
static yaml_node_t *get(struct loader *L, yaml_node_t *n, const char *key)
{
	FOR_PAIRS(p, n) {
		const char *ks = scalar(node_at(L, p->key));
		if (ks && strcmp(ks, key) == 0)
			return node_at(L, p->value);
	}
	return NULL;
}

/* A scalar value of key (copied), def when absent, NULL (+ error) when not a scalar. */
static char *get_str(struct loader *L, yaml_node_t *n, const char *key, const char *def,
		     const struct where *w)
{
	yaml_node_t *v = get(L, n, key);

	if (!v)
		return def ? xstrdup(def) : NULL;
	if (!scalar(v)) {
		lerr(L, v, w, "key '%s' must be a single value", key);
		return NULL;
	}
	return xstrdup(scalar(v));
}

static bool get_bool(struct loader *L, yaml_node_t *n, const char *key, bool def, const struct where *w)
{
	yaml_node_t *v = get(L, n, key);
	const char *s = scalar(v);

	if (!v)
		return def;
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
		return true;
	if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
		return false;
	lerr(L, v, w, "key '%s' must be true or false", key);
	return def;
}

/* A plain SQL identifier: [a-z_][a-z0-9_]*, at most 63 bytes (no quoting needed). */
static bool is_ident(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAPPING_IDENT_MAX || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
			return false;
	return true;
}

static void check_ident(struct loader *L, const yaml_node_t *n, const struct where *w,
			const char *what, const char *s)
{
	if (s && !is_ident(s))
		lerr(L, n, w, "%s '%s' is not a valid SQL identifier "
		     "(lowercase letters, digits, '_', not starting with a digit, at most 63 bytes)", what, s);
}

/* A dotted path with no empty segment; "_id" and "$" segments are refused. */
static void check_source(struct loader *L, const yaml_node_t *n, const struct where *w, const char *s)
{
	if (!s)
		return;
	if (!*s) {
		lerr(L, n, w, "source path is empty");
		return;
	}
	if (s[0] == '.' || s[strlen(s) - 1] == '.' || strstr(s, ".."))
		lerr(L, n, w, "source path '%s' has an empty segment", s);
	else if (!strcmp(s, "_id") || !strncmp(s, "_id.", 4))
		lerr(L, n, w, "source path '%s': _id is mapped by the collection's 'id' key", s);
	else if (s[0] == '$' || strstr(s, ".$"))
		lerr(L, n, w, "source path '%s': a segment starts with '$'", s);
}

/* ------------------------------------------------------------ types */

static const char *const type_names[] = {
	[MAPPING_T_UUID] = "uuid", [MAPPING_T_TEXT] = "text", [MAPPING_T_INT4] = "int4",
	[MAPPING_T_INT8] = "int8", [MAPPING_T_FLOAT8] = "float8", [MAPPING_T_NUMERIC] = "numeric",
	[MAPPING_T_BOOL] = "bool", [MAPPING_T_TIMESTAMPTZ] = "timestamptz", [MAPPING_T_JSONB] = "jsonb",
	[MAPPING_T_BYTEA] = "bytea", [MAPPING_T_TEXT_ARRAY] = "text[]",
};

static const char *const id_kind_names[] = {
	[MAPPING_ID_OBJECTID] = "objectid", [MAPPING_ID_ANY] = "any", [MAPPING_ID_UUID] = "uuid",
	[MAPPING_ID_TEXT] = "text", [MAPPING_ID_INT8] = "int8",
};

const char *mapping_type_to_str(enum mapping_type t)
{
	return (size_t)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

const char *mapping_id_kind_to_str(enum mapping_id_kind k)
{
	return (size_t)k < sizeof(id_kind_names) / sizeof(id_kind_names[0]) ? id_kind_names[k] : "?";
}

/* "numeric(12,2)" -> precision 12, scale 2.  Returns false on bad syntax or range. */
static bool parse_numeric_args(const char *s, int *precision, int *scale)
{
	unsigned p = 0, sc = 0;
	int used = 0;

	if (sscanf(s, "(%u,%u)%n", &p, &sc, &used) == 2 && s[used] == '\0')
		;
	else if (sc = 0, used = 0, sscanf(s, "(%u)%n", &p, &used) == 1 && s[used] == '\0')
		;
	else
		return false;
	if (p < 1 || p > 1000 || sc > p)
		return false;
	*precision = (int)p;
	*scale = (int)sc;
	return true;
}

/* Parse a type name; numeric may carry "(P)" or "(P,S)" without spaces. */
static bool parse_type(const char *s, enum mapping_type *t, int *precision, int *scale)
{
	*precision = *scale = 0;
	if (!strncmp(s, "numeric(", 8)) {
		*t = MAPPING_T_NUMERIC;
		return parse_numeric_args(s + 7, precision, scale);
	}
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (!strcmp(s, type_names[i])) {
			*t = (enum mapping_type)i;
			return true;
		}
	}
	return false;
}

static bool is_integer(const char *s)
{
	char *end;

	errno = 0;
	(void)strtoll(s, &end, 10);
	return *s && !*end && errno == 0;
}

static bool is_number(const char *s)
{
	char *end;

	(void)strtod(s, &end);
	return *s && !*end && !isspace((unsigned char)*s);
}

/* Defaults are checked here where it is cheap; PostgreSQL checks the rest at --apply. */
static void check_default(struct loader *L, const yaml_node_t *n, const struct where *w,
			  const struct mapping_column *c)
{
	const char *d = c->default_value;
	bool ok = true;

	if (!d)
		return;
	switch (c->type) {
	case MAPPING_T_INT4:
	case MAPPING_T_INT8:
		ok = is_integer(d);
		break;
	case MAPPING_T_FLOAT8:
	case MAPPING_T_NUMERIC:
		ok = is_number(d);
		break;
	case MAPPING_T_BOOL:
		ok = !strcmp(d, "true") || !strcmp(d, "false");
		break;
	default:
		break;
	}
	if (!ok)
		lerr(L, n, w, "default '%s' is not a %s value", d, mapping_type_to_str(c->type));
	if (c->n_enum) {
		bool found = false;
		for (size_t i = 0; i < c->n_enum; i++)
			found |= !strcmp(c->enum_values[i], d);
		if (!found)
			lerr(L, n, w, "default '%s' is not one of the enum values", d);
	}
}

/* ------------------------------------------------------------ columns */

static void parse_enum(struct loader *L, yaml_node_t *v, const struct where *w, struct mapping_column *c)
{
	if (v->type != YAML_SEQUENCE_NODE || n_items(v) == 0) {
		lerr(L, v, w, "enum must be a non-empty list of values");
		return;
	}
	if (c->type != MAPPING_T_TEXT)
		lerr(L, v, w, "enum is only allowed on text columns, not %s", mapping_type_to_str(c->type));
	c->enum_values = xcalloc(n_items(v), sizeof(char *));
	FOR_ITEMS(it, v) {
		yaml_node_t *e = node_at(L, *it);
		const char *s = scalar(e);
		if (!s) {
			lerr(L, e, w, "enum values must be single values");
			continue;
		}
		for (size_t i = 0; i < c->n_enum; i++)
			if (!strcmp(c->enum_values[i], s))
				lerr(L, e, w, "enum value '%s' is listed twice", s);
		c->enum_values[c->n_enum++] = xstrdup(s);
	}
}

static void parse_column(struct loader *L, const char *name, yaml_node_t *key, yaml_node_t *n,
			 struct where *w, struct mapping_column *c)
{
	static const char *const allowed[] = {"source", "type", "nullable", "default", "enum",
					      "references", NULL};
	static const char *const required[] = {"type", NULL};

	w->col = name;
	c->name = xstrdup(name);
	c->line = key->start_mark.line + 1;
	c->nullable = true;
	c->type = MAPPING_T_TEXT;
	if (!check_keys(L, key, n, w, "a column", allowed, required))
		goto out;
	c->source = get_str(L, n, "source", name, w);
	check_source(L, get(L, n, "source") ? get(L, n, "source") : key, w, c->source);
	yaml_node_t *tv = get(L, n, "type");
	const char *ts = scalar(tv);
	if (tv && (!ts || !parse_type(ts, &c->type, &c->precision, &c->scale)))
		lerr(L, tv, w, "unknown type '%s' (uuid, text, int4, int8, float8, numeric, "
		     "numeric(P,S), bool, timestamptz, jsonb, bytea, text[])", ts ? ts : "?");
	c->nullable = get_bool(L, n, "nullable", true, w);
	c->default_value = get_str(L, n, "default", NULL, w);
	c->references = get_str(L, n, "references", NULL, w);
	if (get(L, n, "enum"))
		parse_enum(L, get(L, n, "enum"), w, c);
	check_default(L, get(L, n, "default"), w, c);
out:
	if (!c->source)
		c->source = xstrdup(name);
	w->col = NULL;
}

static void parse_columns(struct loader *L, yaml_node_t *n, struct where *w,
			  struct mapping_column **out, size_t *count)
{
	if (!n)
		return;
	if (n->type != YAML_MAPPING_NODE) {
		lerr(L, n, w, "columns must be a mapping of column name to definition");
		return;
	}
	*out = xcalloc(n_pairs(n), sizeof(**out));
	FOR_PAIRS(p, n) {
		yaml_node_t *k = node_at(L, p->key);
		const char *name = scalar(k);
		if (!name) {
			lerr(L, k, w, "column names must be single words");
			continue;
		}
		w->col = name;
		check_ident(L, k, w, "column name", name);
		for (size_t i = 0; i < *count; i++)
			if (!strcmp((*out)[i].name, name))
				lerr(L, k, w, "duplicate column");
		parse_column(L, name, k, node_at(L, p->value), w, &(*out)[(*count)++]);
	}
}

/* ------------------------------------------------------------ indexes */

static void parse_index(struct loader *L, yaml_node_t *n, const struct where *w,
			struct mapping_index *ix)
{
	static const char *const allowed[] = {"columns", "unique", NULL};
	static const char *const required[] = {"columns", NULL};

	ix->line = n->start_mark.line + 1;
	if (!check_keys(L, NULL, n, w, "an index", allowed, required))
		return;
	ix->unique = get_bool(L, n, "unique", false, w);
	yaml_node_t *cols = get(L, n, "columns");
	if (!cols)
		return;
	if (cols->type != YAML_SEQUENCE_NODE || n_items(cols) == 0) {
		lerr(L, cols, w, "index columns must be a non-empty list of column names");
		return;
	}
	ix->columns = xcalloc(n_items(cols), sizeof(char *));
	FOR_ITEMS(it, cols) {
		const char *s = scalar(node_at(L, *it));
		if (!s)
			lerr(L, node_at(L, *it), w, "index columns must be column names");
		else
			ix->columns[ix->n_columns++] = xstrdup(s);
	}
}

static void parse_indexes(struct loader *L, yaml_node_t *n, const struct where *w,
			  struct mapping_index **out, size_t *count)
{
	if (!n)
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		lerr(L, n, w, "indexes must be a list");
		return;
	}
	*out = xcalloc(n_items(n), sizeof(**out));
	FOR_ITEMS(it, n)
		parse_index(L, node_at(L, *it), w, &(*out)[(*count)++]);
}

/* ------------------------------------------------------------ cross-checks */

/* Segment-wise: "a" is a prefix of "a.b" and of "a", not of "ab". */
static bool path_prefix(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '.');
}

/* One (source, owner) pair per field that the table takes out of the document. */
struct source_ref {
	const char *source;
	const char *owner;
	size_t line;
};

static void check_sources(struct loader *L, const struct where *w, const struct source_ref *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(s[i].owner, s[j].owner) && /* same name: reported as a duplicate */
			    (path_prefix(s[j].source, s[i].source) || path_prefix(s[i].source, s[j].source)))
				lerr_at(L, s[i].line, w, "'%s' (source '%s') overlaps '%s' (source '%s'): "
					"a field may be mapped once", s[i].owner, s[i].source, s[j].owner, s[j].source);
}

static void check_reserved(struct loader *L, const struct where *w0, const struct mapping_column *cols,
			   size_t n, const char *const *reserved)
{
	for (size_t i = 0; i < n; i++)
		for (size_t r = 0; reserved[r]; r++)
			if (!strcmp(cols[i].name, reserved[r])) {
				struct where w = *w0;
				w.col = cols[i].name;
				lerr_at(L, cols[i].line, &w, "the name is reserved for a column tandem adds");
			}
}

static bool has_column(const struct mapping_column *cols, size_t n, const char *name,
		       const char *const *reserved)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(cols[i].name, name))
			return true;
	for (size_t r = 0; reserved[r]; r++)
		if (!strcmp(reserved[r], name))
			return true;
	return false;
}

static void check_index_columns(struct loader *L, const struct where *w, const struct mapping_index *ix,
				size_t n_ix, const struct mapping_column *cols, size_t n_cols,
				const char *const *reserved)
{
	for (size_t i = 0; i < n_ix; i++)
		for (size_t c = 0; c < ix[i].n_columns; c++)
			if (!has_column(cols, n_cols, ix[i].columns[c], reserved)) {
				lerr_at(L, ix[i].line, w, "index names unknown column '%s'", ix[i].columns[c]);
			}
}

/* ------------------------------------------------------------ children, junctions */

static const char *const child_reserved[] = {MAPPING_COL_PARENT, MAPPING_COL_ORD, MAPPING_COL_EXTRAS, NULL};

static void parse_child(struct loader *L, const char *name, yaml_node_t *key, yaml_node_t *n,
			struct where *w, const char *parent_table, struct mapping_child *ch)
{
	static const char *const allowed[] = {"source", "table", "columns", "indexes", NULL};
	static const char *const required[] = {"columns", NULL};
	char def_table[2 * MAPPING_IDENT_MAX + 2];

	w->kind = "child";
	w->sub = name;
	ch->name = xstrdup(name);
	ch->line = key->start_mark.line + 1;
	snprintf(def_table, sizeof(def_table), "%s_%s", parent_table, name);
	if (check_keys(L, key, n, w, "a child", allowed, required)) {
		ch->source = get_str(L, n, "source", name, w);
		check_source(L, get(L, n, "source") ? get(L, n, "source") : key, w, ch->source);
		ch->table = get_str(L, n, "table", def_table, w);
		check_ident(L, get(L, n, "table") ? get(L, n, "table") : key, w, "table name", ch->table);
		parse_columns(L, get(L, n, "columns"), w, &ch->columns, &ch->n_columns);
		parse_indexes(L, get(L, n, "indexes"), w, &ch->indexes, &ch->n_indexes);
	}
	if (!ch->source)
		ch->source = xstrdup(name);
	if (!ch->table)
		ch->table = xstrdup(def_table);
	w->kind = w->sub = NULL;
}

static void parse_junction(struct loader *L, const char *name, yaml_node_t *key, yaml_node_t *n,
			   struct where *w, const char *parent_table, struct mapping_junction *j)
{
	static const char *const allowed[] = {"source", "table", "type", "references", NULL};
	char def_table[2 * MAPPING_IDENT_MAX + 2];
	int p, s;

	w->kind = "junction";
	w->sub = name;
	j->name = xstrdup(name);
	j->line = key->start_mark.line + 1;
	j->ref_type = MAPPING_T_UUID;
	snprintf(def_table, sizeof(def_table), "%s_%s", parent_table, name);
	if (check_keys(L, key, n, w, "a junction", allowed, NULL)) {
		j->source = get_str(L, n, "source", name, w);
		check_source(L, get(L, n, "source") ? get(L, n, "source") : key, w, j->source);
		j->table = get_str(L, n, "table", def_table, w);
		check_ident(L, get(L, n, "table") ? get(L, n, "table") : key, w, "table name", j->table);
		j->references = get_str(L, n, "references", NULL, w);
		yaml_node_t *tv = get(L, n, "type");
		const char *ts = scalar(tv);
		if (tv && (!ts || !parse_type(ts, &j->ref_type, &p, &s) ||
			   !(j->ref_type == MAPPING_T_UUID || j->ref_type == MAPPING_T_TEXT ||
			     j->ref_type == MAPPING_T_INT4 || j->ref_type == MAPPING_T_INT8)))
			lerr(L, tv, w, "junction type '%s' must be uuid, text, int4 or int8", ts ? ts : "?");
	}
	if (!j->source)
		j->source = xstrdup(name);
	if (!j->table)
		j->table = xstrdup(def_table);
	w->kind = w->sub = NULL;
}

static bool is_named_mapping(struct loader *L, yaml_node_t *n, const struct where *w, const char *what)
{
	if (n && n->type != YAML_MAPPING_NODE) {
		lerr(L, n, w, "%s must be a mapping of name to definition", what);
		return false;
	}
	return n != NULL;
}

static void parse_children(struct loader *L, yaml_node_t *n, struct where *w, struct mapping_collection *c)
{
	if (!is_named_mapping(L, n, w, "children"))
		return;
	c->children = xcalloc(n_pairs(n), sizeof(*c->children));
	FOR_PAIRS(p, n) {
		yaml_node_t *k = node_at(L, p->key);
		const char *name = scalar(k);
		if (!name) {
			lerr(L, k, w, "child names must be single words");
			continue;
		}
		struct mapping_child *ch = &c->children[c->n_children++];
		parse_child(L, name, k, node_at(L, p->value), w, c->table, ch);
		w->kind = "child";
		w->sub = name;
		check_reserved(L, w, ch->columns, ch->n_columns, child_reserved);
		check_reserved(L, w, ch->columns, ch->n_columns,
			       (const char *const[]){c->tenant_column, NULL});
		check_index_columns(L, w, ch->indexes, ch->n_indexes, ch->columns, ch->n_columns,
				    child_reserved);
		struct source_ref *refs = xcalloc(ch->n_columns, sizeof(*refs));
		for (size_t i = 0; i < ch->n_columns; i++)
			refs[i] = (struct source_ref){ch->columns[i].source, ch->columns[i].name,
						      ch->columns[i].line};
		check_sources(L, w, refs, ch->n_columns);
		free(refs);
		w->kind = w->sub = NULL;
	}
}

static void parse_junctions(struct loader *L, yaml_node_t *n, struct where *w, struct mapping_collection *c)
{
	if (!is_named_mapping(L, n, w, "junctions"))
		return;
	c->junctions = xcalloc(n_pairs(n), sizeof(*c->junctions));
	FOR_PAIRS(p, n) {
		yaml_node_t *k = node_at(L, p->key);
		const char *name = scalar(k);
		if (!name)
			lerr(L, k, w, "junction names must be single words");
		else
			parse_junction(L, name, k, node_at(L, p->value), w, c->table,
				       &c->junctions[c->n_junctions++]);
	}
}

/* ------------------------------------------------------------ collections */

static void parse_id_kind(struct loader *L, yaml_node_t *n, const struct where *w, enum mapping_id_kind *k)
{
	const char *s = scalar(n);

	*k = MAPPING_ID_OBJECTID;
	if (!n)
		return;
	for (size_t i = 0; s && i < sizeof(id_kind_names) / sizeof(id_kind_names[0]); i++)
		if (!strcmp(s, id_kind_names[i])) {
			*k = (enum mapping_id_kind)i;
			return;
		}
	lerr(L, n, w, "id '%s' must be objectid, any, uuid, text or int8", s ? s : "?");
}

/* Every source the collection's own table and its children/junctions take. */
static void check_collection_sources(struct loader *L, const struct where *w, const struct mapping_collection *c)
{
	size_t n = c->n_columns + c->n_children + c->n_junctions, k = 0;
	struct source_ref *refs = xcalloc(n, sizeof(*refs));

	for (size_t i = 0; i < c->n_columns; i++)
		refs[k++] = (struct source_ref){c->columns[i].source, c->columns[i].name, c->columns[i].line};
	for (size_t i = 0; i < c->n_children; i++)
		refs[k++] = (struct source_ref){c->children[i].source, c->children[i].name, c->children[i].line};
	for (size_t i = 0; i < c->n_junctions; i++)
		refs[k++] = (struct source_ref){c->junctions[i].source, c->junctions[i].name,
						c->junctions[i].line};
	check_sources(L, w, refs, k);
	free(refs);
}

static void parse_collection(struct loader *L, const char *name, yaml_node_t *key, yaml_node_t *n,
			     struct mapping_collection *c)
{
	static const char *const allowed[] = {"table", "tenant_column", "id", "columns", "indexes",
					      "children", "junctions", NULL};
	static const char *const required[] = {"columns", NULL};
	struct where w = {.coll = name};

	c->name = xstrdup(name);
	c->line = key->start_mark.line + 1;
	if (check_keys(L, key, n, &w, "a collection", allowed, required)) {
		c->table = get_str(L, n, "table", name, &w);
		c->tenant_column = get_str(L, n, "tenant_column", MAPPING_DEFAULT_TENANT_COLUMN, &w);
	}
	if (!c->table)
		c->table = xstrdup(name);
	if (!c->tenant_column)
		c->tenant_column = xstrdup(MAPPING_DEFAULT_TENANT_COLUMN);
	if (n->type != YAML_MAPPING_NODE)
		return;
	check_ident(L, get(L, n, "table") ? get(L, n, "table") : key, &w, "table name", c->table);
	check_ident(L, get(L, n, "tenant_column") ? get(L, n, "tenant_column") : key, &w,
		    "tenant column", c->tenant_column);
	parse_id_kind(L, get(L, n, "id"), &w, &c->id_kind);
	parse_columns(L, get(L, n, "columns"), &w, &c->columns, &c->n_columns);
	parse_indexes(L, get(L, n, "indexes"), &w, &c->indexes, &c->n_indexes);
	parse_children(L, get(L, n, "children"), &w, c);
	parse_junctions(L, get(L, n, "junctions"), &w, c);

	const char *const reserved[] = {c->tenant_column, MAPPING_COL_ID, MAPPING_COL_LEGACY_ID,
					MAPPING_COL_EXTRAS, NULL};
	check_reserved(L, &w, c->columns, c->n_columns, reserved);
	check_index_columns(L, &w, c->indexes, c->n_indexes, c->columns, c->n_columns, reserved);
	check_collection_sources(L, &w, c);
}

/* Every table name (collections, children, junctions) appears once. */
static void check_tables(struct loader *L, const struct mapping *m)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < m->n_collections; i++)
		n += 1 + m->collections[i].n_children + m->collections[i].n_junctions;
	struct source_ref *t = xcalloc(n, sizeof(*t)); /* source = table, owner = collection */
	for (size_t i = 0; i < m->n_collections; i++) {
		const struct mapping_collection *c = &m->collections[i];
		t[k++] = (struct source_ref){c->table, c->name, c->line};
		for (size_t j = 0; j < c->n_children; j++)
			t[k++] = (struct source_ref){c->children[j].table, c->name, c->children[j].line};
		for (size_t j = 0; j < c->n_junctions; j++)
			t[k++] = (struct source_ref){c->junctions[j].table, c->name, c->junctions[j].line};
	}
	for (size_t i = 0; i < k; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t[i].source, t[j].source)) {
				struct where w = {.coll = t[i].owner};
				lerr_at(L, t[i].line, &w, "table '%s' is already used (line %zu)",
					t[i].source, t[j].line);
				break;
			}
	free(t);
}

static void parse_root(struct loader *L, yaml_node_t *root, struct mapping *m)
{
	static const char *const allowed[] = {"version", "collections", NULL};
	static const char *const required[] = {"collections", NULL};

	if (!check_keys(L, NULL, root, NULL, "the mapping file", allowed, required))
		return;
	yaml_node_t *v = get(L, root, "version");
	if (v && (!scalar(v) || strcmp(scalar(v), "1")))
		lerr(L, v, NULL, "version must be 1");
	yaml_node_t *colls = get(L, root, "collections");
	if (!colls)
		return;
	if (colls->type != YAML_MAPPING_NODE) {
		lerr(L, colls, NULL, "collections must be a mapping of collection name to definition");
		return;
	}
	m->collections = xcalloc(n_pairs(colls), sizeof(*m->collections));
	FOR_PAIRS(p, colls) {
		yaml_node_t *k = node_at(L, p->key);
		const char *name = scalar(k);
		if (!name || !*name) {
			lerr(L, k, NULL, "collection names must be non-empty single words");
			continue;
		}
		for (size_t i = 0; i < m->n_collections; i++)
			if (!strcmp(m->collections[i].name, name))
				lerr(L, k, NULL, "collection '%s' is mapped twice", name);
		parse_collection(L, name, k, node_at(L, p->value), &m->collections[m->n_collections++]);
	}
	check_tables(L, m);
}

/* ------------------------------------------------------------ public API */

static bool load_parser(yaml_parser_t *parser, const char *name, struct mapping **out,
			struct mapping_errors *errs)
{
	struct loader L = {.name = name, .errs = errs};
	struct mapping *m = xcalloc(1, sizeof(*m));

	if (!yaml_parser_load(parser, &L.doc)) {
		errs_addf(errs, "%s:%zu: YAML syntax: %s", name, parser->problem_mark.line + 1,
			  parser->problem ? parser->problem : "unknown error");
		mapping_free(m);
		return false;
	}
	yaml_node_t *root = yaml_document_get_root_node(&L.doc);
	if (!root)
		lerr_at(&L, 1, NULL, "the mapping file is empty");
	else
		parse_root(&L, root, m);
	yaml_document_delete(&L.doc);
	if (L.n_errors > MAPPING_MAX_ERRORS)
		errs_addf(errs, "%s: %zu more errors not shown", name, L.n_errors - MAPPING_MAX_ERRORS);
	if (L.n_errors) {
		mapping_free(m);
		return false;
	}
	*out = m;
	return true;
}

bool mapping_load_string(const char *text, size_t len, const char *name, struct mapping **out,
			 struct mapping_errors *errs)
{
	yaml_parser_t parser;

	*out = NULL;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	bool ok = load_parser(&parser, name, out, errs);
	yaml_parser_delete(&parser);
	return ok;
}

bool mapping_load(const char *path, struct mapping **out, struct mapping_errors *errs)
{
	yaml_parser_t parser;
	FILE *f = fopen(path, "rb");

	*out = NULL;
	if (!f) {
		errs_addf(errs, "%s: cannot open: %s", path, strerror(errno));
		return false;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	bool ok = load_parser(&parser, path, out, errs);
	yaml_parser_delete(&parser);
	fclose(f);
	return ok;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_columns(struct mapping_column *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(cols[i].name);
		free(cols[i].source);
		free(cols[i].default_value);
		free(cols[i].references);
		free_strv(cols[i].enum_values, cols[i].n_enum);
	}
	free(cols);
}

static void free_indexes(struct mapping_index *ix, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free_strv(ix[i].columns, ix[i].n_columns);
	free(ix);
}

static void free_collection(struct mapping_collection *c)
{
	free(c->name);
	free(c->table);
	free(c->tenant_column);
	free_columns(c->columns, c->n_columns);
	free_indexes(c->indexes, c->n_indexes);
	for (size_t i = 0; i < c->n_children; i++) {
		struct mapping_child *ch = &c->children[i];
		free(ch->name);
		free(ch->source);
		free(ch->table);
		free_columns(ch->columns, ch->n_columns);
		free_indexes(ch->indexes, ch->n_indexes);
	}
	free(c->children);
	for (size_t i = 0; i < c->n_junctions; i++) {
		free(c->junctions[i].name);
		free(c->junctions[i].source);
		free(c->junctions[i].table);
		free(c->junctions[i].references);
	}
	free(c->junctions);
}

void mapping_free(struct mapping *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_collections; i++)
		free_collection(&m->collections[i]);
	free(m->collections);
	free(m);
}

const struct mapping_collection *mapping_find(const struct mapping *m, const char *coll)
{
	for (size_t i = 0; m && i < m->n_collections; i++)
		if (!strcmp(m->collections[i].name, coll))
			return &m->collections[i];
	return NULL;
}

void mapping_default_collection(const char *coll, struct mapping_collection *out)
{
	memset(out, 0, sizeof(*out));
	out->name = (char *)coll;
	mapping_ident_fit(coll, out->table_buf);
	out->table = out->table_buf;
	out->tenant_column = (char *)MAPPING_DEFAULT_TENANT_COLUMN;
	out->id_kind = MAPPING_ID_ANY;
	out->is_default = true;
}

/* FNV-1a, 32 bits: stable across builds and machines (names go into the schema). */
static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

void mapping_ident_fit(const char *name, char out[MAPPING_IDENT_MAX + 1])
{
	size_t n = strlen(name), keep = MAPPING_IDENT_MAX - 9;

	if (n <= MAPPING_IDENT_MAX) {
		memcpy(out, name, n + 1);
		return;
	}
	while (keep > 0 && ((uint8_t)name[keep] & 0xC0) == 0x80)
		keep--; /* name[keep] would start the cut-off part: keep it a lead byte */
	memcpy(out, name, keep);
	snprintf(out + keep, MAPPING_IDENT_MAX + 1 - keep, "_%08x", (unsigned)fnv1a(name));
}
