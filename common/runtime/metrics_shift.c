/*
 * metrics_shift.c - the labelled families of the read router (metrics.h):
 * tandem_shift_fallback_total{reason} (a fixed label set) and
 * tandem_shift_reads_total{tenant,backend} (bounded: at most
 * METRICS_SHIFT_TENANTS tenant names, registered only by tenants an
 * operator gave a read_pct, the rest "_other").
 */
#include "metrics.h"

#include <event2/buffer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define TENANT_LABEL_MAX 64

#define METRICS_SF_LABEL(id, label) label,
static const char *const fallback_labels[] = {METRICS_SHIFT_FALLBACKS(METRICS_SF_LABEL)};
#undef METRICS_SF_LABEL

static _Atomic uint64_t fallbacks[METRICS_SHIFT_FALLBACK_COUNT];

/* Slot METRICS_SHIFT_TENANTS is "_other".  Names are written once, under
 * mu, before ntenants publishes them (release); readers scan without it. */
static struct {
	pthread_mutex_t mu;
	_Atomic unsigned ntenants;
	char names[METRICS_SHIFT_TENANTS][TENANT_LABEL_MAX];
	_Atomic uint64_t reads[METRICS_SHIFT_TENANTS + 1][2];
} sft = {.mu = PTHREAD_MUTEX_INITIALIZER};

const char *metrics_shift_fallback_str(enum metrics_shift_fallback r)
{
	return r < METRICS_SHIFT_FALLBACK_COUNT ? fallback_labels[r] : "unknown";
}

void metrics_shift_fallback(enum metrics_shift_fallback r)
{
	if (r < METRICS_SHIFT_FALLBACK_COUNT)
		atomic_fetch_add_explicit(&fallbacks[r], 1, memory_order_relaxed);
}

uint64_t metrics_shift_fallback_get(enum metrics_shift_fallback r)
{
	return r < METRICS_SHIFT_FALLBACK_COUNT ? atomic_load(&fallbacks[r]) : 0;
}

/* Whether name may be a label value as it is (no escaping needed). */
static bool plain_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= TENANT_LABEL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-' || ch == '.'))
			return false;
	}
	return name[0] != '_';   /* "_other" stays unambiguous */
}

static unsigned tenant_slot(const char *tenant)
{
	unsigned n = atomic_load_explicit(&sft.ntenants, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(sft.names[i], tenant))
			return i;
	if (!plain_name(tenant) || n >= METRICS_SHIFT_TENANTS)
		return METRICS_SHIFT_TENANTS;
	pthread_mutex_lock(&sft.mu);
	n = atomic_load(&sft.ntenants);
	unsigned i;
	for (i = 0; i < n; i++)
		if (!strcmp(sft.names[i], tenant))
			break;
	if (i == n && n < METRICS_SHIFT_TENANTS) {
		strcpy(sft.names[n], tenant);
		atomic_store_explicit(&sft.ntenants, n + 1, memory_order_release);
	} else if (i == n) {
		i = METRICS_SHIFT_TENANTS;
	}
	pthread_mutex_unlock(&sft.mu);
	return i;
}

void metrics_shift_read(const char *tenant, bool pg)
{
	atomic_fetch_add_explicit(&sft.reads[tenant_slot(tenant)][pg], 1, memory_order_relaxed);
}

uint64_t metrics_shift_reads_get(bool pg)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i <= METRICS_SHIFT_TENANTS; i++)
		sum += atomic_load(&sft.reads[i][pg]);
	return sum;
}

void metrics_shift_render(struct evbuffer *out)
{
	static const char *const backends[2] = {"mongo", "pg"};
	unsigned n = atomic_load_explicit(&sft.ntenants, memory_order_acquire);

	evbuffer_add_printf(out, "# HELP tandem_shift_fallback_total Reads in a served bucket that went to MongoDB, by reason\n"
				 "# TYPE tandem_shift_fallback_total counter\n");
	for (unsigned r = 0; r < METRICS_SHIFT_FALLBACK_COUNT; r++)
		evbuffer_add_printf(out, "tandem_shift_fallback_total{reason=\"%s\"} %llu\n",
				    fallback_labels[r], (unsigned long long)atomic_load(&fallbacks[r]));
	evbuffer_add_printf(out, "# HELP tandem_shift_reads_total Reads of tenants with read_pct > 0, by the backend that answered\n"
				 "# TYPE tandem_shift_reads_total counter\n");
	for (unsigned i = 0; i <= n; i++) {
		unsigned slot = i < n ? i : METRICS_SHIFT_TENANTS;
		for (int b = 0; b < 2; b++)
			evbuffer_add_printf(out, "tandem_shift_reads_total{tenant=\"%s\",backend=\"%s\"} %llu\n",
					    i < n ? sft.names[slot] : "_other", backends[b],
					    (unsigned long long)atomic_load(&sft.reads[slot][b]));
	}
}
