"""Randomized differential test of dual-write (issue 3, "Done means", second
point): a seeded workload of mixed writes through tandem in dual_write over
3 tenants (databases) x 2 collections (`dd_default` unmapped -> default
table; `dd_mapped` mapped with `id: any` and typed columns), then every
document of every tenant/collection compared between the upstream and
PostgreSQL (`tandemctl dump`): zero differences expected.

  test_differential           the workload, wait until applied, compare
  test_differential_pg_down   the same with PostgreSQL stopped twice
                              mid-run, then `tandemctl replay`: zero
                              differences, queue depth 0

Environment: TANDEM_DIFF_SEED (default: random, printed), TANDEM_DIFF_WRITES
(default 20000 write statements per test), TANDEM_DIFF_OPS (comma list of
ALL_OPS names: run only those, to corner a failure), TANDEM_DIFF_VERBOSE=1
(print every server error the workload gets). A write statement is one
document inserted or one update/delete/findAndModify statement; a bulk of 5
counts 5.

The workload: insert_one, insert_many (ordered and unordered, some with
duplicate _ids so the bulk fails partway), update_one/update_many with $set
$unset $inc $min $max $rename $setOnInsert $push ($each/$slice/$sort/
$position) $addToSet $pop $pull $pullAll and positional $, upserts,
replace_one, delete_one/delete_many, find_one_and_update/replace/delete,
bulk_write mixes, transactions committed and aborted, and retried writes
(an OP_MSG insert and an $inc update sent twice with the same lsid and
txnNumber on a raw socket: MongoDB applies them once, so must PostgreSQL).
Documents hold nested documents and arrays, int32/Int64/double/Decimal128,
dates, ObjectIds, booleans, nulls and unicode strings; _ids are ints,
strings and ObjectIds.

Against the reference upstream (refmongo = mongomock) the workload leaves out
what mongomock does not do like mongod, so that a difference means tandem:
$mul, $[] and $[<id>] with array_filters (mongomock: unsupported), and
arithmetic across number types ($inc of an Int64 by an int32 gives int32 in
mongomock, Int64 in mongod): $inc/$min/$max touch only int32 `cnt` and
double `score`; $pop only where nums exists (mongomock: KeyError); updates that fail on a field's type (refmongo applies
the operators before the failing one: not atomic), so cnt, score, nums stay
of one type; upsert and replacement filters are _id equalities (mongomock
copies {_id: {$in: ..}} into the new document). With TANDEM_TEST_MONGO_URI (a real replica set) they are in.

The upstream is the replica set (transactions need one; tandem advertises
itself as the set). While tandem refuses the dual-write config, the first
test runs the workload in mongo_only (proving the generator, the retries and
the transactions against the upstream) and then skips the comparison with the
reason; the PostgreSQL-down test skips.

  /usr/bin/python3 -m pytest -q -s tests/integration/test_differential.py
"""

import datetime
import os
import random
import struct
import threading
import time
import uuid

import pytest
from bson import ObjectId
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from pymongo import (DeleteMany, DeleteOne, InsertOne, MongoClient, ReplaceOne, ReturnDocument, UpdateMany,
	UpdateOne)
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

import dualwrite_helpers as dw
import servers
import wire

TENANTS = 3
COLL_DEFAULT, COLL_MAPPED = "dd_default", "dd_mapped"
COLLS = (COLL_DEFAULT, COLL_MAPPED)
ID_POOL = 400          # _ids per collection: small enough that writes collide
GROUPS = 10
SKUS = ["a", "b", "c", "d", "e", "f"]
WORDS = ["alpha", "beta", "gamma", "ünïcødé", "日本語", "emoji 🐘", "tab\there", "quote\"s", "", "x" * 40]
MAPPING = """version: 1
collections:
  dd_mapped:
    table: dd_mapped
    id: any
    columns:
      name:
        type: text
      grp:
        type: int4
      cnt:
        type: int8
      score:
        type: float8
      created:
        source: meta.created
        type: timestamptz
      tags:
        type: text[]
"""


# operation -> weight; TANDEM_DIFF_OPS=a,b,... keeps only those (to corner a failure)
ALL_OPS = [("insert_one", 12), ("insert_many", 10), ("update_one", 18), ("update_many", 8), ("positional", 4),
	("replace_one", 6), ("delete_one", 5), ("delete_many", 2), ("find_and_modify", 9), ("bulk_write", 10),
	("transaction", 9), ("retried", 7)]
_only = [o for o in os.environ.get("TANDEM_DIFF_OPS", "").split(",") if o]
OPS = [(n, w) for n, w in ALL_OPS if not _only or n in _only]
OP_TOTAL = sum(w for _, w in OPS)


def _seed():
	s = os.environ.get("TANDEM_DIFF_SEED")
	return int(s) if s else random.SystemRandom().randrange(1 << 31)


def _writes():
	return int(os.environ.get("TANDEM_DIFF_WRITES", "20000"))


# ---------------------------------------------------------------- documents

class Gen:
	"""Deterministic generator of documents and write operations for one
	tenant (its own random.Random)."""

	def __init__(self, seed, real_upstream):
		self.r = random.Random(seed)
		self.real = real_upstream
		self.ids = {c: self._id_pool(c) for c in COLLS}
		self.base = datetime.datetime(2020, 1, 1)

	def _id_pool(self, coll):
		r = random.Random("%s-%d" % (coll, self.r.randrange(1 << 30)))
		pool = []
		for i in range(ID_POOL):
			k = i % 3
			if k == 0:
				pool.append(i)
			elif k == 1:
				pool.append("id-%d-%s" % (i, r.choice(WORDS[:6])))
			else:
				pool.append(ObjectId(struct.pack(">I", 1600000000 + i) + r.getrandbits(64).to_bytes(8, "big")))
		return pool

	def id(self, coll):
		return self.r.choice(self.ids[coll])

	def number(self):
		k = self.r.randrange(5)
		if k == 0:
			return self.r.randrange(-1000, 1000)
		if k == 1:
			return Int64(self.r.randrange(-(1 << 40), 1 << 40))
		if k == 2:
			return self.r.choice([0.5, -2.25, 1e300, -0.0, 3.141592653589793, self.r.random() * 1000])
		if k == 3:
			return Decimal128(self.r.choice(["1.10", "-0.001", "12345678901234567890.5", "0E-6", "3"]))
		return None

	def date(self):
		return self.base + datetime.timedelta(milliseconds=self.r.randrange(10 ** 11))

	def word(self):
		return self.r.choice(WORDS)

	def item(self):
		return {"sku": self.r.choice(SKUS), "q": self.r.randrange(10), "v": self.number()}

	def doc(self, coll, with_id=True):
		r = self.r
		d = {}
		if with_id:
			d["_id"] = self.id(coll)
		d["name"] = self.word()
		d["grp"] = r.randrange(GROUPS)
		d["cnt"] = r.randrange(100)
		d["score"] = r.random() * 100
		if r.random() < 0.8:
			d["meta"] = {"created": self.date(), "src": self.word(), "ref": ObjectId(),
				"deep": {"a": [1, {"b": [self.number(), None]}], "flag": r.random() < 0.5}}
		d["tags"] = r.sample(WORDS[:6], r.randrange(4))
		d["nums"] = [r.randrange(50) for _ in range(r.randrange(6))]
		d["items"] = [self.item() for _ in range(r.randrange(4))]
		d["val"] = self.number()
		# mapped columns holding values of another type (never cnt/score/
		# nums: refmongo applies a failing update partially, see above)
		if r.random() < 0.1:
			d["name"] = r.choice([12, {"first": "a"}, None, ["x"]])
		if r.random() < 0.1:
			d["grp"] = r.choice([Int64(3), 2.0, "3"])
		if r.random() < 0.1 and "meta" in d:
			d["meta"]["created"] = r.choice(["2020-01-01", None, Int64(5)])
		if r.random() < 0.1:
			d["tags"] = d["tags"] + [r.choice([1, None, {"t": 1}])]
		return d

	# ------------------------------------------------ filters and updates

	def filter(self, coll, many=False, exact=False):
		"""exact: an _id equality (upserts and replacements: mongomock
		copies an {_id: {$op: ..}} filter into the new document)."""
		r = self.r
		k = r.randrange(10)
		if exact or k < (3 if many else 7):
			return {"_id": self.id(coll)}
		if k < 9 and many:
			return {"_id": {"$in": [self.id(coll) for _ in range(r.randrange(1, 6))]}}
		return r.choice([{"grp": r.randrange(GROUPS)}, {"tags": self.word()}, {"items.sku": r.choice(SKUS)},
			{"grp": r.randrange(GROUPS), "nums": r.randrange(50)}])

	def update(self):
		"""One update document of 1-3 operators on distinct fields."""
		r = self.r
		ops = {}
		used = set()
		makers = [self._set, self._unset, self._inc, self._minmax, self._rename, self._push, self._add_to_set,
			self._pop, self._pull, self._pull_all]
		if self.real:
			makers.append(self._mul)
		for _ in range(r.randrange(1, 4)):
			op, field, arg = r.choice(makers)()
			if field in used or any(field.startswith(u + ".") or u.startswith(field + ".") for u in used):
				continue
			used.add(field)
			if op == "$rename":
				if arg in used:
					continue
				used.add(arg)
			ops.setdefault(op, {})[field] = arg
		return ops

	def _set(self):
		r = self.r
		field = r.choice(["name", "val", "meta.src", "meta.created", "meta.deep.flag", "extra.n.o", "tags",
			"newf", "tmp_a"])
		val = {"name": self.word, "meta.created": self.date}.get(field, self.number)()
		if field == "tags":
			val = r.sample(WORDS, 2)
		if field == "newf":
			val = {"x": [self.number(), {"y": self.word()}], "d": self.date()}
		return "$set", field, val

	def _unset(self):
		return "$unset", self.r.choice(["val", "meta.src", "meta.deep", "extra", "newf", "tmp_a"]), ""

	def _inc(self):
		r = self.r
		if r.random() < 0.5:
			return "$inc", "cnt", r.randrange(-5, 6)
		return "$inc", "score", r.choice([0.5, -1.25, 2.0])

	def _mul(self):
		return "$mul", self.r.choice(["cnt", "score"]), self.r.choice([2, -1, 0.5])

	def _minmax(self):
		r = self.r
		field = r.choice(["cnt", "score"])
		return r.choice(["$min", "$max"]), field, r.choice([r.randrange(100), r.random() * 100])

	def _rename(self):
		if self.r.random() < 0.5:
			return "$rename", "tmp_a", "tmp_b"
		return "$rename", "tmp_b", "tmp_a"

	def _push(self):
		r = self.r
		spec = {"$each": [r.randrange(50) for _ in range(r.randrange(1, 4))]}
		if r.random() < 0.5:
			spec["$slice"] = r.choice([-5, 5, 0, 3])
		if r.random() < 0.4:
			spec["$sort"] = r.choice([1, -1])
		elif r.random() < 0.4:
			spec["$position"] = r.randrange(3)
		if r.random() < 0.2:
			return "$push", "nums", r.randrange(50)
		return "$push", "nums", spec

	def _add_to_set(self):
		if self.r.random() < 0.5:
			return "$addToSet", "tags", self.word()
		return "$addToSet", "tags", {"$each": self.r.sample(WORDS, 3)}

	def _pop(self):
		return "$pop", "nums", self.r.choice([1, -1])

	def _pull(self):
		r = self.r
		if r.random() < 0.5:
			return "$pull", "nums", r.randrange(50)
		return "$pull", "nums", {"$gte": r.randrange(50)}

	def _pull_all(self):
		return "$pullAll", "tags", self.r.sample(WORDS, 2)

	def guard(self, f, u, upsert=False):
		"""(filter, update) safe from mongomock's $pop on a missing field
		(KeyError after the other operators were applied): $pop only on
		documents that have nums, never in an upsert."""
		if "$pop" not in u:
			return f, u
		if upsert:
			u = {k: v for k, v in u.items() if k != "$pop"} or {"$set": {"popped": False}}
			return f, u
		return {"$and": [f, {"nums": {"$exists": True}}]}, u

	def positional(self, coll):
		"""(filter, update) with positional $, or $[] / $[<id>] on a real mongod."""
		r = self.r
		sku = r.choice(SKUS)
		k = r.randrange(3 if self.real else 1)
		if k == 0:
			return {"_id": self.id(coll), "items.sku": sku}, {"$set": {"items.$.q": r.randrange(10)}}, None
		if k == 1:
			return {"_id": self.id(coll)}, {"$inc": {"items.$[].q": 1}}, None
		return {"_id": self.id(coll)}, {"$set": {"items.$[it].v": self.number()}}, [{"it.sku": sku}]


# ---------------------------------------------------------------- workload

class Stats:
	def __init__(self):
		self.lock = threading.Lock()
		self.statements = 0
		self.ops = {}
		self.errors = {}

	def add(self, op, n):
		with self.lock:
			self.statements += n
			self.ops[op] = self.ops.get(op, 0) + 1

	def error(self, kind):
		with self.lock:
			self.errors[kind] = self.errors.get(kind, 0) + 1


class Tenant:
	"""One tenant's workload: a database, its generator, a raw socket for
	retried writes."""

	def __init__(self, client, tandem_port, dbname, seed, real, stats):
		self.client = client
		self.db = client[dbname]
		self.dbname = dbname
		self.g = Gen(seed, real)
		self.stats = stats
		self.port = tandem_port
		self.retried = 0   # retried writes sent (each checked applied once upstream)

	def coll(self):
		return self.db[self.g.r.choice(COLLS)]

	def step(self):
		"""One random operation; returns the number of write statements."""
		r = self.g.r
		x = r.random() * OP_TOTAL
		c = self.coll()
		try:
			for name, weight in OPS:
				if x < weight:
					return getattr(self, "_op_" + name)(c)
				x -= weight
			return getattr(self, "_op_" + OPS[-1][0])(c)
		except DuplicateKeyError:
			self.stats.error("dup")
			return self._n("failed", 1)
		except OperationFailure as e:
			self.stats.error("code %s" % e.code)
			if os.environ.get("TANDEM_DIFF_VERBOSE"):
				print("  %s: %s" % (self.dbname, e))
			return self._n("failed", 1)

	def _op_insert_one(self, c):
		c.insert_one(self.g.doc(c.name))
		return self._n("insert_one", 1)

	def _op_insert_many(self, c):
		r = self.g.r
		docs = [self.g.doc(c.name) for _ in range(r.randrange(2, 8))]
		try:
			c.insert_many(docs, ordered=r.random() < 0.5)
		except BulkWriteError:
			self.stats.error("bulk_dup")
		return self._n("insert_many", len(docs))

	def _op_update_one(self, c):
		return self._update(c, many=False)

	def _op_update_many(self, c):
		return self._update(c, many=True)

	def _op_positional(self, c):
		f, u, af = self.g.positional(c.name)
		c.update_one(f, u, array_filters=af)
		return self._n("positional", 1)

	def _op_replace_one(self, c):
		g = self.g
		up = g.r.random() < 0.3
		c.replace_one(g.filter(c.name, exact=up or g.r.random() < 0.5), g.doc(c.name, with_id=False), upsert=up)
		return self._n("replace_one", 1)

	def _op_delete_one(self, c):
		c.delete_one(self.g.filter(c.name))
		return self._n("delete_one", 1)

	def _op_delete_many(self, c):
		c.delete_many(self.g.filter(c.name, many=True))
		return self._n("delete_many", 1)

	def _op_find_and_modify(self, c):
		return self._find_and_modify(c)

	def _op_bulk_write(self, c):
		return self._bulk(c)

	def _op_transaction(self, c):
		return self._transaction()

	def _op_retried(self, c):
		return self._retried(c)

	def _n(self, op, n):
		self.stats.add(op, n)
		return n

	def _update(self, c, many):
		g = self.g
		upsert = g.r.random() < 0.15
		u = g.update()
		if upsert and g.r.random() < 0.5:
			u.setdefault("$setOnInsert", {})["created_by"] = g.word()
		f, u = g.guard(g.filter(c.name, many=many, exact=upsert), u, upsert)
		(c.update_many if many else c.update_one)(f, u, upsert=upsert)
		return self._n("update_many" if many else "update_one", 1)

	def _find_and_modify(self, c):
		g, r = self.g, self.g.r
		k = r.randrange(3)
		sort = [("_id", r.choice([1, -1]))] if r.random() < 0.3 else None
		up = r.random() < 0.2
		f = g.filter(c.name, many=True, exact=up)
		if k == 0:
			f, u = g.guard(f, g.update(), up)
			c.find_one_and_update(f, u, sort=sort, upsert=up,
				return_document=r.choice([ReturnDocument.BEFORE, ReturnDocument.AFTER]))
		elif k == 1:
			c.find_one_and_replace(f, g.doc(c.name, with_id=False), sort=sort, upsert=up)
		else:
			c.find_one_and_delete(f, sort=sort)
		return self._n("find_and_modify", 1)

	def _bulk(self, c):
		g, r = self.g, self.g.r
		reqs = []
		for _ in range(r.randrange(2, 9)):
			k = r.randrange(6)
			if k == 0:
				reqs.append(InsertOne(g.doc(c.name)))
			elif k == 1:
				up = r.random() < 0.2
				reqs.append(UpdateOne(*g.guard(g.filter(c.name, exact=up), g.update(), up), upsert=up))
			elif k == 2:
				reqs.append(UpdateMany(*g.guard(g.filter(c.name, many=True), g.update())))
			elif k == 3:
				up = r.random() < 0.2
				reqs.append(ReplaceOne(g.filter(c.name, exact=True), g.doc(c.name, with_id=False), upsert=up))
			elif k == 4:
				reqs.append(DeleteOne(g.filter(c.name)))
			else:
				reqs.append(DeleteMany(g.filter(c.name, many=True)))
		try:
			c.bulk_write(reqs, ordered=r.random() < 0.5)
		except BulkWriteError:
			self.stats.error("bulk_error")
		return self._n("bulk_write", len(reqs))

	def _transaction(self):
		g, r = self.g, self.g.r
		commit = r.random() < 0.6
		n = 0
		with self.client.start_session() as s:
			s.start_transaction()
			try:
				for _ in range(r.randrange(1, 5)):
					c = self.coll()
					if r.random() < 0.4:
						d = g.doc(c.name)
						if r.random() < 0.5:  # a fresh _id: fewer transactions end in E11000
							d["_id"] = ObjectId(r.getrandbits(96).to_bytes(12, "big"))
						c.insert_one(d, session=s)
					elif r.random() < 0.7:
						c.update_one(*g.guard(g.filter(c.name), g.update()), session=s)
					else:
						c.delete_one(g.filter(c.name), session=s)
					n += 1
			except (DuplicateKeyError, OperationFailure) as e:
				self.stats.error("txn %s" % getattr(e, "code", "?"))
				s.abort_transaction()
				return self._n("txn_failed", n)
			if commit:
				s.commit_transaction()
			else:
				s.abort_transaction()
		return self._n("txn_commit" if commit else "txn_abort", n)

	def _retried(self, c):
		"""The same retryable write twice (same lsid, txnNumber) on a raw
		socket; both replies must be the same success."""
		g = self.g
		# Not from the seeded generator: the upstream remembers (lsid, txnNumber)
		# for the whole session, and two tests run with one TANDEM_DIFF_SEED
		# would otherwise replay each other's retries.
		lsid = {"id": Binary(uuid.uuid4().bytes, 4)}
		before = None
		if g.r.random() < 0.5:
			doc = g.doc(c.name)
			_id = doc["_id"] = "retry-%s" % uuid.UUID(int=g.r.getrandbits(128)).hex
			cmd = {"insert": c.name, "documents": [doc], "ordered": True}
		else:
			_id = g.id(c.name)
			before = c.find_one({"_id": _id})
			cmd = {"update": c.name, "updates": [{"q": {"_id": _id}, "u": {"$inc": {"cnt": 1},
				"$push": {"nums": 7}}}], "ordered": True}
		cmd.update({"lsid": lsid, "txnNumber": Int64(1), "$db": self.dbname})
		replies = []
		with wire.connect(self.port) as s:
			for i in range(2):
				s.sendall(wire.op_msg(cmd, request_id=100 + i))
				replies.append(wire.msg_body(wire.recv_msg(s)))
		for rep in replies:
			assert rep.get("ok") == 1 and not rep.get("writeErrors"), replies
		strip = lambda d: {k: v for k, v in d.items() if k not in ("$clusterTime", "operationTime", "electionId", "opTime")}
		assert strip(replies[0]) == strip(replies[1]), "a retried write must get the first reply: %r" % replies
		after = c.find_one({"_id": _id})
		if before is None and "insert" in cmd:
			assert after is not None and c.count_documents({"_id": _id}) == 1, "retried insert %r" % _id
		elif before is not None:  # applied once: cnt + 1, one 7 more
			assert after.get("cnt") == before.get("cnt", 0) + 1 and \
				after.get("nums") == before.get("nums", []) + [7], (before, after)
		self.retried += 1
		return self._n("retried", 1)


def tandem_state(tandem):
	"""'' while tandem runs, else its exit status and the end of its log."""
	rc = tandem.proc.poll()
	if rc is None:
		return ""
	return "tandem exited with status %s; log ends:\n%s" % (rc, servers._tail(tandem.log_path, 15))


def run_workload(tenants, total, on_progress=None, tandem=None):
	"""Run `total` write statements split over the tenants, one thread each;
	returns (statements, seconds)."""
	stats = tenants[0].stats
	share = total // len(tenants)
	errors = []

	def run(t):
		try:
			done = 0
			while done < share:
				done += t.step()
		except Exception as e:  # surfaced in the main thread
			errors.append((t.dbname, repr(e)))

	threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in tenants]
	t0 = time.monotonic()
	for th in threads:
		th.start()
	while any(th.is_alive() for th in threads):
		if on_progress:
			on_progress(stats.statements)
		time.sleep(0.1)
		if time.monotonic() - t0 > 600:
			raise AssertionError("workload still running after 600 s")
	for th in threads:
		th.join()
	assert not errors, "%s\n%s" % (errors, tandem_state(tandem) if tandem else "")
	return stats.statements, time.monotonic() - t0


# ---------------------------------------------------------------- rig

class Rig:
	pass


def make_rig(request, upstream_rs, pg, redis, tmp_path, mode, fallback=False):
	r = Rig()
	tandem_bin = request.getfixturevalue("tandem_bin")
	start_tandem = request.getfixturevalue("start_tandem")
	r.ctl = dw.tandemctl_path(tandem_bin)
	r.mapping = str(tmp_path / "mapping.yaml")
	with open(r.mapping, "w") as f:
		f.write(MAPPING)
	r.pg = pg
	r.dsn = dw.make_pg_db(pg, "dwdiff_%s" % uuid.uuid4().hex[:8])
	if r.ctl:
		dw.schema_apply(r.ctl, r.dsn, r.mapping, [COLL_DEFAULT])
	addr = "127.0.0.1:%d" % servers.free_port()
	try:
		r.tandem = dw.start_mode(start_tandem, upstream_rs.uri, mode, r.dsn, redis.url, r.mapping,
			listen=addr, advertise=addr, dualwrite={"spool_path": str(tmp_path / "tandem.spool")})
		r.mode = mode
		r.why = None
	except dw.PipelineMissing as e:
		if not fallback:
			pytest.skip(str(e))
		r.tandem = dw.start_mode(start_tandem, upstream_rs.uri, "mongo_only", r.dsn, redis.url, r.mapping,
			listen=addr, advertise=addr)
		r.mode = "mongo_only"
		r.why = str(e)
	setname = getattr(upstream_rs, "replset", None) or "rs0"
	r.client = MongoClient("mongodb://%s/?replicaSet=%s" % (addr, setname), serverSelectionTimeoutMS=10000)
	r.direct = MongoClient(upstream_rs.uri, serverSelectionTimeoutMS=10000)
	request.addfinalizer(r.client.close)
	request.addfinalizer(r.direct.close)
	return r


def make_tenants(rig, seed, real):
	stats = Stats()
	run = uuid.uuid4().hex[:6]
	tenants = []
	for i in range(TENANTS):
		name = "diff_%s_%d" % (run, i)
		tenants.append(Tenant(rig.client, rig.tandem.port, name, seed * 31 + i, real, stats))
	return tenants


def compare_counts(rig, tenants):
	"""(where, upstream count, PostgreSQL row count) wherever they differ."""
	out = []
	for t in tenants:
		for coll in COLLS:
			up = rig.direct[t.dbname][coll].count_documents({})
			rows = dw.pg_count(rig.dsn, coll, t.dbname)
			if up != rows:
				out.append(("%s.%s" % (t.dbname, coll), up, rows))
	return out


def compare_all(rig, tenants):
	"""Upstream vs PostgreSQL for every tenant and collection."""
	diffs = []
	counted = 0
	for t in tenants:
		for coll in COLLS:
			up = dw.upstream_docs(rig.direct[t.dbname][coll])
			pgdocs = dw.dump(rig.ctl, rig.dsn, t.dbname, coll, rig.mapping)
			counted += len(up)
			for d in dw.compare_docs(up, pgdocs):
				d["where"] = "%s.%s" % (t.dbname, coll)
				diffs.append(d)
	return counted, diffs


def failing(diffs, real):
	"""The differences that fail the test.  Against the reference upstream a
	field-order-only difference is reported but not counted: mongomock
	appends the fields an update creates in the update's own order, MongoDB
	5.0+ (and tandem's update engine) in lexicographic order of their paths.
	Against a real mongod every difference counts."""
	if real:
		return diffs
	order = [d for d in diffs if d["kind"] == "order"]
	if order:
		print("  %d field-order-only difference(s) ignored (refmongo appends new fields in update "
			"order, MongoDB 5.0+ lexicographically), e.g. %s" % (len(order), order[0]))
	return [d for d in diffs if d["kind"] != "order"]


def report(seed, tenants, n, secs):
	stats = tenants[0].stats
	print("\ndifferential: seed %d (TANDEM_DIFF_SEED=%d to repeat), %d write statements in %.1f s = %.0f writes/s"
		% (seed, seed, n, secs, n / secs if secs else 0))
	print("  operations: %s" % dict(sorted(stats.ops.items())))
	print("  retried writes sent twice (each applied once upstream, checked): %d" % sum(t.retried for t in tenants))
	print("  expected failures (duplicates, bulk errors, ...): %s" % dict(sorted(stats.errors.items())))


def cleanup(rig, tenants):
	for t in tenants:
		rig.direct.drop_database(t.dbname)


# ---------------------------------------------------------------- tests

def test_differential(request, upstream_rs, pg, redis, tmp_path):
	seed = _seed()
	real = bool(getattr(upstream_rs, "real", False))
	rig = make_rig(request, upstream_rs, pg, redis, tmp_path, "dual_write", fallback=True)
	tenants = make_tenants(rig, seed, real)
	n, secs = run_workload(tenants, _writes(), tandem=rig.tandem)
	report(seed, tenants, n, secs)
	try:
		total = sum(rig.direct[t.dbname][c].count_documents({}) for t in tenants for c in COLLS)
		assert total > 0 or _only, "the workload left no documents"
		print("  upstream holds %d documents" % total)
		if rig.mode == "mongo_only":
			pytest.skip("workload ran in mongo_only (%d writes, seed %d); comparison with PostgreSQL skipped: %s"
				% (n, seed, rig.why))
		m = dw.wait_applied(rig.tandem, timeout=120)
		print("  applied; metrics %s" % {k: v for k, v in m.items() if "dualwrite" in k and v})
		reason = dw.dump_support(rig.ctl)
		if reason:
			counts = compare_counts(rig, tenants)
			assert not counts, "seed %d: row counts differ (tenant.collection, upstream, postgres): %s" % (seed, counts)
			pytest.skip("workload ran in dual_write (seed %d), row counts equal; documents not compared: %s"
				% (seed, reason))
		counted, diffs = compare_all(rig, tenants)
		print("  compared %d documents; metrics %s" % (counted, {k: v for k, v in m.items() if "dualwrite" in k}))
		diffs = failing(diffs, real)
		assert not diffs, "seed %d: upstream vs PostgreSQL\n%s" % (seed, dw.format_diffs(diffs))
	finally:
		cleanup(rig, tenants)


def test_differential_pg_down(request, upstream_rs, redis, tmp_path):
	"""PostgreSQL stopped twice for ~3 s while the workload runs; then
	tandemctl replay drains the queue and nothing is lost."""
	seed = _seed()
	real = bool(getattr(upstream_rs, "real", False))
	own_pg = servers.Postgres()  # its own cluster: stopping it must not disturb other tests
	request.addfinalizer(own_pg.stop)
	rig = make_rig(request, upstream_rs, own_pg, redis, tmp_path, "dual_write")
	reason = dw.replay_support(rig.ctl)
	if reason:
		pytest.skip(reason)
	no_dump = dw.dump_support(rig.ctl)
	tenants = make_tenants(rig, seed, real)
	total = _writes()
	outages = []
	state = {"next": 0}
	marks = (total // 4, total * 5 // 8)

	def on_progress(done):
		i = state["next"]
		if i < len(marks) and done >= marks[i]:
			state["next"] = i + 1
			t0 = time.monotonic()
			dw.pg_stop(own_pg)
			time.sleep(3)
			dw.pg_start(own_pg)
			outages.append((done, round(time.monotonic() - t0, 1)))

	try:
		n, secs = run_workload(tenants, total, on_progress, tandem=rig.tandem)
		report(seed, tenants, n, secs)
		assert len(outages) == 2, "PostgreSQL was stopped %d times, not 2: %s" % (len(outages), outages)
		print("  PostgreSQL outages (at statement, seconds): %s" % outages)
		m = dw.metrics_values(rig.tandem.metrics())
		print("  after the run: %s" % {k: v for k, v in m.items() if "dualwrite" in k})
		r = dw.replay(rig.ctl, rig.tandem.config_path)
		print("  tandemctl replay exit %d:\n%s%s" % (r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
		assert r.returncode == 0, "tandemctl replay failed"
		m = dw.wait_applied(rig.tandem, timeout=120)
		assert m["tandem_dualwrite_queue_depth"] == 0
		if no_dump:
			counts = compare_counts(rig, tenants)
			assert not counts, "seed %d: row counts differ (tenant.collection, upstream, postgres): %s" % (seed, counts)
			pytest.skip("outages + replay (seed %d): queue empty, row counts equal; documents not compared: %s"
				% (seed, no_dump))
		counted, diffs = compare_all(rig, tenants)
		print("  compared %d documents; metrics %s" % (counted, {k: v for k, v in m.items() if "dualwrite" in k}))
		diffs = failing(diffs, real)
		assert not diffs, "seed %d: upstream vs PostgreSQL after outages + replay\n%s" % (seed, dw.format_diffs(diffs))
	finally:
		cleanup(rig, tenants)
