"""tandemctl schema: the DDL of a mapping, printed and applied to a real
PostgreSQL (twice: it must be idempotent); bad mappings list every error."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAPPING = os.path.join(ROOT, "conf", "mapping.yaml")


@pytest.fixture
def tandemctl(tandem_bin):
    ctl = os.path.join(os.path.dirname(os.path.dirname(tandem_bin)), "tools", "tandemctl")
    if not os.path.exists(ctl):
        pytest.skip("tandemctl not built next to tandem")
    return ctl


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def test_schema_prints_reviewable_ddl(tandemctl):
    r = run(tandemctl, "schema", "--mapping", MAPPING, "--collection", "events")
    assert r.returncode == 0, r.stderr
    assert 'CREATE TABLE IF NOT EXISTS "users"' in r.stdout
    assert 'CREATE TABLE IF NOT EXISTS "events"' in r.stdout, "default table for an unmapped collection"
    assert "USING gin" in r.stdout


def test_schema_apply_is_idempotent(tandemctl, pg):
    db = "schema_%d" % os.getpid()
    pg.psql("DROP DATABASE IF EXISTS %s" % db)
    pg.psql("CREATE DATABASE %s" % db)
    dsn = pg.dsn.replace("dbname=postgres", "dbname=" + db)
    for _ in range(2):
        r = run(tandemctl, "schema", "--mapping", MAPPING, "--collection", "events", "--apply", "--pg", dsn)
        assert r.returncode == 0, r.stderr
        assert "schema applied" in r.stdout
    out = subprocess.run(["psql", "-X", "-At", dsn, "-c",
                          "select string_agg(tablename, ',' order by tablename) from pg_tables "
                          "where schemaname = 'public'"], capture_output=True, text=True, timeout=30)
    tables = out.stdout.strip().split(",")
    for t in ("users", "plans", "orders", "events"):
        assert t in tables, tables


def test_schema_bad_mapping_lists_every_error(tandemctl, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ncollections:\n  users:\n    columns:\n"
                   "      email: {type: txet}\n      age: {type: int4, enum: [a, b]}\n")
    r = run(tandemctl, "schema", "--mapping", str(bad))
    assert r.returncode == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("%s:5:" % bad) and "unknown type 'txet'" in lines[0]
    assert lines[1].startswith("%s:6:" % bad) and "enum" in lines[1]


def test_schema_apply_without_pg_is_a_usage_error(tandemctl):
    env = dict(os.environ)
    env.pop("TANDEM_PG", None)
    r = subprocess.run([tandemctl, "schema", "--apply"], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 2 and "--pg" in r.stderr
