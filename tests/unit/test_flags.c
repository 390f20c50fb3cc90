/*
 * test_flags.c - the pure parts of the flag cache: value parsers (write
 * modes, phases; percentages are test_pct.c's), flags_layer_set on good,
 * bad and unknown fields, the field-wise precedence of flags_merge (tenant over
 * tandem:defaults over config over built-in) with the reported sources,
 * the config defaults, and the no-Redis mode of flags_start/flags_get (no
 * thread, config defaults for every tenant).  The Redis URL has its own
 * suite (test_redisurl.c).
 * Everything that needs a Redis is in tests/integration/test_flags.py.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cfg.h"
#include "flags.h"

Test(flags, write_modes_round_trip_and_reject_others)
{
	enum flags_write_mode m;

	for (int i = FLAGS_WM_MONGO_ONLY; i <= FLAGS_WM_PG_ONLY; i++) {
		const char *s = flags_write_mode_to_str((enum flags_write_mode)i);
		cr_assert(flags_write_mode_parse(s, &m), "%s", s);
		cr_assert_eq(m, i);
	}
	cr_assert_str_eq(flags_write_mode_to_str(FLAGS_WM_DUAL_WRITE), "dual_write");
	cr_assert_not(flags_write_mode_parse("bogus", &m));
	cr_assert_not(flags_write_mode_parse("Dual_Write", &m));
	cr_assert_not(flags_write_mode_parse("dual_write ", &m));
	cr_assert_not(flags_write_mode_parse("", &m));
	cr_assert_not(flags_write_mode_parse(NULL, &m));
	cr_assert_not(flags_write_mode_parse_n("pg_onlyX", 8, &m));
	cr_assert(flags_write_mode_parse_n("pg_onlyX", 7, &m) && m == FLAGS_WM_PG_ONLY);
}

Test(flags, phases)
{
	static const char *const ok[] = {"planning", "backfill",   "dual_write", "shadow",
					 "shifting", "pg_primary", "cleanup"};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert(flags_phase_valid(ok[i], strlen(ok[i])), "%s", ok[i]);
	cr_assert_not(flags_phase_valid("done", 4));
	cr_assert_not(flags_phase_valid("", 0));
	cr_assert_not(flags_phase_valid("shadowing", 9));
}

static enum flags_set_result set(struct flags_layer *l, const char *name, const char *val,
				 enum flags_field *f)
{
	return flags_layer_set(l, name, strlen(name), val, strlen(val), f);
}

Test(flags, layer_set_marks_only_valid_fields)
{
	struct flags_layer l = {0};
	enum flags_field f = FLAGS_F_COUNT;

	cr_assert_eq(set(&l, "read_pct", "25", &f), FLAGS_SET_OK);
	cr_assert_eq(f, FLAGS_F_READ_PCT);
	cr_assert_eq(set(&l, "write_mode", "bogus", &f), FLAGS_SET_INVALID);
	cr_assert_eq(f, FLAGS_F_WRITE_MODE);
	cr_assert_eq(set(&l, "shadow_pct", "150", &f), FLAGS_SET_INVALID);
	cr_assert_eq(set(&l, "phase", "shadow", &f), FLAGS_SET_OK);
	cr_assert_eq(set(&l, "updated_by", "alice", &f), FLAGS_SET_UNKNOWN_FIELD);
	cr_assert_eq(l.set, (1u << FLAGS_F_READ_PCT) | (1u << FLAGS_F_PHASE));
	cr_assert_eq(l.read_pct, 25.0);
	cr_assert_str_eq(l.phase, "shadow");
}

Test(flags, layer_set_invalid_keeps_an_earlier_valid_value)
{
	struct flags_layer l = {0};
	enum flags_field f;

	cr_assert_eq(set(&l, "read_pct", "10", &f), FLAGS_SET_OK);
	cr_assert_eq(set(&l, "read_pct", "abc", &f), FLAGS_SET_INVALID);
	cr_assert(l.set & (1u << FLAGS_F_READ_PCT));
	cr_assert_eq(l.read_pct, 10.0);
}

static struct flags_view base_view(void)
{
	struct flags_view b = {.write_mode = FLAGS_WM_DUAL_WRITE, .read_pct = 1, .shadow_pct = 2,
			       .version = 7};
	return b;
}

Test(flags, merge_is_field_wise_tenant_over_defaults_over_base)
{
	struct flags_layer t = {0}, d = {0};
	struct flags_view base = base_view(), out;
	enum flags_source src[FLAGS_F_COUNT];
	enum flags_field f;

	cr_assert_eq(set(&t, "shadow_pct", "30", &f), FLAGS_SET_OK);
	cr_assert_eq(set(&d, "write_mode", "pg_primary", &f), FLAGS_SET_OK);
	cr_assert_eq(set(&d, "shadow_pct", "99", &f), FLAGS_SET_OK);
	flags_merge(&t, &d, &base, FLAGS_SRC_CONFIG, &out, src);
	cr_assert_eq(out.shadow_pct, 30.0);            /* tenant */
	cr_assert_eq(out.write_mode, FLAGS_WM_PG_PRIMARY); /* tandem:defaults */
	cr_assert_eq(out.read_pct, 1.0);               /* config */
	cr_assert_str_eq(out.phase, "");               /* nobody */
	cr_assert_eq(out.version, 7);
	cr_assert_eq(src[FLAGS_F_SHADOW_PCT], FLAGS_SRC_TENANT);
	cr_assert_eq(src[FLAGS_F_WRITE_MODE], FLAGS_SRC_DEFAULTS);
	cr_assert_eq(src[FLAGS_F_READ_PCT], FLAGS_SRC_CONFIG);
	cr_assert_eq(src[FLAGS_F_PHASE], FLAGS_SRC_CONFIG);
}

Test(flags, merge_invalid_tenant_value_falls_to_defaults_then_base)
{
	struct flags_layer t = {0}, d = {0};
	struct flags_view base = base_view(), out;
	enum flags_source src[FLAGS_F_COUNT];
	enum flags_field f;

	cr_assert_eq(set(&t, "write_mode", "bogus", &f), FLAGS_SET_INVALID);
	cr_assert_eq(set(&t, "read_pct", "150", &f), FLAGS_SET_INVALID);
	cr_assert_eq(set(&d, "write_mode", "pg_only", &f), FLAGS_SET_OK);
	cr_assert_eq(set(&d, "read_pct", "abc", &f), FLAGS_SET_INVALID);
	flags_merge(&t, &d, &base, FLAGS_SRC_CONFIG, &out, src);
	cr_assert_eq(out.write_mode, FLAGS_WM_PG_ONLY);
	cr_assert_eq(src[FLAGS_F_WRITE_MODE], FLAGS_SRC_DEFAULTS);
	cr_assert_eq(out.read_pct, 1.0);
	cr_assert_eq(src[FLAGS_F_READ_PCT], FLAGS_SRC_CONFIG);
}

Test(flags, merge_with_null_layers_is_the_base)
{
	struct flags_view base = base_view(), out;
	enum flags_source src[FLAGS_F_COUNT];

	flags_merge(NULL, NULL, &base, FLAGS_SRC_BUILTIN, &out, src);
	cr_assert_eq(out.write_mode, base.write_mode);
	cr_assert_eq(out.read_pct, base.read_pct);
	cr_assert_eq(src[FLAGS_F_WRITE_MODE], FLAGS_SRC_BUILTIN);
	flags_merge(NULL, NULL, &base, FLAGS_SRC_BUILTIN, &out, NULL); /* src optional */
}

Test(flags, base_from_cfg)
{
	struct cfg c;
	struct flags_view v;
	char err[256];

	cr_assert(flags_base_from_cfg(NULL, &v, err, sizeof(err)));
	cr_assert_eq(v.write_mode, FLAGS_WM_MONGO_ONLY);
	cr_assert_eq(v.read_pct, 0.0);
	cr_assert_eq(v.shadow_pct, 0.0);
	cfg_init(&c);
	cr_assert(cfg_set(&c, "defaults.write_mode", "dual_write", err, sizeof(err)));
	cr_assert(cfg_set(&c, "defaults.read_pct", "2.5", err, sizeof(err)));
	cr_assert(flags_base_from_cfg(&c, &v, err, sizeof(err)));
	cr_assert_eq(v.write_mode, FLAGS_WM_DUAL_WRITE);
	cr_assert_eq(v.read_pct, 2.5);
	free(c.default_shadow_pct);
	c.default_shadow_pct = strdup("101");
	cr_assert_not(flags_base_from_cfg(&c, &v, err, sizeof(err)));
	cr_assert(strstr(err, "defaults.shadow_pct"), "%s", err);
	cfg_free(&c);
}

Test(flags, without_redis_every_tenant_gets_the_config_defaults)
{
	struct cfg c;
	struct flags_view v;
	struct flags_stats st;
	char err[256];

	cfg_init(&c);
	cr_assert(cfg_set(&c, "defaults.shadow_pct", "7", err, sizeof(err)));
	cr_assert(flags_start("", &c, err, sizeof(err)), "%s", err);
	flags_get("acme", &v);
	cr_assert_eq(v.shadow_pct, 7.0);
	cr_assert_eq(v.write_mode, FLAGS_WM_MONGO_ONLY);
	cr_assert_eq(v.version, 0);
	flags_get(NULL, &v);
	cr_assert_eq(v.shadow_pct, 7.0);
	flags_stats(&st);
	cr_assert_eq(st.tenants, 0, "no table without Redis");
	cr_assert_eq(st.last_ok_ms, 0);
	flags_stop();
	flags_get("acme", &v);
	cr_assert_eq(v.shadow_pct, 0.0, "after stop: built-in defaults");
	cfg_free(&c);
}

Test(flags, start_rejects_a_bad_url_and_keeps_running_nothing)
{
	char err[256];

	cr_assert_not(flags_start("localhost:6379", NULL, err, sizeof(err)));
	cr_assert(strstr(err, "redis URL"), "%s", err);
}
