/*
 * rowstore_cell.c - one BSON value <-> the text of one typed column of a
 * mapped table (docs/storage.md, "Mapped tables").
 *
 * A value goes into its column only when the column gives it back exactly,
 * in the BSON type the marker in extras records:
 *
 *   uuid         ObjectId (oid_to_uuid), binary subtype 3/4 of 16 bytes
 *   text         string (valid UTF-8, no NUL)
 *   int4 / int8  int32, int64, integral double (int8: |x| <= 2^53), in range
 *   float8       double (NaN only as PostgreSQL's one NaN), int32, int64 <= 2^53
 *   numeric      int32, int64, finite double, finite decimal128 with exponent
 *                <= 0 (numeric(P,S): exponent == -S), digits within P
 *   bool         bool                 timestamptz  date in years 1..9999
 *   jsonb        anything (rowcodec)  bytea        binary (any subtype)
 *   text[]       array of strings     (null fits any nullable column)
 *
 * rs_cell_encode proves each claim by decoding the text the SELECT will
 * return and comparing bytes.  SELECT expressions avoid session-dependent
 * output: float8 as its IEEE bits in hex, timestamptz as epoch
 * milliseconds, bytea as hex.
 */
#include "rowstore_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
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

void rs_cell_free(struct rs_cell *c)
{
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
}

/* ---- numbers as positional decimal text -------------------------------- */



/* Shortest round-trip digits of a finite non-zero |v|: digits (no leading
 * or trailing zeros) and the decimal exponent of the first digit. */
static void dbl_digits(double v, char digits[24], int *nd, int *exp10)
{
	char e[40];
	int p;

	for (p = 1; p < 17; p++) {
		snprintf(e, sizeof e, "%.*e", p - 1, fabs(v));
		if (strtod(e, NULL) == fabs(v))
			break;
	}
	snprintf(e, sizeof e, "%.*e", p - 1, fabs(v));
	*nd = 0;
	const char *c = e;
	for (; *c != 'e'; c++)
		if (*c != '.')
			digits[(*nd)++] = *c;
	*exp10 = atoi(c + 1);
	while (*nd > 1 && digits[*nd - 1] == '0')
		(*nd)--;
}

/* digits[0..nd) * 10^(point - nd), with exactly `scale` decimals (scale >=
 * the decimals needed), sign in front. */
static char *positional(bool neg, const char *digits, int nd, int point, int scale)
{
	size_t cap = (size_t)(nd + abs(point) + scale + 8);
	char *s = malloc(cap);
	size_t o = 0;

	if (!s)
		return NULL;
	if (neg)
		s[o++] = '-';
	if (point <= 0) {
		s[o++] = '0';
	} else {
		for (int i = 0; i < point; i++)
			s[o++] = i < nd ? digits[i] : '0';
	}
	if (scale > 0) {
		s[o++] = '.';
		for (int i = 0; i < scale; i++) {
			int k = point + i; /* digit index */
			s[o++] = k >= 0 && k < nd ? digits[k] : '0';
		}
	}
	s[o] = '\0';
	return s;
}

/* Text of a double for a numeric(P,S) column (P 0: unconstrained). */
char *rs_numeric_of_double(double v, int prec, int scale)
{
	char digits[24];
	int nd, e10;

	if (!isfinite(v) || (v == 0 && signbit(v)))
		return NULL;
	if (v == 0)
		return positional(false, "0", 1, 1, prec ? scale : 0);
	dbl_digits(v, digits, &nd, &e10);
	int point = e10 + 1, decimals = nd - point > 0 ? nd - point : 0;
	int intdigits = point > 0 ? point : 0;
	if (prec) {
		if (decimals > scale || intdigits > prec - scale)
			return NULL;
		decimals = scale;
	}
	return positional(v < 0, digits, nd, point, decimals);
}

char *rs_numeric_of_int(int64_t v, int prec, int scale)
{
	char digits[24];
	int nd = snprintf(digits, sizeof digits, "%" PRIu64,
			  v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);

	if (prec && (v == 0 ? 0 : nd) > prec - scale)
		return NULL;
	return positional(v < 0, digits, nd, nd, prec ? scale : 0);
}

/* Finite, canonical decimal128 with exponent <= 0 (== -S when constrained). */
char *rs_numeric_of_decimal(const bson_decimal128_t *d, int prec, int scale)
{
	unsigned __int128 coef;
	char digits[48];
	int nd = 0, exp;
	bool neg = d->high >> 63;

	if (((d->high >> 61) & 3) == 3)
		return NULL; /* Inf, NaN, or the non-canonical large-coefficient form */
	exp = (int)((d->high >> 49) & 0x3fff) - 6176;
	coef = ((unsigned __int128)(d->high & 0x1ffffffffffffULL) << 64) | d->low;
	if (exp > 0 || (prec && exp != -scale) || (neg && coef == 0))
		return NULL;
	char rev[48];
	do {
		rev[nd++] = (char)('0' + (int)(coef % 10));
		coef /= 10;
	} while (coef && nd < 40);
	if (nd > 34)
		return NULL;
	for (int i = 0; i < nd; i++)
		digits[i] = rev[nd - 1 - i];
	int point = nd + exp;
	int intdigits = point > 0 && !(nd == 1 && digits[0] == '0') ? point : 0;
	if (prec && intdigits > prec - scale)
		return NULL;
	return positional(neg, digits, nd, point, -exp);
}

/* ---- strict parsers of SELECT output --------------------------------- */

/* -?[0-9]+(\.0+)? -> int64 */
static bool parse_int_text(const char *s, int64_t *v)
{
	const char *p = s + (*s == '-');
	char *end;

	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno)
		return false;
	if (*end == '.') {
		if (!end[1])
			return false;
		for (end++; *end == '0'; end++)
			;
	}
	if (*end)
		return false;
	*v = x;
	return true;
}

/* -?[0-9]+(\.[0-9]+)? (numeric output) */
static bool numeric_shape(const char *s)
{
	const char *p = s + (*s == '-');
	size_t n = strspn(p, "0123456789");

	if (!n)
		return false;
	p += n;
	if (*p == '.') {
		n = strspn(++p, "0123456789");
		if (!n)
			return false;
		p += n;
	}
	return *p == '\0';
}

static bool parse_hex_bytes(const char *s, uint8_t **buf, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2)
		return false;
	*buf = malloc(n / 2 + 1);
	if (!*buf || !rowcodec_hex_decode(s, n, *buf, n / 2)) {
		free(*buf);
		*buf = NULL;
		return false;
	}
	*len = n / 2;
	return true;
}

static bool parse_uuid(const char *s, uint8_t u[16])
{
	char hex[33];
	size_t o = 0;

	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			continue;
		}
		hex[o++] = s[i];
	}
	return rowcodec_hex_decode(hex, 32, u, 16);
}

static bool parse_f8_bits(const char *s, double *d)
{
	uint8_t b[8];
	uint64_t bits = 0;

	if (strlen(s) != 16 || !rowcodec_hex_decode(s, 16, b, 8))
		return false;
	for (int i = 0; i < 8; i++)
		bits = bits << 8 | b[i];
	memcpy(d, &bits, 8);
	return true;
}

/* ---- decode ------------------------------------------------------------ */

#define FAIL(...) (RS_ERR(err, ROWSTORE_ERR_ROW, __VA_ARGS__), false)

static bool dec_number(enum mapping_type t, const char *s, int64_t y, bson_t *out,
		       const char *key, int kl, bson_error_t *err)
{
	double d;
	int64_t i;
	bson_decimal128_t dec;

	if (t == MAPPING_T_FLOAT8) {
		if (!parse_f8_bits(s, &d))
			return FAIL("float8 column: bad bits '%.40s'", s);
	} else if (!numeric_shape(s)) {
		return FAIL("numeric column: bad text '%.40s'", s);
	}
	switch (y) {
	case BSON_TYPE_DOUBLE:
		if (t != MAPPING_T_FLOAT8)
			d = strtod(s, NULL);
		return bson_append_double(out, key, kl, d);
	case BSON_TYPE_INT32:
	case BSON_TYPE_INT64:
		if (t == MAPPING_T_FLOAT8) {
			if (!(fabs(d) <= MAX_SAFE_INT) || d != (double)(int64_t)d)
				return FAIL("float8 column: not an integer");
			i = (int64_t)d;
		} else if (!parse_int_text(s, &i)) {
			return FAIL("column: not an integer '%.40s'", s);
		}
		if (y == BSON_TYPE_INT64)
			return bson_append_int64(out, key, kl, i);
		if (i < INT32_MIN || i > INT32_MAX)
			return FAIL("column: int32 out of range");
		return bson_append_int32(out, key, kl, (int32_t)i);
	case BSON_TYPE_DECIMAL128:
		if (t != MAPPING_T_NUMERIC || !bson_decimal128_from_string(s, &dec))
			return FAIL("column: bad decimal128");
		return bson_append_decimal128(out, key, kl, &dec);
	default:
		return FAIL("column: BSON type %d not storable here", (int)y);
	}
}

static bool dec_text_array(const char *s, bson_t *out, const char *key, int kl, bson_error_t *err)
{
	struct rs_strs items = { 0 };
	bson_t arr;
	char idx[24];
	bool ok;

	if (!rs_pgarray_parse(s, 1, 0, &items, err))
		return false;
	ok = bson_append_array_begin(out, key, kl, &arr);
	for (size_t i = 0; ok && i < items.n; i++) {
		if (!items.v[i] || !utf8_valid(items.v[i], strlen(items.v[i]))) {
			ok = FAIL("text[] column: NULL or bad item");
			break;
		}
		snprintf(idx, sizeof idx, "%zu", i);
		ok = bson_append_utf8(&arr, idx, -1, items.v[i], -1);
	}
	bson_append_array_end(out, &arr);
	rs_strs_free(&items);
	return ok;
}

static bool dec_binaryish(enum mapping_type t, const char *s, int64_t y, int64_t st, bson_t *out,
			  const char *key, int kl, bson_error_t *err)
{
	uint8_t u[16], *buf;
	size_t len;
	bson_oid_t oid;
	bool ok;

	if (t == MAPPING_T_UUID) {
		if (!parse_uuid(s, u))
			return FAIL("uuid column: bad uuid '%.40s'", s);
		if (y == BSON_TYPE_OID) {
			if (!uuid_to_oid(u, &oid))
				return FAIL("uuid column: not an ObjectId uuid");
			return bson_append_oid(out, key, kl, &oid);
		}
		if (y != BSON_TYPE_BINARY || (st != 3 && st != 4))
			return FAIL("uuid column: bad BSON type");
		return bson_append_binary(out, key, kl, (bson_subtype_t)st, u, 16);
	}
	if (y != BSON_TYPE_BINARY || st < 0 || st > 255 || !parse_hex_bytes(s, &buf, &len))
		return FAIL("bytea column: bad value");
	ok = bson_append_binary(out, key, kl, (bson_subtype_t)st, buf, (uint32_t)len);
	free(buf);
	return ok ? true : FAIL("bytea column: cannot append");
}

bool rs_cell_decode(enum mapping_type t, const char *s, int64_t y, int64_t st, bson_t *out,
		    const char *key, size_t klen, bson_error_t *err)
{
	int kl = (int)klen;
	int64_t ms;

	if (y == BSON_TYPE_NULL) {
		if (s)
			return FAIL("column holds a value where null was stored");
		return bson_append_null(out, key, kl);
	}
	if (!s)
		return FAIL("column is NULL but extras names it");
	switch (t) {
	case MAPPING_T_TEXT:
		if (y != BSON_TYPE_UTF8 || !utf8_valid(s, strlen(s)))
			return FAIL("text column: bad value");
		return bson_append_utf8(out, key, kl, s, -1);
	case MAPPING_T_INT4:
	case MAPPING_T_INT8:
	case MAPPING_T_FLOAT8:
	case MAPPING_T_NUMERIC:
		return dec_number(t, s, y, out, key, kl, err);
	case MAPPING_T_BOOL:
		if (y != BSON_TYPE_BOOL)
			return FAIL("bool column: bad BSON type");
		if (!strcmp(s, "true") || !strcmp(s, "t"))
			return bson_append_bool(out, key, kl, true);
		if (!strcmp(s, "false") || !strcmp(s, "f"))
			return bson_append_bool(out, key, kl, false);
		return FAIL("bool column: bad text '%.10s'", s);
	case MAPPING_T_TIMESTAMPTZ:
		if (y != BSON_TYPE_DATE_TIME || !parse_int_text(s, &ms) || strchr(s, '.'))
			return FAIL("timestamptz column: bad epoch ms '%.40s'", s);
		return bson_append_date_time(out, key, kl, ms);
	case MAPPING_T_JSONB:
		return rowcodec_value_from_json(s, strlen(s), out, key, klen, err);
	case MAPPING_T_TEXT_ARRAY:
		if (y != BSON_TYPE_ARRAY)
			return FAIL("text[] column: bad BSON type");
		return dec_text_array(s, out, key, kl, err);
	case MAPPING_T_UUID:
	case MAPPING_T_BYTEA:
		return dec_binaryish(t, s, y, st, out, key, kl, err);
	}
	return FAIL("unknown column type");
}

#undef FAIL
