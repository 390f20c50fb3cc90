/*
 * sample.c - the sampling coin flip, the shadow.collections caps (a
 * pct_list, common/runtime/pct.h) and the shadow.ignore_paths parser
 * (contract in sample.h).
 *
 * The ignore parser walks the spec as (pointer, length) views, so error
 * messages can quote the item exactly as written; only accepted names are
 * copied, into one arena owned by the parsed set.
 */
#include "sample.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errbuf.h"
#include "pct.h"

/* ---------------------------------------------------------------- sampling */

static _Thread_local uint64_t sample_state[2];
static _Thread_local bool sample_seeded;

static uint64_t sample_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Seed from the wall clock (ns), the thread id and the TLS address, spread
 * by splitmix64 so that threads started in the same nanosecond differ. */
static void sample_seed(void)
{
	uint64_t x = clock_wall_ns();

	x ^= (uint64_t)gettid() << 40;
	x ^= (uint64_t)(uintptr_t)&sample_state;
	sample_state[0] = sample_splitmix64(&x);
	sample_state[1] = sample_splitmix64(&x);
	if (!sample_state[0] && !sample_state[1])
		sample_state[0] = 1; /* the one state xorshift cannot leave */
	sample_seeded = true;
}

static uint64_t sample_next(void)
{
	uint64_t s1 = sample_state[0];
	const uint64_t s0 = sample_state[1];

	sample_state[0] = s0;
	s1 ^= s1 << 23;
	sample_state[1] = s1 ^ s0 ^ (s1 >> 18) ^ (s0 >> 5);
	return sample_state[1] + s0;
}

bool shadow_sample(double pct)
{
	if (!(pct > 0))
		return false; /* also NaN */
	if (pct >= 100)
		return true;
	if (!sample_seeded)
		sample_seed();
	double u = (double)(sample_next() >> 11) * 0x1.0p-53; /* [0, 1) */
	return u * 100.0 < pct;
}

/* ---------------------------------------------------------------- item walking */

struct sample_view {
	const char *p;
	size_t n;
};

static struct sample_view sample_trim(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct sample_view){p, n};
}

/* The next comma-separated item of *rest (trimmed); false at the end. */
static bool sample_next_item(const char **rest, struct sample_view *item)
{
	const char *p = *rest;

	if (!p)
		return false;
	const char *comma = strchr(p, ',');
	size_t n = comma ? (size_t)(comma - p) : strlen(p);
	*item = sample_trim(p, n);
	*rest = comma ? comma + 1 : NULL;
	return true;
}

static bool sample_is_blank(const char *spec)
{
	return sample_trim(spec, strlen(spec)).n == 0;
}

static size_t sample_count_items(const char *spec)
{
	size_t n = 1;

	for (; *spec; spec++)
		n += *spec == ',';
	return n;
}

/* Split item at the first sep into trimmed left and right; false if absent. */
static bool sample_split(struct sample_view item, char sep, struct sample_view *l, struct sample_view *r)
{
	const char *at = memchr(item.p, sep, item.n);

	if (!at)
		return false;
	*l = sample_trim(item.p, (size_t)(at - item.p));
	*r = sample_trim(at + 1, item.n - (size_t)(at - item.p) - 1);
	return true;
}

static bool sample_eq(struct sample_view a, struct sample_view b)
{
	return a.n == b.n && !memcmp(a.p, b.p, a.n);
}

/* Copy v into the arena at *pos; returns the NUL-terminated copy. */
static char *sample_copy(char *arena, size_t *pos, struct sample_view v)
{
	char *d = arena + *pos;

	memcpy(d, v.p, v.n);
	d[v.n] = '\0';
	*pos += v.n + 1;
	return d;
}

/* ---------------------------------------------------------------- shadow.collections */

/* A pct_list (common/runtime/pct.h): the grammar is the config's own, so
 * cfg_set has already refused what would fail here. */
struct shadow_caps {
	struct pct_list *list;
};

bool shadow_caps_parse(const char *spec, struct shadow_caps **out, char *err, size_t errlen)
{
	struct shadow_caps *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return errbuf_fail(err, errlen, "out of memory");
	if (!pct_list_parse(spec, SHADOW_CAPS_MAX, &c->list, err, errlen)) {
		free(c);
		return false;
	}
	*out = c;
	return true;
}

double shadow_caps_apply(const struct shadow_caps *c, const char *coll, double tenant_pct)
{
	double cap;

	return c && pct_list_get(c->list, coll, &cap) && cap < tenant_pct ? cap : tenant_pct;
}

void shadow_caps_free(struct shadow_caps *c)
{
	if (!c)
		return;
	pct_list_free(c->list);
	free(c);
}

/* ---------------------------------------------------------------- shadow.ignore_paths */

struct shadow_ignore_item {
	const char *coll, *path; /* in arena; coll "*" = every collection */
};

struct shadow_ignore {
	size_t n;
	struct shadow_ignore_item *item; /* config order */
	char *arena;
};

static bool sample_path_ok(struct sample_view p)
{
	if (p.n == 0 || p.p[0] == '.' || p.p[p.n - 1] == '.')
		return false;
	for (size_t i = 1; i < p.n; i++)
		if (p.p[i] == '.' && p.p[i - 1] == '.')
			return false;
	return true;
}

static bool sample_ignore_item(struct shadow_ignore *ig, size_t *pos, size_t k, struct sample_view it,
			       char *err, size_t errlen)
{
	struct sample_view coll, path;

	if (it.n == 0)
		return errbuf_fail(err, errlen, "item %zu is empty (stray comma?)", k);
	if (!sample_split(it, ':', &coll, &path))
		return errbuf_fail(err, errlen, "item %zu '%.*s': expected COLLECTION:PATH (COLLECTION * "
				   "= every collection)", k, (int)it.n, it.p);
	if (coll.n == 0)
		return errbuf_fail(err, errlen, "item %zu '%.*s': the collection name is empty", k,
				   (int)it.n, it.p);
	if (!sample_path_ok(path))
		return errbuf_fail(err, errlen, "item %zu '%.*s': '%.*s' is not a dotted path (empty "
				   "segment)", k, (int)it.n, it.p, (int)path.n, path.p);
	for (size_t i = 0; i < ig->n; i++)
		if (sample_eq(coll, (struct sample_view){ig->item[i].coll, strlen(ig->item[i].coll)}) &&
		    sample_eq(path, (struct sample_view){ig->item[i].path, strlen(ig->item[i].path)}))
			return errbuf_fail(err, errlen, "item %zu '%.*s' is given twice", k, (int)it.n,
					   it.p);
	ig->item[ig->n].coll = sample_copy(ig->arena, pos, coll);
	ig->item[ig->n++].path = sample_copy(ig->arena, pos, path);
	return true;
}

bool shadow_ignore_parse(const char *spec, struct shadow_ignore **out, char *err, size_t errlen)
{
	struct shadow_ignore *ig = calloc(1, sizeof(*ig));
	struct sample_view it;
	size_t pos = 0, k = 0;

	*out = NULL;
	if (!spec)
		spec = "";
	size_t items = sample_is_blank(spec) ? 0 : sample_count_items(spec);
	if (items > SHADOW_IGNORE_MAX) {
		free(ig);
		return errbuf_fail(err, errlen, "%zu items, at most %d allowed", items, SHADOW_IGNORE_MAX);
	}
	if (ig && items) {
		ig->item = calloc(items, sizeof(ig->item[0]));
		ig->arena = malloc(strlen(spec) + 1);
	}
	if (!ig || (items && (!ig->item || !ig->arena))) {
		shadow_ignore_free(ig);
		return errbuf_fail(err, errlen, "out of memory");
	}
	while (items && sample_next_item(&spec, &it))
		if (!sample_ignore_item(ig, &pos, ++k, it, err, errlen)) {
			shadow_ignore_free(ig);
			return false;
		}
	*out = ig;
	return true;
}

static bool sample_listed(const char **paths, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(paths[i], path))
			return true;
	return false;
}

size_t shadow_ignore_for(const struct shadow_ignore *ig, const char *coll, const char **paths, size_t cap)
{
	size_t n = 0;

	if (!ig || !coll)
		return 0;
	for (size_t i = 0; i < ig->n && n < cap; i++)
		if (strcmp(ig->item[i].coll, "*") && !strcmp(ig->item[i].coll, coll))
			paths[n++] = ig->item[i].path;
	for (size_t i = 0; i < ig->n && n < cap; i++)
		if (!strcmp(ig->item[i].coll, "*") && !sample_listed(paths, n, ig->item[i].path))
			paths[n++] = ig->item[i].path;
	return n;
}

void shadow_ignore_free(struct shadow_ignore *ig)
{
	if (!ig)
		return;
	free(ig->item);
	free(ig->arena);
	free(ig);
}
