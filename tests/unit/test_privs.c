/*
 * test_privs.c - a connectionStatus reply into privileges (privs.h), the
 * decisions over them, and which replies change authentication (authev.h).
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "authev.h"
#include "privs.h"

/* mongod 7's answer for a user with read on "acme" and readWrite on "beta". */
static bson_t *status_reply(void)
{
	return BCON_NEW(
		"authInfo", "{",
		"authenticatedUsers", "[", "{", "user", "u", "db", "admin", "}", "]",
		"authenticatedUserRoles", "[", "{", "role", "read", "db", "acme", "}", "]",
		"authenticatedUserPrivileges", "[",
		"{", "resource", "{", "db", "acme", "collection", "", "}",
		"actions", "[", "collStats", "dbStats", "find", "killCursors", "listCollections", "]", "}",
		"{", "resource", "{", "db", "beta", "collection", "", "}",
		"actions", "[", "find", "insert", "remove", "update", "createIndex", "]", "}",
		"{", "resource", "{", "db", "acme", "collection", "system.js", "}",
		"actions", "[", "find", "]", "}",
		"{", "resource", "{", "cluster", BCON_BOOL(true), "}", "actions", "[", "find", "]", "}",
		"{", "resource", "{", "db", "gamma", "collection", "logs", "}",
		"actions", "[", "insert", "]", "}",
		"]", "}", "ok", BCON_DOUBLE(1));
}

Test(privs, parses_what_mongod_answers)
{
	bson_t *r = status_reply();
	struct privs p;

	cr_assert(privs_parse(r, &p));
	cr_assert(p.authenticated);
	cr_assert_eq(p.n, 4, "cluster resources are skipped, got %u", p.n);
	privs_free(&p);
	bson_destroy(r);
}

Test(privs, decides_by_resource_pattern)
{
	bson_t *r = status_reply();
	struct privs p;

	cr_assert(privs_parse(r, &p));
	cr_assert(privs_allow(&p, "acme", "users", PRIV_FIND));
	cr_assert_not(privs_allow(&p, "acme", "users", PRIV_INSERT));
	cr_assert_not(privs_allow(&p, "acme", "system.users", PRIV_FIND), "system.* is not normal");
	cr_assert(privs_allow(&p, "acme", "system.js", PRIV_FIND));
	cr_assert(privs_allow(&p, "beta", "x", PRIV_FIND | PRIV_UPDATE | PRIV_INSERT));
	cr_assert_not(privs_allow(&p, "other", "x", PRIV_FIND));
	cr_assert(privs_allow(&p, "gamma", "logs", PRIV_INSERT));
	cr_assert_not(privs_allow(&p, "gamma", "logs", PRIV_INSERT | PRIV_FIND));
	cr_assert_not(privs_allow(&p, "gamma", "other", PRIV_INSERT));
	cr_assert_not(privs_allow(&p, "acme", "", PRIV_FIND));
	cr_assert_not(privs_allow(&p, NULL, "users", PRIV_FIND));
	privs_free(&p);
	bson_destroy(r);
}

Test(privs, any_database_and_any_resource)
{
	bson_t *r = BCON_NEW("authInfo", "{", "authenticatedUsers", "[", "{", "user", "root", "db",
			     "admin", "}", "]", "authenticatedUserPrivileges", "[", "{", "resource",
			     "{", "db", "", "collection", "", "}", "actions", "[", "find", "]", "}",
			     "{", "resource", "{", "anyResource", BCON_BOOL(true), "}", "actions", "[",
			     "anyAction", "]", "}", "]", "}", "ok", BCON_INT32(1));
	struct privs p;

	cr_assert(privs_parse(r, &p));
	cr_assert(privs_allow(&p, "any", "thing", PRIV_ALL));
	cr_assert(privs_allow(&p, "any", "system.x", PRIV_REMOVE));
	privs_free(&p);
	bson_destroy(r);
}

Test(privs, unauthenticated_has_nothing)
{
	bson_t *r = BCON_NEW("authInfo", "{", "authenticatedUsers", "[", "]",
			     "authenticatedUserRoles", "[", "]", "authenticatedUserPrivileges", "[",
			     "]", "}", "ok", BCON_DOUBLE(1));
	struct privs p;

	cr_assert(privs_parse(r, &p));
	cr_assert_not(p.authenticated);
	cr_assert_not(privs_allow(&p, "acme", "users", PRIV_FIND));
	privs_free(&p);
	bson_destroy(r);
}

Test(privs, malformed_replies_fail)
{
	const char *bad[] = {
		"{\"ok\": 0, \"errmsg\": \"x\"}",
		"{\"ok\": 1}",
		"{\"ok\": 1, \"authInfo\": 5}",
		"{\"ok\": 1, \"authInfo\": {\"authenticatedUsers\": []}}",
		"{\"ok\": 1, \"authInfo\": {\"authenticatedUsers\": [], \"authenticatedUserPrivileges\": {}}}",
		"{\"ok\": 1, \"authInfo\": {\"authenticatedUsers\": [], \"authenticatedUserPrivileges\": [5]}}",
		"{\"ok\": 1, \"authInfo\": {\"authenticatedUsers\": [], \"authenticatedUserPrivileges\": "
		"[{\"resource\": {\"db\": 1, \"collection\": \"\"}, \"actions\": [\"find\"]}]}}",
		"{\"ok\": 1, \"authInfo\": {\"authenticatedUsers\": [], \"authenticatedUserPrivileges\": "
		"[{\"resource\": {\"db\": \"a\", \"collection\": \"\"}, \"actions\": \"find\"}]}}",
		"{\"ok\": 1, \"authInfo\": {\"authenticatedUsers\": [], \"authenticatedUserPrivileges\": "
		"[{\"resource\": {\"db\": \"a\", \"collection\": \"\"}, \"actions\": [1]}]}}",
		"{\"ok\": 1, \"authInfo\": {\"authenticatedUsers\": [], \"authenticatedUserPrivileges\": "
		"[{\"actions\": [\"find\"]}]}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bson_error_t e;
		bson_t *r = bson_new_from_json((const uint8_t *)bad[i], -1, &e);
		struct privs p;
		cr_assert(r, "fixture %zu: %s", i, e.message);
		cr_assert_not(privs_parse(r, &p), "fixture %zu parsed", i);
		cr_assert_eq(p.n, 0);
		privs_free(&p);
		bson_destroy(r);
	}
}

/* A reply with n privileges on databases d0, d1, ... */
static bson_t *many(unsigned n, size_t dblen)
{
	bson_t *r = bson_new(), auth, users, arr;
	char key[16], db[300];

	memset(db, 'd', dblen);
	db[dblen] = '\0';
	BSON_APPEND_DOCUMENT_BEGIN(r, "authInfo", &auth);
	BSON_APPEND_ARRAY_BEGIN(&auth, "authenticatedUsers", &users);
	bson_append_array_end(&auth, &users);
	BSON_APPEND_ARRAY_BEGIN(&auth, "authenticatedUserPrivileges", &arr);
	for (unsigned i = 0; i < n; i++) {
		bson_t pr, res, acts;
		snprintf(key, sizeof(key), "%u", i);
		BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &pr);
		BSON_APPEND_DOCUMENT_BEGIN(&pr, "resource", &res);
		BSON_APPEND_UTF8(&res, "db", db);
		BSON_APPEND_UTF8(&res, "collection", "");
		bson_append_document_end(&pr, &res);
		BSON_APPEND_ARRAY_BEGIN(&pr, "actions", &acts);
		BSON_APPEND_UTF8(&acts, "0", "find");
		bson_append_array_end(&pr, &acts);
		bson_append_document_end(&arr, &pr);
	}
	bson_append_array_end(&auth, &arr);
	bson_append_document_end(r, &auth);
	BSON_APPEND_INT32(r, "ok", 1);
	return r;
}

Test(privs, bounded)
{
	struct privs p;
	bson_t *r = many(PRIVS_MAX, 8);

	cr_assert(privs_parse(r, &p));
	cr_assert_eq(p.n, PRIVS_MAX);
	privs_free(&p);
	bson_destroy(r);
	r = many(PRIVS_MAX + 1, 8);
	cr_assert_not(privs_parse(r, &p), "past the cap: unknown, not truncated");
	bson_destroy(r);
	r = many(1, PRIVS_DB_MAX + 1);
	cr_assert_not(privs_parse(r, &p), "a database name past MongoDB's limit");
	bson_destroy(r);
}

Test(authev, sasl_completes_on_done)
{
	bson_t *step = BCON_NEW("conversationId", BCON_INT32(1), "done", BCON_BOOL(false), "ok",
				BCON_DOUBLE(1));
	bson_t *done = BCON_NEW("conversationId", BCON_INT32(1), "done", BCON_BOOL(true), "ok",
				BCON_DOUBLE(1));
	bson_t *failed = BCON_NEW("ok", BCON_DOUBLE(0), "code", BCON_INT32(18), "done",
				  BCON_BOOL(true));

	cr_assert_eq(authev_of_command("saslContinue"), AUTHEV_SASL);
	cr_assert_eq(authev_of_command("find"), AUTHEV_NONE);
	cr_assert_eq(authev_of_command(""), AUTHEV_NONE);
	cr_assert_not(authev_reply_changes(AUTHEV_SASL, step));
	cr_assert(authev_reply_changes(AUTHEV_SASL, done));
	cr_assert_not(authev_reply_changes(AUTHEV_SASL, failed));
	cr_assert(authev_reply_changes(AUTHEV_LOGOUT, done));
	cr_assert_not(authev_reply_changes(AUTHEV_NONE, done));
	bson_destroy(step);
	bson_destroy(done);
	bson_destroy(failed);
}

Test(authev, speculative_in_hello)
{
	bson_t *plain = BCON_NEW("isWritablePrimary", BCON_BOOL(true), "ok", BCON_DOUBLE(1));
	bson_t *scram = BCON_NEW("speculativeAuthenticate", "{", "conversationId", BCON_INT32(1),
				 "done", BCON_BOOL(false), "}", "ok", BCON_DOUBLE(1));
	bson_t *x509 = BCON_NEW("speculativeAuthenticate", "{", "dbname", "$external", "user",
				"CN=client", "}", "ok", BCON_DOUBLE(1));

	cr_assert_eq(authev_of_command("isMaster"), AUTHEV_HELLO);
	cr_assert_not(authev_reply_changes(AUTHEV_HELLO, plain));
	cr_assert_not(authev_reply_changes(AUTHEV_HELLO, scram));
	cr_assert(authev_reply_changes(AUTHEV_HELLO, x509));
	bson_destroy(plain);
	bson_destroy(scram);
	bson_destroy(x509);
}
