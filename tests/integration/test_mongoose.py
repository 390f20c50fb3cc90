"""A real ODM through tandem (issue 10): tests/node/mongoose_app.js, a small
Mongoose application (validation, timestamps, __v versioning, populate,
findOneAndUpdate, updateMany, bulkWrite, subdocument pull + save, cursors
over several batches, countDocuments, distinct, $unwind/$group with $sum of
doubles, sort/skip/limit pages, findOne-then-save), run through one tandem
in dual_write with shadow_pct 100 for several seeds, one database (tenant)
per seed.  Then:

  (0) the same seed run straight against the upstream takes the same steps;
  (a) MongoDB and PostgreSQL hold the same documents (tandemctl dump,
      dualwrite_helpers.compare_docs);
  (b) no shadow_mismatch was logged for the application's reads (every line
      is printed with its op, shape and diff first);
  (c) a document changed in PostgreSQL behind tandem's back is caught: a
      read of it through tandem logs a shadow_mismatch naming the field.

Seeds: TANDEM_MONGOOSE_SEED (first seed, default 1) and TANDEM_MONGOOSE_RUNS
(how many, default 3); TANDEM_MONGOOSE_ROUNDS sets the app's random steps per
run (default 120); TANDEM_MONGOOSE_SETTLE_MS=N makes the app wait N ms after
every read, so its next write cannot overtake the shadow read (a mismatch
that goes away then was a race).  Against a real mongod (TANDEM_TEST_MONGO_URI) the same
test runs unchanged; field-order-only differences count there (see
test_differential.failing).  Needs `npm ci` in tests/node (mongoose pinned in
package-lock.json).
"""

import json
import os
import shutil
import subprocess
import time
import uuid

import pymongo
import pytest
from bson import ObjectId

import dualwrite_helpers as dw
import servers
from test_shadow import mismatch_lines, shadow_metrics, total, wait_shadow_idle

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE_DIR = os.path.join(ROOT, "tests", "node")
APP_JS = os.path.join(NODE_DIR, "mongoose_app.js")
COLLS = ("users", "products", "orders")
# every mismatch logged (log_rate), with its values: the point is to read them
SHADOW_CFG = {"queue_max": 50000, "timeout_ms": 60000, "max_inflight": 8, "log_rate": 100000,
	"log_values": True}
APP_TIMEOUT_S = 150


def _seeds():
	first = int(os.environ.get("TANDEM_MONGOOSE_SEED", "1"))
	runs = int(os.environ.get("TANDEM_MONGOOSE_RUNS", "3"))
	return list(range(first, first + max(runs, 1)))


def _need_node():
	if shutil.which("node") is None:
		pytest.fail("node is not installed")
	if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mongoose")):
		pytest.fail("tests/node/node_modules/mongoose missing: run `npm ci` in tests/node")


def run_app(uri, db, seed):
	"""Run mongoose_app.js; returns its JSON line (asserting it succeeded)."""
	rounds = os.environ.get("TANDEM_MONGOOSE_ROUNDS", "120")
	args = ["node", APP_JS, uri, "--db", db, "--seed", str(seed), "--rounds", rounds,
		"--timeout-ms", str((APP_TIMEOUT_S - 10) * 1000),
		"--settle-ms", os.environ.get("TANDEM_MONGOOSE_SETTLE_MS", "0")]
	p = subprocess.run(args, cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
		timeout=APP_TIMEOUT_S)
	out = p.stdout.decode(errors="replace").strip().splitlines()
	err = p.stderr.decode(errors="replace")[-3000:]
	assert out, "mongoose_app.js printed nothing (rc %d): %s" % (p.returncode, err)
	res = json.loads(out[-1])
	assert p.returncode == 0 and res.get("ok") is True, \
		"mongoose_app.js seed %d failed (rc %d): %s\n%s" % (seed, p.returncode, res.get("error"), err)
	return res


def _failing(diffs, real):
	"""As test_differential.failing: against refmongo a field-order-only
	difference is reported, not failed (mongomock appends the fields an
	update creates in update order, MongoDB 5.0+ and tandem sort them)."""
	if real:
		return diffs
	order = [d for d in diffs if d["kind"] == "order"]
	if order:
		print("  %d field-order-only difference(s) ignored (refmongo), e.g. %s" % (len(order), order[0]))
	return [d for d in diffs if d["kind"] != "order"]


def _describe(line):
	"""One mismatch line, short: tenant, coll, op, shape, counts, each diff."""
	diffs = []
	for d in line.get("diff", []):
		vals = ""
		if "mongo_value" in d or "pg_value" in d:
			vals = " mongo=%s pg=%s" % (json.dumps(d.get("mongo_value")), json.dumps(d.get("pg_value")))
		diffs.append("%s %s (%s/%s)%s" % (d.get("kind"), d.get("path"), d.get("mongo_type"), d.get("pg_type"), vals))
	return "%s.%s op=%s shape=%s mongo_n=%s pg_n=%s request=%s diffs_total=%s%s\n      %s" % (
		line.get("tenant"), line.get("coll"), line.get("op"), json.dumps(line.get("shape")),
		line.get("mongo_n"), line.get("pg_n"), line.get("request_id"), line.get("diffs_total"),
		" suppressed=%s" % line["suppressed"] if line.get("suppressed") else "",
		"\n      ".join(diffs))


@pytest.fixture(scope="module")
def odm_rig(tandem_bin, upstream, pg, redis, tmp_path_factory):
	"""One tandem (dual_write, shadow_pct 100), the app run once per seed;
	waits until the dual-write queue and the shadow pipeline are idle."""
	_need_node()
	ctl = dw.tandemctl_path(tandem_bin)
	why = dw.dump_support(ctl)
	if why:
		pytest.fail(why)
	work = tmp_path_factory.mktemp("mongoose")
	dsn = dw.make_pg_db(pg, "odm_%s" % uuid.uuid4().hex[:8])
	dw.schema_apply(ctl, dsn, None, COLLS)
	started = []

	def start(mongo_uri, **cfg):
		t = servers.Tandem(tandem_bin, mongo_uri, str(work), **cfg)
		started.append(t)
		return t
	t = dw.start_mode(start, upstream.uri, "dual_write", dsn, redis.url, shadow=dict(SHADOW_CFG),
		defaults={"write_mode": "dual_write", "shadow_pct": "100"})
	real = bool(getattr(upstream, "real", False))
	runs = []
	t0 = time.monotonic()
	try:
		for seed in _seeds():
			db = "odm_s%d_%s" % (seed, uuid.uuid4().hex[:6])
			# the tenant's flags in Redis too, as an operator would set them
			dw.redis_command(redis.url, "HSET", "tandem:tenant:%s" % db, "write_mode", "dual_write",
				"shadow_pct", "100")
			s0 = time.monotonic()
			res = run_app(t.uri, db, seed)
			runs.append({"seed": seed, "db": db, "res": res, "secs": time.monotonic() - s0})
		dw.wait_applied(t, timeout=60)
		m = wait_shadow_idle(t, timeout=120)
	except BaseException:
		for x in started:
			x.stop()
		raise
	rig = {"tandem": t, "ctl": ctl, "dsn": dsn, "real": real, "runs": runs, "metrics": m,
		"lines": mismatch_lines(t), "direct": pymongo.MongoClient(upstream.uri), "secs": time.monotonic() - t0}
	print("\nmongoose: %d run(s) in %.1f s (TANDEM_MONGOOSE_SEED=%d to repeat)" % (len(runs), rig["secs"],
		runs[0]["seed"]))
	for r in runs:
		tenant = 'tenant="%s"' % r["db"]
		print("  seed %d db %s: %.1f s, ops %s, getMores %d, counts %s" % (r["seed"], r["db"], r["secs"],
			r["res"]["ops"], r["res"]["getMores"], r["res"]["counts"]))
		print("    shadow: reads %d matches %d mismatches %d shed %d skipped %s" % (
			total(m, "tandem_shadow_reads_total", tenant), total(m, "tandem_shadow_matches_total", tenant),
			total(m, "tandem_shadow_mismatches_total", tenant), total(m, "tandem_shadow_shed_total", tenant),
			{k.split("reason=")[-1]: v for k, v in m.get("tandem_shadow_skipped_total", {}).items() if tenant in k}))
	yield rig
	for r in runs:  # a real mongod keeps them otherwise
		rig["direct"].drop_database(r["db"])
	rig["direct"].close()
	for x in started:
		x.stop()


def test_mongoose_direct_run_matches_run_through_tandem(odm_rig, upstream):
	"""The app straight against the upstream takes the same steps and ends
	with the same counts as through tandem (a seed fixes every choice)."""
	first = odm_rig["runs"][0]
	db = "odm_direct_%s" % uuid.uuid4().hex[:6]
	try:
		direct = run_app(upstream.uri, db, first["seed"])
	finally:
		odm_rig["direct"].drop_database(db)
	for k in ("ops", "counts", "getMores"):
		assert direct[k] == first["res"][k], "%s: direct %s, through tandem %s" % (k, direct[k], first["res"][k])


def test_mongoose_mongodb_and_postgresql_hold_the_same_documents(odm_rig):
	"""(a) every document of every run equal in MongoDB and PostgreSQL."""
	failures, counted = [], 0
	for r in odm_rig["runs"]:
		for coll in COLLS:
			up = dw.upstream_docs(odm_rig["direct"][r["db"]][coll])
			rows = dw.dump(odm_rig["ctl"], odm_rig["dsn"], r["db"], coll)
			counted += len(up)
			for d in _failing(dw.compare_docs(up, rows), odm_rig["real"]):
				d["where"] = "seed %d %s.%s" % (r["seed"], r["db"], coll)
				failures.append(d)
		assert r["res"]["counts"]["orders"] == odm_rig["direct"][r["db"]].orders.count_documents({})
	print("\n  %d documents compared" % counted)
	assert counted > 0
	assert not failures, dw.format_diffs(failures)


def test_mongoose_planted_difference_is_caught(odm_rig):
	"""(c) one user's name changed in the PostgreSQL row (default table: the
	rowcodec jsonb in `doc`, docs/storage.md) is a shadow_mismatch on the
	next read of that user through tandem."""
	t, run = odm_rig["tandem"], odm_rig["runs"][0]
	db = run["db"]
	victim = odm_rig["direct"][db].users.find_one({}, sort=[("_id", 1)])
	assert victim and isinstance(victim["_id"], ObjectId)
	sql = ("UPDATE users SET doc = jsonb_set(doc, '{name}', '\"planted by the test\"') "
		"WHERE tenant_id = '%s' AND doc @> '{\"_id\": {\"~t\": \"oid\", \"v\": \"%s\"}}' RETURNING 1" % (
			db, str(victim["_id"])))
	r = dw._run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", odm_rig["dsn"], "-c", sql], timeout=60)
	assert r.returncode == 0 and r.stdout.split() == ["1"], "planting failed: %r %r" % (r.stdout, r.stderr)
	before = len(mismatch_lines(t))
	got = pymongo.MongoClient(t.uri)[db].users.find_one({"_id": victim["_id"]})
	assert got["name"] == victim["name"], "the client must get MongoDB's answer"
	deadline = time.monotonic() + 30
	found = None
	while found is None and time.monotonic() < deadline:
		for line in mismatch_lines(t)[before:]:
			if line.get("tenant") == db and line.get("coll") == "users":
				found = line
		time.sleep(0.05)
	assert found, "no shadow_mismatch for the planted difference (metrics: %s)" % (
		shadow_metrics(t).get("tandem_shadow_mismatches_total"))
	print("\n  planted: " + _describe(found))
	assert found["op"] == "find"
	assert any(d["kind"] == "changed" and d["path"].endswith("name") for d in found["diff"]), found


def test_mongoose_shadow_reads_zero_mismatches(odm_rig):
	"""(b) identical data, so no read of the application may mismatch.
	Every mismatch line logged during the runs is printed first."""
	m, lines = odm_rig["metrics"], odm_rig["lines"]
	mism = total(m, "tandem_shadow_mismatches_total")
	matches = total(m, "tandem_shadow_matches_total")
	print("\n  shadow over all runs: reads %d matches %d mismatches %d (lines %d) shed %d skipped %s" % (
		total(m, "tandem_shadow_reads_total"), matches, mism, len(lines), total(m, "tandem_shadow_shed_total"),
		{k: v for k, v in m.get("tandem_shadow_skipped_total", {}).items()}))
	for r in odm_rig["runs"]:
		mine = [x for x in lines if x.get("tenant") == r["db"]]
		print("  seed %d: %d shadow_mismatch line(s)" % (r["seed"], len(mine)))
		for x in mine:
			print("    " + _describe(x))
	assert matches >= 100, "too few reads compared: %d" % matches
	assert mism == 0 and not lines, "%d shadow mismatch(es) on identical data (lines above)" % max(mism, len(lines))
