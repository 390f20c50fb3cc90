/*
 * authz.h - whether MongoDB has authorized a client connection for an
 * action on a namespace, asked of MongoDB itself on the connection's own
 * upstream connection (not a copy of its rules).  tandem answers from
 * PostgreSQL (served reads, pg_primary / pg_only writes) only on ALLOW;
 * DENY and UNKNOWN go to MongoDB, which answers (or refuses) itself.
 */
#ifndef TANDEM_AUTHZ_H
#define TANDEM_AUTHZ_H

struct client;

enum authz_answer { AUTHZ_ALLOW, AUTHZ_DENY, AUTHZ_UNKNOWN };
enum authz_action { AUTHZ_FIND, AUTHZ_INSERT, AUTHZ_UPDATE, AUTHZ_REMOVE };

/* For now: ALLOW (the privilege check is the next step). */
enum authz_answer authz_check(const struct client *c, const char *db, const char *coll,
			      enum authz_action action);

#endif
