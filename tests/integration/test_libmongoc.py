"""libmongoc (the C driver, Debian 1.23) through tandem: tests/clients/crud_client.c.

The client (meson target `mongoc_crud`) runs CRUD, a duplicate-key error, a
cursor across getMore batches counted by APM, count_documents and a session,
and with --rs a committed and an aborted transaction; its exit code tells.
Binary: $TANDEM_MONGOC_CLIENT, else build/tests/clients/mongoc_crud.
"""
import os
import re
import socket
import subprocess
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def client_bin():
    path = os.environ.get("TANDEM_MONGOC_CLIENT") or os.path.join(
        ROOT, "build", "tests", "clients", "mongoc_crud")
    if not os.access(path, os.X_OK):
        pytest.fail("libmongoc client not built: %s" % path)
    return path


def run_client(uri, *args, timeout=120):
    db = "tandem_c_" + uuid.uuid4().hex[:8]
    p = subprocess.run([client_bin(), uri, "--db", db] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def with_timeouts(uri):
    sep = "&" if "?" in uri else ("?" if uri.endswith("/") else "/?")
    return uri + sep + "serverSelectionTimeoutMS=10000&connectTimeoutMS=5000"


def assert_passed(rc, out, err, where):
    """Exit 0 and the summary line; returns the servers the driver knew."""
    assert rc == 0, "mongoc_crud %s failed (rc %d): %s%s" % (where, rc, out, err)
    m = re.search(r"ok getmores=(\d+) docs=(\d+) servers=(\S*)", out)
    assert m, out
    assert int(m.group(1)) >= 4 and int(m.group(2)) == 23, out
    return m.group(3).split(",")


def test_libmongoc_crud_direct(upstream):
    rc, out, err = run_client(with_timeouts(upstream.uri))
    assert_passed(rc, out, err, "direct")


def test_libmongoc_crud_through_tandem(start_tandem, upstream):
    t = start_tandem(upstream.uri)
    rc, out, err = run_client(with_timeouts(t.uri))
    assert assert_passed(rc, out, err, "through tandem") == ["127.0.0.1:%d" % t.port]
    assert t.proc.poll() is None


def test_libmongoc_replica_set_uri_through_tandem(start_tandem, upstream_rs):
    """replicaSet URI naming tandem: transactions pass, the driver stays on tandem."""
    t = start_tandem(upstream_rs.uri, advertise="127.0.0.1:{port}")
    uri = with_timeouts("mongodb://127.0.0.1:%d/?replicaSet=%s" % (
        t.port, getattr(upstream_rs, "replset", None) or "rs0"))
    rc, out, err = run_client(uri, "--rs")
    assert assert_passed(rc, out, err, "replica set through tandem") == ["127.0.0.1:%d" % t.port]
    assert t.proc.poll() is None


def test_libmongoc_failure_is_reported():
    """The client really fails when it cannot reach a server."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, _, err = run_client("mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=500" % port)
    assert rc == 1, err
