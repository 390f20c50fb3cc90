/*
 * tenant.h - which tenant a request belongs to (config `tenant:`, see
 * ../shared/BRIEF.md): from the database name (optionally through a regex
 * with one capture group), or from a field of the filter / documents.
 * Unmatched requests get the configured default tenant; a request that
 * cannot be resolved (field mode: no tenant or several) is UNRESOLVED and
 * goes to MongoDB only (counted).
 *
 * Storage is not affected: rows stay keyed by database name; the tenant
 * selects the flags (tandem:tenant:<tenant>).
 *
 * Thread-safe after tenant_start; never allocates on a request's path.
 */
#ifndef TANDEM_TENANT_H
#define TANDEM_TENANT_H

#include <stdbool.h>
#include <stddef.h>

#include <bson/bson.h>

struct cfg;

enum tenant_status {
	TENANT_MATCHED,    /* the rule found it */
	TENANT_DEFAULT,    /* no match: the configured default tenant */
	TENANT_UNRESOLVED, /* no tenant: MongoDB only */
};

/* Read the config's tenant: section (cfg NULL or no section: the tenant is
 * the database name).  A bad section is an error naming the key. */
bool tenant_start(const struct cfg *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void tenant_stop(void);

/* Whether tenant_resolve needs the command document (field mode). */
bool tenant_needs_command(void);

/* The tenant of a request on db with command body cmd (may be NULL when
 * only the database is known; field mode then answers UNRESOLVED).  out
 * gets the name, NUL-terminated (outlen > FLAGS_TENANT_NAME_MAX). */
enum tenant_status tenant_resolve(const char *db, const bson_t *cmd, char *out, size_t outlen);

#endif
