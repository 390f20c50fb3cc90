/*
 * tenant.c - tenant resolution (tenant.h).  For now the tenant is the
 * database name; the config section is the next step.
 */
#include "tenant.h"

#include <stdio.h>
#include <string.h>

bool tenant_start(const struct cfg *cfg, char *err, size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	return true;
}

void tenant_stop(void)
{
}

bool tenant_needs_command(void)
{
	return false;
}

enum tenant_status tenant_resolve(const char *db, const bson_t *cmd, char *out, size_t outlen)
{
	(void)cmd;
	if (!db[0] || strlen(db) >= outlen) {
		if (outlen)
			out[0] = '\0';
		return TENANT_UNRESOLVED;
	}
	snprintf(out, outlen, "%s", db);
	return TENANT_MATCHED;
}
