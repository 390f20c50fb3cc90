/*
 * flags_table.c - the flag table (see flags_table_internal.h).
 *
 * A fixed array of FLAGS_BUCKETS chains, allocated at start; entries are
 * keyed by SipHash (keyed per process: clients choose the names they look
 * up, and a lookup only reads).  Lookups take the read lock and copy a view;
 * the refresher allocates an entry before taking the write lock and frees a
 * removed one after releasing it, so no worker waits on malloc.
 */
#include "flags_table_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"

#define FLAGS_BUCKETS (1u << 16) /* power of two; chains ~1.5 long at FLAGS_TENANTS_MAX */
#define FLAGS_FULL_WARN_EVERY_MS 60000u

static pthread_rwlock_t flags_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static struct flags_entry **flags_buckets;   /* [FLAGS_BUCKETS], under the lock */
static struct flags_view flags_base;          /* config defaults */
static struct flags_view flags_defaults_view; /* tandem:defaults over flags_base */
static struct flags_layer flags_defaults;     /* refresher only */
static bool flags_have_defaults;              /* refresher only */
static size_t flags_count;                    /* refresher writes; atomic copy in the gauge */
static _Atomic uint64_t flags_refused;
static uint64_t flags_full_warned_ms;         /* refresher only */

static uint64_t flags_hash(const char *name, size_t len)
{
	return hash_sip(name, len);
}

static struct flags_entry **flags_bucket(uint64_t h)
{
	return &flags_buckets[h & (FLAGS_BUCKETS - 1)];
}

/* Caller holds the lock (or is the refresher). */
static struct flags_entry *flags_chain_find(uint64_t h, const char *name, size_t len)
{
	for (struct flags_entry *e = *flags_bucket(h); e; e = e->next)
		if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0)
			return e;
	return NULL;
}

bool flags_table_init(const struct flags_view *base)
{
	struct flags_entry **b = calloc(FLAGS_BUCKETS, sizeof(*b));

	if (!b)
		return false;
	pthread_rwlock_wrlock(&flags_lock);
	flags_buckets = b;
	flags_base = *base;
	flags_defaults_view = *base;
	memset(&flags_defaults, 0, sizeof(flags_defaults));
	flags_have_defaults = false;
	flags_count = 0;
	pthread_rwlock_unlock(&flags_lock);
	metrics_gauge_set(METRIC_FLAGS_TENANTS, 0);
	return true;
}

void flags_table_free(const struct flags_view *base)
{
	pthread_rwlock_wrlock(&flags_lock);
	struct flags_entry **b = flags_buckets;
	flags_buckets = NULL;
	flags_base = *base;
	flags_defaults_view = *base;
	flags_count = 0;
	pthread_rwlock_unlock(&flags_lock);
	for (size_t i = 0; b && i < FLAGS_BUCKETS; i++) {
		for (struct flags_entry *e = b[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(b);
	metrics_gauge_set(METRIC_FLAGS_TENANTS, 0);
}

void flags_table_lookup(const char *tenant, struct flags_view *out)
{
	size_t len = tenant ? strnlen(tenant, FLAGS_TENANT_NAME_MAX + 1) : 0;
	bool bad = len == 0 || len > FLAGS_TENANT_NAME_MAX;
	uint64_t h = bad ? 0 : flags_hash(tenant, len);

	pthread_rwlock_rdlock(&flags_lock);
	const struct flags_entry *e = !bad && flags_buckets ? flags_chain_find(h, tenant, len) : NULL;
	*out = e ? e->view : flags_defaults_view;
	if (bad && flags_buckets)
		atomic_fetch_add_explicit(&flags_refused, 1, memory_order_relaxed);
	pthread_rwlock_unlock(&flags_lock);
}

struct flags_entry *flags_table_find(const char *name, size_t len)
{
	return flags_buckets ? flags_chain_find(flags_hash(name, len), name, len) : NULL;
}

/* Past the cap: no entry, a warning at most once a minute. */
static void flags_refuse_full(const char *name)
{
	uint64_t now = clock_mono_ms();

	atomic_fetch_add_explicit(&flags_refused, 1, memory_order_relaxed);
	if (flags_full_warned_ms && now - flags_full_warned_ms < FLAGS_FULL_WARN_EVERY_MS)
		return;
	flags_full_warned_ms = now;
	struct log_line *l = log_begin(LOG_WARN, "flags_table_full", 0);
	if (l) {
		log_str(l, "tenant", name);
		log_int(l, "max", FLAGS_TENANTS_MAX);
		log_end(l);
	}
}

static bool flags_view_equal(const struct flags_view *a, const struct flags_view *b)
{
	return a->write_mode == b->write_mode && a->read_pct == b->read_pct &&
	       a->shadow_pct == b->shadow_pct && strcmp(a->phase, b->phase) == 0;
}

/* The effective view of layer, stamped gen if it differs from old. */
static void flags_view_of(const struct flags_layer *layer, const struct flags_view *old, uint64_t gen,
			  struct flags_view *out)
{
	flags_merge(layer, flags_have_defaults ? &flags_defaults : NULL, &flags_base, FLAGS_SRC_CONFIG,
		    out, NULL);
	out->version = old && flags_view_equal(out, old) ? old->version : gen;
}

static enum flags_put_result flags_remove(uint64_t h, struct flags_entry *e)
{
	pthread_rwlock_wrlock(&flags_lock);
	struct flags_entry **p = flags_bucket(h);
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	flags_count--;
	pthread_rwlock_unlock(&flags_lock);
	free(e);
	metrics_gauge_set(METRIC_FLAGS_TENANTS, (int64_t)flags_count);
	return FLAGS_PUT_REMOVED;
}

static enum flags_put_result flags_add(uint64_t h, const char *name, size_t len,
				       const struct flags_layer *layer, uint64_t gen)
{
	if (flags_count >= FLAGS_TENANTS_MAX) {
		flags_refuse_full(name);
		return FLAGS_PUT_FULL;
	}
	struct flags_entry *e = calloc(1, sizeof(*e) + len + 1);
	if (!e) {
		flags_refuse_full(name);
		return FLAGS_PUT_FULL;
	}
	memcpy(e->name, name, len);
	e->len = len;
	e->hash = h;
	e->layer = *layer;
	flags_view_of(layer, NULL, gen, &e->view);
	pthread_rwlock_wrlock(&flags_lock);
	e->next = *flags_bucket(h);
	*flags_bucket(h) = e;
	flags_count++;
	pthread_rwlock_unlock(&flags_lock);
	metrics_gauge_set(METRIC_FLAGS_TENANTS, (int64_t)flags_count);
	return FLAGS_PUT_ADDED;
}

enum flags_put_result flags_table_put(const char *name, size_t len, const struct flags_layer *layer,
				      uint64_t gen)
{
	if (!flags_buckets || len == 0 || len > FLAGS_TENANT_NAME_MAX)
		return FLAGS_PUT_SAME;
	uint64_t h = flags_hash(name, len);
	struct flags_entry *e = flags_chain_find(h, name, len);

	if (!layer)
		return e ? flags_remove(h, e) : FLAGS_PUT_SAME;
	if (!e)
		return flags_add(h, name, len, layer, gen);
	e->layer = *layer;
	struct flags_view v;
	flags_view_of(layer, &e->view, gen, &v);
	if (v.version == e->view.version)
		return FLAGS_PUT_SAME;
	pthread_rwlock_wrlock(&flags_lock);
	e->view = v;
	pthread_rwlock_unlock(&flags_lock);
	return FLAGS_PUT_CHANGED;
}

bool flags_table_set_defaults(const struct flags_layer *layer, uint64_t gen)
{
	struct flags_layer none;

	memset(&none, 0, sizeof(none));
	if (!layer)
		layer = &none;
	if (flags_have_defaults && memcmp(layer, &flags_defaults, sizeof(*layer)) == 0)
		return false;
	flags_defaults = *layer;
	flags_have_defaults = true;
	pthread_rwlock_wrlock(&flags_lock);
	struct flags_view dv;
	flags_view_of(NULL, &flags_defaults_view, gen, &dv);
	bool changed = dv.version != flags_defaults_view.version;
	flags_defaults_view = dv;
	for (size_t i = 0; flags_buckets && i < FLAGS_BUCKETS; i++)
		for (struct flags_entry *e = flags_buckets[i]; e; e = e->next) {
			struct flags_view v;
			flags_view_of(&e->layer, &e->view, gen, &v);
			e->view = v;
		}
	pthread_rwlock_unlock(&flags_lock);
	return changed;
}

void flags_table_each(void (*fn)(struct flags_entry *e, void *arg), void *arg)
{
	for (size_t i = 0; flags_buckets && i < FLAGS_BUCKETS; i++)
		for (struct flags_entry *e = flags_buckets[i]; e; e = e->next)
			fn(e, arg);
}

size_t flags_table_count(void)
{
	return flags_count;
}

uint64_t flags_table_refused(void)
{
	return atomic_load_explicit(&flags_refused, memory_order_relaxed);
}
