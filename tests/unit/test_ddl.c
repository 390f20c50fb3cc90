/*
 * test_ddl.c - DDL text for a mapping (common/mapping/ddl.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddl.h"
#include "mapping.h"

#include "example_mapping.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#define assert_has(sql, s) cr_assert(strstr((sql), (s)), "missing: %s\n--- DDL ---\n%s", (s), (sql))

Test(ddl, example_tables_columns_and_constraints)
{
	struct mapping *m = load_example();
	char *sql = ddl_for_mapping(m, NULL, 0);

	cr_assert_not_null(sql);
	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"users\" (\n\t\"tenant_id\" text NOT NULL,\n"
			"\t\"id\" uuid NOT NULL,\n\t\"legacy_id\" text NOT NULL,\n\t\"email\" text NOT NULL,\n");
	assert_has(sql, "\t\"status\" text NOT NULL DEFAULT 'invited'::text CHECK (\"status\" IN "
			"('invited', 'active', 'suspended', 'deleted')),\n");
	assert_has(sql, "\t\"created_at\" timestamptz NOT NULL DEFAULT now(),\n");
	assert_has(sql, "\t\"login_count\" int4 DEFAULT '0'::int4,\n");
	assert_has(sql, "\t\"settings\" jsonb,\n");
	assert_has(sql, "\t\"extras\" jsonb NOT NULL DEFAULT '{}',\n"
			"\t\"seq\" bigint GENERATED ALWAYS AS IDENTITY,\n\tPRIMARY KEY (\"tenant_id\", \"id\")\n);\n");
	assert_has(sql, "CREATE UNIQUE INDEX IF NOT EXISTS \"users_email_key\" ON \"users\" (\"tenant_id\", \"email\");\n");
	assert_has(sql, "CREATE INDEX IF NOT EXISTS \"users_status_created_at_idx\" ON \"users\" "
			"(\"tenant_id\", \"status\", \"created_at\");\n");
	assert_has(sql, "CREATE INDEX IF NOT EXISTS \"users_extras_gin\" ON \"users\" USING gin (\"extras\" jsonb_path_ops) WITH (gin_pending_list_limit = 256);\n");
	assert_has(sql, "\t\"monthly_price\" numeric(12,2),\n");
	assert_has(sql, "\t\"active\" bool DEFAULT 'true'::bool,\n");
	assert_has(sql, "\t\"total\" numeric(12,2) NOT NULL,\n");
	assert_has(sql, "\t\"tags\" text[],\n");
	mapping_free(m);
	free(sql);
}

Test(ddl, example_children_junctions_and_reference_indexes)
{
	struct mapping *m = load_example();
	char *sql = ddl_for_mapping(m, NULL, 0);

	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"order_items\" (\n\t\"tenant_id\" text NOT NULL,\n"
			"\t\"parent_id\" uuid NOT NULL,\n\t\"ord\" int4 NOT NULL,\n\t\"sku\" text NOT NULL,\n"
			"\t\"qty\" int4 NOT NULL DEFAULT '1'::int4,\n\t\"unit_price\" numeric(12,2),\n"
			"\t\"extras\" jsonb NOT NULL DEFAULT '{}',\n"
			"\tPRIMARY KEY (\"tenant_id\", \"parent_id\", \"ord\"),\n"
			"\tFOREIGN KEY (\"tenant_id\", \"parent_id\") REFERENCES \"orders\" (\"tenant_id\", \"id\") "
			"ON DELETE CASCADE\n);\n");
	assert_has(sql, "CREATE INDEX IF NOT EXISTS \"order_items_sku_idx\" ON \"order_items\" (\"tenant_id\", \"sku\");\n");
	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"plan_sections\" (");
	assert_has(sql, "REFERENCES \"plans\" (\"tenant_id\", \"id\") ON DELETE CASCADE");
	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"order_coupons\" (\n\t\"tenant_id\" text NOT NULL,\n"
			"\t\"parent_id\" uuid NOT NULL,\n\t\"ord\" int4 NOT NULL,\n\t\"ref\" uuid,\n");
	assert_has(sql, "CREATE INDEX IF NOT EXISTS \"order_coupons_ref_idx\" ON \"order_coupons\" (\"tenant_id\", \"ref\");\n");
	/* user_id leads a declared index, so no extra reference index */
	assert_has(sql, "\"orders_user_id_placed_at_idx\" ON \"orders\" (\"tenant_id\", \"user_id\", \"placed_at\")");
	cr_assert_null(strstr(sql, "\"orders_user_id_idx\""));
	/* parents before their children (foreign keys) */
	cr_assert_lt(strstr(sql, "EXISTS \"orders\" ("), strstr(sql, "EXISTS \"order_items\" ("));
	mapping_free(m);
	free(sql);
}

Test(ddl, everything_idempotent_and_deterministic)
{
	struct mapping *m = load_example();
	const char *extra[] = {"events", "users", "events"};
	char *a = ddl_for_mapping(m, extra, 3);
	char *b = ddl_for_mapping(m, extra, 3);

	cr_assert_str_eq(a, b);
	cr_assert_eq(count(a, "CREATE TABLE "), count(a, "CREATE TABLE IF NOT EXISTS "));
	cr_assert_eq(count(a, "INDEX "), count(a, "INDEX IF NOT EXISTS "));
	cr_assert_eq(count(a, "CREATE TABLE IF NOT EXISTS "), 3 + 2 + 1 + 1); /* mapped, children, junction, events */
	cr_assert_eq(count(a, "CREATE TABLE IF NOT EXISTS \"users\" ("), 1);
	cr_assert_eq(count(a, "CREATE TABLE IF NOT EXISTS \"events\" ("), 1);
	mapping_free(m);
	free(a);
	free(b);
}

Test(ddl, default_table_without_any_mapping)
{
	const char *extra[] = {"events"};
	char *sql = ddl_for_mapping(NULL, extra, 1);

	cr_assert_str_eq(sql, "-- tandem schema (generated; every statement is idempotent)\n"
		"-- collection 'events' (default table)\n"
		"CREATE TABLE IF NOT EXISTS \"events\" (\n\t\"tenant_id\" text NOT NULL,\n"
		"\t\"id\" uuid NOT NULL,\n\t\"legacy_id\" jsonb NOT NULL,\n\t\"doc\" jsonb NOT NULL,\n"
		"\t\"seq\" bigint GENERATED ALWAYS AS IDENTITY,\n"
		"\tPRIMARY KEY (\"tenant_id\", \"id\")\n);\n"
		"CREATE INDEX IF NOT EXISTS \"events_doc_gin\" ON \"events\" USING gin (\"doc\" jsonb_path_ops) WITH (gin_pending_list_limit = 256);\n");
	free(sql);
}

Test(ddl, hostile_names_are_quoted)
{
	const char *extra[] = {"a\"b; drop", "x\nDROP TABLE users; --"};
	char *sql = ddl_for_mapping(NULL, extra, 2);

	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"a\"\"b; drop\" (\n");
	assert_has(sql, "CREATE INDEX IF NOT EXISTS \"a\"\"b; drop_doc_gin\" ON \"a\"\"b; drop\" USING gin (\"doc\" jsonb_path_ops) WITH (gin_pending_list_limit = 256);\n");
	assert_has(sql, "-- collection 'x?DROP TABLE users; --' (default table)\n");
	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"x\nDROP TABLE users; --\" (");
	/* every line that starts with DROP is inside a quoted identifier: "x<newline>DROP */
	cr_assert_eq(count(sql, "\nDROP"), 3);
	cr_assert_eq(count(sql, "\"x\nDROP"), 3);
	free(sql);
}

Test(ddl, literals_are_quoted)
{
	struct mapping *m = load_text("collections:\n  c:\n    columns:\n"
				      "      a: {type: text, default: \"it's\"}\n"
				      "      b: {type: text, enum: [\"x'y\", 'back\\slash']}\n");
	char *sql = ddl_for_mapping(m, NULL, 0);

	assert_has(sql, "\"a\" text DEFAULT 'it''s'::text,\n");
	assert_has(sql, "CHECK (\"b\" IN ('x''y', E'back\\\\slash'))");
	mapping_free(m);
	free(sql);
}

Test(ddl, id_kinds_and_tenant_column)
{
	struct mapping *m = load_text("collections:\n  c:\n    id: text\n    tenant_column: org\n"
				      "    columns: {a: {type: int8}}\n"
				      "    children: {kids: {columns: {k: {type: int4}}}}\n"
				      "  d:\n    id: any\n    columns: {}\n");
	char *sql = ddl_for_mapping(m, NULL, 0);

	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"c\" (\n\t\"org\" text NOT NULL,\n\t\"id\" text NOT NULL,\n\t\"a\" int8,\n");
	assert_has(sql, "CREATE TABLE IF NOT EXISTS \"c_kids\" (\n\t\"org\" text NOT NULL,\n\t\"parent_id\" text NOT NULL,\n");
	assert_has(sql, "PRIMARY KEY (\"org\", \"id\")");
	assert_has(sql, "\t\"id\" uuid NOT NULL,\n\t\"legacy_id\" jsonb NOT NULL,\n\t\"extras\" jsonb");
	mapping_free(m);
	free(sql);
}

Test(ddl, extra_collection_clashing_with_a_mapped_table)
{
	struct mapping *m = load_text("collections:\n  users:\n    table: people\n    columns: {}\n");
	const char *extra[] = {"people"};
	char *sql = ddl_for_mapping(m, extra, 1);

	assert_has(sql, "-- collection 'people': NOT CREATED, its default table name is used by the mapping\n");
	cr_assert_eq(count(sql, "CREATE TABLE IF NOT EXISTS \"people\""), 1);
	mapping_free(m);
	free(sql);
}
