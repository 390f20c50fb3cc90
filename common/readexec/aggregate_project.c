/*
 * aggregate_project.c - $project, $addFields/$set and $unset, following
 * mongod's projection executor (ProjectionNode):
 *
 *   spec {a: 1, "b.c": 0, d: "$x", e: {f: 1}}  ->  tree of nodes
 *        root
 *        +-- a   INCLUDE          +-- d   EXPR "$x"
 *        +-- b   CHILD            +-- e   CHILD
 *            +-- c  EXCLUDE           +-- f  INCLUDE
 *
 * Modes: INCLUSION (listed fields and computed ones; _id kept unless
 * _id: 0), EXCLUSION (everything but the listed fields), ADDFIELDS (every
 * field plus the computed ones).  Applying a node to a document:
 *   1. walk the input fields in order: included ones are copied, children
 *      recurse (documents: the same rules; arrays: each element, nested
 *      arrays too; other values: dropped under inclusion, kept otherwise),
 *      computed fields already present are replaced in place (ADDFIELDS);
 *   2. computed fields not placed yet are appended in spec order; a child
 *      with computed fields over a non-document value becomes a new
 *      document of those fields.
 * A computed value that is missing ($$REMOVE, a missing path) is omitted.
 * Invalid specs (mixing inclusion and exclusion, path collisions, empty
 * specs) are rejected by mongod; here they are UNSUPPORTED "invalid:...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate_internal.h"
#include "sortspec.h"

enum pn_kind { PN_INCLUDE, PN_EXCLUDE, PN_EXPR, PN_CHILD };
enum proj_mode { PROJ_INCLUSION, PROJ_EXCLUSION, PROJ_ADDFIELDS };

struct pnode {
	char *name;
	enum pn_kind kind;
	bson_value_t expr;
	bool computed; /* EXPR, or a CHILD with an EXPR below */
	struct pnode *kids;
	size_t nkids, cap;
};

struct proj {
	enum proj_mode mode;
	struct pnode root;
	bool any_include, any_exclude, any_expr, id_set;
	bson_error_t *err;
};

#define PROJ_MAX_NODES 10000

static void pnode_free(struct pnode *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		pnode_free(&n->kids[i]);
	free(n->kids);
	free(n->name);
}

static struct pnode *pnode_find(struct pnode *n, const char *name, size_t len)
{
	for (size_t i = 0; i < n->nkids; i++)
		if (strlen(n->kids[i].name) == len && memcmp(n->kids[i].name, name, len) == 0)
			return &n->kids[i];
	return NULL;
}

static struct pnode *pnode_add(struct pnode *n, const char *name, size_t len)
{
	struct pnode *k;

	if (n->nkids == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 4;
		struct pnode *nk = realloc(n->kids, cap * sizeof *nk);
		if (!nk)
			return NULL;
		n->kids = nk;
		n->cap = cap;
	}
	k = &n->kids[n->nkids];
	memset(k, 0, sizeof *k);
	if (!(k->name = strndup(name, len)))
		return NULL;
	k->kind = PN_CHILD;
	n->nkids++;
	return k;
}

/* Insert a leaf at a dotted path below n. */
static enum agg_status proj_add(struct proj *p, struct pnode *n, const char *path, enum pn_kind kind,
				const bson_value_t *expr)
{
	const char *dot = strchr(path, '.');
	size_t len = dot ? (size_t)(dot - path) : strlen(path);
	struct pnode *k = pnode_find(n, path, len);

	if (dot) {
		if (k && k->kind != PN_CHILD)
			return agg_unsupported(p->err, "invalid:projection_collision");
		if (!k && !(k = pnode_add(n, path, len)))
			return agg_unsupported(p->err, "limit:memory");
		if (kind == PN_EXPR)
			k->computed = true;
		return proj_add(p, k, dot + 1, kind, expr);
	}
	if (k)
		return agg_unsupported(p->err, "invalid:projection_collision");
	if (!(k = pnode_add(n, path, len)))
		return agg_unsupported(p->err, "limit:memory");
	k->kind = kind;
	k->computed = kind == PN_EXPR;
	if (expr)
		k->expr = *expr;
	return AGG_OK;
}

static bool is_opdoc(const bson_value_t *v)
{
	bson_iter_t it;

	return v->value_type == BSON_TYPE_DOCUMENT &&
	       bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) && bson_iter_next(&it) &&
	       bson_iter_key(&it)[0] == '$';
}

static enum agg_status proj_parse(struct proj *p, const bson_value_t *spec, const char *prefix, int depth);

/* One key of a spec; full is the dotted path from the root. */
static enum agg_status proj_entry(struct proj *p, const char *full, const bson_value_t *v, int depth)
{
	bson_error_t e;
	enum agg_status st;
	bool top_id = strcmp(full, "_id") == 0;

	if (!bson_utf8_validate(full, strlen(full), false) ||
	    sortspec_fieldpath_check(full, strlen(full), &e, AGG_ERROR_DOMAIN) != 0)
		return agg_unsupported(p->err, "invalid:projection_path");
	if (v->value_type == BSON_TYPE_DOCUMENT && !is_opdoc(v)) {
		bson_iter_t it;
		if (!bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len) || !bson_iter_next(&it))
			return agg_unsupported(p->err, "invalid:projection_empty");
		return proj_parse(p, v, full, depth + 1);
	}
	if (p->mode != PROJ_ADDFIELDS &&
	    (v->value_type == BSON_TYPE_BOOL || v->value_type == BSON_TYPE_INT32 || v->value_type == BSON_TYPE_INT64 ||
	     v->value_type == BSON_TYPE_DOUBLE || v->value_type == BSON_TYPE_DECIMAL128)) {
		bool incl = aggx_truthy(v);
		if (top_id)
			p->id_set = true;
		else if (incl)
			p->any_include = true;
		else
			p->any_exclude = true;
		return proj_add(p, &p->root, full, incl ? PN_INCLUDE : PN_EXCLUDE, NULL);
	}
	if ((st = aggx_check(v, p->err)) != AGG_OK)
		return st;
	if (top_id)
		p->id_set = true;
	p->any_expr = true;
	return proj_add(p, &p->root, full, PN_EXPR, v);
}

static enum agg_status proj_parse(struct proj *p, const bson_value_t *spec, const char *prefix, int depth)
{
	bson_iter_t it;
	size_t count = 0;

	if (depth > 100)
		return agg_unsupported(p->err, "limit:depth");
	if (!bson_iter_init_from_data(&it, spec->value.v_doc.data, spec->value.v_doc.data_len))
		return agg_unsupported(p->err, "invalid:bson");
	while (bson_iter_next(&it)) {
		char full[1024];
		enum agg_status st;
		if (++count > PROJ_MAX_NODES)
			return agg_unsupported(p->err, "limit:projection");
		if (bson_iter_key(&it)[0] == '$')
			return agg_unsupported(p->err, "invalid:projection_operator");
		if ((size_t)snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", bson_iter_key(&it)) >=
		    sizeof full)
			return agg_unsupported(p->err, "limit:path");
		if ((st = proj_entry(p, full, bson_iter_value(&it), depth)) != AGG_OK)
			return st;
	}
	return AGG_OK;
}

/* Parse a $project/$addFields spec; mode ADDFIELDS or (for $project) the
 * mode the spec implies. */
static enum agg_status proj_build(struct proj *p, const bson_value_t *spec, bool addfields, bson_error_t *err)
{
	enum agg_status st;
	bson_iter_t it;

	memset(p, 0, sizeof *p);
	p->err = err;
	p->mode = addfields ? PROJ_ADDFIELDS : PROJ_INCLUSION;
	if (spec->value_type != BSON_TYPE_DOCUMENT)
		return agg_unsupported(err, "invalid:projection_type");
	if (!bson_iter_init_from_data(&it, spec->value.v_doc.data, spec->value.v_doc.data_len) || !bson_iter_next(&it))
		return agg_unsupported(err, "invalid:projection_empty");
	if ((st = proj_parse(p, spec, "", 0)) != AGG_OK)
		return st;
	if (addfields)
		return AGG_OK;
	if (p->any_exclude && (p->any_include || p->any_expr))
		return agg_unsupported(err, "invalid:projection_mixed");
	{
		struct pnode *id = pnode_find(&p->root, "_id", 3);
		bool id_in = id && id->kind == PN_INCLUDE;
		if (p->any_exclude && id_in)
			return agg_unsupported(err, "invalid:projection_mixed");
		p->mode = p->any_include || p->any_expr || id_in ? PROJ_INCLUSION : PROJ_EXCLUSION;
	}
	if (p->mode == PROJ_INCLUSION && !p->id_set && !pnode_find(&p->root, "_id", 3)) {
		if ((st = proj_add(p, &p->root, "_id", PN_INCLUDE, NULL)) != AGG_OK)
			return st;
	}
	return AGG_OK;
}

/* ---- apply ------------------------------------------------------------------ */

struct papply {
	const struct proj *p;
	const bson_t *root;
	struct aggx_arena *arena;
	bson_error_t *err;
};

static enum agg_status apply_value(struct papply *a, const struct pnode *n, const bson_value_t *v, bson_t *dst,
				   const char *key, size_t klen);

static enum agg_status append_expr(struct papply *a, const struct pnode *k, bson_t *dst)
{
	bson_value_t v;
	enum agg_status st = aggx_eval(&k->expr, a->root, a->arena, &v, a->err);

	if (st == AGG_OK && v.value_type != BSON_TYPE_EOD)
		bson_append_value(dst, k->name, -1, &v);
	return st;
}

/* Apply node n to the document (data, len) into out (initialised). */
static enum agg_status apply_doc(struct papply *a, const struct pnode *n, const uint8_t *data, uint32_t len,
				 bson_t *out)
{
	bson_iter_t it;
	bool done[n->nkids ? n->nkids : 1];
	enum proj_mode mode = a->p->mode;
	enum agg_status st;

	memset(done, 0, sizeof done);
	if (data && bson_iter_init_from_data(&it, data, len))
		while (bson_iter_next(&it)) {
			const struct pnode *k = pnode_find((struct pnode *)n, bson_iter_key(&it), bson_iter_key_len(&it));
			size_t ki = k ? (size_t)(k - n->kids) : 0;
			if (!k) {
				if (mode != PROJ_INCLUSION)
					bson_append_value(out, bson_iter_key(&it), (int)bson_iter_key_len(&it),
							  bson_iter_value(&it));
				continue;
			}
			if (done[ki])
				continue;
			if (k->kind == PN_INCLUDE) {
				bson_append_value(out, bson_iter_key(&it), (int)bson_iter_key_len(&it), bson_iter_value(&it));
			} else if (k->kind == PN_CHILD) {
				done[ki] = true;
				st = apply_value(a, k, bson_iter_value(&it), out, bson_iter_key(&it), bson_iter_key_len(&it));
				if (st != AGG_OK)
					return st;
			} else if (k->kind == PN_EXPR && mode == PROJ_ADDFIELDS) {
				done[ki] = true;
				if ((st = append_expr(a, k, out)) != AGG_OK)
					return st;
			}
		}
	if (mode == PROJ_EXCLUSION)
		return AGG_OK;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct pnode *k = &n->kids[i];
		bson_value_t missing = { .value_type = BSON_TYPE_EOD };
		if (done[i] || !k->computed)
			continue;
		st = k->kind == PN_EXPR ? append_expr(a, k, out) : apply_value(a, k, &missing, out, k->name, strlen(k->name));
		if (st != AGG_OK)
			return st;
	}
	return AGG_OK;
}

/* Child node n over value v; appends the result under key unless missing. */
static enum agg_status apply_value(struct papply *a, const struct pnode *n, const bson_value_t *v, bson_t *dst,
				   const char *key, size_t klen)
{
	bson_t sub;
	enum agg_status st = AGG_OK;

	if (v->value_type == BSON_TYPE_DOCUMENT) {
		bson_append_document_begin(dst, key, (int)klen, &sub);
		st = apply_doc(a, n, v->value.v_doc.data, v->value.v_doc.data_len, &sub);
		bson_append_document_end(dst, &sub);
		return st;
	}
	if (v->value_type == BSON_TYPE_ARRAY) {
		bson_iter_t it;
		uint32_t i = 0;
		char k[16];
		bson_t tmp;
		bson_append_array_begin(dst, key, (int)klen, &sub);
		if (bson_iter_init_from_data(&it, v->value.v_doc.data, v->value.v_doc.data_len))
			while (st == AGG_OK && bson_iter_next(&it)) {
				bson_iter_t one;
				bson_init(&tmp);
				st = apply_value(a, n, bson_iter_value(&it), &tmp, "x", 1);
				if (st == AGG_OK && bson_iter_init(&one, &tmp) && bson_iter_next(&one)) {
					snprintf(k, sizeof k, "%u", i++);
					bson_append_value(&sub, k, -1, bson_iter_value(&one));
				}
				bson_destroy(&tmp);
			}
		bson_append_array_end(dst, &sub);
		return st;
	}
	if (n->computed) {
		bson_append_document_begin(dst, key, (int)klen, &sub);
		st = apply_doc(a, n, NULL, 0, &sub);
		bson_append_document_end(dst, &sub);
		return st;
	}
	if (a->p->mode != PROJ_INCLUSION && v->value_type != BSON_TYPE_EOD)
		bson_append_value(dst, key, (int)klen, v);
	return AGG_OK;
}

static enum agg_status proj_run(struct proj *p, struct agg_run *r)
{
	struct agg_stream out = { 0 };
	struct aggx_arena arena;
	enum agg_status st = AGG_OK;

	aggx_arena_init(&arena, r->max_bytes);
	for (size_t i = 0; i < r->s.n && st == AGG_OK; i++) {
		struct papply a = { .p = p, .root = r->s.v[i].doc, .arena = &arena, .err = r->err };
		bson_t *doc = bson_new();
		st = apply_doc(&a, &p->root, bson_get_data(r->s.v[i].doc), r->s.v[i].doc->len, doc);
		if (st == AGG_OK)
			st = agg_stream_push(r, &out, doc, r->s.v[i].tie);
		else
			bson_destroy(doc);
		aggx_arena_reset(&arena);
	}
	aggx_arena_free(&arena);
	if (st == AGG_OK)
		agg_stream_swap(r, &out);
	else
		agg_stream_clear(&out);
	return st;
}

/* ---- stages ------------------------------------------------------------------ */

static enum agg_status check_spec(const bson_value_t *arg, bool addfields, bson_error_t *err)
{
	struct proj p;
	enum agg_status st = proj_build(&p, arg, addfields, err);

	pnode_free(&p.root);
	return st;
}

static enum agg_status run_spec(const bson_value_t *arg, bool addfields, struct agg_run *r)
{
	struct proj p;
	enum agg_status st = proj_build(&p, arg, addfields, r->err);

	if (st == AGG_OK)
		st = proj_run(&p, r);
	pnode_free(&p.root);
	return st;
}

static enum agg_status project_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	(void)info;
	return check_spec(arg, false, err);
}

static enum agg_status project_run(const bson_value_t *arg, struct agg_run *r)
{
	return run_spec(arg, false, r);
}

static enum agg_status addfields_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	(void)info;
	return check_spec(arg, true, err);
}

static enum agg_status addfields_run(const bson_value_t *arg, struct agg_run *r)
{
	return run_spec(arg, true, r);
}

/* $unset: "a" or ["a", "b.c"] is the exclusion {a: 0, "b.c": 0}. */
static enum agg_status unset_spec(const bson_value_t *arg, bson_t *spec, bson_error_t *err)
{
	bson_iter_t it;

	if (arg->value_type == BSON_TYPE_UTF8) {
		BSON_APPEND_INT32(spec, arg->value.v_utf8.str, 0);
		return AGG_OK;
	}
	if (arg->value_type != BSON_TYPE_ARRAY ||
	    !bson_iter_init_from_data(&it, arg->value.v_doc.data, arg->value.v_doc.data_len))
		return agg_unsupported(err, "invalid:$unset");
	while (bson_iter_next(&it)) {
		if (!BSON_ITER_HOLDS_UTF8(&it))
			return agg_unsupported(err, "invalid:$unset");
		BSON_APPEND_INT32(spec, bson_iter_utf8(&it, NULL), 0);
	}
	return AGG_OK;
}

static enum agg_status unset_do(const bson_value_t *arg, struct agg_run *r, bson_error_t *err)
{
	bson_t spec;
	bson_value_t v;
	enum agg_status st;

	bson_init(&spec);
	st = unset_spec(arg, &spec, err);
	if (st == AGG_OK) {
		v.value_type = BSON_TYPE_DOCUMENT;
		v.value.v_doc.data = (uint8_t *)bson_get_data(&spec);
		v.value.v_doc.data_len = spec.len;
		st = r ? run_spec(&v, false, r) : check_spec(&v, false, err);
	}
	bson_destroy(&spec);
	return st;
}

static enum agg_status unset_check(const bson_value_t *arg, struct agg_info *info, bson_error_t *err)
{
	(void)info;
	return unset_do(arg, NULL, err);
}

static enum agg_status unset_run(const bson_value_t *arg, struct agg_run *r)
{
	return unset_do(arg, r, r->err);
}

const struct agg_stage agg_stages_project[] = {
	{ "$project", project_check, project_run },
	{ "$addFields", addfields_check, addfields_run },
	{ "$set", addfields_check, addfields_run },
	{ "$unset", unset_check, unset_run },
	{ NULL, NULL, NULL },
};
