/*
 * sqllist.c - growable list of (sql, text params) statements; see sqllist.h.
 */
#include "sqllist.h"

#include <stdlib.h>
#include <string.h>

void sqllist_init(struct sqllist *l)
{
	l->stmts = NULL;
	l->n = l->cap = 0;
}

static void free_params(char **params, int n)
{
	for (int i = 0; params && i < n; i++)
		free(params[i]);
	free(params);
}

bool sqllist_add_owned(struct sqllist *l, char *sql, int nparams, char **params)
{
	if (!sql || nparams < 0 || (nparams > 0 && !params))
		goto fail;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct sqlstmt *s = realloc(l->stmts, cap * sizeof *s);
		if (!s)
			goto fail;
		l->stmts = s;
		l->cap = cap;
	}
	l->stmts[l->n].sql = sql;
	l->stmts[l->n].nparams = nparams;
	l->stmts[l->n].params = params;
	l->n++;
	return true;
fail:
	free(sql);
	free_params(params, nparams);
	return false;
}

bool sqllist_add(struct sqllist *l, const char *sql, int nparams, const char *const *params)
{
	char *s = strdup(sql);
	char **p = nparams > 0 ? calloc((size_t)nparams, sizeof *p) : NULL;

	if (!s || (nparams > 0 && !p)) {
		free(s);
		free(p);
		return false;
	}
	for (int i = 0; i < nparams; i++) {
		if (params[i] && !(p[i] = strdup(params[i]))) {
			free(s);
			free_params(p, nparams);
			return false;
		}
	}
	return sqllist_add_owned(l, s, nparams, p);
}

void sqllist_truncate(struct sqllist *l, size_t n)
{
	while (l->n > n) {
		l->n--;
		free(l->stmts[l->n].sql);
		free_params(l->stmts[l->n].params, l->stmts[l->n].nparams);
	}
}

void sqllist_free(struct sqllist *l)
{
	sqllist_truncate(l, 0);
	free(l->stmts);
	sqllist_init(l);
}
