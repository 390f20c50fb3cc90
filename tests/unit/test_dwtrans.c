/*
 * test_dwtrans.c - the write expander: (command, reply) -> replay ops.
 *
 * Table-driven: each case is a command, a database, a reply and either the
 * expected op array or the expected error code.  Inputs and expectations
 * are extended JSON written with single quotes (turned into double quotes
 * before bson_new_from_json); op arrays are compared as canonical extended
 * JSON, so types matter (st/lim int32, n int64).
 * Hostile input (wrong types, missing fields, indexes negative, huge or out
 * of range, deep nesting, corrupt BSON, seeded random mutations of valid
 * pairs) must give false with a reason and an empty op array, or a valid
 * op array, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bson/bson.h>
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "dwtrans.h"

/* Success cases leave `err` out of their initialisers. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define L(v) "{'$numberLong':'" #v "'}"
#define WHY_NOID "insert without _id: mongod generated an _id tandem cannot know"
#define WHY_COLL "collation not modelled"
#define WHY_BEYOND "bulkWrite results beyond the first batch"

struct tc {
	const char *name;
	const char *db;
	const char *cmd;
	const char *reply;
	const char *want; /* JSON array of ops; NULL: expect failure */
	int err;	  /* expected error code when want is NULL */
};

static bson_t *json(const char *s)
{
	char *d = strdup(s);
	bson_error_t e;
	bson_t *b;

	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	b = bson_new_from_json((const uint8_t *)d, -1, &e);
	cr_assert(b, "bad test JSON (%s): %s", e.message, d);
	free(d);
	return b;
}

/* The canonical JSON of a JSON array literal, as a document "0", "1", ... */
static char *want_json(const char *arr)
{
	size_t n = strlen(arr) + 16;
	char *w = malloc(n);
	bson_t *b, sub;
	bson_iter_t it;
	uint32_t len;
	const uint8_t *data;
	char *out;

	snprintf(w, n, "{'a':%s}", arr);
	b = json(w);
	cr_assert(bson_iter_init_find(&it, b, "a") && BSON_ITER_HOLDS_ARRAY(&it));
	bson_iter_array(&it, &len, &data);
	cr_assert(bson_init_static(&sub, data, len));
	out = bson_as_canonical_extended_json(&sub, NULL);
	bson_destroy(b);
	free(w);
	return out;
}

/* DWTRANS_SEED_DIR=dir: also write each case as a fuzz seed (command and
 * reply back to back, the input format of tests/fuzz/fuzz_dwtrans.c). */
static void write_seed(const bson_t *cmd, const bson_t *reply)
{
	static unsigned n;
	const char *dir = getenv("DWTRANS_SEED_DIR");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof path, "%s/case-%ld-%03u", dir, (long)getpid(), n++);
	f = fopen(path, "wb");
	cr_assert(f, "%s", path);
	fwrite(bson_get_data(cmd), 1, cmd->len, f);
	fwrite(bson_get_data(reply), 1, reply->len, f);
	fclose(f);
}

static void run_case(const struct tc *t)
{
	bson_t *cmd = json(t->cmd), *reply = json(t->reply), ops;
	bson_error_t err = { 0 };
	bool ok = dwtrans_expand(cmd, t->db, reply, &ops, &err);
	size_t off;

	write_seed(cmd, reply);

	if (!t->want) {
		cr_assert(!ok, "%s: expected failure, got %s", t->name,
			  bson_as_canonical_extended_json(&ops, NULL));
		cr_assert_eq(err.domain, DWTRANS_ERROR_DOMAIN, "%s", t->name);
		cr_assert_eq(err.code, (uint32_t)t->err, "%s: code %u (%s)", t->name, err.code,
			     err.message);
		cr_assert(err.message[0], "%s: empty message", t->name);
		cr_assert_eq(bson_count_keys(&ops), 0, "%s: ops left after failure", t->name);
	} else {
		char *got, *want = want_json(t->want);

		cr_assert(ok, "%s: %s", t->name, err.message);
		cr_assert(bson_validate(&ops, BSON_VALIDATE_NONE, &off), "%s", t->name);
		got = bson_as_canonical_extended_json(&ops, NULL);
		cr_assert_str_eq(got, want, "%s:\n got  %s\n want %s", t->name, got, want);
		bson_free(got);
		bson_free(want);
	}
	bson_destroy(&ops);
	bson_destroy(cmd);
	bson_destroy(reply);
}

static void run_cases(const struct tc *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
}

#define RUN(arr) run_cases(arr, sizeof arr / sizeof arr[0])

/* ----------------------------------------------------------- insert */

#define I(st, doc) "{'k':'i','db':'app','c':'u','st':" #st ",'d':" doc "}"
#define X(st, why) "{'k':'x','db':'app','c':'u','st':" #st ",'why':'" why "'}"
#define DOCS3 "{'insert':'u','documents':[{'_id':1},{'_id':2},{'_id':3}]"

static const struct tc insert_cases[] = {
	{ "all succeed", "app", DOCS3 "}", "{'n':3,'ok':1.0}",
	  "[" I(0, "{'_id':1}") "," I(1, "{'_id':2}") "," I(2, "{'_id':3}") "]" },
	{ "ordered stops at first error", "app", DOCS3 "}",
	  "{'n':1,'writeErrors':[{'index':1,'code':11000,'errmsg':'E11000'}],'ok':1.0}",
	  "[" I(0, "{'_id':1}") "]" },
	{ "unordered skips only the failed", "app", DOCS3 ",'ordered':false}",
	  "{'n':2,'writeErrors':[{'index':1,'code':11000,'errmsg':'E11000'}],'ok':1}",
	  "[" I(0, "{'_id':1}") "," I(2, "{'_id':3}") "]" },
	{ "ordered, errors listed out of order", "app", DOCS3 "}",
	  "{'n':1,'writeErrors':[{'index':2,'code':1},{'index':1,'code':1}],'ok':1}",
	  "[" I(0, "{'_id':1}") "]" },
	{ "ordered given as int 0 means unordered", "app", DOCS3 ",'ordered':0}",
	  "{'n':2,'writeErrors':[{'index':0,'code':1}],'ok':1}",
	  "[" I(1, "{'_id':2}") "," I(2, "{'_id':3}") "]" },
	{ "error at index 0, ordered: nothing", "app", DOCS3 "}",
	  "{'n':0,'writeErrors':[{'index':0,'code':1}],'ok':1}", "[]" },
	{ "document without _id", "app", "{'insert':'u','documents':[{'a':1},{'_id':2}]}",
	  "{'n':2,'ok':1}", "[" X(0, WHY_NOID) "," I(1, "{'_id':2}") "]" },
	{ "failed command: nothing", "app", DOCS3 "}",
	  "{'ok':0.0,'errmsg':'not primary','code':10107}", "[]" },
	{ "ok 1.5 is not ok", "app", DOCS3 "}", "{'ok':1.5}", "[]" },
	{ "ok as bool true", "app", "{'insert':'u','documents':[{'_id':1}]}",
	  "{'n':1,'ok':true}", "[" I(0, "{'_id':1}") "]" },
	{ "writeConcernError does not cancel", "app", "{'insert':'u','documents':[{'_id':1}]}",
	  "{'n':1,'writeConcernError':{'code':64,'errmsg':'timeout'},'ok':1}",
	  "[" I(0, "{'_id':1}") "]" },
	{ "reply n contradicts writeErrors", "app", "{'insert':'u','documents':[{'_id':1}]}",
	  "{'n':5,'ok':1}",
	  "[" I(0, "{'_id':1}") "," X(-1, "reply n=5 but 1 documents succeeded by writeErrors") "]" },
	{ "index as integral double", "app", DOCS3 ",'ordered':false}",
	  "{'n':2,'writeErrors':[{'index':1.0,'code':1}],'ok':1}",
	  "[" I(0, "{'_id':1}") "," I(2, "{'_id':3}") "]" },
	{ "documents keep every type", "app",
	  "{'insert':'u','documents':[{'_id':{'$oid':'0123456789abcdef01234567'},"
	  "'d':{'$date':{'$numberLong':'1'}},'x':{'$numberDecimal':'1.5'}}]}",
	  "{'n':1,'ok':1}",
	  "[" I(0, "{'_id':{'$oid':'0123456789abcdef01234567'},'d':{'$date':{'$numberLong':'1'}},"
		   "'x':{'$numberDecimal':'1.5'}}") "]" },
	/* hostile */
	{ "index out of range", "app", DOCS3 "}",
	  "{'n':2,'writeErrors':[{'index':3,'code':1}],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "negative index", "app", DOCS3 "}",
	  "{'n':2,'writeErrors':[{'index':-1,'code':1}],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "huge index", "app", DOCS3 "}",
	  "{'n':2,'writeErrors':[{'index':" L(1099511627776) ",'code':1}],'ok':1}", NULL,
	  DWTRANS_ERR_REPLY },
	{ "fractional index", "app", DOCS3 "}",
	  "{'n':2,'writeErrors':[{'index':1.5,'code':1}],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "index as string", "app", DOCS3 "}",
	  "{'n':2,'writeErrors':[{'index':'1','code':1}],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "writeErrors not an array", "app", DOCS3 "}", "{'n':2,'writeErrors':{'index':1},'ok':1}",
	  NULL, DWTRANS_ERR_SHAPE },
	{ "writeErrors element not a document", "app", DOCS3 "}",
	  "{'n':2,'writeErrors':[1],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "documents missing", "app", "{'insert':'u'}", "{'n':0,'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "documents not an array", "app", "{'insert':'u','documents':{'_id':1}}", "{'n':1,'ok':1}",
	  NULL, DWTRANS_ERR_SHAPE },
	{ "document not a document", "app", "{'insert':'u','documents':[5]}", "{'n':1,'ok':1}", NULL,
	  DWTRANS_ERR_SHAPE },
	{ "ordered as string", "app", DOCS3 ",'ordered':'no'}", "{'n':3,'ok':1}", NULL,
	  DWTRANS_ERR_SHAPE },
	{ "reply n as string", "app", DOCS3 "}", "{'n':'3','ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "collection name not a string", "app", "{'insert':5,'documents':[]}", "{'n':0,'ok':1}",
	  NULL, DWTRANS_ERR_SHAPE },
	{ "collection name empty", "app", "{'insert':'','documents':[]}", "{'n':0,'ok':1}", NULL,
	  DWTRANS_ERR_SHAPE },
	{ "database empty", "", "{'insert':'u','documents':[]}", "{'n':0,'ok':1}", NULL,
	  DWTRANS_ERR_SHAPE },
	{ "reply without ok", "app", DOCS3 "}", "{'n':3}", NULL, DWTRANS_ERR_SHAPE },
	{ "reply ok a string", "app", DOCS3 "}", "{'n':3,'ok':'1'}", NULL, DWTRANS_ERR_SHAPE },
};

Test(dwtrans, insert)
{
	RUN(insert_cases);
}

/* ----------------------------------------------------------- update */

#define U(st, q, u, m, up, extra, n)                                                         \
	"{'k':'u','db':'app','c':'u','st':" #st ",'q':" q ",'u':" u ",'m':" m ",'up':" up extra \
	",'n':" n "}"
#define UPD(stmts) "{'update':'u','updates':[" stmts "]"
#define S1 "{'q':{'a':1},'u':{'$set':{'b':1}}}"
#define S1Q "{'a':1}"
#define S1U "{'$set':{'b':1}}"

static const struct tc update_cases[] = {
	{ "single statement: n known", "app",
	  UPD("{'q':{'a':1},'u':{'$inc':{'b':1}},'multi':true}") "}",
	  "{'n':3,'nModified':2,'ok':1}",
	  "[" U(0, S1Q, "{'$inc':{'b':1}}", "true", "false", "", L(3)) "]" },
	{ "single upsert that inserted", "app",
	  UPD("{'q':{'a':1},'u':{'$set':{'b':1}},'upsert':true}") "}",
	  "{'n':1,'nModified':0,'upserted':[{'index':0,'_id':7}],'ok':1}",
	  "[" U(0, S1Q, S1U, "false", "true", ",'uid':7", L(0)) "]" },
	{ "upsert that matched: up false", "app",
	  UPD("{'q':{'a':1},'u':{'$set':{'b':1}},'upsert':true}") "}", "{'n':1,'nModified':1,'ok':1}",
	  "[" U(0, S1Q, S1U, "false", "false", "", L(1)) "]" },
	{ "several statements: n unknown, ordered stop", "app", UPD(S1 "," S1 "," S1) "}",
	  "{'n':1,'nModified':1,'writeErrors':[{'index':1,'code':2}],'ok':1}",
	  "[" U(0, S1Q, S1U, "false", "false", "", L(-1)) "]" },
	{ "unordered: error skipped, upsert reported", "app",
	  UPD(S1 "," S1 ",{'q':{'a':1},'u':{'$set':{'b':1}},'upsert':true}") ",'ordered':false}",
	  "{'n':2,'nModified':1,'upserted':[{'index':2,'_id':{'$oid':'0123456789abcdef01234567'}}],"
	  "'writeErrors':[{'index':1,'code':2}],'ok':1}",
	  "[" U(0, S1Q, S1U, "false", "false", "", L(-1)) ","
	  U(2, S1Q, S1U, "false", "true", ",'uid':{'$oid':'0123456789abcdef01234567'}", L(0)) "]" },
	{ "arrayFilters carried", "app",
	  UPD("{'q':{'a':1},'u':{'$set':{'g.$[e]':1}},'arrayFilters':[{'e':{'$gt':2}}]}") "}",
	  "{'n':1,'nModified':1,'ok':1}",
	  "[" U(0, S1Q, "{'$set':{'g.$[e]':1}}", "false", "false", ",'af':[{'e':{'$gt':2}}]", L(1)) "]" },
	{ "pipeline and let vars pass through", "app",
	  UPD("{'q':{'a':1},'u':[{'$set':{'b':'$$v'}}],'c':{'v':1}}") "}",
	  "{'n':1,'nModified':1,'ok':1}",
	  "[" U(0, S1Q, "[{'$set':{'b':'$$v'}}]", "false", "false", "", L(1)) "]" },
	{ "replacement document", "app", UPD("{'q':{'_id':1},'u':{'x':2}}") "}",
	  "{'n':1,'nModified':1,'ok':1}",
	  "[" U(0, "{'_id':1}", "{'x':2}", "false", "false", "", L(1)) "]" },
	{ "collation -> x", "app", UPD("{'q':{'a':'x'},'u':{'$set':{'b':1}},'collation':{'locale':'fr'}}") "}",
	  "{'n':1,'nModified':1,'ok':1}", "[" X(0, WHY_COLL) "]" },
	{ "collation with upsert -> r by uid", "app",
	  UPD("{'q':{'a':'x'},'u':{'$set':{'b':1}},'upsert':true,'collation':{'locale':'fr'}}") "}",
	  "{'n':1,'nModified':0,'upserted':[{'index':0,'_id':9}],'ok':1}",
	  "[{'k':'r','db':'app','c':'u','st':0,'ids':[9],'why':'collation not modelled: upserted _id re-read'}]" },
	{ "sort on a single update -> x", "app", UPD("{'q':{'a':1},'u':{'$set':{'b':1}},'sort':{'t':-1}}") "}",
	  "{'n':1,'nModified':1,'ok':1}",
	  "[" X(0, "update with sort not modelled: which document matched is unknown") "]" },
	{ "sort on a multi update is harmless", "app",
	  UPD("{'q':{'a':1},'u':{'$set':{'b':1}},'multi':true,'sort':{'t':-1}}") "}",
	  "{'n':2,'nModified':2,'ok':1}", "[" U(0, S1Q, S1U, "true", "false", "", L(2)) "]" },
	{ "failed command", "app", UPD(S1) "}", "{'ok':0,'code':2,'errmsg':'bad'}", "[]" },
	{ "refmongo's reply: pipeline refused, upsert reported", "app",
	  UPD("{'q':{'_id':1},'u':{'$set':{'a':1}}},{'q':{'_id':9},'u':{'$set':{'a':2}},'upsert':true},"
	      "{'q':{'_id':1},'u':[{'$set':{'b':1}}]}") ",'ordered':false}",
	  "{'n':2,'upserted':[{'index':1,'_id':9}],'nModified':1,'writeErrors':[{'index':2,"
	  "'code':238,'errmsg':'refmongo does not implement pipeline-style updates'}],'ok':1.0}",
	  "[" U(0, "{'_id':1}", "{'$set':{'a':1}}", "false", "false", "", L(-1)) ","
	  U(1, "{'_id':9}", "{'$set':{'a':2}}", "false", "true", ",'uid':9", L(0)) "]" },
	/* hostile */
	{ "upserted index out of range", "app", UPD(S1) "}",
	  "{'n':1,'upserted':[{'index':5,'_id':1}],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "upserted without _id", "app", UPD("{'q':{},'u':{},'upsert':true}") "}",
	  "{'n':1,'upserted':[{'index':0}],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "upserted twice", "app", UPD("{'q':{},'u':{},'upsert':true}") "}",
	  "{'n':1,'upserted':[{'index':0,'_id':1},{'index':0,'_id':2}],'ok':1}", NULL,
	  DWTRANS_ERR_REPLY },
	{ "upserted for a statement without upsert", "app", UPD(S1) "}",
	  "{'n':1,'upserted':[{'index':0,'_id':1}],'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "upserted for a failed statement", "app",
	  UPD("{'q':{},'u':{},'upsert':true}") ",'ordered':false}",
	  "{'n':1,'upserted':[{'index':0,'_id':1}],'writeErrors':[{'index':0,'code':1}],'ok':1}",
	  NULL, DWTRANS_ERR_REPLY },
	{ "upserted not an array", "app", UPD(S1) "}", "{'n':1,'upserted':{'index':0},'ok':1}", NULL,
	  DWTRANS_ERR_SHAPE },
	{ "u is a string", "app", UPD("{'q':{},'u':'x'}") "}", "{'n':1,'ok':1}", NULL,
	  DWTRANS_ERR_SHAPE },
	{ "q missing", "app", UPD("{'u':{}}") "}", "{'n':1,'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "multi is a document", "app", UPD("{'q':{},'u':{},'multi':{}}") "}", "{'n':1,'ok':1}",
	  NULL, DWTRANS_ERR_SHAPE },
	{ "arrayFilters not an array", "app", UPD("{'q':{},'u':{},'arrayFilters':{}}") "}",
	  "{'n':1,'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "statement not a document", "app", UPD("7") "}", "{'n':1,'ok':1}", NULL, DWTRANS_ERR_SHAPE },
};

Test(dwtrans, update)
{
	RUN(update_cases);
}

/* ----------------------------------------------------------- delete */

#define D(st, q, lim, n) "{'k':'d','db':'app','c':'u','st':" #st ",'q':" q ",'lim':" #lim ",'n':" n "}"
#define DEL(stmts) "{'delete':'u','deletes':[" stmts "]"

static const struct tc delete_cases[] = {
	{ "single delete one", "app", DEL("{'q':{'a':1},'limit':1}") "}", "{'n':1,'ok':1}",
	  "[" D(0, "{'a':1}", 1, L(1)) "]" },
	{ "single delete many, n 0", "app", DEL("{'q':{'a':1},'limit':0}") "}", "{'n':0,'ok':1}",
	  "[" D(0, "{'a':1}", 0, L(0)) "]" },
	{ "two statements: n unknown", "app", DEL("{'q':{'a':1},'limit':0},{'q':{'b':2},'limit':1}") "}",
	  "{'n':4,'ok':1}", "[" D(0, "{'a':1}", 0, L(-1)) "," D(1, "{'b':2}", 1, L(-1)) "]" },
	{ "ordered error at 0", "app", DEL("{'q':{'a':1},'limit':0},{'q':{'b':2},'limit':1}") "}",
	  "{'n':0,'writeErrors':[{'index':0,'code':2}],'ok':1}", "[]" },
	{ "unordered error at 0", "app",
	  DEL("{'q':{'a':1},'limit':0},{'q':{'b':2},'limit':1}") ",'ordered':false}",
	  "{'n':1,'writeErrors':[{'index':0,'code':2}],'ok':1}", "[" D(1, "{'b':2}", 1, L(-1)) "]" },
	{ "collation -> x", "app", DEL("{'q':{'a':1},'limit':1,'collation':{'locale':'fr'}}") "}",
	  "{'n':1,'ok':1}", "[" X(0, WHY_COLL) "]" },
	{ "limit 2", "app", DEL("{'q':{},'limit':2}") "}", "{'n':1,'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "limit missing", "app", DEL("{'q':{}}") "}", "{'n':1,'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "q not a document", "app", DEL("{'q':[],'limit':1}") "}", "{'n':1,'ok':1}", NULL,
	  DWTRANS_ERR_SHAPE },
};

Test(dwtrans, delete)
{
	RUN(delete_cases);
}

/* ---------------------------------------------------- findAndModify */

#define FQ "'query':{'a':1}"
#define LEO_UPD "'lastErrorObject':{'n':1,'updatedExisting':true}"
#define FU(q, u, up, extra, n) \
	"{'k':'u','db':'app','c':'u','st':0,'q':" q ",'u':" u ",'m':false,'up':" up extra ",'n':" n "}"
#define R5(why) "{'k':'r','db':'app','c':'u','st':0,'ids':[5],'why':'" why "'}"

static const struct tc fam_cases[] = {
	{ "remove by _id", "app", "{'findAndModify':'u'," FQ ",'remove':true}",
	  "{'lastErrorObject':{'n':1},'value':{'_id':5,'a':1},'ok':1}",
	  "[{'k':'d','db':'app','c':'u','st':0,'q':{'_id':5},'lim':1,'n':" L(1) "}]" },
	{ "update existing, new:true", "app",
	  "{'findAndModify':'u'," FQ ",'update':{'$inc':{'b':1}},'new':true}",
	  "{" LEO_UPD ",'value':{'_id':5,'a':1,'b':2},'ok':1}",
	  "[" FU("{'_id':5}", "{'$inc':{'b':1}}", "false", "", L(1)) "]" },
	{ "lowercase spelling, replacement, pre-image", "app",
	  "{'findandmodify':'u'," FQ ",'update':{'x':1}}",
	  "{" LEO_UPD ",'value':{'_id':5,'a':1},'ok':1}",
	  "[" FU("{'_id':5}", "{'x':1}", "false", "", L(1)) "]" },
	{ "upsert insert, new:false", "app",
	  "{'findAndModify':'u'," FQ ",'update':{'$set':{'b':1}},'upsert':true}",
	  "{'lastErrorObject':{'n':1,'updatedExisting':false,'upserted':9},'value':null,'ok':1}",
	  "[" FU("{'a':1}", "{'$set':{'b':1}}", "true", ",'uid':9", L(0)) "]" },
	{ "upsert insert without query", "app",
	  "{'findAndModify':'u','update':{'$set':{'b':1}},'upsert':true}",
	  "{'lastErrorObject':{'n':1,'updatedExisting':false,'upserted':9},'value':null,'ok':1}",
	  "[" FU("{}", "{'$set':{'b':1}}", "true", ",'uid':9", L(0)) "]" },
	{ "upsert insert known from updatedExisting + value", "app",
	  "{'findAndModify':'u'," FQ ",'update':{'$set':{'b':1}},'upsert':true,'new':true}",
	  "{'lastErrorObject':{'n':1,'updatedExisting':false},'value':{'_id':9,'a':1,'b':1},'ok':1}",
	  "[" FU("{'a':1}", "{'$set':{'b':1}}", "true", ",'uid':9", L(0)) "]" },
	{ "upsert that matched", "app",
	  "{'findAndModify':'u'," FQ ",'update':{'$set':{'b':1}},'upsert':true}",
	  "{" LEO_UPD ",'value':{'_id':5},'ok':1}",
	  "[" FU("{'_id':5}", "{'$set':{'b':1}}", "false", "", L(1)) "]" },
	{ "nothing matched", "app", "{'findAndModify':'u'," FQ ",'update':{'$set':{'b':1}}}",
	  "{'lastErrorObject':{'n':0,'updatedExisting':false},'value':null,'ok':1}", "[]" },
	{ "nothing removed", "app", "{'findAndModify':'u'," FQ ",'remove':true}",
	  "{'lastErrorObject':{'n':0},'value':null,'ok':1}", "[]" },
	{ "_id projected away", "app",
	  "{'findAndModify':'u'," FQ ",'remove':true,'fields':{'_id':0}}",
	  "{'lastErrorObject':{'n':1},'value':{'a':1},'ok':1}",
	  "[{'k':'d','db':'app','c':'u','st':0,'q':{'a':1},'lim':1,'n':" L(1) "}]" },
	{ "_id projected away, update", "app",
	  "{'findAndModify':'u'," FQ ",'update':{'$set':{'b':1}},'fields':{'_id':0}}",
	  "{" LEO_UPD ",'value':{'a':1},'ok':1}",
	  "[" FU("{'a':1}", "{'$set':{'b':1}}", "false", "", L(1)) "]" },
	{ "_id projected away, collation", "app",
	  "{'findAndModify':'u'," FQ ",'remove':true,'fields':{'_id':0},'collation':{'locale':'fr'}}",
	  "{'lastErrorObject':{'n':1},'value':{'a':1},'ok':1}",
	  "[" X(0, "findAndModify: _id unknown (excluded by fields) and collation not modelled") "]" },
	{ "arrayFilters carried", "app",
	  "{'findAndModify':'u'," FQ ",'update':{'$set':{'g.$[e]':0}},'arrayFilters':[{'e':1}]}",
	  "{" LEO_UPD ",'value':{'_id':5},'ok':1}",
	  "[" FU("{'_id':5}", "{'$set':{'g.$[e]':0}}", "false", ",'af':[{'e':1}]", L(1)) "]" },
	{ "collation -> r by _id", "app",
	  "{'findAndModify':'u'," FQ ",'update':{'$set':{'b':1}},'collation':{'locale':'fr'}}",
	  "{" LEO_UPD ",'value':{'_id':5},'ok':1}", "[" R5("collation not modelled") "]" },
	{ "positional $ -> r by _id", "app",
	  "{'findAndModify':'u','query':{'g':80},'update':{'$set':{'g.$':82}}}",
	  "{" LEO_UPD ",'value':{'_id':5},'ok':1}",
	  "[" R5("positional $ needs the original query") "]" },
	{ "$[] is not positional", "app",
	  "{'findAndModify':'u','query':{'g':80},'update':{'$inc':{'g.$[]':1}}}",
	  "{" LEO_UPD ",'value':{'_id':5},'ok':1}",
	  "[" FU("{'_id':5}", "{'$inc':{'g.$[]':1}}", "false", "", L(1)) "]" },
	{ "remove with collation is exact by _id", "app",
	  "{'findAndModify':'u'," FQ ",'remove':true,'collation':{'locale':'fr'}}",
	  "{'lastErrorObject':{'n':1},'value':{'_id':5},'ok':1}",
	  "[{'k':'d','db':'app','c':'u','st':0,'q':{'_id':5},'lim':1,'n':" L(1) "}]" },
	{ "failed command", "app", "{'findAndModify':'u'," FQ ",'remove':true}",
	  "{'ok':0,'code':11000,'errmsg':'E11000'}", "[]" },
	/* hostile */
	{ "remove and update", "app", "{'findAndModify':'u','remove':true,'update':{}}",
	  "{'lastErrorObject':{'n':1},'value':{'_id':5},'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "neither remove nor update", "app", "{'findAndModify':'u'," FQ "}",
	  "{'lastErrorObject':{'n':1},'value':{'_id':5},'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "no lastErrorObject", "app", "{'findAndModify':'u','remove':true}",
	  "{'value':{'_id':5},'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "lastErrorObject.n 2", "app", "{'findAndModify':'u','remove':true}",
	  "{'lastErrorObject':{'n':2},'value':{'_id':5},'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "lastErrorObject.n a string", "app", "{'findAndModify':'u','remove':true}",
	  "{'lastErrorObject':{'n':'1'},'value':{'_id':5},'ok':1}", NULL, DWTRANS_ERR_REPLY },
	{ "upsert reported without upsert:true", "app",
	  "{'findAndModify':'u','update':{'$set':{'b':1}}}",
	  "{'lastErrorObject':{'n':1,'updatedExisting':false,'upserted':9},'value':null,'ok':1}",
	  NULL, DWTRANS_ERR_REPLY },
	{ "query not a document", "app", "{'findAndModify':'u','query':1,'remove':true}",
	  "{'lastErrorObject':{'n':1},'value':{'_id':5},'ok':1}", NULL, DWTRANS_ERR_SHAPE },
	{ "update a number", "app", "{'findAndModify':'u','update':3}",
	  "{'lastErrorObject':{'n':1},'value':{'_id':5},'ok':1}", NULL, DWTRANS_ERR_SHAPE },
};

Test(dwtrans, find_and_modify)
{
	RUN(fam_cases);
}

/* -------------------------------------------------------- bulkWrite */

#define NS2 "'nsInfo':[{'ns':'app.u'},{'ns':'crm.a.b'}]"
#define BOPS                                                                       \
	"'ops':[{'insert':0,'document':{'_id':1}},"                                \
	"{'update':1,'filter':{'a':1},'updateMods':{'$set':{'b':1}},'upsert':true}," \
	"{'delete':0,'filter':{'c':1},'multi':true},"                              \
	"{'insert':1,'document':{'_id':2}}]"
#define BW(extra) "{'bulkWrite':1," BOPS "," NS2 extra "}"
#define BR(id, batch, extra) "{'ok':1,'cursor':{'id':" id ",'firstBatch':[" batch "],'ns':'admin.$cmd.bulkWrite'}" extra "}"
#define OK0 "{'ok':1,'idx':0,'n':1}"
#define OK1 "{'ok':1,'idx':1,'n':1,'nModified':0,'upserted':{'_id':7}}"
#define OK2 "{'ok':1,'idx':2,'n':3}"
#define OK3 "{'ok':1,'idx':3,'n':1}"
#define ERR(i) "{'ok':0,'idx':" #i ",'code':11000,'errmsg':'E11000'}"
#define B0 "{'k':'i','db':'app','c':'u','st':0,'d':{'_id':1}}"
#define B1 "{'k':'u','db':'crm','c':'a.b','st':1,'q':{'a':1},'u':{'$set':{'b':1}},'m':false,'up':true,'uid':7,'n':" L(0) "}"
#define B1N(up, n) "{'k':'u','db':'crm','c':'a.b','st':1,'q':{'a':1},'u':{'$set':{'b':1}},'m':false,'up':" up ",'n':" n "}"
#define B2(n) "{'k':'d','db':'app','c':'u','st':2,'q':{'c':1},'lim':0,'n':" n "}"
#define B3 "{'k':'i','db':'crm','c':'a.b','st':3,'d':{'_id':2}}"
#define BX(st, db, c, why) "{'k':'x','db':'" db "','c':'" c "','st':" #st ",'why':'" why "'}"

static const struct tc bulk_cases[] = {
	{ "all succeed, two namespaces", "admin", BW(""), BR("0", OK0 "," OK1 "," OK2 "," OK3, ""),
	  "[" B0 "," B1 "," B2(L(3)) "," B3 "]" },
	{ "ordered stops at the error", "admin", BW(""), BR("0", OK0 "," ERR(1), ""),
	  "[" B0 "]" },
	{ "unordered skips the error", "admin", BW(",'ordered':false"),
	  BR("0", OK0 "," ERR(1) "," OK2 "," OK3, ""), "[" B0 "," B2(L(3)) "," B3 "]" },
	{ "results out of order are matched by idx", "admin", BW(""),
	  BR("0", OK3 "," OK1 "," OK0 "," OK2, ""), "[" B0 "," B1 "," B2(L(3)) "," B3 "]" },
	{ "update that matched: n exact", "admin", BW(""),
	  BR("0", OK0 ",{'ok':1,'idx':1,'n':1,'nModified':1}," OK2 "," OK3, ""),
	  "[" B0 "," B1N("false", L(1)) "," B2(L(3)) "," B3 "]" },
	{ "errorsOnly unordered: the rest succeeded, upsert unknown", "admin",
	  BW(",'ordered':false,'errorsOnly':true"), BR("0", ERR(0), ",'nErrors':1"),
	  "[" BX(1, "crm", "a.b", "bulkWrite errorsOnly: whether this upsert inserted, and its _id, is not reported")
	  "," B2(L(-1)) "," B3 "]" },
	{ "errorsOnly with nUpserted 0: update safe", "admin",
	  BW(",'ordered':false,'errorsOnly':true"), BR("0", ERR(0), ",'nErrors':1,'nUpserted':0"),
	  "[" B1N("false", L(-1)) "," B2(L(-1)) "," B3 "]" },
	{ "errorsOnly ordered: up to the first error", "admin", BW(",'errorsOnly':true"),
	  BR("0", ERR(2), ",'nUpserted':0"), "[" B0 "," B1N("false", L(-1)) "]" },
	{ "errorsOnly, no errors at all", "admin", BW(",'errorsOnly':true"), BR("0", "", ",'nUpserted':0"),
	  "[" B0 "," B1N("false", L(-1)) "," B2(L(-1)) "," B3 "]" },
	{ "cursor id != 0: the rest is x", "admin", BW(""),
	  BR(L(123456789), OK0 "," OK1, ""),
	  "[" B0 "," B1 "," BX(2, "app", "u", WHY_BEYOND) "," BX(3, "crm", "a.b", WHY_BEYOND) "]" },
	{ "errorsOnly + cursor id != 0", "admin", BW(",'ordered':false,'errorsOnly':true"),
	  BR(L(5), ERR(1), ",'nUpserted':0"),
	  "[" B0 "," BX(2, "app", "u", WHY_BEYOND) "," BX(3, "crm", "a.b", WHY_BEYOND) "]" },
	{ "missing result, exhausted cursor", "admin", BW(",'ordered':false"),
	  BR("0", OK0 "," OK2 "," OK3, ""),
	  "[" B0 "," BX(1, "crm", "a.b", "bulkWrite reply has no result for this op") "," B2(L(3)) ","
	  B3 "]" },
	{ "failed command", "admin", BW(""), "{'ok':0,'code':8,'errmsg':'x'}", "[]" },
	{ "insert without _id", "admin",
	  "{'bulkWrite':1,'ops':[{'insert':0,'document':{'a':1}}],'nsInfo':[{'ns':'app.u'}]}",
	  BR("0", OK0, ""), "[" BX(0, "app", "u", WHY_NOID) "]" },
	{ "delete one with collation", "admin",
	  "{'bulkWrite':1,'ops':[{'delete':0,'filter':{},'collation':{'locale':'fr'}}],'nsInfo':[{'ns':'app.u'}]}",
	  BR("0", OK0, ""), "[" BX(0, "app", "u", WHY_COLL) "]" },
	/* hostile */
	{ "ns without a dot", "admin", "{'bulkWrite':1,'ops':[],'nsInfo':[{'ns':'appu'}]}",
	  BR("0", "", ""), NULL, DWTRANS_ERR_SHAPE },
	{ "ns with empty collection", "admin", "{'bulkWrite':1,'ops':[],'nsInfo':[{'ns':'app.'}]}",
	  BR("0", "", ""), NULL, DWTRANS_ERR_SHAPE },
	{ "nsIdx out of range", "admin",
	  "{'bulkWrite':1,'ops':[{'insert':2,'document':{'_id':1}}],'nsInfo':[{'ns':'a.b'}]}",
	  BR("0", OK0, ""), NULL, DWTRANS_ERR_SHAPE },
	{ "nsIdx negative", "admin",
	  "{'bulkWrite':1,'ops':[{'insert':-1,'document':{'_id':1}}],'nsInfo':[{'ns':'a.b'}]}",
	  BR("0", OK0, ""), NULL, DWTRANS_ERR_SHAPE },
	{ "idx out of range", "admin", BW(""), BR("0", "{'ok':1,'idx':4,'n':1}", ""), NULL,
	  DWTRANS_ERR_REPLY },
	{ "idx huge", "admin", BW(""), BR("0", "{'ok':1,'idx':" L(4294967296) ",'n':1}", ""), NULL,
	  DWTRANS_ERR_REPLY },
	{ "idx negative", "admin", BW(""), BR("0", "{'ok':1,'idx':-1,'n':1}", ""), NULL,
	  DWTRANS_ERR_REPLY },
	{ "idx twice", "admin", BW(""), BR("0", OK0 "," OK0, ""), NULL, DWTRANS_ERR_REPLY },
	{ "result without ok", "admin", BW(""), BR("0", "{'idx':0,'n':1}", ""), NULL,
	  DWTRANS_ERR_REPLY },
	{ "upserted without _id", "admin", BW(""), BR("0", OK0 ",{'ok':1,'idx':1,'n':1,'upserted':{}}", ""),
	  NULL, DWTRANS_ERR_REPLY },
	{ "upserted on a non-upsert update", "admin",
	  "{'bulkWrite':1,'ops':[{'update':0,'filter':{},'updateMods':{}}],'nsInfo':[{'ns':'a.b'}]}",
	  BR("0", "{'ok':1,'idx':0,'n':1,'upserted':{'_id':1}}", ""), NULL, DWTRANS_ERR_REPLY },
	{ "no cursor", "admin", BW(""), "{'ok':1,'nErrors':0}", NULL, DWTRANS_ERR_SHAPE },
	{ "firstBatch not an array", "admin", BW(""), "{'ok':1,'cursor':{'id':0,'firstBatch':{}}}",
	  NULL, DWTRANS_ERR_SHAPE },
	{ "ops not an array", "admin", "{'bulkWrite':1,'ops':{},'nsInfo':[]}", BR("0", "", ""), NULL,
	  DWTRANS_ERR_SHAPE },
	{ "unknown op kind", "admin",
	  "{'bulkWrite':1,'ops':[{'upsert':0}],'nsInfo':[{'ns':'a.b'}]}", BR("0", OK0, ""), NULL,
	  DWTRANS_ERR_SHAPE },
	{ "op nsIdx a string", "admin",
	  "{'bulkWrite':1,'ops':[{'insert':'0','document':{}}],'nsInfo':[{'ns':'a.b'}]}",
	  BR("0", OK0, ""), NULL, DWTRANS_ERR_SHAPE },
};

Test(dwtrans, bulk_write)
{
	RUN(bulk_cases);
}

/* ---------------------------------------------- not writes, hostile */

static const struct tc other_cases[] = {
	{ "find is not a write", "app", "{'find':'u','filter':{}}", "{'ok':1,'cursor':{}}", "[]" },
	{ "not a write, reply garbage", "app", "{'find':'u'}", "{'x':1}", "[]" },
	{ "commit is not expanded", "admin", "{'commitTransaction':1}", "{'ok':1}", "[]" },
	{ "empty command", "app", "{}", "{'ok':1}", "[]" },
	{ "command names are case-sensitive", "app", "{'Insert':'u','documents':[{'_id':1}]}",
	  "{'n':1,'ok':1}", "[]" },
};

Test(dwtrans, non_writes_give_no_ops)
{
	RUN(other_cases);
}

Test(dwtrans, null_arguments)
{
	bson_t *cmd = json("{'insert':'u','documents':[{'_id':1}]}"), *reply = json("{'n':1,'ok':1}");
	bson_t ops;
	bson_error_t err;

	cr_assert(!dwtrans_expand(NULL, "app", reply, &ops, &err));
	bson_destroy(&ops);
	cr_assert(!dwtrans_expand(cmd, "app", NULL, &ops, &err));
	bson_destroy(&ops);
	cr_assert(!dwtrans_expand(cmd, NULL, reply, &ops, &err));
	cr_assert_eq(err.code, DWTRANS_ERR_SHAPE);
	bson_destroy(&ops);
	bson_destroy(reply);
	reply = json("{'n':1}");
	cr_assert(!dwtrans_expand(cmd, "app", reply, &ops, NULL)); /* err may be NULL */
	bson_destroy(&ops);
	bson_destroy(cmd);
	bson_destroy(reply);
}

/* {insert:'u', documents:[{_id:1, a:{a:{a:...}}}]} nested `depth` levels. */
static bson_t *deep_insert(int depth)
{
	bson_t *levels = calloc((size_t)depth + 1, sizeof(bson_t));
	bson_t *cmd = bson_new(), docs, doc;

	bson_init(&levels[depth]);
	for (int i = depth - 1; i >= 0; i--) {
		bson_init(&levels[i]);
		BSON_APPEND_DOCUMENT(&levels[i], "a", &levels[i + 1]);
		bson_destroy(&levels[i + 1]);
	}
	BSON_APPEND_UTF8(cmd, "insert", "u");
	BSON_APPEND_ARRAY_BEGIN(cmd, "documents", &docs);
	BSON_APPEND_DOCUMENT_BEGIN(&docs, "0", &doc);
	BSON_APPEND_INT32(&doc, "_id", 1);
	BSON_APPEND_DOCUMENT(&doc, "a", &levels[0]);
	bson_append_document_end(&docs, &doc);
	bson_append_array_end(cmd, &docs);
	bson_destroy(&levels[0]);
	free(levels);
	return cmd;
}

Test(dwtrans, nesting_is_bounded)
{
	bson_t *reply = json("{'n':1,'ok':1}"), ops;
	bson_t *ok_cmd = deep_insert(150), *deep = deep_insert(20000);
	bson_error_t err;

	cr_assert(dwtrans_expand(ok_cmd, "app", reply, &ops, &err), "%s", err.message);
	cr_assert_eq(bson_count_keys(&ops), 1);
	bson_destroy(&ops);
	/* 20000 levels would overflow the stack inside bson_validate */
	cr_assert(!dwtrans_expand(deep, "app", reply, &ops, &err));
	cr_assert_eq(err.code, DWTRANS_ERR_BSON);
	cr_assert_eq(bson_count_keys(&ops), 0);
	bson_destroy(&ops);
	bson_destroy(ok_cmd);
	bson_destroy(deep);
	bson_destroy(reply);
}

Test(dwtrans, corrupt_bson_refused)
{
	bson_t *cmd = json("{'insert':'u','documents':[{'_id':1,'s':'abc'}]}");
	bson_t *reply = json("{'n':1,'ok':1}"), bad, ops;
	uint8_t *buf = malloc(cmd->len);
	bson_error_t err;
	int refused = 0;

	/* Break the inner lengths one byte at a time: the outer length stays valid. */
	for (uint32_t off = 4; off < cmd->len - 1; off++) {
		memcpy(buf, bson_get_data(cmd), cmd->len);
		buf[off] ^= 0x7f;
		if (!bson_init_static(&bad, buf, cmd->len))
			continue;
		if (!dwtrans_expand(&bad, "app", reply, &ops, &err)) {
			cr_assert_eq(bson_count_keys(&ops), 0);
			refused++;
		}
		bson_destroy(&ops);
	}
	cr_assert_gt(refused, 5, "corruptions refused: %d", refused);
	free(buf);
	bson_destroy(cmd);
	bson_destroy(reply);
}

/* ------------------------------------------------ seeded mutations */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545F4914F6CDD1DULL) >> 32) % n;
}

static void mutate_and_expand(const bson_t *cmd, const bson_t *reply, int rounds)
{
	uint8_t *c = malloc(cmd->len), *r = malloc(reply->len);
	bson_t bc, br, ops;
	bson_error_t err;

	for (int i = 0; i < rounds; i++) {
		memcpy(c, bson_get_data(cmd), cmd->len);
		memcpy(r, bson_get_data(reply), reply->len);
		for (int k = 1 + (int)rnd(3); k > 0; k--) {
			if (rnd(2))
				c[4 + rnd(cmd->len - 5)] = (uint8_t)rnd(256);
			else
				r[4 + rnd(reply->len - 5)] = (uint8_t)rnd(256);
		}
		if (!bson_init_static(&bc, c, cmd->len) || !bson_init_static(&br, r, reply->len))
			continue;
		if (dwtrans_expand(&bc, "app", &br, &ops, &err)) {
			size_t off;

			cr_assert(bson_validate(&ops, BSON_VALIDATE_NONE, &off));
		} else {
			cr_assert_eq(bson_count_keys(&ops), 0);
			cr_assert(err.message[0]);
		}
		bson_destroy(&ops);
	}
	free(c);
	free(r);
}

Test(dwtrans, random_mutations_never_crash, .timeout = 110, .init = cr_redirect_stderr)
{
	const struct tc *seeds[] = { &insert_cases[1], &update_cases[4], &delete_cases[4],
				     &fam_cases[3], &bulk_cases[0], &bulk_cases[10] };

	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		bson_t *cmd = json(seeds[i]->cmd), *reply = json(seeds[i]->reply);

		mutate_and_expand(cmd, reply, 20000);
		bson_destroy(cmd);
		bson_destroy(reply);
	}
	fflush(stderr);
	cr_assert_stderr_eq_str("", "nothing (libbson included) may print");
}

/* Arrays whose keys are not "0", "1", ... (libbson would print a warning
 * when copying them) and array _ids (MongoDB refuses them) are refused. */
Test(dwtrans, odd_arrays_refused, .init = cr_redirect_stderr)
{
	bson_t *cmd = bson_new(), updates, stmt, u, q = BSON_INITIALIZER, ops;
	bson_t *reply = json("{'n':1,'nModified':1,'ok':1}");
	bson_error_t err;

	BSON_APPEND_UTF8(cmd, "update", "u");
	BSON_APPEND_ARRAY_BEGIN(cmd, "updates", &updates);
	BSON_APPEND_DOCUMENT_BEGIN(&updates, "0", &stmt);
	BSON_APPEND_DOCUMENT(&stmt, "q", &q);
	BSON_APPEND_ARRAY_BEGIN(&stmt, "u", &u);
	BSON_APPEND_DOCUMENT(&u, "1", &q); /* first key "1", not "0" */
	bson_append_array_end(&stmt, &u);
	bson_append_document_end(&updates, &stmt);
	bson_append_array_end(cmd, &updates);
	cr_assert(!dwtrans_expand(cmd, "app", reply, &ops, &err));
	cr_assert_eq(err.code, DWTRANS_ERR_SHAPE);
	bson_destroy(&ops);
	bson_destroy(cmd);
	bson_destroy(reply);

	cmd = json("{'update':'u','updates':[{'q':{},'u':{},'upsert':true}]}");
	reply = json("{'n':1,'upserted':[{'index':0,'_id':[1]}],'ok':1}");
	cr_assert(!dwtrans_expand(cmd, "app", reply, &ops, &err));
	cr_assert_eq(err.code, DWTRANS_ERR_REPLY);
	bson_destroy(&ops);
	bson_destroy(cmd);
	bson_destroy(reply);

	cmd = json("{'findAndModify':'u','remove':true}");
	reply = json("{'lastErrorObject':{'n':1},'value':{'_id':[1]},'ok':1}");
	cr_assert(!dwtrans_expand(cmd, "app", reply, &ops, &err));
	cr_assert_eq(err.code, DWTRANS_ERR_REPLY);
	bson_destroy(&ops);
	bson_destroy(cmd);
	bson_destroy(reply);
	fflush(stderr);
	cr_assert_stderr_eq_str("");
}

/* ------------------------------------------------ classify, session */

Test(dwtrans, classify)
{
	cr_assert_eq(dwtrans_classify("insert"), DWTRANS_WRITE);
	cr_assert_eq(dwtrans_classify("update"), DWTRANS_WRITE);
	cr_assert_eq(dwtrans_classify("delete"), DWTRANS_WRITE);
	cr_assert_eq(dwtrans_classify("findAndModify"), DWTRANS_WRITE);
	cr_assert_eq(dwtrans_classify("findandmodify"), DWTRANS_WRITE);
	cr_assert_eq(dwtrans_classify("bulkWrite"), DWTRANS_WRITE);
	cr_assert_eq(dwtrans_classify("commitTransaction"), DWTRANS_COMMIT);
	cr_assert_eq(dwtrans_classify("abortTransaction"), DWTRANS_ABORT);
	cr_assert_eq(dwtrans_classify("find"), DWTRANS_NONE);
	cr_assert_eq(dwtrans_classify("Insert"), DWTRANS_NONE);
	cr_assert_eq(dwtrans_classify("insertx"), DWTRANS_NONE);
	cr_assert_eq(dwtrans_classify(""), DWTRANS_NONE);
	cr_assert_eq(dwtrans_classify(NULL), DWTRANS_NONE);
}

Test(dwtrans, session_fields)
{
	bson_t *cmd = json("{'insert':'u','lsid':{'id':{'$binary':{'base64':'AAECAwQFBgcICQoLDA0ODw==',"
			   "'subType':'04'}}},'txnNumber':" L(42) ",'autocommit':false,"
			   "'startTransaction':true}");
	struct dwtrans_txn t;

	dwtrans_session(cmd, &t);
	cr_assert(t.has_lsid && t.has_txn && t.in_txn && t.starts_txn);
	cr_assert_eq(t.txn_number, 42);
	for (int i = 0; i < 16; i++)
		cr_assert_eq(t.lsid[i], i);
	bson_destroy(cmd);

	cmd = json("{'insert':'u','lsid':{'id':{'$binary':{'base64':'AAEC','subType':'04'}}},"
		   "'txnNumber':'42','autocommit':true}");
	dwtrans_session(cmd, &t);
	cr_assert(!t.has_lsid && !t.has_txn && !t.in_txn && !t.starts_txn, "wrong types are absent");
	bson_destroy(cmd);

	cmd = json("{'insert':'u','lsid':5,'txnNumber':7,'autocommit':0,'startTransaction':1}");
	dwtrans_session(cmd, &t);
	cr_assert(!t.has_lsid && t.has_txn && t.txn_number == 7 && !t.in_txn && !t.starts_txn);
	bson_destroy(cmd);

	dwtrans_session(NULL, &t);
	cr_assert(!t.has_lsid && !t.has_txn);
}
