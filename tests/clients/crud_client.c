/*
 * crud_client.c - a libmongoc (C driver) client that tandem's integration
 * tests run through the proxy: `mongoc_crud URI [--db NAME] [--rs]`.
 *
 * On a fresh database NAME (dropped first and last) it runs CRUD (insert one
 * and many, find with a filter, update with $set/$inc, an upsert, replace,
 * delete, a duplicate-key write error that must carry code 11000), a cursor
 * over CRUD_DOCS documents with batchSize CRUD_BATCH whose getMore commands are
 * counted by an APM callback, count_documents, an explicit session, and with
 * --rs a committed and an aborted multi-document transaction.
 *
 * The exit code tells the result: 0 when every check passed, 1 on the first
 * failed check (its description goes to stderr), 2 on bad usage.  On success
 * one line "ok getmores=N docs=N servers=HOST:PORT,..." goes to stdout, the
 * servers being those the driver's topology knows at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#define CRUD_DOCS 23
#define CRUD_BATCH 5

struct crud_ctx {
	mongoc_client_t *client;
	mongoc_database_t *db;
	const char *db_name;
	int getmores; /* getMore commands seen by the APM callback */
};

/* Report a failed check and its libmongoc error, if any; returns false. */
static bool crud_fail(const char *what, const bson_error_t *err)
{
	if (err != NULL && err->code != 0)
		fprintf(stderr, "mongoc_crud: %s: %s (domain %u code %u)\n", what, err->message,
			err->domain, err->code);
	else
		fprintf(stderr, "mongoc_crud: %s\n", what);
	return false;
}

static void crud_on_command_started(const mongoc_apm_command_started_t *ev)
{
	struct crud_ctx *ctx = mongoc_apm_command_started_get_context(ev);

	if (strcmp(mongoc_apm_command_started_get_command_name(ev), "getMore") == 0)
		ctx->getmores++;
}

/* Integer value of field key in doc, or -1 when absent or not a number. */
static int64_t crud_get_int(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_NUMBER(&it))
		return -1;
	return bson_iter_as_int64(&it);
}

/* Count the documents matching filter (a JSON string) with count_documents. */
static int64_t crud_count(mongoc_collection_t *coll, const char *filter_json,
			  const bson_t *opts)
{
	bson_error_t err;
	bson_t *filter = bson_new_from_json((const uint8_t *)filter_json, -1, &err);
	int64_t n;

	if (filter == NULL)
		return -1;
	n = mongoc_collection_count_documents(coll, filter, opts, NULL, NULL, &err);
	if (n < 0)
		crud_fail("count_documents", &err);
	bson_destroy(filter);
	return n;
}

/* Insert one and many, then check a filtered find sees the right documents. */
static bool crud_insert_find(mongoc_collection_t *coll)
{
	bson_error_t err;
	bson_t *one = BCON_NEW("_id", BCON_INT32(1), "name", BCON_UTF8("ada"), "age", BCON_INT32(36));
	bson_t *d2 = BCON_NEW("_id", BCON_INT32(2), "name", BCON_UTF8("bob"), "age", BCON_INT32(25));
	bson_t *d3 = BCON_NEW("_id", BCON_INT32(3), "name", BCON_UTF8("cy"), "age", BCON_INT32(41));
	const bson_t *many[] = {d2, d3};
	bool ok = mongoc_collection_insert_one(coll, one, NULL, NULL, &err);

	if (!ok)
		crud_fail("insert_one", &err);
	else if (!(ok = mongoc_collection_insert_many(coll, many, 2, NULL, NULL, &err)))
		crud_fail("insert_many", &err);
	bson_destroy(one);
	bson_destroy(d2);
	bson_destroy(d3);
	if (!ok)
		return false;
	if (crud_count(coll, "{\"age\": {\"$gte\": 30}}", NULL) != 2)
		return crud_fail("find age >= 30 should match 2 documents", NULL);
	return true;
}

/* A duplicate _id must fail with the server's E11000 (code 11000). */
static bool crud_duplicate(mongoc_collection_t *coll)
{
	bson_error_t err;
	bson_t reply;
	bson_t *dup = BCON_NEW("_id", BCON_INT32(1), "name", BCON_UTF8("dup"));
	bool ok = mongoc_collection_insert_one(coll, dup, NULL, &reply, &err);

	bson_destroy(dup);
	bson_destroy(&reply);
	if (ok)
		return crud_fail("duplicate _id was accepted", NULL);
	if (err.code != 11000)
		return crud_fail("duplicate _id did not give code 11000", &err);
	return true;
}

/* Apply update to the document selected by filter; check matched/upserted. */
static bool crud_update(mongoc_collection_t *coll, bson_t *filter, bson_t *update, bool upsert,
			const char *counter, int64_t want)
{
	bson_error_t err;
	bson_t reply;
	bson_t *opts = BCON_NEW("upsert", BCON_BOOL(upsert));
	bool ok = mongoc_collection_update_one(coll, filter, update, opts, &reply, &err);

	if (!ok)
		crud_fail("update_one", &err);
	else if (crud_get_int(&reply, counter) != want)
		ok = crud_fail(counter, NULL);
	bson_destroy(&reply);
	bson_destroy(opts);
	bson_destroy(filter);
	bson_destroy(update);
	return ok;
}

/* $set, $inc, an upsert, a replace and two deletes, checked by counting. */
static bool crud_modify(mongoc_collection_t *coll)
{
	bson_error_t err;
	bson_t *sel, *repl;
	bool ok;

	if (!crud_update(coll, BCON_NEW("_id", BCON_INT32(2)),
			 BCON_NEW("$set", "{", "age", BCON_INT32(26), "}"), false, "modifiedCount", 1) ||
	    !crud_update(coll, BCON_NEW("_id", BCON_INT32(3)),
			 BCON_NEW("$inc", "{", "age", BCON_INT32(1), "}"), false, "modifiedCount", 1) ||
	    !crud_update(coll, BCON_NEW("_id", BCON_INT32(4)),
			 BCON_NEW("$set", "{", "name", BCON_UTF8("dee"), "age", BCON_INT32(30), "}"),
			 true, "upsertedCount", 1))
		return false;
	if (crud_count(coll, "{\"_id\": 3, \"age\": 42}", NULL) != 1)
		return crud_fail("$inc did not apply", NULL);
	sel = BCON_NEW("_id", BCON_INT32(4));
	repl = BCON_NEW("name", BCON_UTF8("dee"), "age", BCON_INT32(52));
	ok = mongoc_collection_replace_one(coll, sel, repl, NULL, NULL, &err);
	bson_destroy(repl);
	if (!ok) {
		bson_destroy(sel);
		return crud_fail("replace_one", &err);
	}
	ok = mongoc_collection_delete_one(coll, sel, NULL, NULL, &err);
	bson_destroy(sel);
	if (!ok)
		return crud_fail("delete_one", &err);
	if (crud_count(coll, "{}", NULL) != 3)
		return crud_fail("3 documents should remain after delete_one", NULL);
	sel = BCON_NEW("age", "{", "$lt", BCON_INT32(40), "}");
	ok = mongoc_collection_delete_many(coll, sel, NULL, NULL, &err);
	bson_destroy(sel);
	if (!ok)
		return crud_fail("delete_many", &err);
	return crud_count(coll, "{}", NULL) == 1 ? true : crud_fail("delete_many left wrong count", NULL);
}

static bool crud_run_crud(struct crud_ctx *ctx)
{
	mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "people");
	bool ok = crud_insert_find(coll) && crud_duplicate(coll) && crud_modify(coll);

	mongoc_collection_destroy(coll);
	return ok;
}

static bool crud_fill(mongoc_collection_t *coll)
{
	bson_t *docs[CRUD_DOCS];
	bson_error_t err;
	bool ok;

	for (int i = 0; i < CRUD_DOCS; i++)
		docs[i] = BCON_NEW("_id", BCON_INT32(i), "n", BCON_INT32(i), "grp", BCON_INT32(i % 3));
	ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, CRUD_DOCS, NULL, NULL, &err);
	for (int i = 0; i < CRUD_DOCS; i++)
		bson_destroy(docs[i]);
	return ok ? true : crud_fail("insert_many for the cursor", &err);
}

/* Iterate a find with a small batchSize: every document, in order, over
 * at least ceil(docs/batch) - 1 getMore commands. */
static bool crud_run_cursor(struct crud_ctx *ctx, int *docs_seen)
{
	mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "items");
	bson_t *filter = bson_new();
	bson_t *opts = BCON_NEW("batchSize", BCON_INT32(CRUD_BATCH), "sort", "{", "_id", BCON_INT32(1), "}");
	mongoc_cursor_t *cur = NULL;
	const bson_t *doc;
	bson_error_t err;
	int before = ctx->getmores, n = 0;
	bool ok = crud_fill(coll);

	if (ok) {
		cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
		while (ok && mongoc_cursor_next(cur, &doc))
			if (crud_get_int(doc, "_id") != n++)
				ok = crud_fail("cursor out of order", NULL);
		if (mongoc_cursor_error(cur, &err))
			ok = crud_fail("cursor", &err);
		mongoc_cursor_destroy(cur);
	}
	if (ok && n != CRUD_DOCS)
		ok = crud_fail("cursor did not return every document", NULL);
	if (ok && ctx->getmores - before < (CRUD_DOCS + CRUD_BATCH - 1) / CRUD_BATCH - 1)
		ok = crud_fail("cursor used too few getMore commands", NULL);
	if (ok && crud_count(coll, "{\"grp\": 1}", NULL) != (CRUD_DOCS + 1) / 3)
		ok = crud_fail("count_documents grp=1", NULL);
	*docs_seen = n;
	bson_destroy(filter);
	bson_destroy(opts);
	mongoc_collection_destroy(coll);
	return ok;
}

/* Insert, update and read back inside an explicit session. */
static bool crud_run_session(struct crud_ctx *ctx)
{
	mongoc_collection_t *coll = mongoc_database_get_collection(ctx->db, "sess");
	bson_t opts = BSON_INITIALIZER;
	bson_t *doc = BCON_NEW("_id", BCON_UTF8("s1"), "v", BCON_INT32(1));
	bson_error_t err;
	mongoc_client_session_t *s = mongoc_client_start_session(ctx->client, NULL, &err);
	bool ok = s != NULL;

	if (!ok)
		crud_fail("start_session", &err);
	if (ok && !(ok = mongoc_client_session_append(s, &opts, &err)))
		crud_fail("session_append", &err);
	if (ok && !(ok = mongoc_collection_insert_one(coll, doc, &opts, NULL, &err)))
		crud_fail("insert_one in a session", &err);
	if (ok && crud_count(coll, "{\"_id\": \"s1\", \"v\": 1}", &opts) != 1)
		ok = crud_fail("read in the session did not see the insert", NULL);
	if (s != NULL)
		mongoc_client_session_destroy(s);
	bson_destroy(&opts);
	bson_destroy(doc);
	mongoc_collection_destroy(coll);
	return ok;
}

/* One insert inside a transaction on session s, then commit or abort. */
static bool crud_txn_one(mongoc_collection_t *coll, mongoc_client_session_t *s, const char *id,
			 bool commit)
{
	bson_t opts = BSON_INITIALIZER;
	bson_t *doc = BCON_NEW("_id", BCON_UTF8(id));
	bson_error_t err;
	bool ok = mongoc_client_session_start_transaction(s, NULL, &err);

	if (!ok)
		crud_fail("start_transaction", &err);
	if (ok && !(ok = mongoc_client_session_append(s, &opts, &err)))
		crud_fail("session_append", &err);
	if (ok && !(ok = mongoc_collection_insert_one(coll, doc, &opts, NULL, &err)))
		crud_fail("insert_one in a transaction", &err);
	if (ok && commit && !(ok = mongoc_client_session_commit_transaction(s, NULL, &err)))
		crud_fail("commit_transaction", &err);
	if (ok && !commit && !(ok = mongoc_client_session_abort_transaction(s, &err)))
		crud_fail("abort_transaction", &err);
	bson_destroy(&opts);
	bson_destroy(doc);
	return ok;
}

/* A committed transaction is visible afterwards, an aborted one is not. */
static bool crud_run_txn(struct crud_ctx *ctx)
{
	mongoc_collection_t *coll;
	bson_error_t err;
	mongoc_client_session_t *s;
	bool ok;

	/* Create the collection first: old servers cannot create it in a transaction. */
	coll = mongoc_database_create_collection(ctx->db, "txn", NULL, &err);
	if (coll == NULL)
		coll = mongoc_database_get_collection(ctx->db, "txn");
	s = mongoc_client_start_session(ctx->client, NULL, &err);
	ok = s != NULL ? true : crud_fail("start_session", &err);
	ok = ok && crud_txn_one(coll, s, "committed", true) && crud_txn_one(coll, s, "aborted", false);
	if (s != NULL)
		mongoc_client_session_destroy(s);
	if (ok && crud_count(coll, "{\"_id\": \"committed\"}", NULL) != 1)
		ok = crud_fail("committed transaction is not visible", NULL);
	if (ok && crud_count(coll, "{\"_id\": \"aborted\"}", NULL) != 0)
		ok = crud_fail("aborted transaction is visible", NULL);
	mongoc_collection_destroy(coll);
	return ok;
}

static bool crud_drop(struct crud_ctx *ctx)
{
	bson_error_t err;

	if (!mongoc_database_drop(ctx->db, &err) && err.code != 26 /* NamespaceNotFound */)
		return crud_fail("drop database", &err);
	return true;
}

/* Print "servers=h1:p1,h2:p2": every server the driver's topology knows. */
static void crud_print_servers(mongoc_client_t *client)
{
	size_t n = 0;
	mongoc_server_description_t **sds = mongoc_client_get_server_descriptions(client, &n);

	printf(" servers=");
	for (size_t i = 0; i < n; i++) {
		const mongoc_host_list_t *h = mongoc_server_description_host(sds[i]);

		printf("%s%s", i ? "," : "", h->host_and_port);
	}
	mongoc_server_descriptions_destroy_all(sds, n);
}

static bool crud_run_all(struct crud_ctx *ctx, bool rs)
{
	int docs = 0;
	bool ok = crud_drop(ctx) && crud_run_crud(ctx) && crud_run_cursor(ctx, &docs) &&
		  crud_run_session(ctx) && (!rs || crud_run_txn(ctx)) && crud_drop(ctx);

	if (ok) {
		printf("ok getmores=%d docs=%d", ctx->getmores, docs);
		crud_print_servers(ctx->client);
		printf("\n");
	}
	return ok;
}

/* Build the client with the APM callback counting getMores into ctx. */
static bool crud_connect(struct crud_ctx *ctx, const char *uri_str)
{
	bson_error_t err;
	mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_str, &err);
	mongoc_apm_callbacks_t *cbs;

	if (uri == NULL)
		return crud_fail("bad URI", &err);
	ctx->client = mongoc_client_new_from_uri_with_error(uri, &err);
	mongoc_uri_destroy(uri);
	if (ctx->client == NULL)
		return crud_fail("client", &err);
	mongoc_client_set_error_api(ctx->client, MONGOC_ERROR_API_VERSION_2);
	cbs = mongoc_apm_callbacks_new();
	mongoc_apm_set_command_started_cb(cbs, crud_on_command_started);
	mongoc_client_set_apm_callbacks(ctx->client, cbs, ctx);
	mongoc_apm_callbacks_destroy(cbs);
	ctx->db = mongoc_client_get_database(ctx->client, ctx->db_name);
	return true;
}

int main(int argc, char **argv)
{
	struct crud_ctx ctx = {.db_name = "tandem_mongoc"};
	const char *uri = NULL;
	bool rs = false, bad_usage = false, ok;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rs") == 0)
			rs = true;
		else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			ctx.db_name = argv[++i];
		else if (uri == NULL)
			uri = argv[i];
		else
			bad_usage = true;
	}
	if (uri == NULL || bad_usage) {
		fprintf(stderr, "usage: mongoc_crud URI [--db NAME] [--rs]\n");
		return 2;
	}
	mongoc_init();
	ok = crud_connect(&ctx, uri) && crud_run_all(&ctx, rs);
	if (ctx.db != NULL)
		mongoc_database_destroy(ctx.db);
	if (ctx.client != NULL)
		mongoc_client_destroy(ctx.client);
	mongoc_cleanup();
	return ok ? 0 : 1;
}
