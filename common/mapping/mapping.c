/*
 * mapping.c - the mapping spec's public API: load (YAML -> struct mapping),
 * free, look up, default tables and identifier fitting.
 *
 *   file / string --libyaml document loader--> yaml_document_t
 *                 --mapping_parse_root (mapping_parse.c, checks in
 *                   mapping_check.c)--> struct mapping, or errors
 *
 * The file is read whole with libyaml's document loader, so every node keeps
 * its line.  Any error -> the mapping is freed and the load fails; a
 * returned mapping is read-only and may be shared by every thread.
 *
 * Memory: allocation failure aborts (a config loader has no useful fallback).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "hash.h"
#include "mapping_internal.h"

static bool load_parser(yaml_parser_t *parser, const char *name, struct mapping **out,
			struct mapping_errors *errs)
{
	struct loader L = {.name = name, .errs = errs};
	struct mapping *m = mapping_xcalloc(1, sizeof(*m));

	if (!yaml_parser_load(parser, &L.doc)) {
		mapping_errs_addf(errs, "%s:%zu: YAML syntax: %s", name, parser->problem_mark.line + 1,
				  parser->problem ? parser->problem : "unknown error");
		mapping_free(m);
		return false;
	}
	yaml_node_t *root = yaml_document_get_root_node(&L.doc);
	if (!root)
		mapping_lerr_at(&L, 1, NULL, "the mapping file is empty");
	else
		mapping_parse_root(&L, root, m);
	yaml_document_delete(&L.doc);
	if (L.n_errors > MAPPING_MAX_ERRORS)
		mapping_errs_addf(errs, "%s: %zu more errors not shown", name, L.n_errors - MAPPING_MAX_ERRORS);
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
		mapping_errs_addf(errs, "%s: cannot open: %s", path, strerror(errno));
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
	/* FNV-1a 32, unkeyed on purpose: the suffix becomes a table or column
	 * name in the schema, so every process, build and machine must derive
	 * the same one (a keyed hash would rename tables on each restart). */
	snprintf(out + keep, MAPPING_IDENT_MAX + 1 - keep, "_%08x",
		 (unsigned)hash_fnv1a32_add(HASH_FNV1A32_INIT, name, n));
}
