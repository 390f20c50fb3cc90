/*
 * cfg_args.c - the command line: --config FILE, one --flag per config key
 * (dots and underscores become dashes: log.level -> --log-level), --help,
 * --version; and cfg_build, which layers defaults, file and flags.
 */
#include <stdio.h>
#include <string.h>

#include "cfg.h"

/* Map a flag name ("log-level") to its key ("log.level"), or NULL. */
static const char *flag_to_key(const char *flag)
{
	const char *key, *def, *help;
	bool reloadable;

	for (size_t i = 0; (key = cfg_key_at(i, &def, &help, &reloadable)); i++) {
		size_t j = 0;
		for (; key[j] && flag[j]; j++) {
			char k = key[j] == '.' || key[j] == '_' ? '-' : key[j];
			if (k != flag[j])
				break;
		}
		if (!key[j] && !flag[j])
			return key;
	}
	return NULL;
}

bool cfg_parse_args(int argc, char **argv, struct cfg_overrides *ov, enum cfg_action *action,
		    char *err, size_t errlen)
{
	memset(ov, 0, sizeof(*ov));
	*action = CFG_ACTION_RUN;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			*action = CFG_ACTION_HELP;
			return true;
		}
		if (strcmp(arg, "--version") == 0) {
			*action = CFG_ACTION_VERSION;
			return true;
		}
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "argument '%s': expected --option", arg);
			return false;
		}
		char name[128];
		const char *value, *eq = strchr(arg, '=');
		size_t nlen = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		if (nlen >= sizeof(name)) {
			snprintf(err, errlen, "option '%.40s...': unknown option", arg);
			return false;
		}
		memcpy(name, arg + 2, nlen);
		name[nlen] = '\0';
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			snprintf(err, errlen, "option '--%s': needs a value", name);
			return false;
		}
		if (strcmp(name, "config") == 0) {
			ov->config_path = value;
			continue;
		}
		const char *key = flag_to_key(name);
		if (!key) {
			snprintf(err, errlen, "option '--%s': unknown option (see --help)", name);
			return false;
		}
		if (ov->n == sizeof(ov->keys) / sizeof(ov->keys[0])) {
			snprintf(err, errlen, "option '--%s': too many options", name);
			return false;
		}
		ov->keys[ov->n] = key;
		ov->values[ov->n++] = value;
	}
	return true;
}

bool cfg_build(struct cfg *c, const struct cfg_overrides *ov, char *err, size_t errlen)
{
	cfg_init(c);
	if (ov->config_path && !cfg_load_file(c, ov->config_path, err, errlen))
		return false;
	for (size_t i = 0; i < ov->n; i++) {
		char e[300];
		if (!cfg_set(c, ov->keys[i], ov->values[i], e, sizeof(e))) {
			snprintf(err, errlen, "command line: %s", e);
			return false;
		}
	}
	return cfg_validate(c, err, errlen);
}

void cfg_print_help(FILE *out, const char *prog)
{
	const char *key, *def, *help;
	bool reloadable;

	fprintf(out,
		"Usage: %s --config FILE [--option VALUE ...]\n\n"
		"tandem speaks the MongoDB wire protocol to applications and forwards\n"
		"everything to MongoDB.  Every option is also a key of the YAML config file\n"
		"(nested: log.level is `log: {level: ...}`); flags override the file.\n\n"
		"  --config FILE                  YAML configuration file\n"
		"  --help, --version\n\n",
		prog);
	for (size_t i = 0; (key = cfg_key_at(i, &def, &help, &reloadable)); i++) {
		char flag[128];
		size_t j = 0;
		for (; key[j] && j < sizeof(flag) - 1; j++)
			flag[j] = key[j] == '.' || key[j] == '_' ? '-' : key[j];
		flag[j] = '\0';
		fprintf(out, "  --%-28s %s%s\n  %-30s   key %s, default \"%s\"\n", flag, help,
			reloadable ? " (reloadable)" : "", "", key, def);
	}
	fprintf(out, "\nSIGHUP reloads the reloadable keys; SIGTERM drains and exits.\n"
		     "A bad option or config prints one line naming the key and exits 2.\n");
}
