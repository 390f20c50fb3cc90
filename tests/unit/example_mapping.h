/*
 * example_mapping.h - loading mappings in unit tests: conf/mapping.yaml
 * (found from this file's path, which meson compiles relative to the build
 * directory where the tests run, or from $TANDEM_SOURCE_DIR) and mappings
 * given as text.  Header-only; a failed load fails the test.
 */
#ifndef TANDEM_TEST_EXAMPLE_MAPPING_H
#define TANDEM_TEST_EXAMPLE_MAPPING_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"

static inline const char *example_path(void)
{
	static char path[4096];
	const char *src = getenv("TANDEM_SOURCE_DIR");

	if (src)
		snprintf(path, sizeof(path), "%s/conf/mapping.yaml", src);
	else
		snprintf(path, sizeof(path), "%.*s/../../conf/mapping.yaml",
			 (int)(strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') - __FILE__ : 1),
			 strrchr(__FILE__, '/') ? __FILE__ : ".");
	return path;
}

static inline struct mapping *load_example(void)
{
	struct mapping *m = NULL;
	struct mapping_errors errs;

	mapping_errors_init(&errs);
	cr_assert(mapping_load(example_path(), &m, &errs), "%s", errs.n ? errs.msgs[0] : "");
	mapping_errors_free(&errs);
	return m;
}

static inline struct mapping *load_text(const char *text)
{
	struct mapping *m = NULL;
	struct mapping_errors errs;

	mapping_errors_init(&errs);
	cr_assert(mapping_load_string(text, strlen(text), "t.yaml", &m, &errs), "%s",
		  errs.n ? errs.msgs[0] : "");
	mapping_errors_free(&errs);
	return m;
}

#endif
