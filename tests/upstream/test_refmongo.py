"""Self-tests of the reference upstream on raw sockets: the promises the
integration tests and the drivers rely on (modern handshake, int64 cursor
ids, silence after moreToCome, exhaust streams, checksums, compression,
replica-set face, transactions, retryable writes, failCommand, SIGTERM).

  /usr/bin/python3 -m pytest -q tests/upstream/test_refmongo.py
"""

import os
import signal
import socket
import struct
import sys
import time

import bson
import pytest
from bson.int64 import Int64

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import servers  # noqa: E402
from refwire import COMPRESSOR_IDS, COMPRESSORS, crc32c  # noqa: E402

OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG = 1, 2004, 2012, 2013


# ---------------------------------------------------------------- raw client

class Raw:
	"""A raw wire-protocol connection."""

	def __init__(self, port, timeout=5.0):
		self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
		self.next_id = 100

	def close(self):
		self.sock.close()

	def send_bytes(self, data):
		self.sock.sendall(data)

	def msg(self, doc, flags=0, seqs=(), checksum=False, bad_checksum=False, extra_kind0=None, compressor=None):
		self.next_id += 1
		body = struct.pack("<I", flags | (1 if checksum else 0)) + b"\0" + bson.encode(doc)
		if extra_kind0 is not None:
			body += b"\0" + bson.encode(extra_kind0)
		for ident, docs in seqs:
			payload = ident.encode() + b"\0" + b"".join(bson.encode(d) for d in docs)
			body += b"\1" + struct.pack("<i", 4 + len(payload)) + payload
		length = 16 + len(body) + (4 if checksum else 0)
		header = struct.pack("<iiii", length, self.next_id, 0, OP_MSG)
		if checksum:
			crc = crc32c(header + body) ^ (1 if bad_checksum else 0)
			body += struct.pack("<I", crc)
		data = header + body
		if compressor:
			cid = COMPRESSOR_IDS[compressor]
			inner = COMPRESSORS[cid][1](data[16:])
			cbody = struct.pack("<iiB", OP_MSG, len(data) - 16, cid) + inner
			data = struct.pack("<iiii", 16 + len(cbody), self.next_id, 0, OP_COMPRESSED) + cbody
		self.sock.sendall(data)
		return self.next_id

	def query(self, ns, doc):
		self.next_id += 1
		body = struct.pack("<i", 0) + ns.encode() + b"\0" + struct.pack("<ii", 0, -1) + bson.encode(doc)
		self.sock.sendall(struct.pack("<iiii", 16 + len(body), self.next_id, 0, OP_QUERY) + body)
		return self.next_id

	def recv_exact(self, n):
		buf = b""
		while len(buf) < n:
			chunk = self.sock.recv(n - len(buf))
			if not chunk:
				raise ConnectionResetError("closed")
			buf += chunk
		return buf

	def read(self, timeout=5.0):
		"""(header tuple, flags, raw body document bytes, compressor id or None)."""
		self.sock.settimeout(timeout)
		header = self.recv_exact(16)
		length, rid, rto, op = struct.unpack("<iiii", header)
		body = self.recv_exact(length - 16)
		comp = None
		if op == OP_COMPRESSED:
			op, size, comp = struct.unpack("<iiB", body[:9])
			body = COMPRESSORS[comp][2](body[9:], size)
		if op == OP_MSG:
			flags = struct.unpack("<I", body[:4])[0]
			assert body[4] == 0
			return (length, rid, rto, op), flags, body[5:], comp
		assert op == OP_REPLY
		flags, _cid, _start, n = struct.unpack("<iqii", body[:20])
		assert n == 1
		return (length, rid, rto, op), flags, body[20:], comp

	def cmd(self, doc, **kw):
		rid = self.msg(doc, **kw)
		hdr, _flags, raw, _ = self.read()
		assert hdr[2] == rid
		return bson.decode(raw)

	def silent(self, wait=0.7):
		"""True when nothing arrives within `wait` seconds."""
		self.sock.settimeout(wait)
		try:
			self.sock.recv(1)
		except socket.timeout:
			return True
		return False


def closed(raw, wait=3.0):
	raw.sock.settimeout(wait)
	try:
		return raw.sock.recv(1) == b""
	except (ConnectionResetError, BrokenPipeError):
		return True
	except socket.timeout:
		return False


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
	srv = servers.RefMongo(str(tmp_path_factory.mktemp("ref")))
	yield srv
	srv.stop()


@pytest.fixture(scope="module")
def rs(tmp_path_factory):
	srv = servers.RefMongo(str(tmp_path_factory.mktemp("rs")), replset="rs0", nodes=2)
	yield srv
	srv.stop()


@pytest.fixture
def raw(ref):
	r = Raw(ref.port)
	yield r
	r.close()


# ---------------------------------------------------------------- handshake

def test_legacy_op_query_handshake(raw):
	rid = raw.query("admin.$cmd", {"isMaster": 1, "helloOk": True, "client": {"driver": {"name": "raw"}}})
	hdr, flags, body, _ = raw.read()
	assert hdr[3] == OP_REPLY and hdr[2] == rid and flags == 0
	d = bson.decode(body)
	assert d["ismaster"] is True and d["helloOk"] is True
	assert d["maxWireVersion"] == 17 and d["minWireVersion"] == 0
	assert d["maxBsonObjectSize"] == 16777216 and d["maxMessageSizeBytes"] == 48000000
	assert d["maxWriteBatchSize"] == 100000 and d["logicalSessionTimeoutMinutes"] == 30
	assert isinstance(d["topologyVersion"]["counter"], Int64) and "connectionId" in d and "localTime" in d
	assert "setName" not in d


def test_op_msg_hello(raw):
	d = raw.cmd({"hello": 1, "$db": "admin", "compression": ["zstd", "zlib", "bogus"]})
	assert d["isWritablePrimary"] is True and "ismaster" not in d and d["ok"] == 1
	assert d["compression"][0] == "zstd" and "bogus" not in d["compression"]
	b = raw.cmd({"buildInfo": 1, "$db": "admin"})
	assert b["version"] == "7.0.0" and b["versionArray"][:3] == [7, 0, 0]


def test_unknown_command(raw):
	d = raw.cmd({"frobnicate": 1, "$db": "x"})
	assert d == {"ok": 0.0, "errmsg": "no such command: 'frobnicate'", "code": 59, "codeName": "CommandNotFound"}


# ---------------------------------------------------------------- cursors

def test_int64_cursor_ids_and_batches(raw):
	raw.cmd({"insert": "c", "$db": "cur"}, seqs=[("documents", [{"_id": i} for i in range(25)])])
	rid = raw.msg({"find": "c", "$db": "cur", "batchSize": 10, "sort": {"_id": 1}})
	_, _, body, _ = raw.read()
	# the raw BSON of cursor.id is type 0x12 (int64)
	assert b"\x12id\x00" in body
	d = bson.decode(body)
	assert rid and [x["_id"] for x in d["cursor"]["firstBatch"]] == list(range(10))
	cid = d["cursor"]["id"]
	assert isinstance(cid, Int64) and cid != 0
	g = raw.cmd({"getMore": cid, "collection": "c", "$db": "cur", "batchSize": 10})
	assert [x["_id"] for x in g["cursor"]["nextBatch"]] == list(range(10, 20))
	g = raw.cmd({"getMore": cid, "collection": "c", "$db": "cur"})
	assert [x["_id"] for x in g["cursor"]["nextBatch"]] == list(range(20, 25)) and g["cursor"]["id"] == 0
	g = raw.cmd({"getMore": cid, "collection": "c", "$db": "cur"})
	assert g["code"] == 43


def test_exhaust_get_more_streams(raw):
	raw.cmd({"insert": "e", "$db": "ex"}, seqs=[("documents", [{"_id": i} for i in range(20)])])
	d = raw.cmd({"find": "e", "$db": "ex", "batchSize": 5, "sort": {"_id": 1}})
	cid = d["cursor"]["id"]
	rid = raw.msg({"getMore": cid, "collection": "e", "$db": "ex", "batchSize": 5}, flags=1 << 16)
	got, answers, last_flags = [], rid, None
	for _ in range(3):
		hdr, last_flags, body, _ = raw.read()
		assert hdr[2] == answers  # each reply answers the previous one
		answers = hdr[1]
		got += [x["_id"] for x in bson.decode(body)["cursor"]["nextBatch"]]
		if not last_flags & 2:
			break
	assert got == list(range(5, 20)) and last_flags == 0


# ---------------------------------------------------------------- writes

def test_more_to_come_gets_no_reply_but_applies(raw):
	raw.msg({"insert": "m", "$db": "mtc", "documents": [{"_id": 1}]}, flags=2)
	assert raw.silent()
	d = raw.cmd({"count": "m", "$db": "mtc"})
	assert d["n"] == 1


def test_duplicate_key_and_ordered_stop(raw):
	raw.cmd({"createIndexes": "u", "$db": "dk", "indexes": [{"key": {"k": 1}, "name": "k_1", "unique": True}]})
	docs = [{"_id": 1, "k": 1}, {"_id": 2, "k": 1}, {"_id": 3, "k": 3}]
	d = raw.cmd({"insert": "u", "$db": "dk", "ordered": True}, seqs=[("documents", docs)])
	assert d["n"] == 1 and d["writeErrors"][0]["index"] == 1 and d["writeErrors"][0]["code"] == 11000
	assert d["writeErrors"][0]["errmsg"] == "E11000 duplicate key error collection: dk.u index: k_1 dup key: { k: 1 }"
	d = raw.cmd({"insert": "u", "$db": "dk", "ordered": False}, seqs=[("documents", [{"_id": 1}, {"_id": 4, "k": 4}])])
	assert d["n"] == 1 and d["writeErrors"][0]["keyPattern"] == {"_id": 1}
	d = raw.cmd({"update": "u", "$db": "dk", "updates": [{"q": {"_id": 9}, "u": {"$set": {"k": 9}}, "upsert": True},
		{"q": {"_id": 4}, "u": {"$set": {"k": 1}}}]})
	assert d["n"] == 1 and d["upserted"] == [{"index": 0, "_id": 9}]
	assert d["writeErrors"][0]["index"] == 1 and d["writeErrors"][0]["keyValue"] == {"k": 1}


def test_find_and_modify(raw):
	raw.cmd({"insert": "f", "$db": "fam", "documents": [{"_id": 1, "n": 1}, {"_id": 2, "n": 2}]})
	d = raw.cmd({"findAndModify": "f", "$db": "fam", "query": {}, "sort": {"n": -1}, "update": {"$inc": {"n": 10}},
		"new": True, "fields": {"n": 1, "_id": 0}})
	assert d["value"] == {"n": 12} and d["lastErrorObject"] == {"n": 1, "updatedExisting": True}
	d = raw.cmd({"findAndModify": "f", "$db": "fam", "query": {"_id": 3}, "update": {"$set": {"n": 3}}, "upsert": True})
	assert d["value"] is None and d["lastErrorObject"] == {"n": 1, "updatedExisting": False, "upserted": 3}
	d = raw.cmd({"findAndModify": "f", "$db": "fam", "query": {"_id": 1}, "remove": True})
	assert d["value"] == {"_id": 1, "n": 1} and d["lastErrorObject"] == {"n": 1}


# ---------------------------------------------------------------- framing

def test_checksum_verified(ref, raw):
	assert raw.cmd({"ping": 1, "$db": "admin"}, checksum=True)["ok"] == 1
	other = Raw(ref.port)
	try:
		other.msg({"ping": 1, "$db": "admin"}, checksum=True, bad_checksum=True)
		assert closed(other)
	finally:
		other.close()
	assert raw.cmd({"ping": 1, "$db": "admin"})["ok"] == 1


def test_two_kind0_sections_close_only_that_connection(ref, raw):
	bad = Raw(ref.port)
	try:
		bad.msg({"ping": 1, "$db": "admin"}, extra_kind0={"ping": 1})
		assert closed(bad)
	finally:
		bad.close()
	assert raw.cmd({"ping": 1, "$db": "admin"})["ok"] == 1


@pytest.mark.parametrize("compressor", sorted(n for n in COMPRESSOR_IDS if n != "noop"))
def test_compressed_request_compressed_reply(raw, compressor):
	rid = raw.msg({"insert": "z", "$db": "comp", "documents": [{"s": "x" * 1000}]}, compressor=compressor)
	hdr, _, body, comp = raw.read()
	assert hdr[2] == rid and comp == COMPRESSOR_IDS[compressor]
	assert bson.decode(body)["n"] == 1


def test_oversize_length_closes(ref):
	bad = Raw(ref.port)
	try:
		bad.send_bytes(struct.pack("<iiii", 48000001, 1, 0, OP_MSG))
		assert closed(bad)
	finally:
		bad.close()


# ---------------------------------------------------------------- replica set

def test_replica_set_face_and_switch(rs):
	a, b = Raw(rs.ports[0]), Raw(rs.ports[1])
	try:
		h0 = a.cmd({"hello": 1, "$db": "admin"})
		h1 = b.cmd({"hello": 1, "$db": "admin"})
		hosts = ["127.0.0.1:%d" % p for p in rs.ports]
		assert h0["setName"] == "rs0" and h0["hosts"] == hosts and h0["primary"] == hosts[0]
		assert h0["isWritablePrimary"] is True and h1["isWritablePrimary"] is False and h1["secondary"] is True
		assert h0["me"] == hosts[0] and h1["me"] == hosts[1] and "electionId" in h0
		w = b.cmd({"insert": "r", "$db": "rsx", "documents": [{"_id": 1}]})
		assert w["code"] == 10107 and w["codeName"] == "NotWritablePrimary"
		r = b.cmd({"find": "r", "$db": "rsx"})
		assert r["code"] == 13435
		r = b.cmd({"find": "r", "$db": "rsx", "$readPreference": {"mode": "secondaryPreferred"}})
		assert r["ok"] == 1 and "operationTime" in r and "$clusterTime" in r
		# an awaitable hello on node 1 wakes up when the primary moves
		rid = b.msg({"hello": 1, "$db": "admin", "topologyVersion": h1["topologyVersion"], "maxAwaitTimeMS": 10000})
		t0 = time.monotonic()
		a.cmd({"refSetPrimary": 1, "$db": "admin"})
		hdr, _, body, _ = b.read(timeout=5)
		h1b = bson.decode(body)
		assert hdr[2] == rid and time.monotonic() - t0 < 3
		assert h1b["isWritablePrimary"] is True and h1b["primary"] == hosts[1]
		assert h1b["topologyVersion"]["counter"] > h1["topologyVersion"]["counter"]
		assert h1b["electionId"] > h0["electionId"]
		assert b.cmd({"insert": "r", "$db": "rsx", "documents": [{"_id": 2}]})["n"] == 1
		assert a.cmd({"insert": "r", "$db": "rsx", "documents": [{"_id": 3}]})["code"] == 10107
	finally:
		Raw(rs.ports[0]).cmd({"refSetPrimary": 0, "$db": "admin"})
		a.close()
		b.close()


def test_exhaust_hello_streams(rs):
	a = Raw(rs.ports[0])
	try:
		h = a.cmd({"hello": 1, "$db": "admin"})
		rid = a.msg({"hello": 1, "$db": "admin", "topologyVersion": h["topologyVersion"], "maxAwaitTimeMS": 300},
			flags=1 << 16)
		answers = rid
		for _ in range(3):
			hdr, flags, _, _ = a.read(timeout=3)
			assert flags & 2 and hdr[2] == answers
			answers = hdr[1]
	finally:
		a.close()


def test_transaction_commit_abort_and_retryable_write(rs):
	a = Raw(rs.ports[0])
	lsid = {"id": bson.Binary(os.urandom(16), 4)}
	try:
		base = {"$db": "txn", "lsid": lsid, "autocommit": False}
		r = a.cmd(dict({"insert": "t"}, documents=[{"_id": 1}], txnNumber=Int64(1), startTransaction=True, **base))
		assert r["n"] == 1
		assert a.cmd({"count": "t", "$db": "txn"})["n"] == 0
		assert a.cmd(dict({"find": "t"}, txnNumber=Int64(1), **base))["cursor"]["firstBatch"] == [{"_id": 1}]
		assert a.cmd({"commitTransaction": 1, "$db": "admin", "lsid": lsid, "txnNumber": Int64(1), "autocommit": False})["ok"] == 1
		assert a.cmd({"count": "t", "$db": "txn"})["n"] == 1
		a.cmd(dict({"insert": "t"}, documents=[{"_id": 2}], txnNumber=Int64(2), startTransaction=True, **base))
		assert a.cmd({"abortTransaction": 1, "$db": "admin", "lsid": lsid, "txnNumber": Int64(2), "autocommit": False})["ok"] == 1
		assert a.cmd({"count": "t", "$db": "txn"})["n"] == 1
		# retryable write: the same (lsid, txnNumber) twice is applied once
		w = {"update": "t", "$db": "txn", "lsid": lsid, "txnNumber": Int64(3),
			"updates": [{"q": {"_id": 1}, "u": {"$inc": {"v": 1}}}]}
		assert a.cmd(w)["nModified"] == 1 and a.cmd(w)["nModified"] == 1
		assert a.cmd({"find": "t", "$db": "txn", "filter": {"_id": 1}})["cursor"]["firstBatch"] == [{"_id": 1, "v": 1}]
	finally:
		a.close()


def test_standalone_refuses_txn_numbers(raw):
	d = raw.cmd({"insert": "s", "$db": "x", "documents": [{}], "lsid": {"id": bson.Binary(os.urandom(16), 4)},
		"txnNumber": Int64(1)})
	assert d["code"] == 20


def test_fail_command(raw, ref):
	on = raw.cmd({"configureFailPoint": "failCommand", "$db": "admin", "mode": {"times": 1},
		"data": {"failCommands": ["ping"], "errorCode": 91, "errorLabels": ["X"]}})
	assert on["ok"] == 1
	d = raw.cmd({"ping": 1, "$db": "admin"})
	assert d["code"] == 91 and d["errorLabels"] == ["X"]
	assert raw.cmd({"ping": 1, "$db": "admin"})["ok"] == 1
	raw.cmd({"configureFailPoint": "failCommand", "$db": "admin", "mode": {"times": 1},
		"data": {"failCommands": ["ping"], "closeConnection": True}})
	other = Raw(ref.port)
	try:
		other.msg({"ping": 1, "$db": "admin"})
		assert closed(other)
	finally:
		other.close()


def test_sigterm_exits_zero(tmp_path):
	srv = servers.RefMongo(str(tmp_path))
	c = Raw(srv.port)
	c.msg({"hello": 1, "$db": "admin", "topologyVersion": {"processId": bson.ObjectId(), "counter": Int64(0)},
		"maxAwaitTimeMS": 1})
	c.read()
	t0 = time.monotonic()
	srv.proc.send_signal(signal.SIGTERM)
	assert srv.proc.wait(5) == 0 and time.monotonic() - t0 < 3
	c.close()
	srv.stop()



# ---------------------------------------------------------------- authentication (--auth)

AUTH_USERS = ["root:rootpw:root@admin", "alice:apw:readWrite@acme", "bob:bpw:read@acme,readWrite@beta"]


@pytest.fixture(scope="module")
def authref(tmp_path_factory):
	args = ["--auth"] + [a for u in AUTH_USERS for a in ("--user", u)]
	srv = servers.RefMongo(str(tmp_path_factory.mktemp("authref")), extra_args=args)
	yield srv
	srv.stop()


def _client(srv, user=None, pwd=None, **kw):
	import pymongo
	creds = dict(username=user, password=pwd) if user else {}
	return pymongo.MongoClient(srv.uri, serverSelectionTimeoutMS=3000, maxPoolSize=1, **creds, **kw)


def test_auth_refuses_the_unauthenticated_as_mongod(authref):
	raw = Raw(authref.port)
	try:
		d = raw.cmd({"find": "users", "$db": "acme"})
		assert (d["ok"], d["code"], d["codeName"]) == (0, 13, "Unauthorized")
		assert d["errmsg"] == "Command find requires authentication"
		assert raw.cmd({"ping": 1, "$db": "admin"})["ok"] == 1
		st = raw.cmd({"connectionStatus": 1, "showPrivileges": True, "$db": "admin"})
		assert st["authInfo"] == {"authenticatedUsers": [], "authenticatedUserRoles": [],
			"authenticatedUserPrivileges": []}
	finally:
		raw.close()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1", None])
def test_auth_scram_and_privileges(authref, mech):
	from pymongo.errors import OperationFailure
	c = _client(authref, "alice", "apw", **({"authMechanism": mech} if mech else {}))
	try:
		c.acme.users.insert_one({"a": 1})
		with pytest.raises(OperationFailure) as e:
			c.other.users.insert_one({"a": 1})
		assert e.value.code == 13
		assert e.value.details["errmsg"].startswith('not authorized on other to execute command { insert: "users"')
		info = c.admin.command("connectionStatus", showPrivileges=True)["authInfo"]
		assert info["authenticatedUsers"] == [{"user": "alice", "db": "admin"}]
		assert info["authenticatedUserRoles"] == [{"role": "readWrite", "db": "acme"}]
		p = info["authenticatedUserPrivileges"][0]
		assert p["resource"] == {"db": "acme", "collection": ""}
		assert {"find", "insert", "update", "remove"} <= set(p["actions"])
	finally:
		c.close()


def test_auth_wrong_password_and_speculative_hello(authref):
	from pymongo.errors import OperationFailure
	before = authref.stats()["nodes"][0]["commands"]
	c = _client(authref, "alice", "apw")  # default mechanism: speculative SCRAM-SHA-256 in the handshake
	c.acme.users.find_one()
	after = authref.stats()["nodes"][0]["commands"]
	c.close()
	assert after.get("saslStart", 0) == before.get("saslStart", 0), "the first step rode in hello"
	assert after.get("saslContinue", 0) > before.get("saslContinue", 0)
	bad = _client(authref, "alice", "nope")
	with pytest.raises(OperationFailure) as e:
		bad.acme.users.find_one()
	assert e.value.code == 18
	bad.close()


def test_auth_read_role_logout_and_reauth(authref):
	from pymongo.errors import OperationFailure
	c = _client(authref, "bob", "bpw")
	try:
		c.acme.users.find_one()
		with pytest.raises(OperationFailure) as e:
			c.acme.users.insert_one({"b": 1})
		assert e.value.code == 13
		c.beta.items.insert_one({"b": 1})
		c.admin.logout()
		with pytest.raises(OperationFailure) as e:
			c.acme.users.find_one()
		assert e.value.details["errmsg"] == "Command find requires authentication"
		c.admin.authenticate("alice", "apw")
		c.acme.users.insert_one({"c": 1})
	finally:
		c.close()


def test_auth_create_user(authref):
	from pymongo.errors import OperationFailure
	alice = _client(authref, "alice", "apw")
	with pytest.raises(OperationFailure) as e:
		alice.admin.command("createUser", "carol", pwd="cpw", roles=[{"role": "read", "db": "beta"}])
	assert e.value.code == 13
	alice.close()
	root = _client(authref, "root", "rootpw")
	root.admin.command("createUser", "carol", pwd="cpw", roles=[{"role": "read", "db": "beta"}])
	root.close()
	carol = _client(authref, "carol", "cpw")
	assert carol.beta.items.find_one() is not None
	carol.close()
