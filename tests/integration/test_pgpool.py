"""The asynchronous PostgreSQL pool (common/pg/pgpool.c) driven by
tests/clients/pgpool_probe against a real PostgreSQL 15:

  throughput   10 000 one-row batches over 4 connections, every row applied
               (pipeline depth 1 and 16)
  atomic       a unique violation in statement 3 of 5 -> 23505, index 2,
               permanent, none of the 5 rows exist; the pool keeps working
  classes      syntax (42601) and data (22012) errors are permanent
  pipelined    depth 8: batches sent behind a failing one are run again
  terminate    pg_terminate_backend mid-run: batches fail transient or succeed,
               the pool reconnects, later batches succeed
  timeout      a batch stuck past batch_timeout_ms fails transient, the
               connection is replaced, the next batch succeeds
  unreachable  no server: batches fail transient 08001 at once
  restart      pg_ctl stop, then start: transient failures while down
               (fast), successes after the restart

The probe is build-pgpool/... or build/tests/clients/pgpool_probe or
$TANDEM_PGPOOL_PROBE; the tests are skipped when it is missing.
"""
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402

PROBE_CANDIDATES = [
	os.environ.get("TANDEM_PGPOOL_PROBE", ""),
	os.path.join(servers.REPO, "build", "tests", "clients", "pgpool_probe"),
	os.path.join(servers.REPO, "build-pgpool", "tests", "clients", "pgpool_probe"),
]


@pytest.fixture(scope="module")
def probe():
	for p in PROBE_CANDIDATES:
		if p and os.path.isfile(p) and os.access(p, os.X_OK):
			return p
	pytest.fail("pgpool_probe not built (set TANDEM_PGPOOL_PROBE)")


@pytest.fixture
def pgdb(pg, dbname):
	"""A fresh database on the shared server; yields its conninfo."""
	pg.psql("CREATE DATABASE %s" % dbname)
	yield pg.dsn.replace("dbname=postgres", "dbname=" + dbname)
	pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % dbname)
	pg.psql("DROP DATABASE IF EXISTS %s" % dbname)


def psql(dsn, sql):
	r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
	assert r.returncode == 0, r.stderr.decode(errors="replace")
	return r.stdout.decode().strip()


def run_probe(probe, *args, timeout=120, env=None):
	r = subprocess.run([probe] + [str(a) for a in args], stdout=subprocess.PIPE,
		stderr=subprocess.PIPE, timeout=timeout, env=dict(os.environ, **(env or {})))
	assert r.returncode == 0, r.stderr.decode(errors="replace")
	return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]


def depth_env(depth):
	return {"PGPOOL_PROBE_DEPTH": str(depth)}


def start_run(probe, dsn, conns, seconds, rate, out_path, depth=1):
	out = open(out_path, "wb")
	proc = subprocess.Popen([probe, "run", dsn, str(conns), str(seconds), str(rate)],
		stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, **depth_env(depth)))
	return proc, out, time.monotonic()


def finish_run(proc, out, out_path, timeout):
	try:
		rc = proc.wait(timeout=timeout)
	finally:
		if proc.poll() is None:
			proc.kill()
			proc.wait(timeout=10)
		out.close()
	text = open(out_path).read()
	assert rc == 0, text[-2000:]
	lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
	batches = [l for l in lines if "id" in l]
	final = [l for l in lines if "final" in l]
	assert len(final) == 1, text[-2000:]
	return batches, [l for l in lines if "stats" in l], final[0]


def check_applied(dsn, batches, final):
	"""Every acknowledged row exists; no batch was lost or reported twice."""
	assert len(batches) == final["submitted"], "one callback per accepted batch"
	assert len({b["id"] for b in batches}) == len(batches)
	assert not [b for b in batches if b["cls"] == "permanent"], "no permanent errors expected"
	rows = set(int(x) for x in psql(dsn, "SELECT id FROM pgpool_run").split())
	ok = {b["id"] for b in batches if b["cls"] == "ok"}
	assert ok <= rows, "acknowledged batches missing: %s" % sorted(ok - rows)[:10]
	assert rows <= {b["id"] for b in batches}
	return ok, rows


@pytest.mark.parametrize("depth", [1, 16])
def test_throughput_10000_batches(probe, pgdb, depth):
	psql(pgdb, "CREATE TABLE pgpool_bulk (id int PRIMARY KEY, v text NOT NULL)")
	res = run_probe(probe, "bulk", pgdb, 4, 10000, timeout=300, env=depth_env(depth))[-1]
	res["depth"] = depth
	print("pgpool: %(ok)d one-row batches in %(secs).3f s over 4 connections, depth %(depth)d = "
		"%(rows_per_s).0f rows/s" % res)
	assert res == dict(res, ok=10000, transient=0, permanent=0)
	assert psql(pgdb, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM pgpool_bulk") == "10000|10000|1|10000"
	assert psql(pgdb, "SELECT count(*) FROM pgpool_bulk WHERE v <> 'row-' || id") == "0"


def test_unique_violation_is_atomic_and_pool_recovers(probe, pgdb):
	psql(pgdb, "CREATE TABLE pgpool_atomic (id int PRIMARY KEY)")
	ins = "INSERT INTO pgpool_atomic VALUES (%d)"
	bad = " ;; ".join(ins % i for i in (1, 2, 1, 4, 5))   # statement 3 repeats id 1
	out = run_probe(probe, "seq", pgdb, bad, ins % 10)
	assert len(out) == 2
	assert (out[0]["cls"], out[0]["sqlstate"], out[0]["index"]) == ("permanent", "23505", 2), out[0]
	assert "duplicate key" in out[0]["message"]
	assert out[1]["cls"] == "ok", out[1]
	assert psql(pgdb, "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM pgpool_atomic") == "10"


def test_error_classes_and_indexes(probe, pgdb):
	psql(pgdb, "CREATE TABLE pgpool_atomic (id int PRIMARY KEY, n int CHECK (n > 0))")
	out = run_probe(probe, "seq", pgdb,
		"INSERT INTO pgpool_atomic VALUES (1, 1) ;; SELEC 1",
		"SELECT 1/0",
		"INSERT INTO pgpool_atomic VALUES (2, 1) ;; INSERT INTO pgpool_atomic VALUES (3, -1)",
		"INSERT INTO pgpool_atomic VALUES (4, 1) ;; INSERT INTO pgpool_atomic VALUES (5, 2)")
	got = [(o["cls"], o["sqlstate"], o["index"]) for o in out]
	assert got == [("permanent", "42601", 1), ("permanent", "22012", 0),
		("permanent", "23514", 1), ("ok", "", -1)], out
	assert psql(pgdb, "SELECT string_agg(id::text, ',' ORDER BY id) FROM pgpool_atomic") == "4,5"


def test_pipelined_batches_behind_a_failure_run_again(probe, pgdb):
	"""Depth 8 on one connection: the batches sent behind a failing one are
	refused by the server (25P02, transaction aborted) and must be run again
	after the ROLLBACK, not reported failed."""
	psql(pgdb, "CREATE TABLE pgpool_atomic (id int PRIMARY KEY)")
	ins = "INSERT INTO pgpool_atomic VALUES (%d)"
	batches = [ins % 1, ins % 2 + " ;; " + ins % 1, ins % 3, ins % 4 + " ;; " + ins % 5, ins % 6,
		"SELEC 1", ins % 7, ins % 8]
	lines = run_probe(probe, "par", pgdb, *batches, env=depth_env(8))
	out = {o["batch"]: o for o in lines if "batch" in o}
	final = [o for o in lines if "final" in o][0]
	assert sorted(out) == list(range(len(batches)))
	assert (out[1]["cls"], out[1]["sqlstate"], out[1]["index"]) == ("permanent", "23505", 1)
	assert (out[5]["cls"], out[5]["sqlstate"], out[5]["index"]) == ("permanent", "42601", 0)
	assert all(out[i]["cls"] == "ok" for i in (0, 2, 3, 4, 6, 7)), lines
	assert final["requeued"] > 0, "the batches were pipelined behind the failures"
	assert psql(pgdb, "SELECT string_agg(id::text, ',' ORDER BY id) FROM pgpool_atomic") == "1,3,4,5,6,7,8"


def test_batch_timeout_closes_and_recovers(probe, pgdb):
	psql(pgdb, "CREATE TABLE pgpool_atomic (id int PRIMARY KEY)")
	t0 = time.monotonic()
	out = run_probe(probe, "seq", pgdb,
		"INSERT INTO pgpool_atomic VALUES (1) ;; SELECT pg_sleep(3)",
		"INSERT INTO pgpool_atomic VALUES (2)",
		env={"PGPOOL_PROBE_BATCH_TIMEOUT_MS": "400"})
	took = time.monotonic() - t0
	assert (out[0]["cls"], out[0]["sqlstate"], out[0]["in_doubt"]) == ("transient", "08006", True), out[0]
	assert "timeout" in out[0]["message"]
	assert out[1]["cls"] == "ok", out[1]
	assert took < 2.5, "the timeout fired before pg_sleep ended (%.2f s)" % took
	# Why in_doubt matters: the COMMIT was already in the server's socket
	# buffer, so the abandoned backend commits batch 0 once pg_sleep ends.
	ids = servers.wait_until(lambda: psql(pgdb, "SELECT string_agg(id::text, ',' ORDER BY id) FROM pgpool_atomic "
		"WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND pid <> pg_backend_pid())"),
		timeout=10, what="the abandoned backend to finish")
	assert ids in ("1,2", "2"), ids


def backend_pids(dsn, app):
	out = psql(dsn, "SELECT pid FROM pg_stat_activity WHERE application_name = '%s'" % app)
	return set(int(x) for x in out.split())


@pytest.mark.parametrize("depth", [1, 8])
def test_terminated_connections_reconnect(probe, pgdb, tmp_path, depth):
	psql(pgdb, "CREATE TABLE pgpool_run (id bigint PRIMARY KEY, t_ms bigint)")
	app = "pgpool_term_%d" % os.getpid()
	dsn = pgdb + " application_name=" + app
	out_path = str(tmp_path / "probe.out")
	proc, out, t0 = start_run(probe, dsn, 4, 6, 1000, out_path, depth)
	try:
		first = servers.wait_until(lambda: len(backend_pids(pgdb, app)) == 4 and backend_pids(pgdb, app),
			timeout=10, what="4 pool connections")
		time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))
		killed = psql(pgdb, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
			"WHERE application_name = '%s') s" % app)
		t_kill = (time.monotonic() - t0) * 1000
		assert int(killed) == 4
		fresh = lambda: (lambda now: len(now) == 4 and not (now & first) and now)(backend_pids(pgdb, app))  # noqa: E731
		servers.wait_until(fresh, timeout=10, what="the pool to reconnect with 4 new backends")
	finally:
		batches, stats, final = finish_run(proc, out, out_path, timeout=40)
	ok, rows = check_applied(pgdb, batches, final)
	failed = [b for b in batches if b["cls"] != "ok"]
	doubt = {b["id"] for b in failed if b["in_doubt"]}
	print("pgpool terminate (depth %d): %d ok, %d transient (%s, %d in doubt of which %d applied), reconnects=%d" % (
		depth, len(ok), len(failed), sorted({b["sqlstate"] for b in failed}), len(doubt), len(doubt & rows),
		final["reconnects"]))
	assert all(b["cls"] == "transient" for b in failed)
	assert not ({b["id"] for b in failed} - doubt) & rows, "a failed batch not in doubt was applied"
	assert rows - ok <= doubt
	late = [b for b in batches if b["s"] > t_kill + 1500]
	assert len(late) > 500 and all(b["cls"] == "ok" for b in late), "later batches succeed"
	assert final["connected"] == 4 and final["reconnects"] >= 4


@pytest.mark.parametrize("depth", [1, 8])
def test_postgres_restart(probe, tmp_path, depth):
	own = servers.Postgres()   # our own server: stopping the shared one would hurt other tests
	try:
		psql(own.dsn, "CREATE TABLE pgpool_run (id bigint PRIMARY KEY, t_ms bigint)")
		out_path = str(tmp_path / "probe.out")
		proc, out, t0 = start_run(probe, own.dsn, 2, 9, 200, out_path, depth)
		try:
			ms = lambda: (time.monotonic() - t0) * 1000  # noqa: E731
			time.sleep(1.5)
			t_stop0 = ms()
			own._run([os.path.join(servers.PG_BIN, "pg_ctl"), "-D", own.data, "-m", "fast", "-w", "-t", "30", "stop"])
			t_stop1 = ms()
			time.sleep(2.5)
			t_start0 = ms()
			opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" % (
				own.port, own.sock_dir)
			own._run([os.path.join(servers.PG_BIN, "pg_ctl"), "-D", own.data, "-l", own.log_path, "-o", opts,
				"-w", "-t", "30", "start"])
			t_start1 = ms()
		finally:
			batches, stats, final = finish_run(proc, out, out_path, timeout=60)
		ok, rows = check_applied(own.dsn, batches, final)
		doubt = {b["id"] for b in batches if b["cls"] != "ok" and b["in_doubt"]}
		assert rows - ok <= doubt, "only batches reported in doubt may be applied without an ok"
		assert not ({b["id"] for b in batches if b["cls"] != "ok"} - doubt) & rows, "a failed batch not in doubt was applied"
		before = [b for b in batches if b["s"] < t_stop0 - 100]
		down = [b for b in batches if t_stop1 + 300 < b["s"] < t_start0]
		after = [b for b in batches if b["s"] > t_start1 + 2500]
		lat = sorted(b["t"] - b["s"] for b in down)
		print("pgpool restart: before %d ok; down %d batches, %d transient, callback p50 %d ms max %d ms; "
			"after %d, %d ok" % (sum(b["cls"] == "ok" for b in before), len(down),
			sum(b["cls"] == "transient" for b in down), lat[len(lat) // 2] if lat else -1,
			lat[-1] if lat else -1, len(after), sum(b["cls"] == "ok" for b in after)))
		assert before and all(b["cls"] == "ok" for b in before)
		assert len(down) > 100 and all(b["cls"] == "transient" for b in down), \
			[b for b in down if b["cls"] != "transient"][:5]
		assert lat[-1] < 1000, "while down, batches fail fast (not after a long wait)"
		assert any(s["down"] for s in stats), "stats reported the pool down"
		assert len(after) > 100 and all(b["cls"] == "ok" for b in after)
		assert final["connected"] == 2 and not final["down"]
	finally:
		own.stop()


def test_unreachable_server_fails_fast(probe):
	dsn = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % servers.free_port()
	t0 = time.monotonic()
	out = run_probe(probe, "seq", dsn, "SELECT 1", "SELECT 2")
	took = time.monotonic() - t0
	assert [(o["cls"], o["sqlstate"], o["in_doubt"]) for o in out] == [("transient", "08001", False)] * 2, out
	assert "refused" in out[0]["message"] or "connect" in out[0]["message"], out[0]
	assert took < 3, "nothing waits for a server that is not there (%.2f s)" % took
