/*
 * ctl_schema.c - `tandemctl schema [--mapping FILE] [--collection NAME]...
 *                                  [--apply --pg CONNINFO]`
 *
 * Without --apply the DDL goes to stdout for review.  With --apply it runs
 * in one transaction on PostgreSQL; the DDL is idempotent (IF NOT EXISTS),
 * so applying twice is harmless.  Every mapping error is printed, one per
 * line, and the exit code is 2.
 */
#include "ctl_schema.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddl.h"
#include "mapping.h"

#define CTL_MAX_COLLECTIONS 256

static int usage(FILE *out, int rc)
{
	fprintf(out, "usage: tandemctl schema [--mapping FILE] [--collection NAME]... "
			"[--apply --pg CONNINFO]\n"
			"  --mapping FILE     mapping spec (default $TANDEM_MAPPING; none: default tables only)\n"
			"  --collection NAME  also emit the default table for an unmapped collection\n"
			"  --apply            run the DDL on PostgreSQL (one transaction)\n"
			"  --pg CONNINFO      libpq conninfo (default $TANDEM_PG)\n");
	return rc;
}

static int apply(const char *conninfo, const char *ddl)
{
	PGconn *pg = PQconnectdb(conninfo);

	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "tandemctl: schema: cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
		PQfinish(pg);
		return 1;
	}
	/* Several statements in one PQexec run as one transaction. */
	PGresult *r = PQexec(pg, ddl);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "tandemctl: schema: PostgreSQL refused the DDL (nothing applied): %s",
			PQerrorMessage(pg));
		rc = 1;
	} else {
		printf("schema applied\n");
	}
	PQclear(r);
	PQfinish(pg);
	return rc;
}

int ctl_schema(int argc, char **argv)
{
	const char *path = getenv("TANDEM_MAPPING");
	const char *pg = getenv("TANDEM_PG");
	const char *colls[CTL_MAX_COLLECTIONS];
	size_t ncolls = 0;
	int do_apply = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mapping") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--pg") && i + 1 < argc)
			pg = argv[++i];
		else if (!strcmp(argv[i], "--collection") && i + 1 < argc && ncolls < CTL_MAX_COLLECTIONS)
			colls[ncolls++] = argv[++i];
		else if (!strcmp(argv[i], "--apply"))
			do_apply = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return usage(stdout, 0);
		else
			return usage(stderr, 2);
	}
	if (do_apply && (!pg || !*pg)) {
		fprintf(stderr, "tandemctl: schema: --apply needs --pg CONNINFO (or $TANDEM_PG)\n");
		return 2;
	}

	struct mapping *m = NULL;
	if (path && *path) {
		struct mapping_errors errs;
		mapping_errors_init(&errs);
		if (!mapping_load(path, &m, &errs)) {
			for (size_t i = 0; i < errs.n; i++)
				fprintf(stderr, "%s\n", errs.msgs[i]);
			mapping_errors_free(&errs);
			return 2;
		}
		mapping_errors_free(&errs);
	}
	char *ddl = ddl_for_mapping(m, colls, ncolls);
	if (!ddl) {
		fprintf(stderr, "tandemctl: schema: out of memory\n");
		mapping_free(m);
		return 1;
	}
	int rc = 0;
	if (do_apply)
		rc = apply(pg, ddl);
	else
		fputs(ddl, stdout);
	free(ddl);
	mapping_free(m);
	return rc;
}
