/*
 * test_mapping.c - loading and validating the mapping spec (common/mapping/mapping.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"

#include "example_mapping.h"

static struct mapping *load_ok(const char *text)
{
	struct mapping *m = NULL;
	struct mapping_errors errs;

	mapping_errors_init(&errs);
	bool ok = mapping_load_string(text, strlen(text), "t.yaml", &m, &errs);
	for (size_t i = 0; i < errs.n; i++)
		cr_log_error("%s", errs.msgs[i]);
	cr_assert(ok, "expected the mapping to load");
	cr_assert_eq(errs.n, 0);
	mapping_errors_free(&errs);
	return m;
}

/* Load text that must fail; errs is filled. */
static void load_bad(const char *text, struct mapping_errors *errs)
{
	struct mapping *m = (struct mapping *)1;

	mapping_errors_init(errs);
	cr_assert_not(mapping_load_string(text, strlen(text), "bad.yaml", &m, errs));
	cr_assert_null(m);
	cr_assert_gt(errs->n, 0);
}

static bool has_error(const struct mapping_errors *errs, const char *text)
{
	for (size_t i = 0; i < errs->n; i++)
		if (strstr(errs->msgs[i], text))
			return true;
	return false;
}

static void dump(const struct mapping_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		cr_log_info("error %zu: %s", i, errs->msgs[i]);
}

Test(mapping, example_file_loads_without_errors)
{
	struct mapping *m = NULL;
	struct mapping_errors errs;

	mapping_errors_init(&errs);
	bool ok = mapping_load(example_path(), &m, &errs);
	dump(&errs);
	cr_assert(ok, "%s: %s", example_path(), errs.n ? errs.msgs[0] : "");
	cr_assert_eq(errs.n, 0);
	cr_assert_eq(m->n_collections, 3);

	const struct mapping_collection *u = mapping_find(m, "users");
	cr_assert_not_null(u);
	cr_assert_str_eq(u->tenant_column, "tenant_id");
	cr_assert_eq(u->id_kind, MAPPING_ID_OBJECTID);
	cr_assert_eq(u->n_indexes, 2);
	cr_assert(u->indexes[0].unique);
	cr_assert_str_eq(u->indexes[0].columns[0], "email");

	const struct mapping_collection *o = mapping_find(m, "orders");
	cr_assert_not_null(o);
	bool saw_total = false, saw_tags = false;
	for (size_t i = 0; i < o->n_columns; i++) {
		const struct mapping_column *c = &o->columns[i];
		if (!strcmp(c->name, "total")) {
			saw_total = true;
			cr_assert_eq(c->type, MAPPING_T_NUMERIC);
			cr_assert_eq(c->precision, 12);
			cr_assert_eq(c->scale, 2);
			cr_assert_not(c->nullable);
		}
		if (!strcmp(c->name, "tags"))
			saw_tags = c->type == MAPPING_T_TEXT_ARRAY;
		if (!strcmp(c->name, "shipping_city"))
			cr_assert_str_eq(c->source, "shipping.address.city");
	}
	cr_assert(saw_total && saw_tags);
	cr_assert_eq(o->n_children, 1);
	cr_assert_str_eq(o->children[0].table, "order_items");
	cr_assert_eq(o->n_junctions, 1);
	cr_assert_str_eq(o->junctions[0].source, "couponIds");
	cr_assert_eq(mapping_find(m, "plans")->n_children, 1);
	cr_assert_null(mapping_find(m, "coupons"));
	mapping_free(m);
}

/* Five different mistakes, each reported once, in file order, with its line. */
Test(mapping, reports_every_error_with_its_line)
{
	const char *text =
		"version: 1\n"                        /* 1 */
		"collections:\n"                      /* 2 */
		"  users:\n"                          /* 3 */
		"    table: users\n"                  /* 4 */
		"    columns:\n"                      /* 5 */
		"      email:\n"                      /* 6 */
		"        type: txt\n"                 /* 7  unknown type */
		"      status:\n"                     /* 8 */
		"        type: int4\n"                /* 9 */
		"        enum: [a, b]\n"              /* 10 enum on int4 */
		"      city:\n"                       /* 11 */
		"        source: address..city\n"     /* 12 empty segment */
		"        type: text\n"                /* 13 */
		"      nick:\n"                       /* 14 */
		"        type: text\n"                /* 15 */
		"        colour: red\n"               /* 16 unknown key */
		"    indexes:\n"                      /* 17 */
		"      - columns: [emial]\n";         /* 18 unknown column */
	struct mapping_errors errs;

	load_bad(text, &errs);
	dump(&errs);
	cr_assert_eq(errs.n, 5);
	cr_assert_str_eq(errs.msgs[0], "bad.yaml:7: collection 'users' column 'email': unknown type 'txt' "
			 "(uuid, text, int4, int8, float8, numeric, numeric(P,S), bool, timestamptz, jsonb, "
			 "bytea, text[])");
	cr_assert_str_eq(errs.msgs[1], "bad.yaml:10: collection 'users' column 'status': "
			 "enum is only allowed on text columns, not int4");
	cr_assert_str_eq(errs.msgs[2], "bad.yaml:12: collection 'users' column 'city': "
			 "source path 'address..city' has an empty segment");
	cr_assert_str_eq(errs.msgs[3], "bad.yaml:16: collection 'users' column 'nick': "
			 "unknown key 'colour' in a column");
	cr_assert_str_eq(errs.msgs[4], "bad.yaml:18: collection 'users': index names unknown column 'emial'");
	mapping_errors_free(&errs);
}

Test(mapping, seq_is_reserved_for_insertion_order)
{
	const char *text =
		"collections:\n"
		"  users:\n"
		"    columns:\n"
		"      seq: {type: int8}\n";
	struct mapping_errors errs;

	load_bad(text, &errs);
	cr_assert(has_error(&errs, "bad.yaml:4: collection 'users' column 'seq': the name is reserved"));
	mapping_errors_free(&errs);
}

Test(mapping, missing_keys_duplicates_and_bad_names)
{
	const char *text =
		"collections:\n"                      /* 1 */
		"  users:\n"                          /* 2 */
		"    columns:\n"                      /* 3 */
		"      email: {nullable: false}\n"    /* 4 missing type */
		"      email: {type: text}\n"         /* 5 duplicate column */
		"      id: {type: text}\n"            /* 6 reserved */
		"      home: {type: text, source: addr}\n"      /* 7 */
		"      city: {type: text, source: addr.city}\n" /* 8 overlaps addr */
		"  Orders:\n"                         /* 9 not an identifier */
		"    columns: {}\n"                   /* 10 */
		"  plans:\n"                          /* 11 */
		"    table: users\n"                  /* 12 duplicate table */
		"    id: objectidd\n"                 /* 13 bad id kind */
		"    columns:\n"                      /* 14 */
		"      price: {type: 'numeric(2,5)'}\n"          /* 15 scale > precision */
		"      kind: {type: text, enum: [a, b], default: c}\n" /* 16 default not in enum */
		"  empty:\n"                          /* 17 */
		"    table: empty\n";                 /* 18 missing columns (line 17) */
	struct mapping_errors errs;

	load_bad(text, &errs);
	dump(&errs);
	cr_assert(has_error(&errs, "bad.yaml:4: collection 'users' column 'email': missing required key 'type'"));
	cr_assert(has_error(&errs, "bad.yaml:5: collection 'users' column 'email': duplicate column"));
	cr_assert(has_error(&errs, "bad.yaml:6: collection 'users' column 'id': the name is reserved"));
	cr_assert(has_error(&errs, "bad.yaml:8: collection 'users': 'city' (source 'addr.city') overlaps 'home'"));
	cr_assert(has_error(&errs, "bad.yaml:9: collection 'Orders': table name 'Orders' is not a valid SQL identifier"));
	cr_assert(has_error(&errs, "bad.yaml:11: collection 'plans': table 'users' is already used (line 2)"));
	cr_assert(has_error(&errs, "bad.yaml:13: collection 'plans': id 'objectidd' must be"));
	cr_assert(has_error(&errs, "bad.yaml:15: collection 'plans' column 'price': unknown type 'numeric(2,5)'"));
	cr_assert(has_error(&errs, "bad.yaml:16: collection 'plans' column 'kind': default 'c' is not one of the enum values"));
	cr_assert(has_error(&errs, "bad.yaml:17: collection 'empty': missing required key 'columns'"));
	cr_assert_eq(errs.n, 10);
	mapping_errors_free(&errs);
}

Test(mapping, children_and_junctions_are_checked)
{
	const char *text =
		"collections:\n"                                  /* 1 */
		"  orders:\n"                                     /* 2 */
		"    columns: {total: {type: numeric}}\n"         /* 3 */
		"    children:\n"                                 /* 4 */
		"      items:\n"                                  /* 5 */
		"        columns:\n"                              /* 6 */
		"          ord: {type: int4}\n"                   /* 7 reserved in a child */
		"          sku: {type: text, source: ''}\n"       /* 8 empty source */
		"        indexes: [{columns: [nope]}]\n"          /* 9 unknown column */
		"    junctions:\n"                                /* 10 */
		"      tags: {type: jsonb, source: total}\n";     /* 11 bad type + overlap with total */
	struct mapping_errors errs;

	load_bad(text, &errs);
	dump(&errs);
	cr_assert(has_error(&errs, "bad.yaml:7: collection 'orders' child 'items' column 'ord': the name is reserved"));
	cr_assert(has_error(&errs, "bad.yaml:8: collection 'orders' child 'items' column 'sku': source path is empty"));
	cr_assert(has_error(&errs, "bad.yaml:9: collection 'orders' child 'items': index names unknown column 'nope'"));
	cr_assert(has_error(&errs, "bad.yaml:11: collection 'orders' junction 'tags': junction type 'jsonb'"));
	cr_assert(has_error(&errs, "bad.yaml:11: collection 'orders': 'tags' (source 'total') overlaps 'total'"));
	cr_assert_eq(errs.n, 5);
	mapping_errors_free(&errs);
}

Test(mapping, syntax_error_and_missing_file)
{
	struct mapping_errors errs;

	load_bad("collections:\n  users: [\n", &errs);
	cr_assert(strstr(errs.msgs[0], "bad.yaml:") && strstr(errs.msgs[0], "YAML syntax"), "%s", errs.msgs[0]);
	mapping_errors_free(&errs);

	struct mapping *m = NULL;
	mapping_errors_init(&errs);
	cr_assert_not(mapping_load("/nonexistent/mapping.yaml", &m, &errs));
	cr_assert_eq(errs.n, 1);
	cr_assert(strstr(errs.msgs[0], "/nonexistent/mapping.yaml: cannot open"));
	mapping_errors_free(&errs);

	load_bad("- a\n- b\n", &errs);
	cr_assert_str_eq(errs.msgs[0], "bad.yaml:1: the mapping file must be a mapping of keys");
	mapping_errors_free(&errs);
}

Test(mapping, defaults_of_a_column)
{
	struct mapping *m = load_ok("collections:\n  c:\n    columns:\n      a: {type: int8}\n");
	const struct mapping_column *a = &mapping_find(m, "c")->columns[0];

	cr_assert_str_eq(a->source, "a");
	cr_assert(a->nullable);
	cr_assert_null(a->default_value);
	cr_assert_str_eq(mapping_find(m, "c")->table, "c");
	mapping_free(m);
}

Test(mapping, no_mapping_means_default_tables)
{
	struct mapping_collection dc;

	cr_assert_null(mapping_find(NULL, "users"));
	mapping_default_collection("events", &dc);
	cr_assert(dc.is_default);
	cr_assert_str_eq(dc.table, "events");
	cr_assert_str_eq(dc.tenant_column, "tenant_id");
	cr_assert_eq(dc.id_kind, MAPPING_ID_ANY);
	cr_assert_eq(dc.n_columns, 0);
}

Test(mapping, long_names_fit_63_bytes_without_collisions)
{
	char a[200], b[200], fa[64], fb[64];

	memset(a, 'x', 150);
	a[150] = '\0';
	memcpy(b, a, sizeof(a));
	b[149] = 'y';
	mapping_ident_fit(a, fa);
	mapping_ident_fit(b, fb);
	cr_assert_eq(strlen(fa), 63);
	cr_assert_eq(strlen(fb), 63);
	cr_assert_str_neq(fa, fb);
	cr_assert_eq(strncmp(fa, a, 54), 0);

	/* a multi-byte character straddling the cut is not split */
	memset(a, 'x', 53);
	strcpy(a + 53, "\xc3\xa9" "ffffffffffffffffffffffff");
	mapping_ident_fit(a, fa);
	cr_assert_eq(fa[53], '_', "cut before the two-byte character: %s", fa);
}
