"""refread: read commands and server-side cursors of the reference upstream.

find and aggregate materialise their whole result under the engine lock and
hand the rest to a Cursor; getMore takes the next batch, killCursors drops it.

  find/aggregate --> firstBatch (batchSize, default 101, <= 16 MiB)
                 \\-> rest kept in CursorStore[id]  (id: random positive int64)
  getMore(id)    --> nextBatch (batchSize, default: all, <= 16 MiB);
                     id becomes 0 and the cursor is dropped when exhausted

Invariants: cursor ids are Int64 on the wire; a cursor is dropped when it is
exhausted, killed, idle for CURSOR_IDLE_S, or evicted (at most MAX_CURSORS).
"""

import random
import time
from collections import OrderedDict

from bson.int64 import Int64

from referr import CmdError
from refstore import encode, sort_spec

BATCH_BYTES = 16 * 1024 * 1024
DEFAULT_FIRST_BATCH = 101
MAX_CURSORS = 10000
CURSOR_IDLE_S = 600


class Cursor:
	def __init__(self, ns, docs):
		self.ns = ns
		self.docs = docs
		self.pos = 0
		self.used = time.monotonic()


class CursorStore:
	"""Open cursors by id; callers hold the engine lock."""

	def __init__(self):
		self.cursors = OrderedDict()

	def add(self, ns, docs, pos):
		self._expire()
		cid = random.randint(1, (1 << 62))
		c = Cursor(ns, docs)
		c.pos = pos
		self.cursors[cid] = c
		return cid

	def _expire(self):
		now = time.monotonic()
		for cid in [k for k, c in self.cursors.items() if now - c.used > CURSOR_IDLE_S]:
			del self.cursors[cid]
		while len(self.cursors) >= MAX_CURSORS:
			self.cursors.popitem(last=False)

	def get(self, cid):
		return self.cursors.get(cid)

	def drop(self, cid):
		return self.cursors.pop(cid, None) is not None

	def clear(self):
		self.cursors.clear()


def _take(docs, pos, limit):
	"""Up to `limit` docs (None: no count limit) from pos, within 16 MiB."""
	out, size = [], 0
	while pos < len(docs) and (limit is None or len(out) < limit):
		n = len(encode(docs[pos]))
		if out and size + n > BATCH_BYTES:
			break
		out.append(docs[pos])
		size += n
		pos += 1
	return out, pos


def _batch_size(v, what):
	if v is None:
		return None
	if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
		raise CmdError(51024, "BSON field '%s' value must be >= 0, actual value '%s'" % (what, v))
	return int(v)


def cursor_reply(ctx, ns, docs, batch_size, single_batch=False):
	"""Reply with firstBatch, keeping the rest as a cursor unless done."""
	limit = DEFAULT_FIRST_BATCH if batch_size is None else batch_size
	batch, pos = _take(docs, 0, limit)
	cid = 0
	if pos < len(docs) and not single_batch:
		cid = ctx.engine.cursors.add(ns, docs, pos)
	cur = OrderedDict([("firstBatch", batch), ("id", Int64(cid)), ("ns", ns)])
	return OrderedDict([("cursor", cur), ("ok", 1.0)])


def cmd_find(ctx, db, cmd):
	name = cmd["find"]
	if not isinstance(name, str):
		raise CmdError(2, "collection name has invalid type %s" % type(name).__name__)
	filt = cmd.get("filter") or {}
	proj = cmd.get("projection") or None
	skip = int(cmd.get("skip", 0) or 0)
	limit = int(cmd.get("limit", 0) or 0)
	single = bool(cmd.get("singleBatch", False))
	if skip < 0:
		raise CmdError(51024, "BSON field 'skip' value must be >= 0, actual value '%d'" % skip)
	if limit < 0:
		raise CmdError(51024, "BSON field 'limit' value must be >= 0, actual value '%d'" % limit)
	bs = _batch_size(cmd.get("batchSize"), "batchSize")
	if limit and (bs is None or bs > limit):
		bs = limit
	coll = ctx.view.coll(db, name)
	docs = list(coll.find(filt, proj, skip=skip, limit=limit, sort=sort_spec(cmd.get("sort"))))
	return cursor_reply(ctx, "%s.%s" % (db, name), docs, bs, single)


def cmd_get_more(ctx, db, cmd):
	cid = int(cmd["getMore"])
	coll = cmd.get("collection")
	if not isinstance(coll, str):
		raise CmdError(14, "BSON field 'getMore.collection' is the wrong type")
	bs = _batch_size(cmd.get("batchSize"), "batchSize")
	cur = ctx.engine.cursors.get(cid)
	if cur is None:
		raise CmdError(43, "cursor id %d not found" % cid)
	ns = "%s.%s" % (db, coll)
	if cur.ns != ns:
		raise CmdError(13, "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s" % (ns, cur.ns))
	batch, cur.pos = _take(cur.docs, cur.pos, bs if bs else None)
	cur.used = time.monotonic()
	if cur.pos >= len(cur.docs):
		ctx.engine.cursors.drop(cid)
		cid = 0
	out = OrderedDict([("nextBatch", batch), ("id", Int64(cid)), ("ns", cur.ns)])
	return OrderedDict([("cursor", out), ("ok", 1.0)])


def cmd_kill_cursors(ctx, db, cmd):
	killed, missing = [], []
	for cid in cmd.get("cursors") or []:
		(killed if ctx.engine.cursors.drop(int(cid)) else missing).append(Int64(cid))
	return OrderedDict([("cursorsKilled", killed), ("cursorsNotFound", missing),
		("cursorsAlive", []), ("cursorsUnknown", []), ("ok", 1.0)])


def cmd_aggregate(ctx, db, cmd):
	name = cmd["aggregate"]
	pipeline = cmd.get("pipeline")
	if not isinstance(pipeline, list):
		raise CmdError(14, "'pipeline' option must be specified as an array")
	if cmd.get("explain"):
		raise CmdError(238, "refmongo does not implement explain")
	if "cursor" not in cmd:
		raise CmdError(9, "The 'cursor' option is required, except for aggregate with the explain argument")
	if not isinstance(name, str):
		raise CmdError(238, "refmongo does not implement database-level aggregate")
	bs = _batch_size((cmd.get("cursor") or {}).get("batchSize"), "cursor.batchSize")
	docs = list(ctx.view.coll(db, name).aggregate(pipeline))
	if any(isinstance(s, dict) and ("$group" in s or "$project" in s) for s in pipeline):
		docs = [_id_first(d) for d in docs]
	return cursor_reply(ctx, "%s.%s" % (db, name), docs, bs)


def _id_first(doc):
	"""mongod emits _id first from $group and $project; mongomock does not."""
	if not isinstance(doc, dict) or "_id" not in doc or next(iter(doc)) == "_id":
		return doc
	out = OrderedDict([("_id", doc["_id"])])
	out.update((k, v) for k, v in doc.items() if k != "_id")
	return out


def cmd_count(ctx, db, cmd):
	coll = ctx.view.coll(db, cmd["count"])
	kw = {}
	if cmd.get("skip"):
		kw["skip"] = int(cmd["skip"])
	if cmd.get("limit"):
		kw["limit"] = abs(int(cmd["limit"]))
	n = coll.count_documents(cmd.get("query") or {}, **kw)
	return OrderedDict([("n", n), ("ok", 1.0)])


def cmd_distinct(ctx, db, cmd):
	key = cmd.get("key")
	if not isinstance(key, str):
		raise CmdError(14, "BSON field 'distinct.key' is missing but a required field")
	values = ctx.view.coll(db, cmd["distinct"]).distinct(key, cmd.get("query") or {})
	return OrderedDict([("values", list(values)), ("ok", 1.0)])


COMMANDS = {
	"find": cmd_find,
	"getMore": cmd_get_more,
	"killCursors": cmd_kill_cursors,
	"aggregate": cmd_aggregate,
	"count": cmd_count,
	"distinct": cmd_distinct,
}
