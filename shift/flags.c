/*
 * flags.c - the per-tenant flag cache's public face (see flags.h): the pure
 * helpers (value parsers, flags_layer_set, flags_merge, the config base)
 * and flags_get / flags_stats / flags_start / flags_stop.
 *
 * The table lives in flags_table.c, the thread that keeps it equal to Redis
 * in flags_refresh.c.  flags_get is one table lookup: a read lock, a hash
 * chain, a copy; no Redis, no allocation, no wake-up.
 */
#include "flags.h"
#include "flags_refresh_internal.h"
#include "flags_table_internal.h"

#include <string.h>

#include "cfg.h"
#include "errbuf.h"
#include "metrics.h"
#include "pct.h"
#include "redisurl.h"

#define FLAGS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ pure helpers */

static const char *const flags_mode_names[] = {"mongo_only", "dual_write", "pg_primary", "pg_only"};
static const char *const flags_phase_names[] = {"planning", "backfill",   "dual_write", "shadow",
						"shifting", "pg_primary", "cleanup"};
static const char *const flags_field_names[] = {"read_pct", "write_mode", "shadow_pct", "phase"};
static const char *const flags_source_names[] = {"built-in default", "config", FLAGS_DEFAULTS_KEY,
						 "tenant"};

/* Index of s[0..len) in names, or -1. */
static int flags_word_find(const char *s, size_t len, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(s, names[i], len) == 0)
			return (int)i;
	return -1;
}

const char *flags_write_mode_to_str(enum flags_write_mode m)
{
	return (unsigned)m < FLAGS_NELEM(flags_mode_names) ? flags_mode_names[m] : "unknown";
}

const char *flags_field_name(enum flags_field f)
{
	return (unsigned)f < FLAGS_NELEM(flags_field_names) ? flags_field_names[f] : "unknown";
}

const char *flags_source_to_str(enum flags_source s)
{
	return (unsigned)s < FLAGS_NELEM(flags_source_names) ? flags_source_names[s] : "unknown";
}

bool flags_write_mode_parse_n(const char *s, size_t len, enum flags_write_mode *out)
{
	int i = flags_word_find(s, len, flags_mode_names, FLAGS_NELEM(flags_mode_names));

	if (i < 0)
		return false;
	*out = (enum flags_write_mode)i;
	return true;
}

bool flags_write_mode_parse(const char *s, enum flags_write_mode *out)
{
	return s && flags_write_mode_parse_n(s, strlen(s), out);
}

bool flags_phase_valid(const char *s, size_t len)
{
	return flags_word_find(s, len, flags_phase_names, FLAGS_NELEM(flags_phase_names)) >= 0;
}

enum flags_set_result flags_layer_set(struct flags_layer *layer, const char *name, size_t name_len,
				      const char *val, size_t val_len, enum flags_field *field)
{
	int f = flags_word_find(name, name_len, flags_field_names, FLAGS_NELEM(flags_field_names));
	bool ok = false;

	if (f < 0)
		return FLAGS_SET_UNKNOWN_FIELD;
	*field = (enum flags_field)f;
	switch ((enum flags_field)f) {
	case FLAGS_F_READ_PCT:
		ok = pct_parse(val, val_len, &layer->read_pct);
		break;
	case FLAGS_F_SHADOW_PCT:
		ok = pct_parse(val, val_len, &layer->shadow_pct);
		break;
	case FLAGS_F_WRITE_MODE:
		ok = flags_write_mode_parse_n(val, val_len, &layer->write_mode);
		break;
	case FLAGS_F_PHASE:
		ok = flags_phase_valid(val, val_len);
		if (ok) {
			memcpy(layer->phase, val, val_len); /* names are < FLAGS_PHASE_LEN */
			layer->phase[val_len] = '\0';
		}
		break;
	case FLAGS_F_COUNT:
		break;
	}
	if (!ok)
		return FLAGS_SET_INVALID;
	layer->set |= 1u << f;
	return FLAGS_SET_OK;
}

/* The layer that sets field f first (tenant, then defaults), or NULL. */
static const struct flags_layer *flags_pick(const struct flags_layer *tenant,
					    const struct flags_layer *defaults, enum flags_field f,
					    enum flags_source *src)
{
	if (tenant && (tenant->set & (1u << f))) {
		*src = FLAGS_SRC_TENANT;
		return tenant;
	}
	if (defaults && (defaults->set & (1u << f))) {
		*src = FLAGS_SRC_DEFAULTS;
		return defaults;
	}
	return NULL;
}

void flags_merge(const struct flags_layer *tenant, const struct flags_layer *defaults,
		 const struct flags_view *base, enum flags_source base_src, struct flags_view *out,
		 enum flags_source src[FLAGS_F_COUNT])
{
	enum flags_source s[FLAGS_F_COUNT];
	const struct flags_layer *l;

	*out = *base;
	for (int f = 0; f < FLAGS_F_COUNT; f++) {
		s[f] = base_src;
		l = flags_pick(tenant, defaults, (enum flags_field)f, &s[f]);
		if (!l)
			continue;
		if (f == FLAGS_F_READ_PCT)
			out->read_pct = l->read_pct;
		else if (f == FLAGS_F_WRITE_MODE)
			out->write_mode = l->write_mode;
		else if (f == FLAGS_F_SHADOW_PCT)
			out->shadow_pct = l->shadow_pct;
		else
			memcpy(out->phase, l->phase, sizeof(out->phase));
	}
	if (src)
		memcpy(src, s, sizeof(s));
}

bool flags_base_from_cfg(const struct cfg *cfg, struct flags_view *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->write_mode = FLAGS_WM_MONGO_ONLY;
	if (!cfg)
		return true;
	if (!flags_write_mode_parse(cfg->default_write_mode, &out->write_mode))
		return errbuf_fail(err, errlen, "key 'defaults.write_mode': '%s' is not a write mode",
				   cfg->default_write_mode);
	if (!pct_parse(cfg->default_read_pct, strlen(cfg->default_read_pct), &out->read_pct))
		return errbuf_fail(err, errlen, "key 'defaults.read_pct': '%s' is not a percentage "
				   "between 0 and 100", cfg->default_read_pct);
	if (!pct_parse(cfg->default_shadow_pct, strlen(cfg->default_shadow_pct), &out->shadow_pct))
		return errbuf_fail(err, errlen, "key 'defaults.shadow_pct': '%s' is not a percentage "
				   "between 0 and 100", cfg->default_shadow_pct);
	return true;
}

/* ------------------------------------------------------------ the cache */

static bool flags_have_table; /* set by flags_start, cleared by flags_stop (main thread) */

void flags_get(const char *tenant, struct flags_view *out)
{
	flags_table_lookup(tenant, out);
}

void flags_stats(struct flags_stats *out)
{
	out->last_ok_ms = metrics_age_get(METRIC_FLAGS_AGE);
	out->refreshes = metrics_counter_get(METRIC_FLAGS_REFRESHES);
	out->full_refreshes = metrics_counter_get(METRIC_FLAGS_FULL_REFRESHES);
	out->refresh_errors = metrics_counter_get(METRIC_FLAGS_REFRESH_ERRORS);
	out->invalid_values = metrics_counter_get(METRIC_FLAGS_INVALID_VALUES);
	out->invalidations = metrics_counter_get(METRIC_FLAGS_INVALIDATIONS);
	out->repairs = metrics_counter_get(METRIC_FLAGS_REPAIRS);
	out->messages = flags_refresh_messages();
	out->tenants = (uint64_t)metrics_gauge_get(METRIC_FLAGS_TENANTS);
	out->tenants_refused = flags_table_refused();
	out->connected = metrics_gauge_get(METRIC_FLAGS_REDIS_CONNECTED) != 0;
	out->tracking = metrics_gauge_get(METRIC_FLAGS_TRACKING) != 0;
}

bool flags_start(const char *redis_url, const struct cfg *cfg, char *err, size_t errlen)
{
	struct flags_view base;
	struct flags_refresh_cfg rc = {0};

	if (flags_have_table)
		return errbuf_fail(err, errlen, "flags: already started");
	if (!flags_base_from_cfg(cfg, &base, err, errlen))
		return false;
	bool with_redis = redis_url && *redis_url;
	char why[384];
	if (with_redis && !redisurl_parse(redis_url, &rc.url, why, sizeof(why)))
		return errbuf_fail(err, errlen, "key 'redis': %s", why);
	flags_table_free(&base); /* no table: every lookup answers base */
	if (!with_redis)
		return true;
	if (!flags_table_init(&base))
		return errbuf_fail(err, errlen, "flags: out of memory");
	flags_have_table = true;
	rc.tracking = cfg ? cfg->flags_tracking : true;
	rc.poll_ms = cfg ? (uint64_t)cfg->flags_poll_ms : 100u;
	rc.full_ms = cfg ? (uint64_t)cfg->flags_full_refresh_ms : 30000u;
	if (!flags_refresh_start(&rc, err, errlen)) {
		flags_stop();
		return false;
	}
	return true;
}

void flags_stop(void)
{
	struct flags_view builtin;

	flags_refresh_stop();
	memset(&builtin, 0, sizeof(builtin));
	builtin.write_mode = FLAGS_WM_MONGO_ONLY;
	flags_table_free(&builtin);
	flags_have_table = false;
}
