/*
 * test_update.c - update operators applied in C, against the MongoDB 7/8
 * manual: each case is (document, update, arrayFilters, matched position,
 * inserting) -> expected status and document (compared as canonical
 * extended JSON, so types and field order count) or error text.  Most
 * documents and expectations are the manual's own examples.
 */
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <criterion/criterion.h>

#include "bsoncmp.h"
#include "update.h"

struct ucase {
	const char *name;
	const char *doc;
	const char *u;           /* document, or "[...]" for a pipeline */
	const char *filters;     /* "[...]" or NULL */
	int pos;                 /* m->pos; -1 none */
	bool inserting;
	enum update_status st;
	const char *expect;      /* OK: document; ERROR/RESYNC: message part */
};

static bson_t *json(const char *s)
{
	bson_error_t e;
	bson_t *b = bson_new_from_json((const uint8_t *)s, -1, &e);

	cr_assert(b, "bad test JSON %s: %s", s, e.message);
	return b;
}

/* The value of {"v": <s>} (for arrays), kept alive by *holder. */
static void wrapped(const char *s, bson_t **holder, bson_value_t *v)
{
	char *w = bson_strdup_printf("{\"v\": %s}", s);
	bson_iter_t it;

	*holder = json(w);
	bson_free(w);
	cr_assert(bson_iter_init_find(&it, *holder, "v"));
	*v = *bson_iter_value(&it);
}

static char *canon(const bson_t *b)
{
	return bson_as_canonical_extended_json(b, NULL);
}

/* Stored documents always have _id (MongoDB adds one, first): operator
 * cases written without it get _id 0 prepended to input and expectation. */
static bson_t *json_with_id(const char *s, bool add)
{
	bson_t *b = json(s), *r;
	bson_iter_t it;

	if (!add || bson_iter_init_find(&it, b, "_id"))
		return b;
	r = BCON_NEW("_id", BCON_INT32(0));
	cr_assert(bson_concat(r, b));
	bson_destroy(b);
	return r;
}

static void run_case(const struct ucase *tc)
{
	bool add_id = strncmp(tc->u, "{\"$", 3) == 0;
	bson_t *doc = json_with_id(tc->doc, add_id), *uh, *fh = NULL, out, fa;
	bson_value_t uv, fv;
	struct match_result m = {.pos = tc->pos};
	struct update_args a = {.m = &m, .inserting = tc->inserting};
	bson_error_t err;
	enum update_status st;

	wrapped(tc->u, &uh, &uv);
	a.u = &uv;
	if (tc->filters) {
		wrapped(tc->filters, &fh, &fv);
		cr_assert(bson_init_static(&fa, fv.value.v_doc.data, fv.value.v_doc.data_len));
		a.array_filters = &fa;
	}
	st = update_apply(doc, &a, &out, &err);
	cr_expect_eq(st, tc->st, "%s: status %d, want %d (%s)", tc->name, st, tc->st,
		     st == UPDATE_OK || st == UPDATE_NOOP ? "" : err.message);
	if (st == tc->st && st == UPDATE_OK) {
		bson_t *want = json_with_id(tc->expect, add_id);
		char *g = canon(&out), *w = canon(want);

		cr_expect_str_eq(g, w, "%s:\n got  %s\n want %s", tc->name, g, w);
		bson_free(g);
		bson_free(w);
		bson_destroy(want);
	} else if (st == tc->st && st == UPDATE_NOOP) {
		cr_expect(bson_equal(&out, doc), "%s: NOOP must copy the input", tc->name);
	} else if (st == tc->st && tc->expect) {
		cr_expect(strstr(err.message, tc->expect), "%s: message '%s' lacks '%s'", tc->name,
			  err.message, tc->expect);
	}
	if (st != UPDATE_OK && st != UPDATE_NOOP)
		cr_expect_eq(out.len, 5u, "%s: *out must be empty on failure", tc->name);
	bson_destroy(&out);
	bson_destroy(doc);
	bson_destroy(uh);
	if (fh)
		bson_destroy(fh);
}

static void run_table(const struct ucase *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&t[i]);
}

#define OK(n, d, u, want) {n, d, u, NULL, -1, false, UPDATE_OK, want}
#define NOOP(n, d, u) {n, d, u, NULL, -1, false, UPDATE_NOOP, NULL}
#define ERR(n, d, u, msg) {n, d, u, NULL, -1, false, UPDATE_ERROR, msg}
#define RESYNC(n, d, u) {n, d, u, NULL, -1, false, UPDATE_RESYNC, NULL}
#define TABLE(t) run_table(t, sizeof t / sizeof t[0])

#define INVENTORY "{\"_id\": 100, \"quantity\": 250, \"instock\": true, \"reorder\": false, " \
	"\"details\": {\"model\": \"14QQ\", \"make\": \"Clothes Corp\"}, " \
	"\"tags\": [\"apparel\", \"clothing\"], \"ratings\": [{\"by\": \"Customer007\", \"rating\": 4}]}"

Test(update, set_unset)
{
	static const struct ucase t[] = {
		OK("manual $set top-level", INVENTORY,
		   "{\"$set\": {\"quantity\": 500, \"details\": {\"model\": \"2600\", \"make\": \"Fashionaires\"}, \"tags\": [\"coats\", \"outerwear\", \"clothing\"]}}",
		   "{\"_id\": 100, \"quantity\": 500, \"instock\": true, \"reorder\": false, \"details\": {\"model\": \"2600\", \"make\": \"Fashionaires\"}, \"tags\": [\"coats\", \"outerwear\", \"clothing\"], \"ratings\": [{\"by\": \"Customer007\", \"rating\": 4}]}"),
		OK("manual $set embedded", INVENTORY, "{\"$set\": {\"details.make\": \"Kustom Kidz\"}}",
		   "{\"_id\": 100, \"quantity\": 250, \"instock\": true, \"reorder\": false, \"details\": {\"model\": \"14QQ\", \"make\": \"Kustom Kidz\"}, \"tags\": [\"apparel\", \"clothing\"], \"ratings\": [{\"by\": \"Customer007\", \"rating\": 4}]}"),
		OK("manual $set array elements", INVENTORY, "{\"$set\": {\"tags.1\": \"rain gear\", \"ratings.0.rating\": 2}}",
		   "{\"_id\": 100, \"quantity\": 250, \"instock\": true, \"reorder\": false, \"details\": {\"model\": \"14QQ\", \"make\": \"Clothes Corp\"}, \"tags\": [\"apparel\", \"rain gear\"], \"ratings\": [{\"by\": \"Customer007\", \"rating\": 2}]}"),
		OK("new fields appended in path order", "{\"_id\": 1, \"a\": {\"x\": 1}}",
		   "{\"$set\": {\"z\": 1, \"b\": 2, \"a.c\": 3, \"a.b\": 4}}",
		   "{\"_id\": 1, \"a\": {\"x\": 1, \"b\": 4, \"c\": 3}, \"b\": 2, \"z\": 1}"),
		OK("order across operators", "{\"_id\": 1}", "{\"$set\": {\"c\": 1}, \"$inc\": {\"b\": 1}, \"$push\": {\"a\": 1}}",
		   "{\"_id\": 1, \"a\": [1], \"b\": 1, \"c\": 1}"),
		OK("intermediate documents created", "{\"_id\": 1}", "{\"$set\": {\"b.y\": 1, \"b.x\": 2, \"a\": 0}}",
		   "{\"_id\": 1, \"a\": 0, \"b\": {\"x\": 2, \"y\": 1}}"),
		OK("numeric field names in numeric order", "{\"_id\": 1, \"a\": {}}", "{\"$set\": {\"a.10\": 1, \"a.9\": 2}}",
		   "{\"_id\": 1, \"a\": {\"9\": 2, \"10\": 1}}"),
		OK("index past the end pads with null", "{\"a\": [1]}", "{\"$set\": {\"a.3\": 5}}",
		   "{\"a\": [1, null, null, 5]}"),
		OK("padded index with a sub-path", "{\"a\": []}", "{\"$set\": {\"a.1.b\": 5}}",
		   "{\"a\": [null, {\"b\": 5}]}"),
		OK("existing type changes in place", "{\"a\": 1, \"b\": 2}", "{\"$set\": {\"a\": \"x\"}}",
		   "{\"a\": \"x\", \"b\": 2}"),
		NOOP("$set same value", "{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"a\": 1}}"),
		OK("$set 1.0 over 1 changes the type", "{\"a\": 1}", "{\"$set\": {\"a\": 1.0}}", "{\"a\": 1.0}"),
		NOOP("empty $set", "{\"_id\": 1, \"a\": 1}", "{\"$set\": {}}"),
		OK("manual $unset", "{\"_id\": 1, \"sku\": \"unknown\", \"quantity\": 2, \"instock\": true}",
		   "{\"$unset\": {\"quantity\": \"\", \"instock\": \"\"}}", "{\"_id\": 1, \"sku\": \"unknown\"}"),
		OK("$unset an array element sets null", "{\"a\": [1, 2, 3]}", "{\"$unset\": {\"a.1\": 1}}",
		   "{\"a\": [1, null, 3]}"),
		OK("$unset embedded", "{\"a\": {\"b\": 1, \"c\": 2}}", "{\"$unset\": {\"a.b\": 1}}", "{\"a\": {\"c\": 2}}"),
		NOOP("$unset missing", "{\"a\": 1}", "{\"$unset\": {\"b\": 1, \"a.x\": 1, \"c.d\": 1}}"),
		NOOP("$unset does not traverse arrays", "{\"a\": [{\"b\": 1}]}", "{\"$unset\": {\"a.b\": 1}}"),
		ERR("create in a scalar", "{\"a\": 1}", "{\"$set\": {\"a.b\": 1}}", "Cannot create field 'b'"),
		ERR("create in null", "{\"a\": null}", "{\"$set\": {\"a.b\": 1}}", "Cannot create field 'b'"),
		ERR("field name on an array", "{\"a\": [{\"b\": 1}]}", "{\"$set\": {\"a.b\": 1}}", "Cannot create field 'b'"),
		ERR("empty path segment", "{}", "{\"$set\": {\"a..b\": 1}}", "empty field name"),
		ERR("empty path", "{}", "{\"$set\": {\"\": 1}}", "empty update path"),
		OK("array index with a leading zero", "{\"a\": [1, 2]}", "{\"$set\": {\"a.01\": 5}}", "{\"a\": [1, 5]}"),
		OK("$unset array index with a leading zero", "{\"a\": [1, 2]}", "{\"$unset\": {\"a.01\": 1}}", "{\"a\": [1, null]}"),
		OK("leading zero is a name in a document", "{\"a\": {\"1\": 0}}", "{\"$set\": {\"a.01\": 5}}", "{\"a\": {\"1\": 0, \"01\": 5}}"),
		ERR("padding cap", "{\"a\": [1]}", "{\"$set\": {\"a.1500002\": 1}}", "backfill"),
	};

	TABLE(t);
}

Test(update, conflicts_and_id)
{
	static const struct ucase t[] = {
		ERR("prefix conflict", "{}", "{\"$set\": {\"a\": 1}, \"$inc\": {\"a.b\": 1}}",
		    "Updating the path 'a.b' would create a conflict at 'a'"),
		ERR("same path", "{}", "{\"$set\": {\"a\": 1}, \"$unset\": {\"a\": 1}}",
		    "Updating the path 'a' would create a conflict at 'a'"),
		ERR("rename source conflict", "{\"a\": 1}", "{\"$rename\": {\"a\": \"b\"}, \"$set\": {\"a\": 2}}",
		    "would create a conflict"),
		OK("siblings do not conflict", "{}", "{\"$set\": {\"a.b\": 1, \"a.c\": 2, \"ab\": 3}}",
		   "{\"a\": {\"b\": 1, \"c\": 2}, \"ab\": 3}"),
		ERR("modify _id", "{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"_id\": 2}}",
		    "Performing an update on the path '_id' would modify the immutable field '_id'"),
		ERR("unset _id", "{\"_id\": 1}", "{\"$unset\": {\"_id\": 1}}", "immutable field '_id'"),
		ERR("modify inside _id", "{\"_id\": {\"x\": 1}}", "{\"$set\": {\"_id.x\": 2}}", "immutable field '_id'"),
		ERR("inc _id", "{\"_id\": 1}", "{\"$inc\": {\"_id\": 1}}", "immutable field '_id'"),
		ERR("set _id to an equal value of another type", "{\"_id\": 1}", "{\"$set\": {\"_id\": 1.0}}", "immutable field '_id'"),
		NOOP("inc _id by zero", "{\"_id\": 1}", "{\"$inc\": {\"_id\": 0}}"),
		OK("_id moves first", "{\"a\": 1, \"_id\": 7}", "{\"$set\": {\"b\": 1}}", "{\"_id\": 7, \"a\": 1, \"b\": 1}"),
		NOOP("set _id unchanged", "{\"_id\": 1, \"a\": 1}", "{\"$set\": {\"_id\": 1}}"),
		ERR("unknown modifier", "{}", "{\"$foo\": {\"a\": 1}}", "Unknown modifier: $foo"),
		ERR("modifier not a document", "{}", "{\"$set\": 1}", "Modifiers operate on fields"),
		ERR("mixed update", "{}", "{\"$set\": {\"a\": 1}, \"b\": 2}", "not a mix"),
		ERR("two positional", "{\"a\": [[1]]}", "{\"$set\": {\"a.$.$\": 1}}", "Too many positional"),
		ERR("positional first", "{}", "{\"$set\": {\"$\": 1}}", "first position"),
		RESYNC("pipeline", "{\"a\": 1}", "[{\"$set\": {\"b\": 1}}]"),
		RESYNC("$currentDate", "{\"a\": 1}", "{\"$set\": {\"a\": 2}, \"$currentDate\": {\"d\": true}}"),
	};

	TABLE(t);
}

Test(update, arithmetic)
{
	static const struct ucase t[] = {
		OK("manual $inc", "{\"_id\": 1, \"sku\": \"abc123\", \"quantity\": 10, \"metrics\": {\"orders\": 2, \"ratings\": 3.5}}",
		   "{\"$inc\": {\"quantity\": -2, \"metrics.orders\": 1}}",
		   "{\"_id\": 1, \"sku\": \"abc123\", \"quantity\": 8, \"metrics\": {\"orders\": 3, \"ratings\": 3.5}}"),
		OK("$inc int32 overflow to int64", "{\"a\": 2147483647}", "{\"$inc\": {\"a\": 1}}",
		   "{\"a\": {\"$numberLong\": \"2147483648\"}}"),
		OK("$inc int32 + int64 is int64", "{\"a\": 1}", "{\"$inc\": {\"a\": {\"$numberLong\": \"1\"}}}",
		   "{\"a\": {\"$numberLong\": \"2\"}}"),
		OK("$inc int + double is double", "{\"a\": 1}", "{\"$inc\": {\"a\": 0.5}}", "{\"a\": 1.5}"),
		OK("$inc missing sets the operand", "{\"a\": 1}", "{\"$inc\": {\"b\": {\"$numberLong\": \"5\"}}}",
		   "{\"a\": 1, \"b\": {\"$numberLong\": \"5\"}}"),
		NOOP("$inc by zero", "{\"a\": 1}", "{\"$inc\": {\"a\": 0}}"),
		ERR("$inc int64 overflow", "{\"a\": {\"$numberLong\": \"9223372036854775807\"}}", "{\"$inc\": {\"a\": 1}}",
		    "Failed to apply $inc"),
		ERR("$inc non-numeric field", "{\"a\": \"x\"}", "{\"$inc\": {\"a\": 1}}",
		    "Cannot apply $inc to a value of non-numeric type"),
		ERR("$inc non-numeric argument", "{\"a\": 1}", "{\"$inc\": {\"a\": \"1\"}}", "Cannot increment with non-numeric argument"),
		RESYNC("$inc decimal128", "{\"a\": {\"$numberDecimal\": \"1.5\"}}", "{\"$inc\": {\"a\": 1}}"),
		OK("manual $mul missing field (NumberLong)", "{\"_id\": 2, \"item\": \"Unknown\"}", "{\"$mul\": {\"price\": {\"$numberLong\": \"100\"}}}",
		   "{\"_id\": 2, \"item\": \"Unknown\", \"price\": {\"$numberLong\": \"0\"}}"),
		OK("manual $mul mixed types", "{\"_id\": 3, \"item\": \"XYZ\", \"price\": {\"$numberLong\": \"10\"}}", "{\"$mul\": {\"price\": {\"$numberInt\": \"5\"}}}",
		   "{\"_id\": 3, \"item\": \"XYZ\", \"price\": {\"$numberLong\": \"50\"}}"),
		OK("$mul missing double", "{}", "{\"$mul\": {\"a\": 2.5}}", "{\"a\": 0.0}"),
		OK("$mul missing negative double is -0.0", "{}", "{\"$mul\": {\"a\": -2.5}}", "{\"a\": {\"$numberDouble\": \"-0.0\"}}"),
		OK("$mul missing int32", "{}", "{\"$mul\": {\"a\": 7}}", "{\"a\": 0}"),
		OK("$mul int32 overflow", "{\"a\": 65536}", "{\"$mul\": {\"a\": 65536}}", "{\"a\": {\"$numberLong\": \"4294967296\"}}"),
		ERR("$mul int64 overflow", "{\"a\": {\"$numberLong\": \"4611686018427387904\"}}", "{\"$mul\": {\"a\": 2}}", "Failed to apply $mul"),
		RESYNC("manual $mul decimal", "{\"_id\": 1, \"price\": {\"$numberDecimal\": \"10.99\"}, \"qty\": 25}",
		       "{\"$mul\": {\"price\": {\"$numberDecimal\": \"1.25\"}, \"qty\": 2}}"),
		OK("manual $min", "{\"_id\": 1, \"highScore\": 800, \"lowScore\": 200}", "{\"$min\": {\"lowScore\": 150}}",
		   "{\"_id\": 1, \"highScore\": 800, \"lowScore\": 150}"),
		NOOP("manual $min no change", "{\"_id\": 1, \"highScore\": 800, \"lowScore\": 150}", "{\"$min\": {\"lowScore\": 250}}"),
		OK("manual $max", "{\"_id\": 1, \"highScore\": 800, \"lowScore\": 200}", "{\"$max\": {\"highScore\": 950}}",
		   "{\"_id\": 1, \"highScore\": 950, \"lowScore\": 200}"),
		NOOP("manual $max no change", "{\"_id\": 1, \"highScore\": 950}", "{\"$max\": {\"highScore\": 870}}"),
		NOOP("$min equal value of another type keeps type", "{\"a\": 1}", "{\"$min\": {\"a\": 1.0}}"),
		NOOP("$min across brackets: string above number", "{\"a\": 1}", "{\"$min\": {\"a\": \"x\"}}"),
		OK("$min across brackets: number below string", "{\"a\": \"x\"}", "{\"$min\": {\"a\": 1}}", "{\"a\": 1}"),
		OK("$max missing sets", "{}", "{\"$max\": {\"a.b\": 3}}", "{\"a\": {\"b\": 3}}"),
		OK("manual $bit and", "{\"_id\": 1, \"expdata\": {\"$numberInt\": \"13\"}}", "{\"$bit\": {\"expdata\": {\"and\": {\"$numberInt\": \"10\"}}}}",
		   "{\"_id\": 1, \"expdata\": 8}"),
		OK("manual $bit or", "{\"_id\": 2, \"expdata\": {\"$numberLong\": \"3\"}}", "{\"$bit\": {\"expdata\": {\"or\": {\"$numberInt\": \"5\"}}}}",
		   "{\"_id\": 2, \"expdata\": {\"$numberLong\": \"7\"}}"),
		OK("manual $bit xor", "{\"_id\": 3, \"expdata\": 1}", "{\"$bit\": {\"expdata\": {\"xor\": 5}}}", "{\"_id\": 3, \"expdata\": 4}"),
		OK("$bit int64 operand promotes", "{\"a\": 1}", "{\"$bit\": {\"a\": {\"or\": {\"$numberLong\": \"2\"}}}}",
		   "{\"a\": {\"$numberLong\": \"3\"}}"),
		OK("$bit missing starts from 0", "{}", "{\"$bit\": {\"a\": {\"or\": 6}}}", "{\"a\": 6}"),
		ERR("$bit on double", "{\"a\": 1.0}", "{\"$bit\": {\"a\": {\"and\": 1}}}", "non-integral"),
		ERR("$bit double operand", "{\"a\": 1}", "{\"$bit\": {\"a\": {\"and\": 1.0}}}", "Integer(32/64 bit)"),
		ERR("$bit unknown op", "{\"a\": 1}", "{\"$bit\": {\"a\": {\"nand\": 1}}}", "only supports"),
	};

	TABLE(t);
}

#define WASHINGTON "{\"_id\": 1, \"alias\": [\"The American Cincinnatus\", \"The American Fabius\"], " \
	"\"mobile\": \"555-555-5555\", \"nmae\": {\"first\": \"george\", \"last\": \"washington\"}}"

Test(update, rename_set_on_insert)
{
	static const struct ucase t[] = {
		OK("manual $rename", WASHINGTON, "{\"$rename\": {\"nmae\": \"name\"}}",
		   "{\"_id\": 1, \"alias\": [\"The American Cincinnatus\", \"The American Fabius\"], \"mobile\": \"555-555-5555\", \"name\": {\"first\": \"george\", \"last\": \"washington\"}}"),
		OK("manual $rename embedded", "{\"_id\": 1, \"name\": {\"first\": \"george\", \"last\": \"washington\"}}",
		   "{\"$rename\": {\"name.first\": \"name.fname\"}}",
		   "{\"_id\": 1, \"name\": {\"last\": \"washington\", \"fname\": \"george\"}}"),
		NOOP("manual $rename missing field", WASHINGTON, "{\"$rename\": {\"wife\": \"spouse\"}}"),
		OK("$rename onto an existing field", "{\"a\": 1, \"b\": 2, \"c\": 3}", "{\"$rename\": {\"a\": \"c\"}}",
		   "{\"b\": 2, \"c\": 1}"),
		OK("$rename onto an equal value keeps the destination's type", "{\"a\": 1.0, \"b\": 1, \"c\": 0}", "{\"$rename\": {\"a\": \"b\"}}",
		   "{\"b\": 1, \"c\": 0}"),
		OK("$rename into a new embedded doc", "{\"a\": 1, \"b\": 2}", "{\"$rename\": {\"a\": \"x.y\"}}",
		   "{\"b\": 2, \"x\": {\"y\": 1}}"),
		OK("$rename moves an array", "{\"a\": [1, 2], \"b\": 0}", "{\"$rename\": {\"a\": \"c\"}}", "{\"b\": 0, \"c\": [1, 2]}"),
		ERR("$rename source in an array", "{\"a\": [{\"b\": 1}]}", "{\"$rename\": {\"a.0.b\": \"c\"}}", "source field cannot be an array element"),
		ERR("$rename destination in an array", "{\"a\": [], \"b\": 1}", "{\"$rename\": {\"b\": \"a.0\"}}", "destination field cannot be an array element"),
		ERR("$rename to itself", "{\"a\": 1}", "{\"$rename\": {\"a\": \"a\"}}", "must differ"),
		ERR("$rename same path", "{\"a\": {\"b\": 1}}", "{\"$rename\": {\"a\": \"a.b\"}}", "same path"),
		ERR("$rename non-string", "{\"a\": 1}", "{\"$rename\": {\"a\": 1}}", "must be a string"),
		ERR("$rename positional", "{\"a\": [1]}", "{\"$rename\": {\"a.$\": \"b\"}}", "may not be dynamic"),
		{"$setOnInsert when inserting", "{\"_id\": 1}", "{\"$set\": {\"item\": \"apple\"}, \"$setOnInsert\": {\"defaultQty\": 100}}",
		 NULL, -1, true, UPDATE_OK, "{\"_id\": 1, \"defaultQty\": 100, \"item\": \"apple\"}"},
		OK("$setOnInsert ignored on update", "{\"_id\": 1}", "{\"$set\": {\"item\": \"apple\"}, \"$setOnInsert\": {\"defaultQty\": 100}}",
		   "{\"_id\": 1, \"item\": \"apple\"}"),
	};

	TABLE(t);
}

Test(update, push)
{
	static const struct ucase t[] = {
		OK("manual $push", "{\"_id\": 1, \"scores\": [44, 78, 38, 80]}", "{\"$push\": {\"scores\": 89}}",
		   "{\"_id\": 1, \"scores\": [44, 78, 38, 80, 89]}"),
		OK("manual $push $each", "{\"_id\": 1, \"scores\": [44]}", "{\"$push\": {\"scores\": {\"$each\": [90, 92, 85]}}}",
		   "{\"_id\": 1, \"scores\": [44, 90, 92, 85]}"),
		OK("manual $push $each $sort $slice (stable)",
		   "{\"_id\": 5, \"quizzes\": [{\"wk\": 1, \"score\": 10}, {\"wk\": 2, \"score\": 8}, {\"wk\": 3, \"score\": 5}, {\"wk\": 4, \"score\": 6}]}",
		   "{\"$push\": {\"quizzes\": {\"$each\": [{\"wk\": 5, \"score\": 8}, {\"wk\": 6, \"score\": 7}, {\"wk\": 7, \"score\": 6}], \"$sort\": {\"score\": -1}, \"$slice\": 3}}}",
		   "{\"_id\": 5, \"quizzes\": [{\"wk\": 1, \"score\": 10}, {\"wk\": 2, \"score\": 8}, {\"wk\": 5, \"score\": 8}]}"),
		OK("manual $position 0", "{\"_id\": 1, \"scores\": [100]}", "{\"$push\": {\"scores\": {\"$each\": [50, 60, 70], \"$position\": 0}}}",
		   "{\"_id\": 1, \"scores\": [50, 60, 70, 100]}"),
		OK("manual $position 2", "{\"_id\": 1, \"scores\": [50, 60, 70, 100]}", "{\"$push\": {\"scores\": {\"$each\": [20, 30], \"$position\": 2}}}",
		   "{\"_id\": 1, \"scores\": [50, 60, 20, 30, 70, 100]}"),
		OK("manual $position -2", "{\"_id\": 1, \"scores\": [50, 60, 20, 30, 70, 100]}", "{\"$push\": {\"scores\": {\"$each\": [90, 80], \"$position\": -2}}}",
		   "{\"_id\": 1, \"scores\": [50, 60, 20, 30, 90, 80, 70, 100]}"),
		OK("$position past either end", "{\"a\": [1, 2]}", "{\"$push\": {\"a\": {\"$each\": [9], \"$position\": -10}}}", "{\"a\": [9, 1, 2]}"),
		OK("manual $slice -5", "{\"_id\": 1, \"scores\": [40, 50, 60]}", "{\"$push\": {\"scores\": {\"$each\": [80, 78, 86], \"$slice\": -5}}}",
		   "{\"_id\": 1, \"scores\": [50, 60, 80, 78, 86]}"),
		OK("manual $slice 3", "{\"_id\": 2, \"scores\": [89, 90]}", "{\"$push\": {\"scores\": {\"$each\": [100, 20], \"$slice\": 3}}}",
		   "{\"_id\": 2, \"scores\": [89, 90, 100]}"),
		OK("manual $slice with empty $each", "{\"_id\": 3, \"scores\": [89, 70, 100, 20]}", "{\"$push\": {\"scores\": {\"$each\": [], \"$slice\": -3}}}",
		   "{\"_id\": 3, \"scores\": [70, 100, 20]}"),
		OK("$slice 0 empties", "{\"a\": [1, 2]}", "{\"$push\": {\"a\": {\"$each\": [3], \"$slice\": 0}}}", "{\"a\": []}"),
		OK("manual $sort by field (stable)", "{\"_id\": 1, \"quizzes\": [{\"id\": 1, \"score\": 6}, {\"id\": 2, \"score\": 9}]}",
		   "{\"$push\": {\"quizzes\": {\"$each\": [{\"id\": 3, \"score\": 8}, {\"id\": 4, \"score\": 7}, {\"id\": 5, \"score\": 6}], \"$sort\": {\"score\": 1}}}}",
		   "{\"_id\": 1, \"quizzes\": [{\"id\": 1, \"score\": 6}, {\"id\": 5, \"score\": 6}, {\"id\": 4, \"score\": 7}, {\"id\": 3, \"score\": 8}, {\"id\": 2, \"score\": 9}]}"),
		OK("manual $sort 1", "{\"_id\": 2, \"tests\": [89, 70, 89, 50]}", "{\"$push\": {\"tests\": {\"$each\": [40, 60], \"$sort\": 1}}}",
		   "{\"_id\": 2, \"tests\": [40, 50, 60, 70, 89, 89]}"),
		OK("manual $sort -1 only", "{\"_id\": 3, \"tests\": [89, 70, 100, 20]}", "{\"$push\": {\"tests\": {\"$each\": [], \"$sort\": -1}}}",
		   "{\"_id\": 3, \"tests\": [100, 89, 70, 20]}"),
		OK("$sort mixed types by bracket", "{\"a\": [\"x\", 2, {\"b\": 1}, null]}", "{\"$push\": {\"a\": {\"$each\": [1], \"$sort\": 1}}}",
		   "{\"a\": [null, 1, 2, \"x\", {\"b\": 1}]}"),
		OK("$sort pattern: missing sorts as null", "{\"a\": [{\"s\": 2}, {\"t\": 1}, 5]}", "{\"$push\": {\"a\": {\"$each\": [], \"$sort\": {\"s\": 1}}}}",
		   "{\"a\": [{\"t\": 1}, 5, {\"s\": 2}]}"),
		OK("$push creates the array", "{\"_id\": 1}", "{\"$push\": {\"a.b\": 1}}", "{\"_id\": 1, \"a\": {\"b\": [1]}}"),
		OK("$push an array value", "{\"a\": []}", "{\"$push\": {\"a\": [1, 2]}}", "{\"a\": [[1, 2]]}"),
		ERR("$push on non-array", "{\"a\": 1}", "{\"$push\": {\"a\": 2}}", "must be an array"),
		ERR("$push unknown clause", "{\"a\": []}", "{\"$push\": {\"a\": {\"$each\": [1], \"$bad\": 1}}}", "Unrecognized clause in $push: $bad"),
		ERR("$push $each not an array", "{\"a\": []}", "{\"$push\": {\"a\": {\"$each\": 1}}}", "$each"),
		ERR("$push bad $sort", "{\"a\": []}", "{\"$push\": {\"a\": {\"$each\": [1], \"$sort\": 2}}}", "$sort is invalid"),
		ERR("$push bad $slice", "{\"a\": []}", "{\"$push\": {\"a\": {\"$each\": [1], \"$slice\": 1.5}}}", "$slice"),
	};

	TABLE(t);
}

Test(update, add_to_set_pop_pull)
{
	static const struct ucase t[] = {
		OK("manual $addToSet array value", "{\"_id\": 1, \"letters\": [\"a\", \"b\"]}", "{\"$addToSet\": {\"letters\": [\"c\", \"d\"]}}",
		   "{\"_id\": 1, \"letters\": [\"a\", \"b\", [\"c\", \"d\"]]}"),
		OK("manual $addToSet value", "{\"_id\": 1, \"tags\": [\"electronics\", \"camera\"]}", "{\"$addToSet\": {\"tags\": \"accessories\"}}",
		   "{\"_id\": 1, \"tags\": [\"electronics\", \"camera\", \"accessories\"]}"),
		NOOP("manual $addToSet present", "{\"_id\": 1, \"tags\": [\"electronics\", \"camera\"]}", "{\"$addToSet\": {\"tags\": \"camera\"}}"),
		OK("manual $addToSet $each", "{\"_id\": 2, \"item\": \"cable\", \"tags\": [\"electronics\", \"supplies\"]}",
		   "{\"$addToSet\": {\"tags\": {\"$each\": [\"camera\", \"electronics\", \"accessories\"]}}}",
		   "{\"_id\": 2, \"item\": \"cable\", \"tags\": [\"electronics\", \"supplies\", \"camera\", \"accessories\"]}"),
		OK("$addToSet $each dedups its own values", "{\"a\": []}", "{\"$addToSet\": {\"a\": {\"$each\": [1, 1, 2]}}}", "{\"a\": [1, 2]}"),
		NOOP("$addToSet numeric equality", "{\"a\": [1]}", "{\"$addToSet\": {\"a\": 1.0}}"),
		OK("$addToSet documents by order", "{\"a\": [{\"x\": 1, \"y\": 2}]}", "{\"$addToSet\": {\"a\": {\"y\": 2, \"x\": 1}}}",
		   "{\"a\": [{\"x\": 1, \"y\": 2}, {\"y\": 2, \"x\": 1}]}"),
		OK("$addToSet creates", "{}", "{\"$addToSet\": {\"a\": 1}}", "{\"a\": [1]}"),
		ERR("manual $addToSet non-array", "{\"_id\": 1, \"colors\": \"blue, green, red\"}", "{\"$addToSet\": {\"colors\": \"c\"}}", "must be an array"),
		ERR("$addToSet fields after $each", "{\"a\": []}", "{\"$addToSet\": {\"a\": {\"$each\": [1], \"x\": 1}}}", "unexpected fields after $each"),
		OK("manual $pop first", "{\"_id\": 1, \"scores\": [8, 9, 10]}", "{\"$pop\": {\"scores\": -1}}", "{\"_id\": 1, \"scores\": [9, 10]}"),
		OK("manual $pop last", "{\"_id\": 10, \"scores\": [9, 10]}", "{\"$pop\": {\"scores\": 1}}", "{\"_id\": 10, \"scores\": [9]}"),
		NOOP("$pop empty", "{\"a\": []}", "{\"$pop\": {\"a\": 1}}"),
		NOOP("$pop missing", "{\"a\": 1}", "{\"$pop\": {\"b\": 1}}"),
		ERR("$pop bad argument", "{\"a\": [1]}", "{\"$pop\": {\"a\": 2}}", "$pop expects 1 or -1"),
		ERR("$pop non-array", "{\"a\": 1}", "{\"$pop\": {\"a\": 1}}", "non-array"),
		OK("manual $pull $in and value",
		   "{\"_id\": 1, \"fruits\": [\"apples\", \"pears\", \"oranges\", \"grapes\", \"bananas\"], \"vegetables\": [\"carrots\", \"celery\", \"squash\", \"carrots\"]}",
		   "{\"$pull\": {\"fruits\": {\"$in\": [\"apples\", \"oranges\"]}, \"vegetables\": \"carrots\"}}",
		   "{\"_id\": 1, \"fruits\": [\"pears\", \"grapes\", \"bananas\"], \"vegetables\": [\"celery\", \"squash\"]}"),
		OK("manual $pull $gte", "{\"_id\": 1, \"votes\": [3, 5, 6, 7, 7, 8]}", "{\"$pull\": {\"votes\": {\"$gte\": 6}}}",
		   "{\"_id\": 1, \"votes\": [3, 5]}"),
		OK("manual $pull documents (query semantics)",
		   "{\"_id\": 1, \"results\": [{\"item\": \"A\", \"score\": 5}, {\"item\": \"B\", \"score\": 8, \"comment\": \"x\"}, 8]}",
		   "{\"$pull\": {\"results\": {\"score\": 8, \"item\": \"B\"}}}",
		   "{\"_id\": 1, \"results\": [{\"item\": \"A\", \"score\": 5}, 8]}"),
		OK("$pull $or is a query on document elements", "{\"a\": [{\"x\": 1}, {\"x\": 2}, {\"y\": 3}, 1]}",
		   "{\"$pull\": {\"a\": {\"$or\": [{\"x\": 1}, {\"y\": 3}]}}}", "{\"a\": [{\"x\": 2}, 1]}"),
		OK("$pull {} removes every document element", "{\"a\": [{\"x\": 1}, 2, {}]}", "{\"$pull\": {\"a\": {}}}", "{\"a\": [2]}"),
		OK("$pull $elemMatch on nested arrays", "{\"a\": [[1, 5], [2], 7]}", "{\"$pull\": {\"a\": {\"$elemMatch\": {\"$gt\": 4}}}}",
		   "{\"a\": [[2], 7]}"),
		OK("$pull regex", "{\"a\": [\"apple\", \"banana\", 3]}", "{\"$pull\": {\"a\": {\"$regularExpression\": {\"pattern\": \"^a\", \"options\": \"\"}}}}",
		   "{\"a\": [\"banana\", 3]}"),
		OK("$pull numeric equality", "{\"a\": [1, 1.0, 2, {\"$numberLong\": \"1\"}]}", "{\"$pull\": {\"a\": 1}}", "{\"a\": [2]}"),
		NOOP("$pull missing", "{\"a\": 1}", "{\"$pull\": {\"b\": 1}}"),
		ERR("$pull non-array", "{\"a\": 1}", "{\"$pull\": {\"a\": 1}}", "Cannot apply $pull to a non-array value"),
		OK("manual $pullAll", "{\"_id\": 1, \"scores\": [0, 2, 5, 5, 1, 0]}", "{\"$pullAll\": {\"scores\": [0, 5]}}",
		   "{\"_id\": 1, \"scores\": [2, 1]}"),
		ERR("$pullAll non-array argument", "{\"a\": [1]}", "{\"$pullAll\": {\"a\": 1}}", "$pullAll requires an array argument"),
	};

	TABLE(t);
}

#define GRADES "{\"_id\": 4, \"grades\": [{\"grade\": 80, \"mean\": 75, \"std\": 8}, {\"grade\": 85, \"mean\": 90, \"std\": 5}, {\"grade\": 85, \"mean\": 85, \"std\": 8}]}"

Test(update, positional)
{
	static const struct ucase t[] = {
		{"manual $ positional", "{\"_id\": 1, \"grades\": [85, 80, 80]}", "{\"$set\": {\"grades.$\": 82}}", NULL, 1, false,
		 UPDATE_OK, "{\"_id\": 1, \"grades\": [85, 82, 80]}"},
		{"manual $ in documents", GRADES, "{\"$set\": {\"grades.$.std\": 6}}", NULL, 1, false, UPDATE_OK,
		 "{\"_id\": 4, \"grades\": [{\"grade\": 80, \"mean\": 75, \"std\": 8}, {\"grade\": 85, \"mean\": 90, \"std\": 6}, {\"grade\": 85, \"mean\": 85, \"std\": 8}]}"},
		{"$ without a match", "{\"a\": [1]}", "{\"$set\": {\"a.$\": 2}}", NULL, -1, false, UPDATE_ERROR,
		 "The positional operator did not find the match needed from the query."},
		{"$ while inserting", "{\"a\": [1]}", "{\"$set\": {\"a.$\": 2}}", NULL, 0, true, UPDATE_ERROR, "positional operator"},
		OK("manual $[]", "{\"_id\": 1, \"grades\": [85, 82, 80]}", "{\"$inc\": {\"grades.$[]\": 10}}", "{\"_id\": 1, \"grades\": [95, 92, 90]}"),
		OK("manual $[] in documents", GRADES, "{\"$inc\": {\"grades.$[].std\": -2}}",
		   "{\"_id\": 4, \"grades\": [{\"grade\": 80, \"mean\": 75, \"std\": 6}, {\"grade\": 85, \"mean\": 90, \"std\": 3}, {\"grade\": 85, \"mean\": 85, \"std\": 6}]}"),
		OK("$[] nested arrays", "{\"a\": [[1, 2], [3]]}", "{\"$inc\": {\"a.$[].$[]\": 1}}", "{\"a\": [[2, 3], [4]]}"),
		NOOP("$[] empty array", "{\"a\": []}", "{\"$set\": {\"a.$[].b\": 1}}"),
		ERR("$[] on missing", "{\"b\": 1}", "{\"$set\": {\"a.$[]\": 1}}", "must exist in the document in order to apply array updates"),
		ERR("$[] with a path into scalars", "{\"a\": [1]}", "{\"$set\": {\"a.$[].b\": 1}}", "Cannot create field 'b'"),
		{"manual $[<id>]", "{\"_id\": 3, \"grades\": [95, 110, 100]}", "{\"$set\": {\"grades.$[element]\": 100}}",
		 "[{\"element\": {\"$gte\": 100}}]", -1, false, UPDATE_OK, "{\"_id\": 3, \"grades\": [95, 100, 100]}"},
		{"manual $[<id>] on a field", GRADES, "{\"$set\": {\"grades.$[elem].mean\": 100}}",
		 "[{\"elem.grade\": {\"$gte\": 85}}]", -1, false, UPDATE_OK,
		 "{\"_id\": 4, \"grades\": [{\"grade\": 80, \"mean\": 75, \"std\": 8}, {\"grade\": 85, \"mean\": 100, \"std\": 5}, {\"grade\": 85, \"mean\": 100, \"std\": 8}]}"},
		{"$[<id>] two filters", "{\"a\": [{\"x\": 1, \"y\": [1, 5]}, {\"x\": 2, \"y\": [5]}]}", "{\"$set\": {\"a.$[i].y.$[j]\": 0}}",
		 "[{\"i.x\": 2}, {\"j\": 5}]", -1, false, UPDATE_OK, "{\"a\": [{\"x\": 1, \"y\": [1, 5]}, {\"x\": 2, \"y\": [0]}]}"},
		{"manual $[<id>] with $not", "{\"_id\": 1, \"degrees\": [{\"level\": \"Master\"}, {\"level\": \"Bachelor\", \"major\": \"CS\"}, {\"level\": \"Bachelor\", \"major\": \"Art\"}]}",
		 "{\"$set\": {\"degrees.$[degree].gradcampaign\": 1}}", "[{\"degree.level\": {\"$not\": {\"$eq\": \"Bachelor\"}}}]", -1, false, UPDATE_OK,
		 "{\"_id\": 1, \"degrees\": [{\"level\": \"Master\", \"gradcampaign\": 1}, {\"level\": \"Bachelor\", \"major\": \"CS\"}, {\"level\": \"Bachelor\", \"major\": \"Art\"}]}"},
		{"manual $[] with $[<id>] in nested arrays", "{\"_id\": 1, \"grades\": [{\"type\": \"quiz\", \"questions\": [10, 8, 5]}, {\"type\": \"quiz\", \"questions\": [8, 9, 6]}, {\"type\": \"hw\", \"questions\": [5, 4, 3]}]}",
		 "{\"$inc\": {\"grades.$[].questions.$[score]\": 2}}", "[{\"score\": {\"$gte\": 8}}]", -1, false, UPDATE_OK,
		 "{\"_id\": 1, \"grades\": [{\"type\": \"quiz\", \"questions\": [12, 10, 5]}, {\"type\": \"quiz\", \"questions\": [10, 11, 6]}, {\"type\": \"hw\", \"questions\": [5, 4, 3]}]}"},
		{"$[<id>] with $or inside the filter", "{\"a\": [{\"x\": 1}, {\"y\": 2}, {\"x\": 3}]}", "{\"$set\": {\"a.$[e].m\": true}}",
		 "[{\"$or\": [{\"e.x\": 1}, {\"e.y\": 2}]}]", -1, false, UPDATE_OK,
		 "{\"a\": [{\"x\": 1, \"m\": true}, {\"y\": 2, \"m\": true}, {\"x\": 3}]}"},
		{"$[<id>] no filter", "{\"a\": [1]}", "{\"$set\": {\"a.$[x]\": 1}}", NULL, -1, false, UPDATE_ERROR,
		 "No array filter found for identifier 'x'"},
		{"$[<id>] unused filter", "{\"a\": [1]}", "{\"$set\": {\"a.$[x]\": 1}}", "[{\"x\": 1}, {\"y\": 2}]", -1, false,
		 UPDATE_ERROR, "The array filter for identifier 'y' was not used"},
		{"$[<id>] two names in one filter", "{\"a\": [1]}", "{\"$set\": {\"a.$[x]\": 1}}", "[{\"x\": 1, \"z\": 2}]", -1, false,
		 UPDATE_ERROR, "Expected a single top-level field name"},
		{"$[<id>] duplicate filter", "{\"a\": [1]}", "{\"$set\": {\"a.$[x]\": 1}}", "[{\"x\": 1}, {\"x\": 2}]", -1, false,
		 UPDATE_ERROR, "multiple array filters"},
		{"$[<id>] bad identifier", "{\"a\": [1]}", "{\"$set\": {\"a.$[X]\": 1}}", "[{\"X\": 1}]", -1, false,
		 UPDATE_ERROR, "lowercase letter"},
		OK("$[] and a sibling field path", "{\"a\": [{\"x\": 1}], \"b\": [1]}", "{\"$set\": {\"a.$[].y\": 1, \"b.0\": 2}}",
		   "{\"a\": [{\"x\": 1, \"y\": 1}], \"b\": [2]}"),
		RESYNC("$[] and an index merge per element", "{\"a\": [{\"x\": 1}]}", "{\"$set\": {\"a.$[].y\": 1, \"a.0.x\": 2}}"),
		{"$ and an index merge per element", "{\"a\": [{\"x\": 1}]}", "{\"$set\": {\"a.$.y\": 1, \"a.0.z\": 2}}", NULL, 0, false,
		 UPDATE_RESYNC, "same array element"},
		OK("$pull on $[] arrays", "{\"a\": [[1, 2], [2, 3]]}", "{\"$pull\": {\"a.$[]\": 2}}", "{\"a\": [[1], [3]]}"),
	};

	TABLE(t);
}

Test(update, replacement)
{
	static const struct ucase t[] = {
		OK("replacement keeps _id first", "{\"_id\": 1, \"a\": 1, \"b\": 2}", "{\"c\": 3}", "{\"_id\": 1, \"c\": 3}"),
		OK("replacement with the same _id later", "{\"_id\": 1, \"a\": 1}", "{\"c\": 3, \"_id\": 1}", "{\"_id\": 1, \"c\": 3}"),
		OK("empty replacement", "{\"_id\": 1, \"a\": 1}", "{}", "{\"_id\": 1}"),
		NOOP("replacement identical", "{\"_id\": 1, \"a\": 1}", "{\"a\": 1}"),
		ERR("replacement changes _id", "{\"_id\": 1, \"a\": 1}", "{\"_id\": 2, \"a\": 1}", "(immutable) field '_id' was found to have been altered"),
		OK("replacement _id of an equal value is stored", "{\"_id\": 1, \"a\": 1}", "{\"a\": 2, \"_id\": {\"$numberLong\": \"1\"}}",
		   "{\"_id\": {\"$numberLong\": \"1\"}, \"a\": 2}"),
		RESYNC("replacement with Timestamp(0, 0)", "{\"_id\": 1}", "{\"t\": {\"$timestamp\": {\"t\": 0, \"i\": 0}}}"),
		OK("replacement with a nested Timestamp(0, 0) kept", "{\"_id\": 1}", "{\"d\": {\"t\": {\"$timestamp\": {\"t\": 0, \"i\": 0}}}}",
		   "{\"_id\": 1, \"d\": {\"t\": {\"$timestamp\": {\"t\": 0, \"i\": 0}}}}"),
		RESYNC("replacement without any _id", "{\"a\": 1}", "{\"b\": 1}"),
		OK("replacement without old _id", "{\"a\": 1}", "{\"b\": 1, \"_id\": 5}", "{\"_id\": 5, \"b\": 1}"),
	};

	TABLE(t);
}

/* {"$set": {"x": {a: {a: ... 1}}}} with depth documents under "x"
 * (built with the API: libbson's JSON reader stops at 100 levels). */
static bson_t *deep_set(int depth)
{
	bson_t *cur = BCON_NEW("a", BCON_INT32(1)), *next;

	for (int i = 1; i < depth; i++) {
		next = bson_new();
		BSON_APPEND_DOCUMENT(next, "a", cur);
		bson_destroy(cur);
		cur = next;
	}
	next = bson_new();
	BSON_APPEND_DOCUMENT(next, "x", cur);
	bson_destroy(cur);
	cur = bson_new();
	BSON_APPEND_DOCUMENT(cur, "$set", next);
	bson_destroy(next);
	return cur;
}

static enum update_status apply_bson(const bson_t *doc, const bson_t *upd, bson_error_t *err)
{
	bson_value_t uv = {.value_type = BSON_TYPE_DOCUMENT};
	struct update_args a = {.u = &uv};
	enum update_status st;
	bson_t out;

	uv.value.v_doc.data = (uint8_t *)bson_get_data(upd);
	uv.value.v_doc.data_len = upd->len;
	st = update_apply(doc, &a, &out, err);
	bson_destroy(&out);
	return st;
}

Test(update, limits)
{
	static const struct ucase t[] = {
		ERR("index above the cap", "{\"a\": []}", "{\"$set\": {\"a.4294967295\": 1}}", "backfill"),
		ERR("index above uint32 is a name: not on an array", "{\"a\": []}", "{\"$set\": {\"a.4294967296\": 1}}", "Cannot create field"),
		/* Valid for MongoDB, but more than UPDATE_MAX_NODES: not built here. */
		RESYNC("padding above the node budget", "{\"a\": []}", "{\"$set\": {\"a.1100000\": 1}}"),
	};
	bson_t *doc = BCON_NEW("_id", BCON_INT32(1)), *u;
	bson_error_t err;

	/* MongoDB's storage validation: top-level fields are level 1, no
	 * element deeper than level 100 (here x=1, the innermost a=1+depth). */
	u = deep_set(99);
	cr_expect_eq(apply_bson(doc, u, &err), UPDATE_OK, "99 levels: %s", err.message);
	bson_destroy(u);
	u = deep_set(100);
	cr_expect_eq(apply_bson(doc, u, &err), UPDATE_ERROR);
	cr_expect(strstr(err.message, "nesting depth"), "%s", err.message);
	bson_destroy(u);
	bson_destroy(doc);
	TABLE(t);

	/* A document left without _id gets a server-made ObjectId. */
	doc = BCON_NEW("a", BCON_INT32(1));
	u = BCON_NEW("$set", "{", "b", BCON_INT32(1), "}");
	cr_expect_eq(apply_bson(doc, u, &err), UPDATE_RESYNC);
	cr_expect(strstr(err.message, "no _id"), "%s", err.message);
	bson_destroy(u);
	bson_destroy(doc);
}

Test(update, too_large_and_big_padding)
{
	size_t n = 9 * 1024 * 1024;
	char *big = malloc(n + 1);
	bson_t *doc = bson_new(), *upd = bson_new(), set, out;
	bson_value_t uv = {.value_type = BSON_TYPE_DOCUMENT};
	struct update_args a = {.u = &uv};
	bson_error_t err;

	memset(big, 'x', n);
	big[n] = '\0';
	BSON_APPEND_INT32(doc, "_id", 1);
	BSON_APPEND_UTF8(doc, "a", big);
	BSON_APPEND_DOCUMENT_BEGIN(upd, "$set", &set);
	BSON_APPEND_UTF8(&set, "b", big);
	bson_append_document_end(upd, &set);
	uv.value.v_doc.data = (uint8_t *)bson_get_data(upd);
	uv.value.v_doc.data_len = upd->len;
	cr_expect_eq(update_apply(doc, &a, &out, &err), UPDATE_ERROR);
	cr_expect(strstr(err.message, "document too large"), "%s", err.message);
	bson_destroy(&out);
	bson_destroy(upd);
	bson_destroy(doc);
	free(big);

	/* Padding 200,000 nulls is allowed (MongoDB caps at 1,500,000). */
	doc = BCON_NEW("_id", BCON_INT32(1), "a", "[", "]");
	upd = BCON_NEW("$set", "{", "a.200000", BCON_INT32(7), "}");
	uv.value.v_doc.data = (uint8_t *)bson_get_data(upd);
	uv.value.v_doc.data_len = upd->len;
	cr_assert_eq(update_apply(doc, &a, &out, &err), UPDATE_OK, "%s", err.message);
	{
		bson_iter_t it, arr;
		uint32_t count = 0;

		cr_assert(bson_iter_init_find(&it, &out, "a") && bson_iter_recurse(&it, &arr));
		while (bson_iter_next(&arr))
			count++;
		cr_expect_eq(count, 200001u);
	}
	bson_destroy(&out);
	bson_destroy(upd);
	bson_destroy(doc);
}

/* update_upsert_seed cases: filter, id (JSON value or NULL), replacement. */
struct scase {
	const char *name;
	const char *filter;
	const char *id;
	bool replacement;
	enum update_status st;
	const char *expect;
};

static void run_seed(const struct scase *tc)
{
	bson_t *f = json(tc->filter), *idh = NULL, out;
	bson_value_t idv;
	bson_error_t err;
	enum update_status st;

	if (tc->id)
		wrapped(tc->id, &idh, &idv);
	st = update_upsert_seed(f, tc->id ? &idv : NULL, tc->replacement, &out, &err);
	cr_expect_eq(st, tc->st, "%s: status %d (%s)", tc->name, st, st ? err.message : "");
	if (st == tc->st && st == UPDATE_OK) {
		bson_t *want = json(tc->expect);
		char *g = canon(&out), *w = canon(want);

		cr_expect_str_eq(g, w, "%s:\n got  %s\n want %s", tc->name, g, w);
		bson_free(g);
		bson_free(w);
		bson_destroy(want);
	} else if (st == tc->st) {
		cr_expect(strstr(err.message, tc->expect), "%s: '%s'", tc->name, err.message);
	}
	bson_destroy(&out);
	bson_destroy(f);
	if (idh)
		bson_destroy(idh);
}

Test(update, upsert_seed)
{
	static const struct scase t[] = {
		{"dotted, id first", "{\"b.c\": 2}", "7", false, UPDATE_OK, "{\"_id\": 7, \"b\": {\"c\": 2}}"},
		{"two fields: order unknowable", "{\"b.c\": 2, \"a\": 1}", "7", false, UPDATE_RESYNC, "not reproducible"},
		{"$eq inside $and, other operators ignored", "{\"$and\": [{\"b\": {\"$eq\": 2}}, {\"_id\": 3}], \"c\": {\"$gt\": 5}}", NULL, false,
		 UPDATE_OK, "{\"_id\": 3, \"b\": 2}"},
		{"filter _id first", "{\"x\": 1, \"_id\": 5}", NULL, false, UPDATE_OK, "{\"_id\": 5, \"x\": 1}"},
		{"reported id wins", "{\"_id\": 5, \"x\": 1}", "{\"$oid\": \"0123456789abcdef01234567\"}", false, UPDATE_OK,
		 "{\"_id\": {\"$oid\": \"0123456789abcdef01234567\"}, \"x\": 1}"},
		{"_id sub-field", "{\"_id.y\": 1, \"z\": {\"$gt\": 1}}", NULL, false, UPDATE_OK, "{\"_id\": {\"y\": 1}}"},
		{"two _id sub-fields", "{\"_id.y\": 1, \"_id.x\": 2}", NULL, false, UPDATE_RESYNC, "not reproducible"},
		{"reported id replaces _id sub-fields", "{\"_id.y\": 1, \"_id.x\": 2, \"a\": 1}", "9", false, UPDATE_OK, "{\"_id\": 9, \"a\": 1}"},
		{"empty filter", "{}", "\"k\"", false, UPDATE_OK, "{\"_id\": \"k\"}"},
		{"$in of one", "{\"a\": {\"$in\": [4]}, \"b\": {\"$in\": [1, 2]}}", NULL, false, UPDATE_OK, "{\"a\": 4}"},
		{"one-element $or unwrapped", "{\"$or\": [{\"a\": 1}]}", NULL, false, UPDATE_OK, "{\"a\": 1}"},
		{"$all of one", "{\"a\": {\"$all\": [5]}}", NULL, false, UPDATE_OK, "{\"a\": 5}"},
		{"$all of two is matched twice", "{\"a\": {\"$all\": [5, 6]}}", NULL, false, UPDATE_ERROR, "matched twice"},
		{"$or ignored", "{\"$or\": [{\"a\": 1}, {\"b\": 1}], \"c\": \"x\"}", NULL, false, UPDATE_OK, "{\"c\": \"x\"}"},
		{"document value", "{\"a\": {\"b\": 1}}", NULL, false, UPDATE_OK, "{\"a\": {\"b\": 1}}"},
		{"replacement: only _id", "{\"a\": 1, \"_id\": 3}", NULL, true, UPDATE_OK, "{\"_id\": 3}"},
		{"twice", "{\"$and\": [{\"a\": 1}, {\"a\": 2}]}", NULL, false, UPDATE_ERROR, "is matched twice"},
		{"prefix", "{\"a\": 1, \"a.b\": 2}", NULL, false, UPDATE_ERROR, "both paths"},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		run_seed(&t[i]);
}

Test(update, kind_of)
{
	bson_t *d = json("{\"v\": {\"$set\": {}}, \"r\": {\"a\": 1}, \"p\": [], \"m\": {\"$set\": {}, \"a\": 1}, \"e\": {}, \"n\": 1}");
	bson_iter_t it;
	const char *keys = "vrpmen";
	enum update_kind want[] = {UPDATE_KIND_OPERATORS, UPDATE_KIND_REPLACEMENT, UPDATE_KIND_PIPELINE,
				   UPDATE_KIND_INVALID, UPDATE_KIND_REPLACEMENT, UPDATE_KIND_INVALID};

	for (int i = 0; keys[i]; i++) {
		char k[2] = {keys[i], 0};

		cr_assert(bson_iter_init_find(&it, d, k));
		cr_expect_eq(update_kind_of(bson_iter_value(&it)), want[i], "key %s", k);
	}
	bson_destroy(d);
}

/* The `$` position comes from match_doc on the same document. */
Test(update, positional_from_match)
{
	static const struct {
		const char *doc, *filter, *u, *want;
	} t[] = {
		{"{\"_id\": 1, \"grades\": [85, 80, 80]}", "{\"grades\": 80}", "{\"$set\": {\"grades.$\": 82}}",
		 "{\"_id\": 1, \"grades\": [85, 82, 80]}"},
		{GRADES, "{\"grades.grade\": 85}", "{\"$set\": {\"grades.$.std\": 6}}",
		 "{\"_id\": 4, \"grades\": [{\"grade\": 80, \"mean\": 75, \"std\": 8}, {\"grade\": 85, \"mean\": 90, \"std\": 6}, {\"grade\": 85, \"mean\": 85, \"std\": 8}]}"},
		{"{\"_id\": 1, \"a\": [{\"b\": [1, 2]}, {\"b\": [3]}]}", "{\"a.b\": 3}", "{\"$inc\": {\"a.$.n\": 1}}",
		 "{\"_id\": 1, \"a\": [{\"b\": [1, 2]}, {\"b\": [3], \"n\": 1}]}"},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		bson_t *doc = json(t[i].doc), *f = json(t[i].filter), *uh, *want = json(t[i].want), out;
		struct match_result m = {.pos = -1};
		struct update_args a = {.m = &m};
		bson_value_t uv;
		bson_error_t err;
		char *g, *w;

		cr_assert_eq(match_doc(f, doc, &m, &err), MATCH_YES, "case %zu", i);
		wrapped(t[i].u, &uh, &uv);
		a.u = &uv;
		cr_expect_eq(update_apply(doc, &a, &out, &err), UPDATE_OK, "case %zu: %s", i, err.message);
		g = canon(&out);
		w = canon(want);
		cr_expect_str_eq(g, w, "case %zu", i);
		bson_free(g);
		bson_free(w);
		bson_destroy(&out);
		bson_destroy(uh);
		bson_destroy(want);
		bson_destroy(f);
		bson_destroy(doc);
	}
}

/* Past 16 elements MongoDB's std::sort is not stable; the expected order
 * below is what libstdc++'s std::sort gives for the same keys (computed
 * with g++ outside this test), which update_sort.c must reproduce. */
Test(update, push_sort_matches_std_sort)
{
	static const int want_i[20] = {18, 3, 15, 6, 12, 9, 0, 10, 19, 16, 13, 7, 4, 1, 11, 8, 14, 5, 17, 2};
	bson_t *doc = bson_new(), arr, el, *want = bson_new(), warr, out;
	bson_t *upd = BCON_NEW("$push", "{", "a", "{", "$each", "[", "]", "$sort", "{", "k", BCON_INT32(1), "}", "}", "}");
	bson_value_t uv = {.value_type = BSON_TYPE_DOCUMENT};
	struct update_args a = {.u = &uv};
	bson_error_t err;
	char key[16];
	const char *k;

	BSON_APPEND_INT32(doc, "_id", 1);
	BSON_APPEND_INT32(want, "_id", 1);
	BSON_APPEND_ARRAY_BEGIN(doc, "a", &arr);
	BSON_APPEND_ARRAY_BEGIN(want, "a", &warr);
	for (int i = 0; i < 20; i++) {
		bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
		bson_append_document_begin(&arr, k, -1, &el);
		BSON_APPEND_INT32(&el, "k", (i * 7) % 3);
		BSON_APPEND_INT32(&el, "i", i);
		bson_append_document_end(&arr, &el);
		bson_append_document_begin(&warr, k, -1, &el);
		BSON_APPEND_INT32(&el, "k", (want_i[i] * 7) % 3);
		BSON_APPEND_INT32(&el, "i", want_i[i]);
		bson_append_document_end(&warr, &el);
	}
	bson_append_array_end(doc, &arr);
	bson_append_array_end(want, &warr);
	uv.value.v_doc.data = (uint8_t *)bson_get_data(upd);
	uv.value.v_doc.data_len = upd->len;
	cr_assert_eq(update_apply(doc, &a, &out, &err), UPDATE_OK, "%s", err.message);
	cr_expect(bson_equal(&out, want));
	bson_destroy(&out);
	bson_destroy(upd);
	bson_destroy(want);
	bson_destroy(doc);
}

/* Seeded random documents and updates (all operators, positional forms,
 * odd operands): whatever the status, no crash, *out is valid BSON when
 * OK/NOOP and empty with a message otherwise.  Run under ASan too. */
static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static void rnd_value(bson_t *b, const char *k, int depth);

static void rnd_container(bson_t *b, const char *k, int depth, bool array)
{
	static const char *const keys[] = {"a", "b", "c", "0", "1"};
	bson_t child;
	char idx[8];
	uint32_t n = rnd(4);

	if (array)
		bson_append_array_begin(b, k, -1, &child);
	else
		bson_append_document_begin(b, k, -1, &child);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(idx, sizeof idx, "%u", i);
		rnd_value(&child, array ? idx : keys[rnd(5)], depth + 1);
	}
	if (array)
		bson_append_array_end(b, &child);
	else
		bson_append_document_end(b, &child);
}

static void rnd_value(bson_t *b, const char *k, int depth)
{
	switch (rnd(depth > 3 ? 6 : 8)) {
	case 0: BSON_APPEND_INT32(b, k, (int32_t)rnd(5) - 2); break;
	case 1: BSON_APPEND_INT64(b, k, rnd(2) ? INT64_MAX : -3); break;
	case 2: BSON_APPEND_DOUBLE(b, k, rnd(2) ? 1.5 : -0.0); break;
	case 3: bson_append_utf8(b, k, -1, "x", (int)rnd(2)); break;
	case 4: BSON_APPEND_NULL(b, k); break;
	case 5: BSON_APPEND_BOOL(b, k, rnd(2)); break;
	case 6: rnd_container(b, k, depth, true); break;
	default: rnd_container(b, k, depth, false); break;
	}
}

static void rnd_path(char *buf, size_t len)
{
	static const char *const segs[] = {"a", "b", "c", "0", "1", "5", "$", "$[]", "$[i]", ""};
	uint32_t n = 1 + rnd(3);

	buf[0] = '\0';
	for (uint32_t i = 0; i < n; i++) {
		size_t used = strlen(buf);

		snprintf(buf + used, len - used, "%s%s", i ? "." : "", segs[rnd(i ? 10 : 3)]);
	}
}

static void rnd_operand(bson_t *b, const char *op, const char *path)
{
	bson_t m, each;

	if (!strcmp(op, "$push") && rnd(2)) {
		bson_append_document_begin(b, path, -1, &m);
		bson_append_array_begin(&m, "$each", -1, &each);
		for (uint32_t i = 0; i < rnd(4); i++)
			rnd_value(&each, i ? "1" : "0", 3);
		bson_append_array_end(&m, &each);
		if (rnd(2))
			BSON_APPEND_INT32(&m, "$slice", (int32_t)rnd(5) - 2);
		if (rnd(2))
			BSON_APPEND_INT32(&m, "$position", (int32_t)rnd(5) - 2);
		if (rnd(2))
			BSON_APPEND_INT32(&m, "$sort", rnd(2) ? 1 : -1);
		bson_append_document_end(b, &m);
	} else if (!strcmp(op, "$rename")) {
		const char *to = rnd(2) ? "z" : "a.z"; /* the macro evaluates it twice */

		BSON_APPEND_UTF8(b, path, to);
	} else if (!strcmp(op, "$bit")) {
		bson_append_document_begin(b, path, -1, &m);
		bson_append_int32(&m, rnd(2) ? "and" : "xor", 3, 6);
		bson_append_document_end(b, &m);
	} else if (!strcmp(op, "$pop")) {
		BSON_APPEND_INT32(b, path, rnd(2) ? 1 : -1);
	} else {
		rnd_value(b, path, 2);
	}
}

Test(update, random_inputs_are_safe)
{
	static const char *const ops[] = {"$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename",
					  "$bit", "$push", "$addToSet", "$pop", "$pull", "$pullAll", "$setOnInsert"};
	bson_t *filters = BCON_NEW("0", "{", "i", "{", "$gt", BCON_INT32(0), "}", "}");
	int counts[4] = {0};

	for (int round = 0; round < 4000; round++) {
		bson_t *doc = bson_new(), *u = bson_new(), opdoc, out;
		bson_value_t uv = {.value_type = BSON_TYPE_DOCUMENT};
		struct match_result m = {.pos = (int32_t)rnd(4) - 1};
		struct update_args a = {.u = &uv, .m = &m, .inserting = rnd(2)};
		bson_error_t err;
		enum update_status st;
		char path[64];

		BSON_APPEND_INT32(doc, "_id", 1);
		for (uint32_t i = 0; i < rnd(5); i++)
			rnd_value(doc, (const char *[]){"a", "b", "c"}[rnd(3)], 0);
		for (uint32_t i = 0, n = 1 + rnd(3); i < n; i++) {
			const char *op = ops[rnd(sizeof ops / sizeof ops[0])];

			bson_append_document_begin(u, op, -1, &opdoc);
			rnd_path(path, sizeof path);
			rnd_operand(&opdoc, op, path);
			bson_append_document_end(u, &opdoc);
		}
		uv.value.v_doc.data = (uint8_t *)bson_get_data(u);
		uv.value.v_doc.data_len = u->len;
		a.array_filters = rnd(2) ? filters : NULL;
		st = update_apply(doc, &a, &out, &err);
		cr_assert(st >= UPDATE_OK && st <= UPDATE_ERROR);
		counts[st]++;
		if (st == UPDATE_OK || st == UPDATE_NOOP) {
			cr_assert(bson_validate(&out, BSON_VALIDATE_NONE, NULL), "round %d", round);
			cr_assert(st == UPDATE_OK || bson_equal(&out, doc), "round %d", round);
		} else {
			cr_assert(out.len == 5 && err.message[0], "round %d", round);
		}
		bson_destroy(&out);
		bson_destroy(u);
		bson_destroy(doc);
	}
	/* The generator must reach every outcome, or it tests little. */
	cr_log_info("ok %d noop %d resync %d error %d", counts[0], counts[1], counts[2], counts[3]);
	cr_expect(counts[UPDATE_OK] > 100 && counts[UPDATE_NOOP] > 10 && counts[UPDATE_ERROR] > 100,
		  "ok %d noop %d resync %d error %d", counts[0], counts[1], counts[2], counts[3]);
	bson_destroy(filters);
}

/* Big arrays: $push at the front with $slice, and $pull of half the
 * elements, stay linear (one move each) and give the right counts. */
Test(update, big_array_operations)
{
	bson_t *doc = bson_new(), arr, *u, out;
	bson_value_t uv = {.value_type = BSON_TYPE_DOCUMENT};
	struct update_args a = {.u = &uv};
	bson_error_t err;
	bson_iter_t it, ai;
	char key[16];
	const char *k;
	uint32_t n = 0;
	int32_t first = -1, last = -1;

	BSON_APPEND_INT32(doc, "_id", 1);
	BSON_APPEND_ARRAY_BEGIN(doc, "a", &arr);
	for (uint32_t i = 0; i < 200000; i++) {
		bson_uint32_to_string(i, &k, key, sizeof key);
		bson_append_int32(&arr, k, -1, (int32_t)(i % 2));
	}
	bson_append_array_end(doc, &arr);

	u = BCON_NEW("$pull", "{", "a", BCON_INT32(1), "}");
	uv.value.v_doc.data = (uint8_t *)bson_get_data(u);
	uv.value.v_doc.data_len = u->len;
	cr_assert_eq(update_apply(doc, &a, &out, &err), UPDATE_OK, "%s", err.message);
	cr_assert(bson_iter_init_find(&it, &out, "a") && bson_iter_recurse(&it, &ai));
	while (bson_iter_next(&ai))
		n += bson_iter_int32(&ai) == 0;
	cr_expect_eq(n, 100000u);
	bson_destroy(&out);
	bson_destroy(u);

	u = BCON_NEW("$push", "{", "a", "{", "$each", "[", BCON_INT32(7), BCON_INT32(8), "]",
		     "$position", BCON_INT32(0), "$slice", BCON_INT32(-3), "}", "}");
	uv.value.v_doc.data = (uint8_t *)bson_get_data(u);
	uv.value.v_doc.data_len = u->len;
	cr_assert_eq(update_apply(doc, &a, &out, &err), UPDATE_OK, "%s", err.message);
	cr_assert(bson_iter_init_find(&it, &out, "a") && bson_iter_recurse(&it, &ai));
	for (n = 0; bson_iter_next(&ai); n++) {
		if (n == 0)
			first = bson_iter_int32(&ai);
		last = bson_iter_int32(&ai);
	}
	cr_expect_eq(n, 3u);
	cr_expect(first == 1 && last == 1, "last three of the old array: %d..%d", first, last);
	bson_destroy(&out);
	bson_destroy(u);
	bson_destroy(doc);
}

/*
 * MongoDB's CRUD specification write tests (../shared/conformance/crud/write,
 * see its SOURCE.md; never copied here), replayed in memory: match_doc picks
 * the documents, update_upsert_seed + update_apply change them, and the
 * collection must equal the test's outcome.collection byte for byte.
 * Collation tests are skipped (no collation here); findOneAnd*'s `sort`
 * is not applied (every such test sorts by x over data already in x
 * order); ObjectIds MongoDB would generate are not needed (all upserts
 * there have their _id in the filter).  The folder is found
 * through TANDEM_CRUD_DIR or ../shared next to the work tree; when it is
 * absent the test says so and passes.
 */
#include <dirent.h>
#include <unistd.h>

#define CRUD_MAX_DOCS 64

struct crud_coll {
	bson_t *docs[CRUD_MAX_DOCS];
	int n;
	int resyncs;
};

static const char *crud_dir(void)
{
	static const char *const cands[] = {"../shared/conformance/crud/write",
					    "../../shared/conformance/crud/write",
					    "../../../shared/conformance/crud/write"};
	const char *env = getenv("TANDEM_CRUD_DIR");

	if (env)
		return env;
	for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
		if (access(cands[i], R_OK) == 0)
			return cands[i];
	return NULL;
}

static bool crud_sub(const bson_t *b, const char *key, bson_t *out)
{
	bson_iter_t it;
	const bson_value_t *v;

	if (!bson_iter_init_find(&it, b, key) ||
	    (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it)))
		return false;
	v = bson_iter_value(&it);
	return bson_init_static(out, v->value.v_doc.data, v->value.v_doc.data_len);
}

static bool crud_flag(const bson_t *b, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, b, key) && bson_iter_as_bool(&it);
}

static void crud_load(struct crud_coll *c, const bson_t *arr)
{
	bson_iter_t it;
	bson_t d;

	bson_iter_init(&it, arr);
	while (bson_iter_next(&it) && c->n < CRUD_MAX_DOCS) {
		const bson_value_t *v = bson_iter_value(&it);

		bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len);
		c->docs[c->n++] = bson_copy(&d);
	}
}

/* One update-like write; false when it failed (as MongoDB's would). */
static bool crud_update(struct crud_coll *c, const char *name, const bson_t *args)
{
	bool replace = strstr(name, "eplace") != NULL, multi = !strcmp(name, "updateMany");
	bson_t filter, filters, udoc, seed, out;
	bson_iter_t it;
	bson_value_t uv;
	bson_error_t err;
	bool matched = false, has_filters = crud_sub(args, "arrayFilters", &filters);

	cr_assert(crud_sub(args, "filter", &filter));
	if (crud_sub(args, replace ? "replacement" : "update", &udoc)) {
		bson_iter_init_find(&it, args, replace ? "replacement" : "update");
		uv = *bson_iter_value(&it);
	} else {
		return false;
	}
	for (int i = 0; i < c->n && (multi || !matched); i++) {
		struct match_result m = {.pos = -1};
		struct update_args a = {.u = &uv, .m = &m, .array_filters = has_filters ? &filters : NULL};
		enum update_status st;

		if (match_doc(&filter, c->docs[i], &m, &err) != MATCH_YES)
			continue;
		matched = true;
		st = update_apply(c->docs[i], &a, &out, &err);
		if (st == UPDATE_ERROR) {
			bson_destroy(&out);
			return false;
		}
		c->resyncs += st == UPDATE_RESYNC;
		if (st == UPDATE_OK) {
			bson_destroy(c->docs[i]);
			c->docs[i] = bson_copy(&out);
		}
		bson_destroy(&out);
	}
	if (!matched && crud_flag(args, "upsert") && c->n < CRUD_MAX_DOCS) {
		struct update_args a = {.u = &uv, .inserting = true,
					.array_filters = has_filters ? &filters : NULL};
		enum update_status st = update_upsert_seed(&filter, NULL, replace, &seed, &err);

		if (st == UPDATE_OK)
			st = update_apply(&seed, &a, &out, &err);
		else
			bson_init(&out);
		bson_destroy(&seed);
		if (st == UPDATE_ERROR) {
			bson_destroy(&out);
			return false;
		}
		c->resyncs += st == UPDATE_RESYNC;
		if (st == UPDATE_OK || st == UPDATE_NOOP)
			c->docs[c->n++] = bson_copy(&out);
		bson_destroy(&out);
	}
	return true;
}

/* An insert; false on a duplicate _id (E11000). */
static bool crud_insert(struct crud_coll *c, const bson_t *d)
{
	bson_iter_t a, b;

	if (c->n >= CRUD_MAX_DOCS)
		return false;
	for (int i = 0; i < c->n; i++)
		if (bson_iter_init_find(&a, d, "_id") && bson_iter_init_find(&b, c->docs[i], "_id") &&
		    bsoncmp_equal(bson_iter_value(&a), bson_iter_value(&b)))
			return false;
	c->docs[c->n++] = bson_copy(d);
	return true;
}

static bool crud_insert_many(struct crud_coll *c, const bson_t *args, const bson_t *docs)
{
	bson_t opts, d;
	bson_iter_t it, o;
	bool ordered = !crud_sub(args, "options", &opts) || !bson_iter_init_find(&o, &opts, "ordered") ||
		       bson_iter_as_bool(&o);
	bool ok = true;

	bson_iter_init(&it, docs);
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);

		bson_init_static(&d, v->value.v_doc.data, v->value.v_doc.data_len);
		if (!crud_insert(c, &d)) {
			ok = false;
			if (ordered)
				break;
		}
	}
	return ok;
}

/* Inserts and deletes only set the scene for the updates around them. */
static bool crud_op(struct crud_coll *c, const char *name, const bson_t *args)
{
	bson_t d, filter;
	bson_error_t err;

	if (strstr(name, "pdate") || strstr(name, "eplace"))
		return crud_update(c, name, args);
	if (!strcmp(name, "insertOne") && crud_sub(args, "document", &d)) {
		return crud_insert(c, &d);
	} else if (!strcmp(name, "insertMany") && crud_sub(args, "documents", &d)) {
		return crud_insert_many(c, args, &d);
	} else if (strstr(name, "elete") && crud_sub(args, "filter", &filter)) {
		for (int i = 0; i < c->n; i++) {
			if (match_doc(&filter, c->docs[i], NULL, &err) != MATCH_YES)
				continue;
			bson_destroy(c->docs[i]);
			memmove(&c->docs[i], &c->docs[i + 1], (size_t)(c->n - i - 1) * sizeof c->docs[0]);
			c->n--;
			if (strstr(name, "Many"))
				i--;
			else
				break;
		}
	}
	return true;
}

static bool crud_bulk(struct crud_coll *c, const bson_t *args)
{
	bson_t reqs, opts, req, rargs;
	bson_iter_t it, nm;
	bool ordered = !crud_sub(args, "options", &opts) || !bson_iter_init_find(&nm, &opts, "ordered") ||
		       bson_iter_as_bool(&nm);
	bool ok = true;

	cr_assert(crud_sub(args, "requests", &reqs));
	bson_iter_init(&it, &reqs);
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);

		bson_init_static(&req, v->value.v_doc.data, v->value.v_doc.data_len);
		cr_assert(bson_iter_init_find(&nm, &req, "name") && crud_sub(&req, "arguments", &rargs));
		if (!crud_op(c, bson_iter_utf8(&nm, NULL), &rargs)) {
			ok = false;
			if (ordered)
				break;
		}
	}
	return ok;
}

/* Returns 1 passed, 0 skipped. */
static int crud_run_test(const char *file, const bson_t *data, const bson_t *test)
{
	struct crud_coll c = {.n = 0};
	bson_t op, args, outcome, want;
	bson_iter_t it;
	const char *name;
	bool ok, want_error;
	char *g, *w;

	cr_assert(crud_sub(test, "operation", &op) && crud_sub(&op, "arguments", &args));
	cr_assert(bson_iter_init_find(&it, &op, "name"));
	name = bson_iter_utf8(&it, NULL);
	if (bson_iter_init_find(&it, &args, "collation") || !crud_sub(test, "outcome", &outcome))
		return 0;
	crud_load(&c, data);
	ok = !strcmp(name, "bulkWrite") ? crud_bulk(&c, &args) : crud_op(&c, name, &args);
	want_error = crud_flag(&outcome, "error");
	bson_iter_init_find(&it, test, "description");
	cr_expect_eq(ok, !want_error, "%s: %s: write %s", file, bson_iter_utf8(&it, NULL),
		     ok ? "succeeded" : "failed");
	if (crud_sub(&outcome, "collection", &want) && crud_sub(&want, "data", &want) && !c.resyncs) {
		bson_t have = BSON_INITIALIZER;
		char key[16];
		const char *k;

		for (int i = 0; i < c.n; i++) {
			bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
			bson_append_document(&have, k, -1, c.docs[i]);
		}
		g = bson_as_canonical_extended_json(&have, NULL);
		w = bson_as_canonical_extended_json(&want, NULL);
		cr_expect_str_eq(g, w, "%s: %s", file, bson_iter_utf8(&it, NULL));
		bson_free(g);
		bson_free(w);
		bson_destroy(&have);
	}
	for (int i = 0; i < c.n; i++)
		bson_destroy(c.docs[i]);
	return c.resyncs ? 0 : 1;
}

static void crud_run_file(const char *dir, const char *file, int *ran, int *skipped)
{
	char *path = bson_strdup_printf("%s/%s", dir, file);
	bson_json_reader_t *r;
	bson_t all = BSON_INITIALIZER, data, tests, t;
	bson_error_t err;
	bson_iter_t it;

	r = bson_json_reader_new_from_file(path, &err);
	cr_assert(r, "%s: %s", path, err.message);
	cr_assert(bson_json_reader_read(r, &all, &err) == 1, "%s: %s", path, err.message);
	cr_assert(crud_sub(&all, "data", &data) && crud_sub(&all, "tests", &tests), "%s", path);
	bson_iter_init(&it, &tests);
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);

		bson_init_static(&t, v->value.v_doc.data, v->value.v_doc.data_len);
		if (crud_run_test(file, &data, &t))
			(*ran)++;
		else
			(*skipped)++;
	}
	bson_destroy(&all);
	bson_json_reader_destroy(r);
	bson_free(path);
}

Test(update, crud_spec_write_tests)
{
	const char *dir = crud_dir();
	DIR *d;
	struct dirent *de;
	int ran = 0, skipped = 0;

	if (!dir) {
		char cwd[512];

		cr_skip_test("CRUD spec tests not found from %s (set TANDEM_CRUD_DIR)",
			     getcwd(cwd, sizeof cwd) ? cwd : "?");
	}
	cr_assert((d = opendir(dir)), "%s", dir);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") || strstr(de->d_name, "collation"))
			continue;
		crud_run_file(dir, de->d_name, &ran, &skipped);
	}
	closedir(d);
	cr_log_info("CRUD spec write tests: %d compared, %d skipped (collation or RESYNC)", ran, skipped);
	cr_expect(ran > 50, "only %d CRUD tests ran", ran);
}

/* $currentDate: RESYNC without a clock (dual-write replays MongoDB's write);
 * with one (tandem is the server in pg_primary / pg_only) a date or a
 * Timestamp(seconds, 1), new fields in path order; bad specs are errors. */
Test(update, current_date_with_and_without_a_clock)
{
	bson_t *doc = BCON_NEW("_id", BCON_INT32(1), "a", BCON_INT32(1));
	bson_t *upd = BCON_NEW("$currentDate", "{", "u", BCON_BOOL(true), "t", "{", "$type",
			       BCON_UTF8("timestamp"), "}", "d", "{", "$type", BCON_UTF8("date"), "}", "}");
	bson_value_t uv = {.value_type = BSON_TYPE_DOCUMENT};
	struct update_args a = {.u = &uv};
	bson_error_t err;
	bson_t out;
	bson_iter_t it;

	uv.value.v_doc.data = (uint8_t *)bson_get_data(upd);
	uv.value.v_doc.data_len = upd->len;
	cr_assert_eq(update_apply(doc, &a, &out, &err), UPDATE_RESYNC);
	bson_destroy(&out);

	a.now_ms = 1795259371006;
	cr_assert_eq(update_apply(doc, &a, &out, &err), UPDATE_OK, "%s", err.message);
	cr_assert(bson_iter_init_find(&it, &out, "u") && BSON_ITER_HOLDS_DATE_TIME(&it));
	cr_assert_eq(bson_iter_date_time(&it), 1795259371006);
	cr_assert(bson_iter_init_find(&it, &out, "d") && bson_iter_date_time(&it) == 1795259371006);
	uint32_t ts, inc;
	cr_assert(bson_iter_init_find(&it, &out, "t") && BSON_ITER_HOLDS_TIMESTAMP(&it));
	bson_iter_timestamp(&it, &ts, &inc);
	cr_assert_eq(ts, 1795259371u);
	cr_assert_eq(inc, 1u);
	char *js = bson_as_relaxed_extended_json(&out, NULL);
	cr_assert(strstr(js, "\"a\" : 1, \"d\"") && strstr(js, "\"t\"") < strstr(js, "\"u\""), "%s", js);
	bson_free(js);
	bson_destroy(&out);

	bson_t *bad = BCON_NEW("$currentDate", "{", "x", "{", "$type", BCON_UTF8("week"), "}", "}");
	uv.value.v_doc.data = (uint8_t *)bson_get_data(bad);
	uv.value.v_doc.data_len = bad->len;
	cr_assert_eq(update_apply(doc, &a, &out, &err), UPDATE_ERROR);
	bson_destroy(&out);
	bson_destroy(bad);
	bson_destroy(upd);
	bson_destroy(doc);
}
