/*
 * tenant.h - which tenant a request belongs to (config `tenant:`, see
 * ../shared/BRIEF.md and docs/tenant.md).
 *
 *   from: database  the database name; with `regex:` (PCRE2, one capture
 *                   group) the capture, e.g. ^tenant_(.+)$ : tenant_acme -> acme
 *   from: field     the value of `field:` (default tenant_id) in the
 *                   command's filters / documents (tenant_field.c)
 *   default:        the tenant of requests the rule does not match
 *
 * Outcomes:
 *   MATCHED     the rule named the tenant;
 *   DEFAULT     database mode, the regex did not match, `default:` is set;
 *   UNRESOLVED  no tenant: database mode without a match and no default,
 *               field mode with no tenant, several, an unusable value, or
 *               too many statements.  Such a request is never served by
 *               PostgreSQL; out still names the flags that decide whether a
 *               write is captured for dual-write: the default tenant, or ""
 *               (flags_get("") answers tandem:defaults).
 * With no tenant: section the tenant is the database name (MATCHED).
 *
 * Storage is not affected: rows stay keyed by database name; the tenant
 * selects the flags (tandem:tenant:<tenant>) only.
 *
 * Thread-safe after tenant_start (the rules are read-only until
 * tenant_stop); never allocates on a request's path (a compressed request
 * in field mode excepted: it is decompressed once more).  Work is linear in
 * the command and capped at TENANT_SCAN_MAX statements.
 */
#ifndef TANDEM_TENANT_H
#define TANDEM_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

struct cfg;
struct msg_info;

/* Statements (documents, updates, deletes, bulkWrite ops) read at most;
 * mongod's own maxWriteBatchSize.  More: UNRESOLVED, too_large. */
#define TENANT_SCAN_MAX 100000u

enum tenant_status {
	TENANT_MATCHED,    /* the rule found it */
	TENANT_DEFAULT,    /* no match: the configured default tenant */
	TENANT_UNRESOLVED, /* no tenant: MongoDB only */
};

/* Why a request is UNRESOLVED (the label of tandem_tenant_unresolved_total). */
enum tenant_reason {
	TENANT_R_NONE,      /* no tenant named (a statement without one) */
	TENANT_R_SEVERAL,   /* two different tenants */
	TENANT_R_UNMATCHED, /* database mode: the regex did not match, no default */
	TENANT_R_INVALID,   /* the field's value is not a string, integer or ObjectId, or empty or too long */
	TENANT_R_TOO_LARGE, /* more than TENANT_SCAN_MAX statements */
	TENANT_R_COUNT
};

/* One kind-1 document sequence of an OP_MSG: its documents back to back,
 * already validated. */
struct tenant_seq {
	const char *id;
	const uint8_t *docs;
	size_t len;
};

/* Read the config's tenant: section (cfg NULL: the tenant is the database
 * name).  A bad section is a one-line error naming the key ("key
 * 'tenant.regex': ...").  Call before the workers start. */
bool tenant_start(const struct cfg *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void tenant_stop(void);

/* Whether tenant_resolve needs the command document (field mode). */
bool tenant_needs_command(void);

/* The tenant of a request on db with command body cmd (kind-1 sequences
 * merged in as arrays, as msgdoc_command gives it; may be NULL when only
 * the database is known: field mode then answers UNRESOLVED).  out gets
 * the name (see above), NUL-terminated; outlen > FLAGS_TENANT_NAME_MAX.
 * An UNRESOLVED answer is counted. */
enum tenant_status tenant_resolve(const char *db, const bson_t *cmd, char *out, size_t outlen);

/* The same for a whole request as received (msg[0..len), inspected into
 * info): in field mode the body and its sequences are read in place. */
enum tenant_status tenant_of_request(const struct msg_info *info, const uint8_t *msg, size_t len,
				     char *out, size_t outlen);

/* The same, not counted: for a read the router (shift/route.c) has already
 * resolved and counted (the shadow sampler). */
enum tenant_status tenant_peek_request(const struct msg_info *info, const uint8_t *msg, size_t len,
				       char *out, size_t outlen);

/* The rules without counting: the database part alone (field mode:
 * UNRESOLVED, none), for code that re-derives a tenant already counted. */
enum tenant_status tenant_of_db(const char *db, char *out, size_t outlen, enum tenant_reason *why);

/* Field mode over a body and its sequences (why: the reason when
 * UNRESOLVED; not counted). */
enum tenant_status tenant_of_parts(const bson_t *body, const struct tenant_seq *seq, size_t nseq,
				   char *out, size_t outlen, enum tenant_reason *why);

/* Count an UNRESOLVED request. */
void tenant_count_unresolved(enum tenant_reason why);

const char *tenant_reason_to_str(enum tenant_reason why);

#endif
