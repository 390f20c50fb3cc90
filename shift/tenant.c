/*
 * tenant.c - tenant resolution (tenant.h): the config section, database
 * mode (the name, or a PCRE2 capture of it) and the request entry points;
 * field mode's scanner is tenant_field.c.
 *
 *   tenant_of_request(info, msg) ─┬─ database mode: tenant_of_db(info->db)
 *                                 │     no regex: the name    regex: group 1
 *                                 │     no match: default (DEFAULT) or UNRESOLVED
 *                                 └─ field mode: the OP_MSG body + sequences
 *                                       in place ──▶ tenant_field_scan
 *   UNRESOLVED ──▶ counted (tandem_tenant_unresolved_total{reason}),
 *                  out = the default tenant or "" (tandem:defaults)
 *
 * The rules are set by tenant_start before the workers run and read-only
 * until tenant_stop.  The regex runs with a match limit; each thread gets
 * its match data once (pthread key), so a request allocates nothing.
 */
#include "tenant.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "errbuf.h"
#include "flags.h"
#include "inspect.h"
#include "metrics.h"
#include "msgdoc.h"
#include "opmsg.h"
#include "tenant_internal.h"

/* Backtracking steps one regex match may take: names are <= 63 bytes. */
#define TENANT_MATCH_LIMIT 100000u

static struct {
	bool field_mode;
	char field[FLAGS_TENANT_NAME_MAX + 1];
	char def[FLAGS_TENANT_NAME_MAX + 1]; /* "" = no default */
	pcre2_code *re;                      /* NULL: the whole name */
	pcre2_match_context *mctx;
	pthread_key_t md_key;
	bool md_key_ok;
} T;

static void free_match_data(void *md)
{
	pcre2_match_data_free(md);
}

static bool compile_regex(const char *src, char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	uint32_t groups = 0;
	PCRE2_UCHAR msg[160];

	T.re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
	if (!T.re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		return errbuf_fail(err, errlen, "key 'tenant.regex': %s at offset %zu", (char *)msg,
				   (size_t)off);
	}
	(void)pcre2_pattern_info(T.re, PCRE2_INFO_CAPTURECOUNT, &groups);
	if (groups != 1)
		return errbuf_fail(err, errlen, "key 'tenant.regex': needs exactly one capture group "
				   "(the tenant), found %u", groups);
	(void)pcre2_jit_compile(T.re, PCRE2_JIT_COMPLETE); /* the interpreter when JIT is missing */
	T.mctx = pcre2_match_context_create(NULL);
	if (!T.mctx || pthread_key_create(&T.md_key, free_match_data) != 0)
		return errbuf_fail(err, errlen, "key 'tenant.regex': out of memory");
	T.md_key_ok = true;
	pcre2_set_match_limit(T.mctx, TENANT_MATCH_LIMIT);
	return true;
}

static bool load(const struct cfg *cfg, char *err, size_t errlen)
{
	T.field_mode = strcmp(cfg->tenant_from, "field") == 0;
	if (strlen(cfg->tenant_default) > FLAGS_TENANT_NAME_MAX)
		return errbuf_fail(err, errlen, "key 'tenant.default': longer than %u bytes",
				   FLAGS_TENANT_NAME_MAX);
	snprintf(T.def, sizeof(T.def), "%s", cfg->tenant_default);
	if (T.field_mode) {
		const char *f = cfg->tenant_field;
		if (!f[0] || f[0] == '$' || strlen(f) > FLAGS_TENANT_NAME_MAX)
			return errbuf_fail(err, errlen, "key 'tenant.field': '%.100s' is not a field name "
					   "(tenant.from is field)", f);
		if (cfg->tenant_regex[0])
			return errbuf_fail(err, errlen, "key 'tenant.regex': only with tenant.from database");
		snprintf(T.field, sizeof(T.field), "%s", f);
		return true;
	}
	return !cfg->tenant_regex[0] || compile_regex(cfg->tenant_regex, err, errlen);
}

bool tenant_start(const struct cfg *cfg, char *err, size_t errlen)
{
	tenant_stop();
	if (!cfg || load(cfg, err, errlen))
		return true;
	tenant_stop();
	return false;
}

void tenant_stop(void)
{
	if (T.md_key_ok) {
		free_match_data(pthread_getspecific(T.md_key)); /* this thread's; others' at their exit */
		pthread_key_delete(T.md_key);
	}
	pcre2_match_context_free(T.mctx);
	pcre2_code_free(T.re);
	memset(&T, 0, sizeof(T));
}

bool tenant_needs_command(void)
{
	return T.field_mode;
}

const char *tenant_reason_to_str(enum tenant_reason why)
{
	static const char *const names[TENANT_R_COUNT] = {"none", "several", "unmatched", "invalid",
							  "too_large"};

	return (unsigned)why < TENANT_R_COUNT ? names[why] : "none";
}

void tenant_count_unresolved(enum tenant_reason why)
{
	static const enum metrics_counter cells[TENANT_R_COUNT] = {
		METRIC_TENANT_UNRESOLVED_NONE, METRIC_TENANT_UNRESOLVED_SEVERAL,
		METRIC_TENANT_UNRESOLVED_UNMATCHED, METRIC_TENANT_UNRESOLVED_INVALID,
		METRIC_TENANT_UNRESOLVED_TOO_LARGE,
	};

	metrics_inc(cells[(unsigned)why < TENANT_R_COUNT ? why : TENANT_R_NONE]);
}

/* UNRESOLVED: out names the flags that still decide capture. */
static enum tenant_status unresolved(char *out, size_t outlen, enum tenant_reason why,
				     enum tenant_reason *why_out)
{
	if (outlen)
		snprintf(out, outlen, "%s", T.def);
	if (why_out)
		*why_out = why;
	return TENANT_UNRESOLVED;
}

static enum tenant_status copy_name(const char *s, size_t n, char *out, size_t outlen,
				    enum tenant_status st, enum tenant_reason *why)
{
	if (n == 0 || n > FLAGS_TENANT_NAME_MAX || n >= outlen)
		return unresolved(out, outlen, TENANT_R_INVALID, why);
	memcpy(out, s, n);
	out[n] = '\0';
	return st;
}

/* Group 1 of the regex over db, or false. */
static bool regex_capture(const char *db, size_t len, size_t *start, size_t *n)
{
	pcre2_match_data *md = pthread_getspecific(T.md_key);

	if (!md) {
		/* Once per thread. */
		if (!(md = pcre2_match_data_create_from_pattern(T.re, NULL)))
			return false;
		(void)pthread_setspecific(T.md_key, md);
	}
	if (pcre2_match(T.re, (PCRE2_SPTR)db, len, 0, 0, md, T.mctx) < 2)
		return false;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	if (ov[2] == PCRE2_UNSET || ov[3] <= ov[2])
		return false;
	*start = ov[2];
	*n = ov[3] - ov[2];
	return true;
}

enum tenant_status tenant_of_db(const char *db, char *out, size_t outlen, enum tenant_reason *why)
{
	size_t len = db ? strnlen(db, FLAGS_TENANT_NAME_MAX + 1) : 0, start, n;

	if (T.field_mode || len == 0)
		return unresolved(out, outlen, TENANT_R_NONE, why);
	if (!T.re)
		return copy_name(db, len, out, outlen, TENANT_MATCHED, why);
	if (regex_capture(db, len, &start, &n))
		return copy_name(db + start, n, out, outlen, TENANT_MATCHED, why);
	if (T.def[0])
		return copy_name(T.def, strlen(T.def), out, outlen, TENANT_DEFAULT, why);
	return unresolved(out, outlen, TENANT_R_UNMATCHED, why);
}

enum tenant_status tenant_of_parts(const bson_t *body, const struct tenant_seq *seq, size_t nseq,
				   char *out, size_t outlen, enum tenant_reason *why)
{
	enum tenant_reason r = TENANT_R_NONE;

	if (!T.field_mode || !body)
		return unresolved(out, outlen, TENANT_R_NONE, why);
	if (tenant_field_scan(T.field, body, seq, nseq, out, outlen, &r) == TENANT_MATCHED)
		return TENANT_MATCHED;
	return unresolved(out, outlen, r, why);
}

static enum tenant_status counted(enum tenant_status st, const enum tenant_reason *why)
{
	if (st == TENANT_UNRESOLVED)
		tenant_count_unresolved(*why);
	return st;
}

enum tenant_status tenant_resolve(const char *db, const bson_t *cmd, char *out, size_t outlen)
{
	enum tenant_reason why = TENANT_R_NONE;
	enum tenant_status st = T.field_mode ? tenant_of_parts(cmd, NULL, 0, out, outlen, &why)
					     : tenant_of_db(db, out, outlen, &why);

	return counted(st, &why);
}

/* Field mode over an uncompressed OP_MSG, read in place. */
static enum tenant_status of_opmsg(const uint8_t *msg, size_t len, char *out, size_t outlen,
				   enum tenant_reason *why)
{
	struct opmsg_view v;
	struct tenant_seq seq[OPMSG_MAX_SEQUENCES];
	bson_t body;

	if (opmsg_parse(msg, len, &v) != WIRE_OK || !bson_init_static(&body, v.body, v.body_len))
		return unresolved(out, outlen, TENANT_R_NONE, why);
	for (unsigned i = 0; i < v.nseq; i++)
		seq[i] = (struct tenant_seq){v.seq[i].identifier, v.seq[i].docs, v.seq[i].docs_len};
	return tenant_of_parts(&body, seq, v.nseq, out, outlen, why);
}

/* tenant_of_request without counting: *why says why when UNRESOLVED. */
static enum tenant_status of_request(const struct msg_info *info, const uint8_t *msg, size_t len,
				     char *out, size_t outlen, enum tenant_reason *why)
{
	enum tenant_status st;
	bson_t cmd;

	if (!T.field_mode)
		return tenant_of_db(info->db, out, outlen, why);
	if (info->opcode != WIRE_OP_MSG) {
		st = unresolved(out, outlen, TENANT_R_NONE, why);
	} else if (!info->compressed) {
		st = of_opmsg(msg, len, out, outlen, why);
	} else if (msgdoc_command(info, msg, len, &cmd)) {
		st = tenant_of_parts(&cmd, NULL, 0, out, outlen, why);
		bson_destroy(&cmd);
	} else {
		st = unresolved(out, outlen, TENANT_R_NONE, why);
	}
	return st;
}

enum tenant_status tenant_of_request(const struct msg_info *info, const uint8_t *msg, size_t len,
				     char *out, size_t outlen)
{
	enum tenant_reason why = TENANT_R_NONE;
	enum tenant_status st = of_request(info, msg, len, out, outlen, &why);

	return counted(st, &why);
}

enum tenant_status tenant_peek_request(const struct msg_info *info, const uint8_t *msg, size_t len,
				       char *out, size_t outlen)
{
	enum tenant_reason why = TENANT_R_NONE;

	return of_request(info, msg, len, out, outlen, &why);
}
