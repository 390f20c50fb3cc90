/*
 * test_rowstore.c - one document <-> its PostgreSQL row(s) as SQL
 * (common/rowstore/rowstore*.c, common/rowstore/sqllist.c).
 *
 *  - SQL text of put / delete / select for the default table and for
 *    conf/mapping.yaml's users, plans and orders;
 *  - decode of rows built by hand (what PostgreSQL would return);
 *  - property test: seeded random documents (every BSON type, and documents
 *    shaped like the example mapping with wrong-typed, missing, null,
 *    duplicated and misplaced mapped fields) -> rowstore_put -> the row
 *    PostgreSQL would hold, simulated here from the statements' parameters
 *    (independently of rowstore's own SELECT-side code) -> rowstore_decode
 *    must give back the same bytes.  ROWSTORE_SEED=n replays a run.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mapping.h"
#include "oid_uuid.h"
#include "rowstore.h"
#include "sqllist.h"

#include "random_bson.h"

/* ---- the example mapping ------------------------------------------------- */

#include "example_mapping.h"

/* ---- what PostgreSQL would return, from the parameters ----------------- */

/* The text rowstore's SELECT returns for a column given parameter `in`:
 * written here from PostgreSQL's documented behaviour, not from rowstore. */
static char *sim_out(enum mapping_type t, const char *in)
{
	char buf[64];

	if (!in)
		return NULL;
	switch (t) {
	case MAPPING_T_FLOAT8: {
		double d = !strcmp(in, "NaN") ? NAN : !strcmp(in, "Infinity") ? INFINITY
			   : !strcmp(in, "-Infinity") ? -INFINITY : strtod(in, NULL);
		uint64_t bits;
		memcpy(&bits, &d, 8);
		snprintf(buf, sizeof buf, "%016" PRIx64, bits);
		return strdup(buf);
	}
	case MAPPING_T_TIMESTAMPTZ: {
		struct tm tm = { 0 };
		int ms = 0;
		if (!strcmp(in, "now"))
			return strdup("1700000000000");
		cr_assert(sscanf(in, "%d-%d-%d %d:%d:%d.%d+00", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
				 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7, "timestamptz param %s", in);
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		snprintf(buf, sizeof buf, "%" PRId64, (int64_t)timegm(&tm) * 1000 + ms);
		return strdup(buf);
	}
	case MAPPING_T_BYTEA:
		cr_assert(!strncmp(in, "\\x", 2));
		return strdup(in + 2);
	default:
		return strdup(in);
	}
}

/* One array item as PostgreSQL may print it: NULL, or quoted. */
static void put_item(FILE *f, const char *item)
{
	if (!item) {
		fputs("NULL", f);
		return;
	}
	fputc('"', f);
	for (const char *p = item; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

static void put_items(FILE *f, char *const *items, size_t n)
{
	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		put_item(f, items[i]);
	}
	fputc('}', f);
}

struct simrow {
	char *v[64];
	int n;
};

static void simrow_free(struct simrow *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->v[i]);
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* Rows of one child/junction table: DELETE, then INSERTs; returns the
 * aggregate literal (NULL when no rows) and advances *idx. */
static char *sim_rows(const struct sqllist *l, size_t *idx, const char *table,
		      const struct mapping_column *cols, size_t ncols, enum mapping_type ref)
{
	char del[256], ins[256], *buf = NULL;
	size_t len = 0, rows = 0, w = ncols ? ncols + 1 : 1;
	FILE *f = open_memstream(&buf, &len);

	snprintf(del, sizeof del, "DELETE FROM \"%s\" WHERE ", table);
	snprintf(ins, sizeof ins, "INSERT INTO \"%s\" (", table);
	cr_assert(*idx < l->n && starts(l->stmts[*idx].sql, del), "want %s", del);
	cr_assert_eq(l->stmts[*idx].nparams, 2);
	(*idx)++;
	fputc('{', f);
	while (*idx < l->n && starts(l->stmts[*idx].sql, ins)) {
		const struct sqlstmt *s = &l->stmts[(*idx)++];
		cr_assert_eq((s->nparams - 2) % (int)(w + 1), 0);
		for (int p = 2; p < s->nparams; p += (int)w + 1, rows++) {
			char *items[64];
			cr_assert_eq(strtoull(s->params[p], NULL, 10), rows, "ord");
			for (size_t c = 0; c < w; c++) {
				enum mapping_type t = !ncols ? ref : c < ncols ? cols[c].type : MAPPING_T_JSONB;
				items[c] = sim_out(t, s->params[p + 1 + (int)c]);
			}
			if (rows)
				fputc(',', f);
			if (ncols)
				put_items(f, items, w); /* one row: {cols..., extras} */
			else
				put_item(f, items[0]); /* one ref */
			for (size_t c = 0; c < w; c++)
				free(items[c]);
		}
	}
	fputc('}', f);
	fclose(f);
	if (!rows) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The result row rowstore_select would return for the statements of one put. */
static void sim_row(const struct mapping_collection *mc, const struct sqllist *l, struct simrow *r)
{
	const struct sqlstmt *s = &l->stmts[0];
	int p = mc->id_kind == MAPPING_ID_OBJECTID || mc->id_kind == MAPPING_ID_ANY ? 3 : 2;
	size_t idx = 1;

	memset(r, 0, sizeof *r);
	cr_assert(starts(s->sql, "INSERT INTO "));
	r->v[r->n++] = strdup(s->params[s->nparams - 1]);
	if (mc->is_default) {
		cr_assert_eq(l->n, 1);
		return;
	}
	cr_assert_eq(s->nparams, p + (int)mc->n_columns + 1);
	for (size_t i = 0; i < mc->n_columns; i++)
		r->v[r->n++] = sim_out(mc->columns[i].type, s->params[p + (int)i]);
	for (size_t i = 0; i < mc->n_children; i++)
		r->v[r->n++] = sim_rows(l, &idx, mc->children[i].table, mc->children[i].columns,
					mc->children[i].n_columns, 0);
	for (size_t i = 0; i < mc->n_junctions; i++)
		r->v[r->n++] = sim_rows(l, &idx, mc->junctions[i].table, NULL, 0,
					mc->junctions[i].ref_type);
	cr_assert_eq(idx, l->n, "unexpected extra statements");
}

static bool same_bson(const bson_t *a, const bson_t *b)
{
	return a->len == b->len && !memcmp(bson_get_data(a), bson_get_data(b), a->len);
}

static char *json_of(const bson_t *b)
{
	size_t n;
	char *s = bson_as_canonical_extended_json(b, &n);
	return s ? s : bson_strdup("(not printable)");
}

/* Markers written by the property tests: proves values really went to
 * typed columns, child and junction rows (not everything to extras). */
static size_t n_markers, n_child_markers, n_junction_markers;

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay ? strstr(hay, needle) : NULL; p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* put -> simulated row -> decode must give back doc; runs put twice to
 * check the statements are deterministic. */
static void roundtrip(const struct mapping_collection *mc, const bson_t *doc, uint64_t seed, int i)
{
	struct sqllist l, l2;
	bson_error_t err;
	struct simrow r;
	bson_t back;

	sqllist_init(&l);
	sqllist_init(&l2);
	cr_assert(rowstore_put(mc, "t1", doc, &l, &err), "seed %" PRIu64 " doc %d: put: %s", seed, i,
		  err.message);
	cr_assert(rowstore_put(mc, "t1", doc, &l2, &err));
	cr_assert_eq(l.n, l2.n);
	for (size_t k = 0; k < l.n; k++)
		cr_assert_str_eq(l.stmts[k].sql, l2.stmts[k].sql);
	sim_row(mc, &l, &r);
	cr_assert_eq(r.n, rowstore_select_ncols(mc));
	for (size_t k = 0; k < l.n; k++) {
		const struct sqlstmt *s = &l.stmts[k];
		for (int p = 0; p < s->nparams; p++) {
			n_markers += count_str(s->params[p], "{\"~t\":\"c\",\"c\":\"");
			n_child_markers += count_str(s->params[p], "{\"~t\":\"c\",\"c\":\"+");
			n_junction_markers += count_str(s->params[p], "{\"~t\":\"c\",\"c\":\"&");
		}
	}
	bool ok = rowstore_decode(mc, r.n, (const char *const *)r.v, &back, &err);
	if (!ok || !same_bson(doc, &back)) {
		char *a = json_of(doc), *b = ok ? json_of(&back) : bson_strdup(err.message);
		cr_assert(false, "seed %" PRIu64 " doc %d (%s): not identical\n in:  %s\n out: %s\n extras: %s",
			  seed, i, mc->name, a, b, r.v[0]);
	}
	bson_destroy(&back);
	simrow_free(&r);
	sqllist_free(&l);
	sqllist_free(&l2);
}

/* ---- documents shaped like conf/mapping.yaml ------------------------------ */

static void gen_oid(bson_t *b, const char *k)
{
	bson_oid_t oid;
	for (int i = 0; i < 12; i++)
		oid.bytes[i] = (uint8_t)rnd();
	bson_append_oid(b, k, -1, &oid);
}

static void gen_clean_string(bson_t *b, const char *k)
{
	static const char *const s[] = { "", "a", "x y", "NULL", "null", "{}", "a,b", "\"q\"",
		"back\\slash", "tab\tnl\n", "ключ", "😀", "cart", "paid", "active", "EUR" };
	bson_append_utf8(b, k, -1, s[rndn(16)], -1);
}

/* A value meant for a column of type t: usually one that fits, sometimes
 * an edge case that does not (too big, wrong scale, NaN payload, ...),
 * sometimes null or a random value of any type. */
static void gen_typed(bson_t *b, const char *k, enum mapping_type t)
{
	bson_decimal128_t dec;
	bson_t arr;
	uint8_t u[16];
	static const char *const decs[] = { "1.00", "1.0", "-0.00", "12.34", "0.00",
		"9999999999.99", "99999999999.99", "1E+3", "NaN", "0.01", "-12.50" };
	static const double dbls[] = { 12.5, 12.345, 0.1, -0.0, 0.0, 1e300, 4.9e-324, -7.25,
		9007199254740993.0, 1e10, 5.0 };

	switch (rndn(8)) {
	case 0: bson_append_null(b, k, -1); return;
	case 1: gen_value(b, k, 0, 1); return;
	default: break;
	}
	switch (t) {
	case MAPPING_T_TEXT: gen_clean_string(b, k); return;
	case MAPPING_T_INT4: case MAPPING_T_INT8: case MAPPING_T_FLOAT8: case MAPPING_T_NUMERIC:
		switch (rndn(6)) {
		case 0: bson_append_int32(b, k, -1, (int32_t)rnd()); return;
		case 1: bson_append_int32(b, k, -1, (int32_t)rndn(1000)); return;
		case 2: bson_append_int64(b, k, -1, rndn(2) ? (int64_t)rnd() : (int64_t)rndn(1000)); return;
		case 3: bson_append_double(b, k, -1, dbls[rndn(11)]); return;
		case 4: bson_append_double(b, k, -1, rndn(3) ? (double)(int)rndn(100000) / 100 : NAN); return;
		default:
			cr_assert(bson_decimal128_from_string(decs[rndn(11)], &dec));
			bson_append_decimal128(b, k, -1, &dec);
			return;
		}
	case MAPPING_T_BOOL: bson_append_bool(b, k, -1, rndn(2)); return;
	case MAPPING_T_TIMESTAMPTZ:
		bson_append_date_time(b, k, -1, rndn(4) ? (int64_t)rndn(2000000000) * 1000 + rndn(1000)
					       : rndn(2) ? -62135596800001LL - (int64_t)rndn(9) : (int64_t)rnd());
		return;
	case MAPPING_T_UUID:
		if (rndn(3)) {
			gen_oid(b, k);
			return;
		}
		for (int i = 0; i < 16; i++)
			u[i] = (uint8_t)rnd();
		bson_append_binary(b, k, -1, rndn(2) ? BSON_SUBTYPE_UUID : BSON_SUBTYPE_UUID_DEPRECATED, u,
				   rndn(5) ? 16 : 15);
		return;
	case MAPPING_T_TEXT_ARRAY: {
		uint32_t n = rndn(5);
		char idx[16];
		bson_append_array_begin(b, k, -1, &arr);
		for (uint32_t i = 0; i < n; i++) {
			snprintf(idx, sizeof idx, "%u", rndn(12) ? i : i + 7);
			if (rndn(10))
				gen_clean_string(&arr, idx);
			else
				gen_value(&arr, idx, 1, 1);
		}
		bson_append_array_end(b, &arr);
		return;
	}
	default: gen_value(b, k, 0, 3); return; /* jsonb, bytea: anything */
	}
}

/* Appends fields in random order; each mapped field may be missing, and
 * random fields (including repeats of mapped keys) are mixed in. */
struct field {
	const char *key;
	void (*gen)(bson_t *b, const char *key, const void *arg);
	const void *arg;
};

static void gen_fields(bson_t *b, struct field *f, size_t n)
{
	static const char *const noise[] = { "email", "status", "a.b", "$x", "~c", "~t", "extras",
		"id", "x", "items", "total" };

	for (size_t i = n; i > 1; i--) { /* shuffle */
		size_t j = rndn((uint32_t)i);
		struct field t = f[i - 1];
		f[i - 1] = f[j];
		f[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		if (rndn(8) == 0)
			gen_value(b, noise[rndn(11)], 0, 2);
		if (rndn(7))
			f[i].gen(b, f[i].key, f[i].arg);
	}
}

static void g_typed(bson_t *b, const char *k, const void *arg)
{
	gen_typed(b, k, *(const enum mapping_type *)arg);
}

static const enum mapping_type T_TEXT = MAPPING_T_TEXT, T_INT4 = MAPPING_T_INT4,
	T_TS = MAPPING_T_TIMESTAMPTZ, T_JSONB = MAPPING_T_JSONB, T_NUM = MAPPING_T_NUMERIC,
	T_BOOL = MAPPING_T_BOOL, T_UUID = MAPPING_T_UUID, T_TARR = MAPPING_T_TEXT_ARRAY;

/* A sub-document built from fields, or sometimes something else entirely. */
static void g_sub(bson_t *b, const char *k, const void *arg)
{
	const struct field *spec = arg;
	struct field f[4];
	size_t n = 0;
	bson_t child;

	if (rndn(6) == 0) {
		gen_value(b, k, 0, 2);
		return;
	}
	for (; spec[n].key; n++)
		f[n] = spec[n];
	bson_append_document_begin(b, k, -1, &child);
	gen_fields(&child, f, n);
	bson_append_document_end(b, &child);
}

/* An array of sub-documents (sometimes with a non-document or odd keys). */
static void g_docs(bson_t *b, const char *k, const void *arg)
{
	bson_t arr;
	uint32_t n = rndn(5);
	char idx[16];

	if (rndn(8) == 0) {
		gen_value(b, k, 0, 2);
		return;
	}
	bson_append_array_begin(b, k, -1, &arr);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(idx, sizeof idx, "%u", rndn(20) ? i : i + 3);
		if (rndn(15) == 0)
			gen_value(&arr, idx, 1, 2);
		else
			g_sub(&arr, idx, arg);
	}
	bson_append_array_end(b, &arr);
}

static void g_refs(bson_t *b, const char *k, const void *arg)
{
	bson_t arr;
	uint32_t n = rndn(5);
	char idx[16];

	(void)arg;
	bson_append_array_begin(b, k, -1, &arr);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(idx, sizeof idx, "%u", i);
		if (rndn(12) == 0)
			gen_value(&arr, idx, 1, 1);
		else
			gen_oid(&arr, idx);
	}
	bson_append_array_end(b, &arr);
}

static void gen_id(bson_t *b)
{
	switch (rndn(10)) {
	case 0: bson_append_utf8(b, "_id", -1, "k-1", -1); break;
	case 1: bson_append_int32(b, "_id", -1, (int32_t)rndn(100)); break;
	case 2: gen_value(b, "_id", 0, 1); break;
	default: gen_oid(b, "_id");
	}
}

static void gen_users(bson_t *b)
{
	static const struct field last[] = {
		{ "at", g_typed, &T_TS }, { "count", g_typed, &T_INT4 }, { "ip", g_typed, &T_TEXT },
		{ NULL, NULL, NULL } };
	struct field f[] = {
		{ "email", g_typed, &T_TEXT }, { "name", g_typed, &T_TEXT }, { "status", g_typed, &T_TEXT },
		{ "createdAt", g_typed, &T_TS }, { "lastLogin", g_sub, last },
		{ "settings", g_typed, &T_JSONB },
	};
	gen_id(b);
	gen_fields(b, f, sizeof f / sizeof *f);
}

static void gen_plans(bson_t *b)
{
	static const struct field price[] = { { "monthly", g_typed, &T_NUM },
		{ "yearly", g_typed, &T_NUM }, { NULL, NULL, NULL } };
	static const struct field section[] = { { "heading", g_typed, &T_TEXT },
		{ "body", g_typed, &T_TEXT }, { "order", g_typed, &T_INT4 }, { NULL, NULL, NULL } };
	struct field f[] = {
		{ "code", g_typed, &T_TEXT }, { "title", g_typed, &T_TEXT }, { "price", g_sub, price },
		{ "active", g_typed, &T_BOOL }, { "sections", g_docs, section },
	};
	gen_id(b);
	gen_fields(b, f, sizeof f / sizeof *f);
}

static void gen_orders(bson_t *b)
{
	static const struct field addr[] = { { "city", g_typed, &T_TEXT }, { "zip", g_typed, &T_TEXT },
		{ NULL, NULL, NULL } };
	static const struct field ship[] = { { "address", g_sub, addr }, { NULL, NULL, NULL } };
	static const struct field item[] = { { "sku", g_typed, &T_TEXT }, { "qty", g_typed, &T_INT4 },
		{ "unitPrice", g_typed, &T_NUM }, { NULL, NULL, NULL } };
	struct field f[] = {
		{ "userId", g_typed, &T_UUID }, { "status", g_typed, &T_TEXT }, { "total", g_typed, &T_NUM },
		{ "currency", g_typed, &T_TEXT }, { "tags", g_typed, &T_TARR },
		{ "placedAt", g_typed, &T_TS }, { "shipping", g_sub, ship }, { "items", g_docs, item },
		{ "couponIds", g_refs, NULL },
	};
	gen_id(b);
	gen_fields(b, f, sizeof f / sizeof *f);
}

/* ---- sqllist ---------------------------------------------------------------- */

Test(sqllist, copies_params_and_null_is_sql_null)
{
	struct sqllist l;
	char a[] = "x";
	const char *p[3] = { a, NULL, "z" };

	sqllist_init(&l);
	for (int i = 0; i < 20; i++)
		cr_assert(sqllist_add(&l, "SELECT $1, $2, $3", 3, p));
	a[0] = 'y';
	cr_assert_eq(l.n, 20);
	cr_assert_str_eq(l.stmts[19].params[0], "x");
	cr_assert_null(l.stmts[19].params[1]);
	sqllist_truncate(&l, 5);
	cr_assert_eq(l.n, 5);
	sqllist_free(&l);
	cr_assert_eq(l.n, 0);
}

/* ---- SQL text ------------------------------------------------------------------ */

static const char OID_HEX[] = "507f1f77bcf86cd799439011";
static const char OID_UUID[] = "507f1f77-bcf8-806c-80d7-994390110000";

static bson_t *doc_of(const char *json)
{
	bson_error_t e;
	bson_t *b = bson_new_from_json((const uint8_t *)json, -1, &e);
	cr_assert(b, "%s: %s", json, e.message);
	return b;
}

Test(rowstore, default_table_put_sql)
{
	struct mapping_collection mc;
	struct sqllist l;
	bson_error_t err;
	bson_t *d = doc_of("{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}, \"a\": 1}");

	mapping_default_collection("events", &mc);
	sqllist_init(&l);
	cr_assert(rowstore_put(&mc, "acme", d, &l, &err), "%s", err.message);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.stmts[0].sql,
		"INSERT INTO \"events\" (\"tenant_id\", \"id\", \"legacy_id\", \"doc\") VALUES "
		"($1::text, $2::uuid, $3::jsonb, $4::jsonb) ON CONFLICT (\"tenant_id\", \"id\") "
		"DO UPDATE SET \"legacy_id\" = EXCLUDED.\"legacy_id\", \"doc\" = EXCLUDED.\"doc\"");
	cr_assert_eq(l.stmts[0].nparams, 4);
	cr_assert_str_eq(l.stmts[0].params[0], "acme");
	cr_assert_str_eq(l.stmts[0].params[1], OID_UUID);
	cr_assert_str_eq(l.stmts[0].params[2], "{\"~t\":\"oid\",\"v\":\"507f1f77bcf86cd799439011\"}");
	cr_assert_str_eq(l.stmts[0].params[3],
			 "{\"_id\":{\"~t\":\"oid\",\"v\":\"507f1f77bcf86cd799439011\"},\"a\":1,\"~o\":[\"_id\",\"a\"]}");
	sqllist_free(&l);
	bson_destroy(d);
}

Test(rowstore, put_refuses_a_document_without_id_and_leaves_list_alone)
{
	struct mapping_collection mc;
	struct sqllist l;
	bson_error_t err;
	bson_t *d = doc_of("{\"a\": 1}");
	struct mapping *m = load_example();

	mapping_default_collection("events", &mc);
	sqllist_init(&l);
	cr_assert_not(rowstore_put(&mc, "acme", d, &l, &err));
	cr_assert_eq(l.n, 0);
	cr_assert_eq(err.domain, ROWSTORE_ERROR_DOMAIN);
	bson_destroy(d);
	d = doc_of("{\"_id\": 5, \"email\": \"a\"}");
	struct mapping_collection tc = *mapping_find(m, "users");
	tc.id_kind = MAPPING_ID_TEXT; /* an int _id cannot be a text id */
	cr_assert_not(rowstore_put(&tc, "acme", d, &l, &err));
	cr_assert_eq(l.n, 0);
	cr_assert(strstr(err.message, "does not fit id kind"), "%s", err.message);
	bson_destroy(d);
	mapping_free(m);
}

Test(rowstore, users_put_sql_and_params)
{
	struct mapping *m = load_example();
	const struct mapping_collection *mc = mapping_find(m, "users");
	struct sqllist l;
	bson_error_t err;
	bson_t *d = doc_of("{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}, \"email\": \"a@b.c\", "
			   "\"lastLogin\": {\"count\": {\"$numberLong\": \"7\"}, \"at\": {\"$date\": {\"$numberLong\": \"1700000000123\"}}}, "
			   "\"login_count\": 3, \"name\": 42}");

	sqllist_init(&l);
	cr_assert(rowstore_put(mc, "acme", d, &l, &err), "%s", err.message);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.stmts[0].sql,
		"INSERT INTO \"users\" (\"tenant_id\", \"id\", \"legacy_id\", \"email\", \"name\", \"status\", "
		"\"created_at\", \"last_login_at\", \"login_count\", \"settings\", \"extras\") VALUES ($1::text, "
		"$2::uuid, $3::text, $4::text, $5::text, $6::text, $7::timestamptz, $8::timestamptz, $9::int4, "
		"$10::jsonb, $11::jsonb) ON CONFLICT (\"tenant_id\", \"id\") DO UPDATE SET \"legacy_id\" = "
		"EXCLUDED.\"legacy_id\", \"email\" = EXCLUDED.\"email\", \"name\" = EXCLUDED.\"name\", \"status\" = "
		"EXCLUDED.\"status\", \"created_at\" = EXCLUDED.\"created_at\", \"last_login_at\" = "
		"EXCLUDED.\"last_login_at\", \"login_count\" = EXCLUDED.\"login_count\", \"settings\" = "
		"EXCLUDED.\"settings\", \"extras\" = EXCLUDED.\"extras\"");
	char **p = l.stmts[0].params;
	cr_assert_eq(l.stmts[0].nparams, 11);
	cr_assert_str_eq(p[1], OID_UUID);
	cr_assert_str_eq(p[2], OID_HEX);
	cr_assert_str_eq(p[3], "a@b.c");
	cr_assert_null(p[4], "name 42 is no text: column NULL, value in extras");
	cr_assert_str_eq(p[5], "invited", "missing status: the mapping's default");
	cr_assert_str_eq(p[6], "now", "missing createdAt: default now()");
	cr_assert_str_eq(p[7], "2023-11-14 22:13:20.123+00");
	cr_assert_str_eq(p[8], "7", "an int64 7 fits int4 (the marker keeps the type)");
	cr_assert_null(p[9]);
	cr_assert_str_eq(p[10],
		"{\"_id\":{\"~t\":\"oid\",\"v\":\"507f1f77bcf86cd799439011\"},"
		"\"email\":{\"~t\":\"c\",\"c\":\"email\",\"y\":2},"
		"\"lastLogin\":{\"count\":{\"~t\":\"c\",\"c\":\"login_count\",\"y\":18},"
		"\"at\":{\"~t\":\"c\",\"c\":\"last_login_at\",\"y\":9},\"~o\":[\"count\",\"at\"]},"
		"\"login_count\":3,\"name\":42,\"~o\":[\"_id\",\"email\",\"lastLogin\",\"login_count\",\"name\"]}");
	sqllist_free(&l);
	bson_destroy(d);
	mapping_free(m);
}

Test(rowstore, orders_put_children_and_junction_rows)
{
	struct mapping *m = load_example();
	const struct mapping_collection *mc = mapping_find(m, "orders");
	struct sqllist l;
	bson_error_t err;
	bson_t *d = doc_of("{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}, \"total\": {\"$numberDecimal\": \"12.50\"}, "
			   "\"items\": [{\"sku\": \"A\", \"qty\": 2, \"unitPrice\": 1.5}, {\"sku\": \"B\", \"x\": true}], "
			   "\"couponIds\": [{\"$oid\": \"507f1f77bcf86cd799439011\"}], \"tags\": [\"a\", \"b\\\"\"]}");

	sqllist_init(&l);
	cr_assert(rowstore_put(mc, "acme", d, &l, &err), "%s", err.message);
	cr_assert_eq(l.n, 5);
	cr_assert_str_eq(l.stmts[0].params[5], "12.50");
	cr_assert_str_eq(l.stmts[0].params[7], "{\"a\",\"b\\\"\"}");
	cr_assert_str_eq(l.stmts[1].sql, "DELETE FROM \"order_items\" WHERE \"tenant_id\" = $1::text AND "
					 "\"parent_id\" = $2::uuid");
	cr_assert_str_eq(l.stmts[2].sql,
		"INSERT INTO \"order_items\" (\"tenant_id\", \"parent_id\", \"ord\", \"sku\", \"qty\", "
		"\"unit_price\", \"extras\") VALUES ($1::text, $2::uuid, $3::int4, $4::text, $5::int4, "
		"$6::numeric, $7::jsonb), ($1::text, $2::uuid, $8::int4, $9::text, $10::int4, $11::numeric, "
		"$12::jsonb)");
	char **p = l.stmts[2].params;
	cr_assert_eq(l.stmts[2].nparams, 12);
	cr_assert_str_eq(p[2], "0");
	cr_assert_str_eq(p[3], "A");
	cr_assert_str_eq(p[4], "2");
	cr_assert_str_eq(p[5], "1.50");
	cr_assert_str_eq(p[8], "B");
	cr_assert_str_eq(p[9], "1", "missing qty: default 1");
	cr_assert_null(p[10]);
	cr_assert_str_eq(p[11], "{\"sku\":{\"~t\":\"c\",\"c\":\"sku\",\"y\":2},\"x\":true,\"~o\":[\"sku\",\"x\"]}");
	cr_assert_str_eq(l.stmts[4].sql,
		"INSERT INTO \"order_coupons\" (\"tenant_id\", \"parent_id\", \"ord\", \"ref\") VALUES "
		"($1::text, $2::uuid, $3::int4, $4::uuid)");
	cr_assert_str_eq(l.stmts[4].params[3], OID_UUID);
	cr_assert(strstr(l.stmts[0].params[l.stmts[0].nparams - 1],
			 "\"items\":{\"~t\":\"c\",\"c\":\"+items\",\"y\":4}"));
	cr_assert(strstr(l.stmts[0].params[l.stmts[0].nparams - 1],
			 "\"couponIds\":{\"~t\":\"c\",\"c\":\"&coupons\",\"y\":7}"));
	sqllist_free(&l);
	bson_destroy(d);
	mapping_free(m);
}

Test(rowstore, values_a_column_cannot_hold_stay_in_extras)
{
	struct mapping *m = load_example();
	const struct mapping_collection *mc = mapping_find(m, "orders");
	struct sqllist l;
	bson_error_t err;
	/* 12.345 needs 3 decimals; decimal 1.0 has the wrong scale; NaN; a
	 * document in text[]; an item that is not a document; a ref that is
	 * not an ObjectId. */
	const char *docs[] = {
		"{\"_id\": 1, \"total\": 12.345}", "{\"_id\": 1, \"total\": {\"$numberDecimal\": \"1.0\"}}",
		"{\"_id\": 1, \"total\": {\"$numberDouble\": \"NaN\"}}", "{\"_id\": 1, \"tags\": [{}]}",
		"{\"_id\": 1, \"total\": 1e11}",
	};
	for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
		bson_t *d = doc_of(docs[i]);
		sqllist_init(&l);
		cr_assert(rowstore_put(mc, "acme", d, &l, &err), "%s", err.message);
		cr_assert_null(l.stmts[0].params[5 + (strstr(docs[i], "tags") ? 2 : 0)], "%s", docs[i]);
		cr_assert_null(strstr(l.stmts[0].params[l.stmts[0].nparams - 1], "\"~t\":\"c\""), "%s",
			       docs[i]);
		sqllist_free(&l);
		bson_destroy(d);
	}
	bson_t *d = doc_of("{\"_id\": 1, \"items\": [{\"sku\": \"a\"}, 5], \"couponIds\": [\"x\"]}");
	sqllist_init(&l);
	cr_assert(rowstore_put(mc, "acme", d, &l, &err));
	cr_assert_eq(l.n, 3, "only DELETEs for the child and junction tables");
	cr_assert(strstr(l.stmts[0].params[l.stmts[0].nparams - 1], "\"items\":[{\"sku\":\"a\""));
	sqllist_free(&l);
	bson_destroy(d);
	mapping_free(m);
}

Test(rowstore, delete_sql)
{
	struct mapping *m = load_example();
	struct sqllist l;
	bson_error_t err;
	bson_value_t v = { .value_type = BSON_TYPE_OID };

	bson_oid_init_from_string(&v.value.v_oid, OID_HEX);
	sqllist_init(&l);
	cr_assert(rowstore_delete(mapping_find(m, "orders"), "acme", &v, &l, &err));
	cr_assert_eq(l.n, 3);
	cr_assert_str_eq(l.stmts[0].sql, "DELETE FROM \"order_items\" WHERE \"tenant_id\" = $1::text AND "
					 "\"parent_id\" = $2::uuid");
	cr_assert_str_eq(l.stmts[2].sql, "DELETE FROM \"orders\" WHERE \"tenant_id\" = $1::text AND "
					 "\"id\" = $2::uuid");
	cr_assert_str_eq(l.stmts[2].params[1], OID_UUID);
	sqllist_free(&l);
	mapping_free(m);
}

/* ---- select --------------------------------------------------------------------- */

static struct sqlstmt select_of(const struct mapping_collection *mc, const char *filter_json,
				struct sqllist *l)
{
	bson_error_t err;
	bson_t *f = filter_json ? doc_of(filter_json) : NULL;

	sqllist_init(l);
	cr_assert(rowstore_select(mc, "acme", f, l, &err), "%s", err.message);
	cr_assert_eq(l->n, 1);
	if (f)
		bson_destroy(f);
	return l->stmts[0];
}

Test(rowstore, select_default_and_id_pushdown)
{
	struct mapping_collection mc;
	struct sqllist l;
	struct sqlstmt s;
	const char *base = "SELECT t.\"doc\"::text FROM \"events\" t WHERE t.\"tenant_id\" = $1::text";
	char want[512];

	mapping_default_collection("events", &mc);
	s = select_of(&mc, NULL, &l);
	snprintf(want, sizeof want, "%s ORDER BY t.\"seq\"", base);
	cr_assert_str_eq(s.sql, want);
	cr_assert_eq(s.nparams, 1);
	sqllist_free(&l);

	s = select_of(&mc, "{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}, \"a\": 1}", &l);
	snprintf(want, sizeof want, "%s AND t.\"id\" = $2::uuid ORDER BY t.\"seq\"", base);
	cr_assert_str_eq(s.sql, want);
	cr_assert_str_eq(s.params[1], OID_UUID);
	sqllist_free(&l);

	s = select_of(&mc, "{\"_id\": {\"$in\": [{\"$oid\": \"507f1f77bcf86cd799439011\"}, 1]}}", &l);
	snprintf(want, sizeof want, "%s AND t.\"id\" = ANY($2::uuid[]) ORDER BY t.\"seq\"", base);
	cr_assert_str_eq(s.sql, want);
	cr_assert(!strncmp(s.params[1], "{\"507f1f77-bcf8-806c-80d7-994390110000\",\"", 41), "%s",
		  s.params[1]);
	sqllist_free(&l);

	const char *all[] = { "{\"_id\": {\"$gt\": 1}}", "{\"_id\": 1.5}", "{\"a\": 1}",
		"{\"_id\": {\"a\": 1}}", "{\"_id\": {\"$eq\": 1, \"$ne\": 2}}", "{\"_id\": 1, \"_id\": 2}",
		"{\"_id\": {\"$in\": [1, {\"$regex\": \"x\"}]}}" };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
		s = select_of(&mc, all[i], &l);
		cr_assert_eq(s.nparams, 1, "%s must not be pushed down", all[i]);
		sqllist_free(&l);
	}
}

Test(rowstore, select_default_pushes_down_string_equalities)
{
	struct mapping_collection mc;
	struct sqllist l;
	struct sqlstmt s;
	const char *want = "SELECT t.\"doc\"::text FROM \"events\" t WHERE t.\"tenant_id\" = $1::text "
			   "AND (t.\"doc\" @> $2::jsonb OR t.\"doc\" @> $3::jsonb OR t.\"doc\" @> $4::jsonb) "
			   "ORDER BY t.\"seq\"";

	mapping_default_collection("events", &mc);
	s = select_of(&mc, "{\"n\": 1, \"$or\": [{\"a\": 1}], \"tag\": \"x \\\"q\\\" \u00e9\"}", &l);
	cr_assert_str_eq(s.sql, want);
	cr_assert_eq(s.nparams, 4);
	cr_assert_str_eq(s.params[1], "{\"tag\": \"x \\\"q\\\" \xc3\xa9\"}");
	cr_assert_str_eq(s.params[2], "{\"tag\": [\"x \\\"q\\\" \xc3\xa9\"]}");
	/* an array whose keys are not 0,1,... is stored as a wrapper: always read */
	cr_assert_str_eq(s.params[3], "{\"tag\": {\"~t\": \"arr\"}}");
	sqllist_free(&l);
	const char *same[] = { "{\"tag\": {\"$eq\": \"y\"}}", "{\"tag\": {\"$eq\": \"y\", \"$ne\": \"z\"}}",
		"{\"$and\": [{\"tag\": \"y\"}, {\"$or\": [{\"a\": 1}]}]}", "{\"tag\": \"y\", \"n\": {\"$gt\": 1}}" };
	for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
		s = select_of(&mc, same[i], &l);
		cr_assert_str_eq(s.sql, want, "%s", same[i]);
		cr_assert_str_eq(s.params[1], "{\"tag\": \"y\"}");
		sqllist_free(&l);
	}

	const char *none[] = { "{\"a.b\": \"x\"}", "{\"~k\": \"x\"}", "{\"n\": 1}", "{\"t\": \"\"}",
		"{\"t\": {\"$ne\": \"y\"}}", "{\"t\": {\"$gt\": \"x\"}}", "{\"t\": {\"$in\": [\"x\"]}}",
		"{\"t\": \"a\\u0000b\"}", "{\"$or\": [{\"t\": \"x\"}]}", "{\"t\": {\"$not\": {\"$eq\": \"x\"}}}",
		"{\"t\": null}", "{\"t\": {\"$regex\": \"x\"}}", "{\"t\": [\"x\"]}", "{\"$nor\": [{\"t\": \"x\"}]}",
		"{\"t\": {\"$elemMatch\": {\"$eq\": \"x\"}}}", "{\"t\": {\"$exists\": true}}" };
	for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
		s = select_of(&mc, none[i], &l);
		cr_assert_eq(s.nparams, 1, "%s must not be pushed down", none[i]);
		sqllist_free(&l);
	}
}

Test(rowstore, select_default_ands_several_equalities_and_booleans)
{
	struct mapping_collection mc;
	struct sqllist l;
	struct sqlstmt s;

	mapping_default_collection("events", &mc);
	s = select_of(&mc, "{\"_id\": 7, \"a\": \"x\", \"$and\": [{\"ok\": true}], \"b\": {\"$eq\": false}}", &l);
	cr_assert_str_eq(s.sql,
		"SELECT t.\"doc\"::text FROM \"events\" t WHERE t.\"tenant_id\" = $1::text "
		"AND t.\"id\" = $2::uuid "
		"AND (t.\"doc\" @> $3::jsonb OR t.\"doc\" @> $4::jsonb OR t.\"doc\" @> $5::jsonb) "
		"AND (t.\"doc\" @> $6::jsonb OR t.\"doc\" @> $7::jsonb OR t.\"doc\" @> $8::jsonb) "
		"AND (t.\"doc\" @> $9::jsonb OR t.\"doc\" @> $10::jsonb OR t.\"doc\" @> $11::jsonb) "
		"ORDER BY t.\"seq\"");
	cr_assert_eq(s.nparams, 11);
	cr_assert_str_eq(s.params[5], "{\"ok\": true}");
	cr_assert_str_eq(s.params[6], "{\"ok\": [true]}");
	cr_assert_str_eq(s.params[9], "{\"b\": [false]}");
	sqllist_free(&l);
}

static const char PUSH_MAPPING[] =
	"version: 1\n"
	"collections:\n"
	"  p:\n"
	"    columns:\n"
	"      age: {type: int4}\n"
	"      big: {type: int8}\n"
	"      score: {type: float8}\n"
	"      price: {type: 'numeric(12,2)', source: cost.amount}\n"
	"      name: {type: text}\n"
	"      on: {type: bool, default: true}\n"
	"      at: {type: timestamptz}\n"
	"      owner: {type: uuid}\n"
	"      blob: {type: jsonb}\n"
	"      tags: {type: 'text[]'}\n"
	"    junctions:\n"
	"      refs: {type: text}\n";

static struct mapping *push_mapping(void)
{
	struct mapping *m = NULL;
	struct mapping_errors errs;

	mapping_errors_init(&errs);
	cr_assert(mapping_load_string(PUSH_MAPPING, strlen(PUSH_MAPPING), "push.yaml", &m, &errs),
		  "%s", errs.n ? errs.msgs[0] : "");
	mapping_errors_free(&errs);
	return m;
}

/* The WHERE after the tenant condition, up to ORDER BY. */
static const char *where_of(const struct sqlstmt *s)
{
	const char *w = strstr(s->sql, " WHERE t.\"tenant_id\" = $1::text");
	cr_assert(w);
	return w + strlen(" WHERE t.\"tenant_id\" = $1::text");
}

#define NOT_HELD(col, p, m) \
	"(t.\"" col "\" IS NULL AND NOT COALESCE((t.\"extras\" #> $" #p "::text[]) @> $" #m \
	"::jsonb, false))"

Test(rowstore, select_mapped_pushes_typed_column_comparisons)
{
	struct mapping *m = push_mapping();
	const struct mapping_collection *mc = mapping_find(m, "p");
	struct sqllist l;
	struct sqlstmt s;

	/* int: exact integer bounds (x > 30 <=> x >= 31), ANDed per field */
	s = select_of(mc, "{\"age\": {\"$gt\": 30, \"$lte\": 40.5}}", &l);
	cr_assert_str_eq(where_of(&s), " AND ((t.\"age\" >= $2::int8 AND t.\"age\" <= $3::int8) OR "
				       NOT_HELD("age", 4, 5) ") ORDER BY t.\"seq\"");
	cr_assert_str_eq(s.params[1], "31");
	cr_assert_str_eq(s.params[2], "40");
	cr_assert_str_eq(s.params[3], "{\"age\"}");
	cr_assert_str_eq(s.params[4], "{\"~t\": \"c\", \"c\": \"age\"}");
	sqllist_free(&l);

	/* text: byte order for ranges, plain = for equality; $and is walked */
	s = select_of(mc, "{\"$and\": [{\"name\": {\"$gte\": \"b\"}}, {\"name\": \"bob\"}]}", &l);
	cr_assert_str_eq(where_of(&s),
		" AND ((t.\"name\" COLLATE \"C\" >= $2::text) OR " NOT_HELD("name", 3, 4) ")"
		" AND ((t.\"name\" = $5::text) OR " NOT_HELD("name", 6, 7) ") ORDER BY t.\"seq\"");
	sqllist_free(&l);

	/* float8: exact for a double; numeric: a band around the value, on a dotted source */
	s = select_of(mc, "{\"score\": 0.1, \"cost.amount\": {\"$lt\": {\"$numberDecimal\": \"12.50\"}}}", &l);
	cr_assert_str_eq(where_of(&s),
		" AND ((t.\"score\" = $2::float8) OR " NOT_HELD("score", 3, 4) ")"
		" AND (((t.\"price\" <= $5::numeric)) OR " NOT_HELD("price", 6, 7) ") ORDER BY t.\"seq\"");
	cr_assert_str_eq(s.params[1], "0.10000000000000001");
	cr_assert_str_eq(s.params[5], "{\"cost\",\"amount\"}");
	cr_assert(strtod(s.params[4], NULL) > 12.5 && strtod(s.params[4], NULL) < 12.5000001, "%s",
		  s.params[4]);
	sqllist_free(&l);

	/* a column with a default: only the marker says whether it holds the value */
	s = select_of(mc, "{\"on\": false}", &l);
	cr_assert_str_eq(where_of(&s), " AND ((t.\"on\" = $2::bool) OR NOT COALESCE((t.\"extras\" #> "
				       "$3::text[]) @> $4::jsonb, false)) ORDER BY t.\"seq\"");
	sqllist_free(&l);

	/* $in: = ANY; elements of another bracket drop out; dates; ObjectIds */
	s = select_of(mc, "{\"age\": {\"$in\": [1, 2.5, \"x\", {\"$numberLong\": \"3\"}]}, "
			  "\"at\": {\"$date\": {\"$numberLong\": \"1000\"}}, "
			  "\"owner\": {\"$in\": [{\"$oid\": \"507f1f77bcf86cd799439011\"}]}}", &l);
	cr_assert_str_eq(where_of(&s),
		" AND ((t.\"age\" = ANY($2::int8[])) OR " NOT_HELD("age", 3, 4) ")"
		" AND ((t.\"at\" = $5::timestamptz) OR " NOT_HELD("at", 6, 7) ")"
		" AND ((t.\"owner\" = ANY($8::uuid[])) OR " NOT_HELD("owner", 9, 10) ") ORDER BY t.\"seq\"");
	cr_assert_str_eq(s.params[1], "{\"1\",\"3\"}");
	cr_assert_str_eq(s.params[4], "1970-01-01 00:00:01.000+00");
	cr_assert_str_eq(s.params[7], "{\"507f1f77-bcf8-806c-80d7-994390110000\"}");
	sqllist_free(&l);
	mapping_free(m);
}

Test(rowstore, select_mapped_values_that_cannot_be_held_give_false)
{
	struct mapping *m = push_mapping();
	const struct mapping_collection *mc = mapping_find(m, "p");
	struct sqllist l;
	struct sqlstmt s;
	const char *want_false = " AND ((FALSE) OR " NOT_HELD("age", 2, 3) ") ORDER BY t.\"seq\"";
	/* another bracket, a non-integral $eq, bounds past int64 */
	const char *f[] = { "{\"age\": \"30\"}", "{\"age\": true}", "{\"age\": 2.5}",
		"{\"age\": {\"$gt\": 1e300}}", "{\"age\": {\"$lt\": {\"$numberDouble\": \"-Infinity\"}}}",
		"{\"age\": {\"$in\": [2.5, \"x\"]}}", "{\"age\": {\"$date\": {\"$numberLong\": \"1\"}}}" };

	for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
		s = select_of(mc, f[i], &l);
		cr_assert_str_eq(where_of(&s), want_false, "%s", f[i]);
		sqllist_free(&l);
	}
	/* a bound that every int64 satisfies adds nothing */
	s = select_of(mc, "{\"big\": {\"$gt\": -1e300}}", &l);
	cr_assert_eq(s.nparams, 1);
	sqllist_free(&l);
	/* a date past year 9999 */
	s = select_of(mc, "{\"at\": {\"$gte\": {\"$date\": {\"$numberLong\": \"253402300800000\"}}}}", &l);
	cr_assert(strstr(s.sql, "((FALSE) OR"), "%s", s.sql);
	sqllist_free(&l);
	mapping_free(m);
}

Test(rowstore, select_mapped_leaves_other_shapes_unpushed)
{
	struct mapping *m = push_mapping();
	const struct mapping_collection *mc = mapping_find(m, "p");
	struct sqllist l;
	struct sqlstmt s;
	const char *none[] = { "{\"age\": {\"$ne\": 3}}", "{\"age\": {\"$nin\": [3]}}",
		"{\"age\": {\"$exists\": true}}", "{\"$or\": [{\"age\": 3}, {\"age\": 4}]}",
		"{\"age\": {\"$not\": {\"$gt\": 3}}}", "{\"age\": null}", "{\"age\": {\"$in\": [1, null]}}",
		"{\"age\": {\"$numberDouble\": \"NaN\"}}", "{\"age\": {\"$elemMatch\": {\"$gt\": 1}}}",
		"{\"age\": [1, 2]}", "{\"age\": {\"$gt\": {\"$minKey\": 1}}}", "{\"name\": {\"$regex\": \"^a\"}}",
		"{\"name\": {\"$gt\": \"a\\u0000\"}}", "{\"name\": {\"$symbol\": \"a\"}}",
		"{\"owner\": {\"$gt\": {\"$oid\": \"507f1f77bcf86cd799439011\"}}}", "{\"cost\": 5}",
		"{\"cost.amount.x\": 5}", "{\"blob\": \"x\"}", "{\"tags\": \"x\"}", "{\"refs\": \"x\"}",
		"{\"cost.amount\": {\"$numberDecimal\": \"1E+1000\"}}", "{\"age\": {\"$size\": 1}}",
		"{\"$nor\": [{\"age\": 1}]}", "{\"$expr\": {\"$eq\": [\"$age\", 1]}}" };

	for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
		s = select_of(mc, none[i], &l);
		cr_assert_eq(s.nparams, 1, "%s must not be pushed down: %s", none[i], s.sql);
		sqllist_free(&l);
	}
	/* a top-level field that is no column: string equality on extras */
	s = select_of(mc, "{\"color\": \"red\"}", &l);
	cr_assert_str_eq(where_of(&s), " AND (t.\"extras\" @> $2::jsonb OR t.\"extras\" @> $3::jsonb OR "
				       "t.\"extras\" @> $4::jsonb) ORDER BY t.\"seq\"");
	sqllist_free(&l);
	mapping_free(m);
}

Test(rowstore, select_mapped_reads_children_and_junctions)
{
	struct mapping *m = load_example();
	struct sqllist l;
	struct sqlstmt s = select_of(mapping_find(m, "orders"), "{\"_id\": 5}", &l);

	cr_assert_str_eq(s.sql,
		"SELECT t.\"extras\"::text, t.\"user_id\"::text, t.\"status\", t.\"total\"::text, "
		"t.\"currency\", t.\"tags\"::text, (extract(epoch FROM t.\"placed_at\") * 1000)::int8::text, "
		"t.\"shipping_city\", (SELECT array_agg(ARRAY[c.\"sku\", c.\"qty\"::text, "
		"c.\"unit_price\"::text, c.\"extras\"::text] ORDER BY c.\"ord\") FROM \"order_items\" c "
		"WHERE c.\"tenant_id\" = t.\"tenant_id\" AND c.\"parent_id\" = t.\"id\"), "
		"(SELECT array_agg(c.\"ref\"::text ORDER BY c.\"ord\") FROM \"order_coupons\" c WHERE "
		"c.\"tenant_id\" = t.\"tenant_id\" AND c.\"parent_id\" = t.\"id\") FROM \"orders\" t "
		"WHERE t.\"tenant_id\" = $1::text AND t.\"id\" = $2::uuid ORDER BY t.\"seq\"");
	cr_assert_eq(rowstore_select_ncols(mapping_find(m, "orders")), 10);
	sqllist_free(&l);
	mapping_free(m);
}

/* ---- id keys ---------------------------------------------------------------------- */

static void key_of(const struct mapping_collection *mc, const char *json, char *buf)
{
	bson_t *d = doc_of(json);
	bson_iter_t it;
	bson_error_t err;

	cr_assert(bson_iter_init_find(&it, d, "_id"));
	cr_assert(rowstore_id_key(mc, bson_iter_value(&it), buf, ROWSTORE_ID_KEY_MAX, &err), "%s",
		  err.message);
	bson_destroy(d);
}

Test(rowstore, id_keys_follow_mongodb_equality)
{
	struct mapping_collection mc;
	char a[ROWSTORE_ID_KEY_MAX], b[ROWSTORE_ID_KEY_MAX];

	mapping_default_collection("c", &mc);
	key_of(&mc, "{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}}", a);
	cr_assert_str_eq(a, OID_UUID);
	key_of(&mc, "{\"_id\": 1}", a);
	cr_assert_eq(strlen(a), 36);
	cr_assert(!strncmp(a + 14, "81", 2), "hashed uuids carry 0x81 at byte 6: %s", a);
	key_of(&mc, "{\"_id\": {\"$numberLong\": \"1\"}}", b);
	cr_assert_str_eq(a, b);
	key_of(&mc, "{\"_id\": 1.0}", b);
	cr_assert_str_eq(a, b);
	key_of(&mc, "{\"_id\": {\"$numberDecimal\": \"1.00\"}}", b);
	cr_assert_str_eq(a, b);
	key_of(&mc, "{\"_id\": \"1\"}", b);
	cr_assert_str_neq(a, b);
	key_of(&mc, "{\"_id\": 2}", b);
	cr_assert_str_neq(a, b);
	mc.id_kind = MAPPING_ID_INT8;
	key_of(&mc, "{\"_id\": 1.0}", a);
	cr_assert_str_eq(a, "1");
	mc.id_kind = MAPPING_ID_TEXT;
	key_of(&mc, "{\"_id\": \"k'\\\"\"}", a);
	cr_assert_str_eq(a, "k'\"");
}

/* ---- decode of rows built by hand ---------------------------------------------------- */

static void assert_decodes(const struct mapping_collection *mc, const char *const *row,
			   const char *want_json)
{
	bson_t out, *want = doc_of(want_json);
	bson_error_t err;

	cr_assert(rowstore_decode(mc, rowstore_select_ncols(mc), row, &out, &err), "%s", err.message);
	if (!same_bson(&out, want)) {
		char *a = json_of(&out);
		cr_assert(false, "got %s\nwant %s", a, want_json);
	}
	bson_destroy(&out);
	bson_destroy(want);
}

static void assert_refused(const struct mapping_collection *mc, const char *const *row)
{
	bson_t out;
	bson_error_t err;

	cr_assert_not(rowstore_decode(mc, rowstore_select_ncols(mc), row, &out, &err), "row %s",
		      row[0]);
	bson_destroy(&out);
}

Test(rowstore, decode_default_row)
{
	struct mapping_collection mc;
	/* key order and spacing as jsonb prints them */
	const char *row[] = { "{\"a\": 1, \"~o\": [\"_id\", \"a\"], \"_id\": {\"v\": \"507f1f77bcf86cd799439011\", \"~t\": \"oid\"}}" };

	mapping_default_collection("events", &mc);
	assert_decodes(&mc, row, "{\"_id\": {\"$oid\": \"507f1f77bcf86cd799439011\"}, \"a\": 1}");
	const char *bad[] = { "{\"a\": {\"~t\": \"c\", \"c\": \"a\", \"y\": 2}, \"~o\": [\"a\"]}" };
	assert_refused(&mc, bad); /* no markers in default tables */
}

Test(rowstore, decode_mapped_rows_by_hand)
{
	struct mapping *m = load_example();
	const struct mapping_collection *users = mapping_find(m, "users"), *plans = mapping_find(m, "plans"),
		*orders = mapping_find(m, "orders");
	const char *u[] = {
		"{\"_id\": 7, \"email\": {\"c\": \"email\", \"y\": 2, \"~t\": \"c\"}, \"lastLogin\": "
		"{\"at\": {\"c\": \"last_login_at\", \"y\": 9, \"~t\": \"c\"}, \"~o\": [\"at\"]}, \"~o\": "
		"[\"_id\", \"lastLogin\", \"email\"]}",
		"a@b", NULL, "invited", "1700000000000", "-5", NULL, NULL };

	assert_decodes(users, u, "{\"_id\": 7, \"lastLogin\": {\"at\": {\"$date\": {\"$numberLong\": "
				 "\"-5\"}}}, \"email\": \"a@b\"}");
	const char *p[] = {
		"{\"_id\": 1, \"price\": {\"monthly\": {\"c\": \"monthly_price\", \"y\": 16, \"~t\": \"c\"}, "
		"\"~o\": [\"monthly\"]}, \"sections\": {\"c\": \"+sections\", \"y\": 4, \"~t\": \"c\"}, "
		"\"active\": {\"c\": \"active\", \"y\": 8, \"~t\": \"c\"}, "
		"\"~o\": [\"_id\", \"price\", \"sections\", \"active\"]}",
		NULL, NULL, "12.00", "false",
		"{{\"Intro\",NULL,\"3\",\"{\\\"~o\\\": [\\\"heading\\\", \\\"order\\\"], \\\"order\\\": "
		"{\\\"c\\\": \\\"display_order\\\", \\\"y\\\": 18, \\\"~t\\\": \\\"c\\\"}, \\\"heading\\\": "
		"{\\\"c\\\": \\\"heading\\\", \\\"y\\\": 2, \\\"~t\\\": \\\"c\\\"}}\"},"
		"{NULL,NULL,NULL,\"{\\\"~o\\\": []}\"}}" };
	assert_decodes(plans, p, "{\"_id\": 1, \"price\": {\"monthly\": 12}, \"sections\": [{\"heading\": "
				 "\"Intro\", \"order\": {\"$numberLong\": \"3\"}}, {}], \"active\": false}");
	const char *o[] = {
		"{\"_id\": 1, \"c\": {\"c\": \"&coupons\", \"y\": 7, \"~t\": \"c\"}, \"couponIds\": "
		"{\"c\": \"&coupons\", \"y\": 4, \"~t\": \"c\"}, \"tags\": {\"c\": \"tags\", \"y\": 4, \"~t\": \"c\"}, "
		"\"~o\": [\"_id\", \"tags\", \"couponIds\", \"c\"]}",
		NULL, NULL, NULL, NULL, "{a,\"b c\",\"NULL\",\"q\\\"\"}", NULL, NULL, NULL,
		"{507f1f77-bcf8-806c-80d7-994390110000}" };
	/* the same junction named twice: the second (empty-array marker, y 4)
	 * refuses rows, so use a row without refs for it below */
	assert_refused(orders, o);
	o[0] = "{\"_id\": 1, \"c\": {\"c\": \"&coupons\", \"y\": 7, \"~t\": \"c\"}, \"tags\": {\"c\": "
	       "\"tags\", \"y\": 4, \"~t\": \"c\"}, \"~o\": [\"_id\", \"tags\", \"c\"]}";
	assert_decodes(orders, o, "{\"_id\": 1, \"tags\": [\"a\", \"b c\", \"NULL\", \"q\\\"\"], \"c\": "
				  "[{\"$oid\": \"507f1f77bcf86cd799439011\"}]}");

	/* hostile or inconsistent rows */
	const char *bad_col[] = { "{\"x\": {\"c\": \"nope\", \"y\": 2, \"~t\": \"c\"}, \"~o\": [\"x\"]}",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	assert_refused(users, bad_col);
	const char *null_col[] = { "{\"x\": {\"c\": \"email\", \"y\": 2, \"~t\": \"c\"}, \"~o\": [\"x\"]}",
		NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	assert_refused(users, null_col);
	const char *bad_ts[] = { "{\"x\": {\"c\": \"created_at\", \"y\": 9, \"~t\": \"c\"}, \"~o\": [\"x\"]}",
		NULL, NULL, NULL, "2024-01-01 00:00:00+00", NULL, NULL, NULL };
	assert_refused(users, bad_ts);
	const char *bad_int[] = { "{\"x\": {\"c\": \"login_count\", \"y\": 16, \"~t\": \"c\"}, \"~o\": [\"x\"]}",
		NULL, NULL, NULL, NULL, NULL, "5x", NULL };
	assert_refused(users, bad_int);
	const char *extra_member[] = { "{\"x\": {\"c\": \"email\", \"y\": 2, \"z\": 1, \"~t\": \"c\"}, \"~o\": [\"x\"]}",
		"a", NULL, NULL, NULL, NULL, NULL, NULL };
	assert_refused(users, extra_member);
	const char *bad_arr[] = { "{\"x\": {\"c\": \"tags\", \"y\": 4, \"~t\": \"c\"}, \"~o\": [\"x\"]}",
		NULL, NULL, NULL, NULL, "{a,{b}}", NULL, NULL, NULL, NULL };
	assert_refused(orders, bad_arr);
	bad_arr[5] = "{\"a}";
	assert_refused(orders, bad_arr);
	bad_arr[5] = "[0:1]={a,b}";
	assert_refused(orders, bad_arr);
	mapping_free(m);
}

/* ---- property tests --------------------------------------------------------------------- */

Test(rowstore, random_documents_default_table, .timeout = 110)
{
	uint64_t seed = seed_init("ROWSTORE_SEED");
	struct mapping_collection mc;

	mapping_default_collection("events", &mc);
	for (int i = 0; i < 1500; i++) {
		bson_t doc = BSON_INITIALIZER;
		gen_id(&doc);
		gen_doc(&doc, 0, (int)rndn(5));
		roundtrip(&mc, &doc, seed, i);
		bson_destroy(&doc);
	}
}

Test(rowstore, random_documents_mapped_tables, .timeout = 110)
{
	uint64_t seed = seed_init("ROWSTORE_SEED");
	struct mapping *m = load_example();
	const struct mapping_collection *mcs[3] = { mapping_find(m, "users"), mapping_find(m, "plans"),
		mapping_find(m, "orders") };
	void (*gens[3])(bson_t *) = { gen_users, gen_plans, gen_orders };

	for (int i = 0; i < 3000; i++) {
		bson_t doc = BSON_INITIALIZER;
		gens[i % 3](&doc);
		roundtrip(mcs[i % 3], &doc, seed, i);
		bson_destroy(&doc);
	}
	mapping_free(m);
	cr_assert_gt(n_markers, 5000, "only %zu values went to typed columns", n_markers);
	cr_assert_gt(n_child_markers, 700, "%zu", n_child_markers);
	cr_assert_gt(n_junction_markers, 300, "%zu", n_junction_markers);
}

/* Every mapping type and id kind, on random documents whose mapped fields
 * get values of every kind. */
Test(rowstore, random_documents_every_column_type, .timeout = 110)
{
	uint64_t seed = seed_init("ROWSTORE_SEED");
	static const char *yaml_fmt =
		"version: 1\ncollections:\n  things:\n    id: %s\n    columns:\n"
		"      c_uuid: {type: uuid}\n      c_text: {type: text}\n      c_int4: {type: int4}\n"
		"      c_int8: {type: int8}\n      c_float8: {type: float8}\n      c_num: {type: numeric}\n"
		"      c_num2: {type: 'numeric(6,3)', source: n.two}\n      c_bool: {type: bool}\n"
		"      c_ts: {type: timestamptz}\n      c_json: {type: jsonb}\n      c_bytes: {type: bytea}\n"
		"      c_tags: {type: 'text[]'}\n"
		"    children:\n      kids: {columns: {k_int8: {type: int8}, k_f: {type: float8}}}\n"
		"    junctions:\n      refs_t: {type: text}\n      refs_i: {type: int8}\n";
	static const char *kinds[] = { "objectid", "any", "text", "int8" };
	static const enum mapping_type types[] = { MAPPING_T_UUID, MAPPING_T_TEXT, MAPPING_T_INT4,
		MAPPING_T_INT8, MAPPING_T_FLOAT8, MAPPING_T_NUMERIC, MAPPING_T_NUMERIC, MAPPING_T_BOOL,
		MAPPING_T_TIMESTAMPTZ, MAPPING_T_JSONB, MAPPING_T_BYTEA, MAPPING_T_TEXT_ARRAY };
	static const char *names[] = { "c_uuid", "c_text", "c_int4", "c_int8", "c_float8", "c_num",
		"n", "c_bool", "c_ts", "c_json", "c_bytes", "c_tags" };

	for (size_t k = 0; k < 4; k++) {
		char yaml[2048];
		snprintf(yaml, sizeof yaml, yaml_fmt, kinds[k]);
		struct mapping *m = load_text(yaml);
		const struct mapping_collection *mc = mapping_find(m, "things");
		for (int i = 0; i < 1000; i++) {
			bson_t doc = BSON_INITIALIZER, sub, arr;
			char idx[16];
			if (k == 2)
				bson_append_utf8(&doc, "_id", -1, idx, snprintf(idx, sizeof idx, "s%d", i));
			else if (k == 3)
				bson_append_int64(&doc, "_id", -1, i);
			else
				gen_id(&doc);
			for (size_t c = 0; c < 12; c++) {
				if (rndn(6) == 0)
					continue;
				if (c == 6) {
					bson_append_document_begin(&doc, "n", -1, &sub);
					gen_typed(&sub, "two", MAPPING_T_NUMERIC);
					bson_append_document_end(&doc, &sub);
				} else {
					gen_typed(&doc, names[c], types[c]);
				}
				if (rndn(10) == 0)
					gen_value(&doc, names[rndn(12)], 0, 1); /* a repeated key */
			}
			bson_append_array_begin(&doc, "kids", -1, &arr);
			for (uint32_t j = rndn(4); j > 0; j--) {
				snprintf(idx, sizeof idx, "%u", rndn(4) - j + 0u);
				bson_append_document_begin(&arr, idx, -1, &sub);
				gen_typed(&sub, "k_int8", MAPPING_T_INT8);
				gen_typed(&sub, "k_f", MAPPING_T_FLOAT8);
				bson_append_document_end(&arr, &sub);
			}
			bson_append_array_end(&doc, &arr);
			bson_append_array_begin(&doc, "refs_t", -1, &arr);
			for (uint32_t j = 0, n = rndn(4); j < n; j++) {
				snprintf(idx, sizeof idx, "%u", j);
				gen_clean_string(&arr, idx);
			}
			bson_append_array_end(&doc, &arr);
			bson_append_array_begin(&doc, "refs_i", -1, &arr);
			for (uint32_t j = 0, n = rndn(4), t = rndn(3); j < n; j++) {
				snprintf(idx, sizeof idx, "%u", j);
				if (t == 0)
					bson_append_int32(&arr, idx, -1, (int32_t)rnd());
				else if (t == 1 || rndn(3))
					bson_append_int64(&arr, idx, -1, (int64_t)rnd());
				else
					bson_append_double(&arr, idx, -1, 1.5);
			}
			bson_append_array_end(&doc, &arr);
			roundtrip(mc, &doc, seed, i);
			bson_destroy(&doc);
		}
		mapping_free(m);
	}
	cr_assert_gt(n_markers, 20000, "only %zu values went to typed columns", n_markers);
}
