/*
 * flags_table_internal.h - the flag table of shift/ (private to the folder):
 * one entry per tenant that has a hash tandem:tenant:<t> in Redis, plus the
 * defaults every other tenant reads.
 *
 *   workers ──flags_table_lookup──rdlock──▶ copy of a view (no allocation)
 *   refresher ──flags_table_put / _set_defaults──wrlock──▶ entries, views
 *
 * Invariants:
 * - Only the refresher thread adds, changes and removes entries, so it may
 *   read entries (name, layer, seen, warned_ms) without the lock; workers
 *   read only views, under the read lock.
 * - An entry's view is always its layer over the defaults layer over the
 *   config base (flags_merge); a change of either is re-merged at once.
 * - At most FLAGS_TENANTS_MAX entries; a lookup never adds one.
 */
#ifndef TANDEM_FLAGS_TABLE_INTERNAL_H
#define TANDEM_FLAGS_TABLE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags.h"

struct flags_entry {
	struct flags_entry *next;             /* bucket chain; changed under the write lock */
	struct flags_view view;               /* under the lock */
	struct flags_layer layer;             /* refresher only: the tenant's parsed hash */
	uint64_t warned_ms[FLAGS_F_COUNT + 1]; /* refresher only; [COUNT] = the key */
	uint64_t seen;                        /* refresher only: last full refresh that found it */
	uint64_t hash;
	size_t len;
	char name[]; /* immutable, NUL-terminated */
};

/* What flags_table_put did. */
enum flags_put_result { FLAGS_PUT_SAME, FLAGS_PUT_CHANGED, FLAGS_PUT_ADDED, FLAGS_PUT_REMOVED,
			FLAGS_PUT_FULL };

/* Allocate the buckets (false: out of memory).  base: the config defaults. */
bool flags_table_init(const struct flags_view *base) __attribute__((warn_unused_result));
/* Free every entry and the buckets; lookups then answer base (set here). */
void flags_table_free(const struct flags_view *base);

/* The view of tenant, or the defaults when it has no entry (or the name
 * is empty or longer than FLAGS_TENANT_NAME_MAX: counted as refused). */
void flags_table_lookup(const char *tenant, struct flags_view *out);

/* Refresher only, no lock: the entry of name, or NULL. */
struct flags_entry *flags_table_find(const char *name, size_t len);

/* Refresher only: tenant name has hash layer (NULL: it has none).  Adds,
 * updates (stamping a changed view with gen) or removes its entry. */
enum flags_put_result flags_table_put(const char *name, size_t len, const struct flags_layer *layer,
				      uint64_t gen);

/* Refresher only: tandem:defaults is now layer (NULL: absent); re-merges
 * every entry.  Returns whether the defaults changed. */
bool flags_table_set_defaults(const struct flags_layer *layer, uint64_t gen);

/* Refresher only: call fn on every entry (fn must not put or remove). */
void flags_table_each(void (*fn)(struct flags_entry *e, void *arg), void *arg);

size_t flags_table_count(void);
uint64_t flags_table_refused(void);

#endif
