"""The Redis write queue (common/queue/rqueue.c + common/queue/qentry.c) against a real
redis-server, through the C driver tests/clients/rqueue_probe.c.

Binary: $TANDEM_RQUEUE_PROBE, else build/tests/clients/rqueue_probe.
Each test uses its own tenant, so they share the session's Redis.
"""
import os
import subprocess
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def probe_bin():
	path = os.environ.get("TANDEM_RQUEUE_PROBE") or os.path.join(
		ROOT, "build", "tests", "clients", "rqueue_probe")
	if not os.access(path, os.X_OK):
		pytest.skip("rqueue_probe not built: %s" % path)
	return path


@pytest.fixture
def tenant():
	return "t-" + uuid.uuid4().hex[:10]


def probe(redis, *args, ok=True):
	p = subprocess.run([probe_bin(), redis.host, str(redis.port)] + [str(a) for a in args],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
	out, err = p.stdout.decode(), p.stderr.decode()
	if ok:
		assert p.returncode == 0, "probe %s: rc %d %s" % (args, p.returncode, err)
	return p.returncode, out, err


def cli(redis, *args):
	p = subprocess.run(["redis-cli", "-h", redis.host, "-p", str(redis.port)] + list(args),
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True)
	return p.stdout.decode().strip()


def depth(redis, tenant):
	_, out, _ = probe(redis, "depth", tenant)
	w = out.split()
	return int(w[1]), int(w[3]), int(w[5])


def claim(redis, tenant, n):
	"""Claim up to n; returns the seqs in the order received."""
	_, out, _ = probe(redis, "claim", tenant, n)
	lines = out.strip().splitlines()
	assert lines[-1] == "claimed %d" % (len(lines) - 1), out
	return [int(line.split()[1]) for line in lines[:-1]]


def test_push_claim_ack_depth_in_order(redis, tenant):
	probe(redis, "push", tenant, 1, 10)
	assert depth(redis, tenant) == (10, 0, 0)
	assert cli(redis, "LLEN", "tandem:queue:%s" % tenant) == "10"  # the documented key
	assert claim(redis, tenant, 4) == [1, 2, 3, 4]
	assert depth(redis, tenant) == (6, 4, 0)
	assert cli(redis, "LLEN", "tandem:queue:%s:processing" % tenant) == "4"
	probe(redis, "ack", tenant, 4)
	assert depth(redis, tenant) == (6, 0, 0)
	assert claim(redis, tenant, 100) == [5, 6, 7, 8, 9, 10]
	probe(redis, "ack", tenant, 6)
	assert depth(redis, tenant) == (0, 0, 0)
	assert claim(redis, tenant, 10) == []


def test_claimed_but_not_acked_is_recovered_in_order(redis, tenant):
	probe(redis, "push", tenant, 1, 5)
	# The probe exits after claiming: a drainer that died between claim and apply.
	assert claim(redis, tenant, 3) == [1, 2, 3]
	assert depth(redis, tenant) == (2, 3, 0)
	probe(redis, "push", tenant, 6, 1)  # writes keep arriving meanwhile
	_, out, _ = probe(redis, "recover", tenant)
	assert out.strip() == "recovered 3"
	assert depth(redis, tenant) == (6, 0, 0)
	assert claim(redis, tenant, 100) == [1, 2, 3, 4, 5, 6]
	_, out, _ = probe(redis, "recover", tenant)
	assert out.strip() == "recovered 6"
	assert claim(redis, tenant, 100) == [1, 2, 3, 4, 5, 6]
	probe(redis, "ack", tenant, 6)
	_, out, _ = probe(redis, "recover", tenant)
	assert out.strip() == "recovered 0"
	assert depth(redis, tenant) == (0, 0, 0)


def test_dead_letter_keeps_entry_with_reason(redis, tenant):
	probe(redis, "push", tenant, 1, 3)
	assert claim(redis, tenant, 3) == [1, 2, 3]
	probe(redis, "ack", tenant, 1)  # 1 applied, 2 rejected for good
	probe(redis, "dead", tenant, "23514: check constraint orders_status_check")
	assert depth(redis, tenant) == (0, 1, 1)
	_, out, _ = probe(redis, "deadlist", tenant)
	assert out.strip() == "dead seq 2 attempts 1 error 23514: check constraint orders_status_check"
	assert cli(redis, "LLEN", "tandem:deadletter:%s" % tenant) == "1"
	assert claim(redis, tenant, 10) == []
	probe(redis, "ack", tenant, 1)
	assert depth(redis, tenant) == (0, 0, 1)
	# dead-lettering with nothing in processing is an error, not a silent no-op
	rc, _, err = probe(redis, "dead", tenant, "x", ok=False)
	assert rc == 1 and "empty" in err


def test_tenants_are_separate(redis, tenant):
	other = tenant + "-b"
	probe(redis, "push", tenant, 1, 2)
	probe(redis, "push", other, 100, 3)
	assert claim(redis, other, 10) == [100, 101, 102]
	assert depth(redis, tenant) == (2, 0, 0)
	assert claim(redis, tenant, 10) == [1, 2]


def test_undecodable_entry_stays_in_processing(redis, tenant):
	key = "tandem:queue:%s" % tenant
	cli(redis, "RPUSH", key, "not msgpack at all")
	probe(redis, "push", tenant, 1, 1)
	rc, out, err = probe(redis, "claim", tenant, 10, ok=False)
	assert rc == 1 and "decode" in err
	# the claim moved both; nothing is gone
	assert depth(redis, tenant) == (0, 2, 0)
	_, out, _ = probe(redis, "recover", tenant)
	assert out.strip() == "recovered 2"
	assert cli(redis, "LINDEX", key, "0") == "not msgpack at all"


def test_bad_tenant_and_claim_size_rejected(redis, tenant):
	rc, _, err = probe(redis, "claim", tenant, 0, ok=False)
	assert rc == 1 and "out of range" in err
	rc, _, err = probe(redis, "claim", tenant, 1001, ok=False)
	assert rc == 1
	rc, _, err = probe(redis, "depth", "x" * 256, ok=False)
	assert rc == 1 and "tenant" in err


def test_redis_down_is_an_error_not_a_hang(tenant):
	class Gone:
		host = "127.0.0.1"
		port = 1  # nothing listens there
	rc, _, err = probe(Gone, "push", tenant, 1, 1, ok=False)
	assert rc == 1 and "connect" in err
