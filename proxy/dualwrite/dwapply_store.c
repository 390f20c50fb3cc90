/*
 * dwapply_store.c - where an operation's rows live, and what a unit has
 * already changed (dwapply_internal.h).
 *
 * Tables are created on first use with the same idempotent DDL `tandemctl
 * schema --apply` prints (ddl.h), over one blocking connection: this runs
 * once per table per process, on the applier's thread, never on a client's.
 */
#include "dwapply_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsoncmp.h"
#include "ddl.h"
#include "dwtouch.h"
#include "log.h"
#include "rowstore.h"

#define DWSTORE_APPLIED_DDL                                                                    \
	"CREATE TABLE IF NOT EXISTS tandem_applied (op_key text PRIMARY KEY, "                   \
	"applied_at timestamptz NOT NULL DEFAULT now())"

static bool known(struct dwapply *a, const char *table)
{
	for (size_t i = 0; i < a->nknown; i++)
		if (strcmp(a->known[i], table) == 0)
			return true;
	return false;
}

static bool remember(struct dwapply *a, const char *table)
{
	if (a->nknown == a->known_cap) {
		size_t cap = a->known_cap * 2 + 16;
		char **k = realloc(a->known, cap * sizeof(*k));
		if (!k)
			return false;
		a->known = k;
		a->known_cap = cap;
	}
	if (!(a->known[a->nknown] = strdup(table)))
		return false;
	a->nknown++;
	return true;
}

/* "relation ... already exists, skipping" is expected: not for stderr. */
static void notice_ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static bool exec_ddl(struct dwapply *a, const char *sql, char *err, size_t errlen)
{
	if (!a->ddl || PQstatus(a->ddl) != CONNECTION_OK) {
		if (a->ddl)
			PQfinish(a->ddl);
		a->ddl = PQconnectdb(a->conninfo);
		if (PQstatus(a->ddl) != CONNECTION_OK) {
			snprintf(err, errlen, "%s", PQerrorMessage(a->ddl));
			return false;
		}
		PQsetNoticeProcessor(a->ddl, notice_ignore, NULL);
	}
	PGresult *r = PQexec(a->ddl, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

/* Create mc's tables (and tandem_applied) unless done before. */
static bool ensure(struct dwunit *u, const struct mapping_collection *mc)
{
	struct dwapply *a = u->a;
	char err[512] = "";
	char *sql = NULL;
	size_t len = 0;

	if (known(a, mc->table))
		return true;
	if (a->nknown == 0 && !exec_ddl(a, DWSTORE_APPLIED_DDL, err, sizeof(err)))
		goto fail;
	FILE *f = open_memstream(&sql, &len);
	if (!f)
		goto fail;
	ddl_put_collection(f, mc);
	if (fclose(f) != 0 || !exec_ddl(a, sql, err, sizeof(err)))
		goto fail;
	free(sql);
	struct log_line *l = log_begin(LOG_INFO, "dualwrite_table_ready", 0);
	if (l) {
		log_str(l, "table", mc->table);
		log_str(l, "coll", mc->name);
		log_end(l);
	}
	return remember(a, mc->table);
fail:
	free(sql);
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = ' ';
	dwunit_fail(u, "creating table %s: %s", mc->table, err[0] ? err : "out of memory");
	return false;
}

const struct mapping_collection *dwstore_collection(struct dwunit *u, const char *coll,
						    struct mapping_collection *scratch)
{
	const struct mapping_collection *mc = mapping_find(u->a->o.mapping, coll);

	if (!mc) {
		mapping_default_collection(coll, scratch);
		mc = scratch;
	}
	return ensure(u, mc) ? mc : NULL;
}

/* ---- overlay ---- */

static struct dwoverlay_item *ov_find(const struct dwunit *u, const char *tenant, const char *coll,
				      const bson_value_t *id)
{
	for (size_t i = 0; i < u->nov; i++) {
		struct dwoverlay_item *o = &u->ov[i];
		if (!strcmp(o->coll, coll) && !strcmp(o->tenant, tenant) &&
		    bsoncmp_value(&o->id, id) == 0)
			return o;
	}
	return NULL;
}

void dwoverlay_set(struct dwunit *u, const char *tenant, const char *coll, const bson_value_t *id,
		   const bson_t *doc)
{
	struct dwoverlay_item *o = ov_find(u, tenant, coll, id);

	if (!o) {
		if (u->nov == u->ov_cap) {
			size_t cap = u->ov_cap * 2 + 8;
			struct dwoverlay_item *n = realloc(u->ov, cap * sizeof(*n));
			if (!n) {
				dwunit_fail(u, "out of memory");
				return;
			}
			u->ov = n;
			u->ov_cap = cap;
		}
		o = &u->ov[u->nov++];
		o->coll = strdup(coll);
		o->tenant = strdup(tenant);
		bson_value_copy(id, &o->id);
		o->doc = NULL;
		if (!o->coll || !o->tenant)
			dwunit_fail(u, "out of memory");
	}
	if (o->doc)
		bson_destroy(o->doc);
	o->doc = doc ? bson_copy(doc) : NULL;
}

int dwoverlay_get(const struct dwunit *u, const char *tenant, const char *coll,
		  const bson_value_t *id, const bson_t **doc)
{
	struct dwoverlay_item *o = ov_find(u, tenant, coll, id);

	if (!o)
		return -1;
	*doc = o->doc;
	return o->doc ? 1 : 0;
}

void dwoverlay_free(struct dwunit *u)
{
	for (size_t i = 0; i < u->nov; i++) {
		free(u->ov[i].coll);
		free(u->ov[i].tenant);
		bson_value_destroy(&u->ov[i].id);
		if (u->ov[i].doc)
			bson_destroy(u->ov[i].doc);
	}
	free(u->ov);
	u->ov = NULL;
	u->nov = u->ov_cap = 0;
}

/* ---- writes ---- */
/* Debug level: which row an operation wrote (for chasing a divergence). */
static void trace_row(const struct dwunit *u, const char *what, const char *tenant, const char *coll,
		      const bson_value_t *id)
{
	struct log_line *l = log_begin(LOG_DEBUG, "dualwrite_row", 0);
	bson_t b = BSON_INITIALIZER;

	if (!l)
		return;
	bson_append_value(&b, "_id", 3, id);
	char *js = bson_as_canonical_extended_json(&b, NULL);
	log_str(l, "what", what);
	log_str(l, "op_key", u->cur->key);
	log_str(l, "tenant", tenant);
	log_str(l, "coll", coll);
	log_str(l, "id", js ? js : "");
	log_int(l, "acked_ms", (int64_t)u->cur->ts_ms);
	log_end(l);
	bson_free(js);
	bson_destroy(&b);
}

bool dwstore_put(struct dwunit *u, const struct mapping_collection *mc, const char *tenant,
		 const bson_t *doc)
{
	struct sqllist l;
	bson_error_t err;
	bson_iter_t it;
	bool ok;

	sqllist_init(&l);
	ok = rowstore_put(mc, tenant, doc, &l, &err);
	if (!ok)
		dwunit_fail_permanent(u, "row for %s: %s", mc->name, err.message);
	else if (!(ok = dwunit_add_writes(u, &l)))
		dwunit_fail(u, "out of memory");
	sqllist_free(&l);
	if (ok && bson_iter_init_find(&it, doc, "_id")) {
		dwtouch_doc(tenant, mc->name, bson_iter_value(&it), u->cur->tseq, u->cur->ack_us);
		trace_row(u, "put", tenant, mc->name, bson_iter_value(&it));
		if (u->overlay)
			dwoverlay_set(u, tenant, mc->name, bson_iter_value(&it), doc);
	}
	return ok;
}

bool dwstore_delete(struct dwunit *u, const struct mapping_collection *mc, const char *tenant,
		    const bson_value_t *id)
{
	struct sqllist l;
	bson_error_t err;
	bool ok;

	sqllist_init(&l);
	ok = rowstore_delete(mc, tenant, id, &l, &err);
	if (!ok)
		dwunit_fail_permanent(u, "delete from %s: %s", mc->name, err.message);
	else if (!(ok = dwunit_add_writes(u, &l)))
		dwunit_fail(u, "out of memory");
	sqllist_free(&l);
	if (ok) {
		dwtouch_doc(tenant, mc->name, id, u->cur->tseq, u->cur->ack_us);
		trace_row(u, "delete", tenant, mc->name, id);
		if (u->overlay)
			dwoverlay_set(u, tenant, mc->name, id, NULL);
	}
	return ok;
}
