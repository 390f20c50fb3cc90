/*
 * mismatch.c - the shadow_mismatch JSON line (see mismatch.h): header
 * fields, the diff array with redacted lengths or full values, counters.
 */
#include "mismatch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jsonesc.h"

void mismatch_json_str(bson_string_t *out, const char *s, size_t len)
{
	size_t cap = JSONESC_CAP(len) + 2;
	char *tmp = bson_malloc(cap);

	jsonesc_quoted(tmp, cap, s ? s : "", s ? len : 0);
	bson_string_append(out, tmp);
	bson_free(tmp);
}

static void put_key(bson_string_t *out, const char *key)
{
	bson_string_append_printf(out, ",\"%s\":", key);
}

static void put_strf(bson_string_t *out, const char *key, const char *val)
{
	put_key(out, key);
	mismatch_json_str(out, val, val ? strlen(val) : 0);
}

static void put_ms(bson_string_t *out, const char *key, double ms)
{
	put_key(out, key);
	if (isfinite(ms))
		bson_string_append_printf(out, "%.3f", ms);
	else
		bson_string_append(out, "null");
}

/* "2024-05-01T12:00:00.123Z" for ms since the epoch (negative too). */
static void put_ts(bson_string_t *out, int64_t ts_ms)
{
	int64_t sec = ts_ms / 1000, ms = ts_ms % 1000;
	struct tm tm;

	if (ms < 0) {
		ms += 1000;
		sec--;
	}
	time_t t = (time_t)sec;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof tm);
	bson_string_append_printf(out, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
				  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				  tm.tm_min, tm.tm_sec, (int)ms);
}

/* ---- diff values -------------------------------------------------------- */

/* Length kept by redaction, or -1 when the type has none. */
static int64_t value_len(const bson_value_t *v)
{
	bson_t doc;
	switch (v->value_type) {
	case BSON_TYPE_UTF8: return v->value.v_utf8.len;
	case BSON_TYPE_SYMBOL: return v->value.v_symbol.len;
	case BSON_TYPE_CODE: return v->value.v_code.code_len;
	case BSON_TYPE_BINARY: return v->value.v_binary.data_len;
	case BSON_TYPE_DOCUMENT:
	case BSON_TYPE_ARRAY:
		if (!v->value.v_doc.data || v->value.v_doc.data_len < 5 ||
		    !bson_init_static(&doc, v->value.v_doc.data, v->value.v_doc.data_len))
			return -1;
		return bson_count_keys(&doc);
	default: return -1;
	}
}

/* {"v": document-or-array} built from bytes: bson_append_value would
 * complain on stderr about arrays whose keys are not "0", "1", ... and
 * abort on an embedded document whose bytes bson_init_static refuses. */
static char *container_json(const bson_value_t *v, size_t *jl)
{
	uint32_t n = v->value.v_doc.data_len, total = 4 + 1 + 2 + n + 1;
	bson_t wrap;
	char *json = NULL;

	if (!v->value.v_doc.data || n < 5)
		return NULL;
	uint8_t *buf = bson_malloc(total);

	memcpy(buf, &total, 4); /* little-endian, as BSON and these hosts are */
	buf[4] = (uint8_t)v->value_type;
	memcpy(buf + 5, "v", 2);
	memcpy(buf + 7, v->value.v_doc.data, n);
	buf[total - 1] = 0;
	if (bson_init_static(&wrap, buf, total))
		json = bson_as_canonical_extended_json(&wrap, jl);
	bson_free(buf);
	return json;
}

/* The scope of a code-with-scope value is readable (else libbson aborts). */
static bool scope_ok(const bson_value_t *v)
{
	bson_t scope;

	return v->value.v_codewscope.scope_data && v->value.v_codewscope.scope_len >= 5 &&
	       bson_init_static(&scope, v->value.v_codewscope.scope_data,
				v->value.v_codewscope.scope_len);
}

/* Canonical Extended JSON of one value: libbson renders {"v": value} as
 * `{ "v" : <value> }`, from which the value is cut out. */
static void put_value(bson_string_t *out, const bson_value_t *v)
{
	bson_t wrap = BSON_INITIALIZER;
	size_t jl = 0;
	char *json = NULL;

	if (v->value_type == BSON_TYPE_ARRAY || v->value_type == BSON_TYPE_DOCUMENT)
		json = container_json(v, &jl);
	else if ((v->value_type != BSON_TYPE_CODEWSCOPE || scope_ok(v)) &&
		 bson_append_value(&wrap, "v", 1, v))
		json = bson_as_canonical_extended_json(&wrap, &jl);
	bson_destroy(&wrap);
	if (!json || jl < 10 || strncmp(json, "{ \"v\" : ", 8) != 0) {
		bson_string_append_printf(out, "{\"$unprintable\":\"%s\"}",
					  compare_type_name(v->value_type));
	} else if (jl - 10 > MISMATCH_VALUE_MAX) {
		bson_string_append(out, "{\"$truncated\":");
		mismatch_json_str(out, json + 8, 256);
		bson_string_append_printf(out, ",\"bytes\":%zu}", jl - 10);
	} else {
		json[jl - 2] = '\0'; /* cut " }" */
		bson_string_append(out, json + 8);
	}
	bson_free(json);
}

static void put_side(bson_string_t *out, const char *side, const char *type,
		     const bson_value_t *v, bool full)
{
	char key[32];

	snprintf(key, sizeof key, "%s_type", side);
	put_key(out, key);
	if (type)
		mismatch_json_str(out, type, strlen(type));
	else
		bson_string_append(out, "null");
	if (v->value_type == BSON_TYPE_EOD)
		return;
	if (full) {
		snprintf(key, sizeof key, "%s_value", side);
		put_key(out, key);
		put_value(out, v);
		return;
	}
	int64_t n = value_len(v);
	if (n >= 0) {
		snprintf(key, sizeof key, "%s_len", side);
		put_key(out, key);
		bson_string_append_printf(out, "%lld", (long long)n);
	}
}

static void put_diff(bson_string_t *out, const struct compare_diff *d, bool full)
{
	char path[COMPARE_LOC_MAX + COMPARE_FIELD_MAX + 2];

	compare_diff_path(d, !full, path, sizeof path);
	bson_string_append(out, "{\"path\":");
	mismatch_json_str(out, path, strlen(path));
	put_strf(out, "kind", compare_kind_to_str(d->kind));
	put_side(out, "mongo", d->mongo_type, &d->mongo_val, full);
	put_side(out, "pg", d->pg_type, &d->pg_val, full);
	if (d->note)
		put_strf(out, "note", d->note);
	bson_string_append_c(out, '}');
}

/* ---- the line ----------------------------------------------------------- */

char *mismatch_line(const struct mismatch_event *ev, const struct compare_result *res, size_t *len)
{
	bson_string_t *out = bson_string_new(NULL);

	put_ts(out, ev->ts_ms);
	bson_string_append(out, ",\"level\":\"warn\",\"event\":\"shadow_mismatch\"");
	put_strf(out, "tenant", ev->tenant);
	put_strf(out, "db", ev->db);
	put_strf(out, "coll", ev->coll);
	put_strf(out, "op", ev->op);
	put_key(out, "shape");
	mismatch_shape(out, ev->query, ev->query_is_array);
	bson_string_append_printf(out, ",\"mongo_n\":%zu,\"pg_n\":%zu,\"diff\":[", res->mongo_n,
				  res->pg_n);
	for (size_t i = 0; i < res->n_diffs; i++) {
		if (i)
			bson_string_append_c(out, ',');
		put_diff(out, &res->diffs[i], ev->full_values);
	}
	bson_string_append_printf(out, "],\"diffs_total\":%zu,\"truncated\":%s", res->diffs_total,
				  res->truncated ? "true" : "false");
	if (res->partial)
		bson_string_append(out, ",\"partial\":true");
	put_ms(out, "mongo_ms", ev->mongo_ms);
	put_ms(out, "pg_ms", ev->pg_ms);
	put_strf(out, "request_id", ev->request_id);
	if (ev->suppressed)
		bson_string_append_printf(out, ",\"suppressed\":%llu",
					  (unsigned long long)ev->suppressed);
	bson_string_append_c(out, '}');
	if (len)
		*len = out->len;
	return bson_string_free(out, false);
}
