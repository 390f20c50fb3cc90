/*
 * cursors.c - the table of tandem-owned cursors (cursors.h).
 *
 *   served read (serve thread)  --cursors_open-->  table[id] = {conn, ns, docs, off}
 *   getMore (worker thread)     --cursors_getmore--> next batch, off advances;
 *                                                    drained: removed, id 0
 *   killCursors / conn end / idle (serve thread's timer) --> removed
 *
 * Chained hash table keyed by id (ids are already unpredictable hashes),
 * one mutex.  Gauges tandem_shift_cursors_open / _cursor_bytes follow every
 * insert and removal (cursor_remove is the one place a cursor goes).
 */
#include "cursors.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hash.h"
#include "metrics.h"

#define NBUCKETS 4096u

struct cursor {
	int64_t id;
	uint64_t conn;
	char *ns;                 /* "db.coll" */
	uint8_t *buf;             /* concatenated documents */
	size_t len, off;          /* off: the next document */
	bool no_timeout;
	uint64_t last_us;         /* last use (monotonic) */
	struct cursor *next;      /* chain */
};

static struct {
	pthread_mutex_t mu;
	struct cursor *buckets[NBUCKETS];
	uint64_t counter;         /* id source */
	size_t n;
	uint64_t bytes;           /* documents + bookkeeping */
	uint64_t timeout_us, memory_max;
	_Atomic size_t nopen;     /* n, readable without the lock */
} ct = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t cursor_cost(const struct cursor *c)
{
	return sizeof(*c) + strlen(c->ns) + 1 + c->len;
}

void cursors_init(uint64_t idle_timeout_ms, uint64_t memory_max)
{
	pthread_mutex_lock(&ct.mu);
	ct.timeout_us = idle_timeout_ms * 1000u;
	ct.memory_max = memory_max;
	pthread_mutex_unlock(&ct.mu);
}

static struct cursor **slot_of(int64_t id)
{
	struct cursor **p = &ct.buckets[(uint64_t)id % NBUCKETS];

	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

/* The one place a cursor leaves the table (lock held). */
static void cursor_remove(struct cursor **p)
{
	struct cursor *c = *p;

	*p = c->next;
	ct.n--;
	ct.bytes -= cursor_cost(c);
	atomic_store(&ct.nopen, ct.n);
	metrics_gauge_add(METRIC_SHIFT_CURSORS_OPEN, -1);
	metrics_gauge_add(METRIC_SHIFT_CURSOR_BYTES, -(int64_t)cursor_cost(c));
	free(c->ns);
	free(c->buf);
	free(c);
}

void cursors_fini(void)
{
	pthread_mutex_lock(&ct.mu);
	for (unsigned b = 0; b < NBUCKETS; b++)
		while (ct.buckets[b])
			cursor_remove(&ct.buckets[b]);
	pthread_mutex_unlock(&ct.mu);
}

size_t cursors_fill(bson_t *arr, const uint8_t *buf, size_t len, size_t *off, int64_t n,
		    size_t max_bytes)
{
	size_t count = 0, bytes = 0;

	while (*off + 4 <= len && (n < 0 || (int64_t)count < n)) {
		uint32_t dlen = (uint32_t)buf[*off] | (uint32_t)buf[*off + 1] << 8 |
				(uint32_t)buf[*off + 2] << 16 | (uint32_t)buf[*off + 3] << 24;
		bson_t doc;
		char kb[16];
		const char *key;

		if (dlen < 5 || dlen > len - *off || !bson_init_static(&doc, buf + *off, dlen))
			break;   /* impossible: the buffer is tandem's own */
		if (count > 0 && bytes + dlen > max_bytes)
			break;
		bson_uint32_to_string((uint32_t)count, &key, kb, sizeof(kb));
		bson_append_document(arr, key, -1, &doc);
		*off += dlen;
		bytes += dlen;
		count++;
	}
	return count;
}

static int64_t new_id(void)
{
	for (;;) {
		uint64_t n = ++ct.counter;
		int64_t id = (int64_t)(hash_sip(&n, sizeof(n)) & 0x7fffffffffffffffull);
		if (id != 0 && !*slot_of(id))
			return id;
	}
}

int64_t cursors_open(uint64_t conn, const char *ns, uint8_t *buf, size_t len, size_t off,
		     bool no_timeout)
{
	struct cursor *c = calloc(1, sizeof(*c));
	int64_t id = 0;

	if (!c || !(c->ns = strdup(ns))) {
		free(c);
		free(buf);
		return 0;
	}
	if (off > 0 && off <= len) {   /* keep only what is left */
		memmove(buf, buf + off, len - off);
		len -= off;
		off = 0;
		uint8_t *shrunk = realloc(buf, len ? len : 1);
		if (shrunk)
			buf = shrunk;
	}
	c->conn = conn;
	c->buf = buf;
	c->len = len;
	c->off = off;
	c->no_timeout = no_timeout;
	c->last_us = clock_mono_us();
	pthread_mutex_lock(&ct.mu);
	if (ct.n < CURSORS_MAX && ct.bytes + cursor_cost(c) <= ct.memory_max) {
		id = c->id = new_id();
		struct cursor **p = slot_of(id);
		*p = c;
		ct.n++;
		ct.bytes += cursor_cost(c);
		atomic_store(&ct.nopen, ct.n);
		metrics_gauge_add(METRIC_SHIFT_CURSORS_OPEN, 1);
		metrics_gauge_add(METRIC_SHIFT_CURSOR_BYTES, (int64_t)cursor_cost(c));
		metrics_inc(METRIC_SHIFT_CURSORS_OPENED);
	}
	pthread_mutex_unlock(&ct.mu);
	if (!id) {
		free(c->ns);
		free(c->buf);
		free(c);
	}
	return id;
}

bool cursors_any(void)
{
	return atomic_load_explicit(&ct.nopen, memory_order_relaxed) > 0;
}

bool cursors_owns(int64_t id)
{
	pthread_mutex_lock(&ct.mu);
	bool found = *slot_of(id) != NULL;
	pthread_mutex_unlock(&ct.mu);
	return found;
}

static void error_reply(bson_t *reply, int32_t code, const char *name, const char *msg)
{
	bson_init(reply);
	BSON_APPEND_DOUBLE(reply, "ok", 0.0);
	BSON_APPEND_UTF8(reply, "errmsg", msg);
	BSON_APPEND_INT32(reply, "code", code);
	BSON_APPEND_UTF8(reply, "codeName", name);
}

bool cursors_getmore(uint64_t conn, int64_t id, const char *db, const char *coll,
		     int64_t batch_size, bson_t *reply)
{
	char msg[600], ns[400];
	bson_t cur, arr;

	pthread_mutex_lock(&ct.mu);
	struct cursor **p = slot_of(id);
	struct cursor *c = *p;
	if (!c) {
		pthread_mutex_unlock(&ct.mu);
		return false;
	}
	if (c->conn != conn) {
		pthread_mutex_unlock(&ct.mu);
		snprintf(msg, sizeof(msg), "cursor id %lld not found", (long long)id);
		error_reply(reply, 43, "CursorNotFound", msg);
		return true;
	}
	snprintf(ns, sizeof(ns), "%s.%s", db, coll);
	if (strcmp(ns, c->ns) != 0) {
		snprintf(msg, sizeof(msg),
			 "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s",
			 ns, c->ns);
		pthread_mutex_unlock(&ct.mu);
		error_reply(reply, 13, "Unauthorized", msg);
		return true;
	}
	bson_init(reply);
	BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cur);
	BSON_APPEND_ARRAY_BEGIN(&cur, "nextBatch", &arr);
	cursors_fill(&arr, c->buf, c->len, &c->off, batch_size > 0 ? batch_size : -1,
		     CURSORS_BATCH_BYTES);
	bson_append_array_end(&cur, &arr);
	bool done = c->off >= c->len;
	BSON_APPEND_INT64(&cur, "id", done ? 0 : id);
	BSON_APPEND_UTF8(&cur, "ns", c->ns);
	bson_append_document_end(reply, &cur);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
	c->last_us = clock_mono_us();
	if (done)
		cursor_remove(p);
	pthread_mutex_unlock(&ct.mu);
	metrics_inc(METRIC_SHIFT_GETMORES);
	return true;
}

bool cursors_kill(uint64_t conn, int64_t id)
{
	bool killed = false;

	pthread_mutex_lock(&ct.mu);
	struct cursor **p = slot_of(id);
	if (*p && (*p)->conn == conn) {
		cursor_remove(p);
		killed = true;
	}
	pthread_mutex_unlock(&ct.mu);
	if (killed)
		metrics_inc(METRIC_SHIFT_CURSORS_KILLED);
	return killed;
}

/* Remove every cursor for which drop(c) says so (lock held). */
static unsigned sweep(bool (*drop)(const struct cursor *c, uint64_t arg), uint64_t arg)
{
	unsigned n = 0;

	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct cursor **p = &ct.buckets[b];
		while (*p) {
			if (drop(*p, arg)) {
				cursor_remove(p);
				n++;
			} else {
				p = &(*p)->next;
			}
		}
	}
	return n;
}

static bool of_conn(const struct cursor *c, uint64_t conn)
{
	return c->conn == conn;
}

static bool idle(const struct cursor *c, uint64_t now_us)
{
	return !c->no_timeout && now_us > c->last_us && now_us - c->last_us > ct.timeout_us;
}

void cursors_close_conn(uint64_t conn)
{
	if (!cursors_any())
		return;
	pthread_mutex_lock(&ct.mu);
	unsigned n = sweep(of_conn, conn);
	pthread_mutex_unlock(&ct.mu);
	metrics_add(METRIC_SHIFT_CURSORS_KILLED, n);
}

void cursors_reap(uint64_t now_us)
{
	if (!cursors_any())
		return;
	pthread_mutex_lock(&ct.mu);
	unsigned n = sweep(idle, now_us);
	pthread_mutex_unlock(&ct.mu);
	metrics_add(METRIC_SHIFT_CURSORS_TIMED_OUT, n);
}

uint64_t cursors_bytes(void)
{
	pthread_mutex_lock(&ct.mu);
	uint64_t b = ct.bytes;
	pthread_mutex_unlock(&ct.mu);
	return b;
}
