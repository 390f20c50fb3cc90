"""`tandemctl mismatches TENANT` (tools/ctl_mismatches.c) against a real
redis-server.

The shadow runner LPUSHes one JSON line per mismatch to
tandem:mismatches:<TENANT>; here the test LPUSHes them itself with
redis-cli, runs tandemctl and checks the lines (newest first, exactly as
stored), the stderr summary and the exit codes (0, 1 Redis down, 2 usage).

tandemctl is the one built next to tandem ($TANDEM_BIN, else
build/proxy/tandem): skipped when it is missing.
"""
import json
import os
import subprocess
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402
from dualwrite_helpers import tandemctl_path  # noqa: E402


@pytest.fixture
def ctl(tandem_bin):
	path = tandemctl_path(tandem_bin)
	if not path:
		pytest.fail("tandemctl not built next to %s" % tandem_bin)
	return path


@pytest.fixture
def tenant(redis):
	name = "mm_%s" % uuid.uuid4().hex[:8]
	yield name
	cli(redis, "DEL", "tandem:mismatches:" + name)


def cli(redis, *args):
	p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port)] + [str(a) for a in args],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True)
	return p.stdout.decode().strip()


def run(ctl, *args, env=None):
	return subprocess.run([ctl, "mismatches"] + [str(a) for a in args], stdout=subprocess.PIPE,
		stderr=subprocess.PIPE, text=True, timeout=30, env=env)


def mismatch_line(i, tenant):
	"""A line shaped like the runner's (BRIEF: mismatch log fields)."""
	return json.dumps({"ts": "2026-01-01T00:00:0%dZ" % i, "level": "warn", "event": "shadow_mismatch",
		"tenant": tenant, "db": tenant, "coll": "orders", "op": "find",
		"shape": {"status": "?", "note": "quote \" and backslash \\"}, "mongo_n": 1, "pg_n": 1,
		"diff": {"path": "total", "kind": "changed", "mongo_type": "double", "pg_type": "int32"},
		"mongo_ms": 1.5, "pg_ms": 2.5, "request_id": i}, separators=(",", ":"))


def test_newest_first_with_summary(ctl, redis, tenant):
	lines = [mismatch_line(i, tenant) for i in range(1, 4)]
	for line in lines:  # oldest pushed first, as the runner does
		cli(redis, "LPUSH", "tandem:mismatches:" + tenant, line)
	p = run(ctl, tenant, "--redis", redis.url)
	assert p.returncode == 0, p.stderr
	assert p.stdout.splitlines() == list(reversed(lines))
	assert [json.loads(x)["request_id"] for x in p.stdout.splitlines()] == [3, 2, 1]
	assert p.stderr.strip() == "3 mismatches kept for tenant %s (newest first)" % tenant


def test_limit_shows_the_newest(ctl, redis, tenant):
	for i in range(1, 6):
		cli(redis, "LPUSH", "tandem:mismatches:" + tenant, mismatch_line(i, tenant))
	p = run(ctl, tenant, "--redis", redis.url, "--limit", 2)
	assert p.returncode == 0, p.stderr
	assert [json.loads(x)["request_id"] for x in p.stdout.splitlines()] == [5, 4]
	assert p.stderr.strip() == "showing 2 of 5 mismatches kept for tenant %s (newest first)" % tenant
	p = run(ctl, tenant, "--redis", redis.url)  # default 20 covers all 5
	assert [json.loads(x)["request_id"] for x in p.stdout.splitlines()] == [5, 4, 3, 2, 1]


def test_one_mismatch_is_singular(ctl, redis, tenant):
	cli(redis, "LPUSH", "tandem:mismatches:" + tenant, mismatch_line(1, tenant))
	p = run(ctl, tenant, "--redis", redis.url)
	assert p.returncode == 0, p.stderr
	assert p.stderr.strip() == "1 mismatch kept for tenant %s (newest first)" % tenant


def test_empty_tenant_exits_zero(ctl, redis, tenant):
	p = run(ctl, tenant, "--redis", redis.url)
	assert p.returncode == 0, p.stderr
	assert p.stdout == ""
	assert p.stderr.strip() == "0 mismatches kept for tenant %s (newest first)" % tenant


def test_redis_from_config_file(ctl, redis, tenant, tmp_path):
	cli(redis, "LPUSH", "tandem:mismatches:" + tenant, mismatch_line(7, tenant))
	conf = tmp_path / "tandem.yaml"
	conf.write_text("redis: %s\n" % redis.url)
	env = dict(os.environ, TANDEM_REDIS="redis://127.0.0.1:%d" % servers.free_port())
	p = run(ctl, tenant, "--config", conf, env=env)
	assert p.returncode == 0, p.stderr
	assert json.loads(p.stdout)["request_id"] == 7


def test_redis_down_exits_one(ctl):
	url = "redis://127.0.0.1:%d" % servers.free_port()  # nothing listens there
	p = run(ctl, "acme", "--redis", url)
	assert p.returncode == 1
	assert p.stdout == ""
	assert "cannot reach Redis at %s" % url in p.stderr


def test_wrong_type_key_exits_one(ctl, redis, tenant):
	cli(redis, "SET", "tandem:mismatches:" + tenant, "not a list")
	p = run(ctl, tenant, "--redis", redis.url)
	assert p.returncode == 1
	assert "WRONGTYPE" in p.stderr


@pytest.mark.parametrize("args", [[], ["a", "b"], ["a", "--limit", "0"], ["a", "--limit", "x"],
	["a", "--bogus"], ["a", "--redis", "http://nope"]])
def test_usage_errors_exit_two(ctl, args):
	p = run(ctl, *args)
	assert p.returncode == 2, (args, p.stderr)
	assert p.stdout == ""


def test_help(ctl):
	p = run(ctl, "--help")
	assert p.returncode == 0
	assert p.stdout.startswith("usage: tandemctl mismatches ")
	top = subprocess.run([ctl, "--help"], stdout=subprocess.PIPE, text=True, timeout=30)
	assert "mismatches" in top.stdout
