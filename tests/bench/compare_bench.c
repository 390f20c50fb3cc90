/*
 * compare_bench.c - comparator throughput in documents/s on one core.
 *
 *   build/tests/bench/compare_bench [DOCS] [BATCH]   (default 200000, 100)
 *
 * Time is this thread's CPU time (docs/s per core, less disturbed by
 * other load on the machine).
 *
 * "Small documents": an ObjectId _id, a tenant string, a name, an int, a
 * double price, a date, a nested address of three strings and an array of
 * three tags (~250 bytes).  Each batch is compared as MongoDB's reply
 * against PostgreSQL's rows: the same documents in another order, every
 * document's fields in another order (what a jsonb round trip can do).
 * Scenarios: multiset matched by _id; multiset without _id (full hash);
 * sorted by an int key (ties of 4).  Every comparison must find the sets
 * equal, and one planted change per batch must be found, or the bench fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compare.h"

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* One document; reversed puts the fields in reverse order. */
static bson_t *make_doc(uint32_t i, bool with_id, bool reversed, double price)
{
	bson_t *d = bson_new(), addr, tags;
	bson_oid_t oid;
	char name[32];

	memset(oid.bytes, 0, 12);
	memcpy(oid.bytes + 8, &i, 4);
	snprintf(name, sizeof name, "customer-%u", i);
	for (int f = 0; f < 8; f++) {
		switch (reversed ? 7 - f : f) {
		case 0: if (with_id) BSON_APPEND_OID(d, "_id", &oid); break;
		case 1: BSON_APPEND_UTF8(d, "tenant", "acme"); break;
		case 2: BSON_APPEND_UTF8(d, "name", name); break;
		case 3: BSON_APPEND_INT32(d, "k", (int32_t)(i / 4)); break;
		case 4: BSON_APPEND_DOUBLE(d, "price", price); break;
		case 5: BSON_APPEND_DATE_TIME(d, "created", 1700000000000LL + i); break;
		case 6:
			BSON_APPEND_DOCUMENT_BEGIN(d, "address", &addr);
			BSON_APPEND_UTF8(&addr, "street", "1 Main St");
			BSON_APPEND_UTF8(&addr, "city", "Springfield");
			BSON_APPEND_UTF8(&addr, "zip", "12345");
			bson_append_document_end(d, &addr);
			break;
		default:
			BSON_APPEND_ARRAY_BEGIN(d, "tags", &tags);
			BSON_APPEND_UTF8(&tags, "0", "new");
			BSON_APPEND_UTF8(&tags, "1", "vip");
			BSON_APPEND_UTF8(&tags, "2", "eu");
			bson_append_array_end(d, &tags);
		}
	}
	return d;
}

static int by_k(const bson_t *a, const bson_t *b, void *arg)
{
	bson_iter_t x, y;
	(void)arg;
	int32_t ka = bson_iter_init_find(&x, a, "k") ? bson_iter_int32(&x) : 0;
	int32_t kb = bson_iter_init_find(&y, b, "k") ? bson_iter_int32(&y) : 0;
	return (ka > kb) - (ka < kb);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: one core's work */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run one scenario over total documents; returns docs/s (0 on a wrong answer). */
static double run(const char *name, size_t total, size_t batch, bool with_id, bool sorted)
{
	bson_t **m = malloc(batch * sizeof *m), **p = malloc(batch * sizeof *p);
	struct compare_opts o = {.key_cmp = sorted ? by_k : NULL};
	double spent = 0;
	size_t done = 0;

	while (done < total) {
		size_t n = total - done < batch ? total - done : batch;
		for (size_t i = 0; i < n; i++) {
			m[i] = make_doc((uint32_t)(done + i), with_id, false, 19.99);
			p[i] = make_doc((uint32_t)(done + i), with_id, true, 19.99);
		}
		/* PostgreSQL's order: shuffled whole (unsorted) or inside each tie run */
		size_t run_len = sorted ? 4 : n; /* docs 4k..4k+3 share k; batches start at 4k */
		for (size_t s0 = 0; s0 < n; s0 += run_len) {
			size_t len = n - s0 < run_len ? n - s0 : run_len;
			for (size_t i = len; i > 1; i--) {
				size_t j = (size_t)(rnd() % i);
				bson_t *t = p[s0 + i - 1];
				p[s0 + i - 1] = p[s0 + j];
				p[s0 + j] = t;
			}
		}
		struct compare_result r;
		double t0 = now_s();
		bool eq = compare_docs((const bson_t *const *)m, n, (const bson_t *const *)p, n, &o, &r);
		spent += now_s() - t0;
		if (!eq) {
			fprintf(stderr, "%s: equal sets compared unequal (%zu diffs)\n", name, r.diffs_total);
			return 0;
		}
		compare_result_free(&r);
		/* the planted money bug must be found (not timed) */
		bson_destroy(p[n / 2]);
		bson_t *bad = make_doc((uint32_t)(done + n / 2), with_id, true, 1999);
		p[n / 2] = bad;
		if (compare_docs((const bson_t *const *)m, n, (const bson_t *const *)p, n, &o, &r)) {
			fprintf(stderr, "%s: planted change not found\n", name);
			return 0;
		}
		compare_result_free(&r);
		for (size_t i = 0; i < n; i++) {
			bson_destroy(m[i]);
			bson_destroy(p[i]);
		}
		done += n;
	}
	free(m);
	free(p);
	double rate = (double)total / spent;
	printf("%-28s %9zu docs  %7.3f s  %10.0f docs/s\n", name, total, spent, rate);
	return rate;
}

int main(int argc, char **argv)
{
	size_t total = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;

	if (!total || !batch)
		return 2;
	printf("comparator, batches of %zu small documents (MongoDB vs reordered PostgreSQL rows)\n", batch);
	bool ok = run("multiset, by _id", total, batch, true, false) > 0;
	ok = run("multiset, no _id (hash)", total, batch, false, false) > 0 && ok;
	ok = run("sorted, ties of 4, by _id", total, batch, true, true) > 0 && ok;
	return ok ? 0 : 1;
}
