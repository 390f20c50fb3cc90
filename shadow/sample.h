/*
 * sample.h - which reads are shadowed: the per-read coin flip and the two
 * per-collection config strings of the shadow section.
 *
 *   pct = shadow_caps_apply(caps, coll, tenant's shadow_pct flag)
 *   if (shadow_sample(pct)) ... enqueue the shadow read ...
 *   n = shadow_ignore_for(ignore, coll, paths, SHADOW_IGNORE_MAX)  (comparison)
 *
 * shadow_sample is lock-free (a thread-local xorshift128+ generator seeded
 * per thread from clock_gettime and the thread id); the parsers are pure
 * and bounds-checked, and their results are immutable, so any thread may
 * read a parsed set while the config that owns it lives.
 *
 * Config grammar (spaces around items and separators are ignored):
 *   shadow.collections   ""  |  COLL=PCT { "," COLL=PCT }     PCT: decimal 0..100
 *                        (a pct_list, common/runtime/pct.h; the config file
 *                        may write it as a map, cfg.h, and cfg_set checks it)
 *   shadow.ignore_paths  ""  |  COLL:PATH { "," COLL:PATH }   COLL "*" = every
 *                        collection; PATH dotted, no empty segment
 * A collection may appear once in shadow.collections; an ignore item may
 * appear once.  Error texts name the item (1-based) and the reason, without
 * the config key: callers prefix it ("key 'shadow.collections': ...").
 */
#ifndef TANDEM_SHADOW_SAMPLE_H
#define TANDEM_SHADOW_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>

/* Most items each config string may hold; a paths array of
 * SHADOW_IGNORE_MAX entries always holds every path of a collection. */
#define SHADOW_CAPS_MAX 4096
#define SHADOW_IGNORE_MAX 256

/* True with probability pct/100: pct <= 0 (or NaN) never, pct >= 100 always. */
bool shadow_sample(double pct);

struct shadow_caps;

/* Parse shadow.collections into *out (NULL spec = ""); free with
 * shadow_caps_free.  On failure *out is NULL and err names the bad item. */
bool shadow_caps_parse(const char *spec, struct shadow_caps **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* min(tenant_pct, cap of coll) when coll has a cap, else tenant_pct.
 * c may be NULL (no caps). */
double shadow_caps_apply(const struct shadow_caps *c, const char *coll, double tenant_pct);

void shadow_caps_free(struct shadow_caps *c);

struct shadow_ignore;

/* Parse shadow.ignore_paths into *out (NULL spec = ""); free with
 * shadow_ignore_free.  On failure *out is NULL and err names the bad item. */
bool shadow_ignore_parse(const char *spec, struct shadow_ignore **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Fill paths with views (valid until shadow_ignore_free) of the paths to
 * ignore in coll: its own items in config order, then the "*" items not
 * already listed.  Writes at most cap entries; returns how many it wrote.
 * ig may be NULL (nothing ignored). */
size_t shadow_ignore_for(const struct shadow_ignore *ig, const char *coll, const char **paths,
			 size_t cap);

void shadow_ignore_free(struct shadow_ignore *ig);

#endif
