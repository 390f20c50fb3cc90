/*
 * pgpool_batch.c - batches, SQLSTATE classes and batch results for the
 * PostgreSQL pool (see pgpool.h for the contract).
 *
 * A batch owns copies of its statements' SQL and text parameters (NULL
 * entries are SQL NULL).  pgpool_batch_finish() is the one place a batch
 * leaves the pool: it counts it, calls it back once and frees it.  Result
 * messages are kept on one line.
 */
#include "pgpool_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ batches */

struct pgbatch *pgbatch_new(void)
{
	struct pgbatch *b = calloc(1, sizeof(struct pgbatch));

	if (b)
		b->keep_idx = -1;
	return b;
}

void pgbatch_read_only(struct pgbatch *b)
{
	b->read_only = true;
}

void pgbatch_keep_rows(struct pgbatch *b, unsigned idx)
{
	b->keep_idx = (int)idx;
}

static void pgstmt_clear(struct pgstmt *s)
{
	for (int i = 0; i < s->nparams; i++)
		free(s->params[i]);
	free(s->params);
	free(s->sql);
}

static bool pgstmt_copy(struct pgstmt *s, const char *sql, int nparams, const char *const *params)
{
	memset(s, 0, sizeof(*s));
	s->sql = strdup(sql);
	if (!s->sql)
		return false;
	if (nparams > 0) {
		s->params = calloc((size_t)nparams, sizeof(char *));
		if (!s->params)
			goto fail;
	}
	for (int i = 0; i < nparams; i++) {
		s->nparams = i + 1;
		if (params[i] && !(s->params[i] = strdup(params[i])))
			goto fail;
	}
	s->nparams = nparams;
	return true;
fail:
	pgstmt_clear(s);
	return false;
}

bool pgbatch_add(struct pgbatch *b, const char *sql, int nparams, const char *const *params)
{
	if (!b || !sql || nparams < 0 || nparams > 65535 || (nparams > 0 && !params))
		return false;
	if (b->n == b->cap) {
		unsigned cap = b->cap ? b->cap * 2 : 4;
		struct pgstmt *s = realloc(b->stmts, cap * sizeof(*s));
		if (!s)
			return false;
		b->stmts = s;
		b->cap = cap;
	}
	if (!pgstmt_copy(&b->stmts[b->n], sql, nparams, params))
		return false;
	b->n++;
	return true;
}

unsigned pgbatch_count(const struct pgbatch *b)
{
	return b ? b->n : 0;
}

void pgbatch_free(struct pgbatch *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < b->n; i++)
		pgstmt_clear(&b->stmts[i]);
	free(b->stmts);
	PQclear(b->kept);
	free(b);
}

/* ------------------------------------------------------------ results */

enum pgpool_class pgpool_classify(const char *st)
{
	if (!st || !st[0])
		return PGPOOL_TRANSIENT;
	if (!strncmp(st, "08", 2) || !strncmp(st, "53", 2) || !strncmp(st, "57P", 3) ||
	    !strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03") ||
	    !strcmp(st, "25P03") || !strcmp(st, "58030"))
		return PGPOOL_TRANSIENT;
	return PGPOOL_PERMANENT;
}

const char *pgpool_class_to_str(enum pgpool_class c)
{
	switch (c) {
	case PGPOOL_OK: return "ok";
	case PGPOOL_TRANSIENT: return "transient";
	case PGPOOL_PERMANENT: return "permanent";
	}
	return "?";
}

/* Copy msg into dst on one line (libpq messages end with newlines). */
void pgpool_copy_line(char *dst, size_t len, const char *msg)
{
	snprintf(dst, len, "%s", msg ? msg : "");
	for (char *q = dst; *q; q++)
		if (*q == '\n' || *q == '\r')
			*q = (q[1] ? ' ' : '\0');
}

void pgpool_result_set(struct pgpool_result *r, const char *sqlstate, int idx, const char *msg)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", sqlstate ? sqlstate : "");
	r->cls = pgpool_classify(sqlstate);
	r->stmt_index = idx;
	pgpool_copy_line(r->message, sizeof(r->message), msg);
}

/* Call a batch back and free it; the one place batches leave the pool. */
void pgpool_batch_finish(struct pgpool *p, struct pgbatch *b, const struct pgpool_result *r)
{
	struct pgpool_result res = *r;

	res.rows = r->cls == PGPOOL_OK ? b->kept : NULL;
	if (r->cls == PGPOOL_OK)
		p->done++;
	else
		p->failed++;
	if (b->cb)
		b->cb(&res, b->arg);
	pgbatch_free(b);
}

void pgpool_batch_fail(struct pgpool *p, struct pgbatch *b, const char *sqlstate, const char *msg)
{
	struct pgpool_result r;

	pgpool_result_set(&r, sqlstate, -1, msg);
	pgpool_batch_finish(p, b, &r);
}

/* Fail every queued batch; batches submitted by the callbacks stay queued
 * for the next dispatch (the list is detached first). */
void pgpool_fail_queue(struct pgpool *p, const char *sqlstate, const char *msg)
{
	struct pgbatch_list q = TAILQ_HEAD_INITIALIZER(q);
	struct pgbatch *b;

	TAILQ_CONCAT(&q, &p->queue, link);
	p->nqueued = 0;
	while ((b = TAILQ_FIRST(&q))) {
		TAILQ_REMOVE(&q, b, link);
		pgpool_batch_fail(p, b, sqlstate, msg);
	}
}
