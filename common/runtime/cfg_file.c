/*
 * cfg_file.c - read a YAML configuration file into struct cfg.
 *
 * The file is a mapping of scalars, possibly nested; nested keys are joined
 * with dots ("tls" / "cert_file" -> "tls.cert_file") and handed to cfg_set,
 * so the table in cfg.c is the only place that knows keys and types.  The
 * mapping under a list key (cfg_key_is_list) is that key's value instead:
 * `collections: {orders: 10}` under shadow is "orders=10" for cfg_set.
 * Every error names the file, the line and the key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cfg.h"

#define CFG_MAX_DEPTH 4
#define CFG_KEY_MAX 256

struct cfg_reader {
	yaml_parser_t parser;
	const char *path;
	char *err;
	size_t errlen;
	struct cfg *c;
};

static bool reader_fail(struct cfg_reader *r, size_t line, const char *msg)
{
	snprintf(r->err, r->errlen, "%s:%zu: %s", r->path, line, msg);
	return false;
}

static bool reader_next(struct cfg_reader *r, yaml_event_t *ev)
{
	if (yaml_parser_parse(&r->parser, ev))
		return true;
	char msg[200];
	snprintf(msg, sizeof(msg), "YAML syntax: %s",
		 r->parser.problem ? r->parser.problem : "unknown error");
	return reader_fail(r, r->parser.problem_mark.line + 1, msg);
}

/* One NAME: VALUE pair of a list key's mapping appended to m as
 * ",NAME=VALUE"; NAME must survive the join (no ',' '=' or edge blanks). */
static bool read_list_pair(struct cfg_reader *r, const char *key, yaml_event_t *name, FILE *m)
{
	yaml_event_t val;
	size_t line = name->start_mark.line + 1;
	char msg[CFG_KEY_MAX + 200];

	if (name->type != YAML_SCALAR_EVENT)
		return reader_fail(r, line, "keys must be plain words");
	const char *n = (const char *)name->data.scalar.value;
	size_t nl = name->data.scalar.length;
	if (!nl || strcspn(n, ",=") != nl || strchr(" \t", n[0]) || strchr(" \t", n[nl - 1])) {
		snprintf(msg, sizeof(msg), "key '%s': name '%.100s' is empty or has ',', '=' or edge "
			 "spaces", key, n);
		return reader_fail(r, line, msg);
	}
	if (!reader_next(r, &val))
		return false;
	bool ok = val.type == YAML_SCALAR_EVENT;
	if (ok)
		fprintf(m, ",%s=%s", n, (const char *)val.data.scalar.value);
	yaml_event_delete(&val);
	if (!ok) {
		snprintf(msg, sizeof(msg), "key '%s.%.100s': expected a single value", key, n);
		return reader_fail(r, line, msg);
	}
	return true;
}

/* A list key's mapping (its MAPPING_START consumed), joined and set. */
static bool read_list(struct cfg_reader *r, const char *key, size_t line)
{
	yaml_event_t name;
	char *joined = NULL, e[600];
	size_t len = 0;
	FILE *m = open_memstream(&joined, &len);
	bool ok = m != NULL;

	if (!ok)
		return reader_fail(r, line, "out of memory");
	while (ok && (ok = reader_next(r, &name)) && name.type != YAML_MAPPING_END_EVENT) {
		ok = read_list_pair(r, key, &name, m);
		yaml_event_delete(&name);
	}
	if (ok)
		yaml_event_delete(&name);
	if (fclose(m) != 0 && ok)
		ok = reader_fail(r, line, "out of memory");
	if (ok && !(ok = cfg_set(r->c, key, len ? joined + 1 : "", e, sizeof(e))))
		reader_fail(r, line, e);
	free(joined);
	return ok;
}

/* Read one mapping's key/value pairs (the MAPPING_START is consumed). */
static bool read_mapping(struct cfg_reader *r, const char *prefix, int depth)
{
	yaml_event_t key, val;

	for (;;) {
		if (!reader_next(r, &key))
			return false;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			return true;
		}
		size_t line = key.start_mark.line + 1;
		if (key.type != YAML_SCALAR_EVENT) {
			yaml_event_delete(&key);
			return reader_fail(r, line, "keys must be plain words");
		}
		char full[CFG_KEY_MAX];
		int n = snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "",
				 (const char *)key.data.scalar.value);
		yaml_event_delete(&key);
		if (n < 0 || (size_t)n >= sizeof(full))
			return reader_fail(r, line, "key too long");
		if (!reader_next(r, &val))
			return false;

		bool ok = true;
		char msg[400];
		if (val.type == YAML_SCALAR_EVENT) {
			char e[300];
			ok = cfg_set(r->c, full, (const char *)val.data.scalar.value, e, sizeof(e));
			if (!ok)
				reader_fail(r, line, e);
		} else if (val.type == YAML_MAPPING_START_EVENT && cfg_key_is_list(full)) {
			ok = read_list(r, full, line);
		} else if (val.type == YAML_MAPPING_START_EVENT && depth < CFG_MAX_DEPTH) {
			ok = read_mapping(r, full, depth + 1);
		} else {
			snprintf(msg, sizeof(msg), "key '%s': expected a single value", full);
			ok = reader_fail(r, line, msg);
		}
		yaml_event_delete(&val);
		if (!ok)
			return false;
	}
}

/* Skip the stream/document envelope, read the top mapping, expect the end. */
static bool read_document(struct cfg_reader *r)
{
	yaml_event_t ev;

	for (;;) {
		if (!reader_next(r, &ev))
			return false;
		yaml_event_type_t t = ev.type;
		size_t line = ev.start_mark.line + 1;
		yaml_event_delete(&ev);
		switch (t) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			continue;
		case YAML_STREAM_END_EVENT:
			return true; /* an empty file is all defaults */
		case YAML_MAPPING_START_EVENT:
			if (!read_mapping(r, "", 0))
				return false;
			continue;
		default:
			return reader_fail(r, line, "the configuration must be a mapping of keys");
		}
	}
}

bool cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
	struct cfg_reader r = {.path = path, .err = err, .errlen = errlen, .c = c};
	FILE *f = fopen(path, "rb");

	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return false;
	}
	yaml_parser_initialize(&r.parser);
	yaml_parser_set_input_file(&r.parser, f);
	bool ok = read_document(&r);
	yaml_parser_delete(&r.parser);
	fclose(f);
	return ok;
}
