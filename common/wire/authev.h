/*
 * authev.h - which messages change a connection's authentication, read
 * from the command's name and MongoDB's reply (pure; no state).
 *
 *   request                       reply that completes it (ok: 1)
 *   saslStart / saslContinue      done: true
 *   authenticate (X.509)          any
 *   logout                        any
 *   hello / isMaster              speculativeAuthenticate with done: true, or
 *                                 X.509's {dbname, user} (no conversationId)
 *
 * The caller asks MongoDB for the connection's privileges after such a reply
 * (authz.c); nothing here decides what the connection may do.
 */
#ifndef TANDEM_AUTHEV_H
#define TANDEM_AUTHEV_H

#include <stdbool.h>

#include <bson/bson.h>

enum authev_kind {
	AUTHEV_NONE,      /* cannot change the authentication */
	AUTHEV_SASL,      /* saslStart / saslContinue */
	AUTHEV_X509,      /* authenticate */
	AUTHEV_LOGOUT,
	AUTHEV_HELLO,     /* may carry speculativeAuthenticate */
};

/* The kind of a request by its command name ("" / NULL: AUTHEV_NONE). */
enum authev_kind authev_of_command(const char *command);

/* Whether MongoDB's reply (its body) to a request of kind k means the
 * connection's authentication changed (completed, or logged out). */
bool authev_reply_changes(enum authev_kind k, const bson_t *reply);

#endif
