/*
 * authev.c - which replies change a connection's authentication (authev.h).
 * Every field is type-checked before it is read.
 */
#include "authev.h"

#include <string.h>

enum authev_kind authev_of_command(const char *command)
{
	if (!command || !command[0])
		return AUTHEV_NONE;
	if (strcmp(command, "saslStart") == 0 || strcmp(command, "saslContinue") == 0)
		return AUTHEV_SASL;
	if (strcmp(command, "authenticate") == 0)
		return AUTHEV_X509;
	if (strcmp(command, "logout") == 0)
		return AUTHEV_LOGOUT;
	if (strcmp(command, "hello") == 0 || strcmp(command, "isMaster") == 0 ||
	    strcmp(command, "ismaster") == 0)
		return AUTHEV_HELLO;
	return AUTHEV_NONE;
}

static bool field_true(const bson_t *doc, const char *key)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, doc, key) &&
	       (BSON_ITER_HOLDS_BOOL(&it) || BSON_ITER_HOLDS_NUMBER(&it)) && bson_iter_as_bool(&it);
}

static bool ok_one(const bson_t *doc)
{
	bson_iter_t it;

	return bson_iter_init_find(&it, doc, "ok") && BSON_ITER_HOLDS_NUMBER(&it) &&
	       bson_iter_as_int64(&it) == 1;
}

/* hello's speculativeAuthenticate: a completed SCRAM step or X.509. */
static bool speculative_done(const bson_t *reply)
{
	bson_iter_t it;
	bson_t spec;
	const uint8_t *data;
	uint32_t len;

	if (!bson_iter_init_find(&it, reply, "speculativeAuthenticate") ||
	    !BSON_ITER_HOLDS_DOCUMENT(&it))
		return false;
	bson_iter_document(&it, &len, &data);
	if (!bson_init_static(&spec, data, len))
		return false;
	if (field_true(&spec, "done"))
		return true;
	return !bson_has_field(&spec, "conversationId") && bson_has_field(&spec, "user");
}

bool authev_reply_changes(enum authev_kind k, const bson_t *reply)
{
	if (k == AUTHEV_NONE || !ok_one(reply))
		return false;
	switch (k) {
	case AUTHEV_SASL:
		return field_true(reply, "done");
	case AUTHEV_HELLO:
		return speculative_done(reply);
	default:
		return true; /* authenticate, logout */
	}
}
