/*
 * mapping_parse.c - the walk over the YAML document that fills struct
 * mapping: types, columns, indexes, children, junctions, collections, root.
 *
 *   root --> collection --> column / index
 *                       --> child --> column / index
 *                       --> junction
 *
 * Each level has one function that checks its keys, fills its struct and
 * reports every problem through lerr(); a problem never stops the walk, so
 * one run lists every mistake in the file.  Whatever the input, every
 * string a struct must have (name, table, source, ...) is set, so the
 * cross-checks (mapping_check.c) and mapping_free can rely on it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping_internal.h"

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
	if (v->type != YAML_SEQUENCE_NODE || mapping_n_items(v) == 0) {
		lerr(L, v, w, "enum must be a non-empty list of values");
		return;
	}
	if (c->type != MAPPING_T_TEXT)
		lerr(L, v, w, "enum is only allowed on text columns, not %s", mapping_type_to_str(c->type));
	c->enum_values = mapping_xcalloc(mapping_n_items(v), sizeof(char *));
	FOR_ITEMS(it, v) {
		yaml_node_t *e = mapping_node_at(L, *it);
		const char *s = mapping_scalar(e);
		if (!s) {
			lerr(L, e, w, "enum values must be single values");
			continue;
		}
		for (size_t i = 0; i < c->n_enum; i++)
			if (!strcmp(c->enum_values[i], s))
				lerr(L, e, w, "enum value '%s' is listed twice", s);
		c->enum_values[c->n_enum++] = mapping_xstrdup(s);
	}
}

static void parse_column(struct loader *L, const char *name, yaml_node_t *key, yaml_node_t *n,
			 struct where *w, struct mapping_column *c)
{
	static const char *const allowed[] = {"source", "type", "nullable", "default", "enum",
					      "references", NULL};
	static const char *const required[] = {"type", NULL};

	w->col = name;
	c->name = mapping_xstrdup(name);
	c->line = key->start_mark.line + 1;
	c->nullable = true;
	c->type = MAPPING_T_TEXT;
	if (!mapping_check_keys(L, key, n, w, "a column", allowed, required))
		goto out;
	c->source = mapping_get_str(L, n, "source", name, w);
	mapping_check_source(L, mapping_get(L, n, "source") ? mapping_get(L, n, "source") : key, w, c->source);
	yaml_node_t *tv = mapping_get(L, n, "type");
	const char *ts = mapping_scalar(tv);
	if (tv && (!ts || !parse_type(ts, &c->type, &c->precision, &c->scale)))
		lerr(L, tv, w, "unknown type '%s' (uuid, text, int4, int8, float8, numeric, "
		     "numeric(P,S), bool, timestamptz, jsonb, bytea, text[])", ts ? ts : "?");
	c->nullable = mapping_get_bool(L, n, "nullable", true, w);
	c->default_value = mapping_get_str(L, n, "default", NULL, w);
	c->references = mapping_get_str(L, n, "references", NULL, w);
	if (mapping_get(L, n, "enum"))
		parse_enum(L, mapping_get(L, n, "enum"), w, c);
	check_default(L, mapping_get(L, n, "default"), w, c);
out:
	if (!c->source)
		c->source = mapping_xstrdup(name);
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
	*out = mapping_xcalloc(mapping_n_pairs(n), sizeof(**out));
	FOR_PAIRS(p, n) {
		yaml_node_t *k = mapping_node_at(L, p->key);
		const char *name = mapping_scalar(k);
		if (!name) {
			lerr(L, k, w, "column names must be single words");
			continue;
		}
		w->col = name;
		mapping_check_ident(L, k, w, "column name", name);
		for (size_t i = 0; i < *count; i++)
			if (!strcmp((*out)[i].name, name))
				lerr(L, k, w, "duplicate column");
		parse_column(L, name, k, mapping_node_at(L, p->value), w, &(*out)[(*count)++]);
	}
}

/* ------------------------------------------------------------ indexes */

static void parse_index(struct loader *L, yaml_node_t *n, const struct where *w,
			struct mapping_index *ix)
{
	static const char *const allowed[] = {"columns", "unique", NULL};
	static const char *const required[] = {"columns", NULL};

	ix->line = n->start_mark.line + 1;
	if (!mapping_check_keys(L, NULL, n, w, "an index", allowed, required))
		return;
	ix->unique = mapping_get_bool(L, n, "unique", false, w);
	yaml_node_t *cols = mapping_get(L, n, "columns");
	if (!cols)
		return;
	if (cols->type != YAML_SEQUENCE_NODE || mapping_n_items(cols) == 0) {
		lerr(L, cols, w, "index columns must be a non-empty list of column names");
		return;
	}
	ix->columns = mapping_xcalloc(mapping_n_items(cols), sizeof(char *));
	FOR_ITEMS(it, cols) {
		const char *s = mapping_scalar(mapping_node_at(L, *it));
		if (!s)
			lerr(L, mapping_node_at(L, *it), w, "index columns must be column names");
		else
			ix->columns[ix->n_columns++] = mapping_xstrdup(s);
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
	*out = mapping_xcalloc(mapping_n_items(n), sizeof(**out));
	FOR_ITEMS(it, n)
		parse_index(L, mapping_node_at(L, *it), w, &(*out)[(*count)++]);
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
	ch->name = mapping_xstrdup(name);
	ch->line = key->start_mark.line + 1;
	snprintf(def_table, sizeof(def_table), "%s_%s", parent_table, name);
	if (mapping_check_keys(L, key, n, w, "a child", allowed, required)) {
		ch->source = mapping_get_str(L, n, "source", name, w);
		mapping_check_source(L, mapping_get(L, n, "source") ? mapping_get(L, n, "source") : key, w, ch->source);
		ch->table = mapping_get_str(L, n, "table", def_table, w);
		mapping_check_ident(L, mapping_get(L, n, "table") ? mapping_get(L, n, "table") : key, w, "table name", ch->table);
		parse_columns(L, mapping_get(L, n, "columns"), w, &ch->columns, &ch->n_columns);
		parse_indexes(L, mapping_get(L, n, "indexes"), w, &ch->indexes, &ch->n_indexes);
	}
	if (!ch->source)
		ch->source = mapping_xstrdup(name);
	if (!ch->table)
		ch->table = mapping_xstrdup(def_table);
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
	j->name = mapping_xstrdup(name);
	j->line = key->start_mark.line + 1;
	j->ref_type = MAPPING_T_UUID;
	snprintf(def_table, sizeof(def_table), "%s_%s", parent_table, name);
	if (mapping_check_keys(L, key, n, w, "a junction", allowed, NULL)) {
		j->source = mapping_get_str(L, n, "source", name, w);
		mapping_check_source(L, mapping_get(L, n, "source") ? mapping_get(L, n, "source") : key, w, j->source);
		j->table = mapping_get_str(L, n, "table", def_table, w);
		mapping_check_ident(L, mapping_get(L, n, "table") ? mapping_get(L, n, "table") : key, w, "table name", j->table);
		j->references = mapping_get_str(L, n, "references", NULL, w);
		yaml_node_t *tv = mapping_get(L, n, "type");
		const char *ts = mapping_scalar(tv);
		if (tv && (!ts || !parse_type(ts, &j->ref_type, &p, &s) ||
			   !(j->ref_type == MAPPING_T_UUID || j->ref_type == MAPPING_T_TEXT ||
			     j->ref_type == MAPPING_T_INT4 || j->ref_type == MAPPING_T_INT8)))
			lerr(L, tv, w, "junction type '%s' must be uuid, text, int4 or int8", ts ? ts : "?");
	}
	if (!j->source)
		j->source = mapping_xstrdup(name);
	if (!j->table)
		j->table = mapping_xstrdup(def_table);
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
	c->children = mapping_xcalloc(mapping_n_pairs(n), sizeof(*c->children));
	FOR_PAIRS(p, n) {
		yaml_node_t *k = mapping_node_at(L, p->key);
		const char *name = mapping_scalar(k);
		if (!name) {
			lerr(L, k, w, "child names must be single words");
			continue;
		}
		struct mapping_child *ch = &c->children[c->n_children++];
		parse_child(L, name, k, mapping_node_at(L, p->value), w, c->table, ch);
		w->kind = "child";
		w->sub = name;
		mapping_check_reserved(L, w, ch->columns, ch->n_columns, child_reserved);
		mapping_check_reserved(L, w, ch->columns, ch->n_columns,
				       (const char *const[]){c->tenant_column, NULL});
		mapping_check_index_columns(L, w, ch->indexes, ch->n_indexes, ch->columns, ch->n_columns,
					    child_reserved);
		mapping_check_child_sources(L, w, ch);
		w->kind = w->sub = NULL;
	}
}

static void parse_junctions(struct loader *L, yaml_node_t *n, struct where *w, struct mapping_collection *c)
{
	if (!is_named_mapping(L, n, w, "junctions"))
		return;
	c->junctions = mapping_xcalloc(mapping_n_pairs(n), sizeof(*c->junctions));
	FOR_PAIRS(p, n) {
		yaml_node_t *k = mapping_node_at(L, p->key);
		const char *name = mapping_scalar(k);
		if (!name)
			lerr(L, k, w, "junction names must be single words");
		else
			parse_junction(L, name, k, mapping_node_at(L, p->value), w, c->table,
				       &c->junctions[c->n_junctions++]);
	}
}

/* ------------------------------------------------------------ collections */

static void parse_id_kind(struct loader *L, yaml_node_t *n, const struct where *w, enum mapping_id_kind *k)
{
	const char *s = mapping_scalar(n);

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

static void parse_collection(struct loader *L, const char *name, yaml_node_t *key, yaml_node_t *n,
			     struct mapping_collection *c)
{
	static const char *const allowed[] = {"table", "tenant_column", "id", "columns", "indexes",
					      "children", "junctions", NULL};
	static const char *const required[] = {"columns", NULL};
	struct where w = {.coll = name};

	c->name = mapping_xstrdup(name);
	c->line = key->start_mark.line + 1;
	if (mapping_check_keys(L, key, n, &w, "a collection", allowed, required)) {
		c->table = mapping_get_str(L, n, "table", name, &w);
		c->tenant_column = mapping_get_str(L, n, "tenant_column", MAPPING_DEFAULT_TENANT_COLUMN, &w);
	}
	if (!c->table)
		c->table = mapping_xstrdup(name);
	if (!c->tenant_column)
		c->tenant_column = mapping_xstrdup(MAPPING_DEFAULT_TENANT_COLUMN);
	if (n->type != YAML_MAPPING_NODE)
		return;
	mapping_check_ident(L, mapping_get(L, n, "table") ? mapping_get(L, n, "table") : key, &w, "table name", c->table);
	mapping_check_ident(L, mapping_get(L, n, "tenant_column") ? mapping_get(L, n, "tenant_column") : key, &w,
			    "tenant column", c->tenant_column);
	parse_id_kind(L, mapping_get(L, n, "id"), &w, &c->id_kind);
	parse_columns(L, mapping_get(L, n, "columns"), &w, &c->columns, &c->n_columns);
	parse_indexes(L, mapping_get(L, n, "indexes"), &w, &c->indexes, &c->n_indexes);
	parse_children(L, mapping_get(L, n, "children"), &w, c);
	parse_junctions(L, mapping_get(L, n, "junctions"), &w, c);

	const char *const reserved[] = {c->tenant_column, MAPPING_COL_ID, MAPPING_COL_LEGACY_ID,
					MAPPING_COL_EXTRAS, MAPPING_COL_SEQ, NULL};
	mapping_check_reserved(L, &w, c->columns, c->n_columns, reserved);
	mapping_check_index_columns(L, &w, c->indexes, c->n_indexes, c->columns, c->n_columns, reserved);
	mapping_check_collection_sources(L, &w, c);
}

void mapping_parse_root(struct loader *L, yaml_node_t *root, struct mapping *m)
{
	static const char *const allowed[] = {"version", "collections", NULL};
	static const char *const required[] = {"collections", NULL};

	if (!mapping_check_keys(L, NULL, root, NULL, "the mapping file", allowed, required))
		return;
	yaml_node_t *v = mapping_get(L, root, "version");
	if (v && (!mapping_scalar(v) || strcmp(mapping_scalar(v), "1")))
		lerr(L, v, NULL, "version must be 1");
	yaml_node_t *colls = mapping_get(L, root, "collections");
	if (!colls)
		return;
	if (colls->type != YAML_MAPPING_NODE) {
		lerr(L, colls, NULL, "collections must be a mapping of collection name to definition");
		return;
	}
	m->collections = mapping_xcalloc(mapping_n_pairs(colls), sizeof(*m->collections));
	FOR_PAIRS(p, colls) {
		yaml_node_t *k = mapping_node_at(L, p->key);
		const char *name = mapping_scalar(k);
		if (!name || !*name) {
			lerr(L, k, NULL, "collection names must be non-empty single words");
			continue;
		}
		for (size_t i = 0; i < m->n_collections; i++)
			if (!strcmp(m->collections[i].name, name))
				lerr(L, k, NULL, "collection '%s' is mapped twice", name);
		parse_collection(L, name, k, mapping_node_at(L, p->value), &m->collections[m->n_collections++]);
	}
	mapping_check_tables(L, m);
}
