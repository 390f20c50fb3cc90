/*
 * match_regex.c - $regex / BSON regex values for the matcher, with PCRE2
 * (8-bit, UTF mode like MongoDB's PCRE).
 *
 * Options: i (caseless), m (multiline), s (dotall), x (extended); u is
 * accepted and ignored (UTF is always on).  Anything else is an error, as
 * is a NUL byte inside a pattern.  A match that hits PCRE2's backtracking
 * limit is MATCH_UNSUPPORTED rather than a guess.  Each compiled regex owns
 * its code, match data and match context; match_regex_free releases them.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <string.h>

#include "match_internal.h"

#define MATCH_REGEX_MATCH_LIMIT 1000000u

static enum match_status regex_flags(const char *opts, uint32_t *flags, bson_error_t *err)
{
	*flags = PCRE2_UTF;
	for (const char *p = opts; p && *p; p++) {
		switch (*p) {
		case 'i': *flags |= PCRE2_CASELESS; break;
		case 'm': *flags |= PCRE2_MULTILINE; break;
		case 's': *flags |= PCRE2_DOTALL; break;
		case 'x': *flags |= PCRE2_EXTENDED; break;
		case 'u': break;
		default: return match_fail(err, MATCH_ERROR, "invalid flag in regex options: %c", *p);
		}
	}
	return MATCH_YES;
}

enum match_status match_regex_compile(struct match_regex *re, const char *pat, uint32_t patlen, const char *opts,
				      bson_error_t *err)
{
	uint32_t flags;
	int ecode;
	PCRE2_SIZE eoff;

	memset(re, 0, sizeof *re);
	if (memchr(pat, '\0', patlen))
		return match_fail(err, MATCH_ERROR, "Regular expression cannot contain an embedded null byte");
	enum match_status st = regex_flags(opts, &flags, err);
	if (st != MATCH_YES)
		return st;
	re->pattern = pat;
	re->pattern_len = patlen;
	re->options = opts ? opts : "";
	re->code = pcre2_compile((PCRE2_SPTR)pat, patlen, flags, &ecode, &eoff, NULL);
	if (!re->code) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ecode, msg, sizeof msg);
		return match_fail(err, MATCH_ERROR, "Regular expression is invalid: %s", (const char *)msg);
	}
	re->mdata = pcre2_match_data_create_from_pattern(re->code, NULL);
	re->mctx = pcre2_match_context_create(NULL);
	if (!re->mdata || !re->mctx) {
		match_regex_free(re);
		return match_fail(err, MATCH_UNSUPPORTED, "out of memory compiling a regex");
	}
	pcre2_set_match_limit(re->mctx, MATCH_REGEX_MATCH_LIMIT);
	return MATCH_YES;
}

enum match_status match_regex_from_value(struct match_regex *re, const bson_value_t *v, const char *opts,
					 bson_error_t *err)
{
	memset(re, 0, sizeof *re);
	if (v->value_type == BSON_TYPE_REGEX) {
		const char *o = v->value.v_regex.options;
		if (opts && o && *o)
			return match_fail(err, MATCH_ERROR, "options set in both $regex and $options");
		const char *p = v->value.v_regex.regex;
		return match_regex_compile(re, p, (uint32_t)strlen(p), opts ? opts : o, err);
	}
	if (v->value_type == BSON_TYPE_UTF8)
		return match_regex_compile(re, v->value.v_utf8.str, v->value.v_utf8.len, opts, err);
	return match_fail(err, MATCH_ERROR, "$regex has to be a string");
}

static enum match_status regex_run(struct match_regex *re, const char *s, size_t len, bson_error_t *err)
{
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->mdata, re->mctx);
	if (rc >= 0)
		return MATCH_YES;
	if (rc == PCRE2_ERROR_NOMATCH)
		return MATCH_NO;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
		return match_fail(err, MATCH_UNSUPPORTED, "regex match limit exceeded for /%s/", re->pattern);
	return MATCH_NO; /* invalid UTF-8 in the subject: not a match */
}

enum match_status match_regex_test(struct match_regex *re, const bson_value_t *v, bson_error_t *err)
{
	switch (v->value_type) {
	case BSON_TYPE_UTF8:
		return regex_run(re, v->value.v_utf8.str, v->value.v_utf8.len, err);
	case BSON_TYPE_SYMBOL:
		return regex_run(re, v->value.v_symbol.symbol, v->value.v_symbol.len, err);
	case BSON_TYPE_REGEX: {
		const char *p = v->value.v_regex.regex;
		size_t n = strlen(p);
		bool same = n == re->pattern_len && memcmp(p, re->pattern, n) == 0 &&
			    strcmp(v->value.v_regex.options ? v->value.v_regex.options : "", re->options) == 0;
		return same ? MATCH_YES : MATCH_NO;
	}
	default:
		return MATCH_NO;
	}
}

void match_regex_free(struct match_regex *re)
{
	pcre2_match_context_free(re->mctx);
	pcre2_match_data_free(re->mdata);
	pcre2_code_free(re->code);
	memset(re, 0, sizeof *re);
}
