/*
 * test_sample.c - the sampling coin flip (exact at 0 and 100, unbiased in
 * between, independent per thread) and the shadow.collections /
 * shadow.ignore_paths parsers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sample.h"

#define DRAWS 1000000

static long hits(double pct, long draws)
{
	long n = 0;

	for (long i = 0; i < draws; i++)
		n += shadow_sample(pct);
	return n;
}

Test(sample, zero_never_hundred_always)
{
	cr_assert_eq(hits(0, DRAWS), 0);
	cr_assert_eq(hits(100, DRAWS), DRAWS);
	cr_assert_eq(hits(-3, 1000), 0);
	cr_assert_eq(hits(NAN, 1000), 0);
	cr_assert_eq(hits(250, 1000), 1000);
}

Test(sample, one_percent_is_one_percent)
{
	long n = hits(1, DRAWS);

	/* expected 10 000, sd ~ 99.5: the window is +-10 sd */
	cr_assert(n >= DRAWS / 1000 * 9 && n <= DRAWS / 1000 * 11, "1 %%: %ld of %d", n, DRAWS);
	n = hits(0.5, DRAWS);
	cr_assert(n >= 4500 && n <= 5500, "0.5 %%: %ld of %d", n, DRAWS);
	n = hits(50, DRAWS);
	cr_assert(n >= 495000 && n <= 505000, "50 %%: %ld of %d", n, DRAWS);
}

static void *draw_bits(void *arg)
{
	unsigned long long *bits = arg;

	for (int i = 0; i < 64; i++)
		*bits = (*bits << 1) | shadow_sample(50);
	return NULL;
}

Test(sample, threads_draw_different_sequences)
{
	unsigned long long a = 0, b = 0;
	pthread_t ta, tb;

	cr_assert_eq(pthread_create(&ta, NULL, draw_bits, &a), 0);
	cr_assert_eq(pthread_create(&tb, NULL, draw_bits, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	cr_assert_neq(a, b, "two threads drew the same 64 coin flips: seeding is not per thread");
	cr_assert(a != 0 && a != ~0ull);
}

/* ---------------------------------------------------------------- caps */

Test(sample, caps_narrow_per_collection)
{
	struct shadow_caps *c = NULL;
	char err[256] = "";

	cr_assert(shadow_caps_parse(" orders = 10 , users=0.5,logs=100,z=0", &c, err, sizeof(err)), "%s", err);
	cr_assert_float_eq(shadow_caps_apply(c, "orders", 50), 10, 1e-12);
	cr_assert_float_eq(shadow_caps_apply(c, "orders", 5), 5, 1e-12);
	cr_assert_float_eq(shadow_caps_apply(c, "users", 100), 0.5, 1e-12);
	cr_assert_float_eq(shadow_caps_apply(c, "logs", 7), 7, 1e-12);
	cr_assert_float_eq(shadow_caps_apply(c, "z", 7), 0, 1e-12);
	cr_assert_float_eq(shadow_caps_apply(c, "other", 42), 42, 1e-12);
	cr_assert_float_eq(shadow_caps_apply(c, "order", 42), 42, 1e-12, "prefix is not a match");
	cr_assert_float_eq(shadow_caps_apply(NULL, "orders", 42), 42, 1e-12);
	shadow_caps_free(c);

	cr_assert(shadow_caps_parse("", &c, err, sizeof(err)));
	cr_assert_not_null(c);
	cr_assert_float_eq(shadow_caps_apply(c, "orders", 3), 3, 1e-12);
	shadow_caps_free(c);
	cr_assert(shadow_caps_parse(NULL, &c, err, sizeof(err)));
	shadow_caps_free(c);
}

static void caps_rejects(const char *spec, const char *want)
{
	struct shadow_caps *c = (struct shadow_caps *)1;
	char err[256] = "";

	cr_assert_not(shadow_caps_parse(spec, &c, err, sizeof(err)), "accepted '%s'", spec);
	cr_assert_null(c);
	cr_assert(strstr(err, want), "'%s': error '%s' does not contain '%s'", spec, err, want);
}

Test(sample, caps_errors_name_the_item)
{
	caps_rejects("orders", "item 1 'orders': expected NAME=PERCENT");
	caps_rejects("orders=10,=5", "item 2 '=5': the name is empty");
	caps_rejects("orders=abc", "item 1 'orders=abc': 'abc' is not a percentage from 0 to 100");
	caps_rejects("orders=100.5", "'100.5' is not a percentage");
	caps_rejects("orders=-1", "'-1' is not a percentage");
	caps_rejects("orders=nan", "'nan' is not a percentage");
	caps_rejects("orders=1e1", "'1e1' is not a percentage");
	caps_rejects("orders=1.2.3", "'1.2.3'");
	caps_rejects("orders=", "'' is not a percentage");
	caps_rejects("orders=10,,users=1", "item 2 is empty");
	caps_rejects("orders=10,", "item 2 is empty");
	caps_rejects("a=1,orders=1,b=2,orders=2", "'orders' is given twice");
}

/* ---------------------------------------------------------------- ignore paths */

Test(sample, ignore_paths_per_collection_and_star)
{
	struct shadow_ignore *ig = NULL;
	const char *p[SHADOW_IGNORE_MAX];
	char err[256] = "";

	cr_assert(shadow_ignore_parse("orders:updatedAt, orders:meta.etag ,*:_v,users:_v,*:x.y", &ig, err,
				      sizeof(err)), "%s", err);
	size_t n = shadow_ignore_for(ig, "orders", p, SHADOW_IGNORE_MAX);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(p[0], "updatedAt");
	cr_assert_str_eq(p[1], "meta.etag");
	cr_assert_str_eq(p[2], "_v");
	cr_assert_str_eq(p[3], "x.y");
	n = shadow_ignore_for(ig, "users", p, SHADOW_IGNORE_MAX);
	cr_assert_eq(n, 2, "users:_v and *:_v are one path");
	cr_assert_str_eq(p[0], "_v");
	cr_assert_str_eq(p[1], "x.y");
	n = shadow_ignore_for(ig, "logs", p, SHADOW_IGNORE_MAX);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(p[0], "_v");
	n = shadow_ignore_for(ig, "orders", p, 2);
	cr_assert_eq(n, 2, "never more than cap");
	cr_assert_str_eq(p[1], "meta.etag");
	cr_assert_eq(shadow_ignore_for(ig, "orders", p, 0), 0);
	shadow_ignore_free(ig);

	cr_assert(shadow_ignore_parse("  ", &ig, err, sizeof(err)));
	cr_assert_eq(shadow_ignore_for(ig, "orders", p, SHADOW_IGNORE_MAX), 0);
	shadow_ignore_free(ig);
	cr_assert_eq(shadow_ignore_for(NULL, "orders", p, SHADOW_IGNORE_MAX), 0);
}

static void ignore_rejects(const char *spec, const char *want)
{
	struct shadow_ignore *ig = (struct shadow_ignore *)1;
	char err[256] = "";

	cr_assert_not(shadow_ignore_parse(spec, &ig, err, sizeof(err)), "accepted '%s'", spec);
	cr_assert_null(ig);
	cr_assert(strstr(err, want), "'%s': error '%s' does not contain '%s'", spec, err, want);
}

Test(sample, ignore_errors_name_the_item)
{
	ignore_rejects("orders", "item 1 'orders': expected COLLECTION:PATH");
	ignore_rejects("orders:a,:x", "item 2 ':x': the collection name is empty");
	ignore_rejects("orders:", "item 1 'orders:': '' is not a dotted path");
	ignore_rejects("orders:a..b", "'a..b' is not a dotted path");
	ignore_rejects("orders:.a", "'.a' is not a dotted path");
	ignore_rejects("orders:a.", "'a.' is not a dotted path");
	ignore_rejects("orders:a,,*:b", "item 2 is empty");
	ignore_rejects("orders:a,*:b,orders:a", "item 3 'orders:a' is given twice");
}

Test(sample, too_many_items_are_refused)
{
	static char spec[SHADOW_IGNORE_MAX * 8 + 16];
	struct shadow_ignore *ig = NULL;
	char err[256] = "";
	size_t pos = 0;

	for (int i = 0; i <= SHADOW_IGNORE_MAX; i++)
		pos += (size_t)snprintf(spec + pos, sizeof(spec) - pos, "%sc:p%d", i ? "," : "", i);
	cr_assert_not(shadow_ignore_parse(spec, &ig, err, sizeof(err)));
	cr_assert(strstr(err, "at most 256"), "%s", err);
	*strrchr(spec, ',') = '\0'; /* exactly SHADOW_IGNORE_MAX */
	cr_assert(shadow_ignore_parse(spec, &ig, err, sizeof(err)), "%s", err);
	const char *p[SHADOW_IGNORE_MAX];
	cr_assert_eq(shadow_ignore_for(ig, "c", p, SHADOW_IGNORE_MAX), SHADOW_IGNORE_MAX);
	shadow_ignore_free(ig);
}
