"""Reads served by PostgreSQL (issue 11, shift/): a tenant in dual_write
whose read_pct is raised with a plain Redis HSET gets its reads answered
by tandem from PostgreSQL, in MongoDB's format, with tandem-owned cursors.

- the same client-visible results at read_pct 0 and 100 (pymongo, the
  Node.js driver, mongosh, libmongoc), and the metrics prove PostgreSQL
  answered (a test passing because everything fell back proves nothing);
- read_pct 25: the served share over 10 000 reads is 25 +- 2 %;
- PostgreSQL stopped mid-run: served reads fall back, 0 client errors;
- read-your-writes while PostgreSQL is slow;
- bad input: forged cursor ids, huge batchSize, killCursors of both
  backends, a hostile filter.

Every test starts its own tandem (conftest.py: reference upstream, real
PostgreSQL and Redis); the PostgreSQL-down test starts its own PostgreSQL.
"""

import json
import os
import re
import signal
import subprocess
import time
import uuid

import bson
import pymongo
import pytest
from bson.int64 import Int64
from pymongo.errors import OperationFailure

import dualwrite_helpers as dw
import servers

SETTLE_S = 1.1   # flags.poll_ms is 100 ms; HSET is seen well within this
LABELED = re.compile(r'^(tandem_shift_[a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$')


def shift_metrics(t):
	"""{family: {labels: value}} for the labelled tandem_shift_* series."""
	out = {}
	for line in t.metrics().splitlines():
		m = LABELED.match(line)
		if m:
			out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
	return out


def served(t, backend="pg"):
	return sum(v for k, v in shift_metrics(t).get("tandem_shift_reads_total", {}).items()
		if 'backend="%s"' % backend in k)


def fallbacks(t):
	return {re.sub(r'reason="([^"]*)"', r"\1", k): v
		for k, v in shift_metrics(t).get("tandem_shift_fallback_total", {}).items() if v}


def set_read_pct(redis_url, tenant, pct):
	dw.redis_command(redis_url, "HSET", "tandem:tenant:%s" % tenant, "read_pct", str(pct))
	time.sleep(SETTLE_S)


def start(start_tandem, upstream, dsn, redis, **shift):
	return dw.start_mode(start_tandem, upstream.uri, "dual_write", dsn, redis.url,
		shift=dict({"timeout_ms": 5000}, **shift), defaults={"write_mode": "dual_write"})


def seed(client, dbname, n=1000):
	db = client[dbname]
	db.things.insert_many([{"_id": i, "i": i, "k": "k%d" % (i % 7), "g": i % 5,
		"tags": ["t%d" % (i % 3), "u%d" % (i % 2)], "sub": {"x": i % 11}} for i in range(n)])
	db.owners.insert_many([{"_id": g, "name": "owner%d" % g} for g in range(5)])


def scenarios(db):
	"""Every read shape of the issue; returns {name: client-visible result}."""
	c = db.things
	out = {}
	out["filter_proj_sort_skip_limit"] = list(c.find({"i": {"$gte": 100}}, {"k": 1, "i": 1})
		.sort([("k", 1), ("i", -1)]).skip(10).limit(40))
	out["find_one"] = c.find_one({"_id": 17})
	for bs in (0, 1, 7, None):
		cur = c.find({}).sort("i", 1)
		if bs is not None:
			cur = cur.batch_size(bs)
		out["cursor_bs_%s" % bs] = [d["_id"] for d in cur]
	out["limit_with_batch"] = [d["_id"] for d in c.find({"g": 1}).sort("i", 1).limit(23).batch_size(5)]
	cur = c.find({}).sort("i", 1).batch_size(5)
	out["killed_first"] = [next(cur)["_id"] for _ in range(3)]
	cur.close()
	out["count_documents"] = c.count_documents({"g": {"$in": [1, 2]}})
	out["count_skip_limit"] = c.count_documents({}, skip=5, limit=100)
	out["estimated"] = c.estimated_document_count()
	out["distinct"] = sorted(c.distinct("k"))
	out["distinct_filter"] = sorted(c.distinct("sub.x", {"g": 3}))
	out["group"] = sorted(c.aggregate([{"$group": {"_id": "$g", "n": {"$sum": 1}, "m": {"$max": "$i"}}}]),
		key=lambda d: d["_id"])
	out["unwind"] = list(c.aggregate([{"$match": {"i": {"$lt": 20}}}, {"$unwind": "$tags"},
		{"$sort": {"i": 1, "tags": 1}}, {"$project": {"_id": 0, "i": 1, "tags": 1}}]))
	out["lookup"] = list(c.aggregate([{"$match": {"i": {"$lt": 12}}}, {"$sort": {"i": 1}},
		{"$lookup": {"from": "owners", "localField": "g", "foreignField": "_id", "as": "owner"}},
		{"$project": {"i": 1, "owner.name": 1}}]))
	out["agg_cursor"] = [d["_id"] for d in c.aggregate([{"$sort": {"i": -1}}], batchSize=50)]
	return out


def test_pymongo_same_results_at_0_and_100(start_tandem, upstream, pg, redis, dbname):
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis)
	client = pymongo.MongoClient(t.uri)
	seed(client, dbname)
	dw.wait_applied(t)
	set_read_pct(redis.url, dbname, 0)
	at0 = scenarios(client[dbname])
	assert served(t) == 0
	set_read_pct(redis.url, dbname, 100)
	before = served(t)
	at100 = scenarios(client[dbname])
	n_pg = served(t) - before
	fb = fallbacks(t)
	print("\nserved by PostgreSQL: %d reads; fallbacks %s; getMores %s" % (n_pg, fb,
		dw.metrics_values(t.metrics()).get("tandem_shift_getmores_total")))
	for name in at0:
		assert at100[name] == at0[name], name
	assert n_pg >= 15, "reads served by PostgreSQL: %d (fallbacks %s)" % (n_pg, fb)
	assert not fb, fb
	m = dw.metrics_values(t.metrics())
	assert m.get("tandem_shift_getmores_total", 0) > 1000 / 7
	assert m.get("tandem_shift_cursors_open", 0) == 0   # every cursor drained or killed


def _reads(c, n):
	errors = 0
	for i in range(n):
		try:
			list(c.find({"i": {"$gte": i % 50}}).sort("i", 1).limit(5))
		except pymongo.errors.PyMongoError:
			errors += 1
	return errors


@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_postgres_down_or_frozen_reads_fall_back_zero_errors(start_tandem, upstream, redis, dbname, how):
	own = servers.Postgres()
	frozen = []
	try:
		t = start(start_tandem, upstream, own.dsn, redis, timeout_ms=150)
		client = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=10000)
		c = client[dbname].things
		c.insert_many([{"i": i} for i in range(100)])
		dw.wait_applied(t)
		set_read_pct(redis.url, dbname, 100)
		assert _reads(c, 100) == 0
		before = served(t)
		assert before >= 100, "reads served by PostgreSQL before the outage: %d" % before
		if how == "stopped":
			dw.pg_stop(own)
		else:
			pid = int(open(os.path.join(own.data, "postmaster.pid")).readline())
			kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], stdout=subprocess.PIPE,
				text=True).stdout.split()
			frozen = [pid] + [int(k) for k in kids]
			for p in frozen:
				os.kill(p, signal.SIGSTOP)
		errors = _reads(c, 300 if how == "stopped" else 40)
		for p in frozen:
			os.kill(p, signal.SIGCONT)
		frozen = []
		fb = fallbacks(t)
		print("\nPostgreSQL %s: client errors %d, served before %d, fallbacks %s" % (how, errors, before, fb))
		assert errors == 0
		assert fb.get("pg_unavailable", 0) + fb.get("pg_timeout", 0) > 0, fb
	finally:
		for p in frozen:
			os.kill(p, signal.SIGCONT)
		own.stop()


def test_share_at_25_pct_is_25_pm_2(start_tandem, upstream, pg, redis, dbname):
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis)
	client = pymongo.MongoClient(t.uri)
	c = client[dbname].things
	c.insert_many([{"_id": i} for i in range(10)])
	dw.wait_applied(t)
	set_read_pct(redis.url, dbname, 25)
	n = int(os.environ.get("TANDEM_SHIFT_READS", "10000"))
	for i in range(n):
		assert c.find_one({"_id": i % 10}) == {"_id": i % 10}
	pg_n, mongo_n = served(t, "pg"), served(t, "mongo")
	fb = fallbacks(t)
	print("\nread_pct 25: %d reads, PostgreSQL %d (%.2f %%), MongoDB %d, fallbacks %s" % (n, pg_n,
		100.0 * pg_n / n, mongo_n, fb))
	assert pg_n + mongo_n == n
	assert not fb, fb
	assert abs(100.0 * pg_n / n - 25.0) <= 2.0


def test_bad_input(start_tandem, upstream, pg, redis, dbname):
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis)
	a = pymongo.MongoClient(t.uri, maxPoolSize=1)
	b = pymongo.MongoClient(t.uri, maxPoolSize=1)
	db = a[dbname]
	db.things.insert_many([{"_id": i, "i": i} for i in range(50)])
	dw.wait_applied(t)
	set_read_pct(redis.url, dbname, 100)
	before = served(t)

	# a tandem cursor of connection a; b forging its id -> CursorNotFound 43
	r = db.command("find", "things", batchSize=2)
	tid = r["cursor"]["id"]
	assert tid != 0 and len(r["cursor"]["firstBatch"]) == 2
	assert served(t) == before + 1
	with pytest.raises(OperationFailure) as e:
		b[dbname].command("getMore", Int64(tid), collection="things")
	assert e.value.code == 43 and "cursor id %d not found" % tid in str(e.value)
	# a made-up id: MongoDB's own CursorNotFound
	with pytest.raises(OperationFailure) as e:
		db.command("getMore", Int64(1234567), collection="things")
	assert e.value.code == 43
	# the owner still reads on
	r = db.command("getMore", Int64(tid), collection="things", batchSize=3)
	assert [d["_id"] for d in r["cursor"]["nextBatch"]] == [2, 3, 4]

	# killCursors naming tandem's cursor and an upstream one (a collation
	# read goes to MongoDB) in one command: both end
	up = db.command("find", "things", batchSize=2, collation={"locale": "en"})
	uid = up["cursor"]["id"]
	assert uid != 0
	k = db.command("killCursors", "things", cursors=[Int64(tid), Int64(uid)])
	assert k["cursorsKilled"] == [uid] and tid not in k.get("cursorsNotFound", []), k
	for cid in (tid, uid):
		with pytest.raises(OperationFailure) as e:
			db.command("getMore", Int64(cid), collection="things")
		assert e.value.code == 43
	# killCursors of tandem's ids only: answered by tandem
	r = db.command("find", "things", batchSize=1)
	k = db.command("killCursors", "things", cursors=[Int64(r["cursor"]["id"])])
	assert k["cursorsKilled"] == [r["cursor"]["id"]] and k["ok"] == 1

	# a huge batchSize: everything in the first batch
	r = db.command("find", "things", batchSize=2 ** 31 - 1)
	assert len(r["cursor"]["firstBatch"]) == 50 and r["cursor"]["id"] == 0

	# hostile filters: MongoDB's error, the same at 0 and 100
	errs = {}
	for pct in (100, 0):
		set_read_pct(redis.url, dbname, pct)
		for name, flt in (("bad_op", {"i": {"$bogus": 1}}), ("bad_regex", {"i": {"$regex": "("}}),
				("deep", json.loads('{"a": ' * 150 + '1' + '}' * 150))):
			try:
				list(db.things.find(flt))
				errs[(pct, name)] = None
			except OperationFailure as ex:
				errs[(pct, name)] = ex.code
	for name in ("bad_op", "bad_regex", "deep"):
		assert errs[(100, name)] == errs[(0, name)], (name, errs)
	assert errs[(0, "bad_op")] is not None
	m = dw.metrics_values(t.metrics())
	assert m.get("tandem_shift_cursors_open", 0) == 0


def _client_tandem(start_tandem, upstream, pg, redis):
	"""Every database at read_pct 100 (defaults), reads right after writes
	wait for the applier (ryw_wait_ms) so that PostgreSQL answers them."""
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	return dw.start_mode(start_tandem, upstream.uri, "dual_write", dsn, redis.url,
		shift={"timeout_ms": 5000, "ryw_wait_ms": 3000},
		defaults={"write_mode": "dual_write", "read_pct": "100"})


def _assert_served(t, before, what):
	n = served(t) - before
	fb = fallbacks(t)
	print("\n%s: %d reads served by PostgreSQL, fallbacks %s" % (what, n, fb))
	assert n > 0, "%s: no read served by PostgreSQL (fallbacks %s)" % (what, fb)
	assert not {k: v for k, v in fb.items() if k not in ("transaction", "read_concern", "internal_namespace")}, fb


def test_node_driver_same_results_served(start_tandem, upstream, pg, redis):
	import test_node
	rc, direct, err = test_node.run_crud(upstream.uri)
	test_node.assert_ok(rc, direct, err, "direct")
	t = _client_tandem(start_tandem, upstream, pg, redis)
	rc, proxied, err = test_node.run_crud(t.uri)
	test_node.assert_ok(rc, proxied, err, "through tandem at read_pct 100")
	assert proxied["result"] == direct["result"]
	_assert_served(t, 0, "node driver")


def test_mongosh_same_results_served(start_tandem, upstream, pg, redis):
	import test_mongosh
	t = _client_tandem(start_tandem, upstream, pg, redis)
	test_mongosh.check_result(test_mongosh.run_mongosh(t.uri))
	_assert_served(t, 0, "mongosh")


def test_libmongoc_same_results_served(start_tandem, upstream, pg, redis):
	import test_libmongoc
	t = _client_tandem(start_tandem, upstream, pg, redis)
	rc, out, err = test_libmongoc.run_client(test_libmongoc.with_timeouts(t.uri))
	test_libmongoc.assert_passed(rc, out, err, "through tandem at read_pct 100")
	_assert_served(t, 0, "libmongoc")


def _sql(dsn, sql):
	r = dw._run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], timeout=60)
	assert r.returncode == 0, "psql %s: %s" % (sql, r.stderr)
	return r.stdout


def test_read_your_writes_while_postgres_is_slow(start_tandem, upstream, pg, redis, dbname):
	"""Every write is followed at once by a read of the same document, on the
	same connection and on another connection, at read_pct 100, while each
	write takes PostgreSQL 300 ms (a pg_sleep trigger): the reads see the
	write (MongoDB answers them: behind_writes), and once the applier is
	done the same reads are served by PostgreSQL again."""
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis)
	a = pymongo.MongoClient(t.uri, maxPoolSize=1)
	b = pymongo.MongoClient(t.uri, maxPoolSize=1)
	ca, cb = a[dbname].hot, b[dbname].hot
	ca.insert_one({"_id": 1, "v": -1})
	dw.wait_applied(t)
	_sql(dsn, "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END$$; "
		"CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON hot FOR EACH ROW EXECUTE FUNCTION slow()")
	set_read_pct(redis.url, dbname, 100)
	assert ca.find_one({"_id": 1}) == {"_id": 1, "v": -1}
	assert served(t) == 1
	for k in range(8):
		ca.update_one({"_id": 1}, {"$set": {"v": k}})
		assert ca.find_one({"_id": 1}) == {"_id": 1, "v": k}, "same connection"
		assert cb.find_one({"_id": 1}) == {"_id": 1, "v": k}, "other connection"
	fb = fallbacks(t)
	print("\nread-your-writes: fallbacks %s" % fb)
	assert fb.get("behind_writes", 0) >= 8
	dw.wait_applied(t)
	before = served(t)
	assert cb.find_one({"_id": 1}) == {"_id": 1, "v": 7}
	assert served(t) == before + 1


# ---- the CRUD read spec tests at read_pct 100 ----------------------------

def _spec_cases():
	import test_shadow
	return test_shadow._read_cases()


@pytest.fixture(scope="module")
def spec_rig(tandem_bin, upstream, pg, redis, tmp_path_factory):
	work = tmp_path_factory.mktemp("shift_spec")
	dsn = dw.make_pg_db(pg, "shiftspec_%s" % uuid.uuid4().hex[:8])
	t = servers.Tandem(tandem_bin, upstream.uri, str(work), pg=dsn, redis=redis.url,
		defaults={"write_mode": "dual_write", "read_pct": "100"},
		shift={"timeout_ms": 5000, "ryw_wait_ms": 3000})
	yield t
	t.stop()


@pytest.mark.parametrize("spec,test", _spec_cases())
def test_read_spec_tests_served_like_mongodb(spec_rig, upstream, spec, test):
	"""Each read spec test through tandem at read_pct 100 gives what MongoDB
	gives for it, and PostgreSQL answered it."""
	import test_shadow
	op = test["operation"]
	args = json.dumps(op.get("arguments", {}))
	for word, why in (("collation", "collation: goes to MongoDB (fallback collation), nothing to compare"),
			("$out", "$out writes: not a read, goes to MongoDB")):
		if word in args:
			print("\nexcepted: %s" % why)
			return
	db = "ss_%s" % uuid.uuid4().hex[:12]
	coll = pymongo.MongoClient(spec_rig.uri)[db]["coll"]
	if spec.get("data"):
		coll.insert_many(spec["data"])
	dw.wait_applied(spec_rig)
	before = served(spec_rig)
	got = test_shadow._run_read(coll, op)
	n = served(spec_rig) - before
	want = test_shadow._run_read(pymongo.MongoClient(upstream.uri)[db]["coll"], op)
	if op["name"] == "distinct":
		got, want = sorted(got, key=repr), sorted(want, key=repr)
	assert got == want
	assert n >= 1, "not served by PostgreSQL: fallbacks %s" % fallbacks(spec_rig)


def test_ten_thousand_databases_bounded(start_tandem, upstream, pg, redis):
	"""10 000 distinct database names at read_pct 100 (defaults): every read
	answered (PostgreSQL has no table for them: empty results, as MongoDB),
	the per-tenant metric series stay bounded, tandem's memory too."""
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = dw.start_mode(start_tandem, upstream.uri, "dual_write", dsn, redis.url,
		defaults={"write_mode": "dual_write", "read_pct": "100"})
	client = pymongo.MongoClient(t.uri)
	def rss():
		for line in open("/proc/%d/status" % t.proc.pid):
			if line.startswith("VmRSS:"):
				return int(line.split()[1]) * 1024
	client["warm"].c.find_one({})
	r0 = rss()
	n = int(os.environ.get("TANDEM_SHIFT_DBS", "10000"))
	for i in range(n):
		assert client["db_%05d_%s" % (i, "x" * (i % 40))].c.find_one({"a": i}) is None
	series = shift_metrics(t).get("tandem_shift_reads_total", {})
	grown = rss() - r0
	print("\n%d databases: %d series, served %d, RSS grew %.1f MiB" % (n, len(series), served(t),
		grown / 1048576.0))
	assert served(t) >= n
	assert len(series) <= 2 * 257
	if not servers.sanitized(t.binary):   # ASan's quarantine keeps freed memory
		assert grown < 64 * 1048576


def test_session_stickiness(start_tandem, upstream, pg, redis, dbname):
	"""shift.sticky: session at read_pct 50: every read of one logical
	session goes to the same backend; both backends get sessions."""
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis, sticky="session")
	client = pymongo.MongoClient(t.uri)
	c = client[dbname].things
	c.insert_many([{"_id": i} for i in range(5)])
	dw.wait_applied(t)
	set_read_pct(redis.url, dbname, 50)
	kinds = []
	# all open at once: pymongo pools server sessions, so sessions opened one
	# after another would share one lsid
	sessions = [client.start_session(causal_consistency=False) for _ in range(30)]
	for s in sessions:
		before = served(t)
		for i in range(8):
			assert c.find_one({"_id": i % 5}, session=s) == {"_id": i % 5}
		kinds.append(served(t) - before)
	for s in sessions:
		s.end_session()
	print("\nsessions at read_pct 50: reads served by PostgreSQL per session %s" % kinds)
	assert set(kinds) <= {0, 8}, kinds
	assert 0 in kinds and 8 in kinds


def test_read_your_writes_is_per_database(start_tandem, upstream, pg, redis, dbname):
	"""While one database's writes wait for a slow PostgreSQL, reads of
	another database are still served by PostgreSQL (ryw.h: a per-database
	watermark, not the global one)."""
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis)
	client = pymongo.MongoClient(t.uri)
	busy, calm = client[dbname].hot, client[dbname + "_calm"].cool
	busy.insert_one({"_id": 1, "v": -1})
	calm.insert_one({"_id": 1, "v": "calm"})
	dw.wait_applied(t)
	_sql(dsn, "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS "
		"$$BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END$$; "
		"CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON hot FOR EACH ROW EXECUTE FUNCTION slow()")
	set_read_pct(redis.url, dbname, 100)
	set_read_pct(redis.url, dbname + "_calm", 100)
	before, calm_served = served(t), 0
	for k in range(5):
		busy.update_one({"_id": 1}, {"$set": {"v": k}})
		assert busy.find_one({"_id": 1}) == {"_id": 1, "v": k}
		n0 = served(t)
		assert calm.find_one({"_id": 1}) == {"_id": 1, "v": "calm"}
		calm_served += served(t) - n0
	fb = fallbacks(t)
	print("\nper database: calm reads served %d of 5 while the busy one waits; fallbacks %s" % (calm_served, fb))
	assert fb.get("behind_writes", 0) >= 5
	assert calm_served == 5


def test_idle_cursor_timeout_and_no_cursor_timeout(start_tandem, upstream, pg, redis, dbname):
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis, cursor_timeout_ms=200)
	db = pymongo.MongoClient(t.uri, maxPoolSize=1)[dbname]
	db.things.insert_many([{"_id": i} for i in range(10)])
	dw.wait_applied(t)
	set_read_pct(redis.url, dbname, 100)
	idle = db.command("find", "things", batchSize=2)["cursor"]["id"]
	kept = db.command("find", "things", batchSize=2, noCursorTimeout=True)["cursor"]["id"]
	assert idle and kept
	deadline = time.monotonic() + 10
	while dw.metrics_values(t.metrics()).get("tandem_shift_cursors_timed_out_total", 0) < 1:
		assert time.monotonic() < deadline, "the idle cursor was not closed"
		time.sleep(0.2)
	with pytest.raises(OperationFailure) as e:
		db.command("getMore", Int64(idle), collection="things")
	assert e.value.code == 43
	r = db.command("getMore", Int64(kept), collection="things")
	assert [d["_id"] for d in r["cursor"]["nextBatch"]] == list(range(2, 10))
