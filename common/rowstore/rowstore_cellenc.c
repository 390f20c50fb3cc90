/*
 * rowstore_cellenc.c - BSON value -> typed column text (the encode half of
 * rowstore_cell.c, whose header comment lists what fits where), SELECT
 * expressions and mapping defaults.
 */
#include "rowstore_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddl.h"
#include "oid_uuid.h"
#include "rowcodec_text.h"
#include "rowcodec.h"
#include "rowcodec_hooks.h"
#include "utf8.h"

#define MAX_SAFE_INT 9007199254740992.0 /* 2^53 */
#define TS_MIN_MS (-62135596800000LL)    /* 0001-01-01 00:00:00 UTC */
#define TS_MAX_MS 253402300799999LL      /* 9999-12-31 23:59:59.999 UTC */


static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static char *hex_of(const uint8_t *d, size_t n, const char *prefix)
{
	struct strbuf sb = { NULL, 0, 0 };
	char *s;

	rowcodec_sb_put(&sb, prefix, strlen(prefix));
	rowcodec_sb_hex(&sb, d, n);
	s = strdup(sb.p);
	bson_free(sb.p);
	return s;
}

static const char *value_start(const bson_iter_t *it)
{
	const char *k = bson_iter_key(it);
	return k + strlen(k) + 1;
}

bool rs_same_value(const bson_iter_t *a, const bson_iter_t *b)
{
	const char *va = value_start(a), *vb = value_start(b);
	size_t la = (size_t)((const char *)a->raw + a->next_off - va);
	size_t lb = (size_t)((const char *)b->raw + b->next_off - vb);

	return bson_iter_type(a) == bson_iter_type(b) && la == lb && !memcmp(va, vb, la);
}

/* Integral value of an int32 / int64 / double element within [lo, hi]. */
static bool int_value(const bson_iter_t *it, double lo, double hi, int64_t *v)
{
	double d;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_INT32: *v = bson_iter_int32(it); break;
	case BSON_TYPE_INT64: *v = bson_iter_int64(it); break;
	case BSON_TYPE_DOUBLE:
		d = bson_iter_double(it);
		if (!(d >= lo && d <= hi) || d != (double)(int64_t)d || (d == 0 && signbit(d)))
			return false;
		*v = (int64_t)d;
		return true;
	default: return false;
	}
	return (double)*v >= lo && (double)*v <= hi;
}

static char *f8_bits(double d)
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	return xfmt("%016" PRIx64, bits);
}

static bool enc_float8(const bson_iter_t *it, struct rs_cell *c)
{
	double d;
	int64_t v;
	uint64_t bits;

	if (BSON_ITER_HOLDS_DOUBLE(it)) {
		d = bson_iter_double(it);
		memcpy(&bits, &d, 8);
		if (isnan(d) && bits != 0x7ff8000000000000ULL)
			return false; /* PostgreSQL keeps one NaN */
		c->in = isnan(d) ? strdup("NaN") : isinf(d) ? strdup(d > 0 ? "Infinity" : "-Infinity")
							   : xfmt("%.17g", d);
	} else if (int_value(it, -MAX_SAFE_INT, MAX_SAFE_INT, &v) && !BSON_ITER_HOLDS_DOUBLE(it)) {
		d = (double)v;
		c->in = xfmt("%" PRId64, v);
	} else {
		return false;
	}
	c->out = f8_bits(d);
	return true;
}

static bool enc_numeric(const struct mapping_column *col, const bson_iter_t *it, struct rs_cell *c)
{
	bson_decimal128_t dec;

	switch (bson_iter_type(it)) {
	case BSON_TYPE_INT32:
		c->in = rs_numeric_of_int(bson_iter_int32(it), col->precision, col->scale);
		break;
	case BSON_TYPE_INT64:
		c->in = rs_numeric_of_int(bson_iter_int64(it), col->precision, col->scale);
		break;
	case BSON_TYPE_DOUBLE:
		c->in = rs_numeric_of_double(bson_iter_double(it), col->precision, col->scale);
		break;
	case BSON_TYPE_DECIMAL128:
		bson_iter_decimal128(it, &dec);
		c->in = rs_numeric_of_decimal(&dec, col->precision, col->scale);
		break;
	default: return false;
	}
	return c->in && (c->out = strdup(c->in));
}

static bool enc_timestamptz(const bson_iter_t *it, struct rs_cell *c)
{
	int64_t ms, sec, rem;
	struct tm tm;
	time_t t;

	if (!BSON_ITER_HOLDS_DATE_TIME(it))
		return false;
	ms = bson_iter_date_time(it);
	if (ms < TS_MIN_MS || ms > TS_MAX_MS)
		return false;
	sec = ms / 1000;
	rem = ms % 1000;
	if (rem < 0) {
		rem += 1000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm))
		return false;
	c->in = xfmt("%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
	c->out = xfmt("%" PRId64, ms);
	return true;
}

static bool enc_uuid(const bson_iter_t *it, struct rs_cell *c)
{
	uint8_t u[16];
	char txt[37];
	bson_subtype_t st;
	uint32_t len;
	const uint8_t *data;

	if (BSON_ITER_HOLDS_OID(it)) {
		oid_to_uuid(bson_iter_oid(it), u);
	} else if (BSON_ITER_HOLDS_BINARY(it)) {
		bson_iter_binary(it, &st, &len, &data);
		if ((st != BSON_SUBTYPE_UUID && st != BSON_SUBTYPE_UUID_DEPRECATED) || len != 16)
			return false;
		memcpy(u, data, 16);
		c->st = (int)st;
	} else {
		return false;
	}
	uuid_format(u, txt);
	c->in = strdup(txt);
	c->out = strdup(txt);
	return true;
}

static bool enc_bytea(const bson_iter_t *it, struct rs_cell *c)
{
	bson_subtype_t st;
	uint32_t len;
	const uint8_t *data;

	if (!BSON_ITER_HOLDS_BINARY(it))
		return false;
	bson_iter_binary(it, &st, &len, &data);
	c->st = (int)st;
	c->in = hex_of(data, len, "\\x");
	c->out = hex_of(data, len, "");
	return true;
}

static bool plain_text(const char *s, uint32_t len)
{
	return !memchr(s, 0, len) && utf8_valid(s, len);
}

/* Arrays of more than 4096 strings stay in extras. */
static bool enc_text_array(const bson_iter_t *it, struct rs_cell *c)
{
	bson_iter_t ai;
	const char *items[4096];
	size_t n = 0;
	char want[24];
	uint32_t len;

	if (!BSON_ITER_HOLDS_ARRAY(it) || !bson_iter_recurse(it, &ai))
		return false;
	while (bson_iter_next(&ai)) {
		snprintf(want, sizeof want, "%zu", n);
		if (n == sizeof items / sizeof *items || strcmp(bson_iter_key(&ai), want) ||
		    !BSON_ITER_HOLDS_UTF8(&ai))
			return false;
		items[n] = bson_iter_utf8(&ai, &len);
		if (!plain_text(items[n], len))
			return false;
		n++;
	}
	c->in = rs_pgarray_format(items, n);
	return c->in && (c->out = strdup(c->in));
}

static bool enc_by_type(const struct mapping_column *col, const bson_iter_t *it, struct rs_cell *c)
{
	int64_t v;
	uint32_t len;
	const char *s;
	size_t jl;
	bson_error_t e;

	switch (col->type) {
	case MAPPING_T_TEXT:
		if (!BSON_ITER_HOLDS_UTF8(it))
			return false;
		s = bson_iter_utf8(it, &len);
		if (!plain_text(s, len))
			return false;
		return (c->in = strdup(s)) && (c->out = strdup(s));
	case MAPPING_T_INT4:
	case MAPPING_T_INT8:
		if (col->type == MAPPING_T_INT4 ? !int_value(it, INT32_MIN, INT32_MAX, &v)
		    : BSON_ITER_HOLDS_DOUBLE(it) ? !int_value(it, -MAX_SAFE_INT, MAX_SAFE_INT, &v)
		    : !int_value(it, (double)INT64_MIN, (double)INT64_MAX, &v))
			return false;
		return (c->in = xfmt("%" PRId64, v)) && (c->out = strdup(c->in));
	case MAPPING_T_FLOAT8: return enc_float8(it, c);
	case MAPPING_T_NUMERIC: return enc_numeric(col, it, c);
	case MAPPING_T_BOOL:
		if (!BSON_ITER_HOLDS_BOOL(it))
			return false;
		return (c->in = strdup(bson_iter_bool(it) ? "true" : "false")) && (c->out = strdup(c->in));
	case MAPPING_T_TIMESTAMPTZ: return enc_timestamptz(it, c);
	case MAPPING_T_JSONB:
		if (!rowcodec_value_to_json(it, &c->in, &jl, &e))
			return false;
		return (c->out = strdup(c->in));
	case MAPPING_T_BYTEA: return enc_bytea(it, c);
	case MAPPING_T_TEXT_ARRAY: return enc_text_array(it, c);
	case MAPPING_T_UUID: return enc_uuid(it, c);
	}
	return false;
}

bool rs_cell_encode(const struct mapping_column *col, const bson_iter_t *it, struct rs_cell *c)
{
	bson_t tmp = BSON_INITIALIZER;
	bson_iter_t ti;
	bson_error_t e;
	bool ok;

	c->in = c->out = NULL;
	c->y = (int)bson_iter_type(it);
	c->st = -1;
	if (BSON_ITER_HOLDS_NULL(it))
		return col->nullable;
	if (!enc_by_type(col, it, c)) {
		rs_cell_free(c);
		return false;
	}
	/* Prove it: the SELECT's text must give back the very same bytes. */
	ok = rs_cell_decode(col->type, c->out, c->y, c->st, &tmp, "v", 1, &e) &&
	     bson_iter_init(&ti, &tmp) && bson_iter_next(&ti) && rs_same_value(it, &ti);
	bson_destroy(&tmp);
	if (!ok)
		rs_cell_free(c);
	return ok;
}

void rs_cell_select_expr(FILE *f, const char *alias, const struct mapping_column *col)
{
	const char *pre = "", *post = "::text";

	switch (col->type) {
	case MAPPING_T_TEXT: post = ""; break;
	case MAPPING_T_FLOAT8: pre = "encode(float8send("; post = "), 'hex')"; break;
	case MAPPING_T_TIMESTAMPTZ: pre = "(extract(epoch FROM "; post = ") * 1000)::int8::text"; break;
	case MAPPING_T_BYTEA: pre = "encode("; post = ", 'hex')"; break;
	default: break;
	}
	fputs(pre, f);
	fprintf(f, "%s.", alias);
	ddl_put_ident(f, col->name);
	fputs(post, f);
}

char *rs_cell_default(const struct mapping_column *col)
{
	if (!col->default_value)
		return NULL;
	if (col->type == MAPPING_T_TIMESTAMPTZ && !strcmp(col->default_value, "now()"))
		return strdup("now"); /* timestamptz input 'now' = now() */
	return strdup(col->default_value);
}
