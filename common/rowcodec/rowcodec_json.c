/*
 * rowcodec_json.c - strict JSON parser into a jnode tree, for the text
 * PostgreSQL returns from a jsonb column (untrusted: it may be anything).
 *
 *   text --jp_value--> jp_object / jp_array / jp_string / jp_number / word
 *
 * Invariants: reads never pass jp->end (the input need not be
 * NUL-terminated); nesting is limited to ROWCODEC_MAX_JSON_DEPTH; strings
 * are decoded and must be valid UTF-8 without U+0000 (as jsonb); numbers
 * keep their token text (at most JP_MAX_NUMBER chars) for the decoder.
 */
#include "rowcodec_internal.h"

#include <string.h>

#include "utf8.h"

struct jp {
	const char *p, *start, *end;
	bson_error_t *err;
};

#define JP_FAIL(jp, ...) \
	(ERR((jp)->err, ROWCODEC_ERR_SYNTAX, __VA_ARGS__), false)

void rowcodec_jnode_free(struct jnode *n)
{
	if (n->t == J_ARR)
		for (size_t i = 0; i < n->n; i++)
			rowcodec_jnode_free(&n->items[i]);
	if (n->t == J_OBJ)
		for (size_t i = 0; i < n->n; i++) {
			bson_free(n->mem[i].key);
			rowcodec_jnode_free(&n->mem[i].val);
		}
	bson_free(n->s);
	bson_free(n->items);
	bson_free(n->mem);
	memset(n, 0, sizeof *n);
}

static void jp_ws(struct jp *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
				   *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

static size_t jp_off(const struct jp *jp)
{
	return (size_t)(jp->p - jp->start);
}

static bool jp_hex4(struct jp *jp, uint32_t *v)
{
	*v = 0;
	if (jp->end - jp->p < 4)
		return JP_FAIL(jp, "truncated \\u escape at %zu", jp_off(jp));
	for (int i = 0; i < 4; i++) {
		char c = *jp->p++;
		int d = c >= '0' && c <= '9' ? c - '0'
		      : c >= 'a' && c <= 'f' ? c - 'a' + 10
		      : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return JP_FAIL(jp, "bad \\u escape at %zu", jp_off(jp));
		*v = *v << 4 | (uint32_t)d;
	}
	return true;
}

/* \uXXXX (with surrogate pairs) appended as UTF-8; U+0000 is refused, as
 * jsonb does. */
static bool jp_unicode(struct jp *jp, struct strbuf *sb)
{
	uint32_t cp, lo;
	char u[4];
	int n;

	if (!jp_hex4(jp, &cp))
		return false;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return JP_FAIL(jp, "lone low surrogate at %zu", jp_off(jp));
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (jp->end - jp->p < 2 || jp->p[0] != '\\' || jp->p[1] != 'u')
			return JP_FAIL(jp, "lone high surrogate at %zu", jp_off(jp));
		jp->p += 2;
		if (!jp_hex4(jp, &lo))
			return false;
		if (lo < 0xdc00 || lo > 0xdfff)
			return JP_FAIL(jp, "bad surrogate pair at %zu", jp_off(jp));
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return JP_FAIL(jp, "\\u0000 not allowed at %zu", jp_off(jp));
	if (cp < 0x80) { u[0] = (char)cp; n = 1; }
	else if (cp < 0x800) { u[0] = (char)(0xc0 | cp >> 6); n = 2; }
	else if (cp < 0x10000) { u[0] = (char)(0xe0 | cp >> 12); n = 3; }
	else { u[0] = (char)(0xf0 | cp >> 18); n = 4; }
	for (int i = 1; i < n; i++)
		u[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
	rowcodec_sb_put(sb, u, (size_t)n);
	return true;
}

static bool jp_escape(struct jp *jp, struct strbuf *sb)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *f;

	if (jp->p >= jp->end)
		return JP_FAIL(jp, "truncated escape");
	char c = *jp->p++;
	if (c == 'u')
		return jp_unicode(jp, sb);
	if (!(f = strchr(from, c)) || !c)
		return JP_FAIL(jp, "bad escape at %zu", jp_off(jp));
	rowcodec_sb_put(sb, &to[f - from], 1);
	return true;
}

/* String starting at '"': decoded, checked to be valid UTF-8. */
static bool jp_string(struct jp *jp, char **out, size_t *len)
{
	struct strbuf sb = { NULL, 0, 0 };

	jp->p++; /* opening quote */
	rowcodec_sb_put(&sb, "", 0);
	for (;;) {
		const char *run = jp->p;
		while (jp->p < jp->end && *jp->p != '"' && *jp->p != '\\' &&
		       (uint8_t)*jp->p >= 0x20)
			jp->p++;
		rowcodec_sb_put(&sb, run, (size_t)(jp->p - run));
		if (jp->p >= jp->end) {
			bson_free(sb.p);
			return JP_FAIL(jp, "unterminated string");
		}
		char c = *jp->p++;
		if (c == '"')
			break;
		if (c != '\\' || !jp_escape(jp, &sb)) {
			if (c != '\\')
				ERR(jp->err, ROWCODEC_ERR_SYNTAX,
				    "control character in string at %zu", jp_off(jp));
			bson_free(sb.p);
			return false;
		}
	}
	if (!utf8_valid(sb.p, sb.len)) {
		bson_free(sb.p);
		return JP_FAIL(jp, "string is not valid UTF-8 near %zu", jp_off(jp));
	}
	*out = sb.p;
	*len = sb.len;
	return true;
}

#define JP_MAX_NUMBER 400 /* positional DBL_MAX / denormals fit */

static bool jp_number(struct jp *jp, struct jnode *n)
{
	const char *s = jp->p;
	const char *p = s;
	const char *e = jp->end;

	if (p < e && *p == '-') p++;
	if (p < e && *p == '0') p++;
	else if (p < e && *p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9') p++;
	else return JP_FAIL(jp, "bad number at %zu", jp_off(jp));
	if (p < e && *p == '.') {
		if (++p >= e || *p < '0' || *p > '9')
			return JP_FAIL(jp, "bad fraction at %zu", jp_off(jp));
		while (p < e && *p >= '0' && *p <= '9') p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-')) p++;
		if (p >= e || *p < '0' || *p > '9')
			return JP_FAIL(jp, "bad exponent at %zu", jp_off(jp));
		while (p < e && *p >= '0' && *p <= '9') p++;
	}
	if (p - s > JP_MAX_NUMBER)
		return JP_FAIL(jp, "number too long at %zu", jp_off(jp));
	n->t = J_NUM;
	n->n = (size_t)(p - s);
	/* Not bson_strndup: it strncpy's n + 1 bytes and so reads one past an
	 * input that is not NUL-terminated (found by fuzz_rowcodec). */
	n->s = bson_malloc(n->n + 1);
	memcpy(n->s, s, n->n);
	n->s[n->n] = '\0';
	jp->p = p;
	return true;
}

static bool jp_value(struct jp *jp, struct jnode *n, int depth);

static bool jp_array(struct jp *jp, struct jnode *n, int depth)
{
	size_t cap = 0;

	n->t = J_ARR;
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == ']') {
		jp->p++;
		return true;
	}
	for (;;) {
		if (n->n == cap) {
			cap = cap ? cap * 2 : 4;
			n->items = bson_realloc(n->items, cap * sizeof *n->items);
		}
		memset(&n->items[n->n], 0, sizeof *n->items);
		if (!jp_value(jp, &n->items[n->n++], depth + 1))
			return false;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') { jp->p++; continue; }
		if (jp->p < jp->end && *jp->p == ']') { jp->p++; return true; }
		return JP_FAIL(jp, "expected ',' or ']' at %zu", jp_off(jp));
	}
}

static bool jp_object(struct jp *jp, struct jnode *n, int depth)
{
	size_t cap = 0;

	n->t = J_OBJ;
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == '}') {
		jp->p++;
		return true;
	}
	for (;;) {
		if (n->n == cap) {
			cap = cap ? cap * 2 : 4;
			n->mem = bson_realloc(n->mem, cap * sizeof *n->mem);
		}
		struct jmember *m = &n->mem[n->n++];
		memset(m, 0, sizeof *m);
		jp_ws(jp);
		if (jp->p >= jp->end || *jp->p != '"')
			return JP_FAIL(jp, "expected key at %zu", jp_off(jp));
		if (!jp_string(jp, &m->key, &m->klen))
			return false;
		jp_ws(jp);
		if (jp->p >= jp->end || *jp->p != ':')
			return JP_FAIL(jp, "expected ':' at %zu", jp_off(jp));
		jp->p++;
		if (!jp_value(jp, &m->val, depth + 1))
			return false;
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') { jp->p++; continue; }
		if (jp->p < jp->end && *jp->p == '}') { jp->p++; return true; }
		return JP_FAIL(jp, "expected ',' or '}' at %zu", jp_off(jp));
	}
}

static bool jp_word(struct jp *jp, const char *w, struct jnode *n,
		    enum jtype t)
{
	size_t l = strlen(w);

	if ((size_t)(jp->end - jp->p) < l || memcmp(jp->p, w, l) != 0)
		return JP_FAIL(jp, "unexpected character at %zu", jp_off(jp));
	jp->p += l;
	n->t = t;
	return true;
}

static bool jp_value(struct jp *jp, struct jnode *n, int depth)
{
	if (depth > ROWCODEC_MAX_JSON_DEPTH)
		return JP_FAIL(jp, "JSON nested deeper than %d",
			       ROWCODEC_MAX_JSON_DEPTH);
	jp_ws(jp);
	if (jp->p >= jp->end)
		return JP_FAIL(jp, "unexpected end of input");
	switch (*jp->p) {
	case '{': return jp_object(jp, n, depth);
	case '[': return jp_array(jp, n, depth);
	case '"':
		n->t = J_STR;
		return jp_string(jp, &n->s, &n->n);
	case 't': return jp_word(jp, "true", n, J_TRUE);
	case 'f': return jp_word(jp, "false", n, J_FALSE);
	case 'n': return jp_word(jp, "null", n, J_NULL);
	default: return jp_number(jp, n);
	}
}

/* ---- entry point ------------------------------------------------------- */

bool rowcodec_json_parse(const char *json, size_t len, struct jnode *root,
			 bson_error_t *err)
{
	struct jp jp = { json, json, json + len, err };

	if (!jp_value(&jp, root, 0))
		return false;
	jp_ws(&jp);
	if (jp.p != jp.end)
		return JP_FAIL(&jp, "trailing data at %zu", jp_off(&jp));
	return true;
}
