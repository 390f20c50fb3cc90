"""Operating the proxy: command line and config errors, unix socket,
metrics and health, SIGHUP reload, SIGTERM drain, idle and frame limits,
exhaust and moreToCome, byte-exact passthrough and OP_COMPRESSED.

Tests that need precise control of the upstream (delays, exhaust streams,
byte-exact checks) use fake_upstream.FakeUpstream; the others use the
reference upstream (or a real mongod with TANDEM_TEST_MONGO_URI).
"""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pymongo
import pytest

import wire
from fake_upstream import FakeUpstream, reply_to


def run_tandem(tandem_bin, *args, timeout=10):
    return subprocess.run([tandem_bin, *args], capture_output=True, text=True, timeout=timeout)


def wait_for(cond, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return False


def log_events(t):
    events = []
    with open(t.log_path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                events.append(json.loads(line))
    return events


def config_path(t):
    argv = open("/proc/%d/cmdline" % t.proc.pid, "rb").read().split(b"\0")
    return argv[argv.index(b"--config") + 1].decode()


# -- command line and configuration ----------------------------------------

def test_bad_flag_is_one_line_exit_2(tandem_bin):
    r = run_tandem(tandem_bin, "--listen", "nonsense", "--mongo-uri", "mongodb://127.0.0.1:1")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "listen" in r.stderr


def test_unknown_flag_exit_2(tandem_bin):
    r = run_tandem(tandem_bin, "--no-such-flag", "1")
    assert r.returncode == 2 and "no-such-flag" in r.stderr


def test_missing_mongo_uri_names_the_key(tandem_bin):
    r = run_tandem(tandem_bin)
    assert r.returncode == 2 and "mongo_uri" in r.stderr


def test_bad_mongo_uri_names_the_key(tandem_bin):
    r = run_tandem(tandem_bin, "--mongo-uri", "http://nope")
    assert r.returncode == 2 and "mongo_uri" in r.stderr


def test_config_error_names_file_line_and_key(tandem_bin, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("mongo_uri: mongodb://127.0.0.1:1\nlog:\n  level: loud\n")
    r = run_tandem(tandem_bin, "--config", str(cfg))
    assert r.returncode == 2
    assert "%s:3:" % cfg in r.stderr and "log.level" in r.stderr


def test_help_and_version(tandem_bin):
    r = run_tandem(tandem_bin, "--help")
    assert r.returncode == 0
    for flag in ("--config", "--listen", "--mongo-uri", "--pg", "--redis", "--mapping", "--admin"):
        assert flag in r.stdout
    r = run_tandem(tandem_bin, "--version")
    assert r.returncode == 0 and r.stdout.startswith("tandem ")


# -- listeners, metrics, health --------------------------------------------

def test_unix_socket_listener(upstream, start_tandem, tmp_path):
    path = str(tmp_path / "tandem.sock")
    start_tandem(upstream.uri, unix_socket=path)
    quoted = path.replace("/", "%2F")
    client = pymongo.MongoClient("mongodb://%s/" % quoted, serverSelectionTimeoutMS=5000)
    coll = client.tandem_ops.unix_sock
    coll.delete_many({})
    coll.insert_one({"via": "unix"})
    assert coll.find_one({}, {"_id": 0}) == {"via": "unix"}
    client.close()


def test_metrics_and_healthz(upstream, start_tandem):
    t = start_tandem(upstream.uri)
    client = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=5000)
    client.tandem_ops.metrics.insert_one({"x": 1})
    client.tandem_ops.metrics.find_one()
    text = t.metrics()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['tandem_commands_total{command="insert"}'] >= 1
    assert samples['tandem_commands_total{command="find"}'] >= 1
    assert samples["tandem_client_connections"] >= 1
    assert samples['tandem_messages_total{direction="in",opcode="OP_MSG"}'] >= 2
    assert samples['tandem_upstream_latency_seconds_count{command="insert"}'] >= 1
    assert samples['tandem_command_bytes_total{command="insert"}'] > 16
    with urllib.request.urlopen(t.admin_url + "/healthz", timeout=5) as r:
        assert r.status == 200
        assert json.loads(r.read())["status"] == "ok"
    client.close()


def test_tandemctl_status(upstream, start_tandem, tandem_bin):
    t = start_tandem(upstream.uri)
    ctl = os.path.join(os.path.dirname(os.path.dirname(tandem_bin)), "tools", "tandemctl")
    if not os.path.exists(ctl):
        pytest.fail("tandemctl not built next to tandem")
    admin = t.admin_url.replace("http://", "")
    r = subprocess.run([ctl, "--admin", admin, "status"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert '"status":"ok"' in r.stdout and "client connections" in r.stdout
    r = subprocess.run([ctl, "--admin", "127.0.0.1:1", "status"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and "cannot reach" in r.stderr


# -- reload and drain ------------------------------------------------------

def test_sighup_reload_applies_and_bad_reload_keeps_old(upstream, start_tandem):
    t = start_tandem(upstream.uri)
    path = config_path(t)
    original = open(path).read()
    with open(path, "a") as f:
        f.write("\nidle_timeout_ms: 300\n")
    os.kill(t.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: any(e["event"] == "config_reloaded" for e in log_events(t)))

    s = wire.connect(t.port)   # idle: must now be closed by the new timeout
    s.settimeout(5)
    start = time.monotonic()
    assert s.recv(1) == b""
    assert time.monotonic() - start < 4
    s.close()

    open(path, "w").write(original + "\nworkers: lots\n")
    os.kill(t.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: any(e["event"] == "config_reload_failed" for e in log_events(t)))
    client = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=5000)
    assert client.admin.command("ping")["ok"] == 1
    client.close()
    assert t.proc.poll() is None


def slow_ping_upstream(delay):
    """Answers hello at once, everything else after delay seconds."""
    def handler(msg):
        body = wire.msg_body(msg)
        if "hello" in body or "isMaster" in body or "ismaster" in body:
            return [(reply_to(msg, {"isWritablePrimary": True, "maxWireVersion": 17, "ok": 1.0}), 0)]
        return [(reply_to(msg, {"ok": 1.0, "slow": True}), delay)]
    return FakeUpstream(handler)


def test_sigterm_lets_in_flight_requests_finish(start_tandem):
    up = slow_ping_upstream(1.0)
    t = start_tandem(up.uri, drain_timeout_ms=5000)
    s = wire.connect(t.port)
    s.sendall(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=7))
    assert wait_for(lambda: len(up.received) == 1, timeout=5)
    os.kill(t.proc.pid, signal.SIGTERM)
    reply = wire.recv_msg(s)
    assert wire.header(reply)[2] == 7
    assert wire.msg_body(reply)["slow"] is True
    assert s.recv(1) == b"", "drained connection is closed after its reply"
    assert t.proc.wait(timeout=10) == 0
    with pytest.raises(OSError):
        wire.connect(t.port, timeout=2)
    up.stop()


def test_sigterm_drain_timeout_bounds_shutdown(start_tandem):
    up = slow_ping_upstream(20.0)
    t = start_tandem(up.uri, drain_timeout_ms=500)
    s = wire.connect(t.port)
    s.sendall(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=9))
    assert wait_for(lambda: len(up.received) == 1, timeout=5)
    start = time.monotonic()
    os.kill(t.proc.pid, signal.SIGTERM)
    assert t.proc.wait(timeout=10) == 0
    assert time.monotonic() - start < 5
    up.stop()


# -- limits ----------------------------------------------------------------

def test_idle_timeout_closes_idle_clients(upstream, start_tandem):
    t = start_tandem(upstream.uri, idle_timeout_ms=300)
    s = wire.connect(t.port)
    s.settimeout(5)
    assert s.recv(1) == b""
    assert wait_for(lambda: any(e.get("reason") == "idle_timeout" for e in log_events(t)))


def test_slow_request_is_not_idle(start_tandem):
    up = slow_ping_upstream(1.0)
    t = start_tandem(up.uri, idle_timeout_ms=300)
    s = wire.connect(t.port)
    s.sendall(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=3))
    assert wire.msg_body(wire.recv_msg(s))["ok"] == 1.0
    up.stop()


# -- wire behaviour --------------------------------------------------------

def test_requests_and_replies_pass_byte_for_byte(start_tandem):
    sent_replies = []

    def handler(msg):
        r = reply_to(msg, {"ok": 1.0, "echo": wire.msg_body(msg)})
        sent_replies.append(r)
        return [(r, 0)]

    up = FakeUpstream(handler)
    t = start_tandem(up.uri)
    s = wire.connect(t.port)
    req = wire.op_msg({"find": "c", "filter": {"a": {"$gt": 1}}, "$db": "d"}, request_id=42)
    s.sendall(req)
    got = wire.recv_msg(s)
    assert up.received[-1] == req
    assert got == sent_replies[-1]
    up.stop()


def test_compressed_request_is_forwarded_as_received(start_tandem):
    up = FakeUpstream(lambda msg: [(reply_to(msg, {"ok": 1.0}), 0)]
                      if wire.header(msg)[3] == wire.OP_MSG else
                      [(wire.op_msg({"ok": 1.0}, request_id=5, response_to=wire.header(msg)[1]), 0)])
    t = start_tandem(up.uri)
    s = wire.connect(t.port)
    req = wire.op_compressed_zlib(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=11))
    s.sendall(req)
    reply = wire.recv_msg(s)
    assert wire.header(reply)[2] == 11
    assert up.received[-1] == req, "OP_COMPRESSED must reach the upstream untouched"
    text = t.metrics()
    assert 'tandem_commands_total{command="ping"} 1' in text, "tandem looked inside"
    up.stop()


def test_exhaust_stream_reaches_the_client_whole(start_tandem):
    def handler(msg):
        rid = wire.header(msg)[1]
        if not wire.msg_flags(msg) & wire.EXHAUST_ALLOWED:
            return [(reply_to(msg, {"ok": 1.0}), 0)]
        out = []
        for i in range(3):
            out.append((wire.op_msg({"batch": i, "ok": 1.0}, request_id=900 + i,
                                    response_to=rid if i == 0 else 900 + i - 1,
                                    flags=wire.MORE_TO_COME), 0.05))
        out.append((wire.op_msg({"batch": 3, "ok": 1.0}, request_id=903, response_to=902), 0))
        return out

    up = FakeUpstream(handler)
    t = start_tandem(up.uri)
    s = wire.connect(t.port)
    s.sendall(wire.op_msg({"getMore": 1, "collection": "c", "$db": "d"}, request_id=50,
                          flags=wire.EXHAUST_ALLOWED))
    batches = [wire.msg_body(wire.recv_msg(s))["batch"] for _ in range(4)]
    assert batches == [0, 1, 2, 3]
    s.sendall(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=51))
    assert wire.header(wire.recv_msg(s))[2] == 51
    assert wait_for(lambda: "tandem_requests_in_flight 0" in t.metrics(), timeout=5)
    up.stop()


def test_more_to_come_request_gets_no_reply(start_tandem):
    def handler(msg):
        if wire.msg_flags(msg) & wire.MORE_TO_COME:
            return []
        return [(reply_to(msg, {"ok": 1.0, "n": len(up.received)}), 0)]

    up = FakeUpstream(handler)
    t = start_tandem(up.uri)
    s = wire.connect(t.port)
    s.sendall(wire.op_msg({"insert": "c", "documents": [{"a": 1}], "writeConcern": {"w": 0},
                           "$db": "d"}, request_id=60, flags=wire.MORE_TO_COME))
    s.sendall(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=61))
    reply = wire.recv_msg(s)
    assert wire.header(reply)[2] == 61
    assert wire.msg_body(reply)["n"] == 2, "the unacknowledged insert reached the upstream first"
    up.stop()


def test_sigterm_does_not_wait_for_driver_monitoring(upstream, start_tandem):
    """A connected driver keeps a hello in flight on its monitoring
    connection (awaitable hello can wait 10 s); drain must not wait for it."""
    t = start_tandem(upstream.uri, drain_timeout_ms=8000)
    client = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    assert client.admin.command("ping")["ok"] == 1
    time.sleep(1.0)   # let the monitor settle into its heartbeat
    start = time.monotonic()
    os.kill(t.proc.pid, signal.SIGTERM)
    assert t.proc.wait(timeout=10) == 0
    assert time.monotonic() - start < 4, "drain waited for a monitoring hello"
    client.close()


def test_large_messages_cross_whole_both_ways(start_tandem):
    """A 15 MB request and a 15 MB reply, read slowly by the client, so the
    partial-write and back-pressure paths run; bytes arrive unchanged."""
    big = "x" * (15 * 1024 * 1024)
    replies = []

    def handler(msg):
        r = reply_to(msg, {"ok": 1.0, "blob": big, "got": len(msg)})
        replies.append(r)
        return [(r, 0)]

    up = FakeUpstream(handler)
    t = start_tandem(up.uri)
    s = wire.connect(t.port, timeout=30)
    req = wire.op_msg({"insert": "c", "documents": [{"blob": big}], "$db": "d"}, request_id=70)
    s.sendall(req)
    time.sleep(1.0)   # a client that does not read yet: tandem must hold back
    got = wire.recv_msg(s)
    assert up.received[-1] == req
    assert got == replies[-1]
    s.sendall(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=71))
    assert wire.header(wire.recv_msg(s))[2] == 71
    up.stop()


def test_upstream_connect_timeout_closes_the_client(start_tandem):
    """An upstream that accepts TCP but never completes the TLS handshake:
    the client is closed after connect_timeout_ms, and logged once."""
    silent = FakeUpstream(lambda msg: [])
    t = start_tandem(silent.uri + "?tls=true", connect_timeout_ms=500,
                     upstream_tls={"insecure": True})
    s = wire.connect(t.port)
    s.settimeout(5)
    start = time.monotonic()
    s.sendall(wire.op_msg({"ping": 1, "$db": "admin"}, request_id=80))
    try:
        data = s.recv(1)
    except ConnectionResetError:
        data = b""
    assert data == b""
    assert 0.3 < time.monotonic() - start < 4
    assert wait_for(lambda: any(e.get("reason") == "upstream_connect_timeout"
                                for e in log_events(t)))
    # (the fixture's readiness probe is a client too, so at least one)
    errors = [float(l.split()[1]) for l in t.metrics().splitlines()
              if l.startswith("tandem_upstream_connect_errors_total ")]
    assert errors and errors[0] >= 1
    silent.stop()
