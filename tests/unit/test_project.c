/*
 * test_project.c - find projections against MongoDB's documented behaviour
 * (the manual's "Project Fields to Return from Query", $slice, $elemMatch
 * and $ projection pages, MongoDB 4.4+ field order) and mongod's error
 * codes from projection_parser.cpp.
 *
 * A case: projection, filter, document, and the exact expected output
 * (field order and types compared byte for byte) or a status and code.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "project.h"

static bson_t *parse(const char *sq)
{
	char *buf = strdup(sq);
	bson_error_t err;
	for (char *p = buf; *p; p++)
		if (*p == '\'')
			*p = '"';
	bson_t *b = bson_new_from_json((const uint8_t *)buf, -1, &err);
	cr_assert(b, "bad json %s: %s", buf, err.message);
	free(buf);
	return b;
}

/* want: expected JSON on success, NULL when st != PROJECT_OK. */
static void check(const char *spec, const char *filter, const char *doc, const char *want, enum project_status st,
		  uint32_t code)
{
	bson_t *sp = parse(spec), *f = parse(filter), *d = parse(doc), out;
	struct project *p = NULL;
	struct match_result mr = {-1};
	bson_error_t err;
	enum project_status got = project_compile(sp, f, &p, &err);

	if (got == PROJECT_OK) {
		cr_assert_eq(match_doc(f, d, &mr, &err), MATCH_YES, "%s does not match %s", filter, doc);
		got = project_apply(p, d, &mr, &out, &err);
		if (got == PROJECT_OK && want) {
			bson_t *w = parse(want);
			char *js = bson_as_relaxed_extended_json(&out, NULL);
			cr_assert(bson_equal(&out, w), "%s on %s: got %s, want %s", spec, doc, js, want);
			bson_free(js);
			bson_destroy(w);
		}
		bson_destroy(&out);
	}
	cr_assert_eq(got, st, "%s: status %d, want %d (%s)", spec, got, st, got ? err.message : "");
	if (st == PROJECT_ERROR)
		cr_assert_eq(err.code, code, "%s: code %u, want %u (%s)", spec, err.code, code, err.message);
	project_free(p);
	bson_destroy(sp);
	bson_destroy(f);
	bson_destroy(d);
}

#define OK(spec, doc, want) check(spec, "{}", doc, want, PROJECT_OK, 0)
#define OKF(spec, filter, doc, want) check(spec, filter, doc, want, PROJECT_OK, 0)
#define ERR(spec, code) check(spec, "{}", "{}", NULL, PROJECT_ERROR, code)
#define UNSUP(spec) check(spec, "{}", "{}", NULL, PROJECT_UNSUPPORTED, 0)

Test(project, inclusion_keeps_id_and_document_order)
{
	OK("{'b': 1, 'a': 1}", "{'_id': 1, 'a': 1, 'b': 2, 'c': 3}", "{'_id': 1, 'a': 1, 'b': 2}");
	OK("{'_id': 0, 'a': 1}", "{'_id': 1, 'a': 1, 'b': 2}", "{'a': 1}");
	OK("{'a': true, 'z': 1}", "{'_id': 1, 'a': 1, 'b': 2}", "{'_id': 1, 'a': 1}");
	OK("{'_id': 1}", "{'_id': 1, 'a': 1}", "{'_id': 1}");
	OK("{}", "{'_id': 1, 'a': [1, {'b': 2}]}", "{'_id': 1, 'a': [1, {'b': 2}]}");
}

Test(project, exclusion_keeps_the_rest)
{
	OK("{'a': 0}", "{'_id': 1, 'a': 1, 'b': 2}", "{'_id': 1, 'b': 2}");
	OK("{'_id': 0}", "{'_id': 1, 'a': 1}", "{'a': 1}");
	OK("{'a': false, '_id': 1}", "{'_id': 1, 'a': 1, 'b': 2}", "{'_id': 1, 'b': 2}");
}

Test(project, dotted_paths_through_documents_and_arrays)
{
	const char *doc = "{'_id': 1, 'a': [{'b': 1, 'c': 2}, {'c': 3}, 5, [{'b': 4, 'c': 1}]], 'd': {'b': 1, 'c': 2}}";
	OK("{'a.b': 1}", doc, "{'_id': 1, 'a': [{'b': 1}, {}, [{'b': 4}]]}");
	OK("{'a': {'b': 1}}", doc, "{'_id': 1, 'a': [{'b': 1}, {}, [{'b': 4}]]}");
	OK("{'a.b': 0, 'd.c': 0}", doc, "{'_id': 1, 'a': [{'c': 2}, {'c': 3}, 5, [{'c': 1}]], 'd': {'b': 1}}");
	OK("{'d.b': 1, '_id': 0}", doc, "{'d': {'b': 1}}");
	OK("{'x.y': 1}", "{'_id': 1, 'x': 5}", "{'_id': 1}");
	OK("{'_id.x': 1, 'a': 1}", "{'_id': {'x': 1, 'y': 2}, 'a': 1, 'b': 1}", "{'_id': {'x': 1}, 'a': 1}");
}

Test(project, no_mixing_and_path_collisions)
{
	ERR("{'a': 1, 'b': 0}", 31254);
	ERR("{'a': 0, 'b': 1}", 31253);
	ERR("{'a': 1, 'a.b': 1}", 31249);
	ERR("{'a.b': 1, 'a': 1}", 31250);
	ERR("{'a': 0, 'b': 'x'}", 31310);
	ERR("{'a': 'x', 'b': 0}", 31254);
	ERR("{'a': 0, 'b': {'$literal': 1}}", 31252);
	ERR("{'$a': 1}", 16410);
	ERR("{'a..b': 1}", 15998);
	ERR("{'': 1}", 40352);
}

Test(project, literals_are_computed_after_kept_fields)
{
	OK("{'a': 'x'}", "{'_id': 1, 'a': 5, 'b': 1}", "{'_id': 1, 'a': 'x'}");
	OK("{'c': 'lit', 'b': 1}", "{'_id': 1, 'c': 0, 'b': 2}", "{'_id': 1, 'b': 2, 'c': 'lit'}");
	OK("{'a': {'$literal': 0}}", "{'_id': 1}", "{'_id': 1, 'a': 0}");
	OK("{'a': null, 'b': [1, 'x']}", "{'_id': 1}", "{'_id': 1, 'a': null, 'b': [1, 'x']}");
	OK("{'a.b': 'x'}", "{'_id': 1, 'a': [{'c': 1}, 2], 'z': 1}", "{'_id': 1, 'a': [{'b': 'x'}]}");
	OK("{'a.b': 'x'}", "{'_id': 1, 'z': 1}", "{'_id': 1, 'a': {'b': 'x'}}");
}

Test(project, expressions_are_unsupported_not_guessed)
{
	UNSUP("{'a': '$b'}");
	UNSUP("{'a': ['$b']}");
	UNSUP("{'a': {'$add': [1, 2]}}");
	UNSUP("{'s': {'$meta': 'textScore'}}");
	UNSUP("{'a': {'$slice': ['$b', 1]}}");
}

Test(project, slice)
{
	const char *doc = "{'_id': 1, 'a': [1, 2, 3], 'b': 1}";
	OK("{'a': {'$slice': 2}}", doc, "{'_id': 1, 'a': [1, 2], 'b': 1}");
	OK("{'a': {'$slice': -2}}", doc, "{'_id': 1, 'a': [2, 3], 'b': 1}");
	OK("{'a': {'$slice': -5}}", doc, "{'_id': 1, 'a': [1, 2, 3], 'b': 1}");
	OK("{'a': {'$slice': [1, 1]}}", doc, "{'_id': 1, 'a': [2], 'b': 1}");
	OK("{'a': {'$slice': [-2, 5]}}", doc, "{'_id': 1, 'a': [2, 3], 'b': 1}");
	OK("{'a': {'$slice': [5, 1]}}", doc, "{'_id': 1, 'a': [], 'b': 1}");
	OK("{'a': {'$slice': 0}}", doc, "{'_id': 1, 'a': [], 'b': 1}");
	OK("{'_id': 0, 'a': {'$slice': 1}}", doc, "{'a': [1], 'b': 1}");
	OK("{'_id': 1, 'a': {'$slice': 1}}", doc, "{'_id': 1, 'a': [1]}");
	OK("{'b': 1, 'a': {'$slice': 1}}", doc, "{'_id': 1, 'a': [1], 'b': 1}");
	OK("{'a': {'$slice': 1}}", "{'_id': 1, 'a': 5}", "{'_id': 1, 'a': 5}");
	OK("{'x.a': {'$slice': 1}}", "{'_id': 1, 'x': {'a': [1, 2], 'c': 1}}", "{'_id': 1, 'x': {'a': [1], 'c': 1}}");
	OK("{'x.a': {'$slice': 1}}", "{'_id': 1, 'x': [{'a': [1, 2]}, 3]}", "{'_id': 1, 'x': [{'a': [1]}, 3]}");
	ERR("{'a': {'$slice': 'x'}}", 28667);
	ERR("{'a': {'$slice': [1, 2, 3, 4]}}", 28667);
	UNSUP("{'a': {'$slice': [1, 0]}}");
}

Test(project, elemmatch)
{
	const char *doc = "{'_id': 1, 'a': [{'b': 1}, {'b': 2}, {'b': 3}], 'c': 1}";
	OK("{'a': {'$elemMatch': {'b': {'$gt': 1}}}}", doc, "{'_id': 1, 'a': [{'b': 2}]}");
	OK("{'a': {'$elemMatch': {'b': 9}}}", doc, "{'_id': 1}");
	/* 4.4+: after the other kept fields, whatever the document order */
	OK("{'a': {'$elemMatch': {'b': 3}}, 'c': 1}", doc, "{'_id': 1, 'c': 1, 'a': [{'b': 3}]}");
	OK("{'_id': 0, 'a': {'$elemMatch': {'b': 3}}}", doc, "{'a': [{'b': 3}]}");
	ERR("{'a.b': {'$elemMatch': {'x': 1}}}", 31275);
	ERR("{'a': {'$elemMatch': 1}}", 31274);
}

Test(project, positional)
{
	OKF("{'a.$': 1}", "{'a': {'$gt': 1}}", "{'_id': 1, 'a': [1, 2, 3], 'b': 1}", "{'_id': 1, 'a': [2]}");
	OKF("{'a.$': 1}", "{'a.b': 2}", "{'_id': 1, 'a': [{'b': 1}, {'b': 2, 'c': 1}]}",
	    "{'_id': 1, 'a': [{'b': 2, 'c': 1}]}");
	OKF("{'x.a.$': 1, '_id': 0}", "{'x.a': 3}", "{'_id': 1, 'x': {'a': [1, 3], 'z': 1}}", "{'x': {'a': [3]}}");
	OKF("{'a.$': 1}", "{'a': 1}", "{'_id': 1, 'a': 1}", "{'_id': 1, 'a': 1}");
	check("{'a.$': 1}", "{'a': {'$size': 3}}", "{'a': [1, 2, 3]}", NULL, PROJECT_ERROR, 51246);
	check("{'x.$': 1}", "{'a': 1}", "{'a': 1}", NULL, PROJECT_ERROR, 31277);
	check("{'a.$.b.$': 1}", "{'a': 1}", "{'a': 1}", NULL, PROJECT_ERROR, 31287);
	check("{'a.$': 1, 'b': {'$elemMatch': {'x': 1}}}", "{'a': 1}", "{'a': 1}", NULL, PROJECT_ERROR, 31255);
	check("{'b': {'$elemMatch': {'x': 1}}, 'a.$': 1}", "{'a': 1}", "{'a': 1}", NULL, PROJECT_ERROR, 31256);
	check("{'a.$': 1, 'b.$': 1}", "{'a': 1, 'b': 1}", "{'a': 1, 'b': 1}", NULL, PROJECT_ERROR, 31276);
	check("{'a.$': 'x'}", "{'a': 1}", "{'a': 1}", NULL, PROJECT_ERROR, 31308);
	check("{'a.$': {'b': 1}}", "{'a': 1}", "{'a': 1}", NULL, PROJECT_ERROR, 31271);
	/* inside $or */
	OKF("{'a.$': 1}", "{'$or': [{'a': 5}, {'z': 1}]}", "{'_id': 1, 'a': [4, 5]}", "{'_id': 1, 'a': [5]}");
}

/* 300 nested arrays under a projected path: bounded, not a stack overflow. */
Test(project, hostile_depth_is_bounded)
{
	bson_t *spec = parse("{'a.b': 1}");
	struct project *p;
	bson_error_t err;
	bson_t *inner = bson_new(), out, doc;

	for (int i = 0; i < 300; i++) {
		bson_t *outer = bson_new();
		BSON_APPEND_ARRAY(outer, "0", inner);
		bson_destroy(inner);
		inner = outer;
	}
	bson_init(&doc);
	BSON_APPEND_ARRAY(&doc, "a", inner);
	cr_assert_eq(project_compile(spec, NULL, &p, &err), PROJECT_OK);
	cr_assert_eq(project_apply(p, &doc, NULL, &out, &err), PROJECT_UNSUPPORTED);
	cr_assert(bson_empty(&out));
	bson_destroy(&out);
	bson_destroy(&doc);
	bson_destroy(inner);
	project_free(p);
	bson_destroy(spec);
}
