/*
 * rowstore_decode.c - one result row of rowstore_select -> the stored
 * document, byte-identical to what rowstore_put was given.
 *
 *   default: row = [doc]                       -> rowcodec_from_json(doc)
 *   mapped:  row = [extras, columns..., children..., junctions...]
 *            extras is decoded by rowcodec; each marker {"~t":"c",...} in it
 *            is resolved here: a column name -> that column's text
 *            (rs_cell_decode), "+child" -> the child rows (a 2-D text[]:
 *            per element its columns then its own extras, decoded the same
 *            way), "&junction" -> the refs (a 1-D text[]).
 *
 * The row is untrusted text: every value is parsed strictly, and a marker
 * naming something the row lacks is an error.
 */
#include "rowstore_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "oid_uuid.h"
#include "rowcodec_text.h"
#include "rowcodec.h"
#include "rowcodec_hooks.h"
#include "utf8.h"

struct dctx {
	const struct mapping_collection *mc;
	const struct mapping_column *cols;	/* the table being decoded */
	size_t ncols;
	const char *const *vals;		/* its column texts */
	const char *const *children;		/* top level only: per child, its aggregate */
	const char *const *junctions;		/* top level only: per junction */
};

static bool dec_marker(void *ctx, const char *c, int64_t y, int64_t st, bson_t *out,
		       const char *key, size_t klen, bson_error_t *err);

#define FAIL(...) (RS_ERR(err, ROWSTORE_ERR_ROW, __VA_ARGS__), false)

static bool dec_child(const struct dctx *d, const struct mapping_child *ch, const char *text,
		      bson_t *out, const char *key, size_t klen, bson_error_t *err)
{
	struct rs_strs items = { 0 };
	size_t w = ch->n_columns + 1;
	bson_t arr, elem;
	char idx[24];
	bool ok = true;

	if (text && !rs_pgarray_parse(text, 2, w, &items, err))
		return false;
	bson_append_array_begin(out, key, (int)klen, &arr);
	for (size_t r = 0; ok && r < items.n / w; r++) {
		const char *const *row = (const char *const *)items.v + r * w;
		struct dctx sub = { d->mc, ch->columns, ch->n_columns, row, NULL, NULL };
		struct rowcodec_hooks h = { NULL, dec_marker, &sub };
		if (!row[w - 1]) {
			ok = FAIL("child '%s' row %zu: extras is NULL", ch->name, r);
			break;
		}
		ok = rowcodec_from_json_hooked(row[w - 1], strlen(row[w - 1]), &h, &elem, err);
		snprintf(idx, sizeof idx, "%zu", r);
		ok = ok && bson_append_document(&arr, idx, -1, &elem);
		bson_destroy(&elem);
	}
	bson_append_array_end(out, &arr);
	rs_strs_free(&items);
	return ok;
}

static bool dec_ref(enum mapping_type t, const char *s, int64_t y, bson_t *arr, const char *idx,
		    bson_error_t *err)
{
	uint8_t u[16];
	char hex[33];
	bson_oid_t oid;
	char *end;
	long long v;

	if (!s)
		return FAIL("junction ref is NULL");
	if (t == MAPPING_T_UUID && y == BSON_TYPE_OID) {
		size_t o = 0;
		if (strlen(s) != 36)
			return FAIL("junction ref: bad uuid");
		for (int i = 0; i < 36; i++)
			if (i != 8 && i != 13 && i != 18 && i != 23)
				hex[o++] = s[i];
			else if (s[i] != '-')
				return FAIL("junction ref: bad uuid");
		if (!rowcodec_hex_decode(hex, 32, u, 16) || !uuid_to_oid(u, &oid))
			return FAIL("junction ref: not an ObjectId uuid");
		return bson_append_oid(arr, idx, -1, &oid);
	}
	if (t == MAPPING_T_TEXT && y == BSON_TYPE_UTF8) {
		if (!utf8_valid(s, strlen(s)))
			return FAIL("junction ref: bad text");
		return bson_append_utf8(arr, idx, -1, s, -1);
	}
	if ((t == MAPPING_T_INT4 || t == MAPPING_T_INT8) &&
	    (y == BSON_TYPE_INT32 || (y == BSON_TYPE_INT64 && t == MAPPING_T_INT8))) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno || *end || end == s || (y == BSON_TYPE_INT32 && (v < INT32_MIN || v > INT32_MAX)))
			return FAIL("junction ref: bad integer");
		return y == BSON_TYPE_INT32 ? bson_append_int32(arr, idx, -1, (int32_t)v)
					    : bson_append_int64(arr, idx, -1, (int64_t)v);
	}
	return FAIL("junction ref: BSON type %d not storable", (int)y);
}

static bool dec_junction(const struct mapping_junction *j, const char *text, int64_t y, bson_t *out,
			 const char *key, size_t klen, bson_error_t *err)
{
	struct rs_strs items = { 0 };
	bson_t arr;
	char idx[24];
	bool ok = true;

	if (text && !rs_pgarray_parse(text, 1, 0, &items, err))
		return false;
	if (y == BSON_TYPE_ARRAY && items.n)
		ok = FAIL("junction '%s': rows for an empty array", j->name);
	bson_append_array_begin(out, key, (int)klen, &arr);
	for (size_t i = 0; ok && i < items.n; i++) {
		snprintf(idx, sizeof idx, "%zu", i);
		ok = dec_ref(j->ref_type, items.v[i], y, &arr, idx, err);
	}
	bson_append_array_end(out, &arr);
	rs_strs_free(&items);
	return ok;
}

static bool dec_marker(void *ctx, const char *c, int64_t y, int64_t st, bson_t *out,
		       const char *key, size_t klen, bson_error_t *err)
{
	const struct dctx *d = ctx;
	const struct mapping_collection *mc = d->mc;

	if (c[0] == RS_CHILD_PREFIX && d->children) {
		for (size_t i = 0; i < mc->n_children; i++)
			if (!strcmp(mc->children[i].name, c + 1) && y == BSON_TYPE_ARRAY)
				return dec_child(d, &mc->children[i], d->children[i], out, key, klen, err);
		return FAIL("extras names unknown child '%.60s'", c + 1);
	}
	if (c[0] == RS_JUNCTION_PREFIX && d->junctions) {
		for (size_t i = 0; i < mc->n_junctions; i++)
			if (!strcmp(mc->junctions[i].name, c + 1))
				return dec_junction(&mc->junctions[i], d->junctions[i], y, out, key,
						    klen, err);
		return FAIL("extras names unknown junction '%.60s'", c + 1);
	}
	for (size_t i = 0; i < d->ncols; i++)
		if (!strcmp(d->cols[i].name, c))
			return rs_cell_decode(d->cols[i].type, d->vals[i], y, st, out, key, klen, err);
	return FAIL("extras names unknown column '%.60s'", c);
}

bool rowstore_decode(const struct mapping_collection *mc, int ncols, const char *const *values,
		     bson_t *out, bson_error_t *err)
{
	if (ncols != rowstore_select_ncols(mc) || !values[0]) {
		bson_init(out);
		return FAIL("row has %d columns (want %d) or a NULL document", ncols,
			    rowstore_select_ncols(mc));
	}
	if (mc->is_default)
		return rowcodec_from_json(values[0], strlen(values[0]), out, err);

	struct dctx d = {
		mc, mc->columns, mc->n_columns, values + 1, values + 1 + mc->n_columns,
		values + 1 + mc->n_columns + mc->n_children,
	};
	struct rowcodec_hooks h = { NULL, dec_marker, &d };
	return rowcodec_from_json_hooked(values[0], strlen(values[0]), &h, out, err);
}
