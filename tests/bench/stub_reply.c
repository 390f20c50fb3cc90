/*
 * stub_reply.c - command dispatch and canned replies of the stub upstream.
 *
 *   message --opcode--> OP_MSG:   body's first key -> stub_cmds[] handler -> OP_MSG reply
 *                       OP_QUERY: *.$cmd isMaster/hello                   -> OP_REPLY
 *
 * Generated documents are {_id: int64 n, pad: "xxx..."} sized to cfg->doc_bytes;
 * _id counts from 0 within each cursor; encoded batches are cached per thread.  Cursor ids are int64 and unique per
 * session (the caller seeds cursor_seq with per-thread top bits).
 */
#include "stub_reply.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bench_msg.h"

/* BSON overhead of {_id: int64, pad: ""}: 4 len + 13 _id + 10 pad + 1 end. */
#define STUB_DOC_OVERHEAD 28
/* Per-thread cache of encoded batches (see stub_append_batch). */
#define STUB_CACHE_SLOTS 16
#define STUB_CACHE_MAX_BYTES (4 * 1024 * 1024)

typedef bool (*stub_handler)(struct stub_session *s, const struct bmsg_opmsg *m,
                             const char *db, bson_t *reply);

bool stub_cfg_init(struct stub_cfg *cfg)
{
	size_t n;

	if (cfg->doc_bytes < STUB_DOC_OVERHEAD || cfg->doc_bytes > 16 * 1024 * 1024 ||
	    cfg->docs_total < 0 || cfg->batch < 1)
		return false;
	n = (size_t)cfg->doc_bytes - STUB_DOC_OVERHEAD;
	cfg->pad = malloc(n + 1);
	if (cfg->pad == NULL)
		return false;
	memset(cfg->pad, 'x', n);
	cfg->pad[n] = '\0';
	return true;
}

static void stub_error(bson_t *reply, int code, const char *code_name, const char *msg)
{
	BSON_APPEND_DOUBLE(reply, "ok", 0.0);
	BSON_APPEND_UTF8(reply, "errmsg", msg);
	BSON_APPEND_INT32(reply, "code", code);
	BSON_APPEND_UTF8(reply, "codeName", code_name);
}

/* The hello / isMaster document of a writable standalone primary. */
static void stub_hello_doc(const struct stub_session *s, bool is_hello, bson_t *reply)
{
	if (is_hello)
		BSON_APPEND_BOOL(reply, "isWritablePrimary", true);
	else
		BSON_APPEND_BOOL(reply, "ismaster", true);
	BSON_APPEND_BOOL(reply, "helloOk", true);
	BSON_APPEND_INT32(reply, "maxBsonObjectSize", 16 * 1024 * 1024);
	BSON_APPEND_INT32(reply, "maxMessageSizeBytes", 48000000);
	BSON_APPEND_INT32(reply, "maxWriteBatchSize", 100000);
	BSON_APPEND_DATE_TIME(reply, "localTime", (int64_t)time(NULL) * 1000);
	BSON_APPEND_INT32(reply, "logicalSessionTimeoutMinutes", 30);
	BSON_APPEND_INT32(reply, "connectionId", s->conn_id);
	BSON_APPEND_INT32(reply, "minWireVersion", 0);
	BSON_APPEND_INT32(reply, "maxWireVersion", 17);
	BSON_APPEND_BOOL(reply, "readOnly", false);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

/* Reads the numeric field key of body into *v; false if absent or not a number. */
static bool stub_get_int(const bson_t *body, const char *key, int64_t *v)
{
	bson_iter_t it;

	if (!bson_iter_init_find(&it, body, key) || !BSON_ITER_HOLDS_NUMBER(&it))
		return false;
	*v = bson_iter_as_int64(&it);
	return true;
}

/* Counts the elements of the array field key of body (0 if absent). */
static int stub_count_array(const bson_t *body, const char *key)
{
	bson_iter_t it, child;
	int n = 0;

	if (bson_iter_init_find(&it, body, key) && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &child))
		while (bson_iter_next(&child))
			n++;
	return n;
}

/* Builds the array of n generated documents numbered from first. */
static bson_t *stub_build_batch(const struct stub_cfg *cfg, int64_t first, int64_t n)
{
	bson_t *arr = bson_sized_new((size_t)(n * cfg->doc_bytes + 16));
	bson_t doc;
	char idx[16];
	const char *idx_key;
	size_t pad_len = strlen(cfg->pad);
	int64_t i;

	for (i = 0; i < n; i++) {
		bson_uint32_to_string((uint32_t)i, &idx_key, idx, sizeof idx);
		bson_append_document_begin(arr, idx_key, -1, &doc);
		BSON_APPEND_INT64(&doc, "_id", first + i);
		bson_append_utf8(&doc, "pad", 3, cfg->pad, (int)pad_len);
		bson_append_document_end(arr, &doc);
	}
	return arr;
}

/*
 * Appends the batch (first, n) as array key to parent.  Batches are cached
 * per thread, keyed by (first, n): with fixed --docs-total and batch sizes
 * every cursor asks for the same few batches, so the stub's cost per reply
 * is a copy, not n document encodings (it must stay cheap next to the proxy
 * it serves).  Batches over STUB_CACHE_MAX_BYTES are built every time.
 */
static void stub_append_batch(const struct stub_cfg *cfg, bson_t *parent, const char *key,
                              int64_t first, int64_t n)
{
	static _Thread_local struct {
		int64_t first, n;
		bson_t *arr;
	} cache[STUB_CACHE_SLOTS];
	static _Thread_local unsigned next_slot;
	bson_t *arr;
	unsigned i;

	for (i = 0; i < STUB_CACHE_SLOTS; i++)
		if (cache[i].arr != NULL && cache[i].first == first && cache[i].n == n) {
			bson_append_array(parent, key, -1, cache[i].arr);
			return;
		}
	arr = stub_build_batch(cfg, first, n);
	bson_append_array(parent, key, -1, arr);
	if (arr->len > STUB_CACHE_MAX_BYTES) {
		bson_destroy(arr);
		return;
	}
	i = next_slot++ % STUB_CACHE_SLOTS;
	if (cache[i].arr != NULL)
		bson_destroy(cache[i].arr);
	cache[i].first = first;
	cache[i].n = n;
	cache[i].arr = arr;
}

/* Appends {cursor: {<key>: [...], id, ns}, ok: 1} for a batch of cur. */
static void stub_cursor_reply(const struct stub_cfg *cfg, bson_t *reply, const char *key,
                              const char *ns, int64_t first, int64_t n, int64_t id)
{
	bson_t cur;

	BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cur);
	stub_append_batch(cfg, &cur, key, first, n);
	BSON_APPEND_INT64(&cur, "id", id);
	BSON_APPEND_UTF8(&cur, "ns", ns);
	bson_append_document_end(reply, &cur);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static struct stub_cursor *stub_cursor_find(struct stub_session *s, int64_t id)
{
	int i;

	for (i = 0; i < STUB_MAX_CURSORS; i++)
		if (id != 0 && s->cursors[i].id == id)
			return &s->cursors[i];
	return NULL;
}

static struct stub_cursor *stub_cursor_free_slot(struct stub_session *s)
{
	int i;

	for (i = 0; i < STUB_MAX_CURSORS; i++)
		if (s->cursors[i].id == 0)
			return &s->cursors[i];
	return NULL;
}

static bool h_hello(struct stub_session *s, const struct bmsg_opmsg *m, const char *db,
                    bson_t *reply)
{
	bson_iter_t it;

	(void)db;
	bson_iter_init(&it, &m->body);
	bson_iter_next(&it);
	stub_hello_doc(s, strcmp(bson_iter_key(&it), "hello") == 0, reply);
	return true;
}

static bool h_ok(struct stub_session *s, const struct bmsg_opmsg *m, const char *db,
                 bson_t *reply)
{
	(void)s, (void)m, (void)db;
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
	return true;
}

static bool h_build_info(struct stub_session *s, const struct bmsg_opmsg *m,
                         const char *db, bson_t *reply)
{
	bson_t arr;

	(void)s, (void)m, (void)db;
	BSON_APPEND_UTF8(reply, "version", "7.0.0");
	BSON_APPEND_UTF8(reply, "gitVersion", "tandem-bench-stub");
	BSON_APPEND_ARRAY_BEGIN(reply, "versionArray", &arr);
	BSON_APPEND_INT32(&arr, "0", 7);
	BSON_APPEND_INT32(&arr, "1", 0);
	BSON_APPEND_INT32(&arr, "2", 0);
	BSON_APPEND_INT32(&arr, "3", 0);
	bson_append_array_end(reply, &arr);
	BSON_APPEND_INT32(reply, "bits", 64);
	BSON_APPEND_INT32(reply, "maxBsonObjectSize", 16 * 1024 * 1024);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
	return true;
}

/* insert / update / delete: n is the number of documents the request carries. */
static bool h_write(struct stub_session *s, const struct bmsg_opmsg *m, const char *db,
                    bson_t *reply)
{
	int n = m->n_seq_docs;

	(void)s, (void)db;
	n += stub_count_array(&m->body, "documents");
	n += stub_count_array(&m->body, "updates");
	n += stub_count_array(&m->body, "deletes");
	BSON_APPEND_INT32(reply, "n", n);
	if (bson_has_field(&m->body, "update"))
		BSON_APPEND_INT32(reply, "nModified", n);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
	return true;
}

static bool h_find(struct stub_session *s, const struct bmsg_opmsg *m, const char *db,
                   bson_t *reply)
{
	const struct stub_cfg *cfg = s->cfg;
	int64_t total = cfg->docs_total, batch = STUB_FIRST_BATCH_DEFAULT, limit;
	char ns[STUB_NS_MAX];
	struct stub_cursor *cur;
	bson_iter_t it;

	bson_iter_init(&it, &m->body);
	bson_iter_next(&it);
	snprintf(ns, sizeof ns, "%s.%s", db,
	         BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "coll");
	if (stub_get_int(&m->body, "limit", &limit) && limit > 0 && limit < total)
		total = limit;
	if (stub_get_int(&m->body, "batchSize", &batch) && batch < 0)
		batch = STUB_FIRST_BATCH_DEFAULT;
	if (batch >= total) {
		stub_cursor_reply(cfg, reply, "firstBatch", ns, 0, total, 0);
		return true;
	}
	if ((cur = stub_cursor_free_slot(s)) == NULL) {
		stub_error(reply, 2, "BadValue", "stub: too many open cursors on this connection");
		return true;
	}
	cur->id = s->cursor_seq++;
	cur->returned = batch;
	cur->total = total;
	memcpy(cur->ns, ns, sizeof ns);
	stub_cursor_reply(cfg, reply, "firstBatch", ns, 0, batch, cur->id);
	return true;
}

static bool h_get_more(struct stub_session *s, const struct bmsg_opmsg *m, const char *db,
                       bson_t *reply)
{
	int64_t id = 0, batch = s->cfg->batch, first, n;
	struct stub_cursor *cur;

	(void)db;
	if (!stub_get_int(&m->body, "getMore", &id) || (cur = stub_cursor_find(s, id)) == NULL) {
		stub_error(reply, 43, "CursorNotFound", "stub: cursor id not found");
		return true;
	}
	if (stub_get_int(&m->body, "batchSize", &batch) && batch <= 0)
		batch = s->cfg->batch;
	first = cur->returned;
	n = cur->total - first < batch ? cur->total - first : batch;
	cur->returned += n;
	if (cur->returned >= cur->total)
		cur->id = 0;
	stub_cursor_reply(s->cfg, reply, "nextBatch", cur->ns, first, n, cur->id);
	return true;
}

static bool h_kill_cursors(struct stub_session *s, const struct bmsg_opmsg *m,
                           const char *db, bson_t *reply)
{
	bson_iter_t it, child;
	bson_t killed, missing, empty;
	struct stub_cursor *cur;
	char idx[16];
	const char *key;
	uint32_t nk = 0, nm = 0;

	(void)db;
	BSON_APPEND_ARRAY_BEGIN(reply, "cursorsKilled", &killed);
	bson_init(&missing);
	if (bson_iter_init_find(&it, &m->body, "cursors") && BSON_ITER_HOLDS_ARRAY(&it) &&
	    bson_iter_recurse(&it, &child)) {
		while (bson_iter_next(&child)) {
			int64_t id = BSON_ITER_HOLDS_NUMBER(&child) ? bson_iter_as_int64(&child) : 0;

			if ((cur = stub_cursor_find(s, id)) != NULL) {
				cur->id = 0;
				bson_uint32_to_string(nk++, &key, idx, sizeof idx);
				BSON_APPEND_INT64(&killed, key, id);
			} else {
				bson_uint32_to_string(nm++, &key, idx, sizeof idx);
				BSON_APPEND_INT64(&missing, key, id);
			}
		}
	}
	bson_append_array_end(reply, &killed);
	BSON_APPEND_ARRAY(reply, "cursorsNotFound", &missing);
	bson_destroy(&missing);
	bson_init(&empty);
	BSON_APPEND_ARRAY(reply, "cursorsAlive", &empty);
	BSON_APPEND_ARRAY(reply, "cursorsUnknown", &empty);
	bson_destroy(&empty);
	BSON_APPEND_DOUBLE(reply, "ok", 1.0);
	return true;
}

static const struct {
	const char *name;
	stub_handler fn;
} stub_cmds[] = {
	{ "hello", h_hello },           { "isMaster", h_hello },
	{ "ping", h_ok },               { "buildInfo", h_build_info },
	{ "endSessions", h_ok },        { "insert", h_write },
	{ "update", h_write },          { "delete", h_write },
	{ "find", h_find },             { "getMore", h_get_more },
	{ "killCursors", h_kill_cursors },
	/* an upstream without authentication: tandem's authz probe (an anonymous
	 * listDatabases) must succeed, else no read is served by PostgreSQL */
	{ "listDatabases", h_ok },
};

/* Builds the reply to an OP_MSG command into reply. */
static void stub_dispatch(struct stub_session *s, const struct bmsg_opmsg *m, bson_t *reply)
{
	const char *name, *db = "test";
	bson_iter_t it;
	size_t i;

	if (!bson_iter_init(&it, &m->body) || !bson_iter_next(&it)) {
		stub_error(reply, 59, "CommandNotFound", "stub: empty command");
		return;
	}
	name = bson_iter_key(&it);
	if (bson_iter_init_find(&it, &m->body, "$db") && BSON_ITER_HOLDS_UTF8(&it))
		db = bson_iter_utf8(&it, NULL);
	for (i = 0; i < sizeof stub_cmds / sizeof stub_cmds[0]; i++)
		if (strcasecmp(name, stub_cmds[i].name) == 0 && stub_cmds[i].fn(s, m, db, reply))
			return;
	stub_error(reply, 59, "CommandNotFound", "stub: no such command");
}

static bool stub_reply_opmsg(struct stub_session *s, const struct bmsg_header *h,
                             const uint8_t *msg, size_t len, struct evbuffer *out)
{
	struct bmsg_opmsg m;
	bson_t reply;
	bool ok;

	if (!bmsg_parse_opmsg(msg, len, &m))
		return false;
	bson_init(&reply);
	stub_dispatch(s, &m, &reply);
	ok = (m.flags & BMSG_FLAG_MORE_TO_COME) ||
	     bmsg_add_opmsg(out, s->reply_id++, h->request_id, 0, &reply, NULL, NULL, 0);
	bson_destroy(&reply);
	return ok;
}

static bool stub_reply_opquery(struct stub_session *s, const struct bmsg_header *h,
                               const uint8_t *msg, size_t len, struct evbuffer *out)
{
	struct bmsg_opquery q;
	bson_iter_t it;
	bson_t reply;
	const char *name;
	bool ok;

	if (!bmsg_parse_opquery(msg, len, &q))
		return false;
	bson_init(&reply);
	name = bson_iter_init(&it, &q.query) && bson_iter_next(&it) ? bson_iter_key(&it) : "";
	if (strlen(q.ns) >= 5 && strcmp(q.ns + strlen(q.ns) - 5, ".$cmd") == 0 &&
	    (strcasecmp(name, "isMaster") == 0 || strcmp(name, "hello") == 0))
		stub_hello_doc(s, false, &reply);
	else
		stub_error(&reply, 352, "UnsupportedOpQueryCommand",
		           "stub: OP_QUERY is only answered for isMaster/hello");
	ok = bmsg_add_opreply(out, s->reply_id++, h->request_id, &reply);
	bson_destroy(&reply);
	return ok;
}

bool stub_reply_message(struct stub_session *s, const uint8_t *msg, size_t len,
                        struct evbuffer *out)
{
	struct bmsg_header h;

	if (len < BMSG_HEADER_LEN || !bmsg_read_header(msg, &h) || (size_t)h.length != len)
		return false;
	if (h.opcode == BMSG_OP_MSG)
		return stub_reply_opmsg(s, &h, msg, len, out);
	if (h.opcode == BMSG_OP_QUERY)
		return stub_reply_opquery(s, &h, msg, len, out);
	return false;
}
