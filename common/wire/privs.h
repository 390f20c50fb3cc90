/*
 * privs.h - a connection's privileges as MongoDB reports them, and the
 * decision "may this connection do action A on db.coll".
 *
 * The input is the body of MongoDB's reply to
 *   {connectionStatus: 1, showPrivileges: true}
 *   -> {authInfo: {authenticatedUsers: [{user, db}], authenticatedUserRoles: [...],
 *                  authenticatedUserPrivileges: [{resource: {...}, actions: [...]}]}, ok: 1}
 * untrusted bytes from the upstream.  Only what tandem decides on is kept:
 * the resources that name a namespace pattern (or anyResource) with at
 * least one of the actions find / insert / update / remove (or anyAction).
 * Resource shapes tandem does not know (cluster, system_buckets, ...) are
 * skipped: a privilege tandem ignores can only make it send a request to
 * MongoDB, never answer one itself.
 *
 * Invariants: at most PRIVS_MAX entries are kept (more, a name past
 * MongoDB's limits, or a malformed reply: privs_parse fails and the caller
 * treats the connection as UNKNOWN); the strings live in the entry.
 * Matching follows mongod's resource patterns:
 *   {db: "", collection: ""}   every normal collection of every database
 *   {db: "D", collection: ""}  every normal collection of D
 *   {db: "", collection: "C"}  C in every database
 *   {db: "D", collection: "C"} D.C
 *   {anyResource: true}        everything
 * "Normal" excludes collections named system.* (mongod's rule).
 */
#ifndef TANDEM_PRIVS_H
#define TANDEM_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

/* Action bits tandem decides on. */
#define PRIV_FIND 0x1u
#define PRIV_INSERT 0x2u
#define PRIV_UPDATE 0x4u
#define PRIV_REMOVE 0x8u
#define PRIV_ALL (PRIV_FIND | PRIV_INSERT | PRIV_UPDATE | PRIV_REMOVE)

/* Privilege entries kept per connection (mongod's root has a few dozen). */
#define PRIVS_MAX 128
/* MongoDB's limits: database names < 64 bytes, namespaces <= 255. */
#define PRIVS_DB_MAX 64
#define PRIVS_COLL_MAX 255

struct priv {
	bool any_resource;
	unsigned actions;                 /* PRIV_* bits */
	char db[PRIVS_DB_MAX + 1];        /* "" = any database */
	char *coll;                       /* owned; "" = any normal collection */
};

struct privs {
	bool authenticated;               /* authenticatedUsers is not empty */
	unsigned n;
	struct priv *e;                   /* owned, n entries */
};

/* Parse the body of a connectionStatus reply into *out (initialised either
 * way; privs_free it).  False for ok != 1, a malformed authInfo, a name past
 * the limits or more than PRIVS_MAX relevant privileges. */
bool privs_parse(const bson_t *reply, struct privs *out) __attribute__((warn_unused_result));

/* Whether privileges p grant every action in the PRIV_* bits of actions on
 * db.coll. */
bool privs_allow(const struct privs *p, const char *db, const char *coll, unsigned actions);

void privs_free(struct privs *p);

#endif
