/*
 * ctl_dump.c - `tandemctl dump --pg CONNINFO [--mapping FILE] --tenant T
 *                               --collection C [--filter JSON]`
 *
 * Prints every stored document of the tenant's collection as canonical
 * Extended JSON, one per line, in primary-key order: rowstore_select, then
 * rowstore_decode on each row (blocking libpq).  Tests compare this with
 * MongoDB's documents.
 *
 * Hidden, for tests and repairs: `--load FILE` first stores the documents
 * of FILE (Extended JSON, one per line) with rowstore_put, all in one
 * transaction; `--twice` runs every put's statements twice (they must be
 * idempotent); `--echo` prints each loaded document as parsed (canonical
 * Extended JSON) to stderr so a test can compare it with the dump.
 */
#include "ctl_dump.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "rowstore.h"
#include "sqllist.h"

struct dump_opts {
	const char *pg, *mapping, *tenant, *coll, *filter, *load;
	int twice, echo;
};

static int usage(FILE *out, int rc)
{
	fprintf(out, "usage: tandemctl dump --pg CONNINFO [--mapping FILE] --tenant T --collection C "
		     "[--filter JSON]\n"
		     "  prints the tenant's stored documents as canonical Extended JSON, one per line,\n"
		     "  in insertion order (--filter: only documents that may match: the filter is\n"
		     "  pushed down to SQL as a superset, see docs/storage.md)\n");
	return rc;
}

static bool parse_args(int argc, char **argv, struct dump_opts *o)
{
	memset(o, 0, sizeof *o);
	o->pg = getenv("TANDEM_PG");
	o->mapping = getenv("TANDEM_MAPPING");
	for (int i = 1; i < argc; i++) {
		const char **v = !strcmp(argv[i], "--pg") ? &o->pg
			       : !strcmp(argv[i], "--mapping") ? &o->mapping
			       : !strcmp(argv[i], "--tenant") ? &o->tenant
			       : !strcmp(argv[i], "--collection") ? &o->coll
			       : !strcmp(argv[i], "--filter") ? &o->filter
			       : !strcmp(argv[i], "--load") ? &o->load : NULL;
		if (v && i + 1 < argc)
			*v = argv[++i];
		else if (!strcmp(argv[i], "--twice"))
			o->twice = 1;
		else if (!strcmp(argv[i], "--echo"))
			o->echo = 1;
		else
			return false;
	}
	return o->pg && *o->pg && o->tenant && o->coll;
}

/* Run one statement; prints PostgreSQL's message on failure. */
static PGresult *run(PGconn *pg, const struct sqlstmt *s, ExecStatusType want)
{
	PGresult *r = PQexecParams(pg, s->sql, s->nparams, NULL, (const char *const *)s->params,
				   NULL, NULL, 0);
	if (PQresultStatus(r) != want) {
		fprintf(stderr, "tandemctl: dump: PostgreSQL: %s  in: %.200s\n", PQerrorMessage(pg), s->sql);
		PQclear(r);
		return NULL;
	}
	return r;
}

static bool exec_list(PGconn *pg, const struct sqllist *l, int times)
{
	for (int t = 0; t < times; t++)
		for (size_t i = 0; i < l->n; i++) {
			PGresult *r = run(pg, &l->stmts[i], PGRES_COMMAND_OK);
			if (!r)
				return false;
			PQclear(r);
		}
	return true;
}

static bool simple(PGconn *pg, const char *sql)
{
	struct sqlstmt s = { (char *)sql, 0, NULL };
	PGresult *r = run(pg, &s, PGRES_COMMAND_OK);
	PQclear(r);
	return r != NULL;
}

static bool load_one(PGconn *pg, const struct mapping_collection *mc, const struct dump_opts *o,
		     const char *line, size_t lineno)
{
	bson_error_t err;
	bson_t *doc = bson_new_from_json((const uint8_t *)line, -1, &err);
	struct sqllist l;
	bool ok;

	if (!doc) {
		fprintf(stderr, "tandemctl: dump: %s:%zu: %s\n", o->load, lineno, err.message);
		return false;
	}
	if (o->echo) {
		char *j = bson_as_canonical_extended_json(doc, NULL);
		fprintf(stderr, "%s\n", j);
		bson_free(j);
	}
	sqllist_init(&l);
	ok = rowstore_put(mc, o->tenant, doc, &l, &err);
	if (!ok)
		fprintf(stderr, "tandemctl: dump: %s:%zu: %s\n", o->load, lineno, err.message);
	ok = ok && exec_list(pg, &l, o->twice ? 2 : 1);
	sqllist_free(&l);
	bson_destroy(doc);
	return ok;
}

static bool load(PGconn *pg, const struct mapping_collection *mc, const struct dump_opts *o)
{
	FILE *f = fopen(o->load, "r");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	bool ok;

	if (!f) {
		fprintf(stderr, "tandemctl: dump: cannot open %s\n", o->load);
		return false;
	}
	ok = simple(pg, "BEGIN");
	while (ok && (n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (n > 1 || line[0] != '\n')
			ok = load_one(pg, mc, o, line, lineno);
	}
	free(line);
	fclose(f);
	return simple(pg, ok ? "COMMIT" : "ROLLBACK") && ok;
}

static bool dump(PGconn *pg, const struct mapping_collection *mc, const struct dump_opts *o)
{
	bson_error_t err;
	bson_t *filter = NULL;
	struct sqllist l;
	PGresult *r;
	bool ok = true;

	if (o->filter && !(filter = bson_new_from_json((const uint8_t *)o->filter, -1, &err))) {
		fprintf(stderr, "tandemctl: dump: --filter: %s\n", err.message);
		return false;
	}
	sqllist_init(&l);
	if (!rowstore_select(mc, o->tenant, filter, &l, &err) || !(r = run(pg, &l.stmts[0], PGRES_TUPLES_OK))) {
		sqllist_free(&l);
		if (filter)
			bson_destroy(filter);
		return false;
	}
	int nc = PQnfields(r);
	const char **vals = calloc((size_t)nc + 1, sizeof *vals);
	for (int row = 0; ok && vals && row < PQntuples(r); row++) {
		bson_t doc;
		for (int c = 0; c < nc; c++)
			vals[c] = PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
		ok = rowstore_decode(mc, nc, vals, &doc, &err);
		if (ok) {
			char *j = bson_as_canonical_extended_json(&doc, NULL);
			printf("%s\n", j);
			bson_free(j);
		} else {
			fprintf(stderr, "tandemctl: dump: row %d: %s\n", row, err.message);
		}
		bson_destroy(&doc);
	}
	free(vals);
	PQclear(r);
	sqllist_free(&l);
	if (filter)
		bson_destroy(filter);
	return ok;
}

int ctl_dump(int argc, char **argv)
{
	struct dump_opts o;
	struct mapping *m = NULL;
	struct mapping_collection dc;
	const struct mapping_collection *mc;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return usage(stdout, 0);
	if (!parse_args(argc, argv, &o))
		return usage(stderr, 2);
	if (o.mapping && *o.mapping) {
		struct mapping_errors errs;
		mapping_errors_init(&errs);
		if (!mapping_load(o.mapping, &m, &errs)) {
			for (size_t i = 0; i < errs.n; i++)
				fprintf(stderr, "%s\n", errs.msgs[i]);
			mapping_errors_free(&errs);
			return 2;
		}
		mapping_errors_free(&errs);
	}
	mapping_default_collection(o.coll, &dc);
	mc = mapping_find(m, o.coll) ? mapping_find(m, o.coll) : &dc;

	PGconn *pg = PQconnectdb(o.pg);
	int rc = 0;
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "tandemctl: dump: cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
		rc = 1;
	} else if ((o.load && !load(pg, mc, &o)) || !dump(pg, mc, &o)) {
		rc = 1;
	}
	PQfinish(pg);
	mapping_free(m);
	return rc;
}
