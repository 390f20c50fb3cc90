/*
 * update.c - update_apply: classify the update, parse operator documents
 * into path entries, reject conflicts, apply the entries in MongoDB 5.0+
 * order (lexicographic by path, array indexes numerically) to the lazy
 * tree, then serialise and check the result (immutable _id, nesting,
 * 16 MiB).  Replacement documents and the RESYNC cases live here too.
 *
 *   u --kind--> replacement | operators | pipeline (RESYNC)
 *   operators: parse -> filters -> sort+conflicts -> apply -> emit -> checks
 */
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"
#include "update_internal.h"

static const struct {
	const char *name;
	int op;                /* enum update_op, or -1 for RESYNC */
} update_ops[] = {
	{"$set", UOP_SET}, {"$setOnInsert", UOP_SET_ON_INSERT}, {"$unset", UOP_UNSET},
	{"$inc", UOP_INC}, {"$mul", UOP_MUL}, {"$min", UOP_MIN}, {"$max", UOP_MAX},
	{"$rename", UOP_RENAME}, {"$bit", UOP_BIT}, {"$push", UOP_PUSH},
	{"$addToSet", UOP_ADD_TO_SET}, {"$pop", UOP_POP}, {"$pull", UOP_PULL},
	{"$pullAll", UOP_PULL_ALL}, {"$currentDate", -1},
};

enum update_kind update_kind_of(const bson_value_t *u)
{
	bson_t d;
	bson_iter_t it;
	int dollar = 0, plain = 0;

	if (u->value_type == BSON_TYPE_ARRAY)
		return UPDATE_KIND_PIPELINE;
	if (u->value_type != BSON_TYPE_DOCUMENT ||
	    !bson_init_static(&d, u->value.v_doc.data, u->value.v_doc.data_len) ||
	    !bson_iter_init(&it, &d))
		return UPDATE_KIND_INVALID;
	while (bson_iter_next(&it))
		bson_iter_key(&it)[0] == '$' ? dollar++ : plain++;
	if (dollar && plain)
		return UPDATE_KIND_INVALID;
	return dollar ? UPDATE_KIND_OPERATORS : UPDATE_KIND_REPLACEMENT;
}

static int op_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof update_ops / sizeof update_ops[0]; i++)
		if (strcmp(update_ops[i].name, name) == 0)
			return (int)i;
	return -2;
}

static struct uentry *entry_new(struct uctx *c, int op, const char *opname, const char *path,
				const bson_value_t *val)
{
	struct uentry *e = &c->ents[c->nents++];

	memset(e, 0, sizeof *e);
	e->op = (enum update_op)op;
	e->opname = opname;
	e->val = *val;
	return update_path_split(c, e, path) ? e : NULL;
}

static bool has_positional(const struct uentry *e)
{
	for (uint32_t i = 0; i < e->nseg; i++)
		if (e->segs[i][0] == '$')
			return true;
	return false;
}

/* $rename {from: "to"}: a destination entry (applied) and a source entry
 * (conflict checks only), tied by rename_id. */
static bool parse_rename(struct uctx *c, const char *from, const bson_value_t *to)
{
	struct uentry *src, *dst;
	bson_value_t none = {.value_type = BSON_TYPE_NULL};

	if (to->value_type != BSON_TYPE_UTF8)
		return update_fail(c, UPDATE_ERROR, "The 'to' field for $rename must be a string: %s", from) == UPDATE_OK;
	if (!(src = entry_new(c, UOP_RENAME, "$rename", from, &none)))
		return false;
	src->is_rename_src = true;
	src->rename_id = c->nents;
	if (!(dst = entry_new(c, UOP_RENAME, "$rename", to->value.v_utf8.str, &none)))
		return false;
	dst->rename_id = src->rename_id;
	if (has_positional(src))
		return update_fail(c, UPDATE_ERROR, "The source field for $rename may not be dynamic: %s", from) == UPDATE_OK;
	if (has_positional(dst))
		return update_fail(c, UPDATE_ERROR, "The destination field for $rename may not be dynamic: %s", dst->path) == UPDATE_OK;
	if (strcmp(src->path, dst->path) == 0)
		return update_fail(c, UPDATE_ERROR, "The source and target field for $rename must differ: %s: \"%s\"", from, dst->path) == UPDATE_OK;
	if (update_path_is_prefix(src, dst) || update_path_is_prefix(dst, src))
		return update_fail(c, UPDATE_ERROR, "The source and target field for $rename must not be on the same path: %s: \"%s\"", from, dst->path) == UPDATE_OK;
	return true;
}

/* $currentDate with a known clock: {f: true | {$type: "date" | "timestamp"}}
 * is $set of the current date (or a Timestamp(seconds, 1)). */
static bool parse_current_date(struct uctx *c, bson_iter_t *f)
{
	while (bson_iter_next(f)) {
		bson_value_t v = {.value_type = BSON_TYPE_DATE_TIME};
		bson_iter_t t;

		v.value.v_datetime = c->args->now_ms;
		if (BSON_ITER_HOLDS_DOCUMENT(f)) {
			const char *type = bson_iter_recurse(f, &t) && bson_iter_find(&t, "$type") &&
						   BSON_ITER_HOLDS_UTF8(&t) ? bson_iter_utf8(&t, NULL) : "";
			if (!strcmp(type, "timestamp")) {
				v.value_type = BSON_TYPE_TIMESTAMP;
				v.value.v_timestamp.timestamp = (uint32_t)(c->args->now_ms / 1000);
				v.value.v_timestamp.increment = 1;
			} else if (strcmp(type, "date") != 0) {
				return update_fail(c, UPDATE_ERROR, "The '$type' string field is required to be "
						   "'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}") == UPDATE_OK;
			}
		} else if (!BSON_ITER_HOLDS_BOOL(f)) {
			return update_fail(c, UPDATE_ERROR, "%s is not valid type for $currentDate. Please use a "
					   "boolean ('true') or a $type expression ({$type: 'timestamp/date'}).",
					   bson_iter_key(f)) == UPDATE_OK;
		}
		if (!entry_new(c, UOP_SET, "$currentDate", bson_iter_key(f), &v))
			return false;
	}
	return true;
}

static bool parse_operator(struct uctx *c, bson_iter_t *op)
{
	const char *name = bson_iter_key(op);
	int i = op_lookup(name);
	bson_iter_t f;

	if (i == -2)
		return update_fail(c, UPDATE_ERROR, "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified as an array", name) == UPDATE_OK;
	if (!BSON_ITER_HOLDS_DOCUMENT(op) || !bson_iter_recurse(op, &f))
		return update_fail(c, UPDATE_ERROR, "Modifiers operate on fields but we found another type instead. For example: {$mod: {<field>: ...}} not {%s: ...}", name) == UPDATE_OK;
	if (update_ops[i].op < 0 && c->args->now_ms > 0)
		return parse_current_date(c, &f);
	if (update_ops[i].op < 0)
		return update_fail(c, UPDATE_RESYNC, "%s: only MongoDB knows the value", name) == UPDATE_OK;
	while (bson_iter_next(&f)) {
		struct uentry *e;

		if (update_ops[i].op == UOP_RENAME) {
			if (!parse_rename(c, bson_iter_key(&f), bson_iter_value(&f)))
				return false;
			continue;
		}
		e = entry_new(c, update_ops[i].op, update_ops[i].name, bson_iter_key(&f), bson_iter_value(&f));
		if (!e || !update_ops_parse(c, e))
			return false;
	}
	return true;
}

static int cmp_entries(const void *a, const void *b)
{
	return update_path_cmp((const struct uentry *)a, (const struct uentry *)b);
}

static bool dynamic_seg(const char *seg)
{
	return seg[0] == '$';
}

static bool selector_seg(const char *seg)
{
	int64_t idx;

	return dynamic_seg(seg) || update_seg_index(seg, &idx);
}

/* MongoDB merges the sub-updates that reach one array element through
 * different selectors ("a.$[].y" and "a.$[i].x", or "a.$.y" and "a.0.x")
 * and applies them per element in field order; this module applies each
 * path in turn, which can order new fields differently: RESYNC then. */
static bool merges_known(struct uctx *c)
{
	for (uint32_t i = 0; i < c->nents; i++) {
		for (uint32_t j = i + 1; j < c->nents; j++) {
			const struct uentry *a = &c->ents[i], *b = &c->ents[j];
			uint32_t k = 0;

			while (k < a->nseg && k < b->nseg && strcmp(a->segs[k], b->segs[k]) == 0)
				k++;
			if (k < a->nseg && k < b->nseg && selector_seg(a->segs[k]) &&
			    selector_seg(b->segs[k]) &&
			    (dynamic_seg(a->segs[k]) || dynamic_seg(b->segs[k])))
				return update_fail(c, UPDATE_RESYNC, "paths '%s' and '%s' may reach the same array element",
						   a->path, b->path) == UPDATE_OK;
		}
	}
	return true;
}

/* Parse every operator into c->ents, sorted by path, conflicts rejected. */
static bool parse_all(struct uctx *c, const bson_t *u)
{
	bson_iter_t it, f;
	uint32_t n = 0;

	bson_iter_init(&it, u);
	while (bson_iter_next(&it))
		if (BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &f))
			while (bson_iter_next(&f))
				n += 2; /* a $rename field makes two entries */
	c->ents = bson_malloc0((n ? n : 1) * sizeof *c->ents);
	bson_iter_init(&it, u);
	while (bson_iter_next(&it))
		if (!parse_operator(c, &it))
			return false;
	if (!update_filters_parse(c) || !update_filters_used(c))
		return false;
	qsort(c->ents, c->nents, sizeof *c->ents, cmp_entries);
	for (uint32_t i = 1; i < c->nents; i++)
		if (update_path_is_prefix(&c->ents[i - 1], &c->ents[i]))
			return update_fail(c, UPDATE_ERROR, "Updating the path '%s' would create a conflict at '%s'",
					   c->ents[i].path, c->ents[i - 1].path) == UPDATE_OK;
	return merges_known(c);
}

/* The deepest element level under v (its own fields are level 1), as
 * MongoDB's storage validation counts it; stops counting past limit. */
static int doc_depth(const bson_value_t *v, int limit)
{
	bson_t d;
	bson_iter_t it;
	int max = 0;

	if (limit < 0 || !bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len) ||
	    !bson_iter_init(&it, &d))
		return 0;
	while (bson_iter_next(&it) && max <= limit) {
		int k = 1;

		if (BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it))
			k += doc_depth(bson_iter_value(&it), limit - 1);
		if (k > max)
			max = k;
	}
	return max;
}

/* Result checks shared by both kinds; NOOP when byte-identical. */
static enum update_status finish(struct uctx *c, const bson_t *doc, bson_t *out)
{
	bson_value_t v = {.value_type = BSON_TYPE_DOCUMENT};

	if (out->len > UPDATE_MAX_BSON)
		return update_fail(c, UPDATE_ERROR, "document too large: the resulting document after update is larger than %d", UPDATE_MAX_BSON);
	v.value.v_doc.data = (uint8_t *)bson_get_data(out);
	v.value.v_doc.data_len = out->len;
	if (doc_depth(&v, UPDATE_MAX_DEPTH) > UPDATE_MAX_DEPTH)
		return update_fail(c, UPDATE_ERROR, "Document exceeds maximum nesting depth of %d", UPDATE_MAX_DEPTH);
	if (out->len == doc->len && memcmp(bson_get_data(out), bson_get_data(doc), doc->len) == 0)
		return UPDATE_NOOP;
	return UPDATE_OK;
}

/* Same type and same value bytes (MongoDB's binaryEqualValues). */
static bool same_bytes(const bson_value_t *a, const bson_value_t *b)
{
	bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
	bool same = a->value_type == b->value_type && bson_append_value(&x, "", 0, a) &&
		    bson_append_value(&y, "", 0, b) && x.len == y.len &&
		    memcmp(bson_get_data(&x), bson_get_data(&y), x.len) == 0;

	bson_destroy(&x);
	bson_destroy(&y);
	return same;
}

/* Operators may leave _id as it was, byte for byte, and nothing else:
 * MongoDB rejects any modifier that changes it (even 1 to 1.0). */
static enum update_status check_id(struct uctx *c, const bson_t *doc, const bson_t *out)
{
	bson_iter_t a, b;

	if (!bson_iter_init_find(&a, doc, "_id"))
		return UPDATE_OK;
	if (!bson_iter_init_find(&b, out, "_id") ||
	    !same_bytes(bson_iter_value(&a), bson_iter_value(&b)))
		return update_fail(c, UPDATE_ERROR, "Performing an update on the path '_id' would modify the immutable field '_id'");
	return UPDATE_OK;
}

/* The update stage's ensureIdFieldIsFirst: _id moves to the front; a
 * document left without _id gets a server-generated ObjectId (RESYNC). */
static enum update_status id_first(struct uctx *c, bson_t *out)
{
	bson_iter_t it;
	bson_t tmp = BSON_INITIALIZER;
	bool ok;

	if (!bson_iter_init_find(&it, out, "_id"))
		return update_fail(c, UPDATE_RESYNC, "no _id: the server generates one");
	if (bson_iter_init(&it, out) && bson_iter_next(&it) && strcmp(bson_iter_key(&it), "_id") == 0)
		return UPDATE_OK;
	bson_iter_init_find(&it, out, "_id");
	ok = bson_append_value(&tmp, "_id", 3, bson_iter_value(&it));
	bson_iter_init(&it, out);
	while (ok && bson_iter_next(&it))
		if (strcmp(bson_iter_key(&it), "_id") != 0)
			ok = bson_append_value(&tmp, bson_iter_key(&it), -1, bson_iter_value(&it));
	bson_reinit(out);
	ok = ok && bson_concat(out, &tmp);
	bson_destroy(&tmp);
	return ok ? UPDATE_OK : update_fail(c, UPDATE_ERROR, "document too large");
}

static enum update_status apply_operators(struct uctx *c, const bson_t *doc, const bson_t *u,
					  bson_t *out)
{
	struct unode root = {.v = {.value_type = BSON_TYPE_DOCUMENT}};

	root.v.value.v_doc.data = (uint8_t *)bson_get_data(doc);
	root.v.value.v_doc.data_len = doc->len;
	if (parse_all(c, u) && update_node_expand(c, &root) == UPDATE_OK) {
		for (uint32_t i = 0; i < c->nents && c->st == UPDATE_OK; i++)
			(void)update_ops_apply(c, &c->ents[i], &root);
	}
	if (c->st == UPDATE_OK && !update_node_emit(&root, out))
		(void)update_fail(c, UPDATE_ERROR, "document too large");
	update_node_clear(&root);
	if (c->st != UPDATE_OK || check_id(c, doc, out) != UPDATE_OK || id_first(c, out) != UPDATE_OK)
		return c->st;
	return finish(c, doc, out);
}

/* MongoDB's ObjectReplaceExecutor: the document becomes the replacement,
 * keeping the original _id when the replacement has none; a replacement
 * _id must compare equal to the original (1 and 1.0 do, and the new value
 * is stored); the update stage then moves _id first.  A top-level
 * Timestamp(0, 0) is replaced by the server's clock: RESYNC. */
static enum update_status apply_replacement(struct uctx *c, const bson_t *doc, const bson_t *u,
					    bson_t *out)
{
	bson_iter_t old, nu, it;
	bool has_old = bson_iter_init_find(&old, doc, "_id");
	bool has_new = bson_iter_init_find(&nu, u, "_id");

	if (has_old && has_new && !bsoncmp_equal(bson_iter_value(&old), bson_iter_value(&nu)))
		return update_fail(c, UPDATE_ERROR, "After applying the update, the (immutable) field '_id' was found to have been altered");
	if ((has_new && !bson_append_value(out, "_id", 3, bson_iter_value(&nu))) ||
	    (!has_new && has_old && !bson_append_value(out, "_id", 3, bson_iter_value(&old))))
		return update_fail(c, UPDATE_ERROR, "document too large");
	bson_iter_init(&it, u);
	while (bson_iter_next(&it)) {
		if (BSON_ITER_HOLDS_TIMESTAMP(&it)) {
			uint32_t t, i;

			bson_iter_timestamp(&it, &t, &i);
			if (t == 0 && i == 0)
				return update_fail(c, UPDATE_RESYNC, "Timestamp(0, 0) in a replacement: the server sets it");
		}
		if (strcmp(bson_iter_key(&it), "_id") == 0)
			continue;
		if (!bson_append_value(out, bson_iter_key(&it), -1, bson_iter_value(&it)))
			return update_fail(c, UPDATE_ERROR, "document too large");
	}
	if (!has_new && !has_old)
		return update_fail(c, UPDATE_RESYNC, "no _id: the server generates one");
	return finish(c, doc, out);
}

/* Free what a context owns (entries, filters, scratch documents). */
void update_ctx_free(struct uctx *c)
{
	for (uint32_t i = 0; i < c->nents; i++) {
		bson_free(c->ents[i].path);
		bson_free(c->ents[i].segbuf);
		bson_free(c->ents[i].segs);
		if (c->ents[i].pull_filter)
			bson_destroy(c->ents[i].pull_filter);
	}
	bson_free(c->ents);
	for (uint32_t i = 0; i < c->nfilters; i++)
		bson_free(c->filters[i].ident);
	bson_free(c->filters);
	for (uint32_t i = 0; i < c->ntmps; i++)
		bson_destroy(c->tmps[i]);
	free(c->tmps);
}

enum update_status update_apply(const bson_t *doc, const struct update_args *args, bson_t *out,
				bson_error_t *err)
{
	struct uctx c = {.args = args, .err = err};
	enum update_status st;
	bson_t u;

	bson_init(out);
	if (err)
		memset(err, 0, sizeof *err);
	if (!doc || !args || !args->u)
		return update_fail(&c, UPDATE_ERROR, "update_apply: missing document or update");
	switch (update_kind_of(args->u)) {
	case UPDATE_KIND_PIPELINE:
		st = update_fail(&c, UPDATE_RESYNC, "aggregation pipeline update: only MongoDB computes it");
		break;
	case UPDATE_KIND_INVALID:
		st = update_fail(&c, UPDATE_ERROR, "The update must be a document of operators, a replacement document or a pipeline, not a mix");
		break;
	default:
		bson_init_static(&u, args->u->value.v_doc.data, args->u->value.v_doc.data_len);
		st = update_kind_of(args->u) == UPDATE_KIND_REPLACEMENT
			     ? apply_replacement(&c, doc, &u, out)
			     : apply_operators(&c, doc, &u, out);
	}
	update_ctx_free(&c);
	if (st != UPDATE_OK) {
		bson_reinit(out);
		if (st == UPDATE_NOOP)
			bson_concat(out, doc);
	}
	return st;
}
