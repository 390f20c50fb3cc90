/*
 * sqllist.h - a growable list of SQL statements with TEXT-format parameters,
 * the unit of work rowstore_* hands to the PostgreSQL pool (or to blocking
 * libpq in tandemctl).
 *
 * Each statement owns copies of its SQL text and parameters; a NULL
 * parameter is SQL NULL.  Parameters are numbered $1..$nparams in order.
 */
#ifndef TANDEM_SQLLIST_H
#define TANDEM_SQLLIST_H

#include <stdbool.h>
#include <stddef.h>

struct sqlstmt {
	char *sql;
	int nparams;
	char **params; /* nparams entries, each malloc'd or NULL (SQL NULL) */
};

struct sqllist {
	struct sqlstmt *stmts;
	size_t n, cap;
};

void sqllist_init(struct sqllist *l);

/* Append a statement, copying sql and the nparams params (NULL entries stay
 * NULL).  False only when memory runs out (the list is unchanged). */
bool sqllist_add(struct sqllist *l, const char *sql, int nparams, const char *const *params)
	__attribute__((warn_unused_result));

/* Append a statement taking ownership of sql and params (each malloc'd;
 * params itself too).  On failure they are freed. */
bool sqllist_add_owned(struct sqllist *l, char *sql, int nparams, char **params)
	__attribute__((warn_unused_result));

/* Free the statements from index n on (keeps the first n). */
void sqllist_truncate(struct sqllist *l, size_t n);

/* Free every statement; the list is empty again (and reusable). */
void sqllist_free(struct sqllist *l);

#endif
