/*
 * fuzz_readexec.c - libFuzzer target for the read executor (readexec.h,
 * sortspec.h, project.h).
 *
 * Input: BSON documents back to back (each starts with its int32 length):
 * the first is a read command (find / count / distinct / aggregate, any
 * fields), the others are candidate documents (invalid ones end the list).
 * Both are untrusted.  What must hold: no crash, no leak, no UB; a plan
 * either succeeds or names a reason; results and replies are valid BSON;
 * a second run gives the same bytes; sortspec_cmp is antisymmetric.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>

#include "readexec.h"

#define MAX_DOCS 64

static uint32_t read_len(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* bson_validate of libbson 1.23 does not see corruption at the end of a
 * nested document (the child iterator's error is not propagated), so
 * inputs and outputs are walked here, every level, to the last byte. */
static bool strict_valid(const uint8_t *data, uint32_t len, int depth)
{
	bson_t b;
	bson_iter_t it;

	if (depth > 200 || !bson_init_static(&b, data, len) || !bson_iter_init(&it, &b))
		return false;
	while (bson_iter_next(&it)) {
		if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) {
			uint32_t l;
			const uint8_t *d;
			if (BSON_ITER_HOLDS_DOCUMENT(&it))
				bson_iter_document(&it, &l, &d);
			else
				bson_iter_array(&it, &l, &d);
			if (!strict_valid(d, l, depth + 1))
				return false;
		}
	}
	return it.err_off == 0;
}

static bool valid(const bson_t *b)
{
	size_t off;

	return bson_validate(b, BSON_VALIDATE_NONE, &off) && strict_valid(bson_get_data(b), b->len, 0);
}

static void check_valid(const bson_t *b)
{
	if (!valid(b))
		abort();
}

/* Run the plan; the result's bytes into *out (caller destroys). */
static bool execute(const struct readexec_plan *p, bson_t **docs, size_t n, bson_t *out, bson_t *reply)
{
	struct readexec_limits lim = {MAX_DOCS, 1u << 20, 1u << 16};
	bson_error_t err;
	int64_t cnt = 0;
	bool ok;

	bson_init(reply);
	switch (p->kind) {
	case READEXEC_FIND:
		ok = readexec_find(p, docs, n, &lim, out, &err);
		bson_destroy(reply);
		if (ok)
			readexec_reply_find(p, out, reply);
		else
			readexec_reply_error(&err, reply);
		return ok;
	case READEXEC_DISTINCT:
		ok = readexec_distinct(p, docs, n, &lim, out, &err);
		bson_destroy(reply);
		if (ok)
			readexec_reply_distinct(out, reply);
		else
			readexec_reply_error(&err, reply);
		return ok;
	case READEXEC_COUNT:
	case READEXEC_ESTIMATED_COUNT:
	case READEXEC_COLLSTATS_COUNT:
		bson_init(out);
		ok = readexec_count(p, docs, n, &lim, &cnt, &err);
		if (ok && (cnt < 0 || (size_t)cnt > n))
			abort();
		BSON_APPEND_INT64(out, "n", cnt);
		bson_destroy(reply);
		readexec_reply_count(cnt, reply);
		return ok;
	default:
		bson_init(out);
		return true;
	}
}

static void check_sort(const struct readexec_plan *p, bson_t **docs, size_t n)
{
	if (!p->sortc)
		return;
	for (size_t i = 0; i + 1 < n; i++) {
		int a = sortspec_cmp(p->sortc, docs[i], docs[i + 1]);
		int b = sortspec_cmp(p->sortc, docs[i + 1], docs[i]);
		if ((a < 0 && b <= 0) || (a > 0 && b >= 0) || (a == 0 && b != 0))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t cmd, *docs[MAX_DOCS], out1, out2, reply1, reply2;
	struct readexec_plan plan;
	bson_error_t err;
	size_t n = 0;
	uint32_t len;

	if (size < 5 || (len = read_len(data)) < 5 || len > size || !bson_init_static(&cmd, data, len) ||
	    !valid(&cmd))
		return 0;
	for (size_t pos = len; n < MAX_DOCS && pos + 5 <= size; n++) {
		uint32_t l = read_len(data + pos);
		if (l < 5 || l > size - pos || !(docs[n] = bson_new_from_data(data + pos, l)) || !valid(docs[n])) {
			if (l >= 5 && l <= size - pos && docs[n])
				bson_destroy(docs[n]);
			break;
		}
		pos += l;
	}
	if (readexec_plan(&cmd, "db", &plan, &err)) {
		if (plan.skip_reason != READEXEC_SKIP_NONE)
			abort();
		bool ok1 = execute(&plan, docs, n, &out1, &reply1);
		bool ok2 = execute(&plan, docs, n, &out2, &reply2);
		check_valid(&out1);
		check_valid(&reply1);
		if (ok1 != ok2 || out1.len != out2.len || memcmp(bson_get_data(&out1), bson_get_data(&out2), out1.len) ||
		    reply1.len != reply2.len || memcmp(bson_get_data(&reply1), bson_get_data(&reply2), reply1.len))
			abort(); /* deterministic */
		check_sort(&plan, docs, n);
		bson_destroy(&out1);
		bson_destroy(&out2);
		bson_destroy(&reply1);
		bson_destroy(&reply2);
	} else if (plan.skip_reason == READEXEC_SKIP_NONE || !readexec_skip_str(plan.skip_reason)[0]) {
		abort();
	}
	readexec_plan_free(&plan);
	for (size_t i = 0; i < n; i++)
		bson_destroy(docs[i]);
	return 0;
}
