/*
 * fuzz_privs.c - libFuzzer target for what tandem reads from MongoDB's
 * replies about a connection's authorization (common/wire/privs.c,
 * authev.c): the input, when it is valid BSON, is parsed as a
 * connectionStatus reply and as the reply to every authentication command.
 *
 * Traps (__builtin_trap) when a successful parse breaks an invariant: more
 * than PRIVS_MAX entries, a name past MongoDB's limits, an entry without a
 * resource, a decision that grants what no entry names.
 */
#include <string.h>

#include "authev.h"
#include "privs.h"

#define FUZZ_CHECK(cond)                 \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

static void check_privs(const struct privs *p)
{
	FUZZ_CHECK(p->n <= PRIVS_MAX);
	for (unsigned i = 0; i < p->n; i++) {
		const struct priv *e = &p->e[i];
		FUZZ_CHECK(e->actions != 0 && (e->actions & ~PRIV_ALL) == 0);
		FUZZ_CHECK(strlen(e->db) <= PRIVS_DB_MAX);
		FUZZ_CHECK(e->any_resource || (e->coll && strlen(e->coll) <= PRIVS_COLL_MAX));
	}
	if (p->n == 0)
		FUZZ_CHECK(!privs_allow(p, "acme", "users", PRIV_FIND));
	(void)privs_allow(p, "acme", "users", PRIV_ALL);
	(void)privs_allow(p, "acme", "system.users", PRIV_INSERT);
	FUZZ_CHECK(!privs_allow(p, "acme", "", PRIV_FIND));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bson_t doc;
	struct privs p;

	if (!bson_init_static(&doc, data, size) || !bson_validate(&doc, BSON_VALIDATE_NONE, NULL))
		return 0;
	if (privs_parse(&doc, &p))
		check_privs(&p);
	else
		FUZZ_CHECK(p.n == 0 && p.e == NULL);
	privs_free(&p);
	for (int k = AUTHEV_NONE; k <= AUTHEV_HELLO; k++)
		(void)authev_reply_changes((enum authev_kind)k, &doc);
	return 0;
}
