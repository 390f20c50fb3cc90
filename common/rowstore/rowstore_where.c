/*
 * rowstore_where.c - which conditions of a MongoDB filter rowstore_select
 * pushes into its WHERE, and the superset argument for each.  The SQL is a
 * PRE-filter: a document match.h matches must never be dropped; extra rows
 * are fine (the caller matches exactly).
 *
 * Conditions considered: the filter's top-level keys (implicit AND) and the
 * elements of top-level `$and` arrays, recursively; per key, a literal
 * {f: v} (= $eq) or an operator document whose $eq/$gt/$gte/$lt/$lte/$in
 * are each pushed (the others are ANDed too, so dropping them only widens).
 * Everything else ($or, $not, $ne, $nin, $exists, $regex, $elemMatch,
 * _id, keys starting with '$') is not pushed.
 *
 * Mapped tables (rowstore_wherecol.c), f is exactly the source of a column
 * of type int4, int8, float8, numeric, text, bool, timestamptz or uuid:
 *
 *   AND ((<cond> [AND <cond>...]) OR <not held>)
 *   <not held>  no default:  (col IS NULL AND NOT COALESCE((t.extras #> path) @> marker, false))
 *               default:     NOT COALESCE((t.extras #> path) @> marker, false)
 *
 * The marker {"~t":"c","c":col} sits at f's path in extras exactly when the
 * column holds the document's own value (rowstore_split.c).  Without it
 * (field missing, an array, a value the column cannot hold exactly) the
 * row always passes.  With it, the value x is a scalar of the column's
 * bracket (or null, with the column NULL), reached through documents by
 * first occurrence of each key, as match_path.c walks: the document matches
 * iff x <op> v in match.h's sense, and <cond> is implied by that:
 *
 *   v of another bracket (number/string/bool/date/ObjectId) -> FALSE
 *   int4/int8  v compared as match.h does (int and double exactly, decimal
 *              through strtold: L, a long double that holds every int64):
 *              x > L <=> x >= floor(L)+1, x >= L <=> x >= ceil(L), ...
 *              $eq of a non-integral L -> FALSE; bounds past int64 clamp.
 *   float8     x is a double (or an int <= 2^53): exact against L when L is
 *              a double, else x >= the next double above L / <= the one
 *              below; PostgreSQL's NaN sorts high (extra rows only).
 *   numeric    x is stored as decimal text that match.h sees as an int, the
 *              double it rounds to, or strtold of a decimal: all within a
 *              relative 2^-53 of the stored text (subnormal doubles: an
 *              absolute 2.5e-324), so the band L -/+ (|L| 2^-50 + 1e-322)
 *              (+/-1e-4950 around 0: strtold underflow)
 *              is compared, with >= / <= only.  Not pushed for
 *              0 < |L| < 1e-900 or |L| > 1e900 (numeric input limits).
 *   text       = for $eq (deterministic collation: bytes); COLLATE "C" for
 *              ranges (bytes, shorter first: bsoncmp's order).  Strings that
 *              are not valid UTF-8 without NUL never sit in the column.
 *   bool, timestamptz (milliseconds, years 1-9999; beyond: clamp)
 *   uuid       only $eq/$in of ObjectIds (oid_to_uuid is a bijection).
 *   $in        = ANY(array) of the elements' $eq conditions (numeric: OR of
 *              bands, up to 64); not pushed when an element is
 *              null, a regex, an array, a document, NaN, a symbol...
 *
 * Default table (and, for a mapped table, a top-level key that is no
 * column, child or junction source: its value is in extras as is):
 * {f: "s"} / {f: true|false} (literal or $eq) ->
 *   (t.X @> {"f": v} OR t.X @> {"f": [v]} OR t.X @> {"f": {"~t": "arr"}})
 * the value, an array holding it, or an array with non-"0,1,..." keys
 * (stored as a wrapper: rowcodec).  Only for keys without '.', not starting
 * with '$' or '~', strings of 1..1024 bytes, valid UTF-8 without NUL.  A
 * BSON symbol equal to s is missed (deprecated type).  Numbers are not
 * pushed here: decimal128 has too many stored forms (0 alone ~12 000
 * exponents, plus non-canonical encodings), and int64 in the int32 range,
 * -0.0 and doubles above 2^53 have forms of their own.
 */
#include "rowstore_where.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ddl.h"
#include "jsonesc.h"

#define WHERE_MAX_DEPTH 16	/* $and nesting followed */
#define PUSH_STRING_MAX 1024	/* keys and strings in containment documents */

/* ---- clauses ----------------------------------------------------------- */

char *rsw_xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Take s as the next parameter; its placeholder number. */
int rsw_param(struct rsw_clause *c, char *s)
{
	if (!s)
		c->p.oom = true;
	rs_param_take(&c->p, s);
	return c->main->n + c->p.n;
}

/* Start one more condition (ANDed): the stream to write it to. */
FILE *rsw_cond(struct rsw_clause *c)
{
	if (c->nconds++)
		fputs(" AND ", c->f);
	return c->f;
}

void rsw_put_col(FILE *f, const struct mapping_column *col)
{
	fputs("t.", f);
	ddl_put_ident(f, col->name);
}

void rsw_put_false(struct rsw_clause *c)
{
	fputs("FALSE", rsw_cond(c));
}


struct where {
	const struct mapping_collection *mc;
	FILE *f;
	struct params *p;
};

typedef void (*cmp_fn)(struct rsw_clause *c, enum rsw_op op, const bson_iter_t *v);
typedef void (*in_fn)(struct rsw_clause *c, const bson_iter_t *arr);

/* Every pushable condition of one field's value: a literal is $eq; in an
 * operator document each known operator (the rest are ANDed: skipped). */
static void each_cond(struct rsw_clause *c, const bson_iter_t *val, cmp_fn cmp, in_fn in)
{
	static const char *const names[] = { "$eq", "$gt", "$gte", "$lt", "$lte" };
	bson_iter_t ops, first;

	if (!BSON_ITER_HOLDS_DOCUMENT(val) || !bson_iter_recurse(val, &ops) ||
	    !(first = ops, bson_iter_next(&first)) || bson_iter_key(&first)[0] != '$') {
		cmp(c, RSW_EQ, val);
		return;
	}
	while (bson_iter_next(&ops)) {
		const char *k = bson_iter_key(&ops);
		for (int op = RSW_EQ; op <= RSW_LTE; op++)
			if (!strcmp(k, names[op]))
				cmp(c, (enum rsw_op)op, &ops);
		if (in && !strcmp(k, "$in") && BSON_ITER_HOLDS_ARRAY(&ops))
			in(c, &ops);
	}
}

static bool clause_open(struct rsw_clause *c, const struct where *w, const struct mapping_column *col)
{
	memset(c, 0, sizeof *c);
	c->main = w->p;
	c->col = col;
	c->f = open_memstream(&c->sql, &c->len);
	if (!c->f)
		w->p->oom = true;
	return c->f != NULL;
}

/* Hand the clause's parameters to the statement. */
static void clause_close(struct rsw_clause *c, struct where *w)
{
	for (int i = 0; i < c->p.n; i++)
		rs_param_take(w->p, c->p.v[i]);
	if (c->p.oom)
		w->p->oom = true;
	free(c->p.v);
	free(c->sql);
}

/* The column does not hold the document's value (see the header comment). */
static void put_not_held(struct rsw_clause *c, FILE *f)
{
	const struct mapping_column *col = c->col;
	char *segs[64], esc[MAPPING_IDENT_MAX * 6 + 8];
	size_t n = 0;
	char *src = strdup(col->source), *save = NULL;

	for (char *s = src ? strtok_r(src, ".", &save) : NULL; s && n < 64; s = strtok_r(NULL, ".", &save))
		segs[n++] = s[0] == '~' ? rsw_xfmt("~%s", s) : strdup(s); /* rowcodec's key escape */
	int np = rsw_param(c, rs_pgarray_format((const char *const *)segs, n));
	jsonesc_str(esc, sizeof esc, col->name, strlen(col->name));
	int nm = rsw_param(c, rsw_xfmt("{\"~t\": \"c\", \"c\": \"%s\"}", esc));
	for (size_t i = 0; i < n; i++)
		free(segs[i]);
	free(src);
	if (!col->default_value) {
		fputc('(', f);
		rsw_put_col(f, col);
		fputs(" IS NULL AND ", f);
	}
	fprintf(f, "NOT COALESCE((t.\"extras\" #> $%d::text[]) @> $%d::jsonb, false)", np, nm);
	if (!col->default_value)
		fputc(')', f);
}

static void column_field(struct where *w, const struct mapping_column *col, const bson_iter_t *val)
{
	struct rsw_clause c;

	if (!clause_open(&c, w, col))
		return;
	each_cond(&c, val, rsw_col_cmp, rsw_col_in);
	if (fclose(c.f) != 0 || !c.sql) {
		w->p->oom = true;
	} else if (c.nconds) {
		fprintf(w->f, " AND ((%s) OR ", c.sql);
		put_not_held(&c, w->f);
		fputc(')', w->f);
	}
	clause_close(&c, w);
}

/* ---- containment (default table; mapped: extras) ------------------------ */

struct contain {
	struct rsw_clause c;
	const char *key;
	const char *jcol;	/* "doc" or "extras" */
};

static bool plain_json_text(const char *s, uint32_t len)
{
	return len > 0 && len <= PUSH_STRING_MAX && bson_utf8_validate(s, len, false);
}

static void contain_cmp(struct rsw_clause *c, enum rsw_op op, const bson_iter_t *v)
{
	struct contain *ct = (struct contain *)c;
	char k[PUSH_STRING_MAX * 6 + 8], s[PUSH_STRING_MAX * 6 + 8];
	const char *val = NULL;
	uint32_t len;

	if (op != RSW_EQ)
		return;
	if (BSON_ITER_HOLDS_BOOL(v)) {
		val = bson_iter_bool(v) ? "true" : "false";
	} else if (BSON_ITER_HOLDS_UTF8(v)) {
		const char *str = bson_iter_utf8(v, &len);
		if (!plain_json_text(str, len))
			return;
		jsonesc_quoted(s, sizeof s, str, len);
		val = s;
	} else {
		return;
	}
	jsonesc_str(k, sizeof k, ct->key, strlen(ct->key));
	int a = rsw_param(c, rsw_xfmt("{\"%s\": %s}", k, val));
	int b = rsw_param(c, rsw_xfmt("{\"%s\": [%s]}", k, val));
	int g = rsw_param(c, rsw_xfmt("{\"%s\": {\"~t\": \"arr\"}}", k));
	fprintf(rsw_cond(c), "(t.\"%s\" @> $%d::jsonb OR t.\"%s\" @> $%d::jsonb OR t.\"%s\" @> $%d::jsonb)",
		ct->jcol, a, ct->jcol, b, ct->jcol, g);
}

/* A top-level key whose whole value sits in doc / extras under its own name. */
static bool contain_key_ok(const struct mapping_collection *mc, const char *k)
{
	if (k[0] == '$' || k[0] == '~' || strchr(k, '.') || !plain_json_text(k, (uint32_t)strlen(k)))
		return false;
	for (size_t i = 0; i < mc->n_children; i++)
		if (!strcmp(mc->children[i].source, k))
			return false;
	for (size_t i = 0; i < mc->n_junctions; i++)
		if (!strcmp(mc->junctions[i].source, k))
			return false;
	return true;
}

static void contain_field(struct where *w, const char *key, const bson_iter_t *val)
{
	struct contain ct;

	if (!clause_open(&ct.c, w, NULL))
		return;
	ct.key = key;
	ct.jcol = w->mc->is_default ? "doc" : "extras";
	each_cond(&ct.c, val, contain_cmp, NULL);
	if (fclose(ct.c.f) != 0 || !ct.c.sql)
		w->p->oom = true;
	else if (ct.c.nconds)
		fprintf(w->f, " AND %s", ct.c.sql);
	clause_close(&ct.c, w);
}

/* ---- the filter ---------------------------------------------------------- */

static void field(struct where *w, const char *key, const bson_iter_t *val)
{
	const struct mapping_collection *mc = w->mc;

	for (size_t i = 0; !mc->is_default && i < mc->n_columns; i++)
		if (!strcmp(mc->columns[i].source, key)) {
			if (rsw_col_pushable(mc->columns[i].type))
				column_field(w, &mc->columns[i], val);
			return; /* a column of another type: its value is not in extras */
		}
	if (contain_key_ok(mc, key))
		contain_field(w, key, val);
}

static void walk(struct where *w, const bson_t *filter, int depth);

static void walk_and(struct where *w, const bson_iter_t *arr, int depth)
{
	bson_iter_t ai;
	uint32_t len;
	const uint8_t *data;
	bson_t sub;

	if (!bson_iter_recurse(arr, &ai))
		return;
	while (bson_iter_next(&ai)) {
		if (!BSON_ITER_HOLDS_DOCUMENT(&ai))
			continue;
		bson_iter_document(&ai, &len, &data);
		if (bson_init_static(&sub, data, len))
			walk(w, &sub, depth + 1);
	}
}

static void walk(struct where *w, const bson_t *filter, int depth)
{
	bson_iter_t it;

	if (depth > WHERE_MAX_DEPTH || !bson_iter_init(&it, filter))
		return;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (!strcmp(k, "$and") && BSON_ITER_HOLDS_ARRAY(&it))
			walk_and(w, &it, depth);
		else if (k[0] != '$' && strcmp(k, "_id"))
			field(w, k, &it);
	}
}

void rs_where_put(const struct mapping_collection *mc, const bson_t *filter, FILE *f,
		  struct params *p)
{
	struct where w = { mc, f, p };

	if (filter)
		walk(&w, filter, 0);
}
