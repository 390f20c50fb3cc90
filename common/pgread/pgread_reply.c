/*
 * pgread_reply.c - the read computed over the decoded sets (pgread.h):
 *
 *   find / count / distinct / estimatedDocumentCount   readexec.h
 *   aggregate                                           aggregate.h ($lookup
 *                                                       sets by name)
 */
#include "pgread.h"

#include <stdio.h>
#include <string.h>

static void unsupported(char *why, size_t whylen, const char *reason)
{
	snprintf(why, whylen, "%s", reason && reason[0] ? reason : "aggregate");
}

enum pgread_status pgread_result(struct pgread *r, size_t max_rows, bson_t *reply, bson_t *docs,
				 bool *is_cursor, char *why, size_t whylen)
{
	struct readexec_limits lim = readexec_default_limits();
	bson_error_t err;
	int64_t n = 0;
	bool ok = true;
	struct pgread_set *s = &r->sets[0];

	*is_cursor = false;
	bson_init(docs);
	lim.max_docs = max_rows;
	switch (r->plan.kind) {
	case READEXEC_FIND:
		*is_cursor = true;
		ok = readexec_find(&r->plan, s->docs, s->n, &lim, docs, &err);
		break;
	case READEXEC_COUNT:
	case READEXEC_ESTIMATED_COUNT:
	case READEXEC_COLLSTATS_COUNT:
		ok = readexec_count(&r->plan, s->docs, s->n, &lim, &n, &err);
		if (ok && r->plan.kind == READEXEC_COLLSTATS_COUNT)
			readexec_reply_collstats_count(&r->plan, n, reply);
		else if (ok)
			readexec_reply_count(n, reply);
		break;
	case READEXEC_DISTINCT: {
		bson_t values = BSON_INITIALIZER;
		ok = readexec_distinct(&r->plan, s->docs, s->n, &lim, &values, &err);
		if (ok)
			readexec_reply_distinct(&values, reply);
		bson_destroy(&values);
		break;
	}
	case READEXEC_AGGREGATE: {
		struct agg_input in[PGREAD_MAX_COLLS];
		struct agg_limits al = {max_rows, 0};
		for (size_t i = 0; i < r->ncolls; i++)
			in[i] = (struct agg_input){r->colls[i], r->sets[i].docs, r->sets[i].n};
		uint32_t *ties = NULL;
		*is_cursor = true;
		enum agg_status st = agg_run(&r->plan.pipeline, in, r->ncolls, &al, docs, &ties, &err);
		free(ties);
		if (st == AGG_UNSUPPORTED) {   /* err.message is a stable reason code */
			bson_reinit(docs);
			*is_cursor = false;
			unsupported(why, whylen, err.message);
			return PGREAD_UNSUPPORTED;
		}
		ok = st == AGG_OK;
		break;
	}
	}
	if (ok)
		return PGREAD_OK;
	bson_reinit(docs);
	*is_cursor = false;
	readexec_reply_error(&err, reply);
	return PGREAD_ERROR;
}

/* readexec's find reply always says cursor id 0; MongoDB's id is non-zero
 * when results remain after the first batch: say so too (any id). */
static void cursor_reply(const struct readexec_plan *plan, const bson_t *docs, bson_t *reply)
{
	bson_t first, cursor, fixed;
	bson_iter_t it, c;

	readexec_reply_find(plan, docs, &first);
	uint32_t total = bson_count_keys(docs), batch = 0;
	if (bson_iter_init_find(&it, &first, "cursor") && bson_iter_recurse(&it, &c) &&
	    bson_iter_find(&c, "firstBatch") && BSON_ITER_HOLDS_ARRAY(&c)) {
		bson_iter_t b;
		if (bson_iter_recurse(&c, &b))
			while (bson_iter_next(&b))
				batch++;
	}
	if (batch >= total || !bson_iter_init(&it, &first)) {
		bson_destroy(reply);
		bson_steal(reply, &first);   /* never copy a bson_t by value: it may point into itself */
		return;
	}
	bson_init(&fixed);
	while (bson_iter_next(&it)) {
		if (strcmp(bson_iter_key(&it), "cursor") || !bson_iter_recurse(&it, &c)) {
			bson_append_iter(&fixed, NULL, 0, &it);
			continue;
		}
		BSON_APPEND_DOCUMENT_BEGIN(&fixed, "cursor", &cursor);
		while (bson_iter_next(&c)) {
			if (!strcmp(bson_iter_key(&c), "id"))
				BSON_APPEND_INT64(&cursor, "id", 1);
			else
				bson_append_iter(&cursor, NULL, 0, &c);
		}
		bson_append_document_end(&fixed, &cursor);
	}
	bson_destroy(&first);
	bson_destroy(reply);
	bson_steal(reply, &fixed);
}

enum pgread_status pgread_reply(struct pgread *r, size_t max_rows, bson_t *reply, char *why,
				size_t whylen)
{
	bson_t docs;
	bool is_cursor = false;
	enum pgread_status st = pgread_result(r, max_rows, reply, &docs, &is_cursor, why, whylen);

	if (st == PGREAD_OK && is_cursor)
		cursor_reply(&r->plan, &docs, reply);
	bson_destroy(&docs);
	return st;
}
