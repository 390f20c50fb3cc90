"""The Node.js `mongodb` driver through tandem (tests/node/crud.js).

crud.js runs CRUD, a cursor across getMore batches (counted with command
monitoring), countDocuments, distinct, aggregate and an explicit session, and
with --rs a committed and an aborted transaction; it prints one JSON line.

  * standalone: the same script against the upstream directly and through
    tandem must both pass and produce equal results;
  * replica set: a driver given a replicaSet URI naming tandem (tandem started
    with `advertise`) must run everything, transactions included, and its
    topology must know the tandem address only.

Needs `npm ci` in tests/node (the tests skip when node_modules is missing).
"""
import json
import os
import shutil
import subprocess
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE_DIR = os.path.join(ROOT, "tests", "node")
CRUD_JS = os.path.join(NODE_DIR, "crud.js")


def _need_node():
    if shutil.which("node") is None:
        pytest.fail("node is not installed")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mongodb")):
        pytest.fail("tests/node/node_modules missing: run `npm ci` in tests/node")


def run_crud(uri, *args, timeout=120):
    """Run crud.js; return (exit code, parsed JSON line, stderr)."""
    _need_node()
    db = "tandem_node_" + uuid.uuid4().hex[:8]
    p = subprocess.run(["node", CRUD_JS, uri, "--db", db] + list(args), cwd=NODE_DIR,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out = p.stdout.decode(errors="replace").strip().splitlines()
    assert out, "crud.js printed nothing (rc %d): %s" % (p.returncode, p.stderr.decode()[-2000:])
    return p.returncode, json.loads(out[-1]), p.stderr.decode(errors="replace")


def hostport(t):
    return "%s:%d" % (t.host, t.port)


def assert_ok(rc, res, err, where):
    assert rc == 0 and res.get("ok") is True, "crud.js %s failed: %s\n%s" % (
        where, res.get("error"), err[-2000:])


def test_node_crud_through_tandem_matches_direct(start_tandem, upstream):
    rc, direct, err = run_crud(upstream.uri)
    assert_ok(rc, direct, err, "direct")

    t = start_tandem(upstream.uri)
    rc, proxied, err = run_crud(t.uri)
    assert_ok(rc, proxied, err, "through tandem")

    assert proxied["result"] == direct["result"]
    # The cursor really crossed batches, through the proxy too.
    assert proxied["result"]["getMores"] >= 4
    assert proxied["commands"].get("getMore", 0) >= 4
    # A standalone URI through tandem: the driver sees one server, tandem.
    assert proxied["servers"] == [hostport(t)]
    assert t.proc.poll() is None


def test_node_failure_is_reported():
    """The harness itself can fail: a closed port makes crud.js exit non-zero."""
    _need_node()
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, res, _ = run_crud("mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=1000" % port)
    assert rc != 0 and res["ok"] is False and res.get("error")


def test_node_replica_set_uri_stays_on_tandem(start_tandem, upstream_rs):
    t = start_tandem(upstream_rs.uri, advertise="127.0.0.1:{port}")
    advertise = hostport(t)
    uri = "mongodb://%s/?replicaSet=%s" % (advertise, getattr(upstream_rs, "replset", None) or "rs0")
    rc, res, err = run_crud(uri, "--rs")
    assert_ok(rc, res, err, "with a replicaSet URI through tandem")
    assert res["servers"] == [advertise], (
        "the driver discovered servers other than tandem: %r" % res["servers"])
    assert res["topologyType"] == "ReplicaSetWithPrimary"
    assert res["result"]["txnIds"] == ["committed-1", "committed-2"]
    assert res["commands"].get("commitTransaction") == 1
    assert res["commands"].get("abortTransaction") == 1
    assert t.proc.poll() is None


def test_node_replica_set_direct_baseline(upstream_rs):
    """Against the replica-set upstream directly the driver discovers its members,
    which is what tandem's hello rewrite must hide."""
    rc, res, err = run_crud(upstream_rs.uri, "--rs")
    assert_ok(rc, res, err, "direct to the replica set")
    assert res["result"]["txnIds"] == ["committed-1", "committed-2"]
    assert len(res["servers"]) >= 1
