/*
 * flags.c - the per-tenant flag cache (see flags.h for the flow).
 *
 * Three parts, top to bottom:
 *   1. pure helpers: value parsers, flags_layer_set, flags_merge;
 *   2. the table: entries in registration order plus an open-addressing
 *      index of their positions, both preallocated for FLAGS_TENANTS_MAX at
 *      start; flags_get reads under flags_lock (rwlock, writers preferred);
 *   3. the refresher thread: a command connection (pipelined HGETALLs) and
 *      a subscriber connection (tandem:flags), both blocking hiredis, waited
 *      on with poll() together with an eventfd that flags_get and flags_stop
 *      use to wake it.
 *
 * Invariants: an entry's name never changes and entries are never removed
 * while the thread runs, so the refresher reads names without the lock;
 * views (entries', defaults_view) change only under the write lock; the
 * refresher never holds the lock during Redis I/O.
 */
#include "flags.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "cfg.h"
#include "clock.h"
#include "errbuf.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "pct.h"
#include "redisconn.h"
#include "redisurl.h"

#define FLAGS_INDEX_SLOTS (1u << 18) /* power of two, > 2 * FLAGS_TENANTS_MAX */
#define FLAGS_PIPELINE_MAX 1024u     /* HGETALLs per round trip */
#define FLAGS_CONNECT_TIMEOUT_MS 500
#define FLAGS_IO_TIMEOUT_MS 1000
#define FLAGS_BACKOFF_MIN_MS 100u
#define FLAGS_BACKOFF_MAX_MS 2000u
#define FLAGS_MIN_GAP_MS 10u  /* between refreshes triggered by wake-ups */
#define FLAGS_WARN_EVERY_MS 60000u

/* ------------------------------------------------------------ pure helpers */

static const char *const flags_mode_names[] = {"mongo_only", "dual_write", "pg_primary", "pg_only"};
static const char *const flags_phase_names[] = {"planning", "backfill",   "dual_write", "shadow",
						"shifting", "pg_primary", "cleanup"};
static const char *const flags_field_names[] = {"read_pct", "write_mode", "shadow_pct", "phase"};
static const char *const flags_source_names[] = {"built-in default", "config", FLAGS_DEFAULTS_KEY,
						 "tenant"};

#define FLAGS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Index of s[0..len) in names, or -1. */
static int flags_word_find(const char *s, size_t len, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(s, names[i], len) == 0)
			return (int)i;
	return -1;
}

const char *flags_write_mode_to_str(enum flags_write_mode m)
{
	return (unsigned)m < FLAGS_NELEM(flags_mode_names) ? flags_mode_names[m] : "unknown";
}

const char *flags_field_name(enum flags_field f)
{
	return (unsigned)f < FLAGS_NELEM(flags_field_names) ? flags_field_names[f] : "unknown";
}

const char *flags_source_to_str(enum flags_source s)
{
	return (unsigned)s < FLAGS_NELEM(flags_source_names) ? flags_source_names[s] : "unknown";
}

bool flags_write_mode_parse_n(const char *s, size_t len, enum flags_write_mode *out)
{
	int i = flags_word_find(s, len, flags_mode_names, FLAGS_NELEM(flags_mode_names));

	if (i < 0)
		return false;
	*out = (enum flags_write_mode)i;
	return true;
}

bool flags_write_mode_parse(const char *s, enum flags_write_mode *out)
{
	return s && flags_write_mode_parse_n(s, strlen(s), out);
}

bool flags_phase_valid(const char *s, size_t len)
{
	return flags_word_find(s, len, flags_phase_names, FLAGS_NELEM(flags_phase_names)) >= 0;
}

enum flags_set_result flags_layer_set(struct flags_layer *layer, const char *name, size_t name_len,
				      const char *val, size_t val_len, enum flags_field *field)
{
	int f = flags_word_find(name, name_len, flags_field_names, FLAGS_NELEM(flags_field_names));
	bool ok = false;

	if (f < 0)
		return FLAGS_SET_UNKNOWN_FIELD;
	*field = (enum flags_field)f;
	switch ((enum flags_field)f) {
	case FLAGS_F_READ_PCT:
		ok = pct_parse(val, val_len, &layer->read_pct);
		break;
	case FLAGS_F_SHADOW_PCT:
		ok = pct_parse(val, val_len, &layer->shadow_pct);
		break;
	case FLAGS_F_WRITE_MODE:
		ok = flags_write_mode_parse_n(val, val_len, &layer->write_mode);
		break;
	case FLAGS_F_PHASE:
		ok = flags_phase_valid(val, val_len);
		if (ok) {
			memcpy(layer->phase, val, val_len); /* names are < FLAGS_PHASE_LEN */
			layer->phase[val_len] = '\0';
		}
		break;
	case FLAGS_F_COUNT:
		break;
	}
	if (!ok)
		return FLAGS_SET_INVALID;
	layer->set |= 1u << f;
	return FLAGS_SET_OK;
}

/* The layer that sets field f first (tenant, then defaults), or NULL. */
static const struct flags_layer *flags_pick(const struct flags_layer *tenant,
					    const struct flags_layer *defaults, enum flags_field f,
					    enum flags_source *src)
{
	if (tenant && (tenant->set & (1u << f))) {
		*src = FLAGS_SRC_TENANT;
		return tenant;
	}
	if (defaults && (defaults->set & (1u << f))) {
		*src = FLAGS_SRC_DEFAULTS;
		return defaults;
	}
	return NULL;
}

void flags_merge(const struct flags_layer *tenant, const struct flags_layer *defaults,
		 const struct flags_view *base, enum flags_source base_src, struct flags_view *out,
		 enum flags_source src[FLAGS_F_COUNT])
{
	enum flags_source s[FLAGS_F_COUNT];
	const struct flags_layer *l;

	*out = *base;
	for (int f = 0; f < FLAGS_F_COUNT; f++) {
		s[f] = base_src;
		l = flags_pick(tenant, defaults, (enum flags_field)f, &s[f]);
		if (!l)
			continue;
		if (f == FLAGS_F_READ_PCT)
			out->read_pct = l->read_pct;
		else if (f == FLAGS_F_WRITE_MODE)
			out->write_mode = l->write_mode;
		else if (f == FLAGS_F_SHADOW_PCT)
			out->shadow_pct = l->shadow_pct;
		else
			memcpy(out->phase, l->phase, sizeof(out->phase));
	}
	if (src)
		memcpy(src, s, sizeof(s));
}

bool flags_base_from_cfg(const struct cfg *cfg, struct flags_view *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->write_mode = FLAGS_WM_MONGO_ONLY;
	if (!cfg)
		return true;
	if (!flags_write_mode_parse(cfg->default_write_mode, &out->write_mode))
		return errbuf_fail(err, errlen, "key 'defaults.write_mode': '%s' is not a write mode",
				   cfg->default_write_mode);
	if (!pct_parse(cfg->default_read_pct, strlen(cfg->default_read_pct), &out->read_pct))
		return errbuf_fail(err, errlen, "key 'defaults.read_pct': '%s' is not a percentage "
				   "between 0 and 100", cfg->default_read_pct);
	if (!pct_parse(cfg->default_shadow_pct, strlen(cfg->default_shadow_pct), &out->shadow_pct))
		return errbuf_fail(err, errlen, "key 'defaults.shadow_pct': '%s' is not a percentage "
				   "between 0 and 100", cfg->default_shadow_pct);
	return true;
}

/* ------------------------------------------------------------ the table */

struct flags_entry {
	struct flags_view view;                  /* under flags_lock */
	uint64_t warned_ms[FLAGS_F_COUNT + 1];   /* refresher only; [COUNT] = the key */
	uint64_t hash;
	size_t len;
	char name[];                             /* immutable, NUL-terminated */
};

/* Not exported; the exported ones are METRIC_FLAGS_* cells (metrics.h). */
struct flags_stat_counters {
	_Atomic uint64_t messages, refused;
};

static pthread_rwlock_t flags_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static struct flags_entry **flags_entries;  /* [FLAGS_TENANTS_MAX], registration order */
static uint32_t *flags_index;               /* [FLAGS_INDEX_SLOTS]: entry position + 1, 0 = free */
static _Atomic size_t flags_count;
static struct flags_view flags_base;          /* config defaults; set by flags_start */
static struct flags_view flags_defaults_view; /* tandem:defaults over flags_base */
static uint64_t flags_full_warned_ms;         /* under the write lock */
static int flags_wake_fd = -1;
static struct flags_stat_counters flags_st;

/* The slot of (name, hash): the entry's slot, or the free slot where it
 * would go.  Caller holds flags_lock; the index is never full (cap < slots/2). */
static uint32_t *flags_slot(const char *name, size_t len, uint64_t h)
{
	for (uint32_t i = (uint32_t)h & (FLAGS_INDEX_SLOTS - 1);; i = (i + 1) & (FLAGS_INDEX_SLOTS - 1)) {
		uint32_t *slot = &flags_index[i];
		if (*slot == 0)
			return slot;
		const struct flags_entry *e = flags_entries[*slot - 1];
		if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0)
			return slot;
	}
}

static void flags_wake(void)
{
	uint64_t one = 1;

	if (flags_wake_fd >= 0 && write(flags_wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake-up is pending anyway */
	}
}

/* Past the cap: the defaults, and a warning at most once a minute.
 * Caller holds the write lock. */
static void flags_refuse_full(const char *tenant, struct flags_view *out)
{
	uint64_t now = clock_mono_ms();

	atomic_fetch_add(&flags_st.refused, 1);
	*out = flags_defaults_view;
	if (flags_full_warned_ms && now - flags_full_warned_ms < FLAGS_WARN_EVERY_MS)
		return;
	flags_full_warned_ms = now;
	struct log_line *l = log_begin(LOG_WARN, "flags_tenants_full", 0);
	if (l) {
		log_strn(l, "tenant", tenant, strnlen(tenant, 64));
		log_int(l, "max", FLAGS_TENANTS_MAX);
		log_end(l);
	}
}

/* First sight of tenant: add an entry holding the current defaults. */
static void flags_register(const char *tenant, size_t len, uint64_t h, struct flags_view *out)
{
	struct flags_entry *e = calloc(1, sizeof(*e) + len + 1);
	bool added = false;

	pthread_rwlock_wrlock(&flags_lock);
	uint32_t *slot = flags_entries ? flags_slot(tenant, len, h) : NULL;
	if (!slot) {
		*out = flags_defaults_view; /* stopped meanwhile */
	} else if (*slot) {
		*out = flags_entries[*slot - 1]->view; /* another thread won */
	} else if (!e || atomic_load(&flags_count) >= FLAGS_TENANTS_MAX) {
		flags_refuse_full(tenant, out);
	} else {
		memcpy(e->name, tenant, len);
		e->len = len;
		e->hash = h;
		e->view = flags_defaults_view;
		*out = e->view;
		size_t pos = atomic_load(&flags_count);
		flags_entries[pos] = e;
		*slot = (uint32_t)pos + 1;
		atomic_store(&flags_count, pos + 1);
		metrics_gauge_add(METRIC_FLAGS_TENANTS, 1);
		added = true;
	}
	pthread_rwlock_unlock(&flags_lock);
	if (added)
		flags_wake();
	else
		free(e);
}

void flags_get(const char *tenant, struct flags_view *out)
{
	size_t len = tenant ? strnlen(tenant, FLAGS_TENANT_NAME_MAX + 1) : 0;
	/* Keyed (SipHash): clients name the tenants, and the value only
	 * places entries in flags_index, so it need not agree across processes. */
	uint64_t h = hash_sip(tenant ? tenant : "", len);

	pthread_rwlock_rdlock(&flags_lock);
	if (!flags_entries || len == 0 || len > FLAGS_TENANT_NAME_MAX) {
		*out = flags_defaults_view;
		if (flags_entries)
			atomic_fetch_add(&flags_st.refused, 1);
		pthread_rwlock_unlock(&flags_lock);
		return;
	}
	uint32_t *slot = flags_slot(tenant, len, h);
	if (*slot) {
		*out = flags_entries[*slot - 1]->view;
		pthread_rwlock_unlock(&flags_lock);
		return;
	}
	pthread_rwlock_unlock(&flags_lock);
	flags_register(tenant, len, h, out);
}

void flags_stats(struct flags_stats *out)
{
	out->last_ok_ms = metrics_age_get(METRIC_FLAGS_AGE);
	out->refreshes = metrics_counter_get(METRIC_FLAGS_REFRESHES);
	out->refresh_errors = metrics_counter_get(METRIC_FLAGS_REFRESH_ERRORS);
	out->invalid_values = metrics_counter_get(METRIC_FLAGS_INVALID_VALUES);
	out->messages = atomic_load(&flags_st.messages);
	out->tenants = (uint64_t)metrics_gauge_get(METRIC_FLAGS_TENANTS);
	out->tenants_refused = atomic_load(&flags_st.refused);
	out->connected = metrics_gauge_get(METRIC_FLAGS_REDIS_CONNECTED) != 0;
}

/* ------------------------------------------------------------ the refresher */

struct flags_refresher {
	struct redisurl url;
	char why[256]; /* why the last connect failed */
	uint64_t poll_ms;
	redisContext *cmd, *sub;
	uint64_t backoff_ms, next_connect_ms, next_poll_ms, last_refresh_ms;
	bool dirty, down_logged;
	uint64_t defaults_warned_ms[FLAGS_F_COUNT + 1];
	redisReply *replies[FLAGS_PIPELINE_MAX];
	struct flags_view views[FLAGS_PIPELINE_MAX];
};

static pthread_t flags_thread;
static bool flags_thread_running;
static _Atomic bool flags_stopping;
static struct flags_refresher *flags_ref;

static bool flags_view_equal(const struct flags_view *a, const struct flags_view *b)
{
	return a->write_mode == b->write_mode && a->read_pct == b->read_pct &&
	       a->shadow_pct == b->shadow_pct && strcmp(a->phase, b->phase) == 0;
}

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

/* An HGETALL reply into a layer; bad values and replies are warned about. */
static void flags_layer_from_reply(const redisReply *r, struct flags_layer *layer,
				   uint64_t *warned_ms, const char *tenant)
{
	enum flags_field f;

	memset(layer, 0, sizeof(*layer));
	if (r->type != REDIS_REPLY_ARRAY) {
		flags_warn_bad(warned_ms, tenant, FLAGS_F_COUNT, r->str ? r->str : "",
			       r->str ? (size_t)r->len : 0);
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (flags_layer_set(layer, k->str, (size_t)k->len, v->str, (size_t)v->len, &f) ==
		    FLAGS_SET_INVALID)
			flags_warn_bad(warned_ms, tenant, (int)f, v->str, (size_t)v->len);
	}
}

static void flags_free_replies(struct flags_refresher *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (r->replies[i])
			freeReplyObject(r->replies[i]);
		r->replies[i] = NULL;
	}
}

/* Send the HGETALLs of entries [from, from+n) (plus tandem:defaults first
 * when with_defaults) and read every reply; false on a connection error. */
static bool flags_roundtrip(struct flags_refresher *r, size_t from, size_t n, bool with_defaults)
{
	size_t total = n + (with_defaults ? 1 : 0);
	size_t plen = strlen(FLAGS_TENANT_PREFIX);

	if (with_defaults && redisAppendCommand(r->cmd, "HGETALL %s", FLAGS_DEFAULTS_KEY) != REDIS_OK)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct flags_entry *e = flags_entries[from + i];
		if (redisAppendCommand(r->cmd, "HGETALL %b%b", FLAGS_TENANT_PREFIX, plen, e->name,
				       e->len) != REDIS_OK)
			return false; /* out of memory: the context is dropped by the caller */
	}
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

/* Publish views[0..n) into entries [from, from+n), stamping changes with gen. */
static void flags_publish(struct flags_refresher *r, size_t from, size_t n, uint64_t gen,
			  const struct flags_view *defaults)
{
	pthread_rwlock_wrlock(&flags_lock);
	if (defaults && !flags_view_equal(defaults, &flags_defaults_view)) {
		flags_defaults_view = *defaults;
		flags_defaults_view.version = gen;
	}
	for (size_t i = 0; i < n; i++) {
		struct flags_entry *e = flags_entries[from + i];
		if (!flags_view_equal(&r->views[i], &e->view)) {
			e->view = r->views[i];
			e->view.version = gen;
		}
	}
	pthread_rwlock_unlock(&flags_lock);
}

/* One full refresh: tandem:defaults and every registered tenant, in
 * pipelines of at most FLAGS_PIPELINE_MAX commands. */
static bool flags_refresh(struct flags_refresher *r)
{
	size_t count = atomic_load(&flags_count), from = 0;
	uint64_t gen = metrics_counter_get(METRIC_FLAGS_REFRESHES) + 1; /* only this thread adds */
	struct flags_layer dlayer, tlayer;
	struct flags_view dview;

	do {
		bool first = from == 0;
		size_t n = count - from;
		if (n > FLAGS_PIPELINE_MAX - 1)
			n = FLAGS_PIPELINE_MAX - 1;
		if (!flags_roundtrip(r, from, n, first))
			return false;
		if (first) {
			flags_layer_from_reply(r->replies[0], &dlayer, r->defaults_warned_ms, NULL);
			flags_merge(NULL, &dlayer, &flags_base, FLAGS_SRC_CONFIG, &dview, NULL);
		}
		for (size_t i = 0; i < n; i++) {
			struct flags_entry *e = flags_entries[from + i];
			flags_layer_from_reply(r->replies[i + first], &tlayer, e->warned_ms, e->name);
			flags_merge(&tlayer, &dlayer, &flags_base, FLAGS_SRC_CONFIG, &r->views[i], NULL);
		}
		flags_publish(r, from, n, gen, first ? &dview : NULL);
		flags_free_replies(r, n + first);
		from += n;
	} while (from < count);
	metrics_inc(METRIC_FLAGS_REFRESHES);
	metrics_age_mark(METRIC_FLAGS_AGE, clock_wall_ms());
	return true;
}

static redisContext *flags_open(struct flags_refresher *r)
{
	return redisconn_open(&r->url, FLAGS_CONNECT_TIMEOUT_MS, FLAGS_IO_TIMEOUT_MS, r->why, sizeof(r->why));
}

static void flags_disconnect(struct flags_refresher *r)
{
	if (r->cmd)
		redisFree(r->cmd);
	if (r->sub)
		redisFree(r->sub);
	r->cmd = r->sub = NULL;
	metrics_gauge_set(METRIC_FLAGS_REDIS_CONNECTED, 0);
}

/* Both connections, the subscriber confirmed; false leaves none open. */
static bool flags_connect(struct flags_refresher *r)
{
	r->cmd = flags_open(r);
	r->sub = r->cmd ? flags_open(r) : NULL;
	redisReply *rep = r->sub ? redisCommand(r->sub, "SUBSCRIBE %s", FLAGS_CHANNEL) : NULL;
	bool ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
		  rep->element[0]->type == REDIS_REPLY_STRING && !strcmp(rep->element[0]->str, "subscribe");

	if (rep)
		freeReplyObject(rep);
	if (!ok && r->sub)
		snprintf(r->why, sizeof(r->why), "SUBSCRIBE %s failed", FLAGS_CHANNEL);
	if (!ok)
		flags_disconnect(r);
	else
		metrics_gauge_set(METRIC_FLAGS_REDIS_CONNECTED, 1);
	return ok;
}

static void flags_log_redis(struct flags_refresher *r, bool up, const char *what)
{
	if (up == !r->down_logged)
		return;
	r->down_logged = !up;
	struct log_line *l = log_begin(up ? LOG_INFO : LOG_WARN, up ? "flags_redis_up" : "flags_redis_down", 0);
	if (l) {
		log_str(l, "host", r->url.host);
		log_int(l, "port", r->url.port);
		log_int(l, "db", r->url.db);
		if (!up)
			log_str(l, "reason", what);
		log_end(l);
	}
}

/* A failure: count it, drop the connections, retry after the backoff. */
static void flags_fail(struct flags_refresher *r, const char *what)
{
	metrics_inc(METRIC_FLAGS_REFRESH_ERRORS);
	flags_log_redis(r, false, what);
	flags_disconnect(r);
	r->next_connect_ms = clock_mono_ms() + r->backoff_ms;
	r->backoff_ms = r->backoff_ms * 2 > FLAGS_BACKOFF_MAX_MS ? FLAGS_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Drain what the subscriber received; any message asks for a refresh. */
static void flags_read_sub(struct flags_refresher *r)
{
	void *reply;

	if (redisBufferRead(r->sub) != REDIS_OK) {
		flags_fail(r, "subscription lost");
		return;
	}
	for (int i = 0; i < 10000; i++) {
		reply = NULL;
		if (redisGetReplyFromReader(r->sub, &reply) != REDIS_OK) {
			flags_fail(r, "subscription protocol error");
			return;
		}
		if (!reply)
			return;
		const redisReply *m = reply;
		if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
		    m->element[0]->type == REDIS_REPLY_STRING && !strcmp(m->element[0]->str, "message")) {
			atomic_fetch_add(&flags_st.messages, 1);
			r->dirty = true;
		}
		freeReplyObject(reply);
	}
}

/* Sleep until the next deadline, a wake-up or a message. */
static void flags_wait(struct flags_refresher *r)
{
	uint64_t now = clock_mono_ms();
	uint64_t due = r->cmd ? r->next_poll_ms : r->next_connect_ms;
	struct pollfd p[2] = {{.fd = flags_wake_fd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};

	if (r->cmd && r->dirty && r->last_refresh_ms + FLAGS_MIN_GAP_MS < due)
		due = r->last_refresh_ms + FLAGS_MIN_GAP_MS;
	if (r->sub)
		p[1].fd = r->sub->fd;
	int timeout = due > now ? (int)(due - now) : 0;
	if (timeout > FLAGS_IO_TIMEOUT_MS)
		timeout = FLAGS_IO_TIMEOUT_MS;
	if (poll(p, 2, timeout) <= 0)
		return;
	if (p[0].revents & POLLIN) {
		uint64_t v;
		if (read(flags_wake_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			r->dirty = true;
	}
	if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
		flags_read_sub(r);
}

/* One pass of the loop: connect when due, refresh when due. */
static void flags_step(struct flags_refresher *r)
{
	uint64_t now = clock_mono_ms();

	if (!r->cmd && now >= r->next_connect_ms) {
		if (!flags_connect(r)) {
			flags_fail(r, r->why);
			return;
		}
		r->dirty = true; /* messages may have been missed while down */
	}
	if (!r->cmd)
		return;
	bool due = now >= r->next_poll_ms || (r->dirty && now >= r->last_refresh_ms + FLAGS_MIN_GAP_MS);
	if (!due)
		return;
	r->dirty = false;
	r->last_refresh_ms = now;
	r->next_poll_ms = now + r->poll_ms;
	if (!flags_refresh(r)) {
		flags_fail(r, r->cmd->errstr[0] ? r->cmd->errstr : "refresh failed");
		return;
	}
	r->backoff_ms = FLAGS_BACKOFF_MIN_MS;
	flags_log_redis(r, true, NULL);
}

static void *flags_main(void *arg)
{
	struct flags_refresher *r = arg;

	while (!atomic_load(&flags_stopping)) {
		flags_step(r);
		if (!atomic_load(&flags_stopping))
			flags_wait(r);
	}
	flags_disconnect(r);
	return NULL;
}

/* ------------------------------------------------------------ start / stop */

static bool flags_alloc_table(char *err, size_t errlen)
{
	flags_entries = calloc(FLAGS_TENANTS_MAX, sizeof(*flags_entries));
	flags_index = calloc(FLAGS_INDEX_SLOTS, sizeof(*flags_index));
	flags_ref = calloc(1, sizeof(*flags_ref));
	flags_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (flags_entries && flags_index && flags_ref && flags_wake_fd >= 0)
		return true;
	free(flags_entries);
	free(flags_index);
	free(flags_ref);
	if (flags_wake_fd >= 0)
		close(flags_wake_fd);
	flags_entries = NULL;
	flags_index = NULL;
	flags_ref = NULL;
	flags_wake_fd = -1;
	return errbuf_fail(err, errlen, "flags: out of memory or eventfd: %s", strerror(errno));
}

bool flags_start(const char *redis_url, const struct cfg *cfg, char *err, size_t errlen)
{
	struct flags_view base;
	struct redisurl url;

	if (flags_thread_running)
		return errbuf_fail(err, errlen, "flags: already started");
	if (!flags_base_from_cfg(cfg, &base, err, errlen))
		return false;
	bool with_redis = redis_url && *redis_url;
	char why[384];
	if (with_redis && !redisurl_parse(redis_url, &url, why, sizeof(why)))
		return errbuf_fail(err, errlen, "key 'redis': %s", why);
	pthread_rwlock_wrlock(&flags_lock);
	flags_base = base;
	flags_defaults_view = base;
	pthread_rwlock_unlock(&flags_lock);
	if (!with_redis)
		return true;
	if (!flags_alloc_table(err, errlen))
		return false;
	struct flags_refresher *r = flags_ref;
	r->url = url;
	r->poll_ms = cfg ? (uint64_t)cfg->flags_poll_ms : 100u;
	r->backoff_ms = FLAGS_BACKOFF_MIN_MS;
	atomic_store(&flags_stopping, false);
	int rc = pthread_create(&flags_thread, NULL, flags_main, r);
	if (rc != 0) {
		flags_stop();
		return errbuf_fail(err, errlen, "flags: cannot start the refresher: %s", strerror(rc));
	}
	flags_thread_running = true;
	return true;
}

void flags_stop(void)
{
	if (flags_thread_running) {
		atomic_store(&flags_stopping, true);
		flags_wake();
		pthread_join(flags_thread, NULL);
		flags_thread_running = false;
	}
	pthread_rwlock_wrlock(&flags_lock);
	size_t n = atomic_load(&flags_count);
	for (size_t i = 0; flags_entries && i < n; i++)
		free(flags_entries[i]);
	free(flags_entries);
	free(flags_index);
	free(flags_ref);
	flags_entries = NULL;
	flags_index = NULL;
	flags_ref = NULL;
	atomic_store(&flags_count, 0);
	metrics_gauge_set(METRIC_FLAGS_TENANTS, 0);
	memset(&flags_base, 0, sizeof(flags_base));
	flags_defaults_view = flags_base;
	pthread_rwlock_unlock(&flags_lock);
	if (flags_wake_fd >= 0)
		close(flags_wake_fd);
	flags_wake_fd = -1;
}
