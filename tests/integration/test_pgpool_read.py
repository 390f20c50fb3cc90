"""Read batches of the PostgreSQL pool (pgbatch_read_only: no BEGIN/COMMIT,
named prepared statements cached per connection) driven by
tests/clients/pgpool_probe ("R:" batches) against a real PostgreSQL 15:

  reuse        many reads of one SQL text: prepared once per connection
               (the pool's counters and pg_prepared_statements), every
               answer right
  42P01        a read of a table that does not exist yet fails 42P01 at
               index 0 like before; after CREATE TABLE the same read works
               and is prepared then (the failed Prepare left nothing behind)
  pipelined    depth 8: an error in one read batch (execution, syntax, a
               second statement) does not touch the batches behind it, no
               ROLLBACK, nothing requeued; a read behind a failed write
               batch is refused (25P02) and run again
  reconnect    a read whose connection dies fails transient, never in
               doubt; the new connection has no prepared statement until a
               read prepares it again
  timeout      a read past batch_timeout_ms: transient 08006, not in doubt
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from test_pgpool import depth_env, pgdb, probe, psql, run_probe  # noqa: E402,F401  (fixtures)

READ = "R:SELECT v FROM pgpool_read WHERE id = %d"
PREPARED = "R:SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT v FROM %s%%'"


def make_table(dsn, name="pgpool_read"):
	psql(dsn, "CREATE TABLE %s (id int PRIMARY KEY, v text NOT NULL)" % name)
	psql(dsn, "INSERT INTO %s SELECT i, 'v' || i FROM generate_series(1, 20) i" % name)


def batches(lines):
	return {o["batch"]: o for o in lines if "batch" in o}


def final(lines):
	f = [o for o in lines if "final" in o]
	assert len(f) == 1, lines
	return f[0]


def test_reads_prepare_once_and_reuse(probe, pgdb):
	make_table(pgdb)
	lines = run_probe(probe, "par", pgdb, *[READ % (1 + i % 20) for i in range(200)], env=depth_env(8))
	out = batches(lines)
	assert sorted(out) == list(range(200))
	assert all(out[i]["cls"] == "ok" and out[i]["value"] == "v%d" % (1 + i % 20) for i in out), \
		[o for o in out.values() if o["cls"] != "ok"][:3]
	f = final(lines)
	# 20 SQL texts, one connection: one Prepare each; the rest ran by name
	# (but for a batch sent while its text's Prepare was pending: unnamed)
	assert f["prepared"] == 20, f
	assert f["prepared_runs"] >= 200 - 20 - 8, f
	assert f["requeued"] == 0 and f["failed"] == 0, f
	# the server holds exactly one statement for a text read three times
	out = run_probe(probe, "seq", pgdb, READ % 3, READ % 3, READ % 3, PREPARED % "pgpool_read")
	assert [o["value"] for o in out] == ["v3", "v3", "v3", "1"], out


def test_missing_table_then_created(probe, pgdb):
	late = "R:SELECT v FROM pgpool_late WHERE id = 1"
	out = run_probe(probe, "seq", pgdb, late, late,
		"CREATE TABLE pgpool_late (id int PRIMARY KEY, v text) ;; INSERT INTO pgpool_late VALUES (1, 'late')",
		PREPARED % "pgpool_late", late, late, PREPARED % "pgpool_late")
	got = [(o["cls"], o["sqlstate"], o["index"]) for o in out]
	assert got[:2] == [("permanent", "42P01", 0)] * 2, out
	assert "does not exist" in out[0]["message"], out[0]
	assert out[2]["cls"] == "ok", out[2]
	assert out[3]["value"] == "0", "a failed Prepare leaves no statement: %s" % out[3]
	assert [(o["cls"], o["value"]) for o in out[4:6]] == [("ok", "late")] * 2, out
	assert out[6]["value"] == "1", out[6]


def test_read_errors_do_not_touch_the_batches_behind(probe, pgdb):
	make_table(pgdb)
	reads = [READ % 1, "R:SELECT 1/0", READ % 2, "R:SELEC 1", READ % 3,
		"R:SELECT 1 ;; SELECT v FROM pgpool_nope", READ % 4, "R:SELECT 1/0", READ % 5]
	lines = run_probe(probe, "par", pgdb, *reads, env=depth_env(8))
	out = batches(lines)
	assert sorted(out) == list(range(len(reads)))
	got = {i: (o["cls"], o["sqlstate"], o["index"], o["in_doubt"]) for i, o in out.items()}
	assert got[1] == got[7] == ("permanent", "22012", 0, False), lines
	assert got[3] == ("permanent", "42601", 0, False), lines
	assert got[5] == ("permanent", "42P01", 1, False), lines
	assert [out[i].get("value") for i in (0, 2, 4, 6, 8)] == ["v1", "v2", "v3", "v4", "v5"], lines
	f = final(lines)
	assert f["requeued"] == 0, "no ROLLBACK, nothing refused behind a read batch's error: %s" % f


def test_read_behind_a_failed_write_batch_runs_again(probe, pgdb):
	make_table(pgdb)
	lines = run_probe(probe, "par", pgdb, "INSERT INTO pgpool_read VALUES (1, 'dup')", READ % 2,
		"INSERT INTO pgpool_read VALUES (21, 'v21')", READ % 21, env=depth_env(8))
	out = batches(lines)
	assert (out[0]["cls"], out[0]["sqlstate"], out[0]["index"]) == ("permanent", "23505", 0), lines
	assert (out[1]["cls"], out[1]["value"]) == ("ok", "v2"), lines
	assert out[2]["cls"] == "ok", lines
	assert (out[3]["cls"], out[3]["value"]) == ("ok", "v21"), lines
	assert final(lines)["requeued"] >= 1, "the read was pipelined behind the failed write: %s" % lines


def test_lost_connection_drops_the_cache(probe, pgdb):
	make_table(pgdb)
	out = run_probe(probe, "seq", pgdb, READ % 1, PREPARED % "pgpool_read",
		"R:SELECT pg_terminate_backend(pg_backend_pid())",
		PREPARED % "pgpool_read", READ % 2, PREPARED % "pgpool_read")
	assert [(o["cls"], o.get("value")) for o in out[:2]] == [("ok", "v1"), ("ok", "1")], out
	assert (out[2]["cls"], out[2]["in_doubt"]) == ("transient", False), out[2]
	assert out[3]["value"] == "0", "a new session starts with no prepared statement: %s" % out[3]
	assert [(o["cls"], o["value"]) for o in out[4:]] == [("ok", "v2"), ("ok", "1")], out


def test_read_timeout_is_not_in_doubt(probe, pgdb):
	make_table(pgdb)
	out = run_probe(probe, "seq", pgdb, "R:SELECT pg_sleep(3)", READ % 1,
		env={"PGPOOL_PROBE_BATCH_TIMEOUT_MS": "400"})
	assert (out[0]["cls"], out[0]["sqlstate"], out[0]["in_doubt"]) == ("transient", "08006", False), out[0]
	assert "timeout" in out[0]["message"], out[0]
	assert (out[1]["cls"], out[1]["value"]) == ("ok", "v1"), out[1]
