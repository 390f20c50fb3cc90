/*
 * shmetrics.c - storage and Prometheus rendering of the shadow-read metrics
 * (contract in shmetrics.h).
 *
 *   caller ──lock──> shm_series_get(tenant, coll) ──> series[i] | other
 *                     (open-addressing table of SHM_SLOTS slots, SipHash)
 *                    shm_label_index(family, kind)  ──> 0..63 | "other"
 *
 * One mutex guards everything: updates are a hash probe and a few adds, and
 * a scrape renders under the same lock (series whose histogram side has no
 * observation are not printed, which keeps the text small).  A series'
 * per-family counters are allocated on first use; when that fails the
 * count goes to the _other series, whose cells are static, so nothing is
 * lost silently.
 */
#include "shmetrics.h"

#include <event2/buffer.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "utf8.h"

/* SHMETRICS_FAMILIES (shmetrics.h) as a table, in rendering order. */
static const struct {
	const char *name, *type, *label, *help;
} shm_fam_desc[SHMETRICS_FAMILY_COUNT] = {
#define SHM_DESC(id, name, type, label, help) {name, type, label, help},
	SHMETRICS_FAMILIES(SHM_DESC)
#undef SHM_DESC
};

/* Histogram upper bounds: compared in milliseconds (exact in binary),
 * printed as the seconds the metric name promises. */
static const struct {
	double ms;
	const char *le;
} shm_bounds[] = {
	{0.5, "0.0005"}, {1, "0.001"}, {2.5, "0.0025"}, {5, "0.005"}, {10, "0.01"},
	{25, "0.025"}, {50, "0.05"}, {100, "0.1"}, {250, "0.25"}, {500, "0.5"},
	{1000, "1"}, {2500, "2.5"},
};
#define SHM_NBOUNDS (sizeof(shm_bounds) / sizeof(shm_bounds[0]))

enum shm_side { SHM_SIDE_MONGO, SHM_SIDE_PG, SHM_SIDES };
static const char *const shm_side_names[SHM_SIDES] = {"mongo", "pg"};

struct shm_hist {
	uint64_t bucket[SHM_NBOUNDS + 1]; /* not cumulative; last = above every bound */
	uint64_t count;
	double sum_ms;
};

#define SHM_CELLS (SHMETRICS_MAX_LABELS + 1) /* the last cell is "other" */

struct shm_series {
	char *tenant, *coll; /* NUL-terminated, at most SHMETRICS_LABEL_MAX bytes */
	size_t tenant_len, coll_len;
	uint64_t reads, matches;
	uint64_t *fam[SHMETRICS_FAMILY_COUNT]; /* labelled counters: SHM_CELLS each, NULL until used */
	struct shm_hist lat[SHM_SIDES];
};

struct shm_labels {
	char *name[SHMETRICS_MAX_LABELS];
	unsigned n;
};

#define SHM_SLOTS 2048u /* > 2 * SHMETRICS_MAX_SERIES: probes stay short */

static struct {
	pthread_mutex_t mu;
	struct shm_series series[SHMETRICS_MAX_SERIES];
	unsigned n;
	uint16_t slot[SHM_SLOTS]; /* 0 = empty, else index + 1 */
	struct shm_series other;
	bool other_used;
	uint64_t other_cells[SHMETRICS_FAMILY_COUNT][SHM_CELLS];
	struct shm_labels labels[SHMETRICS_FAMILY_COUNT];
} shm = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t shm_cut(const char **s)
{
	if (!*s)
		*s = "";
	return strnlen(*s, SHMETRICS_LABEL_MAX);
}

/* Keyed (SipHash): clients choose tenant and collection names, so they must
 * not be able to pile series onto one probe chain.  Only this table sees
 * the value.  tl first keeps (tenant, coll) pairs apart: SipHash adds the
 * total length itself. */
static uint64_t shm_hash(const char *t, size_t tl, const char *c, size_t cl)
{
	struct hash_sip st;

	hash_sip_init(&st);
	hash_sip_add(&st, &tl, sizeof tl);
	hash_sip_add(&st, t, tl);
	hash_sip_add(&st, c, cl);
	return hash_sip_end(&st);
}

static char *shm_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* The overflow series; its cells are static so counting there cannot fail. */
static struct shm_series *shm_other(void)
{
	if (!shm.other_used) {
		shm.other.tenant = shm.other.coll = (char *)SHMETRICS_OTHER_SERIES;
		for (int f = 0; f < SHMETRICS_FAMILY_COUNT; f++)
			shm.other.fam[f] = shm.other_cells[f];
		shm.other_used = true;
	}
	return &shm.other;
}

static bool shm_is_other(const char *t, size_t tl, const char *c, size_t cl)
{
	size_t ol = sizeof(SHMETRICS_OTHER_SERIES) - 1;

	return tl == ol && cl == ol && !memcmp(t, SHMETRICS_OTHER_SERIES, ol) &&
	       !memcmp(c, SHMETRICS_OTHER_SERIES, ol);
}

/* The series of (tenant, coll), created on first use; never NULL.  Lock held. */
static struct shm_series *shm_series_get(const char *tenant, const char *coll)
{
	size_t tl = shm_cut(&tenant), cl = shm_cut(&coll);
	uint32_t i = shm_hash(tenant, tl, coll, cl) & (SHM_SLOTS - 1);

	if (shm_is_other(tenant, tl, coll, cl))
		return shm_other();
	for (; shm.slot[i]; i = (i + 1) & (SHM_SLOTS - 1)) {
		struct shm_series *s = &shm.series[shm.slot[i] - 1];
		if (s->tenant_len == tl && s->coll_len == cl && !memcmp(s->tenant, tenant, tl) &&
		    !memcmp(s->coll, coll, cl))
			return s;
	}
	if (shm.n >= SHMETRICS_MAX_SERIES)
		return shm_other();
	struct shm_series *s = &shm.series[shm.n];
	s->tenant = shm_dup(tenant, tl);
	s->coll = shm_dup(coll, cl);
	if (!s->tenant || !s->coll) {
		free(s->tenant);
		free(s->coll);
		s->tenant = s->coll = NULL;
		return shm_other();
	}
	s->tenant_len = tl;
	s->coll_len = cl;
	shm.slot[i] = (uint16_t)(++shm.n);
	return s;
}

/* Index of a kind/reason within its family; "other" when the family is full. */
static unsigned shm_label_index(enum shmetrics_family f, const char *name)
{
	struct shm_labels *l = &shm.labels[f];
	size_t n = shm_cut(&name);

	if (n == sizeof(SHMETRICS_OTHER_LABEL) - 1 && !memcmp(name, SHMETRICS_OTHER_LABEL, n))
		return SHMETRICS_MAX_LABELS;
	for (unsigned i = 0; i < l->n; i++)
		if (!strncmp(l->name[i], name, n) && l->name[i][n] == '\0')
			return i;
	if (l->n >= SHMETRICS_MAX_LABELS || !(l->name[l->n] = shm_dup(name, n)))
		return SHMETRICS_MAX_LABELS;
	return l->n++;
}

static void shm_count(struct shm_series *s, enum shmetrics_family f, const char *label)
{
	unsigned i = shm_label_index(f, label);

	if (!s->fam[f] && !(s->fam[f] = calloc(SHM_CELLS, sizeof(uint64_t))))
		s = shm_other();
	s->fam[f][i]++;
}

static void shm_observe(struct shm_hist *h, double ms)
{
	unsigned b = 0;

	if (isnan(ms) || ms < 0)
		return;
	while (b < SHM_NBOUNDS && ms > shm_bounds[b].ms)
		b++;
	h->bucket[b]++;
	h->count++;
	h->sum_ms += ms;
}

void shmetrics_read(const char *tenant, const char *coll)
{
	pthread_mutex_lock(&shm.mu);
	shm_series_get(tenant, coll)->reads++;
	pthread_mutex_unlock(&shm.mu);
}

void shmetrics_match(const char *tenant, const char *coll, double mongo_ms, double pg_ms)
{
	pthread_mutex_lock(&shm.mu);
	struct shm_series *s = shm_series_get(tenant, coll);
	s->matches++;
	shm_observe(&s->lat[SHM_SIDE_MONGO], mongo_ms);
	shm_observe(&s->lat[SHM_SIDE_PG], pg_ms);
	pthread_mutex_unlock(&shm.mu);
}

void shmetrics_mismatch(const char *tenant, const char *coll, const char *kind, double mongo_ms,
			double pg_ms)
{
	pthread_mutex_lock(&shm.mu);
	struct shm_series *s = shm_series_get(tenant, coll);
	shm_count(s, SHMETRICS_MISMATCHES, kind);
	shm_observe(&s->lat[SHM_SIDE_MONGO], mongo_ms);
	shm_observe(&s->lat[SHM_SIDE_PG], pg_ms);
	pthread_mutex_unlock(&shm.mu);
}

void shmetrics_skipped(const char *tenant, const char *coll, const char *reason)
{
	pthread_mutex_lock(&shm.mu);
	shm_count(shm_series_get(tenant, coll), SHMETRICS_SKIPPED, reason);
	pthread_mutex_unlock(&shm.mu);
}

void shmetrics_shed(const char *tenant, const char *coll, const char *reason)
{
	pthread_mutex_lock(&shm.mu);
	shm_count(shm_series_get(tenant, coll), SHMETRICS_SHED, reason);
	pthread_mutex_unlock(&shm.mu);
}

/* ---------------------------------------------------------------- rendering */

/* Append s as the inside of a label value: \\ \" \n escaped, each byte
 * that is not part of valid UTF-8 replaced by U+FFFD. */
static void shm_put_value(struct evbuffer *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), run = 0;

	while (run < left) {
		size_t n = utf8_seq_len(p + run, left - run);
		const char *rep = !n ? "\xEF\xBF\xBD" : p[run] == '\\' ? "\\\\"
				: p[run] == '"' ? "\\\"" : p[run] == '\n' ? "\\n" : NULL;
		if (!rep) {
			run += n;
			continue;
		}
		evbuffer_add(out, p, run);
		evbuffer_add(out, rep, strlen(rep));
		p += run + 1;
		left -= run + 1;
		run = 0;
	}
	evbuffer_add(out, p, run);
}

/* Family f's sample name (plus suffix, e.g. "_bucket") and the series' labels. */
static void shm_put_series(struct evbuffer *out, enum shmetrics_family f, const char *suffix,
			   const struct shm_series *s)
{
	evbuffer_add_printf(out, "%s%s{tenant=\"", shm_fam_desc[f].name, suffix);
	shm_put_value(out, s->tenant);
	evbuffer_add(out, "\",coll=\"", 8);
	shm_put_value(out, s->coll);
	evbuffer_add(out, "\"", 1);
}

static void shm_header(struct evbuffer *out, enum shmetrics_family f)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", shm_fam_desc[f].name,
			    shm_fam_desc[f].help, shm_fam_desc[f].name, shm_fam_desc[f].type);
}

/* Every series in order of first use, then _other when it was used. */
static const struct shm_series *shm_nth(unsigned i)
{
	if (i < shm.n)
		return &shm.series[i];
	return i == shm.n && shm.other_used ? &shm.other : NULL;
}

/* reads or matches: one sample per series. */
static void shm_render_plain(struct evbuffer *out, enum shmetrics_family f)
{
	const struct shm_series *s;

	for (unsigned i = 0; (s = shm_nth(i)); i++) {
		shm_put_series(out, f, "", s);
		evbuffer_add_printf(out, "} %llu\n",
				    (unsigned long long)(f == SHMETRICS_READS ? s->reads : s->matches));
	}
}

/* A labelled counter family: one sample per series and label value seen. */
static void shm_render_family(struct evbuffer *out, enum shmetrics_family f)
{
	const struct shm_series *s;

	for (unsigned i = 0; (s = shm_nth(i)); i++) {
		for (unsigned c = 0; s->fam[f] && c < SHM_CELLS; c++) {
			if (!s->fam[f][c])
				continue;
			shm_put_series(out, f, "", s);
			evbuffer_add_printf(out, ",%s=\"", shm_fam_desc[f].label);
			shm_put_value(out, c < SHMETRICS_MAX_LABELS ? shm.labels[f].name[c]
								    : SHMETRICS_OTHER_LABEL);
			evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)s->fam[f][c]);
		}
	}
}

static void shm_render_hist(struct evbuffer *out, const struct shm_series *s, enum shm_side side)
{
	const struct shm_hist *h = &s->lat[side];
	uint64_t cum = 0;

	const char *label = shm_fam_desc[SHMETRICS_LATENCY].label;

	for (unsigned b = 0; b <= SHM_NBOUNDS; b++) {
		cum += h->bucket[b];
		shm_put_series(out, SHMETRICS_LATENCY, "_bucket", s);
		evbuffer_add_printf(out, ",%s=\"%s\",le=\"%s\"} %llu\n", label, shm_side_names[side],
				    b < SHM_NBOUNDS ? shm_bounds[b].le : "+Inf", (unsigned long long)cum);
	}
	shm_put_series(out, SHMETRICS_LATENCY, "_sum", s);
	evbuffer_add_printf(out, ",%s=\"%s\"} %.6f\n", label, shm_side_names[side], h->sum_ms / 1000.0);
	shm_put_series(out, SHMETRICS_LATENCY, "_count", s);
	evbuffer_add_printf(out, ",%s=\"%s\"} %llu\n", label, shm_side_names[side],
			    (unsigned long long)h->count);
}

void shmetrics_render(struct evbuffer *out)
{
	const struct shm_series *s;

	pthread_mutex_lock(&shm.mu);
	for (int f = 0; f < SHMETRICS_FAMILY_COUNT; f++) {
		shm_header(out, (enum shmetrics_family)f);
		if (f == SHMETRICS_LATENCY) {
			for (unsigned i = 0; (s = shm_nth(i)); i++)
				for (int side = 0; side < SHM_SIDES; side++)
					if (s->lat[side].count)
						shm_render_hist(out, s, (enum shm_side)side);
		} else if (shm_fam_desc[f].label) {
			shm_render_family(out, (enum shmetrics_family)f);
		} else {
			shm_render_plain(out, (enum shmetrics_family)f);
		}
	}
	pthread_mutex_unlock(&shm.mu);
}

static void shm_series_clear(struct shm_series *s, bool owned)
{
	if (owned) {
		free(s->tenant);
		free(s->coll);
		for (int f = 0; f < SHMETRICS_FAMILY_COUNT; f++)
			free(s->fam[f]);
	}
	memset(s, 0, sizeof(*s));
}

void shmetrics_reset(void)
{
	pthread_mutex_lock(&shm.mu);
	for (unsigned i = 0; i < shm.n; i++)
		shm_series_clear(&shm.series[i], true);
	shm.n = 0;
	memset(shm.slot, 0, sizeof(shm.slot));
	shm_series_clear(&shm.other, false);
	memset(shm.other_cells, 0, sizeof(shm.other_cells));
	shm.other_used = false;
	for (int f = 0; f < SHMETRICS_FAMILY_COUNT; f++) {
		for (unsigned i = 0; i < shm.labels[f].n; i++)
			free(shm.labels[f].name[i]);
		shm.labels[f].n = 0;
	}
	pthread_mutex_unlock(&shm.mu);
}
