/*
 * privs.c - a connectionStatus reply into privileges, and decisions over
 * them (see privs.h).  Every field is checked for its type before it is
 * read; anything unexpected fails the whole parse (the caller then lets
 * MongoDB decide).
 */
#include "privs.h"

#include <stdlib.h>
#include <string.h>

void privs_free(struct privs *p)
{
	for (unsigned i = 0; i < p->n; i++)
		free(p->e[i].coll);
	free(p->e);
	memset(p, 0, sizeof(*p));
}

/* The PRIV_* bit of one action name (0: an action tandem does not decide on). */
static unsigned action_bit(const char *name)
{
	static const struct {
		const char *name;
		unsigned bit;
	} actions[] = {
		{"find", PRIV_FIND},     {"insert", PRIV_INSERT}, {"update", PRIV_UPDATE},
		{"remove", PRIV_REMOVE}, {"anyAction", PRIV_ALL},
	};

	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(name, actions[i].name) == 0)
			return actions[i].bit;
	return 0;
}

static bool parse_actions(const bson_iter_t *field, unsigned *bits)
{
	bson_iter_t it;

	*bits = 0;
	if (!BSON_ITER_HOLDS_ARRAY(field) || !bson_iter_recurse(field, &it))
		return false;
	while (bson_iter_next(&it)) {
		if (!BSON_ITER_HOLDS_UTF8(&it))
			return false;
		*bits |= action_bit(bson_iter_utf8(&it, NULL));
	}
	return true;
}

/* A string field of doc no longer than max; false when absent or not a string. */
static bool utf8_field(const bson_t *doc, const char *key, size_t max, const char **out)
{
	bson_iter_t it;
	uint32_t len;

	if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it))
		return false;
	*out = bson_iter_utf8(&it, &len);
	return len <= max && strlen(*out) == len;
}

enum res_kind { RES_SKIP, RES_KEEP, RES_BAD };

/* One resource document into e (db / coll / any_resource). */
static enum res_kind parse_resource(const bson_iter_t *field, struct priv *e)
{
	bson_t res;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	const char *db, *coll;

	if (!BSON_ITER_HOLDS_DOCUMENT(field))
		return RES_BAD;
	bson_iter_document(field, &len, &data);
	if (!bson_init_static(&res, data, len))
		return RES_BAD;
	if (bson_iter_init_find(&it, &res, "anyResource"))
		return bson_iter_as_bool(&it) ? (e->any_resource = true, RES_KEEP) : RES_SKIP;
	if (!bson_iter_init_find(&it, &res, "db"))
		return RES_SKIP; /* cluster, ... */
	if (!bson_iter_init_find(&it, &res, "collection"))
		return RES_SKIP; /* system_buckets, ... */
	if (!utf8_field(&res, "db", PRIVS_DB_MAX, &db) ||
	    !utf8_field(&res, "collection", PRIVS_COLL_MAX, &coll))
		return RES_BAD;
	snprintf(e->db, sizeof(e->db), "%s", db);
	e->coll = strdup(coll);
	return e->coll ? RES_KEEP : RES_BAD;
}

/* One element of authenticatedUserPrivileges; appended to out when kept. */
static bool parse_privilege(const bson_iter_t *elem, struct privs *out)
{
	bson_t doc;
	bson_iter_t it;
	const uint8_t *data;
	uint32_t len;
	struct priv e = {0};

	if (!BSON_ITER_HOLDS_DOCUMENT(elem))
		return false;
	bson_iter_document(elem, &len, &data);
	if (!bson_init_static(&doc, data, len) || !bson_iter_init_find(&it, &doc, "actions") ||
	    !parse_actions(&it, &e.actions) || !bson_iter_init_find(&it, &doc, "resource"))
		return false;
	enum res_kind k = parse_resource(&it, &e);
	if (k == RES_BAD) {
		free(e.coll);
		return false;
	}
	if (k == RES_SKIP || e.actions == 0) {
		free(e.coll);
		return true;
	}
	if (out->n == PRIVS_MAX) {
		free(e.coll);
		return false;
	}
	out->e[out->n++] = e;
	return true;
}

/* authInfo's field key must be an array; it into *arr. */
static bool find_array(const bson_iter_t *auth, const char *key, bson_iter_t *arr)
{
	bson_iter_t it;

	return bson_iter_recurse(auth, &it) && bson_iter_find(&it, key) &&
	       BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, arr);
}

bool privs_parse(const bson_t *reply, struct privs *out)
{
	bson_iter_t it, auth, arr;

	memset(out, 0, sizeof(*out));
	if (!bson_iter_init_find(&it, reply, "ok") || !BSON_ITER_HOLDS_NUMBER(&it) ||
	    bson_iter_as_int64(&it) != 1 || !bson_iter_init_find(&auth, reply, "authInfo") ||
	    !BSON_ITER_HOLDS_DOCUMENT(&auth))
		return false;
	if (!find_array(&auth, "authenticatedUsers", &arr))
		return false;
	out->authenticated = bson_iter_next(&arr);
	if (!find_array(&auth, "authenticatedUserPrivileges", &arr))
		return false;
	out->e = calloc(PRIVS_MAX, sizeof(*out->e));
	if (!out->e)
		return false;
	while (bson_iter_next(&arr))
		if (!parse_privilege(&arr, out)) {
			privs_free(out);
			return false;
		}
	if (out->n == 0) {
		free(out->e);
		out->e = NULL;
	} else {
		struct priv *shrunk = realloc(out->e, out->n * sizeof(*out->e));
		if (shrunk)
			out->e = shrunk;
	}
	return true;
}

static bool priv_matches(const struct priv *e, const char *db, const char *coll)
{
	if (e->any_resource)
		return true;
	if (e->db[0] && strcmp(e->db, db) != 0)
		return false;
	if (e->coll[0])
		return strcmp(e->coll, coll) == 0;
	return strncmp(coll, "system.", 7) != 0; /* a database resource: normal collections */
}

bool privs_allow(const struct privs *p, const char *db, const char *coll, unsigned actions)
{
	unsigned granted = 0;

	if (!db || !coll || !db[0] || !coll[0] || actions == 0)
		return false;
	for (unsigned i = 0; i < p->n && (granted & actions) != actions; i++)
		if (priv_matches(&p->e[i], db, coll))
			granted |= p->e[i].actions;
	return (granted & actions) == actions;
}
