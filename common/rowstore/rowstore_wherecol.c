/*
 * rowstore_wherecol.c - push-down conditions on a typed column of a mapped
 * table (int4, int8, float8, numeric, text, bool, timestamptz, uuid): the
 * comparisons of rowstore_where.c's "Mapped tables" list, each implied by
 * "the value the column holds matches" in match.h's sense.
 */
#include "rowstore_where.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"

_Static_assert(LDBL_MANT_DIG >= 64, "long double must hold every int64");

#define WHERE_MAX_IN 64		/* numeric $in elements expanded into ORs */
#define I64_LIM 9223372036854775808.0L /* 2^63 */

static const char *const op_sql[] = { "=", ">", ">=", "<", "<=" };

enum lit { LIT_FALSE, LIT_OK, LIT_SKIP };

/* col <op> $n::type */
static void put_cmp(struct rsw_clause *c, const char *op, const char *coll, char *lit, const char *type)
{
	int n = rsw_param(c, lit);
	FILE *f = rsw_cond(c);

	rsw_put_col(f, c->col);
	fprintf(f, "%s %s $%d::%s", coll, op, n, type);
}

/* ---- numbers ----------------------------------------------------------- */

/* v as match.h compares numbers (bsoncmp.c): exactly for int32, int64 and
 * double; strtold of its string for decimal128.  False: not a number, NaN. */
static bool num_of(const bson_iter_t *v, long double *L)
{
	char buf[BSON_DECIMAL128_STRING];
	bson_decimal128_t d;

	switch (bson_iter_type(v)) {
	case BSON_TYPE_INT32: *L = bson_iter_int32(v); return true;
	case BSON_TYPE_INT64: *L = (long double)bson_iter_int64(v); return true;
	case BSON_TYPE_DOUBLE: *L = bson_iter_double(v); break;
	case BSON_TYPE_DECIMAL128:
		bson_iter_decimal128(v, &d);
		bson_decimal128_to_string(&d, buf);
		*L = strtold(buf, NULL);
		break;
	default: return false;
	}
	return !isnan(*L);
}

static char *i64_text(long double b)
{
	return rsw_xfmt("%" PRId64, (int64_t)b);
}

/* Integer column: col >= b (lower) or col <= b, b integral. */
static void int_bound(struct rsw_clause *c, long double b, bool lower)
{
	if (lower ? b >= I64_LIM : b < -I64_LIM)
		rsw_put_false(c);
	else if (lower ? b > -I64_LIM : b < I64_LIM - 1)
		put_cmp(c, lower ? ">=" : "<=", "", i64_text(b), "int8");
	/* else always true: nothing */
}

static bool int_eq_ok(long double L)
{
	return floorl(L) == L && L >= -I64_LIM && L < I64_LIM;
}

static void int_cmp(struct rsw_clause *c, enum rsw_op op, long double L)
{
	switch (op) {
	case RSW_EQ:
		if (int_eq_ok(L))
			put_cmp(c, "=", "", i64_text(L), "int8");
		else
			rsw_put_false(c);
		return;
	case RSW_GT: int_bound(c, floorl(L) + 1, true); return;
	case RSW_GTE: int_bound(c, ceill(L), true); return;
	case RSW_LT: int_bound(c, ceill(L) - 1, false); return;
	case RSW_LTE: int_bound(c, floorl(L), false); return;
	}
}

static char *f8_text(double d)
{
	if (isinf(d))
		return strdup(d > 0 ? "Infinity" : "-Infinity");
	return rsw_xfmt("%.17g", d);
}

static void f8_cmp(struct rsw_clause *c, enum rsw_op op, long double L)
{
	double d = (double)L;

	if ((long double)d == L) {
		put_cmp(c, op_sql[op], "", f8_text(d), "float8");
		return;
	}
	double lo = (long double)d < L ? d : nextafter(d, -INFINITY);
	double hi = (long double)d > L ? d : nextafter(d, INFINITY);
	if (op == RSW_EQ)
		rsw_put_false(c);
	else if (op == RSW_GT || op == RSW_GTE)
		put_cmp(c, ">=", "", f8_text(hi), "float8");
	else
		put_cmp(c, "<=", "", f8_text(lo), "float8");
}

/* [-]1e-4950 as positional text (numeric input refuses exponents past 1000). */
static char *tiny_text(bool neg)
{
	char *s = malloc(4949 + 5), *p = s;

	if (!s)
		return NULL;
	if (neg)
		*p++ = '-';
	memcpy(p, "0.", 2);
	memset(p + 2, '0', 4949);
	strcpy(p + 2 + 4949, "1");
	return s;
}

/* The numeric band around L (see the header comment); false: not pushed. */
static bool num_band(long double L, char **lo, char **hi)
{
	long double m = fabsl(L) * 0x1p-50L + 1e-322L; /* + subnormal double digits */

	if (L == 0) {
		*lo = tiny_text(true);
		*hi = tiny_text(false);
	} else if (fabsl(L) >= 1e-900L && fabsl(L) <= 1e900L) {
		*lo = rsw_xfmt("%.30Le", L - m);
		*hi = rsw_xfmt("%.30Le", L + m);
	} else {
		return false;
	}
	return true;
}

/* One band condition on a numeric column: "col >= lo AND col <= hi" (or one side). */
static void put_band(struct rsw_clause *c, FILE *f, enum rsw_op op, char *lo, char *hi)
{
	bool l = op != RSW_LT && op != RSW_LTE, h = op != RSW_GT && op != RSW_GTE;
	int nl = l ? rsw_param(c, lo) : 0, nh = h ? rsw_param(c, hi) : 0;

	if (!l)
		free(lo);
	if (!h)
		free(hi);
	fputc('(', f);
	if (l) {
		rsw_put_col(f, c->col);
		fprintf(f, " >= $%d::numeric", nl);
	}
	if (h) {
		fputs(l ? " AND " : "", f);
		rsw_put_col(f, c->col);
		fprintf(f, " <= $%d::numeric", nh);
	}
	fputc(')', f);
}

static void num_cmp(struct rsw_clause *c, enum rsw_op op, long double L)
{
	char *lo, *hi;

	if (num_band(L, &lo, &hi))
		put_band(c, rsw_cond(c), op, lo, hi);
}

/* ---- typed columns ----------------------------------------------------- */

static int col_bracket(enum mapping_type t)
{
	switch (t) {
	case MAPPING_T_INT4: case MAPPING_T_INT8: case MAPPING_T_FLOAT8: case MAPPING_T_NUMERIC:
		return bsoncmp_bracket(BSON_TYPE_INT32);
	case MAPPING_T_TEXT: return bsoncmp_bracket(BSON_TYPE_UTF8);
	case MAPPING_T_BOOL: return bsoncmp_bracket(BSON_TYPE_BOOL);
	case MAPPING_T_TIMESTAMPTZ: return bsoncmp_bracket(BSON_TYPE_DATE_TIME);
	case MAPPING_T_UUID: return bsoncmp_bracket(BSON_TYPE_OID);
	default: return -1;
	}
}

/* Brackets of the values this file reasons about (null, regex, arrays,
 * documents, MinKey/MaxKey... compare across brackets or match specially). */
static bool known_bracket(int b)
{
	return b == bsoncmp_bracket(BSON_TYPE_INT32) || b == bsoncmp_bracket(BSON_TYPE_UTF8) ||
	       b == bsoncmp_bracket(BSON_TYPE_OID) || b == bsoncmp_bracket(BSON_TYPE_BOOL) ||
	       b == bsoncmp_bracket(BSON_TYPE_DATE_TIME);
}

static const char *sql_type(enum mapping_type t)
{
	switch (t) {
	case MAPPING_T_FLOAT8: return "float8";
	case MAPPING_T_TEXT: return "text";
	case MAPPING_T_BOOL: return "bool";
	case MAPPING_T_TIMESTAMPTZ: return "timestamptz";
	case MAPPING_T_UUID: return "uuid";
	default: return "int8";
	}
}

/* The literal that a held value equal to v has (v in the column's bracket,
 * not numeric): LIT_FALSE when no held value can equal v. */
static enum lit eq_literal(const struct mapping_column *col, const bson_iter_t *v, char **out)
{
	struct mapping_column tmp = { .type = col->type, .nullable = true };
	struct rs_cell cell;
	long double L;

	*out = NULL;
	switch (col->type) {
	case MAPPING_T_INT4: case MAPPING_T_INT8:
		if (!num_of(v, &L))
			return LIT_SKIP;
		if (!int_eq_ok(L))
			return LIT_FALSE;
		*out = i64_text(L);
		return LIT_OK;
	case MAPPING_T_FLOAT8:
		if (!num_of(v, &L))
			return LIT_SKIP;
		if ((long double)(double)L != L)
			return LIT_FALSE;
		*out = f8_text((double)L);
		return LIT_OK;
	case MAPPING_T_TEXT: case MAPPING_T_BOOL: case MAPPING_T_TIMESTAMPTZ: case MAPPING_T_UUID:
		if (BSON_ITER_HOLDS_SYMBOL(v) || (col->type == MAPPING_T_UUID && !BSON_ITER_HOLDS_OID(v)))
			return LIT_SKIP;
		if (!rs_cell_encode(&tmp, v, &cell))
			return LIT_FALSE; /* not valid UTF-8 / has NUL / date out of range */
		*out = cell.in;
		free(cell.out);
		return LIT_OK;
	default:
		return LIT_SKIP;
	}
}

/* text, bool, timestamptz, uuid. */
static void other_cmp(struct rsw_clause *c, enum rsw_op op, const bson_iter_t *v)
{
	enum mapping_type t = c->col->type;
	char *lit;
	enum lit r = eq_literal(c->col, v, &lit);

	if (r == LIT_SKIP || (t == MAPPING_T_UUID && op != RSW_EQ)) {
		free(lit);
		return;
	}
	if (r == LIT_OK) {
		put_cmp(c, op_sql[op], t == MAPPING_T_TEXT && op != RSW_EQ ? " COLLATE \"C\"" : "", lit,
			sql_type(t));
	} else if (op == RSW_EQ) {
		rsw_put_false(c);
	} else if (t == MAPPING_T_TIMESTAMPTZ) {
		bool above = bson_iter_date_time(v) > 0; /* past year 9999 (else before year 1) */
		if ((op == RSW_GT || op == RSW_GTE) == above)
			rsw_put_false(c);
	}
}

void rsw_col_cmp(struct rsw_clause *c, enum rsw_op op, const bson_iter_t *v)
{
	int vb = bsoncmp_bracket(bson_iter_type(v));
	long double L;

	if (!known_bracket(vb))
		return;
	if (vb != col_bracket(c->col->type)) {
		rsw_put_false(c); /* match.h compares only within a bracket */
		return;
	}
	switch (c->col->type) {
	case MAPPING_T_INT4: case MAPPING_T_INT8:
		if (num_of(v, &L))
			int_cmp(c, op, L);
		return;
	case MAPPING_T_FLOAT8:
		if (num_of(v, &L))
			f8_cmp(c, op, L);
		return;
	case MAPPING_T_NUMERIC:
		if (num_of(v, &L))
			num_cmp(c, op, L);
		return;
	default:
		other_cmp(c, op, v);
	}
}

/* Numeric $in: OR of the elements' bands (all checked before any is written). */
static void in_bands(struct rsw_clause *c, const bson_iter_t *elems, int cb)
{
	bson_iter_t it = *elems;
	long double L;
	char *lo, *hi;
	size_t n = 0;

	while (bson_iter_next(&it)) {
		if (bsoncmp_bracket(bson_iter_type(&it)) != cb)
			continue;
		if (++n > WHERE_MAX_IN || !num_of(&it, &L) || !num_band(L, &lo, &hi))
			return;
		free(lo);
		free(hi);
	}
	if (!n) {
		rsw_put_false(c);
		return;
	}
	FILE *f = rsw_cond(c);
	fputc('(', f);
	for (it = *elems, n = 0; bson_iter_next(&it);) {
		if (bsoncmp_bracket(bson_iter_type(&it)) != cb || !num_of(&it, &L) || !num_band(L, &lo, &hi))
			continue;
		fputs(n++ ? " OR " : "", f);
		put_band(c, f, RSW_EQ, lo, hi);
	}
	fputc(')', f);
}

/* {$in: [...]}: col = ANY($n::type[]) over the elements that can be held. */
void rsw_col_in(struct rsw_clause *c, const bson_iter_t *arr)
{
	bson_iter_t ai, it;
	int cb = col_bracket(c->col->type);
	char **lits = NULL, *lit;
	size_t n = 0, k = 0;

	if (!bson_iter_recurse(arr, &ai))
		return;
	for (it = ai; bson_iter_next(&it); n++)
		if (!known_bracket(bsoncmp_bracket(bson_iter_type(&it))))
			return; /* null, regex, array... match in their own ways */
	if (c->col->type == MAPPING_T_NUMERIC) {
		in_bands(c, &ai, cb);
		return;
	}
	if (!(lits = calloc(n ? n : 1, sizeof *lits))) {
		c->p.oom = true;
		return;
	}
	while (bson_iter_next(&ai)) {
		if (bsoncmp_bracket(bson_iter_type(&ai)) != cb)
			continue;
		enum lit r = eq_literal(c->col, &ai, &lit);
		if (r == LIT_SKIP)
			goto out;
		if (r == LIT_OK && !(lits[k++] = lit))
			c->p.oom = true;
	}
	if (!k) {
		rsw_put_false(c);
	} else if (!c->p.oom) {
		int np = rsw_param(c, rs_pgarray_format((const char *const *)lits, k));
		FILE *f = rsw_cond(c);
		rsw_put_col(f, c->col);
		fprintf(f, " = ANY($%d::%s[])", np, sql_type(c->col->type));
	}
out:
	for (size_t i = 0; i < k; i++)
		free(lits[i]);
	free(lits);
}

bool rsw_col_pushable(enum mapping_type t)
{
	return col_bracket(t) >= 0;
}
