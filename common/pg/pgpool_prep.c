/*
 * pgpool_prep.c - a connection's prepared-statement cache, used by read
 * batches (pgbatch_read_only): SQL text -> server-side statement
 * "tandem_r<id>", prepared once (PQsendPrepare) and then executed by name
 * (PQsendQueryPrepared).
 *
 * An entry is pending from its Prepare until the Prepare's result: only a
 * ready entry is run by name by other batches (a batch pipelined behind a
 * pending Prepare runs its statement unnamed, so it never depends on a
 * Prepare that may fail).  A failed or skipped Prepare (42P01 before the
 * table exists, 25P02 behind a failed write batch, aborted by an earlier
 * error in its batch) removes the entry: the statement is prepared again
 * the next time.  At most PGPOOL_PREP_MAX entries per connection; past the
 * cap statements run unnamed (nothing is evicted).  The cache belongs to the
 * session: pgpool_conn_close() clears it.  Lookup is linear (length first),
 * fine for a few hundred entries next to a network round trip.
 */
#include "pgpool_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pgpool_prep_name(char *dst, unsigned id)
{
	snprintf(dst, PGPOOL_PREP_NAME, "tandem_r%u", id);
}

static struct pgprep *prep_find(struct pgconn *c, const char *sql, size_t len)
{
	for (unsigned i = 0; i < c->npreps; i++)
		if (c->preps[i].len == len && !memcmp(c->preps[i].sql, sql, len))
			return &c->preps[i];
	return NULL;
}

unsigned pgpool_prep_lookup(struct pgconn *c, const char *sql, bool *send_prepare)
{
	size_t len = strlen(sql);
	struct pgprep *e = prep_find(c, sql, len);

	*send_prepare = false;
	if (e)
		return e->ready ? e->id : 0;
	if (c->npreps >= PGPOOL_PREP_MAX)
		return 0;
	if (!c->preps && !(c->preps = calloc(PGPOOL_PREP_MAX, sizeof(*c->preps))))
		return 0;
	e = &c->preps[c->npreps];
	if (!(e->sql = malloc(len + 1)))
		return 0;
	memcpy(e->sql, sql, len + 1);
	e->len = len;
	e->id = ++c->next_prep_id;
	e->ready = false;
	c->npreps++;
	c->pool->prepared++;
	*send_prepare = true;
	return e->id;
}

void pgpool_prep_resolved(struct pgconn *c, unsigned id, bool ok)
{
	for (unsigned i = 0; i < c->npreps; i++) {
		if (c->preps[i].id != id)
			continue;
		if (ok) {
			c->preps[i].ready = true;
			return;
		}
		free(c->preps[i].sql);
		c->preps[i] = c->preps[--c->npreps];
		return;
	}
}

void pgpool_prep_clear(struct pgconn *c)
{
	for (unsigned i = 0; i < c->npreps; i++)
		free(c->preps[i].sql);
	free(c->preps);
	c->preps = NULL;
	c->npreps = 0;
}
