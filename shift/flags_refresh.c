/*
 * flags_refresh.c - the flag refresher: one thread that keeps the flag
 * table (flags_table.c) equal to the tandem:tenant:* and tandem:defaults
 * hashes in Redis, reacting to each change instead of polling.
 *
 *   Redis ── cmd connection: CLIENT TRACKING on REDIRECT <sub id> BCAST
 *     │         PREFIX tandem:tenant: PREFIX tandem:defaults; HGETALLs; SCAN
 *     └──── sub connection: SUBSCRIBE tandem:flags __redis__:invalidate
 *              │ invalidation [key...]      → HGETALL that key only
 *              │ tandem:flags <tenant>      → HGETALL that tenant (+ defaults)
 *              │ tandem:flags other / flush → full refresh
 *              ▼
 *   refresher ──flags_table_put──▶ table ◀──flags_get── workers
 *
 * Why CLIENT TRACKING (Redis ≥ 6) and not keyspace notifications: it needs
 * no server config (notify-keyspace-events is off by default and is a
 * server-wide setting an SRE may not own), BCAST announces every write to a
 * prefix whoever made it, and the RESP2 form (REDIRECT to a subscribed
 * connection) works with Debian 12's hiredis 0.14, which has no RESP3 push.
 * With BCAST the prefixes are watched in every database of the server: a
 * change of the same key in another database costs one extra HGETALL.
 *
 * What holds:
 * - A change after tracking is on is announced on the sub connection; the
 *   HGETALL is sent after the announcement, so it reads the change (or a
 *   later one, which is announced again).
 * - Notifications are lost only with the sub connection (Redis drops a
 *   redirect target's invalidations when it is gone); a lost connection
 *   (EOF, an error, or no pong within 2 s to a PING sent after 5 s of
 *   silence) is reconnected with backoff and followed by a full refresh, so
 *   nothing missed while down survives the reconnect.
 * - The full refresh (SCAN tandem:tenant:* + HGETALL of every key found and
 *   of every entry the scan missed) runs every flags.full_refresh_ms; what
 *   it changes is counted as a repair (tandem_flags_full_refresh_repairs_total)
 *   because a notification should have brought it.  Without tracking
 *   (flags.tracking false, or Redis refuses CLIENT TRACKING: older than 6,
 *   a proxy, an ACL) it runs every flags.poll_ms instead.
 * - The table holds only tenants whose hash exists: an empty HGETALL removes
 *   the entry.  A key of the wrong type keeps an entry with no fields (it is
 *   warned about).
 * - The refresher never holds the table lock during Redis I/O.
 */
#include "flags_refresh_internal.h"
#include "flags_table_internal.h"

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

#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "metrics.h"
#include "redisconn.h"

#define FLAGS_CONNECT_TIMEOUT_MS 500
#define FLAGS_IO_TIMEOUT_MS 1000
#define FLAGS_BACKOFF_MIN_MS 100u
#define FLAGS_BACKOFF_MAX_MS 2000u
#define FLAGS_INVALIDATE_CHANNEL "__redis__:invalidate"
#define FLAGS_SUB_PING_MS 5000u /* a silent sub connection is PINGed this often... */
#define FLAGS_SUB_PONG_MS 2000u /* ...and dropped if no pong comes back within this */


static pthread_t flags_thread;
static bool flags_thread_running;
static _Atomic bool flags_stopping;
static _Atomic uint64_t flags_messages;
static int flags_wake_fd = -1;
static struct flags_refresher *flags_ref;

uint64_t flags_refresh_messages(void)
{
	return atomic_load(&flags_messages);
}

/* ------------------------------------------------------------ the subscription */

/* Queue tenant name s[0..len) for a re-read (full refresh when the queue is full). */
static void flags_want_tenant(struct flags_refresher *r, const char *s, size_t len)
{
	if (len == 0 || len > FLAGS_TENANT_NAME_MAX || memchr(s, '\0', len))
		return;
	if (r->npending == FLAGS_PENDING_MAX) {
		r->want_full = true;
		return;
	}
	char *copy = strndup(s, len);
	if (!copy)
		r->want_full = true;
	else
		r->pending[r->npending++] = copy;
}

/* One key Redis says changed. */
static void flags_invalidated(struct flags_refresher *r, const redisReply *k)
{
	size_t plen = strlen(FLAGS_TENANT_PREFIX);

	metrics_inc(METRIC_FLAGS_INVALIDATIONS);
	if (k->type != REDIS_REPLY_STRING)
		return;
	if ((size_t)k->len == strlen(FLAGS_DEFAULTS_KEY) && !memcmp(k->str, FLAGS_DEFAULTS_KEY, (size_t)k->len))
		r->want_defaults = true;
	else if ((size_t)k->len > plen && !memcmp(k->str, FLAGS_TENANT_PREFIX, plen))
		flags_want_tenant(r, k->str + plen, (size_t)k->len - plen);
}

/* One pub/sub message: an invalidation or a tandem:flags message. */
static void flags_message(struct flags_refresher *r, const redisReply *m)
{
	r->sub_rx_ms = clock_mono_ms();
	r->ping_sent_ms = 0; /* anything received proves the connection (and a pong is ignored below) */
	if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 || m->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(m->element[0]->str, "message") != 0 || m->element[1]->type != REDIS_REPLY_STRING)
		return; /* subscribe confirmations */
	const redisReply *payload = m->element[2];
	if (!strcmp(m->element[1]->str, FLAGS_INVALIDATE_CHANNEL)) {
		if (payload->type != REDIS_REPLY_ARRAY) {
			r->want_full = true; /* nil: FLUSHDB / FLUSHALL */
			return;
		}
		for (size_t i = 0; i < payload->elements; i++)
			flags_invalidated(r, payload->element[i]);
		return;
	}
	atomic_fetch_add(&flags_messages, 1);
	/* tandem:flags: a tenant name re-reads that tenant and the defaults;
	 * anything else (empty, "*") everything. */
	if (payload->type == REDIS_REPLY_STRING && payload->len > 0 && strcmp(payload->str, "*") != 0 &&
	    (size_t)payload->len <= FLAGS_TENANT_NAME_MAX) {
		flags_want_tenant(r, payload->str, (size_t)payload->len);
		r->want_defaults = true;
	} else {
		r->want_full = true;
	}
}

/* ------------------------------------------------------------ connections */

static redisContext *flags_open(struct flags_refresher *r)
{
	return redisconn_open(&r->cfg.url, FLAGS_CONNECT_TIMEOUT_MS, FLAGS_IO_TIMEOUT_MS, r->why,
			      sizeof(r->why));
}

static void flags_disconnect(struct flags_refresher *r)
{
	if (r->cmd)
		redisFree(r->cmd);
	if (r->sub)
		redisFree(r->sub);
	r->cmd = r->sub = NULL;
	r->tracking = false;
	metrics_gauge_set(METRIC_FLAGS_REDIS_CONNECTED, 0);
	metrics_gauge_set(METRIC_FLAGS_TRACKING, 0);
}

static void flags_log_tracking(bool on, const char *reason)
{
	struct log_line *l = log_begin(on ? LOG_INFO : LOG_WARN, on ? "flags_tracking_on" : "flags_tracking_off", 0);

	if (l) {
		if (reason)
			log_str(l, "reason", reason);
		log_end(l);
	}
}

/* Subscribe the sub connection to the channels; true when every
 * confirmation came back. */
static bool flags_subscribe(struct flags_refresher *r, bool invalidations)
{
	int n = invalidations ? 2 : 1;
	bool ok = redisAppendCommand(r->sub, invalidations ? "SUBSCRIBE %s %s" : "SUBSCRIBE %s", FLAGS_CHANNEL,
				     FLAGS_INVALIDATE_CHANNEL) == REDIS_OK;

	for (int i = 0; ok && i < n; i++) {
		void *reply = NULL;
		ok = redisGetReply(r->sub, &reply) == REDIS_OK && reply;
		const redisReply *rep = reply;
		ok = ok && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
		     rep->element[0]->type == REDIS_REPLY_STRING && !strcmp(rep->element[0]->str, "subscribe");
		if (reply)
			freeReplyObject(reply);
	}
	return ok;
}

/* CLIENT TRACKING on the cmd connection, redirected to the sub connection
 * (whose id is sub_id).  A refusal leaves polling (and is logged). */
static void flags_track(struct flags_refresher *r, long long sub_id)
{
	redisReply *rep = redisCommand(r->cmd, "CLIENT TRACKING on REDIRECT %lld BCAST PREFIX %s PREFIX %s",
				       sub_id, FLAGS_TENANT_PREFIX, FLAGS_DEFAULTS_KEY);
	r->tracking = rep && rep->type == REDIS_REPLY_STATUS;
	flags_log_tracking(r->tracking, r->tracking ? NULL : rep && rep->type == REDIS_REPLY_ERROR ? rep->str
											: r->cmd->errstr);
	if (rep)
		freeReplyObject(rep);
}

/* Both connections, subscribed, tracking asked for; false leaves none open. */
static bool flags_connect(struct flags_refresher *r)
{
	long long sub_id = -1;

	r->cmd = flags_open(r);
	r->sub = r->cmd ? flags_open(r) : NULL;
	if (!r->sub) {
		flags_disconnect(r);
		return false;
	}
	if (r->cfg.tracking) {
		redisReply *id = redisCommand(r->sub, "CLIENT ID");
		if (id && id->type == REDIS_REPLY_INTEGER)
			sub_id = id->integer;
		if (id)
			freeReplyObject(id);
	}
	if (!flags_subscribe(r, sub_id >= 0)) {
		snprintf(r->why, sizeof(r->why), "SUBSCRIBE %s failed", FLAGS_CHANNEL);
		flags_disconnect(r);
		return false;
	}
	if (sub_id >= 0)
		flags_track(r, sub_id);
	else if (r->cfg.tracking)
		flags_log_tracking(false, "CLIENT ID refused");
	metrics_gauge_set(METRIC_FLAGS_REDIS_CONNECTED, 1);
	metrics_gauge_set(METRIC_FLAGS_TRACKING, r->tracking ? 1 : 0);
	r->sub_rx_ms = clock_mono_ms();
	r->ping_sent_ms = 0;
	r->why[0] = '\0';
	return true;
}

static void flags_log_redis(struct flags_refresher *r, bool up, const char *what)
{
	if (up == !r->down_logged)
		return;
	r->down_logged = !up;
	struct log_line *l = log_begin(up ? LOG_INFO : LOG_WARN, up ? "flags_redis_up" : "flags_redis_down", 0);
	if (l) {
		log_str(l, "host", r->cfg.url.host);
		log_int(l, "port", r->cfg.url.port);
		log_int(l, "db", r->cfg.url.db);
		if (!up)
			log_str(l, "reason", what);
		else
			log_int(l, "tenants", (int64_t)flags_table_count());
		log_end(l);
	}
}

/* A failure: count it, drop the connections, retry after the backoff.
 * The table keeps the last known flags. */
static void flags_fail(struct flags_refresher *r, const char *what)
{
	metrics_inc(METRIC_FLAGS_REFRESH_ERRORS);
	flags_log_redis(r, false, what);
	flags_disconnect(r);
	r->next_connect_ms = clock_mono_ms() + r->backoff_ms;
	r->backoff_ms = r->backoff_ms * 2 > FLAGS_BACKOFF_MAX_MS ? FLAGS_BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Drain what the sub connection received. */
static void flags_read_sub(struct flags_refresher *r)
{
	if (redisBufferRead(r->sub) != REDIS_OK) {
		flags_fail(r, "subscription lost");
		return;
	}
	for (int i = 0; i < 100000; i++) {
		void *reply = NULL;
		if (redisGetReplyFromReader(r->sub, &reply) != REDIS_OK) {
			flags_fail(r, "subscription protocol error");
			return;
		}
		if (!reply)
			return;
		flags_message(r, reply);
		freeReplyObject(reply);
	}
}

/* A half-open connection sends no EOF: PING the sub connection when it has
 * been silent for FLAGS_SUB_PING_MS, and drop it when the pong is late. */
static void flags_check_sub(struct flags_refresher *r, uint64_t now)
{
	int done = 0;

	if (!r->sub)
		return;
	if (r->ping_sent_ms && now - r->ping_sent_ms > FLAGS_SUB_PONG_MS) {
		flags_fail(r, "subscription silent (no pong)");
		return;
	}
	if (r->ping_sent_ms || now - r->sub_rx_ms < FLAGS_SUB_PING_MS)
		return;
	if (redisAppendCommand(r->sub, "PING") != REDIS_OK) {
		flags_fail(r, "subscription PING failed");
		return;
	}
	while (!done)
		if (redisBufferWrite(r->sub, &done) != REDIS_OK) {
			flags_fail(r, "subscription lost");
			return;
		}
	r->ping_sent_ms = now;
}

/* ------------------------------------------------------------ the loop */

static uint64_t flags_period(const struct flags_refresher *r)
{
	return r->tracking ? r->cfg.full_ms : r->cfg.poll_ms;
}

/* Sleep until the next deadline, a wake-up or a message. */
static void flags_wait(struct flags_refresher *r)
{
	uint64_t now = clock_mono_ms();
	uint64_t due = r->cmd ? r->next_full_ms : r->next_connect_ms;
	struct pollfd p[2] = {{.fd = flags_wake_fd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};

	if (r->cmd && (r->want_full || r->npending || r->want_defaults))
		due = now;
	if (r->sub && due > now + FLAGS_SUB_PONG_MS / 2)
		due = now + FLAGS_SUB_PONG_MS / 2; /* wake to check the subscription */
	if (r->sub)
		p[1].fd = r->sub->fd;
	int timeout = due > now ? (int)(due - now) : 0;
	if (timeout > FLAGS_IO_TIMEOUT_MS)
		timeout = FLAGS_IO_TIMEOUT_MS;
	if (poll(p, 2, timeout) <= 0)
		return;
	if (p[0].revents & POLLIN) {
		uint64_t v;
		if (read(flags_wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: someone else drained it */
		}
	}
	if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
		flags_read_sub(r);
}

/* One pass: connect when due, then a full or a targeted refresh when due. */
static void flags_step(struct flags_refresher *r)
{
	uint64_t now = clock_mono_ms();

	if (!r->cmd && now >= r->next_connect_ms) {
		if (!flags_connect(r)) {
			flags_fail(r, r->why);
			return;
		}
		r->want_full = true; /* changes may have been missed while down */
	}
	if (!r->cmd)
		return;
	flags_check_sub(r, now);
	if (!r->cmd)
		return;
	bool ok = true;
	if (r->want_full || now >= r->next_full_ms) {
		bool periodic = !r->want_full;
		r->want_full = false;
		ok = flags_full_refresh(r, periodic);
		r->next_full_ms = clock_mono_ms() + flags_period(r);
	} else if (r->npending || r->want_defaults) {
		ok = flags_targeted_refresh(r);
	} else {
		return;
	}
	if (!ok) {
		flags_fail(r, r->cmd->errstr[0] ? r->cmd->errstr : r->why[0] ? r->why : "refresh failed");
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
	for (size_t i = 0; i < r->npending; i++)
		free(r->pending[i]);
	r->npending = 0;
	return NULL;
}

/* ------------------------------------------------------------ start / stop */

bool flags_refresh_start(const struct flags_refresh_cfg *c, char *err, size_t errlen)
{
	if (flags_thread_running)
		return errbuf_fail(err, errlen, "flags: already started");
	flags_ref = calloc(1, sizeof(*flags_ref));
	flags_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!flags_ref || flags_wake_fd < 0) {
		int e = errno;
		flags_refresh_stop();
		return errbuf_fail(err, errlen, "flags: out of memory or eventfd: %s", strerror(e));
	}
	flags_ref->cfg = *c;
	flags_ref->backoff_ms = FLAGS_BACKOFF_MIN_MS;
	atomic_store(&flags_stopping, false);
	atomic_store(&flags_messages, 0);
	int rc = pthread_create(&flags_thread, NULL, flags_main, flags_ref);
	if (rc != 0) {
		flags_refresh_stop();
		return errbuf_fail(err, errlen, "flags: cannot start the refresher: %s", strerror(rc));
	}
	flags_thread_running = true;
	return true;
}

void flags_refresh_stop(void)
{
	if (flags_thread_running) {
		uint64_t one = 1;
		atomic_store(&flags_stopping, true);
		if (write(flags_wake_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN: a wake-up is pending anyway */
		}
		pthread_join(flags_thread, NULL);
		flags_thread_running = false;
	}
	free(flags_ref);
	flags_ref = NULL;
	if (flags_wake_fd >= 0)
		close(flags_wake_fd);
	flags_wake_fd = -1;
}
