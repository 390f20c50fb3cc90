/*
 * test_cfg.c - configuration table, YAML file, command line, reload, and
 * the typed kinds checked when a value is read: enum words, percentages,
 * the shadow.collections list (string or YAML map), the Redis URL.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/tandem-cfg-XXXXXX");
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

Test(cfg, defaults_need_a_mongo_uri)
{
	struct cfg c;
	char err[256];

	cfg_init(&c);
	cr_assert_str_eq(c.listen, "127.0.0.1:27017");
	cr_assert_eq(c.max_message_bytes, 48000000);
	cr_assert_not(cfg_validate(&c, err, sizeof(err)));
	cr_assert(strstr(err, "mongo_uri"), "error names the key: %s", err);
	cfg_free(&c);
}

Test(cfg, yaml_nested_keys_and_types)
{
	char *path = write_tmp("# comment\nlisten: 127.0.0.1:7000\nmongo_uri: mongodb://h:1\n"
			       "workers: 3\nlog:\n  level: debug\ntls:\n  cert_file: /c\n  key_file: /k\n"
			       "upstream_tls:\n  insecure: yes\n");
	struct cfg c;
	char err[256];

	cfg_init(&c);
	cr_assert(cfg_load_file(&c, path, err, sizeof(err)), "%s", err);
	cr_assert_str_eq(c.listen, "127.0.0.1:7000");
	cr_assert_eq(c.workers, 3);
	cr_assert_str_eq(c.log_level, "debug");
	cr_assert_str_eq(c.tls_cert_file, "/c");
	cr_assert(c.upstream_tls_insecure);
	cr_assert(cfg_validate(&c, err, sizeof(err)), "%s", err);
	cfg_free(&c);
	unlink(path);
	free(path);
}

Test(cfg, errors_name_file_line_and_key)
{
	char *path = write_tmp("mongo_uri: mongodb://h:1\n\nworkers: lots\n");
	struct cfg c;
	char err[256];

	cfg_init(&c);
	cr_assert_not(cfg_load_file(&c, path, err, sizeof(err)));
	cr_assert(strstr(err, ":3:"), "line number: %s", err);
	cr_assert(strstr(err, "'workers'"), "key: %s", err);
	cr_assert(strstr(err, path), "file: %s", err);
	cfg_free(&c);
	unlink(path);
	free(path);
}

Test(cfg, rejects_unknown_keys_ranges_and_bad_addresses)
{
	struct cfg c;
	char err[256];

	cfg_init(&c);
	cr_assert_not(cfg_set(&c, "no_such_key", "1", err, sizeof(err)));
	cr_assert(strstr(err, "unknown key"));
	cr_assert_not(cfg_set(&c, "max_message_bytes", "48000001", err, sizeof(err)));
	cr_assert(strstr(err, "outside"));
	cr_assert_not(cfg_set(&c, "listen", "nocolon", err, sizeof(err)));
	cr_assert_not(cfg_set(&c, "listen", "h:99999", err, sizeof(err)));
	cr_assert(cfg_set(&c, "listen", "[::1]:27017", err, sizeof(err)), "%s", err);
	cr_assert_not(cfg_set(&c, "log.level", "loud", err, sizeof(err)));
	cr_assert_not(cfg_set(&c, "upstream_tls.insecure", "maybe", err, sizeof(err)));
	cfg_free(&c);
}

Test(cfg, yaml_syntax_error_is_reported)
{
	char *path = write_tmp("listen: [unclosed\n");
	struct cfg c;
	char err[256];

	cfg_init(&c);
	cr_assert_not(cfg_load_file(&c, path, err, sizeof(err)));
	cr_assert(strstr(err, path));
	cfg_free(&c);
	unlink(path);
	free(path);
}

Test(cfg, flags_override_the_file)
{
	char *path = write_tmp("mongo_uri: mongodb://file:1\nidle_timeout_ms: 5\n");
	char *argv[] = {"tandem", "--config", path, "--mongo-uri", "mongodb://flag:2",
			"--idle-timeout-ms=7", "--log-level", "warn", NULL};
	struct cfg_overrides ov;
	enum cfg_action act;
	struct cfg c;
	char err[256];

	cr_assert(cfg_parse_args(8, argv, &ov, &act, err, sizeof(err)), "%s", err);
	cr_assert_eq(act, CFG_ACTION_RUN);
	cr_assert(cfg_build(&c, &ov, err, sizeof(err)), "%s", err);
	cr_assert_str_eq(c.mongo_uri, "mongodb://flag:2");
	cr_assert_eq(c.idle_timeout_ms, 7);
	cr_assert_str_eq(c.log_level, "warn");
	cfg_free(&c);
	unlink(path);
	free(path);
}

Test(cfg, unknown_flag_and_missing_value)
{
	char *a1[] = {"tandem", "--frobnicate", "1", NULL};
	char *a2[] = {"tandem", "--listen", NULL};
	struct cfg_overrides ov;
	enum cfg_action act;
	char err[256];

	cr_assert_not(cfg_parse_args(3, a1, &ov, &act, err, sizeof(err)));
	cr_assert(strstr(err, "frobnicate"));
	cr_assert_not(cfg_parse_args(2, a2, &ov, &act, err, sizeof(err)));
	cr_assert(strstr(err, "needs a value"));
}

static int restart_calls;
static void on_restart(const char *key)
{
	(void)key;
	restart_calls++;
}

Test(cfg, reload_applies_only_reloadable_keys)
{
	struct cfg live, fresh;
	char err[256];

	cfg_init(&live);
	cfg_init(&fresh);
	cr_assert(cfg_set(&fresh, "idle_timeout_ms", "1234", err, sizeof(err)));
	cr_assert(cfg_set(&fresh, "log.level", "debug", err, sizeof(err)));
	cr_assert(cfg_set(&fresh, "listen", "127.0.0.1:9", err, sizeof(err)));
	restart_calls = 0;
	cr_assert_eq(cfg_apply_reload(&live, &fresh, on_restart), 2);
	cr_assert_eq(live.idle_timeout_ms, 1234);
	cr_assert_str_eq(live.log_level, "debug");
	cr_assert_str_eq(live.listen, "127.0.0.1:27017", "listen needs a restart");
	cr_assert_eq(restart_calls, 1);
	cfg_free(&live);
	cfg_free(&fresh);
}

Test(cfg, tls_keys_go_together)
{
	struct cfg c;
	char err[256];

	cfg_init(&c);
	cr_assert(cfg_set(&c, "mongo_uri", "mongodb://h:1", err, sizeof(err)));
	cr_assert(cfg_set(&c, "tls.cert_file", "/c", err, sizeof(err)));
	cr_assert_not(cfg_validate(&c, err, sizeof(err)));
	cr_assert(strstr(err, "tls."));
	cfg_free(&c);
}

/* The documented example in conf/ must stay loadable and valid. */
Test(cfg, example_config_loads)
{
	const char *paths[] = {"conf/tandem.yaml", "../conf/tandem.yaml", "../../conf/tandem.yaml"};
	struct cfg c;
	char err[256];
	const char *path = NULL;

	for (size_t i = 0; i < 3 && !path; i++)
		if (access(paths[i], R_OK) == 0)
			path = paths[i];
	cr_assert_not_null(path, "conf/tandem.yaml not found from the test's directory");
	cfg_init(&c);
	cr_assert(cfg_load_file(&c, path, err, sizeof(err)), "%s", err);
	cr_assert(cfg_validate(&c, err, sizeof(err)), "%s", err);
	cr_expect_str_eq(c.default_write_mode, "mongo_only");
	cr_expect_eq(c.dw_batch_max, 500);
	cfg_free(&c);
}

/* cfg_set refuses value for key with an error naming the key and holding want. */
static void set_rejects(const char *key, const char *value, const char *want)
{
	struct cfg c;
	char err[512] = "";
	char named[300];

	cfg_init(&c);
	snprintf(named, sizeof(named), "key '%s': ", key);
	cr_assert_not(cfg_set(&c, key, value, err, sizeof(err)), "%s: '%s' accepted", key, value);
	cr_assert(strstr(err, named) == err, "error '%s' does not start by naming %s", err, key);
	cr_assert(strstr(err, want), "%s='%s': error '%s' does not contain '%s'", key, value, err, want);
	cr_assert_null(strchr(err, '\n'), "one line: %s", err);
	cfg_free(&c);
}

static void set_accepts(const char *key, const char *value)
{
	struct cfg c;
	char err[512] = "";

	cfg_init(&c);
	cr_assert(cfg_set(&c, key, value, err, sizeof(err)), "%s: '%s' refused: %s", key, value, err);
	cfg_free(&c);
}

Test(cfg, enum_keys_take_only_their_words)
{
	static const char *const modes[] = {"mongo_only", "dual_write", "pg_primary", "pg_only"};
	static const char *const fsyncs[] = {"always", "batch", "never"};

	for (size_t i = 0; i < 4; i++)
		set_accepts("defaults.write_mode", modes[i]);
	for (size_t i = 0; i < 3; i++)
		set_accepts("dualwrite.spool_fsync", fsyncs[i]);
	static const char *const bad[][3] = {
		{"defaults.write_mode", "both", "'both' is not one of mongo_only, dual_write, pg_primary, pg_only"},
		{"defaults.write_mode", "Dual_Write", "is not one of"},
		{"defaults.write_mode", "dual_write ", "is not one of"},
		{"defaults.write_mode", "", "'' is not one of"},
		{"dualwrite.spool_fsync", "sometimes", "'sometimes' is not one of always, batch, never"},
		{"log.level", "loud", "'loud' is not debug, info, warn or error"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		set_rejects(bad[i][0], bad[i][1], bad[i][2]);
}

Test(cfg, percentages_are_plain_decimals_from_0_to_100)
{
	static const char *const good[] = {"0", "100", "12.5", "0.25", "100.0", ".5"};
	static const char *const bad[] = {"1e1", "1E1", "nan", "NaN", "inf", "-inf", "-1", "-0", "+5",
					  "100.5", "101", " 5", "5 ", "", "0x10", "5%", "1.2.3", "ten"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		set_accepts("defaults.read_pct", good[i]);
		set_accepts("defaults.shadow_pct", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_rejects("defaults.read_pct", bad[i], "is not a percentage from 0 to 100");
		set_rejects("defaults.shadow_pct", bad[i], "is not a percentage from 0 to 100");
	}
}

Test(cfg, a_bad_percentage_fails_the_file_at_its_line)
{
	char *path = write_tmp("mongo_uri: mongodb://h:1\ndefaults:\n  write_mode: dual_write\n"
			       "  read_pct: 1e1\n");
	struct cfg c;
	char err[512];

	cfg_init(&c);
	cr_assert_not(cfg_load_file(&c, path, err, sizeof(err)));
	cr_assert(strstr(err, ":4: key 'defaults.read_pct': '1e1' is not a percentage"), "%s", err);
	cfg_free(&c);
	unlink(path);
	free(path);
}

Test(cfg, a_bad_percentage_or_mode_fails_the_command_line)
{
	char *a1[] = {"tandem", "--mongo-uri", "mongodb://h:1", "--defaults-read-pct", "1e1", NULL};
	char *a2[] = {"tandem", "--mongo-uri", "mongodb://h:1", "--defaults-write-mode=both", NULL};
	char *a3[] = {"tandem", "--mongo-uri", "mongodb://h:1", "--shadow-collections", "orders=nan", NULL};
	char **argvs[] = {a1, a2, a3};
	const int argcs[] = {5, 4, 5};
	const char *want[] = {"command line: key 'defaults.read_pct': '1e1' is not a percentage",
			      "command line: key 'defaults.write_mode': 'both' is not one of",
			      "command line: key 'shadow.collections': item 1 'orders=nan'"};
	struct cfg_overrides ov;
	enum cfg_action act;
	struct cfg c;
	char err[512];

	for (size_t i = 0; i < 3; i++) {
		cr_assert(cfg_parse_args(argcs[i], argvs[i], &ov, &act, err, sizeof(err)), "%s", err);
		cr_assert_not(cfg_build(&c, &ov, err, sizeof(err)));
		cr_assert(strstr(err, want[i]), "'%s' does not contain '%s'", err, want[i]);
		cfg_free(&c);
	}
}

/* Load text as a config file; returns cfg_load_file's result, err filled. */
static bool load_text(struct cfg *c, const char *text, char *err, size_t errlen)
{
	char *path = write_tmp(text);
	bool ok;

	cfg_init(c);
	ok = cfg_load_file(c, path, err, errlen);
	unlink(path);
	free(path);
	return ok;
}

Test(cfg, shadow_collections_as_a_map)
{
	struct cfg c;
	char err[512] = "";

	cr_assert(load_text(&c, "shadow:\n  collections:\n    orders: 10\n    users: 0.5\n"
				"  log_rate: 5\n", err, sizeof(err)), "%s", err);
	cr_assert_str_eq(c.sh_collections, "orders=10,users=0.5");
	cr_assert_eq(c.sh_log_rate, 5, "keys after the map are still read");
	cfg_free(&c);
	cr_assert(load_text(&c, "shadow: {collections: {orders: 10, \"a.b\": 100}}\n", err, sizeof(err)),
		  "%s", err);
	cr_assert_str_eq(c.sh_collections, "orders=10,a.b=100");
	cfg_free(&c);
	cr_assert(load_text(&c, "shadow: {collections: {}}\n", err, sizeof(err)), "%s", err);
	cr_assert_str_eq(c.sh_collections, "");
	cfg_free(&c);
}

Test(cfg, shadow_collections_map_errors_name_the_key)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{"shadow:\n  collections:\n    orders: 1e1\n",
		 ":2: key 'shadow.collections': item 1 'orders=1e1': '1e1' is not a percentage"},
		{"shadow:\n  collections:\n    orders: 10\n    users: 101\n", "'101' is not a percentage"},
		{"shadow:\n  collections:\n    orders: -1\n", "'-1' is not a percentage"},
		{"shadow:\n  collections:\n    orders: .nan\n", "'.nan' is not a percentage"},
		{"shadow:\n  collections:\n    orders: 1\n    orders: 2\n", "'orders' is given twice"},
		{"shadow:\n  collections:\n    \"a,b\": 1\n",
		 ":3: key 'shadow.collections': name 'a,b' is empty or has ',', '='"},
		{"shadow:\n  collections:\n    \"a=b\": 1\n", "name 'a=b'"},
		{"shadow:\n  collections:\n    \" a\": 1\n", "name ' a'"},
		{"shadow:\n  collections:\n    orders: {x: 1}\n",
		 ":3: key 'shadow.collections.orders': expected a single value"},
		{"shadow:\n  collections:\n    orders: [1]\n", "expected a single value"},
		{"shadow:\n  collections: [orders]\n", "key 'shadow.collections': expected a single value"},
	};
	struct cfg c;
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_not(load_text(&c, bad[i].text, err, sizeof(err)), "accepted: %s", bad[i].text);
		cr_assert(strstr(err, bad[i].want), "%s: error '%s' does not contain '%s'", bad[i].text, err,
			  bad[i].want);
		cfg_free(&c);
	}
}

Test(cfg, shadow_collections_string_form_is_checked_too)
{
	struct cfg c;
	char err[512] = "";

	static const char *const bad[][2] = {
		{"orders=1e1", "item 1 'orders=1e1': '1e1' is not a percentage"},
		{"orders", "expected NAME=PERCENT"},
		{"a=1,a=2", "'a' is given twice"},
	};

	set_accepts("shadow.collections", "orders=10, users=0.5");
	set_accepts("shadow.collections", "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		set_rejects("shadow.collections", bad[i][0], bad[i][1]);
	cr_assert_not(load_text(&c, "shadow:\n  collections: \"orders=10,users=nan\"\n", err, sizeof(err)));
	cr_assert(strstr(err, ":2: key 'shadow.collections': item 2 'users=nan'"), "%s", err);
	cfg_free(&c);
}

Test(cfg, redis_url_is_checked_when_read)
{
	static const char *const good[] = {"", "redis://127.0.0.1:6379/2", "redis://:pw@[::1]:6380/3"};
	static const char *const bad[][2] = {
		{"127.0.0.1:6379", "redis URL '127.0.0.1:6379': expected redis://"},
		{"redis://h:0", "port '0'"},
		{"redis://h/abc", "database 'abc'"},
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		set_accepts("redis", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		set_rejects("redis", bad[i][0], bad[i][1]);
}
