/*
 * pct.h - percentages as tandem reads them everywhere: the config's
 * defaults.read_pct / defaults.shadow_pct, the Redis flags read_pct /
 * shadow_pct, and the per-name lists of shadow.collections.
 *
 *   PCT   digits with at most one '.' ("5", "0.5", "12.25", ".5", "5."),
 *         value 0..100, at most PCT_MAX_LEN bytes.  No sign, exponent,
 *         spaces, hex, "nan" or "inf": "1e1" is refused, not read as 10.
 *   LIST  "" | ITEM { "," ITEM }     ITEM: NAME "=" PCT
 *         spaces and tabs around items, names and values are ignored; a
 *         NAME is not empty and appears once; at most max_items items.
 *
 * Pure and bounded: pct_parse reads exactly len bytes and never allocates;
 * a parsed list is immutable (any thread may read it while it lives).
 * List errors name the item (1-based) and the reason, not the config key:
 * callers prefix it ("key 'shadow.collections': ...").
 */
#ifndef TANDEM_PCT_H
#define TANDEM_PCT_H

#include <stdbool.h>
#include <stddef.h>

#define PCT_MAX_LEN 31

/* The percentage in s[0..len); false (out untouched) if it is not one. */
bool pct_parse(const char *s, size_t len, double *out) __attribute__((warn_unused_result));

struct pct_list;

/* Parse spec (NULL = "") into *out, free with pct_list_free; on failure
 * *out is NULL and err names the bad item. */
bool pct_list_parse(const char *spec, size_t max_items, struct pct_list **out, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/* The percentage listed for name; false when l (may be NULL) lacks it. */
bool pct_list_get(const struct pct_list *l, const char *name, double *out)
	__attribute__((warn_unused_result));

void pct_list_free(struct pct_list *l);

#endif
