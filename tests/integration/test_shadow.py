"""Shadow reads (issue 4): sampled reads run again on PostgreSQL and are
compared with MongoDB's answer.

- identical data written through tandem in dual_write: 10 000 shadowed
  reads over every supported shape, zero mismatches;
- divergences injected behind tandem's back are caught with the right kind
  and path, logged as `shadow_mismatch` and kept for `tandemctl mismatches`;
- the CRUD spec read tests shadow with zero mismatches;
- PostgreSQL stopped or frozen: clients see no error, the shed counter grows.

Every test starts its own tandem (conftest.py: reference upstream, real
PostgreSQL and Redis); the PostgreSQL-down test starts its own PostgreSQL.
"""

import datetime
import glob
import json
import os
import random
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import bson
import pymongo
import pytest
from bson.int64 import Int64

import dualwrite_helpers as dw
import servers

SPEC_DIR = Path(servers.REPO) / ".." / "shared" / "conformance" / "crud" / "read"
LABELED = re.compile(r'^(tandem_shadow_[a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$')
SHADOW_CFG = {"queue_max": 50000, "timeout_ms": 60000, "max_inflight": 8}
# Shadowed reads of the identical-data test: 10 000 on the default table,
# 3 000 on a mapped one ($TANDEM_SHADOW_READS overrides both; the sanitizer
# pass of tools/test.sh uses fewer).
READS = {"default": 10000, "mapped": 3000}

MONEY_MAPPING = """version: 1
collections:
  orders:
    table: orders
    columns:
      status:
        type: text
      total:
        type: float8
      qty:
        type: int8
"""


def shadow_metrics(t):
	"""{family: {labels-string: value}} for tandem_shadow_* series."""
	out = {}
	for line in t.metrics().splitlines():
		m = LABELED.match(line)
		if m:
			out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
	return out


def total(metrics, family, where=""):
	return sum(v for k, v in metrics.get(family, {}).items() if where in k)


def wait_shadow_idle(t, timeout=120):
	"""Every sampled read accounted for: matched, mismatched, skipped or shed."""
	deadline = time.monotonic() + timeout
	while True:
		m = shadow_metrics(t)
		reads = total(m, "tandem_shadow_reads_total")
		done = sum(total(m, f) for f in ("tandem_shadow_matches_total", "tandem_shadow_mismatches_total",
			"tandem_shadow_skipped_total", "tandem_shadow_shed_total"))
		if reads > 0 and done >= reads:
			return m
		if time.monotonic() > deadline:
			raise AssertionError("shadow pipeline not idle after %ds: reads %d, accounted %d" % (
				timeout, reads, done))
		time.sleep(0.1)


def mismatch_lines(t):
	lines = []
	with open(t.log_path) as f:
		for line in f:
			if '"shadow_mismatch"' in line:
				lines.append(json.loads(line))
	return lines


def _docs(n, seed):
	rnd = random.Random(seed)
	words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
	out = []
	for i in range(n):
		d = {"_id": bson.ObjectId(), "i": i, "s": rnd.choice(words) + str(i % 7),
			"tags": rnd.sample(words, rnd.randint(0, 3)), "nested": {"a": {"b": rnd.randint(0, 9)}},
			"flag": i % 3 == 0, "dt": datetime.datetime(2024, 1, 1) + datetime.timedelta(minutes=i)}
		kind = i % 4
		d["n"] = [rnd.randint(0, 50), Int64(rnd.randint(0, 50)), rnd.randint(0, 50) + 0.5, None][kind]
		if i % 5 == 0:
			d["opt"] = "present"
		out.append(d)
	return out


def _read_shapes(c, rnd):
	"""One random read of a random supported shape (returns nothing: the
	point is that tandem shadows it)."""
	k = rnd.randint(0, 19)
	lo = rnd.randint(0, 250)
	if k == 0:
		list(c.find({"i": {"$gte": lo, "$lt": lo + 20}}))
	elif k == 1:
		list(c.find({"s": {"$regex": "^al"}}).sort("i", 1).limit(15))
	elif k == 2:
		list(c.find({"tags": "beta"}, {"s": 1, "tags": 1}))
	elif k == 3:
		list(c.find({"tags": {"$all": ["alpha", "gamma"]}}))
	elif k == 4:
		list(c.find({"tags": {"$size": 2}}, {"_id": 0, "i": 1}))
	elif k == 5:
		list(c.find({"nested.a.b": {"$lte": rnd.randint(0, 9)}}).sort([("nested.a.b", -1), ("i", 1)]).skip(3).limit(10))
	elif k == 6:
		list(c.find({"$or": [{"flag": True}, {"i": {"$lt": 10}}]}))
	elif k == 7:
		list(c.find({"opt": {"$exists": False}, "i": {"$gt": lo}}).limit(5))
	elif k == 8:
		list(c.find({"n": {"$type": "double"}}))
	elif k == 9:
		list(c.find({"i": {"$nin": [lo, lo + 2, lo + 4]}, "flag": {"$ne": True}}).limit(30))
	elif k == 10:
		list(c.find({"i": {"$in": [lo, lo + 1, lo + 50, 9999]}}))
	elif k == 11:
		list(c.find({"dt": {"$gte": datetime.datetime(2024, 1, 1, 2)}}).sort("dt", -1).limit(20))
	elif k == 12:
		c.count_documents({"flag": True})
	elif k == 13:
		c.estimated_document_count()
	elif k == 14:
		c.distinct("s", {"i": {"$lt": lo + 30}})
	elif k == 15:
		list(c.aggregate([{"$match": {"i": {"$lt": lo + 40}}}, {"$group": {"_id": "$flag", "c": {"$sum": 1},
			"m": {"$max": "$i"}}}]))
	elif k == 16:
		list(c.aggregate([{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "c": {"$sum": 1}}}]))
	elif k == 17:
		list(c.aggregate([{"$match": {"flag": False}}, {"$project": {"_id": 0, "i": 1, "s": 1}},
			{"$sort": {"i": -1}}, {"$limit": 7}]))
	elif k == 18:
		list(c.aggregate([{"$match": {"nested.a.b": {"$gt": 4}}}, {"$count": "n"}]))
	else:
		list(c.find({"nested.a": {"b": rnd.randint(0, 9)}}, {"nested": 1, "_id": 0}))


@pytest.mark.parametrize("storage", ["default", "mapped"])
def test_identical_data_shadowed_reads_zero_mismatches(start_tandem, upstream, pg, redis, tandem_bin,
		dbname, tmp_path, storage):
	ctl = dw.tandemctl_path(tandem_bin)
	mapping = None
	coll_name = "things"
	if storage == "mapped":
		mapping = dw.write_mapping(str(tmp_path / "mapping.yaml"), [])
		with open(mapping, "w") as f:
			f.write("version: 1\ncollections:\n  things:\n    table: things_m\n    columns:\n"
				"      i:\n        type: int8\n      s:\n        type: text\n      flag:\n        type: bool\n"
				"      dt:\n        type: timestamptz\n")
	dsn = dw.make_pg_db(pg, "shadow_%s" % uuid.uuid4().hex[:8])
	if ctl:
		dw.schema_apply(ctl, dsn, mapping, [] if mapping else [coll_name])
	t = dw.start_mode(start_tandem, upstream.uri, "dual_write", dsn, redis.url, mapping,
		shadow=dict(SHADOW_CFG), defaults={"write_mode": "dual_write", "shadow_pct": "100"})
	c = pymongo.MongoClient(t.uri)[dbname][coll_name]
	c.insert_many(_docs(300, 7))
	c.update_many({"i": {"$lt": 30}}, {"$inc": {"i": 1000}, "$push": {"tags": "extra"}})
	c.delete_many({"i": {"$gte": 290, "$lt": 300}})
	dw.wait_applied(t)
	rnd = random.Random(11)
	nreads = int(os.environ.get("TANDEM_SHADOW_READS", READS[storage]))
	for _ in range(nreads):
		_read_shapes(c, rnd)
	m = wait_shadow_idle(t)
	matches = total(m, "tandem_shadow_matches_total")
	mism = total(m, "tandem_shadow_mismatches_total")
	skipped = m.get("tandem_shadow_skipped_total", {})
	shed = total(m, "tandem_shadow_shed_total")
	print("\nshadow %s: reads %d matches %d mismatches %d shed %d skipped %s" % (storage,
		total(m, "tandem_shadow_reads_total"), matches, mism, shed, skipped))
	lines = mismatch_lines(t)
	assert mism == 0, "mismatches: %s" % json.dumps(lines[:5], indent=1)
	assert shed == 0
	assert matches == nreads - total(m, "tandem_shadow_skipped_total")
	assert matches >= nreads * 0.9, "too few reads compared: %d (skipped %s)" % (matches, skipped)


PLAIN = re.compile(r'^(tandem_[a-z_]+) ([0-9.e+-]+)$')


def _plain_metric(t, name):
	for line in t.metrics().splitlines():
		m = PLAIN.match(line)
		if m and m.group(1) == name:
			return float(m.group(2))
	return 0.0


def _race_write(c, rnd, ids):
	"""One write on one of a few hot documents (the readers read them too)."""
	i = rnd.choice(ids)
	k = rnd.randint(0, 5)
	if k == 0:
		c.update_one({"_id": i}, {"$inc": {"n": 1}, "$set": {"s": "w%d" % rnd.randint(0, 99)}})
	elif k == 1:
		c.update_one({"_id": i}, {"$push": {"tags": rnd.randint(0, 9)}})
	elif k == 2:
		c.update_one({"_id": i}, {"$pull": {"tags": {"$lt": 5}}})
	elif k == 3:
		c.replace_one({"_id": i}, {"_id": i, "n": rnd.randint(0, 9), "s": "r", "tags": []})
	elif k == 4:
		c.delete_one({"_id": i})
	else:
		c.update_one({"_id": i}, {"$set": {"n": rnd.randint(0, 9), "s": "u", "tags": [1, 2]}}, upsert=True)


def _race_read(c, rnd, ids):
	k = rnd.randint(0, 5)
	if k == 0:
		c.find_one({"_id": rnd.choice(ids)})
	elif k == 1:
		list(c.find({"n": {"$gte": rnd.randint(0, 5)}}))
	elif k == 2:
		list(c.find({}).sort("n", 1).limit(5))
	elif k == 3:
		list(c.find({"_id": {"$in": rnd.sample(ids, 4)}}))
	elif k == 4:
		c.count_documents({"s": "u"})
	else:
		list(c.aggregate([{"$group": {"_id": "$s", "n": {"$sum": "$n"}}}]))


@pytest.mark.parametrize("hot", [20, 200])
def test_concurrent_writes_on_read_documents_are_never_false_mismatches(start_tandem, upstream, pg, redis,
		tandem_bin, dbname, hot):
	"""Issue 10: writers and readers hammer the same 20 documents through
	tandem at shadow_pct 100.  A later write that reaches PostgreSQL before
	the shadow SELECT must never make a mismatch: its documents are left out
	of the comparison, or the read is counted as skipped "raced".  A
	divergence planted afterwards is still caught."""
	ctl = dw.tandemctl_path(tandem_bin)
	dsn = dw.make_pg_db(pg, "shrace_%s" % uuid.uuid4().hex[:8])
	dw.schema_apply(ctl, dsn, None, ["hot"])
	t = dw.start_mode(start_tandem, upstream.uri, "dual_write", dsn, redis.url, None,
		shadow=dict(SHADOW_CFG), defaults={"write_mode": "dual_write", "shadow_pct": "100"})
	ids = list(range(hot))
	pymongo.MongoClient(t.uri)[dbname].hot.insert_many(
		[{"_id": i, "n": i % 10, "s": "u", "tags": [i % 7]} for i in ids])
	dw.wait_applied(t)
	# 200 operations per thread in CI; the long exploration is local:
	# TANDEM_SHADOW_RACE_OPS=1500.
	ops = int(os.environ.get("TANDEM_SHADOW_RACE_OPS", "200"))
	deadline = time.monotonic() + 60
	errors = []

	def worker(seed, fn):
		rnd = random.Random(seed)
		c = pymongo.MongoClient(t.uri)[dbname].hot
		try:
			for _ in range(ops):
				if time.monotonic() > deadline:
					break
				fn(c, rnd, ids)
		except Exception as e:   # noqa: BLE001 - reported below
			errors.append(repr(e))

	import threading
	threads = [threading.Thread(target=worker, args=(s, _race_write)) for s in (1, 2)]
	threads += [threading.Thread(target=worker, args=(s, _race_read)) for s in (3, 4, 5)]
	for th in threads:
		th.start()
	for th in threads:
		th.join(timeout=120)
	assert not errors, errors
	dw.wait_applied(t)
	m = wait_shadow_idle(t)
	reads = total(m, "tandem_shadow_reads_total")
	raced = total(m, "tandem_shadow_skipped_total", 'reason="raced"')
	raced_docs = _plain_metric(t, "tandem_shadow_raced_documents_total")
	print("\nshadow under concurrent writes on %d documents: reads %d matches %d raced %d (%.1f %%) "
		"documents left out %d resyncs %d (overlapping writes %d) queued %d skipped %s" % (hot, reads,
		total(m, "tandem_shadow_matches_total"), raced, 100.0 * raced / max(reads, 1), raced_docs,
		_plain_metric(t, "tandem_dualwrite_resyncs_total"), _plain_metric(t, "tandem_dualwrite_overlap_resyncs_total"),
		_plain_metric(t, "tandem_dualwrite_queued_total"),
		m.get("tandem_shadow_skipped_total", {})))
	diffs = dw.compare_docs(dw.upstream_docs(pymongo.MongoClient(upstream.uri)[dbname].hot),
		dw.dump(ctl, dsn, dbname, "hot"))
	assert not diffs, "dual-write diverged: " + dw.format_diffs(diffs)
	lines = mismatch_lines(t)
	assert total(m, "tandem_shadow_mismatches_total") == 0 and not lines, json.dumps(lines[:5], indent=1)
	assert raced + raced_docs > 0, "the load produced no race: the test proves nothing"
	assert total(m, "tandem_shadow_matches_total") > 0
	# Quiet again: a row changed behind tandem's back is caught.  Document 7
	# is written once more through tandem (the writers may have deleted it),
	# past the dual-write resync grace (1 s: else it may be re-read from
	# MongoDB, which counts as "now" for the race guard), then one write
	# elsewhere, so that the read below is numbered after both.
	time.sleep(1.5)
	db = pymongo.MongoClient(t.uri)[dbname]
	db.hot.update_one({"_id": 7}, {"$set": {"s": "quiet"}}, upsert=True)
	db.tick.insert_one({"at": 1})
	dw.wait_applied(t)
	_sql(dsn, "UPDATE hot SET doc = jsonb_set(doc, '{s}', '\"planted\"') WHERE tenant_id = '%s' "
		"AND doc @> '{\"_id\": 7}'" % dbname)
	before = len(mismatch_lines(t))
	pymongo.MongoClient(t.uri)[dbname].hot.find_one({"_id": 7})
	line = _last_mismatch(t, before)
	assert line["op"] == "find" and line["diff"][0]["path"].endswith("s"), line


def _sql(dsn, sql):
	r = dw._run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], timeout=60)
	assert r.returncode == 0, "psql %s: %s" % (sql, r.stderr)
	return r.stdout


def _last_mismatch(t, before):
	deadline = time.monotonic() + 30
	while time.monotonic() < deadline:
		lines = mismatch_lines(t)
		if len(lines) > before:
			return lines[-1]
		time.sleep(0.05)
	raise AssertionError("no shadow_mismatch line logged")


def test_injected_divergences_are_caught_with_path_and_kind(start_tandem, upstream, pg, redis, tandem_bin,
		dbname, tmp_path):
	"""A row changed in PostgreSQL behind tandem's back, a missing row, an
	extra row, a type change, and dollars stored as cents (19.99 -> 1999)."""
	ctl = dw.tandemctl_path(tandem_bin)
	mapping = tmp_path / "mapping.yaml"
	mapping.write_text(MONEY_MAPPING.replace("    table: orders\n", "    table: orders\n    id: int8\n"))
	dsn = dw.make_pg_db(pg, "shadowdiv_%s" % uuid.uuid4().hex[:8])
	if ctl:
		dw.schema_apply(ctl, dsn, str(mapping))
	t = dw.start_mode(start_tandem, upstream.uri, "dual_write", dsn, redis.url, str(mapping),
		shadow=dict(SHADOW_CFG), defaults={"write_mode": "dual_write", "shadow_pct": "100"})
	c = pymongo.MongoClient(t.uri)[dbname].orders
	direct = pymongo.MongoClient(upstream.uri)[dbname].orders
	c.insert_many([{"_id": i, "status": "paid", "total": 19.99, "qty": 7} for i in range(1, 7)])
	dw.wait_applied(t)
	assert list(c.find({"_id": 6})) == [{"_id": 6, "status": "paid", "total": 19.99, "qty": 7}]
	wait_shadow_idle(t)
	assert total(shadow_metrics(t), "tandem_shadow_mismatches_total") == 0
	tenant_sql = "tenant_id = '%s'" % dbname
	cases = [
		("changed", "status", lambda: _sql(dsn, "UPDATE orders SET status = 'hacked' WHERE id = 1 AND " + tenant_sql)),
		("missing", None, lambda: _sql(dsn, "DELETE FROM orders WHERE id = 2 AND " + tenant_sql)),
		("extra", None, lambda: direct.delete_one({"_id": 3})),
		("type", "qty", lambda: direct.update_one({"_id": 4}, {"$set": {"qty": "7"}})),
		("changed", "total", lambda: _sql(dsn, "UPDATE orders SET total = total * 100 WHERE id = 5 AND " + tenant_sql)),
	]
	for n, (kind, field, inject) in enumerate(cases, start=1):
		inject()
		before = len(mismatch_lines(t))
		list(c.find({"_id": n}))
		line = _last_mismatch(t, before)
		assert line["event"] == "shadow_mismatch" and line["tenant"] == dbname and line["coll"] == "orders"
		assert line["op"] == "find"
		diff = line["diff"][0]
		assert diff["kind"] == kind, line
		if field:
			assert field in diff["path"], line
		if kind == "type":
			assert (diff["mongo_type"], diff["pg_type"]) == ("string", "int"), line
		assert "19.99" not in json.dumps(line) and "hacked" not in json.dumps(line), "values must be redacted"
	m = shadow_metrics(t)
	assert total(m, "tandem_shadow_mismatches_total") == len(cases)
	for kind in ("changed", "missing", "extra", "type"):
		assert total(m, "tandem_shadow_mismatches_total", 'kind="%s"' % kind) >= 1
	if ctl:
		st = dw._run([ctl, "--admin", t.admin_url.replace("http://", ""), "status"])
		line = [x for x in st.stdout.splitlines() if x.startswith("shadow reads:")]
		assert line and "mismatched %d" % len(cases) in line[0], st.stdout
	if ctl and dw._subcommand_exists(ctl, "mismatches"):
		r = dw._run([ctl, "mismatches", dbname, "--redis", redis.url])
		assert r.returncode == 0, r.stderr
		kept = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
		assert len(kept) == len(cases) and kept[0]["diff"][0]["path"].endswith("total")


def _read_cases():
	out = []
	for path in sorted(glob.glob(str(SPEC_DIR / "*.json"))):
		with open(path) as f:
			spec = json.load(f)
		for test in spec["tests"]:
			out.append(pytest.param(spec, test, id="%s::%s" % (os.path.basename(path), test["description"])))
	if not out:
		out.append(pytest.param(None, None, id="no-spec-tests",
			marks=pytest.mark.skip(reason="spec tests not found at %s" % SPEC_DIR)))
	return out


@pytest.fixture(scope="module")
def read_rig(tandem_bin, upstream, pg, redis, tmp_path_factory):
	work = tmp_path_factory.mktemp("shadow_read")
	dsn = dw.make_pg_db(pg, "shadowread_%s" % uuid.uuid4().hex[:8])
	t = servers.Tandem(tandem_bin, upstream.uri, str(work), pg=dsn, redis=redis.url,
		defaults={"write_mode": "dual_write", "shadow_pct": "100"}, shadow=dict(SHADOW_CFG))
	yield t
	t.stop()


def _run_read(coll, op):
	name, a = op["name"], op.get("arguments", {})
	if name == "find":
		cur = coll.find(a.get("filter", {}), projection=a.get("projection"))
		if a.get("sort"):
			cur = cur.sort(list(a["sort"].items()))
		if a.get("skip"):
			cur = cur.skip(a["skip"])
		if a.get("limit"):
			cur = cur.limit(a["limit"])
		if a.get("batchSize"):
			cur = cur.batch_size(a["batchSize"])
		return list(cur)
	if name == "count":
		return coll.count_documents(a.get("filter", {}), **{k: a[k] for k in ("skip", "limit") if k in a})
	if name == "countDocuments":
		return coll.count_documents(a.get("filter", {}), **{k: a[k] for k in ("skip", "limit") if k in a})
	if name == "estimatedDocumentCount":
		return coll.estimated_document_count()
	if name == "distinct":
		return coll.distinct(a["fieldName"], a.get("filter", {}))
	if name == "aggregate":
		return list(coll.aggregate(a["pipeline"], batchSize=a.get("batchSize", 101)))
	raise AssertionError("unknown read %s" % name)


@pytest.mark.parametrize("spec,test", _read_cases())
def test_read_spec_tests_shadow_without_mismatches(read_rig, spec, test):
	op = test["operation"]
	args = json.dumps(op.get("arguments", {}))
	if "collation" in args:
		pytest.skip("collation is not modelled by tandem (the read is skipped, not compared)")
	if "$out" in args:
		pytest.skip("a pipeline with $out writes: it is not a read and is never shadowed")
	db = "sr_%s" % uuid.uuid4().hex[:12]
	coll = pymongo.MongoClient(read_rig.uri)[db]["coll"]
	if spec.get("data"):
		coll.insert_many(spec["data"])
	dw.wait_applied(read_rig)
	before = total(shadow_metrics(read_rig), "tandem_shadow_matches_total", 'tenant="%s"' % db)
	_run_read(coll, op)
	m = wait_shadow_idle(read_rig)
	mism = total(m, "tandem_shadow_mismatches_total", 'tenant="%s"' % db)
	assert mism == 0, [l for l in mismatch_lines(read_rig) if l["tenant"] == db]
	matched = total(m, "tandem_shadow_matches_total", 'tenant="%s"' % db) - before
	skipped = {k: v for k, v in m.get("tandem_shadow_skipped_total", {}).items() if db in k}
	assert not skipped, "the read was not compared: %s" % skipped
	assert matched >= 1, "read neither compared nor skipped"


def _client_reads(c, n):
	errors, lat = 0, []
	for i in range(n):
		t0 = time.monotonic()
		try:
			list(c.find({"i": {"$gte": i % 50}}).limit(5))
		except pymongo.errors.PyMongoError:
			errors += 1
		lat.append(time.monotonic() - t0)
	lat.sort()
	return errors, lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_postgres_down_or_frozen_clients_unaffected_shed_counted(start_tandem, upstream, redis, dbname, how):
	own = servers.Postgres()
	try:
		t = dw.start_mode(start_tandem, upstream.uri, "dual_write", own.dsn, redis.url,
			shadow={"timeout_ms": 200, "queue_max": 64, "max_inflight": 2},
			defaults={"write_mode": "dual_write", "shadow_pct": "100"})
		c = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=10000)[dbname].things
		c.insert_many([{"i": i} for i in range(100)])
		dw.wait_applied(t)
		base = _client_reads(c, 300)
		frozen = []
		if how == "stopped":
			dw.pg_stop(own)
		else:
			# this test's own PostgreSQL: the postmaster and its backends
			pid = int(open(os.path.join(own.data, "postmaster.pid")).readline())
			kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], stdout=subprocess.PIPE,
				text=True).stdout.split()
			frozen = [pid] + [int(k) for k in kids]
			for p in frozen:
				os.kill(p, signal.SIGSTOP)
		try:
			errors, p50, p99 = _client_reads(c, 1000)
		finally:
			for p in frozen:
				os.kill(p, signal.SIGCONT)
		m = wait_shadow_idle(t, timeout=60)
		shed = total(m, "tandem_shadow_shed_total")
		skipped = total(m, "tandem_shadow_skipped_total")
		print("\nPostgreSQL %s: client errors %d; p50 %.2f ms p99 %.2f ms (before: p50 %.2f p99 %.2f); "
			"shed %d, skipped %d" % (how, errors, p50 * 1000, p99 * 1000, base[1] * 1000, base[2] * 1000,
				shed, skipped))
		assert errors == 0
		assert shed > 0
	finally:
		own.stop()


def test_calibration_compares_mongodb_with_itself(start_tandem, upstream, pg, redis, dbname):
	"""shadow.calibrate: the sampled reads run on MongoDB a second time; with
	no concurrent writes that is all matches (the noise floor is zero)."""
	t = dw.start_mode(start_tandem, upstream.uri, "dual_write", pg.dsn, redis.url,
		shadow=dict(SHADOW_CFG, calibrate=True), defaults={"write_mode": "dual_write", "shadow_pct": "100"})
	c = pymongo.MongoClient(t.uri)[dbname].things
	c.insert_many(_docs(100, 3))
	rnd = random.Random(5)
	for _ in range(200):
		_read_shapes(c, rnd)
	m = wait_shadow_idle(t)
	assert total(m, "tandem_shadow_mismatches_total") == 0
	assert total(m, "tandem_shadow_matches_total") >= 150
	assert not mismatch_lines(t)


def test_values_are_logged_only_when_configured(start_tandem, upstream, pg, redis, dbname):
	t = dw.start_mode(start_tandem, upstream.uri, "dual_write", pg.dsn, redis.url,
		shadow=dict(SHADOW_CFG, log_values=True), defaults={"write_mode": "dual_write", "shadow_pct": "100"})
	c = pymongo.MongoClient(t.uri)[dbname].vals
	c.insert_one({"_id": 1, "secret": "s3cr3t-value"})
	dw.wait_applied(t)
	pymongo.MongoClient(upstream.uri)[dbname].vals.update_one({"_id": 1}, {"$set": {"secret": "other-value"}})
	c.find_one({"_id": 1})
	line = _last_mismatch(t, 0)
	text = json.dumps(line)
	assert "s3cr3t-value" in text and "other-value" in text, line
