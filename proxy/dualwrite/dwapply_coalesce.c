/*
 * dwapply_coalesce.c - turn a unit's statements into the batch sent to
 * PostgreSQL, merging runs of identical single-row upserts into one
 * multi-row statement:
 *
 *   INSERT INTO t (...) VALUES ($1::text, $2::uuid, $3::jsonb, $4::jsonb) ON CONFLICT ...
 *   INSERT INTO t (...) VALUES ($1::text, ...same SQL...)                 ON CONFLICT ...
 *     -> INSERT INTO t (...) VALUES ($1::text, ...), ($5::text, ...) ON CONFLICT ...
 *
 * A run of default-table inserts then costs one parse and plan instead of
 * one per row (PostgreSQL spent about a quarter of its time there).  A run
 * ends where a row's key (its first two parameters: tenant and id) repeats,
 * because one INSERT ... ON CONFLICT DO UPDATE may not touch a row twice.
 * Batch statement i covers the unit's statements from[i] .. from[i+1]-1.
 */
#include "dwapply_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COALESCE_MAX_PARAMS 32767 /* well under PostgreSQL's 65535 */

/* "INSERT ... VALUES (" + tuple + ") ON CONFLICT ..." -> the three parts. */
static bool split_upsert(const char *sql, size_t *head, size_t *tuple_end)
{
	const char *v, *c;

	if (strncmp(sql, "INSERT INTO ", 12) != 0 || !(v = strstr(sql, ") VALUES (")) ||
	    !(c = strstr(v, ") ON CONFLICT (")))
		return false;
	*head = (size_t)(v - sql) + 9;        /* up to and including "VALUES " */
	*tuple_end = (size_t)(c - sql) + 1;   /* through the tuple's ")" */
	return true;
}

/* Append the tuple sql[from..to) with every $n shifted by shift. */
static void put_tuple(FILE *f, const char *sql, size_t from, size_t to, int shift)
{
	for (size_t i = from; i < to; i++) {
		if (sql[i] == '$' && i + 1 < to && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
			int n = 0;
			while (i + 1 < to && sql[i + 1] >= '0' && sql[i + 1] <= '9')
				n = n * 10 + (sql[++i] - '0');
			fprintf(f, "$%d", n + shift);
		} else {
			fputc(sql[i], f);
		}
	}
}

static bool same_key(const struct sqlstmt *a, const struct sqlstmt *b)
{
	return a->params[0] && b->params[0] && a->params[1] && b->params[1] &&
	       !strcmp(a->params[0], b->params[0]) && !strcmp(a->params[1], b->params[1]);
}

/* How many statements from i on can be merged with statement i. */
static size_t run_length(const struct sqllist *w, size_t i)
{
	const struct sqlstmt *s = &w->stmts[i];
	size_t head, end, n = 1;

	if (s->nparams < 2 || !split_upsert(s->sql, &head, &end))
		return 1;
	while (i + n < w->n && (n + 1) * (size_t)s->nparams <= COALESCE_MAX_PARAMS) {
		const struct sqlstmt *t = &w->stmts[i + n];
		if (t->nparams != s->nparams || strcmp(t->sql, s->sql) != 0)
			break;
		bool dup = false;
		for (size_t j = i; j < i + n && !dup; j++)
			dup = same_key(&w->stmts[j], t);
		if (dup)
			break;
		n++;
	}
	return n;
}

static bool add_merged(struct pgbatch *b, const struct sqllist *w, size_t i, size_t n)
{
	const struct sqlstmt *s = &w->stmts[i];
	size_t head, end, len = 0;
	char *sql = NULL;
	const char **params = malloc(n * (size_t)s->nparams * sizeof(*params));
	FILE *f = open_memstream(&sql, &len);
	bool ok = false;

	if (!params || !f || !split_upsert(s->sql, &head, &end))
		goto out;
	fwrite(s->sql, 1, head, f);
	for (size_t r = 0; r < n; r++) {
		fputs(r ? ", " : "", f);
		put_tuple(f, s->sql, head, end, (int)r * s->nparams);
		memcpy(params + r * (size_t)s->nparams, w->stmts[i + r].params,
		       (size_t)s->nparams * sizeof(*params));
	}
	fputs(s->sql + end, f);
	if (fclose(f) == 0)
		ok = pgbatch_add(b, sql, (int)(n * (size_t)s->nparams), params);
	f = NULL;
out:
	if (f)
		fclose(f);
	free(sql);
	free(params);
	return ok;
}

bool dwcoalesce_fill(struct dwunit *u, struct pgbatch *b, bool merge)
{
	const struct sqllist *w = &u->writes;
	size_t nb = 0;

	free(u->from);
	if (!(u->from = malloc((w->n + 1) * sizeof(*u->from))))
		return false;
	for (size_t i = 0; i < w->n;) {
		size_t n = merge ? run_length(w, i) : 1;
		const struct sqlstmt *s = &w->stmts[i];
		bool ok = n > 1 ? add_merged(b, w, i, n)
				: pgbatch_add(b, s->sql, s->nparams, (const char *const *)s->params);
		if (!ok)
			return false;
		u->from[nb++] = i;
		i += n;
	}
	u->from[nb] = w->n;
	u->nbatch = nb;
	return true;
}

int dwcoalesce_entry(const struct dwunit *u, int stmt)
{
	if (stmt < 0 || (size_t)stmt >= u->nbatch)
		return -1;
	size_t first = u->from[stmt], last = u->from[stmt + 1] - 1;
	unsigned e = u->stmt_entry[first];

	return u->stmt_entry[last] == e ? (int)e : -1;   /* -1: several entries */
}
