/*
 * rowstore_select.c - rowstore_select: the SELECT that reads a tenant's
 * documents back, one result row per document, ordered by the key.
 *
 *   default:  SELECT t."doc"::text FROM "tbl" t WHERE t.tenant = $1 [AND id ...]
 *   mapped:   SELECT t."extras"::text, <one text expression per column>,
 *                    <per child:    (SELECT array_agg(ARRAY[<columns>, c."extras"::text]
 *                                    ORDER BY c."ord") FROM "child" c WHERE c.tenant =
 *                                    t.tenant AND c."parent_id" = t."id")>,
 *                    <per junction: (SELECT array_agg(j."ref"::text ORDER BY j."ord") ...)>
 *             FROM "tbl" t WHERE ... ORDER BY t."seq" (insertion order)
 *
 * _id push-down (the dual-write applier's case): {_id: v} and {_id: {$eq: v}}
 * -> t."id" = $2; {_id: {$in: [...]}} -> t."id" = ANY($2).  Only scalar
 * values whose MongoDB equality the key preserves are pushed down (not
 * documents, arrays, regexes, symbols, NaN or non-integral numbers).
 *
 * Other conditions (typed columns of mapped tables; string and bool
 * equality in the default table's jsonb): rowstore_where.c, ANDed after the
 * id condition.  Always a superset of what the filter matches; the caller
 * matches exactly.
 */
#include "rowstore_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ddl.h"
#include "rowstore_where.h"

int rowstore_select_ncols(const struct mapping_collection *mc)
{
	if (mc->is_default)
		return 1;
	return (int)(1 + mc->n_columns + mc->n_children + mc->n_junctions);
}

/* Is v a value whose equality the id key captures exactly? */
static bool pushable(const bson_iter_t *v)
{
	double d;

	switch (bson_iter_type(v)) {
	case BSON_TYPE_DOCUMENT: case BSON_TYPE_ARRAY: case BSON_TYPE_REGEX:
	case BSON_TYPE_SYMBOL: case BSON_TYPE_DECIMAL128: case BSON_TYPE_CODEWSCOPE:
	case BSON_TYPE_DBPOINTER:
		return false;
	case BSON_TYPE_DOUBLE:
		d = bson_iter_double(v);
		return fabs(d) < 9.2e18 && d == (double)(int64_t)d; /* range first: the cast is defined */
	default:
		return true;
	}
}

struct keys {
	char **v;
	size_t n;
	bool all; /* no push-down */
};

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

/* Add the key of v; a value that no stored _id can equal (wrong kind) adds nothing. */
static void keys_add(const struct mapping_collection *mc, struct keys *k, const bson_iter_t *v)
{
	char buf[ROWSTORE_ID_KEY_MAX];
	bson_error_t e;
	char **nv;

	if (!pushable(v)) {
		k->all = true;
		return;
	}
	if (!rs_id_key_iter(mc, v, buf, sizeof buf, &e))
		return;
	if (!(nv = realloc(k->v, (k->n + 1) * sizeof *nv)) || !(nv[k->n] = strdup(buf))) {
		if (nv)
			k->v = nv;
		k->all = true;
		return;
	}
	k->v = nv;
	k->n++;
}

/* {$eq: v} / {$in: [...]} / literal. */
static void keys_of_cond(const struct mapping_collection *mc, struct keys *k, const bson_iter_t *c)
{
	bson_iter_t op, arr;

	if (!BSON_ITER_HOLDS_DOCUMENT(c)) {
		keys_add(mc, k, c);
		return;
	}
	if (!bson_iter_recurse(c, &op) || !bson_iter_next(&op) || bson_iter_key(&op)[0] != '$') {
		k->all = true; /* empty or literal document */
		return;
	}
	if (!strcmp(bson_iter_key(&op), "$eq")) {
		keys_add(mc, k, &op);
	} else if (!strcmp(bson_iter_key(&op), "$in") && BSON_ITER_HOLDS_ARRAY(&op) &&
		   bson_iter_recurse(&op, &arr)) {
		while (!k->all && bson_iter_next(&arr))
			keys_add(mc, k, &arr);
	} else {
		k->all = true;
	}
	if (bson_iter_next(&op))
		k->all = true; /* more operators: not pushed */
}

static void filter_keys(const struct mapping_collection *mc, const bson_t *filter, struct keys *k)
{
	bson_iter_t it, found;
	int n = 0;

	memset(k, 0, sizeof *k);
	if (!filter || !bson_iter_init(&it, filter)) {
		k->all = true;
		return;
	}
	while (bson_iter_next(&it))
		if (!strcmp(bson_iter_key(&it), "_id") && n++ == 0)
			found = it;
	if (n != 1) {
		k->all = true;
		return;
	}
	keys_of_cond(mc, k, &found);
}

static void put_child_agg(FILE *f, const struct mapping_collection *mc, const struct mapping_child *ch)
{
	fputs(", (SELECT array_agg(ARRAY[", f);
	for (size_t i = 0; i < ch->n_columns; i++) {
		rs_cell_select_expr(f, "c", &ch->columns[i]);
		fputs(", ", f);
	}
	fputs("c.\"extras\"::text] ORDER BY c.\"ord\") FROM ", f);
	ddl_put_ident(f, ch->table);
	fputs(" c WHERE c.", f);
	ddl_put_ident(f, mc->tenant_column);
	fputs(" = t.", f);
	ddl_put_ident(f, mc->tenant_column);
	fputs(" AND c.\"parent_id\" = t.\"id\")", f);
}

static void put_junction_agg(FILE *f, const struct mapping_collection *mc,
			     const struct mapping_junction *j)
{
	fputs(", (SELECT array_agg(c.\"ref\"::text ORDER BY c.\"ord\") FROM ", f);
	ddl_put_ident(f, j->table);
	fputs(" c WHERE c.", f);
	ddl_put_ident(f, mc->tenant_column);
	fputs(" = t.", f);
	ddl_put_ident(f, mc->tenant_column);
	fputs(" AND c.\"parent_id\" = t.\"id\")", f);
}

static void put_select_list(FILE *f, const struct mapping_collection *mc)
{
	if (mc->is_default) {
		fputs("SELECT t.\"doc\"::text", f);
		return;
	}
	fputs("SELECT t.\"extras\"::text", f);
	for (size_t i = 0; i < mc->n_columns; i++) {
		fputs(", ", f);
		rs_cell_select_expr(f, "t", &mc->columns[i]);
	}
	for (size_t i = 0; i < mc->n_children; i++)
		put_child_agg(f, mc, &mc->children[i]);
	for (size_t i = 0; i < mc->n_junctions; i++)
		put_junction_agg(f, mc, &mc->junctions[i]);
}

bool rowstore_select(const struct mapping_collection *mc, const char *tenant, const bson_t *filter,
		     struct sqllist *out, bson_error_t *err)
{
	struct keys k;
	struct params p = { 0 };
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);
	const char *kt = rs_id_sql_type(mc->is_default ? MAPPING_ID_ANY : mc->id_kind);
	bool ok;

	if (!f) {
		RS_ERR(err, ROWSTORE_ERR_NOMEM, "out of memory");
		return false;
	}
	filter_keys(mc, filter, &k);
	put_select_list(f, mc);
	fputs(" FROM ", f);
	ddl_put_ident(f, mc->table);
	fputs(" t WHERE t.", f);
	ddl_put_ident(f, mc->tenant_column);
	fputs(" = $1::text", f);
	rs_param_dup(&p, tenant);
	if (!k.all && k.n == 1) {
		fprintf(f, " AND t.\"id\" = $2::%s", kt);
		rs_param_dup(&p, k.v[0]);
	} else if (!k.all) {
		fprintf(f, " AND t.\"id\" = ANY($2::%s[])", kt);
		char *arr = rs_pgarray_format((const char *const *)k.v, k.n);
		p.oom |= !arr;
		rs_param_take(&p, arr);
	}
	rs_where_put(mc, filter, f, &p);
	fputs(" ORDER BY t.\"seq\"", f);
	ok = fclose(f) == 0 && sql && !p.oom && sqllist_add(out, sql, p.n, (const char *const *)p.v);
	if (!ok)
		RS_ERR(err, ROWSTORE_ERR_NOMEM, "out of memory");
	free(sql);
	rs_params_free(&p);
	keys_free(&k);
	return ok;
}
