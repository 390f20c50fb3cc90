/*
 * test_cfg.c - configuration table, YAML file, command line, reload.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
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

Test(cfg, write_mode_and_percentages_are_checked)
{
	struct cfg c;
	char err[256];

	cfg_init(&c);
	cr_assert(cfg_set(&c, "mongo_uri", "mongodb://x:1", err, sizeof(err)));
	cr_assert(cfg_set(&c, "defaults.write_mode", "dual_write", err, sizeof(err)));
	cr_assert(cfg_validate(&c, err, sizeof(err)), "%s", err);
	cr_assert(cfg_set(&c, "defaults.write_mode", "both", err, sizeof(err)));
	cr_assert_not(cfg_validate(&c, err, sizeof(err)));
	cr_expect(strstr(err, "defaults.write_mode"), "%s", err);
	cr_assert(cfg_set(&c, "defaults.write_mode", "mongo_only", err, sizeof(err)));
	cr_assert(cfg_set(&c, "defaults.shadow_pct", "100.5", err, sizeof(err)));
	cr_assert_not(cfg_validate(&c, err, sizeof(err)));
	cr_expect(strstr(err, "defaults.shadow_pct"), "%s", err);
	cfg_free(&c);
}
