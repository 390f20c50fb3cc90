/*
 * fuzz_compare.c - libFuzzer target for the shadow comparator and the
 * mismatch line.
 *
 * Input: byte 0 = option bits (strict, oid_as_string, ordered_fields,
 * tail_ties_loose, epsilon, ignore paths, sorted by field "k", full
 * values), byte 1 = how many of the documents are MongoDB's, then BSON
 * documents back to back (each must pass bson_validate, as the proxy
 * guarantees; the rest of the input is ignored).
 *
 * Checked: nothing crashes or leaks; a list compared with itself is equal;
 * every diff count is consistent; the mismatch line is one line; each
 * document also goes through compare_replies as a find/count/distinct/
 * other reply.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "bsoncmp.h"
#include "compare.h"
#include "mismatch.h"

#define MAX_DOCS 64

static int by_k(const bson_t *a, const bson_t *b, void *arg)
{
	bson_iter_t x, y;
	bson_value_t none = {.value_type = BSON_TYPE_NULL};
	(void)arg;
	const bson_value_t *va = bson_iter_init_find(&x, a, "k") ? bson_iter_value(&x) : &none;
	const bson_value_t *vb = bson_iter_init_find(&y, b, "k") ? bson_iter_value(&y) : &none;
	return bsoncmp_value(va, vb);
}

static void check_result(const struct compare_result *r, bool eq)
{
	if (eq != (r->diffs_total == 0) || r->n_diffs > r->diffs_total ||
	    r->truncated != (r->diffs_total > r->n_diffs))
		abort();
}

static void log_line(const struct compare_result *r, const bson_t *query, bool full)
{
	struct mismatch_event ev = {.ts_ms = 1, .tenant = "t", .op = "find", .query = query,
				    .full_values = full};
	size_t len;
	char *line = mismatch_line(&ev, r, &len);

	if (len != strlen(line) || memchr(line, '\n', len) || line[0] != '{' || line[len - 1] != '}')
		abort();
	bson_free(line);
}

static void replies(const bson_t *doc, const struct compare_opts *o)
{
	static const char *const ops[] = {"find", "count", "distinct", "aggregate", "getMore", "x"};
	struct compare_result r;
	bool eq;
	char err[64];

	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
		if (!compare_replies(ops[i], doc, doc, o, &r, &eq, err, sizeof err))
			continue;
		check_result(&r, eq);
		if (!eq)
			abort(); /* a reply equals itself */
		compare_result_free(&r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ign[] = {"a.b", "f*", ""};
	bson_t docs[MAX_DOCS];
	const bson_t *ptr[MAX_DOCS];
	size_t n = 0, off = 2;

	if (size < 2)
		return 0;
	uint8_t f = data[0];
	struct compare_opts o = {
		.strict_types = f & 1, .oid_as_string = f & 2, .ordered_fields = f & 4,
		.tail_ties_loose = f & 8, .float_epsilon = (f & 16) ? 0.5 : 0,
		.ignore = ign, .n_ignore = (f & 32) ? 3 : 0, .key_cmp = (f & 64) ? by_k : NULL,
		.max_diffs = 1 + data[1] % 30,
	};
	while (n < MAX_DOCS && size - off >= 5) {
		uint32_t len;
		memcpy(&len, data + off, 4);
		len = BSON_UINT32_FROM_LE(len);
		if (len < 5 || len > size - off || !bson_init_static(&docs[n], data + off, len))
			break;
		off += len;
		if (bson_validate(&docs[n], BSON_VALIDATE_NONE, NULL))
			ptr[n] = &docs[n], n++;
	}
	size_t mn = n ? data[1] % (n + 1) : 0;
	struct compare_result r;
	bool eq = compare_docs(ptr, mn, ptr + mn, n - mn, &o, &r);
	check_result(&r, eq);
	log_line(&r, n ? ptr[0] : NULL, f & 128);
	compare_result_free(&r);
	eq = compare_docs(ptr, n, ptr, n, &o, &r);
	check_result(&r, eq);
	if (!eq)
		abort(); /* a list equals itself */
	compare_result_free(&r);
	for (size_t i = 0; i < n && i < 4; i++)
		replies(ptr[i], &o);
	return 0;
}
