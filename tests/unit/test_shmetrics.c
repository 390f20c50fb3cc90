/*
 * test_shmetrics.c - shadow metrics: the exposition line by line, label
 * escaping, the cardinality bounds, histogram buckets, exact totals under
 * concurrent updates.
 */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmetrics.h"

static char *render(void)
{
	struct evbuffer *b = evbuffer_new();

	shmetrics_render(b);
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

/* The value of the sample whose name and labels are exactly key, or NAN. */
static double sample(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = text; (p = strstr(p, key)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return NAN;
}

static size_t count_prefix(const char *text, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += !strncmp(p, prefix, pl);
	return n;
}

static void setup(void)
{
	shmetrics_reset();
}

TestSuite(shmetrics, .init = setup);

Test(shmetrics, renders_every_family_line_by_line)
{
	shmetrics_read("acme", "orders");
	shmetrics_read("acme", "orders");
	shmetrics_read("beta", "users");
	shmetrics_match("acme", "orders", 0.5, 3.0);
	shmetrics_mismatch("acme", "orders", "missing", 1.0, -1);
	shmetrics_skipped("beta", "users", "collation");
	shmetrics_shed("beta", "users", "queue_full");

	static const char *const want[] = {
		"# HELP tandem_shadow_reads_total ",
		"# TYPE tandem_shadow_reads_total counter",
		"tandem_shadow_reads_total{tenant=\"acme\",coll=\"orders\"} 2",
		"tandem_shadow_reads_total{tenant=\"beta\",coll=\"users\"} 1",
		"# HELP tandem_shadow_matches_total ",
		"# TYPE tandem_shadow_matches_total counter",
		"tandem_shadow_matches_total{tenant=\"acme\",coll=\"orders\"} 1",
		"tandem_shadow_matches_total{tenant=\"beta\",coll=\"users\"} 0",
		"# HELP tandem_shadow_mismatches_total ",
		"# TYPE tandem_shadow_mismatches_total counter",
		"tandem_shadow_mismatches_total{tenant=\"acme\",coll=\"orders\",kind=\"missing\"} 1",
		"# HELP tandem_shadow_skipped_total ",
		"# TYPE tandem_shadow_skipped_total counter",
		"tandem_shadow_skipped_total{tenant=\"beta\",coll=\"users\",reason=\"collation\"} 1",
		"# HELP tandem_shadow_shed_total ",
		"# TYPE tandem_shadow_shed_total counter",
		"tandem_shadow_shed_total{tenant=\"beta\",coll=\"users\",reason=\"queue_full\"} 1",
		"# HELP tandem_shadow_latency_seconds ",
		"# TYPE tandem_shadow_latency_seconds histogram",
#define B(side, le, n) "tandem_shadow_latency_seconds_bucket{tenant=\"acme\",coll=\"orders\",side=\"" side "\",le=\"" le "\"} " n
		B("mongo", "0.0005", "1"), B("mongo", "0.001", "2"), B("mongo", "0.0025", "2"),
		B("mongo", "0.005", "2"), B("mongo", "0.01", "2"), B("mongo", "0.025", "2"),
		B("mongo", "0.05", "2"), B("mongo", "0.1", "2"), B("mongo", "0.25", "2"),
		B("mongo", "0.5", "2"), B("mongo", "1", "2"), B("mongo", "2.5", "2"), B("mongo", "+Inf", "2"),
		"tandem_shadow_latency_seconds_sum{tenant=\"acme\",coll=\"orders\",side=\"mongo\"} 0.001500",
		"tandem_shadow_latency_seconds_count{tenant=\"acme\",coll=\"orders\",side=\"mongo\"} 2",
		B("pg", "0.0005", "0"), B("pg", "0.001", "0"), B("pg", "0.0025", "0"),
		B("pg", "0.005", "1"), B("pg", "0.01", "1"), B("pg", "0.025", "1"),
		B("pg", "0.05", "1"), B("pg", "0.1", "1"), B("pg", "0.25", "1"),
		B("pg", "0.5", "1"), B("pg", "1", "1"), B("pg", "2.5", "1"), B("pg", "+Inf", "1"),
		"tandem_shadow_latency_seconds_sum{tenant=\"acme\",coll=\"orders\",side=\"pg\"} 0.003000",
		"tandem_shadow_latency_seconds_count{tenant=\"acme\",coll=\"orders\",side=\"pg\"} 1",
#undef B
	};
	char *s = render(), *save = NULL, *line = strtok_r(s, "\n", &save);
	size_t i = 0, nwant = sizeof(want) / sizeof(want[0]);

	for (; line; line = strtok_r(NULL, "\n", &save), i++) {
		cr_assert(i < nwant, "extra line %zu: %s", i, line);
		if (!strncmp(want[i], "# HELP ", 7))
			cr_assert(!strncmp(line, want[i], strlen(want[i])) && strlen(line) > strlen(want[i]) + 5,
				  "line %zu: want help for %s, got %s", i, want[i], line);
		else
			cr_assert_str_eq(line, want[i], "line %zu", i);
	}
	cr_assert_eq(i, nwant, "got %zu lines, want %zu", i, nwant);
	free(s);
}

Test(shmetrics, empty_render_has_one_help_and_type_per_family)
{
	char *s = render();

	cr_assert_eq(count_prefix(s, "# HELP "), 6);
	cr_assert_eq(count_prefix(s, "# TYPE "), 6);
	cr_assert_eq(count_prefix(s, "tandem_"), 0, "no series yet: %s", s);
	shmetrics_mismatch("t", "c", "type", 1, 1);
	shmetrics_mismatch("t", "c", "changed", 1, 1);
	shmetrics_mismatch("u", "c", "type", 1, 1);
	free(s);
	s = render();
	cr_assert_eq(count_prefix(s, "# HELP tandem_shadow_mismatches_total "), 1);
	cr_assert_eq(count_prefix(s, "# TYPE tandem_shadow_mismatches_total counter"), 1);
	cr_assert_eq(count_prefix(s, "tandem_shadow_mismatches_total{"), 3);
	cr_assert_eq(count_prefix(s, "# TYPE tandem_shadow_latency_seconds histogram"), 1);
	free(s);
}

Test(shmetrics, label_values_are_escaped_and_utf8_repaired)
{
	/* quote, backslash, newline; a lone 0xff; a cut 3-byte sequence; a
	 * UTF-16 surrogate (invalid in UTF-8); an overlong '/'; valid é and € */
	shmetrics_read("a\"b\\c\nd", "x\xffy");
	shmetrics_read("cut\xE2\x82", "s\xED\xA0\x80!");
	shmetrics_read("ov\xC0\xAF", "caf\xC3\xA9 \xE2\x82\xAC");
	shmetrics_skipped("t", "c", "we\"ird\n");
	char *s = render();

	cr_assert(!isnan(sample(s, "tandem_shadow_reads_total{tenant=\"a\\\"b\\\\c\\nd\",coll=\"x\xEF\xBF\xBDy\"}")),
		  "%s", s);
	cr_assert(!isnan(sample(s, "tandem_shadow_reads_total{tenant=\"cut\xEF\xBF\xBD\xEF\xBF\xBD\","
				   "coll=\"s\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!\"}")), "%s", s);
	cr_assert(!isnan(sample(s, "tandem_shadow_reads_total{tenant=\"ov\xEF\xBF\xBD\xEF\xBF\xBD\","
				   "coll=\"caf\xC3\xA9 \xE2\x82\xAC\"}")), "%s", s);
	cr_assert_eq(sample(s, "tandem_shadow_skipped_total{tenant=\"t\",coll=\"c\",reason=\"we\\\"ird\\n\"}"), 1);
	cr_assert_null(strstr(s, "\xff"));
	free(s);
}

Test(shmetrics, long_label_values_are_cut)
{
	char big[600];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	shmetrics_read(big, "c");
	big[SHMETRICS_LABEL_MAX + 3] = '\0'; /* same first 256 bytes: same series */
	shmetrics_read(big, "c");
	char *s = render(), key[400];

	snprintf(key, sizeof(key), "tandem_shadow_reads_total{tenant=\"%.*s\",coll=\"c\"}", SHMETRICS_LABEL_MAX, big);
	cr_assert_eq(sample(s, key), 2);
	cr_assert_eq(count_prefix(s, "tandem_shadow_reads_total{"), 1);
	free(s);
}

Test(shmetrics, series_beyond_the_cap_count_as_other)
{
	char t[32];

	for (int i = 0; i < SHMETRICS_MAX_SERIES; i++) {
		snprintf(t, sizeof(t), "t%d", i);
		shmetrics_read(t, "c");
	}
	for (int i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "late%d", i);
		shmetrics_read(t, "c");
		shmetrics_shed(t, "c", "queue_full");
	}
	shmetrics_read("t0", "c");                 /* an existing series keeps its own */
	shmetrics_read("_other", "_other");        /* the overflow series' own name: the same series */
	char *s = render();

	cr_assert_eq(count_prefix(s, "tandem_shadow_reads_total{"), SHMETRICS_MAX_SERIES + 1);
	cr_assert_eq(sample(s, "tandem_shadow_reads_total{tenant=\"t0\",coll=\"c\"}"), 2);
	cr_assert_eq(sample(s, "tandem_shadow_reads_total{tenant=\"t999\",coll=\"c\"}"), 1);
	cr_assert_eq(sample(s, "tandem_shadow_reads_total{tenant=\"_other\",coll=\"_other\"}"), 6);
	cr_assert_eq(sample(s, "tandem_shadow_shed_total{tenant=\"_other\",coll=\"_other\",reason=\"queue_full\"}"), 5);
	cr_assert_null(strstr(s, "tenant=\"late"));
	free(s);
	shmetrics_reset();
	s = render();
	cr_assert_eq(count_prefix(s, "tandem_shadow_reads_total{"), 0, "reset forgets every series");
	free(s);
}

Test(shmetrics, kinds_beyond_the_cap_count_as_other)
{
	char k[32];

	for (int i = 0; i < SHMETRICS_MAX_LABELS + 6; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		shmetrics_mismatch("t", "c", k, -1, -1);
	}
	shmetrics_mismatch("t", "c", "other", -1, -1);
	shmetrics_mismatch("t", "c", "k0", -1, -1);
	shmetrics_skipped("t", "c", "k70"); /* each family has its own 64 */
	char *s = render();

	cr_assert_eq(count_prefix(s, "tandem_shadow_mismatches_total{"), SHMETRICS_MAX_LABELS + 1);
	cr_assert_eq(sample(s, "tandem_shadow_mismatches_total{tenant=\"t\",coll=\"c\",kind=\"k0\"}"), 2);
	cr_assert_eq(sample(s, "tandem_shadow_mismatches_total{tenant=\"t\",coll=\"c\",kind=\"k63\"}"), 1);
	cr_assert(isnan(sample(s, "tandem_shadow_mismatches_total{tenant=\"t\",coll=\"c\",kind=\"k64\"}")));
	cr_assert_eq(sample(s, "tandem_shadow_mismatches_total{tenant=\"t\",coll=\"c\",kind=\"other\"}"), 7);
	cr_assert_eq(sample(s, "tandem_shadow_skipped_total{tenant=\"t\",coll=\"c\",reason=\"k70\"}"), 1);
	cr_assert_eq(count_prefix(s, "tandem_shadow_latency_seconds"), 0, "-1 ms is not observed");
	free(s);
}

Test(shmetrics, histogram_bounds_are_inclusive)
{
	static const double bounds_ms[] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
	static const char *const le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
					 "0.05", "0.1", "0.25", "0.5", "1", "2.5"};
	double sum = 0;
	char key[200];

	for (int i = 0; i < 12; i++) {
		shmetrics_match("h", "c", bounds_ms[i], NAN);
		sum += bounds_ms[i];
	}
	shmetrics_match("h", "c", 0, -0.5);         /* 0 is in the first bucket */
	shmetrics_match("h", "c", 2500.001, NAN);   /* just above the last bound */
	shmetrics_match("h", "c", 1e9, NAN);
	sum += 2500.001 + 1e9;
	char *s = render();

	for (int i = 0; i < 12; i++) {
		snprintf(key, sizeof(key), "tandem_shadow_latency_seconds_bucket{tenant=\"h\",coll=\"c\","
			 "side=\"mongo\",le=\"%s\"}", le[i]);
		cr_assert_eq(sample(s, key), i + 2, "%s", key);
	}
	cr_assert_eq(sample(s, "tandem_shadow_latency_seconds_bucket{tenant=\"h\",coll=\"c\",side=\"mongo\",le=\"+Inf\"}"), 15);
	cr_assert_eq(sample(s, "tandem_shadow_latency_seconds_count{tenant=\"h\",coll=\"c\",side=\"mongo\"}"), 15);
	double got = sample(s, "tandem_shadow_latency_seconds_sum{tenant=\"h\",coll=\"c\",side=\"mongo\"}");
	cr_assert(fabs(got - sum / 1000) < 1e-6, "sum %f want %f", got, sum / 1000);
	cr_assert_null(strstr(s, "side=\"pg\""), "NaN and negative pg latencies are not observed");
	free(s);
}

#define THREADS 4
#define ITERS 100000

static void *hammer(void *arg)
{
	static const char *const tenants[] = {"t0", "t1", "t2"};
	long id = (long)arg;

	for (long i = 0; i < ITERS; i++) {
		const char *t = tenants[(i + id) % 3];
		shmetrics_read(t, "c");
		if (i % 10 == 0)
			shmetrics_mismatch(t, "c", "changed", 1, 2);
		else
			shmetrics_match(t, "c", 1, 2);
	}
	return NULL;
}

static void *scrape(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++)
		free(render());
	return NULL;
}

static double total(const char *s, const char *fmt)
{
	char key[200];
	double sum = 0;

	for (int t = 0; t < 3; t++) {
		snprintf(key, sizeof(key), fmt, t);
		double v = sample(s, key);
		cr_assert(!isnan(v), "missing %s", key);
		sum += v;
	}
	return sum;
}

Test(shmetrics, four_threads_give_exact_totals, .timeout = 60)
{
	pthread_t th[THREADS + 1];

	for (long i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, hammer, (void *)i), 0);
	cr_assert_eq(pthread_create(&th[THREADS], NULL, scrape, NULL), 0);
	for (int i = 0; i <= THREADS; i++)
		pthread_join(th[i], NULL);
	char *s = render();

	cr_assert_eq(total(s, "tandem_shadow_reads_total{tenant=\"t%d\",coll=\"c\"}"), THREADS * ITERS);
	cr_assert_eq(total(s, "tandem_shadow_matches_total{tenant=\"t%d\",coll=\"c\"}"), THREADS * ITERS * 9 / 10);
	cr_assert_eq(total(s, "tandem_shadow_mismatches_total{tenant=\"t%d\",coll=\"c\",kind=\"changed\"}"),
		     THREADS * ITERS / 10);
	cr_assert_eq(total(s, "tandem_shadow_latency_seconds_count{tenant=\"t%d\",coll=\"c\",side=\"pg\"}"),
		     THREADS * ITERS);
	cr_assert_eq(total(s, "tandem_shadow_latency_seconds_bucket{tenant=\"t%d\",coll=\"c\",side=\"pg\",le=\"0.001\"}"), 0);
	cr_assert_eq(total(s, "tandem_shadow_latency_seconds_bucket{tenant=\"t%d\",coll=\"c\",side=\"pg\",le=\"0.0025\"}"),
		     THREADS * ITERS);
	free(s);
}

Test(shmetrics, every_line_is_a_comment_or_a_sample)
{
	shmetrics_read("x\ny", "c\"");
	shmetrics_mismatch("x\ny", "c\"", "type\\", 1, 1);
	char *s = render(), *save = NULL;

	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		cr_assert(!strncmp(line, "tandem_shadow_", 14), "bad line: %s", line);
		char *sp = strrchr(line, ' ');
		cr_assert(sp && sp > line && sp[-1] == '}', "no labels or value: %s", line);
		char *end;
		strtod(sp + 1, &end);
		cr_assert(*end == '\0' && end > sp + 1, "bad value: %s", line);
	}
	free(s);
}
