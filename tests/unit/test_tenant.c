/*
 * test_tenant.c - tenant resolution (shift/tenant.h): the config section
 * and its errors, database mode with and without a regex, the default
 * tenant, field mode over every command shape it reads (filters, $eq,
 * $and, pipelines, documents, statements, kind-1 sequences, a whole
 * OP_MSG), the value types, and the unresolved reasons and their metric.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cfg.h"
#include "flags.h"
#include "inspect.h"
#include "metrics.h"
#include "tenant.h"
#include "wire_builder.h"

static char out[FLAGS_TENANT_NAME_MAX + 1];

/* tenant_start over the defaults plus key=value pairs (NULL-terminated);
 * the error (or "") in err. */
static bool start(char *err, size_t errlen, const char *const *kv)
{
	struct cfg c;
	bool ok = true;

	cfg_init(&c);
	err[0] = '\0';
	for (; kv && kv[0]; kv += 2)
		cr_assert(cfg_set(&c, kv[0], kv[1], err, errlen), "%s", err);
	ok = tenant_start(&c, err, errlen);
	cfg_free(&c);
	return ok;
}

static void start_ok(const char *const *kv)
{
	char err[256];

	cr_assert(start(err, sizeof(err), kv), "%s", err);
}

static void refused(const char *const *kv, const char *want)
{
	char err[256];

	cr_assert_not(start(err, sizeof(err), kv));
	cr_assert(strstr(err, want), "error '%s' lacks '%s'", err, want);
	cr_assert(!strchr(err, '\n'));
}

static enum tenant_status field_of(const char *json)
{
	bson_error_t e;
	bson_t *cmd = bson_new_from_json((const uint8_t *)json, -1, &e);

	cr_assert(cmd, "%s: %s", json, e.message);
	enum tenant_status st = tenant_resolve("app", cmd, out, sizeof(out));
	bson_destroy(cmd);
	return st;
}

static void field_is(const char *json, const char *tenant)
{
	cr_assert_eq(field_of(json), TENANT_MATCHED, "%s", json);
	cr_assert_str_eq(out, tenant, "%s", json);
}

static void field_unresolved(const char *json, enum tenant_reason why)
{
	enum metrics_counter cell = (enum metrics_counter)(METRIC_TENANT_UNRESOLVED_NONE + why);
	uint64_t before = metrics_counter_get(cell);

	cr_assert_eq(field_of(json), TENANT_UNRESOLVED, "%s", json);
	cr_assert_eq(metrics_counter_get(cell), before + 1, "%s: not counted as %s", json,
		     tenant_reason_to_str(why));
}

static const char *const FIELD[] = {"tenant.from", "field", NULL};

Test(tenant, without_a_section_the_tenant_is_the_database)
{
	cr_assert(tenant_start(NULL, NULL, 0));
	cr_assert_not(tenant_needs_command());
	cr_assert_eq(tenant_resolve("tenant_acme", NULL, out, sizeof(out)), TENANT_MATCHED);
	cr_assert_str_eq(out, "tenant_acme");
	start_ok(NULL);
	cr_assert_eq(tenant_resolve("orders", NULL, out, sizeof(out)), TENANT_MATCHED);
	cr_assert_str_eq(out, "orders");
	cr_assert_eq(tenant_resolve("", NULL, out, sizeof(out)), TENANT_UNRESOLVED);
	cr_assert_str_eq(out, "");
	tenant_stop();
}

Test(tenant, regex_capture_is_the_tenant_unmatched_is_unresolved_without_default)
{
	start_ok((const char *const[]){"tenant.regex", "^tenant_(.+)$", NULL});
	cr_assert_eq(tenant_resolve("tenant_acme", NULL, out, sizeof(out)), TENANT_MATCHED);
	cr_assert_str_eq(out, "acme");
	uint64_t before = metrics_counter_get(METRIC_TENANT_UNRESOLVED_UNMATCHED);
	cr_assert_eq(tenant_resolve("shared", NULL, out, sizeof(out)), TENANT_UNRESOLVED);
	cr_assert_str_eq(out, "");   /* tandem:defaults decide capture */
	cr_assert_eq(metrics_counter_get(METRIC_TENANT_UNRESOLVED_UNMATCHED), before + 1);
	/* An empty capture is no match. */
	start_ok((const char *const[]){"tenant.regex", "^t_(.*)$", NULL});
	cr_assert_eq(tenant_resolve("t_", NULL, out, sizeof(out)), TENANT_UNRESOLVED);
	/* tenant_of_db does not count. */
	before = metrics_counter_get(METRIC_TENANT_UNRESOLVED_UNMATCHED);
	enum tenant_reason why;
	cr_assert_eq(tenant_of_db("zzz", out, sizeof(out), &why), TENANT_UNRESOLVED);
	cr_assert_eq(why, TENANT_R_UNMATCHED);
	cr_assert_eq(metrics_counter_get(METRIC_TENANT_UNRESOLVED_UNMATCHED), before);
	tenant_stop();
}

Test(tenant, default_tenant_takes_unmatched_databases)
{
	start_ok((const char *const[]){"tenant.regex", "^tenant_([a-z]+)$", "tenant.default", "shared",
				       NULL});
	cr_assert_eq(tenant_resolve("tenant_acme", NULL, out, sizeof(out)), TENANT_MATCHED);
	cr_assert_str_eq(out, "acme");
	cr_assert_eq(tenant_resolve("tenant_42", NULL, out, sizeof(out)), TENANT_DEFAULT);
	cr_assert_str_eq(out, "shared");
	cr_assert_eq(tenant_resolve("admin", NULL, out, sizeof(out)), TENANT_DEFAULT);
	cr_assert_str_eq(out, "shared");
	tenant_stop();
}

Test(tenant, bad_sections_are_one_line_errors_naming_the_key)
{
	refused((const char *const[]){"tenant.regex", "^tenant_(.+$", NULL}, "key 'tenant.regex': ");
	refused((const char *const[]){"tenant.regex", "^tenant_.+$", NULL},
		"key 'tenant.regex': needs exactly one capture group (the tenant), found 0");
	refused((const char *const[]){"tenant.regex", "^(t)_(.+)$", NULL}, "found 2");
	refused((const char *const[]){"tenant.from", "field", "tenant.regex", "^(.+)$", NULL},
		"key 'tenant.regex': only with tenant.from database");
	refused((const char *const[]){"tenant.from", "field", "tenant.field", "", NULL},
		"key 'tenant.field'");
	refused((const char *const[]){"tenant.from", "field", "tenant.field", "$x", NULL},
		"key 'tenant.field'");
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	refused((const char *const[]){"tenant.default", longname, NULL}, "key 'tenant.default'");
	/* An unknown `from` is refused by the config table itself. */
	struct cfg c;
	char err[256];
	cfg_init(&c);
	cr_assert_not(cfg_set(&c, "tenant.from", "collection", err, sizeof(err)));
	cr_assert_str_eq(err, "key 'tenant.from': 'collection' is not one of database, field");
	cfg_free(&c);
	/* A non-capturing group does not count. */
	start_ok((const char *const[]){"tenant.regex", "^(?:t|tenant)_(.+)$", NULL});
	cr_assert_eq(tenant_resolve("t_x", NULL, out, sizeof(out)), TENANT_MATCHED);
	cr_assert_str_eq(out, "x");
	tenant_stop();
}

Test(tenant, field_mode_reads_filters)
{
	start_ok(FIELD);
	cr_assert(tenant_needs_command());
	field_is("{\"find\": \"c\", \"filter\": {\"tenant_id\": \"acme\", \"x\": 1}}", "acme");
	field_is("{\"find\": \"c\", \"filter\": {\"tenant_id\": {\"$eq\": \"acme\"}}}", "acme");
	field_is("{\"find\": \"c\", \"filter\": {\"$and\": [{\"x\": 1}, {\"tenant_id\": \"acme\"}]}}",
		 "acme");
	field_is("{\"find\": \"c\", \"filter\": {\"tenant_id\": \"acme\", \"$and\": [{\"tenant_id\": "
		 "{\"$eq\": \"acme\", \"$exists\": true}}]}}", "acme");
	field_is("{\"count\": \"c\", \"query\": {\"tenant_id\": \"acme\"}}", "acme");
	field_is("{\"distinct\": \"c\", \"key\": \"x\", \"query\": {\"tenant_id\": \"acme\"}}", "acme");
	field_is("{\"findAndModify\": \"c\", \"query\": {\"tenant_id\": \"acme\"}, \"update\": {}}",
		 "acme");
	field_is("{\"aggregate\": \"c\", \"pipeline\": [{\"$match\": {\"tenant_id\": \"acme\"}}, "
		 "{\"$group\": {\"_id\": null}}], \"cursor\": {}}", "acme");
	field_unresolved("{\"find\": \"c\", \"filter\": {\"x\": 1}}", TENANT_R_NONE);
	field_unresolved("{\"find\": \"c\"}", TENANT_R_NONE);
	field_unresolved("{\"find\": \"c\", \"filter\": {\"$or\": [{\"tenant_id\": \"a\"}]}}",
			 TENANT_R_NONE);
	field_unresolved("{\"find\": \"c\", \"filter\": {\"tenant_id\": {\"$in\": [\"a\"]}}}",
			 TENANT_R_NONE);
	field_unresolved("{\"find\": \"c\", \"filter\": {\"tenant_id\": \"a\", \"$and\": "
			 "[{\"tenant_id\": \"b\"}]}}", TENANT_R_SEVERAL);
	field_unresolved("{\"aggregate\": \"c\", \"pipeline\": [{\"$sort\": {\"x\": 1}}, {\"$match\": "
			 "{\"tenant_id\": \"a\"}}]}", TENANT_R_NONE);
	field_unresolved("{\"find\": \"c\", \"filter\": {\"tenant_id\": {\"a\": 1}}}", TENANT_R_INVALID);
	field_unresolved("{\"find\": \"c\", \"filter\": {\"tenant_id\": null}}", TENANT_R_INVALID);
	field_unresolved("{\"find\": \"c\", \"filter\": {\"tenant_id\": \"\"}}", TENANT_R_INVALID);
	field_unresolved("{\"find\": \"c\", \"filter\": {\"tenant_id\": 1.5}}", TENANT_R_INVALID);
	field_unresolved("{\"ping\": 1}", TENANT_R_NONE);
	/* Without the command, field mode cannot tell. */
	cr_assert_eq(tenant_resolve("app", NULL, out, sizeof(out)), TENANT_UNRESOLVED);
	tenant_stop();
}

Test(tenant, field_mode_and_nesting_is_bounded)
{
	start_ok(FIELD);
	/* Depth 4 is read, depth 5 is not. */
	field_is("{\"find\": \"c\", \"filter\": {\"$and\": [{\"$and\": [{\"$and\": [{\"$and\": "
		 "[{\"tenant_id\": \"a\"}]}]}]}]}}", "a");
	field_unresolved("{\"find\": \"c\", \"filter\": {\"$and\": [{\"$and\": [{\"$and\": [{\"$and\": "
			 "[{\"$and\": [{\"tenant_id\": \"a\"}]}]}]}]}]}}", TENANT_R_NONE);
	tenant_stop();
}

Test(tenant, field_mode_reads_every_statement_and_document)
{
	start_ok(FIELD);
	field_is("{\"insert\": \"c\", \"documents\": [{\"_id\": 1, \"tenant_id\": \"acme\"}, "
		 "{\"_id\": 2, \"tenant_id\": \"acme\"}]}", "acme");
	field_unresolved("{\"insert\": \"c\", \"documents\": [{\"_id\": 1, \"tenant_id\": \"acme\"}, "
			 "{\"_id\": 2}]}", TENANT_R_NONE);
	field_unresolved("{\"insert\": \"c\", \"documents\": [{\"tenant_id\": \"acme\"}, "
			 "{\"tenant_id\": \"other\"}]}", TENANT_R_SEVERAL);
	field_unresolved("{\"insert\": \"c\", \"documents\": []}", TENANT_R_NONE);
	field_is("{\"update\": \"c\", \"updates\": [{\"q\": {\"tenant_id\": \"acme\"}, \"u\": {}}, "
		 "{\"q\": {\"tenant_id\": {\"$eq\": \"acme\"}, \"_id\": 3}, \"u\": {}}]}", "acme");
	field_unresolved("{\"update\": \"c\", \"updates\": [{\"q\": {\"tenant_id\": \"acme\"}, \"u\": {}}, "
			 "{\"q\": {\"_id\": 3}, \"u\": {\"$set\": {\"tenant_id\": \"acme\"}}}]}",
			 TENANT_R_NONE);
	field_is("{\"delete\": \"c\", \"deletes\": [{\"q\": {\"tenant_id\": \"acme\"}, \"limit\": 1}]}",
		 "acme");
	field_unresolved("{\"delete\": \"c\", \"deletes\": [{\"q\": {\"tenant_id\": \"a\"}}, "
			 "{\"q\": {\"tenant_id\": \"b\"}}]}", TENANT_R_SEVERAL);
	field_is("{\"bulkWrite\": 1, \"ops\": [{\"insert\": 0, \"document\": {\"tenant_id\": \"a\"}}, "
		 "{\"update\": 0, \"filter\": {\"tenant_id\": \"a\"}, \"updateMods\": {}}]}", "a");
	tenant_stop();
	/* A dotted field descends into inserted documents. */
	start_ok((const char *const[]){"tenant.from", "field", "tenant.field", "org.id", NULL});
	field_is("{\"insert\": \"c\", \"documents\": [{\"org\": {\"id\": \"acme\"}}]}", "acme");
	field_is("{\"find\": \"c\", \"filter\": {\"org.id\": \"acme\"}}", "acme");
	tenant_stop();
}

Test(tenant, field_values_integers_and_objectids_render_stably)
{
	start_ok(FIELD);
	field_is("{\"find\": \"c\", \"filter\": {\"tenant_id\": 42}}", "42");
	field_is("{\"find\": \"c\", \"filter\": {\"tenant_id\": {\"$numberLong\": \"-7\"}}}", "-7");
	field_is("{\"insert\": \"c\", \"documents\": [{\"tenant_id\": 42}, {\"tenant_id\": \"42\"}, "
		 "{\"tenant_id\": {\"$numberLong\": \"42\"}}]}", "42");
	field_is("{\"find\": \"c\", \"filter\": {\"tenant_id\": {\"$oid\": "
		 "\"65A1B2C3D4E5F60718293A4B\"}}}", "65a1b2c3d4e5f60718293a4b");
	tenant_stop();
}

Test(tenant, unresolved_names_the_default_tenant_for_capture)
{
	start_ok((const char *const[]){"tenant.from", "field", "tenant.default", "shared", NULL});
	cr_assert_eq(field_of("{\"find\": \"c\", \"filter\": {}}"), TENANT_UNRESOLVED);
	cr_assert_str_eq(out, "shared");
	field_is("{\"find\": \"c\", \"filter\": {\"tenant_id\": \"acme\"}}", "acme");
	tenant_stop();
}

/* documents back to back, as in a kind-1 section */
static size_t seq_of(uint8_t *buf, size_t cap, const char *const *jsons)
{
	size_t n = 0;

	for (; *jsons; jsons++) {
		bson_error_t e;
		bson_t *d = bson_new_from_json((const uint8_t *)*jsons, -1, &e);
		cr_assert(d && n + d->len <= cap);
		memcpy(buf + n, bson_get_data(d), d->len);
		n += d->len;
		bson_destroy(d);
	}
	return n;
}

Test(tenant, field_mode_reads_kind1_sequences)
{
	uint8_t docs[1024];
	enum tenant_reason why;
	bson_t *body = BCON_NEW("insert", "c");

	start_ok(FIELD);
	size_t n = seq_of(docs, sizeof(docs),
			  (const char *const[]){"{\"tenant_id\": \"acme\", \"_id\": 1}",
						"{\"tenant_id\": \"acme\", \"_id\": 2}", NULL});
	struct tenant_seq seq = {"documents", docs, n};
	cr_assert_eq(tenant_of_parts(body, &seq, 1, out, sizeof(out), &why), TENANT_MATCHED);
	cr_assert_str_eq(out, "acme");
	n = seq_of(docs, sizeof(docs),
		   (const char *const[]){"{\"tenant_id\": \"acme\"}", "{\"tenant_id\": \"zed\"}", NULL});
	seq.len = n;
	cr_assert_eq(tenant_of_parts(body, &seq, 1, out, sizeof(out), &why), TENANT_UNRESOLVED);
	cr_assert_eq(why, TENANT_R_SEVERAL);
	/* A truncated sequence names nothing more. */
	seq.len = n - 3;
	cr_assert_eq(tenant_of_parts(body, &seq, 1, out, sizeof(out), &why), TENANT_UNRESOLVED);
	/* Another identifier is not the documents. */
	seq = (struct tenant_seq){"updates", docs, n};
	cr_assert_eq(tenant_of_parts(body, &seq, 1, out, sizeof(out), &why), TENANT_UNRESOLVED);
	cr_assert_eq(why, TENANT_R_NONE);
	bson_destroy(body);
	tenant_stop();
}

Test(tenant, whole_opmsg_in_place)
{
	struct tbuf b = {0};
	struct msg_info info;
	bson_t *body = BCON_NEW("insert", "c", "$db", "app");
	bson_t *d1 = BCON_NEW("_id", BCON_INT32(1), "tenant_id", "acme");

	start_ok(FIELD);
	tb_begin(&b, WIRE_OP_MSG);
	tb_u32(&b, 0);
	tb_u8(&b, 0);
	tb_doc(&b, body);
	tb_u8(&b, 1);
	tb_i32(&b, (int32_t)(4 + strlen("documents") + 1 + d1->len));
	tb_cstr(&b, "documents");
	tb_doc(&b, d1);
	tb_finish(&b);
	cr_assert_eq(inspect_request(b.b, b.n, WIRE_MAX_MESSAGE_DEFAULT, &info), WIRE_OK);
	cr_assert_eq(tenant_of_request(&info, b.b, b.n, out, sizeof(out)), TENANT_MATCHED);
	cr_assert_str_eq(out, "acme");
	tenant_stop();
	/* Database mode reads info->db only. */
	start_ok((const char *const[]){"tenant.regex", "^(a)pp$", NULL});
	cr_assert_eq(tenant_of_request(&info, b.b, b.n, out, sizeof(out)), TENANT_MATCHED);
	cr_assert_str_eq(out, "a");
	tenant_stop();
	bson_destroy(body);
	bson_destroy(d1);
}

Test(tenant, too_many_statements_is_too_large)
{
	bson_t cmd = BSON_INITIALIZER, arr;

	start_ok(FIELD);
	BSON_APPEND_UTF8(&cmd, "insert", "c");
	BSON_APPEND_ARRAY_BEGIN(&cmd, "documents", &arr);
	for (uint32_t i = 0; i <= TENANT_SCAN_MAX; i++) {
		char key[16];
		const char *k;
		bson_t d;
		bson_uint32_to_string(i, &k, key, sizeof(key));
		BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &d);
		BSON_APPEND_UTF8(&d, "tenant_id", "a");
		bson_append_document_end(&arr, &d);
	}
	bson_append_array_end(&cmd, &arr);
	uint64_t before = metrics_counter_get(METRIC_TENANT_UNRESOLVED_TOO_LARGE);
	cr_assert_eq(tenant_resolve("app", &cmd, out, sizeof(out)), TENANT_UNRESOLVED);
	cr_assert_eq(metrics_counter_get(METRIC_TENANT_UNRESOLVED_TOO_LARGE), before + 1);
	bson_destroy(&cmd);
	tenant_stop();
}
