/*
 * ddl.c - write CREATE TABLE / CREATE INDEX text for a mapping.
 *
 * Tables (tenant column "tenant_id" by default; id type per the mapping's `id:`):
 *
 *   mapped:   tenant, id, [legacy_id], <columns>, extras jsonb, seq   PK (tenant, id)
 *   child:    tenant, parent_id, ord, <columns>, extras jsonb    PK (tenant, parent_id, ord)
 *             FK (tenant, parent_id) -> parent (tenant, id) ON DELETE CASCADE
 *   junction: tenant, parent_id, ord, ref                        PK (tenant, parent_id, ord)
 *             FK as for a child; index (tenant, ref)
 *   default:  tenant, id, legacy_id jsonb, doc jsonb, seq     PK (tenant, id)
 *
 * seq (identity) keeps insertion order, which is MongoDB's natural order:
 * a single-document write or a find without sort takes rows in that order.
 *
 * The primary key leads with the tenant: two tenants may hold the same _id,
 * every query tandem sends is scoped to one tenant, and a tenant-leading key
 * is the distribution key Citus needs.  Columns that reference another
 * collection get an index but no foreign key: MongoDB does not enforce
 * references and PostgreSQL must accept every write MongoDB accepted.
 * Index names are "<table>_<columns>_{idx,key,gin}", fitted to 63 bytes
 * by mapping_ident_fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddl.h"

void ddl_put_ident(FILE *f, const char *name)
{
	fputc('"', f);
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

void ddl_put_literal(FILE *f, const char *text)
{
	if (strchr(text, '\\'))
		fputc('E', f);
	fputc('\'', f);
	for (const char *p = text; *p; p++) {
		if (*p == '\'' || *p == '\\')
			fputc(*p, f);
		fputc(*p, f);
	}
	fputc('\'', f);
}

/* A name inside a "--" comment: control bytes become '?' so it cannot end the line. */
static void put_comment_name(FILE *f, const char *name)
{
	fputc('\'', f);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	fputc('\'', f);
}

static void put_type(FILE *f, enum mapping_type t, int precision, int scale)
{
	fputs(mapping_type_to_str(t), f);
	if (t == MAPPING_T_NUMERIC && precision > 0)
		fprintf(f, "(%d,%d)", precision, scale);
}

static const char *id_sql_type(enum mapping_id_kind k)
{
	switch (k) {
	case MAPPING_ID_TEXT:
		return "text";
	case MAPPING_ID_INT8:
		return "int8";
	default:
		return "uuid";
	}
}

/* A default is always a typed literal, except now() for timestamptz. */
static void put_default(FILE *f, const struct mapping_column *c)
{
	fputs(" DEFAULT ", f);
	if (c->type == MAPPING_T_TIMESTAMPTZ && !strcmp(c->default_value, "now()")) {
		fputs("now()", f);
		return;
	}
	ddl_put_literal(f, c->default_value);
	fputs("::", f);
	put_type(f, c->type, c->precision, c->scale);
}

static void put_column(FILE *f, const struct mapping_column *c)
{
	fputs(",\n\t", f);
	ddl_put_ident(f, c->name);
	fputc(' ', f);
	put_type(f, c->type, c->precision, c->scale);
	if (!c->nullable)
		fputs(" NOT NULL", f);
	if (c->default_value)
		put_default(f, c);
	if (c->n_enum) {
		fputs(" CHECK (", f);
		ddl_put_ident(f, c->name);
		fputs(" IN (", f);
		for (size_t i = 0; i < c->n_enum; i++) {
			fputs(i ? ", " : "", f);
			ddl_put_literal(f, c->enum_values[i]);
		}
		fputs("))", f);
	}
}

/* `CREATE TABLE IF NOT EXISTS "t" (\n\t"tenant" text NOT NULL` (no newline). */
static void put_table_head(FILE *f, const char *table, const char *tenant)
{
	fputs("CREATE TABLE IF NOT EXISTS ", f);
	ddl_put_ident(f, table);
	fputs(" (\n\t", f);
	ddl_put_ident(f, tenant);
	fputs(" text NOT NULL", f);
}

static void put_plain_col(FILE *f, const char *name, const char *type_and_rest)
{
	fputs(",\n\t", f);
	ddl_put_ident(f, name);
	fprintf(f, " %s", type_and_rest);
}

/* ",\n\tPRIMARY KEY ("tenant", "a"[, "b"])" */
static void put_pkey(FILE *f, const char *tenant, const char *a, const char *b)
{
	fputs(",\n\tPRIMARY KEY (", f);
	ddl_put_ident(f, tenant);
	fputs(", ", f);
	ddl_put_ident(f, a);
	if (b) {
		fputs(", ", f);
		ddl_put_ident(f, b);
	}
	fputc(')', f);
}

/* Rows of a child or junction table: (tenant, parent_id, ord) + FK to the parent. */
static void put_row_head(FILE *f, const struct mapping_collection *parent, const char *table)
{
	put_table_head(f, table, parent->tenant_column);
	fputs(",\n\t", f);
	ddl_put_ident(f, MAPPING_COL_PARENT);
	fprintf(f, " %s NOT NULL", id_sql_type(parent->id_kind));
	put_plain_col(f, MAPPING_COL_ORD, "int4 NOT NULL");
}

static void put_row_tail(FILE *f, const struct mapping_collection *parent)
{
	put_pkey(f, parent->tenant_column, MAPPING_COL_PARENT, MAPPING_COL_ORD);
	fputs(",\n\tFOREIGN KEY (", f);
	ddl_put_ident(f, parent->tenant_column);
	fputs(", ", f);
	ddl_put_ident(f, MAPPING_COL_PARENT);
	fputs(") REFERENCES ", f);
	ddl_put_ident(f, parent->table);
	fputs(" (", f);
	ddl_put_ident(f, parent->tenant_column);
	fputs(", ", f);
	ddl_put_ident(f, MAPPING_COL_ID);
	fputs(") ON DELETE CASCADE\n);\n", f);
}

/*
 * CREATE [UNIQUE] INDEX IF NOT EXISTS "<table>_<cols>_<suffix>" ON "table"
 * [USING gin] ([tenant, ]cols [jsonb_path_ops]).  tenant NULL: no tenant
 * column (gin).
 */
static void put_index(FILE *f, const char *table, const char *tenant, char *const *cols, size_t n,
		      bool unique, bool gin)
{
	char name[1024];
	size_t k = (size_t)snprintf(name, sizeof(name), "%s", table);
	char fitted[MAPPING_IDENT_MAX + 1];

	for (size_t i = 0; i < n && k < sizeof(name); i++)
		k += (size_t)snprintf(name + k, sizeof(name) - k, "_%s", cols[i]);
	if (k < sizeof(name))
		snprintf(name + k, sizeof(name) - k, "_%s", gin ? "gin" : unique ? "key" : "idx");
	mapping_ident_fit(name, fitted);
	fputs(unique ? "CREATE UNIQUE INDEX IF NOT EXISTS " : "CREATE INDEX IF NOT EXISTS ", f);
	ddl_put_ident(f, fitted);
	fputs(" ON ", f);
	ddl_put_ident(f, table);
	fputs(gin ? " USING gin (" : " (", f);
	if (tenant) {
		ddl_put_ident(f, tenant);
		fputs(n ? ", " : "", f);
	}
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		ddl_put_ident(f, cols[i]);
		if (gin)   /* containment (@>, @?, @@) only: a third of the size and insert cost */
			fputs(" jsonb_path_ops", f);
	}
	/* A small pending list (256 kB, default 4 MB): flushes are short, so
	 * dual-write lag stays low (p99 24 ms at 5,000 inserts/s vs 230 ms with
	 * the default; fastupdate off halves the insert rate instead). */
	fputs(gin ? ") WITH (gin_pending_list_limit = 256);\n" : ");\n", f);
}

static void put_declared_indexes(FILE *f, const char *table, const char *tenant,
				 const struct mapping_index *ix, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_index(f, table, tenant, ix[i].columns, ix[i].n_columns, ix[i].unique, false);
}

/* Is there a declared index whose first column is col? */
static bool leads_an_index(const struct mapping_index *ix, size_t n, const char *col)
{
	for (size_t i = 0; i < n; i++)
		if (ix[i].n_columns && !strcmp(ix[i].columns[0], col))
			return true;
	return false;
}

/* (tenant, col) for every column with `references:` that no declared index leads with. */
static void put_reference_indexes(FILE *f, const struct mapping_collection *c)
{
	for (size_t i = 0; i < c->n_columns; i++) {
		char *col = c->columns[i].name;
		if (c->columns[i].references && !leads_an_index(c->indexes, c->n_indexes, col))
			put_index(f, c->table, c->tenant_column, &col, 1, false, false);
	}
}

static void put_child(FILE *f, const struct mapping_collection *c, const struct mapping_child *ch)
{
	put_row_head(f, c, ch->table);
	for (size_t i = 0; i < ch->n_columns; i++)
		put_column(f, &ch->columns[i]);
	put_plain_col(f, MAPPING_COL_EXTRAS, "jsonb NOT NULL DEFAULT '{}'");
	put_row_tail(f, c);
	put_declared_indexes(f, ch->table, c->tenant_column, ch->indexes, ch->n_indexes);
}

static void put_junction(FILE *f, const struct mapping_collection *c, const struct mapping_junction *j)
{
	char *ref = (char *)MAPPING_COL_REF;

	put_row_head(f, c, j->table);
	fputs(",\n\t", f);
	ddl_put_ident(f, MAPPING_COL_REF);
	fputc(' ', f);
	put_type(f, j->ref_type, 0, 0);
	put_row_tail(f, c);
	put_index(f, j->table, c->tenant_column, &ref, 1, false, false);
}

static void put_default_table(FILE *f, const struct mapping_collection *c)
{
	char *doc = (char *)MAPPING_COL_DOC;

	put_table_head(f, c->table, c->tenant_column);
	put_plain_col(f, MAPPING_COL_ID, "uuid NOT NULL");
	put_plain_col(f, MAPPING_COL_LEGACY_ID, "jsonb NOT NULL");
	put_plain_col(f, MAPPING_COL_DOC, "jsonb NOT NULL");
	put_plain_col(f, MAPPING_COL_SEQ, "bigint GENERATED ALWAYS AS IDENTITY");
	put_pkey(f, c->tenant_column, MAPPING_COL_ID, NULL);
	fputs("\n);\n", f);
	put_index(f, c->table, NULL, &doc, 1, false, true);
}

void ddl_put_collection(FILE *f, const struct mapping_collection *c)
{
	char *extras = (char *)MAPPING_COL_EXTRAS;

	fputs("-- collection ", f);
	put_comment_name(f, c->name);
	fputs(c->is_default ? " (default table)\n" : "\n", f);
	if (c->is_default) {
		put_default_table(f, c);
		return;
	}
	put_table_head(f, c->table, c->tenant_column);
	fputs(",\n\t", f);
	ddl_put_ident(f, MAPPING_COL_ID);
	fprintf(f, " %s NOT NULL", id_sql_type(c->id_kind));
	if (c->id_kind == MAPPING_ID_OBJECTID)
		put_plain_col(f, MAPPING_COL_LEGACY_ID, "text NOT NULL");
	else if (c->id_kind == MAPPING_ID_ANY)
		put_plain_col(f, MAPPING_COL_LEGACY_ID, "jsonb NOT NULL");
	for (size_t i = 0; i < c->n_columns; i++)
		put_column(f, &c->columns[i]);
	put_plain_col(f, MAPPING_COL_EXTRAS, "jsonb NOT NULL DEFAULT '{}'");
	put_plain_col(f, MAPPING_COL_SEQ, "bigint GENERATED ALWAYS AS IDENTITY");
	put_pkey(f, c->tenant_column, MAPPING_COL_ID, NULL);
	fputs("\n);\n", f);
	put_declared_indexes(f, c->table, c->tenant_column, c->indexes, c->n_indexes);
	put_reference_indexes(f, c);
	put_index(f, c->table, NULL, &extras, 1, false, true);
	for (size_t i = 0; i < c->n_children; i++)
		put_child(f, c, &c->children[i]);
	for (size_t i = 0; i < c->n_junctions; i++)
		put_junction(f, c, &c->junctions[i]);
}

/* Does a mapped collection, child or junction already use this table name? */
static bool mapped_table(const struct mapping *m, const char *table)
{
	for (size_t i = 0; m && i < m->n_collections; i++) {
		const struct mapping_collection *c = &m->collections[i];
		if (!strcmp(c->table, table))
			return true;
		for (size_t j = 0; j < c->n_children; j++)
			if (!strcmp(c->children[j].table, table))
				return true;
		for (size_t j = 0; j < c->n_junctions; j++)
			if (!strcmp(c->junctions[j].table, table))
				return true;
	}
	return false;
}

static void put_extra(FILE *f, const struct mapping *m, const char *const *names, size_t i)
{
	struct mapping_collection dc;

	if (mapping_find(m, names[i]))
		return;
	for (size_t j = 0; j < i; j++)
		if (!strcmp(names[j], names[i]))
			return; /* listed twice */
	mapping_default_collection(names[i], &dc);
	if (mapped_table(m, dc.table)) {
		fputs("-- collection ", f);
		put_comment_name(f, names[i]);
		fputs(": NOT CREATED, its default table name is used by the mapping\n", f);
		return;
	}
	ddl_put_collection(f, &dc);
}

char *ddl_for_mapping(const struct mapping *m, const char *const *extra_collections, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("-- tandem schema (generated; every statement is idempotent)\n", f);
	for (size_t i = 0; m && i < m->n_collections; i++)
		ddl_put_collection(f, &m->collections[i]);
	for (size_t i = 0; i < n; i++)
		put_extra(f, m, extra_collections, i);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
