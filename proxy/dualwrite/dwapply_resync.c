/*
 * dwapply_resync.c - re-read documents from MongoDB by _id and write them
 * whole, and the horizons that keep later operations from being applied
 * twice on top of what a resync already read.
 *
 * A resync of document D reads MongoDB between start_ms and end_ms.  A
 * later operation on D whose reply reached tandem:
 *   before start_ms                    -> already in what was read: skip;
 *   up to end_ms + grace               -> may or may not be: resync D again
 *                                         (always correct, just more work);
 *   after that                         -> applied by MongoDB after the read:
 *                                         apply normally.
 * The grace (DWAPPLY_HORIZON_GRACE_MS) assumes MongoDB's reply reaches
 * tandem within a second of MongoDB applying the write.
 *
 * Invariant: a horizon describes what PostgreSQL holds, so it only counts
 * once the rows the resync read are committed.  It is set while the unit
 * computes (later ops of the same unit need it) but stays tentative until
 * dwhorizon_settle: a unit that does not commit (PostgreSQL down, timeout,
 * split) restores the horizon it replaced, else the entry's retry from the
 * queue, and every queued op on the document acknowledged before the lost
 * read, would be skipped as "already read" and lost.  A unit whose marker
 * says an earlier attempt committed (in doubt then) keeps no start: the
 * rows hold a read of unknown time, so later ops on the document are
 * re-read, never skipped.
 *
 * The MongoDB client is blocking and used on the applier thread only.
 */
#include "dwapply_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dualwrite.h"
#include "dwtouch.h"
#include "log.h"
#include "metrics.h"
#include "rowstore.h"

static char *horizon_key(const char *tenant, const char *coll, const bson_value_t *id)
{
	bson_t b = BSON_INITIALIZER;
	char *key = NULL;

	bson_append_value(&b, "", 0, id);
	size_t n = strlen(tenant) + strlen(coll) + 2 + 2 * b.len + 1;
	key = malloc(n);
	if (key) {
		int off = snprintf(key, n, "%s\x1f%s\x1f", tenant, coll);
		const uint8_t *d = bson_get_data(&b);
		for (uint32_t i = 0; i < b.len; i++)
			off += snprintf(key + off, n - (size_t)off, "%02x", d[i]);
	}
	bson_destroy(&b);
	return key;
}

static void horizons_expire(struct dwapply *a, uint64_t now)
{
	size_t j = 0;

	for (size_t i = 0; i < a->nhorizons; i++) {
		if (a->horizons[i].end_ms + 2 * DWAPPLY_HORIZON_GRACE_MS < now)
			free(a->horizons[i].key);
		else
			a->horizons[j++] = a->horizons[i];
	}
	a->nhorizons = j;
}

/* Whether e was at MongoDB together with another write already applied to
 * id (forwarded before that one's reply came back): then MongoDB may have
 * applied the two in either order, and only a re-read knows which.  The
 * operations of one command (a bulk, a transaction) are in order already. */
static bool overlaps(const struct dwentry *e, const char *coll, const bson_value_t *id)
{
	uint64_t by;
	uint64_t acked = dwtouch_doc_acked(e->tenant, coll, id, &by);

	if (!e->sent_us || acked < e->sent_us || (e->tseq ? by == e->tseq : acked == e->ack_us))
		return false;
	metrics_inc(METRIC_DW_OVERLAPS);
	return true;
}

enum dwhorizon_verdict dwhorizon_check(struct dwapply *a, const struct dwentry *e, const char *coll,
				       const bson_value_t *id)
{
	if (a->nhorizons == 0)
		return overlaps(e, coll, id) ? DWH_RESYNC : DWH_APPLY;
	char *key = horizon_key(e->tenant, coll, id);
	enum dwhorizon_verdict v = DWH_APPLY;
	uint64_t ts_ms = e->ts_ms;

	for (size_t i = 0; key && i < a->nhorizons; i++) {
		struct dwhorizon *h = &a->horizons[i];
		if (strcmp(h->key, key) != 0)
			continue;
		if (ts_ms < h->start_ms)
			v = DWH_SKIP;
		else if (ts_ms <= h->end_ms + DWAPPLY_HORIZON_GRACE_MS)
			v = DWH_RESYNC;
		break;
	}
	free(key);
	return v == DWH_APPLY && overlaps(e, coll, id) ? DWH_RESYNC : v;
}

bool dwhorizon_after(struct dwapply *a, const char *tenant, const char *coll, uint64_t ts_ms)
{
	size_t tl = strlen(tenant), cl = strlen(coll);

	for (size_t i = 0; i < a->nhorizons; i++) {
		const char *k = a->horizons[i].key;
		uint64_t start = a->horizons[i].start_ms, end = a->horizons[i].end_ms;
		bool later = start ? start >= ts_ms : ts_ms <= end + DWAPPLY_HORIZON_GRACE_MS;
		if (later && !strncmp(k, tenant, tl) && k[tl] == '\x1f' &&
		    !strncmp(k + tl + 1, coll, cl) && k[tl + 1 + cl] == '\x1f')
			return true;
	}
	return false;
}

/* A tentative horizon of unit u (see the invariant above): what it replaces
 * is kept, to be restored if u does not commit.  Replacing another unit's
 * tentative horizon (two insert units in flight resyncing one document)
 * keeps that one's saved horizon: the last committed one. */
static void horizon_set(struct dwapply *a, const struct dwunit *u, const char *tenant,
			const char *coll, const bson_value_t *id, uint64_t start, uint64_t end)
{
	char *key = horizon_key(tenant, coll, id);

	if (!key)
		return;
	for (size_t i = 0; i < a->nhorizons; i++) {
		struct dwhorizon *h = &a->horizons[i];
		if (strcmp(h->key, key) == 0) {
			if (!h->unit) {
				h->had_prev = true;
				h->prev_start_ms = h->start_ms;
				h->prev_end_ms = h->end_ms;
			}
			h->unit = u;
			h->start_ms = start;
			h->end_ms = end;
			free(key);
			return;
		}
	}
	if (a->nhorizons == DWAPPLY_MAX_HORIZONS)
		horizons_expire(a, end);
	if (a->nhorizons == DWAPPLY_MAX_HORIZONS) {
		/* Drop the oldest: its grace is the shortest left. */
		free(a->horizons[0].key);
		memmove(a->horizons, a->horizons + 1, (a->nhorizons - 1) * sizeof(a->horizons[0]));
		a->nhorizons--;
	}
	a->horizons[a->nhorizons++] = (struct dwhorizon){key, start, end, u, false, 0, 0};
}

void dwhorizon_settle(struct dwapply *a, const struct dwunit *u, enum dwhorizon_end how)
{
	size_t j = 0;

	for (size_t i = 0; i < a->nhorizons; i++) {
		struct dwhorizon *h = &a->horizons[i];
		if (h->unit == u) {
			h->unit = NULL;
			if (how == DWH_END_APPLIED_BEFORE) {
				h->start_ms = 0;
			} else if (how == DWH_END_DISCARDED && h->had_prev) {
				h->start_ms = h->prev_start_ms;
				h->end_ms = h->prev_end_ms;
			} else if (how == DWH_END_DISCARDED) {
				free(h->key);
				continue;
			}
			h->had_prev = false;
		}
		a->horizons[j++] = *h;
	}
	a->nhorizons = j;
}

mongoc_client_t *dwapply_mongo(struct dwapply *a, char *err, size_t errlen)
{
	bson_error_t e;

	if (a->mongo)
		return a->mongo;
	if (!a->mongo_uri[0]) {
		snprintf(err, errlen, "no mongo_uri configured");
		return NULL;
	}
	mongoc_uri_t *uri = mongoc_uri_new_with_error(a->mongo_uri, &e);
	if (!uri) {
		snprintf(err, errlen, "%s", e.message);
		return NULL;
	}
	mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 3000);
	a->mongo = mongoc_client_new_from_uri(uri);
	mongoc_uri_destroy(uri);
	if (!a->mongo)
		snprintf(err, errlen, "cannot create a MongoDB client");
	else
		mongoc_client_set_appname(a->mongo, "tandem-applier");
	return a->mongo;
}

static mongoc_client_t *mongo(struct dwunit *u)
{
	char err[256];
	mongoc_client_t *c = dwapply_mongo(u->a, err, sizeof(err));

	if (!c)
		dwunit_fail(u, "resync: %s", err);
	return c;
}

/* Is id among the ids MongoDB returned (kept in found)? */
static bool found_has(const bson_t *found, const bson_value_t *id)
{
	bson_iter_t it;

	if (!bson_iter_init(&it, found))
		return false;
	while (bson_iter_next(&it)) {
		const bson_value_t *v = bson_iter_value(&it);
		if (v->value_type == id->value_type) {
			bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER;
			bson_append_value(&a, "", 0, v);
			bson_append_value(&b, "", 0, id);
			bool eq = bson_equal(&a, &b);
			bson_destroy(&a);
			bson_destroy(&b);
			if (eq)
				return true;
		}
	}
	return false;
}

bool dwresync(struct dwunit *u, const struct mapping_collection *mc, const char *tenant,
	      const char *db, const char *coll, const bson_t *ids, const char *why)
{
	mongoc_client_t *m = mongo(u);
	bson_t filter = BSON_INITIALIZER, in, found = BSON_INITIALIZER;
	bson_error_t err;
	const bson_t *doc;
	bson_iter_t it;
	uint32_t nfound = 0, nids = 0;
	bool ok = true;

	if (!m)
		return false;
	BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
	BSON_APPEND_ARRAY(&in, "$in", ids);
	bson_append_document_end(&filter, &in);
	uint64_t start = clock_wall_ms();
	mongoc_collection_t *c = mongoc_client_get_collection(m, db, coll);
	mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, NULL, NULL);
	while (ok && mongoc_cursor_next(cur, &doc)) {
		char key[16];
		const char *k;
		bson_uint32_to_string(nfound++, &k, key, sizeof(key));
		if (bson_iter_init_find(&it, doc, "_id"))
			bson_append_value(&found, k, -1, bson_iter_value(&it));
		ok = dwstore_put(u, mc, tenant, doc);
	}
	if (ok && mongoc_cursor_error(cur, &err)) {
		dwunit_fail(u, "resync from MongoDB: %s", err.message);
		ok = false;
	}
	mongoc_cursor_destroy(cur);
	mongoc_collection_destroy(c);
	uint64_t end = clock_wall_ms();
	/* What was read is MongoDB's state now, later writes included: a shadow
	 * read that ran before now may not hold it (dwtouch.h). */
	uint64_t now_seq = dwtouch_tick();
	for (bool more = ok && bson_iter_init(&it, ids); more && bson_iter_next(&it);) {
		nids++;
		dwtouch_doc(tenant, mc->name, bson_iter_value(&it), now_seq, u->cur->ack_us);
		if (!found_has(&found, bson_iter_value(&it)))
			ok = dwstore_delete(u, mc, tenant, bson_iter_value(&it));
		horizon_set(u->a, u, tenant, coll, bson_iter_value(&it), start, end);
	}
	metrics_add(METRIC_DW_RESYNCS, nids);
	struct log_line *l = log_begin(LOG_INFO, "dualwrite_resync", 0);
	if (l) {
		log_str(l, "op_key", u->cur->key);
		log_int(l, "read_start_ms", (int64_t)start);
		log_str(l, "tenant", tenant);
		log_str(l, "db", db);
		log_str(l, "coll", coll);
		log_int(l, "ids", nids);
		log_int(l, "found", nfound);
		log_str(l, "reason", why);
		log_end(l);
	}
	bson_destroy(&filter);
	bson_destroy(&found);
	return ok;
}
