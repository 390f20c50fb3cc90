/*
 * update_ops.c - the field operators: $set $setOnInsert $unset $inc $mul
 * $min $max $bit $rename (array operators are in update_array.c).
 *
 * Numbers follow MongoDB's SafeNum: int32 op int32 stays int32 unless it
 * overflows (then int64); anything with int64 is int64 and an int64
 * overflow is an error; anything with a double is a double.  decimal128
 * arithmetic is not reproduced (libbson has none): UPDATE_RESYNC.
 */
#include <string.h>

#include "bsoncmp.h"
#include "update_internal.h"

static bool is_number(bson_type_t t)
{
	return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE ||
	       t == BSON_TYPE_DECIMAL128;
}

static const char *leaf_name(const struct uentry *e, const struct unode *parent, const char *key)
{
	(void)parent;
	return key ? key : e->segs[e->nseg - 1];
}

static bool parse_bit(struct uctx *c, struct uentry *e)
{
	bson_t d;
	bson_iter_t it;
	int n = 0;

	if (e->val.value_type != BSON_TYPE_DOCUMENT)
		return update_fail(c, UPDATE_ERROR, "The $bit modifier is not compatible with a %s. You must pass in an embedded document: {$bit: {field: {and/or/xor: #}}", e->path) == UPDATE_OK;
	bson_init_static(&d, e->val.value.v_doc.data, e->val.value.v_doc.data_len);
	if (!bson_iter_init(&it, &d))
		return update_fail(c, UPDATE_ERROR, "invalid $bit argument") == UPDATE_OK;
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		int op = !strcmp(k, "and") ? 1 : !strcmp(k, "or") ? 2 : !strcmp(k, "xor") ? 3 : 0;

		if (!op)
			return update_fail(c, UPDATE_ERROR, "The $bit modifier only supports 'and', 'or', and 'xor', not '%s' which is an unknown operator: {%s: ...}", k, k) == UPDATE_OK;
		if (!BSON_ITER_HOLDS_INT32(&it) && !BSON_ITER_HOLDS_INT64(&it))
			return update_fail(c, UPDATE_ERROR, "The $bit modifier field must be an Integer(32/64 bit); a '%s' is not supported here: {%s: ...}", "non-integer", k) == UPDATE_OK;
		if (n == 3)
			return update_fail(c, UPDATE_ERROR, "too many $bit operations") == UPDATE_OK;
		e->bitops[n] = op;
		e->bitargs[n++] = *bson_iter_value(&it);
	}
	if (n == 0)
		return update_fail(c, UPDATE_ERROR, "You must pass in at least one bitwise operation. The format is: {$bit: {field: {and/or/xor: #}}") == UPDATE_OK;
	return true;
}

/* Operand checks done once, before anything is applied. */
bool update_ops_parse(struct uctx *c, struct uentry *e)
{
	switch (e->op) {
	case UOP_INC:
	case UOP_MUL:
		if (!is_number(e->val.value_type))
			return update_fail(c, UPDATE_ERROR, "Cannot %s with non-numeric argument: {%s: ...}",
					   e->op == UOP_INC ? "increment" : "multiply", e->path) == UPDATE_OK;
		return true;
	case UOP_BIT:
		return parse_bit(c, e);
	case UOP_PUSH: case UOP_ADD_TO_SET: case UOP_POP: case UOP_PULL: case UOP_PULL_ALL:
		return update_array_parse(c, e);
	default:
		return true;
	}
}

static double as_double(const bson_value_t *v)
{
	if (v->value_type == BSON_TYPE_INT32)
		return v->value.v_int32;
	if (v->value_type == BSON_TYPE_INT64)
		return (double)v->value.v_int64;
	return v->value.v_double;
}

static int64_t as_int64(const bson_value_t *v)
{
	return v->value_type == BSON_TYPE_INT32 ? v->value.v_int32 : v->value.v_int64;
}

/* cur (op) arg into *out, SafeNum rules. */
static enum update_status arith(struct uctx *c, const struct uentry *e, const bson_value_t *cur,
				const bson_value_t *arg, bson_value_t *out)
{
	bool mul = e->op == UOP_MUL;
	int64_t r;

	if (cur->value_type == BSON_TYPE_DECIMAL128 || arg->value_type == BSON_TYPE_DECIMAL128)
		return update_fail(c, UPDATE_RESYNC, "decimal128 arithmetic is not reproduced");
	if (cur->value_type == BSON_TYPE_DOUBLE || arg->value_type == BSON_TYPE_DOUBLE) {
		out->value_type = BSON_TYPE_DOUBLE;
		out->value.v_double = mul ? as_double(cur) * as_double(arg) : as_double(cur) + as_double(arg);
		return UPDATE_OK;
	}
	if (mul ? __builtin_mul_overflow(as_int64(cur), as_int64(arg), &r)
		: __builtin_add_overflow(as_int64(cur), as_int64(arg), &r))
		return update_fail(c, UPDATE_ERROR, "Failed to apply %s operations to current value ((NumberLong)%lld)",
				   e->opname, (long long)as_int64(cur));
	if (cur->value_type == BSON_TYPE_INT32 && arg->value_type == BSON_TYPE_INT32 &&
	    r >= INT32_MIN && r <= INT32_MAX) {
		out->value_type = BSON_TYPE_INT32;
		out->value.v_int32 = (int32_t)r;
	} else {
		out->value_type = BSON_TYPE_INT64;
		out->value.v_int64 = r;
	}
	return UPDATE_OK;
}

static enum update_status leaf_arith(struct uctx *c, const struct uentry *e, struct unode *parent,
				     int64_t idx, const char *key)
{
	bson_value_t r = {.value_type = e->val.value_type};
	const bson_value_t *cur;

	if (idx < 0 && e->op == UOP_INC)
		return update_put(c, parent, idx, key, key ? (uint32_t)strlen(key) : 0, &e->val, NULL);
	if (idx < 0) {
		/* $mul on a missing field: operand * int32 0 (MongoDB's ArithmeticNode). */
		if (r.value_type == BSON_TYPE_DECIMAL128)
			return update_fail(c, UPDATE_RESYNC, "decimal128 arithmetic is not reproduced");
		memset(&r.value, 0, sizeof r.value);
		if (r.value_type == BSON_TYPE_DOUBLE) /* operand * 0: keeps the sign (-0.0) */
			r.value.v_double = e->val.value.v_double * 0.0;
		return update_put(c, parent, idx, key, (uint32_t)strlen(key), &r, NULL);
	}
	cur = &parent->kids[idx].v;
	if (!is_number(cur->value_type))
		return update_fail(c, UPDATE_ERROR, "Cannot apply %s to a value of non-numeric type. The field '%s' is of non-numeric type %s",
				   e->opname, leaf_name(e, parent, key), update_type_name(cur->value_type));
	if (arith(c, e, cur, &e->val, &r) != UPDATE_OK)
		return c->st;
	update_node_set(&parent->kids[idx], &r);
	return UPDATE_OK;
}

static enum update_status leaf_minmax(struct uctx *c, const struct uentry *e, struct unode *parent,
				      int64_t idx, const char *key)
{
	bson_value_t cur;
	int r;

	if (idx < 0)
		return update_put(c, parent, idx, key, (uint32_t)strlen(key), &e->val, NULL);
	if (update_node_value(c, &parent->kids[idx], &cur) != UPDATE_OK)
		return c->st;
	r = bsoncmp_value(&e->val, &cur);
	if ((e->op == UOP_MIN && r < 0) || (e->op == UOP_MAX && r > 0))
		update_node_set(&parent->kids[idx], &e->val);
	return UPDATE_OK;
}

static enum update_status leaf_bit(struct uctx *c, const struct uentry *e, struct unode *parent,
				   int64_t idx, const char *key)
{
	bson_value_t r = {.value_type = BSON_TYPE_INT32};
	int64_t acc = 0;

	if (idx >= 0) {
		r = parent->kids[idx].v;
		if (r.value_type != BSON_TYPE_INT32 && r.value_type != BSON_TYPE_INT64)
			return update_fail(c, UPDATE_ERROR, "Cannot apply $bit to a value of non-integral type. The field '%s' is of non-integer type %s",
					   leaf_name(e, parent, key), update_type_name(r.value_type));
		acc = as_int64(&r);
	}
	for (int i = 0; i < 3 && e->bitops[i]; i++) {
		int64_t a = as_int64(&e->bitargs[i]);

		if (e->bitargs[i].value_type == BSON_TYPE_INT64)
			r.value_type = BSON_TYPE_INT64;
		acc = e->bitops[i] == 1 ? (acc & a) : e->bitops[i] == 2 ? (acc | a) : (acc ^ a);
	}
	if (r.value_type == BSON_TYPE_INT32)
		r.value.v_int32 = (int32_t)acc;
	else
		r.value.v_int64 = acc;
	if (idx >= 0) {
		update_node_set(&parent->kids[idx], &r);
		return UPDATE_OK;
	}
	return update_put(c, parent, idx, key, (uint32_t)strlen(key), &r, NULL);
}

static enum update_status leaf_unset(struct uctx *c, struct unode *parent, int64_t idx)
{
	bson_value_t null = {.value_type = BSON_TYPE_NULL};

	(void)c;
	if (idx < 0)
		return UPDATE_OK;
	if (parent->v.value_type == BSON_TYPE_ARRAY)
		update_node_set(&parent->kids[idx], &null);
	else
		update_node_remove(parent, (uint32_t)idx);
	return UPDATE_OK;
}

static enum update_status ops_leaf(struct uctx *c, const struct uentry *e, struct unode *parent,
				   int64_t idx, const char *key)
{
	uint32_t klen = key ? (uint32_t)strlen(key) : 0;

	switch (e->op) {
	case UOP_SET:
	case UOP_SET_ON_INSERT:
		return update_put(c, parent, idx, key, klen, &e->val, NULL);
	case UOP_RENAME:
		/* MongoDB leaves a destination that compares equal untouched (1 vs 1.0 too). */
		if (idx >= 0 && !parent->kids[idx].expanded &&
		    bsoncmp_value(&parent->kids[idx].v, &c->rename_val) == 0)
			return UPDATE_OK;
		return update_put(c, parent, idx, key, klen, &c->rename_val, NULL);
	case UOP_UNSET:
		return leaf_unset(c, parent, idx);
	case UOP_INC:
	case UOP_MUL:
		return leaf_arith(c, e, parent, idx, key);
	case UOP_MIN:
	case UOP_MAX:
		return leaf_minmax(c, e, parent, idx, key);
	case UOP_BIT:
		return leaf_bit(c, e, parent, idx, key);
	default:
		return update_array_leaf(c, e, parent, idx, key);
	}
}

/* $rename: take the source's value out, then set it at the destination. */
static enum update_status apply_rename(struct uctx *c, struct uentry *e, struct unode *root)
{
	struct uentry *src = NULL;
	struct unode *parent = NULL;
	int64_t idx;

	for (uint32_t i = 0; i < c->nents && !src; i++)
		if (c->ents[i].is_rename_src && c->ents[i].rename_id == e->rename_id)
			src = &c->ents[i];
	if (!src || update_lookup(c, src, root, &parent, &idx) != UPDATE_OK)
		return update_fail(c, UPDATE_ERROR, "$rename source missing");
	if (idx < 0)
		return UPDATE_OK;
	if (update_node_value(c, &parent->kids[idx], &c->rename_val) != UPDATE_OK)
		return c->st;
	update_node_remove(parent, (uint32_t)idx);
	return update_walk(c, e, root, true, ops_leaf);
}

/* Apply one entry to the tree rooted at root. */
enum update_status update_ops_apply(struct uctx *c, struct uentry *e, struct unode *root)
{
	switch (e->op) {
	case UOP_SET_ON_INSERT:
		if (!c->args->inserting)
			return UPDATE_OK;
		return update_walk(c, e, root, true, ops_leaf);
	case UOP_RENAME:
		return e->is_rename_src ? UPDATE_OK : apply_rename(c, e, root);
	case UOP_UNSET: case UOP_POP: case UOP_PULL: case UOP_PULL_ALL:
		return update_walk(c, e, root, false, ops_leaf);
	default:
		return update_walk(c, e, root, true, ops_leaf);
	}
}
