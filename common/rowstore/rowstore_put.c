/*
 * rowstore_put.c - rowstore_put and rowstore_delete: a document -> SQL.
 *
 *   default table:  INSERT (tenant, id, legacy_id, doc) ... ON CONFLICT
 *                   (tenant, id) DO UPDATE SET legacy_id, doc
 *   mapped table:   1. the same upsert of (tenant, id[, legacy_id], columns..., extras)
 *                   2. per child table:    DELETE the parent's rows; INSERT one row per element
 *                   3. per junction table: DELETE the parent's rows; INSERT one row per reference
 *
 * Which value goes where (pass 1, the markers in extras) is rowstore_split.c;
 * format in docs/storage.md, "Mapped tables".
 *
 * Every column has one parameter, so the SQL text depends only on the
 * mapping and on the row counts: a column whose field is missing or cannot
 * be held exactly gets the mapping's default (NULL when none).
 */
#include "rowstore_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ddl.h"
#include "rowcodec.h"

#define MAX_PARAMS 60000 /* PostgreSQL allows 65535 per statement */

/* Hand params (and sql) to a new statement of out. */
static bool emit(struct sqllist *out, char *sql, size_t len, struct params *p)
{
	(void)len;
	if (p->oom || !sql) {
		free(sql);
		rs_params_free(p);
		return false;
	}
	bool ok = sqllist_add_owned(out, sql, p->n, p->v);
	memset(p, 0, sizeof *p);
	return ok;
}

/* ---- SQL text ----------------------------------------------------------- */

static void put_cast_param(FILE *f, int n, const char *type)
{
	fprintf(f, "$%d::%s", n, type);
}

/* INSERT INTO "table" (tenant, keycol */
static void put_insert_head(FILE *f, const char *table, const char *tenant, const char *keycol)
{
	fputs("INSERT INTO ", f);
	ddl_put_ident(f, table);
	fputs(" (", f);
	ddl_put_ident(f, tenant);
	fputs(", ", f);
	ddl_put_ident(f, keycol);
}

static bool parent_stmt(const struct mapping_collection *mc, const char *tenant, const char *key,
			char *legacy, struct params *cols, char *extras, struct sqllist *out)
{
	struct params p = { 0 };
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);
	bool has_legacy = mc->is_default || mc->id_kind == MAPPING_ID_OBJECTID ||
			  mc->id_kind == MAPPING_ID_ANY;
	const char *legacy_type = mc->is_default || mc->id_kind == MAPPING_ID_ANY ? "jsonb" : "text";
	int n = 1;

	rs_param_dup(&p, tenant);
	rs_param_dup(&p, key);
	put_insert_head(f, mc->table, mc->tenant_column, MAPPING_COL_ID);
	if (has_legacy) {
		fputs(", ", f);
		ddl_put_ident(f, MAPPING_COL_LEGACY_ID);
		rs_param_take(&p, legacy);
	} else {
		free(legacy);
	}
	for (size_t i = 0; i < mc->n_columns; i++) {
		fputs(", ", f);
		ddl_put_ident(f, mc->columns[i].name);
		rs_param_take(&p, cols->v[i]);
		cols->v[i] = NULL;
	}
	fputs(", ", f);
	ddl_put_ident(f, mc->is_default ? MAPPING_COL_DOC : MAPPING_COL_EXTRAS);
	rs_param_take(&p, extras);
	fprintf(f, ") VALUES ($%d::text, ", n++);
	put_cast_param(f, n++, rs_id_sql_type(mc->is_default ? MAPPING_ID_ANY : mc->id_kind));
	if (has_legacy) {
		fputs(", ", f);
		put_cast_param(f, n++, legacy_type);
	}
	for (size_t i = 0; i < mc->n_columns; i++) {
		fputs(", ", f);
		put_cast_param(f, n++, mapping_type_to_str(mc->columns[i].type));
	}
	fputs(", ", f);
	put_cast_param(f, n++, "jsonb");
	fputs(") ON CONFLICT (", f);
	ddl_put_ident(f, mc->tenant_column);
	fputs(", ", f);
	ddl_put_ident(f, MAPPING_COL_ID);
	fputs(") DO UPDATE SET ", f);
	const char *sep = "";
	if (has_legacy) {
		fputs("\"legacy_id\" = EXCLUDED.\"legacy_id\"", f);
		sep = ", ";
	}
	for (size_t i = 0; i < mc->n_columns; i++) {
		fputs(sep, f);
		ddl_put_ident(f, mc->columns[i].name);
		fputs(" = EXCLUDED.", f);
		ddl_put_ident(f, mc->columns[i].name);
		sep = ", ";
	}
	fputs(sep, f);
	fputs(mc->is_default ? "\"doc\" = EXCLUDED.\"doc\"" : "\"extras\" = EXCLUDED.\"extras\"", f);
	if (fclose(f) != 0)
		p.oom = true;
	return emit(out, sql, len, &p);
}

/* DELETE FROM "table" WHERE tenant = $1 AND keycol = $2::type */
static bool delete_stmt(const char *table, const char *tenant, const char *keycol,
			const char *keytype, const char *t, const char *key, struct sqllist *out)
{
	struct params p = { 0 };
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);

	fputs("DELETE FROM ", f);
	ddl_put_ident(f, table);
	fputs(" WHERE ", f);
	ddl_put_ident(f, tenant);
	fputs(" = $1::text AND ", f);
	ddl_put_ident(f, keycol);
	fprintf(f, " = $2::%s", keytype);
	if (fclose(f) != 0)
		p.oom = true;
	rs_param_dup(&p, t);
	rs_param_dup(&p, key);
	return emit(out, sql, len, &p);
}

/*
 * Rows of a child or junction table: INSERT (tenant, parent_id, ord, cols...)
 * VALUES ($1, $2, $3, ...), ... in chunks under MAX_PARAMS.  vals holds
 * nrows * ncols texts (taken), types[] their SQL types, names[] columns.
 */
static bool rows_stmts(const struct mapping_collection *mc, const char *table, const char *tenant,
		       const char *key, size_t nrows, size_t ncols, char **vals,
		       const char *const *names, const char *const *types, struct sqllist *out)
{
	size_t per = (MAX_PARAMS - 2) / (ncols + 1), done = 0;
	const char *ktype = rs_id_sql_type(mc->id_kind);

	while (done < nrows) {
		size_t k = nrows - done < per ? nrows - done : per;
		struct params p = { 0 };
		char *sql = NULL, ord[24];
		size_t len = 0;
		FILE *f = open_memstream(&sql, &len);
		int n = 3;

		rs_param_dup(&p, tenant);
		rs_param_dup(&p, key);
		put_insert_head(f, table, mc->tenant_column, MAPPING_COL_PARENT);
		fputs(", \"ord\"", f);
		for (size_t c = 0; c < ncols; c++) {
			fputs(", ", f);
			ddl_put_ident(f, names[c]);
		}
		fputs(") VALUES ", f);
		for (size_t r = done; r < done + k; r++) {
			fprintf(f, "%s($1::text, $2::%s, $%d::int4", r > done ? ", " : "", ktype, n++);
			snprintf(ord, sizeof ord, "%zu", r);
			rs_param_dup(&p, ord);
			for (size_t c = 0; c < ncols; c++) {
				fputs(", ", f);
				put_cast_param(f, n++, types[c]);
				rs_param_take(&p, vals[r * ncols + c]);
				vals[r * ncols + c] = NULL;
			}
			fputc(')', f);
		}
		if (fclose(f) != 0)
			p.oom = true;
		if (!emit(out, sql, len, &p))
			return false;
		done += k;
	}
	return true;
}

static bool child_stmts(const struct mapping_collection *mc, const struct mapping_child *ch,
			struct child_split *cs, struct marks *m, const char *tenant, const char *key,
			struct sqllist *out, bson_error_t *err)
{
	size_t w = ch->n_columns + 1;
	char **vals = calloc(cs->n * w + 1, sizeof *vals);
	const char **names = calloc(w, sizeof *names), **types = calloc(w, sizeof *types);
	bool ok = vals && names && types;

	for (size_t c = 0; ok && c < ch->n_columns; c++) {
		names[c] = ch->columns[c].name;
		types[c] = mapping_type_to_str(ch->columns[c].type);
	}
	if (ok) {
		names[w - 1] = MAPPING_COL_EXTRAS;
		types[w - 1] = "jsonb";
	}
	for (size_t r = 0; ok && r < cs->n; r++) {
		for (size_t c = 0; c < ch->n_columns; c++) {
			vals[r * w + c] = cs->vals.v[r * ch->n_columns + c];
			cs->vals.v[r * ch->n_columns + c] = NULL;
		}
		ok = (vals[r * w + w - 1] = rs_extras_of(&cs->elems[r], m, err)) != NULL;
	}
	ok = ok && delete_stmt(ch->table, mc->tenant_column, MAPPING_COL_PARENT,
			       rs_id_sql_type(mc->id_kind), tenant, key, out) &&
	     rows_stmts(mc, ch->table, tenant, key, cs->n, w, vals, names, types, out);
	for (size_t i = 0; vals && i < cs->n * w; i++)
		free(vals[i]);
	free(vals);
	free(names);
	free(types);
	return ok;
}

static bool junction_stmts(const struct mapping_collection *mc, const struct mapping_junction *j,
			   struct params *refs, const char *tenant, const char *key,
			   struct sqllist *out)
{
	const char *names[1] = { MAPPING_COL_REF };
	const char *types[1] = { mapping_type_to_str(j->ref_type) };

	return delete_stmt(j->table, mc->tenant_column, MAPPING_COL_PARENT,
			   rs_id_sql_type(mc->id_kind), tenant, key, out) &&
	       rows_stmts(mc, j->table, tenant, key, (size_t)refs->n, 1, refs->v, names,
			  types, out);
}

static bool put_mapped(const struct mapping_collection *mc, const char *tenant, const bson_t *doc,
		       const char *key, char *legacy, struct sqllist *out, bson_error_t *err)
{
	struct split s;
	char *extras = NULL;
	bool ok = rs_split_doc(mc, doc, &s);

	if (!ok)
		RS_ERR(err, ROWSTORE_ERR_NOMEM, "out of memory");
	ok = ok && (extras = rs_extras_of(doc, &s.marks, err)) != NULL;
	ok = ok && parent_stmt(mc, tenant, key, legacy, &s.cols, extras, out);
	if (!ok && !extras)
		free(legacy);
	for (size_t i = 0; ok && i < mc->n_children; i++)
		ok = child_stmts(mc, &mc->children[i], &s.children[i], &s.marks, tenant, key, out, err);
	for (size_t i = 0; ok && i < mc->n_junctions; i++)
		ok = junction_stmts(mc, &mc->junctions[i], &s.refs[i], tenant, key, out);
	rs_split_free(&s, mc);
	return ok;
}

bool rowstore_put(const struct mapping_collection *mc, const char *tenant, const bson_t *doc,
		  struct sqllist *out, bson_error_t *err)
{
	bson_iter_t id;
	char key[ROWSTORE_ID_KEY_MAX], *legacy = NULL, *json;
	size_t len, before = out->n, off;
	struct params none = { 0 };
	bool ok;

	memset(err, 0, sizeof *err);
	if (!bson_validate(doc, BSON_VALIDATE_NONE, &off)) {
		RS_ERR(err, ROWSTORE_ERR_DOC, "invalid BSON at offset %zu", off);
		return false;
	}
	if (!bson_iter_init_find(&id, doc, "_id")) {
		RS_ERR(err, ROWSTORE_ERR_ID, "document has no _id");
		return false;
	}
	if (!rs_id_key_iter(mc, &id, key, sizeof key, err) || !rs_legacy_id(mc, &id, &legacy, err))
		return false;
	if (mc->is_default) {
		char *text = NULL;
		ok = rowcodec_to_json(doc, &json, &len, err);
		if (ok) {
			text = strdup(json);
			bson_free(json);
		}
		if (ok && text)
			ok = parent_stmt(mc, tenant, key, legacy, &none, text, out);
		else
			free(legacy);
		ok = ok && text;
	} else {
		ok = put_mapped(mc, tenant, doc, key, legacy, out, err);
	}
	if (!ok) {
		if (!err->domain)
			RS_ERR(err, ROWSTORE_ERR_NOMEM, "out of memory");
		sqllist_truncate(out, before); /* out is left unchanged */
	}
	return ok;
}

bool rowstore_delete(const struct mapping_collection *mc, const char *tenant,
		     const bson_value_t *id, struct sqllist *out, bson_error_t *err)
{
	char key[ROWSTORE_ID_KEY_MAX];
	const char *kt = rs_id_sql_type(mc->is_default ? MAPPING_ID_ANY : mc->id_kind);
	bool ok;

	if (!rowstore_id_key(mc, id, key, sizeof key, err))
		return false;
	ok = true;
	for (size_t i = 0; ok && i < mc->n_children; i++)
		ok = delete_stmt(mc->children[i].table, mc->tenant_column, MAPPING_COL_PARENT, kt,
				 tenant, key, out);
	for (size_t i = 0; ok && i < mc->n_junctions; i++)
		ok = delete_stmt(mc->junctions[i].table, mc->tenant_column, MAPPING_COL_PARENT, kt,
				 tenant, key, out);
	ok = ok && delete_stmt(mc->table, mc->tenant_column, MAPPING_COL_ID, kt, tenant, key, out);
	if (!ok)
		RS_ERR(err, ROWSTORE_ERR_NOMEM, "out of memory");
	return ok;
}
