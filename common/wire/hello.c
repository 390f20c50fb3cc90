/*
 * hello.c - rewrite replica-set topology in hello replies (see hello.h).
 */
#include "hello.h"

#include <string.h>

bool hello_is_hello(const char *command)
{
	return strcmp(command, "hello") == 0 || strcmp(command, "isMaster") == 0 ||
	       strcmp(command, "ismaster") == 0;
}

/* Does the reply say it is the writable primary (hello or legacy field)? */
static bool hello_is_writable(const bson_t *reply)
{
	bson_iter_t it;

	if (bson_iter_init_find(&it, reply, "isWritablePrimary") && BSON_ITER_HOLDS_BOOL(&it))
		return bson_iter_bool(&it);
	if (bson_iter_init_find(&it, reply, "ismaster") && BSON_ITER_HOLDS_BOOL(&it))
		return bson_iter_bool(&it);
	return false;
}

static bool hello_has_topology(const bson_t *reply)
{
	return bson_has_field(reply, "hosts") || bson_has_field(reply, "setName") ||
	       bson_has_field(reply, "me") || bson_has_field(reply, "primary");
}

bool hello_rewrite(const bson_t *reply, const char *advertise, bson_t *out)
{
	bson_iter_t it;

	if (!hello_has_topology(reply) || !bson_iter_init(&it, reply))
		return false;

	bool writable = hello_is_writable(reply);
	bool wrote_hosts = false;

	bson_init(out);
	while (bson_iter_next(&it)) {
		const char *key = bson_iter_key(&it);

		if (strcmp(key, "hosts") == 0) {
			bson_t arr;
			BSON_APPEND_ARRAY_BEGIN(out, "hosts", &arr);
			BSON_APPEND_UTF8(&arr, "0", advertise);
			bson_append_array_end(out, &arr);
			wrote_hosts = true;
		} else if (strcmp(key, "me") == 0) {
			BSON_APPEND_UTF8(out, "me", advertise);
		} else if (strcmp(key, "primary") == 0) {
			if (writable)
				BSON_APPEND_UTF8(out, "primary", advertise);
		} else if (strcmp(key, "passives") == 0 || strcmp(key, "arbiters") == 0) {
			continue;
		} else {
			bson_append_iter(out, key, -1, &it);
		}
	}
	/* A member that lists no hosts (e.g. in startup) still gets tandem's. */
	if (!wrote_hosts && bson_has_field(reply, "setName")) {
		bson_t arr;
		BSON_APPEND_ARRAY_BEGIN(out, "hosts", &arr);
		BSON_APPEND_UTF8(&arr, "0", advertise);
		bson_append_array_end(out, &arr);
	}
	return true;
}
