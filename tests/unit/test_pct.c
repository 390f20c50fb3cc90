/*
 * test_pct.c - percentages (common/runtime/pct.c): the strict PCT grammar
 * shared by the config, the Redis flags and shadow.collections, and
 * NAME=PCT lists (parse, lookup, the errors that name the item).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "pct.h"

static bool pct(const char *s, double *d)
{
	return pct_parse(s, strlen(s), d);
}

Test(pct, accepts_integers_and_decimals_in_range)
{
	double d = -1;

	cr_assert(pct("0", &d) && d == 0.0);
	cr_assert(pct("100", &d) && d == 100.0);
	cr_assert(pct("12.25", &d) && d == 12.25);
	cr_assert(pct("0.5", &d) && d == 0.5);
	cr_assert(pct(".5", &d) && d == 0.5);
	cr_assert(pct("5.", &d) && d == 5.0);
	cr_assert(pct("100.000", &d) && d == 100.0);
}

Test(pct, rejects_out_of_range_and_garbage)
{
	static const char *const bad[] = {"", "150", "100.01", "-1", "-0", "+5", "abc", "5a", "1e2",
					  "1e1", "1E1", "0x10", " 5", "5 ", "nan", "NaN", "inf",
					  "infinity", ".", "1.2.3", "5%", "00000000000000000000000000000001"};
	double d = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(pct(bad[i], &d), "'%s' accepted", bad[i]);
	cr_assert_eq(d, 42, "a rejected value must not write the output");
}

Test(pct, is_bounded_by_len_not_nul)
{
	double d;

	cr_assert(pct_parse("50garbage", 2, &d) && d == 50.0);
	cr_assert_not(pct_parse("5\0" "0", 3, &d)); /* embedded NUL is not a digit */
}

Test(pct, list_parses_sorts_and_looks_up)
{
	struct pct_list *l = NULL;
	char err[256] = "";
	double d = -1;

	cr_assert(pct_list_parse(" orders = 10 , users=0.5,\tlogs=100,z=0", 8, &l, err, sizeof(err)), "%s",
		  err);
	cr_assert(pct_list_get(l, "orders", &d) && d == 10.0);
	cr_assert(pct_list_get(l, "users", &d) && d == 0.5);
	cr_assert(pct_list_get(l, "logs", &d) && d == 100.0);
	cr_assert(pct_list_get(l, "z", &d) && d == 0.0);
	d = -1;
	cr_assert_not(pct_list_get(l, "order", &d), "prefix is not a match");
	cr_assert_not(pct_list_get(l, NULL, &d));
	cr_assert_eq(d, -1);
	pct_list_free(l);
	cr_assert_not(pct_list_get(NULL, "orders", &d));
	cr_assert(pct_list_parse(" \t", 0, &l, err, sizeof(err)), "a blank list has no items");
	cr_assert_not(pct_list_get(l, "orders", &d));
	pct_list_free(l);
	cr_assert(pct_list_parse(NULL, 0, &l, err, sizeof(err)));
	pct_list_free(l);
}

Test(pct, list_errors_name_the_item)
{
	static const struct {
		const char *spec;
		size_t max;
		const char *want;
	} bad[] = {
		{"orders", 8, "item 1 'orders': expected NAME=PERCENT"},
		{"orders=10,=5", 8, "item 2 '=5': the name is empty"},
		{"orders=1e1", 8, "item 1 'orders=1e1': '1e1' is not a percentage from 0 to 100"},
		{"orders=101", 8, "'101' is not a percentage"},
		{"orders=", 8, "'' is not a percentage"},
		{"orders=10,,users=1", 8, "item 2 is empty"},
		{"orders=10,", 8, "item 2 is empty"},
		{"a=1,orders=1,b=2,orders=2", 8, "'orders' is given twice"},
		{"a=1,b=2,c=3", 2, "3 items, at most 2 allowed"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pct_list *l = (struct pct_list *)1;
		char err[256] = "";

		cr_assert_not(pct_list_parse(bad[i].spec, bad[i].max, &l, err, sizeof(err)), "accepted '%s'",
			      bad[i].spec);
		cr_assert_null(l);
		cr_assert(strstr(err, bad[i].want), "'%s': error '%s' does not contain '%s'", bad[i].spec,
			  err, bad[i].want);
	}
}
