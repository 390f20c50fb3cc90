/*
 * project.c - parse a find projection into the tree of project_internal.h
 * with mongod's rules (projection_parser.cpp): element kinds, inclusion
 * versus exclusion, _id defaults, path collisions, find-only operators
 * ($slice, $elemMatch, positional) and their error codes.
 *
 * The find-only operators are parsed in project_find.c.
 * Anything that needs the aggregation expression language (field paths
 * "$b", operators other than $literal, $meta) is PROJECT_UNSUPPORTED:
 * the caller does not shadow such a read.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "project_internal.h"
#include "sortspec.h"

enum project_status project_fail(bson_error_t *err, enum project_status st, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->domain = PROJECT_ERROR_DOMAIN;
		err->code = (uint32_t)code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* ---- tree --------------------------------------------------------------- */

struct pnode *project_node_new(const char *name, size_t len, enum pnode_kind kind)
{
	struct pnode *n = calloc(1, sizeof *n);

	if (!n)
		return NULL;
	n->name = bson_strndup(name, len);
	n->kind = kind;
	return n;
}

void project_node_free(struct pnode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		project_node_free(n->kids[i]);
	free(n->kids);
	if (n->literal)
		bson_destroy(n->literal);
	if (n->elemmatch)
		bson_destroy(n->elemmatch);
	bson_free(n->name);
	free(n);
}

struct pnode *project_node_kid(const struct pnode *n, const char *name, size_t len)
{
	for (size_t i = 0; i < n->nkids; i++)
		if (strlen(n->kids[i]->name) == len && memcmp(n->kids[i]->name, name, len) == 0)
			return n->kids[i];
	return NULL;
}

static struct pnode *add_kid(struct pctx *c, struct pnode *parent, const char *name, size_t len,
			     enum pnode_kind kind)
{
	struct pnode *n;

	if (++c->nodes > PROJECT_MAX_NODES) {
		project_fail(c->err, PROJECT_UNSUPPORTED, 0, "projection has more than %d paths",
			     PROJECT_MAX_NODES);
		return NULL;
	}
	if (parent->nkids == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct pnode **k = realloc(parent->kids, cap * sizeof *k);
		if (!k)
			return NULL;
		parent->kids = k;
		parent->cap = cap;
	}
	n = project_node_new(name, len, kind);
	if (n)
		parent->kids[parent->nkids++] = n;
	return n;
}

/* mongod's addNodeAtPath: NULL with err set (status in *st) on failure. */
struct pnode *project_add_path(struct pctx *c, struct pnode *parent, const char *path, size_t len,
			      enum pnode_kind kind, enum project_status *st)
{
	size_t start = 0;
	const char *dot;
	struct pnode *n = parent, *kid;

	*st = PROJECT_ERROR;
	int code = sortspec_fieldpath_check(path, len, c->err, PROJECT_ERROR_DOMAIN);
	if (code) {
		*st = code == SORTSPEC_CODE_UNSUPPORTED ? PROJECT_UNSUPPORTED : PROJECT_ERROR;
		return NULL;
	}
	while ((dot = memchr(path + start, '.', len - start)) != NULL) {
		size_t l = (size_t)(dot - (path + start));
		kid = project_node_kid(n, path + start, l);
		if (kid && kid->kind != PN_INTERNAL) {
			const char *tail = memchr(path, '.', len) + 1;
			project_fail(c->err, PROJECT_ERROR, 31249, "Path collision at %.*s remaining portion %.*s",
				     (int)len, path, (int)(len - (size_t)(tail - path)), tail);
			return NULL;
		}
		if (!kid && !(kid = add_kid(c, n, path + start, l, PN_INTERNAL))) {
			*st = PROJECT_UNSUPPORTED;
			return NULL;
		}
		n = kid;
		start += l + 1;
	}
	if (project_node_kid(n, path + start, len - start)) {
		if (kind == PN_INTERNAL && project_node_kid(n, path + start, len - start)->kind == PN_INTERNAL) {
			*st = PROJECT_OK;
			return project_node_kid(n, path + start, len - start);
		}
		project_fail(c->err, PROJECT_ERROR, 31250, "Path collision at %.*s", (int)len, path);
		return NULL;
	}
	kid = add_kid(c, n, path + start, len - start, kind);
	*st = kid ? PROJECT_OK : PROJECT_UNSUPPORTED;
	return kid;
}

bool project_add_post(struct pctx *c, enum post_kind kind, const char *full, size_t len, struct post_op **out)
{
	struct post_op *ops = realloc(c->p->posts, (c->p->nposts + 1) * sizeof *ops);
	struct post_op *op;
	size_t n = 1;

	if (!ops)
		return false;
	c->p->posts = ops;
	op = &ops[c->p->nposts++];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	for (size_t i = 0; i < len; i++)
		n += full[i] == '.';
	op->segs = calloc(n, sizeof *op->segs);
	if (!op->segs)
		return false;
	for (size_t i = 0, start = 0; i <= len; i++) {
		if (i < len && full[i] != '.')
			continue;
		op->segs[op->nsegs++] = bson_strndup(full + start, i - start);
		start = i + 1;
	}
	*out = op;
	return true;
}

/* "parent.key" (or key at the root) into buf. */
char *project_join(const char *parent, const char *key, size_t klen)
{
	return parent ? bson_strdup_printf("%s.%.*s", parent, (int)klen, key) : bson_strndup(key, klen);
}

static bool is_number(bson_type_t t)
{
	return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
	       t == BSON_TYPE_DECIMAL128;
}

static enum project_status parse_inclusion(struct pctx *c, const char *key, size_t klen, const char *parent_full,
					   struct pnode *parent)
{
	enum project_status st;
	size_t end = 0;
	long begin = project_first_positional(key, klen, &end);
	bool top_id = parent == c->p->root && klen == 3 && memcmp(key, "_id", 3) == 0;

	if (begin < 0) {
		if (!project_add_path(c, parent, key, klen, PN_INCLUDE, &st))
			return st;
		if (top_id)
			c->id_incl = true;
	} else if ((st = project_parse_positional(c, key, klen, parent_full, begin, end, parent)) != PROJECT_OK) {
		return st;
	}
	if (!top_id) {
		if (c->type_set && !c->inclusion)
			return project_fail(c->err, PROJECT_ERROR, 31253,
					    "Cannot do inclusion on field %.*s in exclusion projection", (int)klen, key);
		c->type_set = c->inclusion = true;
	}
	return PROJECT_OK;
}

static enum project_status parse_exclusion(struct pctx *c, const char *key, size_t klen, struct pnode *parent)
{
	enum project_status st;
	bool top_id = parent == c->p->root && klen == 3 && memcmp(key, "_id", 3) == 0;

	if (!project_add_path(c, parent, key, klen, PN_EXCLUDE, &st))
		return st;
	if (top_id) {
		c->id_excl = true;
		return PROJECT_OK;
	}
	if (c->type_set && c->inclusion)
		return project_fail(c->err, PROJECT_ERROR, 31254,
				    "Cannot do exclusion on field %.*s in inclusion projection", (int)klen, key);
	c->type_set = true;
	c->inclusion = false;
	return PROJECT_OK;
}

/* A value mongod's parseOperand turns into a constant: no "$..." strings
 * (field paths, variables), no documents (expression objects). */
static bool is_constant(const bson_iter_t *it, int depth)
{
	bson_iter_t a;

	if (BSON_ITER_HOLDS_UTF8(it))
		return bson_iter_utf8(it, NULL)[0] != '$';
	if (BSON_ITER_HOLDS_DOCUMENT(it) || depth > 50)
		return false;
	if (BSON_ITER_HOLDS_ARRAY(it)) {
		if (!bson_iter_recurse(it, &a))
			return false;
		while (bson_iter_next(&a))
			if (!is_constant(&a, depth + 1))
				return false;
	}
	return true;
}

/* Copy a value with every array's keys renumbered 0, 1, ... as mongod's
 * parser reads them (libbson warns on stderr about any other keys). */
static void copy_clean(bson_t *out, const char *key, const bson_iter_t *v, int depth)
{
	bson_iter_t it;
	bson_t child;
	bool arr = BSON_ITER_HOLDS_ARRAY(v);
	uint32_t i = 0;
	char buf[16];
	const char *k;

	if ((!arr && !BSON_ITER_HOLDS_DOCUMENT(v)) || depth > PROJECT_MAX_DEPTH || !bson_iter_recurse(v, &it)) {
		bson_append_iter(out, key, -1, v);
		return;
	}
	if (arr)
		bson_append_array_begin(out, key, -1, &child);
	else
		bson_append_document_begin(out, key, -1, &child);
	while (bson_iter_next(&it)) {
		if (arr)
			bson_uint32_to_string(i++, &k, buf, sizeof buf);
		copy_clean(&child, arr ? k : bson_iter_key(&it), &it, depth + 1);
	}
	if (arr)
		bson_append_array_end(out, &child);
	else
		bson_append_document_end(out, &child);
}

static enum project_status add_literal(struct pctx *c, const char *key, size_t klen, const bson_iter_t *v,
				       struct pnode *parent, int code)
{
	enum project_status st;
	struct pnode *n;

	if (!(n = project_add_path(c, parent, key, klen, PN_LITERAL, &st)))
		return st;
	n->literal = bson_new();
	copy_clean(n->literal, "v", v, 0);
	if (c->type_set && !c->inclusion)
		return project_fail(c->err, PROJECT_ERROR, code,
				    code == 31310 ? "Cannot use an expression %.*s in an exclusion projection"
						  : "Cannot use expression other than $meta in exclusion projection%.*s",
				    code == 31310 ? (int)klen : 0, key);
	c->type_set = c->inclusion = true;
	return PROJECT_OK;
}

static enum project_status parse_element(struct pctx *c, const bson_iter_t *it, const char *parent_full,
					 struct pnode *parent, int depth);

static enum project_status parse_operator(struct pctx *c, const char *key, size_t klen, const char *full,
					  const bson_iter_t *op, struct pnode *parent)
{
	const char *name = bson_iter_key(op);

	if (strcmp(name, "$slice") == 0)
		return project_parse_slice(c, key, klen, full, op, parent);
	if (strcmp(name, "$elemMatch") == 0)
		return project_parse_elemmatch(c, key, klen, op, parent);
	if (strcmp(name, "$literal") == 0)
		return add_literal(c, key, klen, op, parent, 31252);
	return project_fail(c->err, PROJECT_UNSUPPORTED, 0, "projection expression %s is not evaluated by tandem",
			    name);
}

static enum project_status parse_subobject(struct pctx *c, const char *key, size_t klen, const char *parent_full,
					   const bson_iter_t *it, struct pnode *parent, int depth)
{
	enum project_status st = PROJECT_OK;
	bson_iter_t sub, first;
	struct pnode *n;
	char *full;

	if (sortspec_fieldpath_check(key, klen, c->err, PROJECT_ERROR_DOMAIN))
		return PROJECT_ERROR;
	if (!bson_iter_recurse(it, &sub))
		return project_fail(c->err, PROJECT_ERROR, 2, "invalid projection");
	first = sub;
	if (!bson_iter_next(&first))
		return project_fail(c->err, PROJECT_UNSUPPORTED, 0, "empty sub-projection");
	full = project_join(parent_full, key, klen);
	if (bson_iter_key(&first)[0] == '$') {
		bson_iter_t second = first;
		if (!bson_iter_next(&second)) {
			st = parse_operator(c, key, klen, full, &first, parent);
			bson_free(full);
			return st;
		}
	}
	if (depth > 100 || !(n = project_add_path(c, parent, key, klen, PN_INTERNAL, &st))) {
		bson_free(full);
		return depth > 100 ? project_fail(c->err, PROJECT_UNSUPPORTED, 0, "projection too deep") : st;
	}
	while (st == PROJECT_OK && bson_iter_next(&sub))
		st = parse_element(c, &sub, full, n, depth + 1);
	bson_free(full);
	return st;
}

static bool truthy(const bson_iter_t *it)
{
	if (BSON_ITER_HOLDS_DECIMAL128(it)) {
		bson_decimal128_t dec;
		char s[BSON_DECIMAL128_STRING];
		bson_iter_decimal128(it, &dec);
		bson_decimal128_to_string(&dec, s);
		return strtod(s, NULL) != 0 || strstr(s, "NaN");
	}
	return bson_iter_as_bool(it);
}

static enum project_status parse_element(struct pctx *c, const bson_iter_t *it, const char *parent_full,
					 struct pnode *parent, int depth)
{
	const char *key = bson_iter_key(it);
	size_t klen = bson_iter_key_len(it), end;
	long pos = project_first_positional(key, klen, &end);
	bson_type_t t = bson_iter_type(it);

	if (t == BSON_TYPE_DOCUMENT) {
		if (pos >= 0)
			return project_fail(c->err, PROJECT_ERROR, 31271,
					    "positional projection cannot be used with an expression or sub object");
		return parse_subobject(c, key, klen, parent_full, it, parent, depth);
	}
	if (t == BSON_TYPE_BOOL || is_number(t)) {
		if (truthy(it))
			return parse_inclusion(c, key, klen, parent_full, parent);
		return parse_exclusion(c, key, klen, parent);
	}
	if (pos >= 0)
		return project_fail(c->err, PROJECT_ERROR, 31308, "positional projection cannot be used with a literal");
	if (!is_constant(it, 0))
		return project_fail(c->err, PROJECT_UNSUPPORTED, 0,
				    "projection of %s uses an expression tandem does not evaluate", key);
	return add_literal(c, key, klen, it, parent, 31310);
}

/* ---- the whole projection ---------------------------------------------- */

/* mongod's computeProjectionType, for projections whose only inclusions
 * or exclusions are of _id. */
static bool default_inclusion(const struct pctx *c)
{
	if (c->has_slice)
		return c->id_incl;
	if (c->has_elemmatch)
		return true;
	return c->id_incl;
}

static bool mark_computed(struct pnode *n)
{
	n->has_computed = n->kind == PN_LITERAL || n->kind == PN_ELEMMATCH;
	for (size_t i = 0; i < n->nkids; i++)
		n->has_computed |= mark_computed(n->kids[i]);
	return n->has_computed;
}

static void remove_kid(struct pnode *n, const char *name)
{
	for (size_t i = 0; i < n->nkids; i++) {
		if (strcmp(n->kids[i]->name, name) == 0) {
			project_node_free(n->kids[i]);
			memmove(&n->kids[i], &n->kids[i + 1], (n->nkids - i - 1) * sizeof *n->kids);
			n->nkids--;
			return;
		}
	}
}

static enum project_status finish(struct pctx *c)
{
	struct project *p = c->p;
	enum project_status st;

	p->inclusion = c->type_set ? c->inclusion : default_inclusion(c);
	if (p->inclusion && !c->id_specified && !project_add_path(c, p->root, "_id", 3, PN_INCLUDE, &st))
		return st;
	if (!p->inclusion && c->id_specified && c->id_incl)
		remove_kid(p->root, "_id");
	mark_computed(p->root);
	if (!p->inclusion && (c->has_elemmatch || c->has_positional))
		return project_fail(c->err, PROJECT_UNSUPPORTED, 0,
				    "$elemMatch or positional projection in an exclusion projection");
	return PROJECT_OK;
}

enum project_status project_compile(const bson_t *spec, const bson_t *filter, struct project **out,
				    bson_error_t *err)
{
	struct pctx c = {.filter = filter, .err = err};
	enum project_status st = PROJECT_OK;
	bson_iter_t it;

	*out = NULL;
	if (!bson_iter_init(&it, spec))
		return project_fail(err, PROJECT_ERROR, 2, "invalid projection document");
	c.p = calloc(1, sizeof *c.p);
	if (!c.p || !(c.p->root = project_node_new("", 0, PN_INTERNAL))) {
		free(c.p);
		return project_fail(err, PROJECT_UNSUPPORTED, 0, "out of memory");
	}
	c.p->identity = bson_empty(spec);
	while (st == PROJECT_OK && bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		if (strcmp(k, "_id") == 0 || strncmp(k, "_id.", 4) == 0)
			c.id_specified = true;
		st = parse_element(&c, &it, NULL, c.p->root, 0);
	}
	if (st == PROJECT_OK && !c.p->identity)
		st = finish(&c);
	if (st != PROJECT_OK) {
		project_free(c.p);
		return st;
	}
	*out = c.p;
	return PROJECT_OK;
}

bool project_needs_match(const struct project *p)
{
	return p && p->positional;
}

void project_free(struct project *p)
{
	if (!p)
		return;
	project_node_free(p->root);
	for (size_t i = 0; i < p->nposts; i++) {
		for (size_t j = 0; j < p->posts[i].nsegs; j++)
			bson_free(p->posts[i].segs[j]);
		free(p->posts[i].segs);
	}
	free(p->posts);
	free(p);
}
