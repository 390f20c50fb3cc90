"""write_mode pg_primary and pg_only: PostgreSQL executes the write and its
result answers the client (proxy/pgserve/pgserve.h).  The CRUD spec cases run in
both modes in test_conformance_write.py; these tests cover what the spec
does not: MongoDB behind PostgreSQL, duplicate keys and declared
constraints as writeErrors, retries, PostgreSQL down, transactions.

Every test starts its own tandem against the shared reference upstream and
real PostgreSQL (conftest.py); the one that stops PostgreSQL starts its own.
"""

import time
import uuid

import bson
import bson.timestamp
import pymongo
import pytest
from bson.int64 import Int64
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

import dualwrite_helpers as dw
import servers

CHECKED_MAPPING = """version: 1
collections:
  accounts:
    table: accounts
    id: int8
    columns:
      plan:
        type: text
        enum: [free, pro]
"""


def _ctl(tandem_bin):
	ctl = dw.tandemctl_path(tandem_bin)
	if ctl is None:
		pytest.fail("tandemctl not built next to tandem")
	return ctl


def _client(t):
	return pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=10000)


def _metric(t, name):
	return dw.metrics_values(t.metrics()).get(name, 0)


def _pg_docs(ctl, dsn, tenant, coll, mapping=None):
	return sorted(dw.dump(ctl, dsn, tenant, coll, mapping), key=lambda d: str(d["_id"]))


@pytest.mark.parametrize("mode", ["pg_primary", "pg_only"])
def test_postgres_answers_and_mongodb_follows(start_tandem, upstream, pg, tandem_bin, dbname, mode):
	"""Inserts, updates, upserts (tandem generates the _id), deletes: the
	client's counts come from PostgreSQL; pg_primary leaves MongoDB equal to
	PostgreSQL (same generated _ids), pg_only leaves MongoDB untouched."""
	ctl = _ctl(tandem_bin)
	t = dw.start_mode(start_tandem, upstream.uri, mode, pg.dsn)
	c = _client(t)[dbname].things
	c.insert_many([{"_id": i, "n": i, "tag": "a" if i % 2 else "b"} for i in range(10)])
	r = c.update_many({"tag": "a"}, {"$inc": {"n": 100}})
	assert (r.matched_count, r.modified_count) == (5, 5)
	r = c.update_one({"missing": True}, {"$set": {"made": 1}}, upsert=True)
	assert r.upserted_id is not None and r.matched_count == 0
	assert c.delete_many({"tag": "b"}).deleted_count == 5
	doc = c.find_one_and_update({"_id": 1}, {"$set": {"x": 1}}, return_document=pymongo.ReturnDocument.AFTER)
	assert doc == {"_id": 1, "n": 101, "tag": "a", "x": 1}
	pgdocs = _pg_docs(ctl, pg.dsn, dbname, "things")
	assert len(pgdocs) == 6
	assert {"_id": r.upserted_id, "missing": True, "made": 1} in [dict(d) for d in pgdocs]
	upstream_docs = sorted(pymongo.MongoClient(upstream.uri)[dbname].things.find(), key=lambda d: str(d["_id"]))
	if mode == "pg_primary":
		assert [dict(d) for d in upstream_docs] == [dict(d) for d in pgdocs]
		assert _metric(t, "tandem_pgserve_mirror_errors_total") == 0
	else:
		assert upstream_docs == []
	assert _metric(t, "tandem_pgserve_writes_total") >= 5


def test_duplicate_key_is_e11000_and_ordered_bulks_stop(start_tandem, upstream, pg, tandem_bin, dbname):
	ctl = _ctl(tandem_bin)
	t = dw.start_mode(start_tandem, upstream.uri, "pg_only", pg.dsn)
	c = _client(t)[dbname].dups
	c.insert_one({"_id": "k", "v": 1})
	with pytest.raises(DuplicateKeyError) as e:
		c.insert_one({"_id": "k", "v": 2})
	assert e.value.code == 11000 and "E11000" in str(e.value)
	with pytest.raises(BulkWriteError) as e:
		c.insert_many([{"_id": "a"}, {"_id": "k"}, {"_id": "b"}], ordered=True)
	assert e.value.details["nInserted"] == 1 and e.value.details["writeErrors"][0]["index"] == 1
	with pytest.raises(BulkWriteError) as e:
		c.insert_many([{"_id": "c"}, {"_id": "k"}, {"_id": "d"}, {"_id": "c"}], ordered=False)
	assert e.value.details["nInserted"] == 2
	assert [w["index"] for w in e.value.details["writeErrors"]] == [1, 3]
	assert [d["_id"] for d in _pg_docs(ctl, pg.dsn, dbname, "dups")] == ["a", "c", "d", "k"]
	assert dict(_pg_docs(ctl, pg.dsn, dbname, "dups")[3]) == {"_id": "k", "v": 1}


def test_declared_constraint_is_a_write_error_and_the_rest_applies(start_tandem, upstream, pg, tandem_bin,
		dbname, tmp_path):
	"""A CHECK PostgreSQL enforces (mapped enum): the refused statement gets
	a writeError, the others of an unordered insert are applied; an ordered
	one stops there."""
	ctl = _ctl(tandem_bin)
	mapping = tmp_path / "mapping.yaml"
	mapping.write_text(CHECKED_MAPPING)
	dsn = dw.make_pg_db(pg, "pgserve_%s" % uuid.uuid4().hex[:8])
	dw.schema_apply(ctl, dsn, str(mapping))
	t = dw.start_mode(start_tandem, upstream.uri, "pg_primary", dsn, mapping=str(mapping))
	c = _client(t)[dbname].accounts
	with pytest.raises(BulkWriteError) as e:
		c.insert_many([{"_id": 1, "plan": "free"}, {"_id": 2, "plan": "gold"}, {"_id": 3, "plan": "pro"}],
			ordered=False)
	errs = e.value.details["writeErrors"]
	assert [w["index"] for w in errs] == [1] and errs[0]["code"] == 121, errs
	assert e.value.details["nInserted"] == 2
	with pytest.raises(BulkWriteError) as e:
		c.insert_many([{"_id": 4, "plan": "pro"}, {"_id": 5, "plan": "gold"}, {"_id": 6, "plan": "pro"}])
	assert e.value.details["nInserted"] == 1
	assert [d["_id"] for d in _pg_docs(ctl, dsn, dbname, "accounts", str(mapping))] == [1, 3, 4]
	upstream_ids = sorted(d["_id"] for d in pymongo.MongoClient(upstream.uri)[dbname].accounts.find())
	assert upstream_ids == [1, 3, 4]


def test_a_retried_write_is_applied_once(start_tandem, upstream, pg, tandem_bin, dbname):
	"""The same (lsid, txnNumber) twice, on two connections: one $inc in
	PostgreSQL, the same reply both times."""
	ctl = _ctl(tandem_bin)
	t = dw.start_mode(start_tandem, upstream.uri, "pg_only", pg.dsn)
	_client(t)[dbname].ctr.insert_one({"_id": 1, "n": 0})
	cmd = {"update": "ctr", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}}],
		"lsid": {"id": bson.Binary(uuid.uuid4().bytes, 4)}, "txnNumber": Int64(7), "$db": dbname}
	first = servers.raw_command(t.host, t.port, cmd)
	second = servers.raw_command(t.host, t.port, cmd)
	assert (first["n"], first["nModified"]) == (1, 1) and second == first
	assert dict(_pg_docs(ctl, pg.dsn, dbname, "ctr")[0]) == {"_id": 1, "n": 1}
	assert _metric(t, "tandem_pgserve_retries_answered_total") == 1


def test_current_date_takes_tandems_clock(start_tandem, upstream, pg, tandem_bin, dbname):
	"""tandem is the server in pg_only: $currentDate gets tandem's clock
	(in dual_write only MongoDB knows it and the document is re-read)."""
	import datetime
	ctl = _ctl(tandem_bin)
	t = dw.start_mode(start_tandem, upstream.uri, "pg_only", pg.dsn)
	c = _client(t)[dbname].stamps
	c.insert_one({"_id": 1})
	before = datetime.datetime.utcnow() - datetime.timedelta(seconds=1)
	r = c.update_one({"_id": 1}, {"$currentDate": {"at": True, "ts": {"$type": "timestamp"}}})
	after = datetime.datetime.utcnow() + datetime.timedelta(seconds=1)
	assert (r.matched_count, r.modified_count) == (1, 1)
	doc = dict(_pg_docs(ctl, pg.dsn, dbname, "stamps")[0])
	assert before <= doc["at"].replace(tzinfo=None) <= after, doc
	assert isinstance(doc["ts"], bson.timestamp.Timestamp) and doc["ts"].inc == 1


def test_transactions_are_refused_in_pg_only(start_tandem, upstream, pg, dbname):
	t = dw.start_mode(start_tandem, upstream.uri, "pg_only", pg.dsn)
	cmd = {"insert": "tx", "documents": [{"_id": 1}], "lsid": {"id": bson.Binary(uuid.uuid4().bytes, 4)},
		"txnNumber": Int64(1), "startTransaction": True, "autocommit": False, "$db": dbname}
	with pytest.raises(servers.ServerError) as e:
		servers.raw_command(t.host, t.port, cmd)
	assert "263" in str(e.value) or "OperationNotSupportedInTransaction" in str(e.value)


def test_postgres_down_fails_the_write_fast_and_retryably(start_tandem, upstream, tandem_bin, dbname):
	"""pg_primary with PostgreSQL stopped: the client gets an error labelled
	RetryableWriteError within the batch timeout (no hang), MongoDB is not
	written, reads still work; once PostgreSQL is back, writes succeed."""
	ctl = _ctl(tandem_bin)
	own_pg = servers.Postgres()
	try:
		t = dw.start_mode(start_tandem, upstream.uri, "pg_primary", own_pg.dsn,
			dualwrite={"timeout_ms": 2000})
		cl = _client(t)
		c = cl[dbname].down
		c.insert_one({"_id": 0})
		dw.pg_stop(own_pg)
		started = time.monotonic()
		with pytest.raises(OperationFailure) as e:
			c.insert_one({"_id": 1})
		elapsed = time.monotonic() - started
		assert e.value.has_error_label("RetryableWriteError") or e.value.code == 6, e.value.details
		assert elapsed < 20, elapsed
		assert c.find_one({"_id": 0}) == {"_id": 0}   # reads go to MongoDB, unaffected
		assert pymongo.MongoClient(upstream.uri)[dbname].down.find_one({"_id": 1}) is None
		assert _metric(t, "tandem_pgserve_failed_total") >= 1
		dw.pg_start(own_pg)
		deadline = time.monotonic() + 30
		while True:
			try:
				c.insert_one({"_id": 2})
				break
			except OperationFailure:
				if time.monotonic() > deadline:
					raise
				time.sleep(0.5)
		assert [d["_id"] for d in _pg_docs(ctl, own_pg.dsn, dbname, "down")] == [0, 2]
	finally:
		own_pg.stop()
