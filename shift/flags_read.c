/*
 * flags_read.c - reading the flag hashes from Redis for the refresher
 * (flags_refresh.c): HGETALL round trips of up to FLAGS_PIPELINE_MAX keys,
 * the parsed hashes put into the table (flags_table.c), and the full
 * refresh (SCAN tandem:tenant:* + HGETALL of every key found and of every
 * entry the scan missed; what it changes is a repair).  Runs on the
 * refresher thread only; never holds the table lock during Redis I/O.
 */
#include "flags_refresh_internal.h"
#include "flags_table_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define FLAGS_SCAN_COUNT "1000"
#define FLAGS_WARN_EVERY_MS 60000u

/* ------------------------------------------------------------ replies */

/* A bad value or reply for key (field FLAGS_F_COUNT = the whole key), logged
 * at most once a minute per key and field. */
static void flags_warn_bad(uint64_t *warned_ms, const char *tenant, int field, const char *val,
			   size_t len)
{
	uint64_t now = clock_mono_ms();

	metrics_inc(METRIC_FLAGS_INVALID_VALUES);
	if (warned_ms[field] && now - warned_ms[field] < FLAGS_WARN_EVERY_MS)
		return;
	warned_ms[field] = now;
	struct log_line *l = log_begin(LOG_WARN, field < FLAGS_F_COUNT ? "flags_invalid_value"
									: "flags_bad_reply", 0);
	if (!l)
		return;
	if (tenant) {
		char key[sizeof(FLAGS_TENANT_PREFIX) + FLAGS_TENANT_NAME_MAX];
		snprintf(key, sizeof(key), "%s%s", FLAGS_TENANT_PREFIX, tenant);
		log_str(l, "key", key);
		log_str(l, "tenant", tenant);
	} else {
		log_str(l, "key", FLAGS_DEFAULTS_KEY);
	}
	if (field < FLAGS_F_COUNT)
		log_str(l, "field", flags_field_name((enum flags_field)field));
	log_strn(l, "value", val, len < 64 ? len : 64);
	log_end(l);
}

/* An HGETALL reply into layer.  false: the key does not exist (an empty
 * array).  A reply of another type (a key that is not a hash) is warned
 * about and gives an empty layer. */
static bool flags_layer_from_reply(const redisReply *r, struct flags_layer *layer, uint64_t *warned_ms,
				   const char *tenant)
{
	enum flags_field f;

	memset(layer, 0, sizeof(*layer));
	if (r->type != REDIS_REPLY_ARRAY) {
		flags_warn_bad(warned_ms, tenant, FLAGS_F_COUNT, r->str ? r->str : "",
			       r->str ? (size_t)r->len : 0);
		return true;
	}
	if (r->elements == 0)
		return false;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (flags_layer_set(layer, k->str, (size_t)k->len, v->str, (size_t)v->len, &f) ==
		    FLAGS_SET_INVALID)
			flags_warn_bad(warned_ms, tenant, (int)f, v->str, (size_t)v->len);
	}
	return true;
}

static void flags_free_replies(struct flags_refresher *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r->replies[i])
			freeReplyObject(r->replies[i]);
		r->replies[i] = NULL;
	}
}

/* Send HGETALL tandem:defaults (when with_defaults) and of names[0..n), read
 * every reply into r->replies; false on a connection error. */
static bool flags_roundtrip(struct flags_refresher *r, char *const *names, size_t n, bool with_defaults)
{
	size_t total = n + (with_defaults ? 1 : 0);
	size_t plen = strlen(FLAGS_TENANT_PREFIX);

	if (with_defaults && redisAppendCommand(r->cmd, "HGETALL %s", FLAGS_DEFAULTS_KEY) != REDIS_OK)
		return false;
	for (size_t i = 0; i < n; i++)
		if (redisAppendCommand(r->cmd, "HGETALL %b%b", FLAGS_TENANT_PREFIX, plen, names[i],
				       strlen(names[i])) != REDIS_OK)
			return false; /* out of memory: the context is dropped by the caller */
	for (size_t i = 0; i < total; i++) {
		void *reply = NULL;
		if (redisGetReply(r->cmd, &reply) != REDIS_OK || !reply) {
			flags_free_replies(r, i);
			return false;
		}
		r->replies[i] = reply;
	}
	return true;
}

/* Apply the reply of tenant name; returns what the table did. */
static enum flags_put_result flags_apply(const struct flags_refresher *r, const char *name, const redisReply *rep)
{
	size_t len = strlen(name);
	struct flags_entry *e = flags_table_find(name, len);
	struct flags_layer layer;
	uint64_t warned[FLAGS_F_COUNT + 1] = {0}; /* a new entry keeps when it was warned about */
	bool exists = flags_layer_from_reply(rep, &layer, e ? e->warned_ms : warned, name);
	enum flags_put_result p = flags_table_put(name, len, exists ? &layer : NULL, r->gen);

	if (p == FLAGS_PUT_ADDED && (e = flags_table_find(name, len)))
		memcpy(e->warned_ms, warned, sizeof(warned));
	return p;
}

static void flags_apply_defaults(struct flags_refresher *r, const redisReply *rep)
{
	struct flags_layer layer;

	flags_layer_from_reply(rep, &layer, r->defaults_warned_ms, NULL);
	flags_table_set_defaults(&layer, r->gen);
}

/* Re-read names[0..n) (and tandem:defaults when with_defaults) in pipelines;
 * *changed counts the entries added, changed or removed.  false on a
 * connection error. */
static bool flags_read_keys(struct flags_refresher *r, char *const *names, size_t n, bool with_defaults,
			    size_t *changed)
{
	size_t from = 0;

	r->gen++;
	do {
		bool first = from == 0 && with_defaults;
		size_t k = n - from;
		if (k > FLAGS_PIPELINE_MAX - 1)
			k = FLAGS_PIPELINE_MAX - 1;
		if (!flags_roundtrip(r, names + from, k, first))
			return false;
		if (first)
			flags_apply_defaults(r, r->replies[0]);
		for (size_t i = 0; i < k; i++) {
			enum flags_put_result p = flags_apply(r, names[from + i], r->replies[i + first]);
			if (p != FLAGS_PUT_SAME && p != FLAGS_PUT_FULL)
				(*changed)++;
		}
		flags_free_replies(r, k + first);
		from += k;
	} while (from < n);
	metrics_inc(METRIC_FLAGS_REFRESHES);
	metrics_age_mark(METRIC_FLAGS_AGE, clock_wall_ms());
	return true;
}

/* ------------------------------------------------------------ full refresh */

struct flags_names {
	char **v;
	size_t n, cap;
};

static bool flags_names_add(struct flags_names *s, const char *name, size_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		char **nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return false;
		s->v = nv;
		s->cap = cap;
	}
	char *copy = strndup(name, len);
	if (!copy)
		return false;
	s->v[s->n++] = copy;
	return true;
}

static void flags_names_free(struct flags_names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* The tenant names of every tandem:tenant:* key (SCAN), marking their
 * entries seen with mark.  false on a connection error. */
static bool flags_scan(struct flags_refresher *r, struct flags_names *out, uint64_t mark)
{
	size_t plen = strlen(FLAGS_TENANT_PREFIX);
	char cursor[32] = "0";

	do {
		redisReply *rep = redisCommand(r->cmd, "SCAN %s MATCH %s* COUNT " FLAGS_SCAN_COUNT, cursor,
					       FLAGS_TENANT_PREFIX);
		if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY) {
			if (rep && rep->type == REDIS_REPLY_ERROR)
				snprintf(r->why, sizeof(r->why), "SCAN: %s", rep->str);
			if (rep)
				freeReplyObject(rep);
			return false;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		const redisReply *keys = rep->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			const redisReply *k = keys->element[i];
			if (k->type != REDIS_REPLY_STRING || (size_t)k->len <= plen ||
			    (size_t)k->len - plen > FLAGS_TENANT_NAME_MAX ||
			    memchr(k->str + plen, '\0', (size_t)k->len - plen))
				continue;
			struct flags_entry *e = flags_table_find(k->str + plen, (size_t)k->len - plen);
			if (e)
				e->seen = mark;
			if (out->n < FLAGS_TENANTS_MAX + 1024u &&
			    !flags_names_add(out, k->str + plen, (size_t)k->len - plen)) {
				freeReplyObject(rep);
				return false;
			}
		}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0") != 0);
	return true;
}

struct flags_unseen {
	struct flags_names *names;
	uint64_t mark;
	bool ok;
};

static void flags_add_unseen(struct flags_entry *e, void *arg)
{
	struct flags_unseen *u = arg;

	if (e->seen != u->mark && u->ok)
		u->ok = flags_names_add(u->names, e->name, e->len);
}

/* SCAN for the tenants, then HGETALL tandem:defaults, each tenant found and
 * each entry the scan did not find (it may be gone, or written during the
 * scan).  periodic: run by the timer while invalidations are live, so what
 * it changes is a repair (not one asked for by a reconnect, a flush or a
 * message).  false on a connection error. */
bool flags_full_refresh(struct flags_refresher *r, bool periodic)
{
	struct flags_names names = {0};
	size_t changed = 0;
	uint64_t mark = ++r->gen;

	for (size_t i = 0; i < r->npending; i++)
		free(r->pending[i]);
	r->npending = 0;
	r->want_defaults = false;
	bool ok = flags_scan(r, &names, mark);
	struct flags_unseen u = {&names, mark, true};
	if (ok)
		flags_table_each(flags_add_unseen, &u);
	ok = ok && u.ok && flags_read_keys(r, names.v, names.n, true, &changed);
	flags_names_free(&names);
	if (!ok)
		return false;
	metrics_inc(METRIC_FLAGS_FULL_REFRESHES);
	if (periodic && r->tracking && changed)
		metrics_add(METRIC_FLAGS_REPAIRS, changed);
	return true;
}

/* The pending keys (and tandem:defaults when asked). */
bool flags_targeted_refresh(struct flags_refresher *r)
{
	size_t changed = 0;
	bool ok = flags_read_keys(r, r->pending, r->npending, r->want_defaults, &changed);

	for (size_t i = 0; i < r->npending; i++)
		free(r->pending[i]);
	r->npending = 0;
	r->want_defaults = false;
	return ok;
}

