"""pymongo (Debian python3-pymongo) against the upstream, directly and
through tandem.

Every scenario runs twice: `direct` (the driver talks to the upstream: this
checks the test and the reference upstream) and `tandem` (the same scenario
through the proxy; skipped while build/proxy/tandem does not exist). With
TANDEM_TEST_MONGO_URI set, the upstream is that real server.

  /usr/bin/python3 -m pytest -q tests/integration/test_pymongo.py
"""

import os
import time

import pytest
from bson import ObjectId
from bson.int64 import Int64
from pymongo import (ASCENDING, DESCENDING, InsertOne, MongoClient, ReturnDocument, UpdateOne, WriteConcern)
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

import servers
from helpers import ConnectionWatch, command_log, wait_until

TIMEOUT_MS = 5000


class Target:
	"""Where the driver connects: the upstream itself or a tandem before it."""

	def __init__(self, kind, uri, tandem=None):
		self.kind = kind
		self.uri = uri
		self.tandem = tandem


@pytest.fixture(params=["direct", "tandem"])
def target(request, upstream):
	if request.param == "direct":
		return Target("direct", upstream.uri)
	start_tandem = request.getfixturevalue("start_tandem")
	t = start_tandem(upstream.uri)
	return Target("tandem", t.uri, t)


def _set_name(upstream_rs):
	return getattr(upstream_rs, "replset", None) or "rs0"


@pytest.fixture(params=["direct", "tandem"])
def target_rs(request, upstream_rs):
	"""A replica-set URI: the members themselves, or one tandem that
	advertises itself as the whole set."""
	if request.param == "direct":
		return Target("direct", upstream_rs.uri)
	start_tandem = request.getfixturevalue("start_tandem")
	addr = "127.0.0.1:%d" % servers.free_port()
	t = start_tandem(upstream_rs.uri, listen=addr, advertise=addr)
	return Target("tandem", "mongodb://%s/?replicaSet=%s" % (addr, _set_name(upstream_rs)), t)


@pytest.fixture
def make_client():
	made = []

	def make(uri, **kw):
		log, listener = command_log()
		kw.setdefault("serverSelectionTimeoutMS", TIMEOUT_MS)
		kw.setdefault("heartbeatFrequencyMS", 500)
		c = MongoClient(uri, event_listeners=[listener], **kw)
		c.log = log
		made.append(c)
		return c

	yield make
	for c in made:
		c.close()


# ---------------------------------------------------------------- CRUD

def crud_script(db):
	"""A fixed sequence of operations; returns every answer, in order."""
	out = []
	t = db.people
	out.append(t.insert_one({"_id": 1, "name": "ada", "age": 36, "tags": ["math"]}).inserted_id)
	out.append(t.insert_many([
		{"_id": 2, "name": "bob", "age": 25, "tags": []},
		{"_id": 3, "name": "cyd", "age": 41, "tags": ["ops", "math"]},
		{"_id": 4, "name": "dee", "age": 25, "big": Int64(1 << 40)},
		{"_id": 5, "name": "eve", "age": 52, "nested": {"a": {"b": 1}}},
	]).inserted_ids)
	out.append(list(t.find({"age": {"$gte": 30}}, {"name": 1, "_id": 0}).sort("age", DESCENDING)))
	out.append(list(t.find({"tags": "math"}).sort([("age", ASCENDING)])))
	out.append(list(t.find({}, {"name": 1}).sort("_id", ASCENDING).skip(1).limit(2)))
	r = t.update_one({"_id": 2}, {"$set": {"age": 26}, "$push": {"tags": "new"}})
	out.append((r.matched_count, r.modified_count, r.upserted_id))
	r = t.update_many({"age": {"$lt": 30}}, {"$inc": {"age": 1}})
	out.append((r.matched_count, r.modified_count))
	r = t.update_one({"_id": 9}, {"$set": {"name": "zed"}, "$setOnInsert": {"age": 1}}, upsert=True)
	out.append((r.matched_count, r.modified_count, r.upserted_id))
	r = t.update_one({"_id": 9}, {"$set": {"name": "zed"}})
	out.append((r.matched_count, r.modified_count))
	r = t.replace_one({"_id": 3}, {"name": "cyd2", "age": 42})
	out.append((r.matched_count, r.modified_count))
	out.append(t.find_one({"_id": 3}))
	out.append(t.find_one_and_update({"_id": 1}, {"$inc": {"age": 1}}, return_document=ReturnDocument.BEFORE))
	out.append(t.find_one_and_update({"_id": 1}, {"$inc": {"age": 1}}, projection={"age": 1},
		return_document=ReturnDocument.AFTER))
	out.append(t.find_one_and_update({"_id": 77}, {"$set": {"x": 1}}))
	out.append(t.find_one_and_delete({"name": "zed"}))
	out.append(t.count_documents({}))
	out.append(t.count_documents({"age": {"$gt": 30}}))
	out.append(sorted(t.distinct("age")))
	out.append(list(t.aggregate([
		{"$match": {"age": {"$exists": True}}},
		{"$group": {"_id": {"$gt": ["$age", 30]}, "n": {"$sum": 1}}},
		{"$sort": {"_id": 1}},
	])))
	out.append(t.delete_one({"_id": 5}).deleted_count)
	out.append(t.delete_many({"age": {"$lt": 30}}).deleted_count)
	out.append(t.delete_many({"age": {"$lt": 30}}).deleted_count)
	out.append(list(t.find({}).sort("_id", ASCENDING)))
	return out


def test_crud(target, make_client, dbname):
	c = make_client(target.uri)
	c.drop_database(dbname)
	out = crud_script(c[dbname])
	assert out[0] == 1
	assert out[1] == [2, 3, 4, 5]
	assert out[2] == [{"name": "eve"}, {"name": "cyd"}, {"name": "ada"}]
	assert [d["_id"] for d in out[3]] == [1, 3]
	assert out[4] == [{"_id": 2, "name": "bob"}, {"_id": 3, "name": "cyd"}]
	assert out[5] == (1, 1, None)
	assert out[6] == (2, 2)
	assert out[7] == (0, 0, 9)
	assert out[8] == (1, 0)
	assert out[9] == (1, 1)
	assert out[10] == {"_id": 3, "name": "cyd2", "age": 42}
	assert out[11]["age"] == 36
	assert out[12] == {"_id": 1, "age": 38}
	assert out[13] is None
	assert out[14] == {"_id": 9, "name": "zed", "age": 1}
	assert out[15] == 5
	assert out[16] == 3  # ada 38, cyd 42, eve 52 (bob 27, dee 26 are not)
	assert out[17] == [26, 27, 38, 42, 52]
	assert out[18] == [{"_id": False, "n": 2}, {"_id": True, "n": 3}]
	assert out[19] == 1
	assert out[20] == 2
	assert out[21] == 0
	final = out[22]
	assert [d["_id"] for d in final] == [1, 3]
	c.drop_database(dbname)


def test_types_round_trip(target, make_client, dbname):
	"""int32 / int64 / double stay distinct and _id comes first."""
	c = make_client(target.uri)
	t = c[dbname].types
	t.insert_one({"a": 1, "_id": "k", "i64": Int64(5), "d": 5.0, "oid": ObjectId("5f0000000000000000000001")})
	t.update_one({"_id": "k"}, {"$inc": {"i64": 1}})
	doc = t.find_one({"_id": "k"})
	assert list(doc) == ["_id", "a", "i64", "d", "oid"]
	assert type(doc["i64"]) is Int64 and doc["i64"] == 6
	assert type(doc["a"]) is int and type(doc["d"]) is float


# ---------------------------------------------------------------- cursors

def test_cursor_getmore_batches(target, make_client, dbname):
	c = make_client(target.uri)
	t = c[dbname].many
	t.insert_many([{"_id": i, "pad": "x" * 100} for i in range(250)])
	c.log.clear()
	got = [d["_id"] for d in t.find({}, batch_size=7).sort("_id", ASCENDING)]
	assert got == list(range(250))
	# 7 in the first batch, then ceil(243 / 7) = 35 getMores
	assert c.log.count("find") == 1
	assert c.log.count("getMore") == 35
	for reply in c.log.replies("getMore"):
		assert len(reply["cursor"]["nextBatch"]) <= 7
	assert c.log.replies("getMore")[-1]["cursor"]["id"] == 0


def test_cursor_limit_and_single_batch(target, make_client, dbname):
	c = make_client(target.uri)
	t = c[dbname].many
	t.insert_many([{"_id": i} for i in range(30)])
	assert [d["_id"] for d in t.find().sort("_id", 1).limit(12).batch_size(5)] == list(range(12))
	assert [d["_id"] for d in t.find().sort("_id", 1).limit(-4)] == [0, 1, 2, 3]


def test_kill_cursors(target, make_client, dbname):
	c = make_client(target.uri)
	db = c[dbname]
	db.many.insert_many([{"_id": i} for i in range(50)])
	cur = db.many.find({}, batch_size=5)
	first = [next(cur)["_id"] for _ in range(3)]
	assert len(first) == 3
	cid = cur.cursor_id
	assert cid and isinstance(cid, int)
	cur.close()
	wait_until(lambda: c.log.count("killCursors") == 1, timeout=5, what="killCursors")
	wait_until(lambda: c.log.replies("killCursors"), timeout=5, what="killCursors reply")
	assert c.log.replies("killCursors")[0]["cursorsKilled"] == [cid]
	with pytest.raises(OperationFailure) as e:
		db.command("getMore", Int64(cid), collection="many")
	assert e.value.code == 43


# ---------------------------------------------------------------- bulk

def test_bulk_ordered_duplicate_key(target, make_client, dbname):
	c = make_client(target.uri)
	t = c[dbname].uniq
	t.create_index("k", unique=True)
	ops = [InsertOne({"_id": 1, "k": 1}), InsertOne({"_id": 2, "k": 2}), InsertOne({"_id": 3, "k": 1}),
		InsertOne({"_id": 4, "k": 4})]
	with pytest.raises(BulkWriteError) as e:
		t.bulk_write(ops, ordered=True)
	details = e.value.details
	assert details["nInserted"] == 2
	assert len(details["writeErrors"]) == 1
	err = details["writeErrors"][0]
	assert err["index"] == 2 and err["code"] == 11000
	assert "E11000" in err["errmsg"]
	assert sorted(d["_id"] for d in t.find()) == [1, 2]

	with pytest.raises(BulkWriteError) as e:
		t.bulk_write([InsertOne({"_id": 5, "k": 1}), InsertOne({"_id": 6, "k": 6}),
			UpdateOne({"_id": 6}, {"$set": {"k": 2}})], ordered=False)
	d = e.value.details
	assert d["nInserted"] == 1
	assert sorted(w["index"] for w in d["writeErrors"]) == [0, 2]
	with pytest.raises(DuplicateKeyError):
		t.insert_one({"_id": 1})


# ---------------------------------------------------------------- sessions

def test_session_causal_consistency(target, make_client, dbname):
	c = make_client(target.uri)
	db = c[dbname]
	with c.start_session(causal_consistency=True) as s:
		db.s.insert_one({"_id": "w", "v": 1}, session=s)
		assert db.s.find_one({"_id": "w"}, session=s) == {"_id": "w", "v": 1}
		db.s.update_one({"_id": "w"}, {"$set": {"v": 2}}, session=s)
		assert db.s.find_one({"_id": "w"}, session=s)["v"] == 2
		lsid = s.session_id
	sent = [e.command for e in c.log.started if e.command_name in ("insert", "find", "update")]
	assert len(sent) == 4 and all(cmd.get("lsid") == lsid for cmd in sent)


def test_unacknowledged_writes(target, make_client, dbname):
	acked = make_client(target.uri)
	acked[dbname].create_collection("w0")
	fire = make_client(target.uri)
	t0 = fire[dbname].get_collection("w0", write_concern=WriteConcern(w=0))
	for i in range(20):
		assert not t0.insert_one({"_id": i}).acknowledged
	t0.update_one({"_id": 3}, {"$set": {"x": 1}})
	t0.delete_one({"_id": 19})
	t = acked[dbname].w0
	wait_until(lambda: t.count_documents({}) == 19 and t.find_one({"_id": 3}, {"x": 1}) == {"_id": 3, "x": 1},
		timeout=10, what="unacknowledged writes to land")
	# the connection that sent them is still usable (no stray reply in its stream)
	assert fire[dbname].w0.find_one({"_id": 0}) == {"_id": 0}
	assert fire.admin.command("ping")["ok"] == 1


def test_unknown_command_error_passes_unchanged(target, make_client):
	c = make_client(target.uri)
	with pytest.raises(OperationFailure) as e:
		c.admin.command("tandemNoSuchCommand")
	assert e.value.code == 59
	assert e.value.details["codeName"] == "CommandNotFound"


# ---------------------------------------------------------------- same answers

def _normalise(out):
	return repr(out)


def test_tandem_answers_like_upstream(upstream, start_tandem, make_client, dbname):
	"""The same script directly and through tandem gives identical answers."""
	t = start_tandem(upstream.uri)
	direct = make_client(upstream.uri)
	proxied = make_client(t.uri)
	direct.drop_database(dbname + "_d")
	direct.drop_database(dbname + "_p")
	a = crud_script(direct[dbname + "_d"])
	b = crud_script(proxied[dbname + "_p"])
	assert _normalise(a) == _normalise(b)
	hd = direct.admin.command("hello")
	hp = proxied.admin.command("hello")
	for k in ("maxWireVersion", "minWireVersion", "maxBsonObjectSize", "maxMessageSizeBytes", "maxWriteBatchSize",
			"logicalSessionTimeoutMinutes", "isWritablePrimary"):
		assert hp.get(k) == hd.get(k), k


def test_tandem_does_not_hard_code_wire_version(start_tandem, make_client, tmp_path):
	"""A refmongo that claims maxWireVersion 21 / 7.0 must look so through tandem."""
	if os.environ.get("TANDEM_TEST_MONGO_URI"):
		pytest.skip("needs the reference upstream")
	ref = servers.RefMongo(str(tmp_path / "ref21"), extra_args=("--max-wire-version", "21"))
	try:
		t = start_tandem(ref.uri)
		c = make_client(t.uri)
		assert c.admin.command("hello")["maxWireVersion"] == 21
		assert c.admin.command("isMaster")["maxWireVersion"] == 21
	finally:
		ref.stop()


def test_compressed_traffic(target, upstream, make_client, dbname):
	"""zlib negotiated end to end; the upstream receives compressed requests."""
	if upstream.real:
		pytest.skip("needs the reference upstream's counters")
	before = upstream.stats()["nodes"][0]["compressedRequests"].get("zlib", 0)
	c = make_client(target.uri, compressors="zlib")
	c[dbname].z.insert_many([{"_id": i, "s": "abc" * 200} for i in range(50)])
	assert [d["_id"] for d in c[dbname].z.find().sort("_id", 1).batch_size(10)] == list(range(50))
	after = upstream.stats()["nodes"][0]["compressedRequests"].get("zlib", 0)
	assert after - before >= 6  # insert, find, 4 getMores at least


# ---------------------------------------------------------------- TLS

def test_tls_client_side(upstream, start_tandem, tls_certs, make_client, dbname):
	t = start_tandem(upstream.uri, tls={"cert_file": tls_certs.server_cert, "key_file": tls_certs.server_key})
	c = make_client(t.uri, tls=True, tlsCAFile=tls_certs.ca)
	c[dbname].tls.insert_one({"_id": 1})
	assert c[dbname].tls.find_one() == {"_id": 1}
	plain = make_client(t.uri, serverSelectionTimeoutMS=1500)
	with pytest.raises(Exception):
		plain.admin.command("ping")


def test_tls_upstream_direct(upstream_tls, tls_certs, make_client, dbname):
	"""The TLS upstream itself (checks the fixture tandem's test relies on)."""
	c = make_client(upstream_tls.uri, tlsCAFile=tls_certs.ca)
	c[dbname].tls.insert_one({"_id": 3})
	assert c[dbname].tls.find_one() == {"_id": 3}


def test_tls_upstream_side(upstream_tls, start_tandem, tls_certs, make_client, dbname):
	t = start_tandem(upstream_tls.uri, upstream_tls={"ca_file": tls_certs.ca})
	c = make_client(t.uri)
	c[dbname].tls.insert_one({"_id": 2})
	assert c[dbname].tls.find_one() == {"_id": 2}


# ---------------------------------------------------------------- replica set

def test_transactions(target_rs, make_client, dbname):
	c = make_client(target_rs.uri)
	db = c[dbname]
	db.create_collection("acct")
	db.acct.insert_many([{"_id": "a", "bal": 100}, {"_id": "b", "bal": 0}])
	with c.start_session() as s:
		with s.start_transaction():
			db.acct.update_one({"_id": "a"}, {"$inc": {"bal": -30}}, session=s)
			db.acct.update_one({"_id": "b"}, {"$inc": {"bal": 30}}, session=s)
			db.acct.insert_one({"_id": "log1"}, session=s)
			assert db.acct.find_one({"_id": "a"}, session=s)["bal"] == 70
			assert db.acct.find_one({"_id": "a"})["bal"] == 100  # not visible outside yet
			assert db.acct.find_one({"_id": "log1"}) is None
	assert db.acct.find_one({"_id": "a"})["bal"] == 70
	assert db.acct.find_one({"_id": "b"})["bal"] == 30
	assert db.acct.find_one({"_id": "log1"}) == {"_id": "log1"}

	with c.start_session() as s:
		s.start_transaction()
		db.acct.update_one({"_id": "a"}, {"$inc": {"bal": -1000}}, session=s)
		db.acct.insert_one({"_id": "log2"}, session=s)
		s.abort_transaction()
	assert db.acct.find_one({"_id": "a"})["bal"] == 70
	assert db.acct.find_one({"_id": "log2"}) is None
	names = c.log.names()
	assert "commitTransaction" in names and "abortTransaction" in names
	txn_cmds = [e.command for e in c.log.started if e.command.get("autocommit") is False]
	assert len(txn_cmds) >= 7


def test_replset_uri_stays_on_tandem(upstream_rs, start_tandem, make_client, dbname):
	"""A driver given a replica-set URI naming tandem only ever talks to
	tandem: its topology holds one member and it never opens a connection
	to the real members (sampled from /proc every 20 ms)."""
	addr = "127.0.0.1:%d" % servers.free_port()
	t = start_tandem(upstream_rs.uri, listen=addr, advertise=addr)
	with ConnectionWatch(upstream_rs.ports) as watch:
		c = make_client("mongodb://%s/?replicaSet=%s" % (addr, _set_name(upstream_rs)))
		c[dbname].rs.insert_one({"_id": 1})
		assert c[dbname].rs.find_one() == {"_id": 1}
		assert c.admin.command("hello")["setName"] == _set_name(upstream_rs)
		time.sleep(1.5)  # several heartbeats (500 ms), awaitable/streamed ones included
		assert c.nodes == frozenset([("127.0.0.1", t.port)])
		described = {sd.address for sd in c._topology.description.server_descriptions().values()}
		assert described == {("127.0.0.1", t.port)}
		hello = c.admin.command("hello")
		assert hello["hosts"] == [addr] and hello["me"] == addr and hello["primary"] == addr
	assert watch.samples > 10
	assert watch.seen == set()


def test_failover_through(target_rs, upstream_rs, make_client, dbname):
	if upstream_rs.set_primary is None:
		pytest.skip("the upstream's primary cannot be switched")
	watch = ConnectionWatch(upstream_rs.ports)
	watch.__enter__()
	c = make_client(target_rs.uri, retryWrites=False)
	t = c[dbname].fo
	t.insert_one({"_id": "before"})
	node1_inserts = upstream_rs.stats()["nodes"][1]["commands"].get("insert", 0)
	upstream_rs.set_primary(1)
	try:
		deadline = time.monotonic() + 10
		done, errors = False, []
		while not done and time.monotonic() < deadline:
			try:
				t.insert_one({"_id": "after"})
				done = True
			except Exception as e:  # NotWritablePrimary / AutoReconnect while it moves
				errors.append(type(e).__name__)
				time.sleep(0.2)
		assert done, "no successful write within 10 s: %s" % errors
		assert upstream_rs.stats()["nodes"][1]["commands"].get("insert", 0) > node1_inserts
		assert sorted(d["_id"] for d in t.find()) == ["after", "before"]
		if target_rs.kind == "tandem":
			assert c.nodes == frozenset([("127.0.0.1", target_rs.tandem.port)])
	finally:
		watch.__exit__()
		upstream_rs.set_primary(0)
	if target_rs.kind == "tandem":
		assert watch.seen == set()  # the driver never went around tandem
	else:
		assert len(watch.seen) == 2, (watch.samples, watch.errors, watch.baseline)  # the watch sees direct connections
