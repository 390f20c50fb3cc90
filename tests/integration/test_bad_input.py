"""Malformed input on raw sockets: tandem answers or closes, nothing else suffers.

Each corpus entry is sent on its own TCP connection to a fresh tandem while a
healthy pymongo client runs queries in a parallel thread.  For every entry:

  * tandem answers a MongoDB-format error (an OP_MSG reply to our request
    with ok: 0 and an errmsg) or closes the connection, within a bound;
  * afterwards the proxy process is alive and answers a new client;
  * the healthy client saw zero errors and made progress during the case;
  * tandem wrote a JSON log line about it (rejection / close).

Frames are built by hand with struct and bson (pymongo 3.11's bson).  CRC-32C
is computed here (table-driven) so a VALID checksummed message can be shown
to pass, next to the corrupted one that must be refused.

An unknown opcode is the exception: it must be forwarded upstream untouched.
That case puts a recording TCP relay between tandem and the upstream and
checks the relay saw the exact bytes.
"""
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import zlib

import bson
import pymongo
import pytest

OP_COMPRESSED = 2012
OP_MSG = 2013
MAX_MESSAGE = 48000000

# How long tandem may take to answer or close after the offending bytes.
ANSWER_TIMEOUT = 5.0
# frame_timeout_ms used by the slowloris cases, and the bound on the close.
SLOW_FRAME_MS = 1000
SLOW_BOUND = 6.0


# --------------------------------------------------------------------------
# CRC-32C: the reference upstream's own (tests/upstream/refwire.py), checked
# against the catalogue's check value below.

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "upstream"))
from refwire import crc32c  # noqa: E402


def test_crc32c_known_vector():
    # The check value of CRC-32C from the catalogue of parametrised CRCs.
    assert crc32c(b"123456789") == 0xE3069283


# --------------------------------------------------------------------------
# Frame builders

_next_id = [1000]


def req_id():
    _next_id[0] += 1
    return _next_id[0]


def header(length, request_id, opcode, response_to=0):
    return struct.pack("<iiii", length, request_id, response_to, opcode)


def frame(opcode, payload, request_id=None, length=None):
    """Header + payload; length defaults to the true length."""
    rid = request_id if request_id is not None else req_id()
    n = 16 + len(payload) if length is None else length
    return header(n, rid, opcode) + payload


def kind0(doc):
    return b"\x00" + bson.BSON.encode(doc)


def kind1(identifier, docs, size=None):
    body = identifier.encode() + b"\x00" + b"".join(bson.BSON.encode(d) for d in docs)
    return b"\x01" + struct.pack("<i", 4 + len(body) if size is None else size) + body


def op_msg(sections, flags=0, request_id=None, checksum=None):
    """OP_MSG; checksum: None (flag not set unless in flags), 'good' or an int."""
    rid = request_id if request_id is not None else req_id()
    payload = struct.pack("<I", flags) + b"".join(sections)
    if checksum is None:
        return header(16 + len(payload), rid, OP_MSG) + payload
    msg = header(16 + len(payload) + 4, rid, OP_MSG) + payload
    crc = crc32c(msg) if checksum == "good" else checksum
    return msg + struct.pack("<I", crc)


def ping(db="admin"):
    return {"ping": 1, "$db": db}


def op_compressed(inner_opcode, inner_payload, compressor, data, size=None):
    n = len(inner_payload) if size is None else size
    payload = struct.pack("<iiB", inner_opcode, n, compressor) + data
    return frame(OP_COMPRESSED, payload)


# --------------------------------------------------------------------------
# The corpus: name -> (bytes, mode).  mode is
#   "halfclose": send, then shut down our write side (the frame can never complete)
#   "keep":      send and keep the connection open (tandem must decide from what it has)

def _body(doc):
    return bson.BSON.encode(doc)


def _valid_ping_payload():
    return struct.pack("<I", 0) + kind0(ping())


def _bad_doc_length():
    doc = bytearray(_body(ping()))
    doc[0:4] = struct.pack("<i", len(doc) + 200)  # claims 200 more bytes than it has
    return b"\x00" + bytes(doc)


def _doc_no_terminator():
    doc = bytearray(_body(ping()))
    doc[-1] = 0x07  # last byte must be 0x00
    return b"\x00" + bytes(doc)


def _doc_bad_element():
    # {x: <type 0x42 unknown>} with a consistent length.
    elem = b"\x42x\x00" + b"\x00" * 4
    doc = struct.pack("<i", 4 + len(elem) + 1) + elem + b"\x00"
    return b"\x00" + doc


def corpus():
    inner = _valid_ping_payload()
    zdata = zlib.compress(inner)
    truncated = frame(OP_MSG, _valid_ping_payload(), length=100)
    c = {
        "short_header": (b"\x10\x00\x00", "halfclose"),
        "length_below_16": (header(8, req_id(), OP_MSG), "keep"),
        "length_zero": (header(0, req_id(), OP_MSG), "keep"),
        "length_over_48MB": (header(MAX_MESSAGE + 1, req_id(), OP_MSG) + b"\x00" * 16, "keep"),
        "length_int32_max": (header(0x7FFFFFFF, req_id(), OP_MSG) + b"\x00" * 16, "keep"),
        "length_negative": (header(-1, req_id(), OP_MSG) + b"\x00" * 16, "keep"),
        "length_int32_min": (header(-0x80000000, req_id(), OP_MSG), "keep"),
        "truncated_body_then_close": ((truncated + b"\x00" * 100)[:50], "halfclose"),
        "two_kind0_sections": (op_msg([kind0(ping()), kind0(ping())]), "keep"),
        "zero_kind0_sections": (op_msg([kind1("documents", [{"a": 1}])]), "keep"),
        "only_flags_no_sections": (op_msg([]), "keep"),
        "unknown_section_kind": (op_msg([kind0(ping()), b"\x02" + _body({"a": 1})]), "keep"),
        "bad_checksum": (op_msg([kind0(ping())], flags=1, checksum=0xDEADBEEF), "keep"),
        "checksum_flag_without_checksum": (op_msg([kind0(ping())], flags=1), "keep"),
        "bson_length_lies": (op_msg([_bad_doc_length()]), "keep"),
        "bson_no_terminator": (op_msg([_doc_no_terminator()]), "keep"),
        "bson_unknown_element_type": (op_msg([_doc_bad_element()]), "keep"),
        "unknown_required_flag_bit5": (op_msg([kind0(ping())], flags=1 << 5), "keep"),
        "kind1_size_too_big": (op_msg([kind0({"insert": "c", "$db": "tandem_bad"}),
                                       kind1("documents", [{"a": 1}], size=1000)]), "keep"),
        "kind1_size_too_small": (op_msg([kind0({"insert": "c", "$db": "tandem_bad"}),
                                         kind1("documents", [{"a": 1}], size=6)]), "keep"),
        "compressed_unknown_compressor": (op_compressed(OP_MSG, inner, 99, inner), "keep"),
        "compressed_size_lies_bigger": (op_compressed(OP_MSG, inner, 2, zdata,
                                                      size=len(inner) + 500), "keep"),
        "compressed_size_lies_smaller": (op_compressed(OP_MSG, inner, 2, zdata,
                                                       size=len(inner) - 5), "keep"),
        "compressed_size_over_48MB": (op_compressed(OP_MSG, inner, 2, zdata,
                                                    size=MAX_MESSAGE + 1), "keep"),
        "compressed_garbage_zlib": (op_compressed(OP_MSG, inner, 2, b"\x78\x9c garbage!"),
                                    "keep"),
    }
    return c


CORPUS = corpus()


# --------------------------------------------------------------------------
# Reading tandem's answer

def read_outcome(sock, timeout):
    """Read until one whole message arrived, the peer closed, or timeout.

    Returns (kind, data, elapsed): kind is "message", "closed" or "timeout".
    """
    start = time.monotonic()
    data = b""
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            return "timeout", data, time.monotonic() - start
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return "closed", data, time.monotonic() - start
        if not chunk:
            return "closed", data, time.monotonic() - start
        data += chunk
        if len(data) >= 4:
            n = struct.unpack("<i", data[:4])[0]
            if n >= 16 and len(data) >= n:
                return "message", data[:n], time.monotonic() - start


def parse_op_msg_reply(msg):
    length, _rid, response_to, opcode = struct.unpack("<iiii", msg[:16])
    assert opcode == OP_MSG, "reply opcode %d, expected OP_MSG" % opcode
    flags = struct.unpack("<I", msg[16:20])[0]
    end = length - 4 if flags & 1 else length
    if flags & 1:
        assert struct.unpack("<I", msg[end:length])[0] == crc32c(msg[:end]), "reply checksum"
    assert msg[20] == 0, "reply must start with a kind-0 section"
    doc_len = struct.unpack("<i", msg[21:25])[0]
    assert 21 + doc_len <= end
    return response_to, bson.BSON(msg[21:21 + doc_len]).decode()


def assert_error_or_closed(kind, data, request_id):
    assert kind in ("message", "closed"), "tandem neither answered nor closed (%s)" % kind
    if kind == "message":
        response_to, doc = parse_op_msg_reply(data)
        assert response_to in (request_id, 0), "error reply pairs with request %d" % response_to
        assert doc.get("ok") == 0, "expected ok:0, got %r" % (doc,)
        assert isinstance(doc.get("errmsg"), str) and doc["errmsg"], doc


def request_id_of(raw):
    return struct.unpack("<i", raw[4:8])[0] if len(raw) >= 8 else None


# --------------------------------------------------------------------------
# The healthy client running beside every case

class HealthyClient:
    """pymongo client doing insert/find/count in a loop until stopped."""

    def __init__(self, uri, db):
        self.client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500,
                                          socketTimeoutMS=10000, connectTimeoutMS=5000)
        self.coll = self.client[db]["healthy"]
        self.errors = []
        self.ops = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.client.admin.command("ping")
        self._thread.start()
        return self

    def _run(self):
        i = 0
        while not self._stop.is_set() and i < 100000:
            i += 1
            try:
                self.coll.insert_one({"i": i})
                got = self.coll.find_one({"i": i})
                assert got is not None and got["i"] == i, "read back %r" % (got,)
                self.ops += 1
            except Exception as e:  # every failure counts; the test asserts none
                self.errors.append(repr(e))
            self._stop.wait(0.01)

    def wait_ops(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while self.ops < n and time.monotonic() < deadline and not self.errors:
            time.sleep(0.02)
        return self.ops >= n

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=15)
        try:
            self.coll.drop()
        finally:
            self.client.close()


# --------------------------------------------------------------------------
# Log inspection

# A line about a rejection: tandem logs {"event": "client_closed", "reason":
# "protocol_error", "detail": "bad_checksum", "peer": "127.0.0.1:PORT", ...}.
_REJECT_WORDS = re.compile(r"reject|protocol|invalid|malformed|bad|checksum|timeout|frame",
                           re.IGNORECASE)


def log_lines(path):
    out = []
    if not path or not os.path.exists(path):
        return out
    with open(path, "r", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def peer_lines(path, skip, local_port):
    """JSON lines after the first `skip` that name our socket as their peer."""
    peer = "127.0.0.1:%d" % local_port
    return [l for l in log_lines(path)[skip:]
            if any(isinstance(v, str) and v == peer for v in l.values())]


def wait_for_log(path, skip, local_port, rejection, timeout=3.0):
    """Wait for a line about our connection; with rejection=True it must also
    say why tandem refused it (level warn/error, reason/detail/event naming a
    protocol problem).  Returns (matching lines, all new lines)."""
    deadline = time.monotonic() + timeout
    while True:
        mine = peer_lines(path, skip, local_port)
        if rejection:
            mine = [l for l in mine if l.get("level") in ("warn", "error") and _REJECT_WORDS.search(
                " ".join(str(l.get(k, "")) for k in ("event", "reason", "detail", "msg")))]
        if mine or time.monotonic() > deadline:
            return mine, log_lines(path)[skip:]
        time.sleep(0.1)


# --------------------------------------------------------------------------
# Driving one case

def send_case(tandem, raw, mode, timeout=ANSWER_TIMEOUT):
    """Send raw on a new connection; returns (kind, data, elapsed, local port)."""
    s = socket.create_connection((tandem.host, tandem.port), timeout=5)
    try:
        port = s.getsockname()[1]
        s.sendall(raw)
        if mode == "halfclose":
            s.shutdown(socket.SHUT_WR)
        return read_outcome(s, timeout) + (port,)
    finally:
        s.close()


def assert_proxy_fine(tandem, healthy, ops_before):
    assert tandem.proc.poll() is None, "tandem exited with %r" % tandem.proc.returncode
    # The healthy client keeps making progress after the case, without error.
    assert healthy.wait_ops(ops_before + 5), "healthy client stalled (ops=%d)" % healthy.ops
    assert healthy.errors == [], healthy.errors
    # A brand-new client is served too.
    c = pymongo.MongoClient(tandem.uri, serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    try:
        assert c.admin.command("ping")["ok"] == 1
    finally:
        c.close()


@pytest.fixture
def tandem(start_tandem, upstream):
    return start_tandem(upstream.uri, frame_timeout_ms=20000)


@pytest.fixture
def healthy(tandem):
    h = HealthyClient(tandem.uri, "tandem_bad_healthy").start()
    assert h.wait_ops(3), "healthy client could not start: %r" % h.errors
    yield h
    h.stop()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_malformed_frame(name, tandem, healthy):
    raw, mode = CORPUS[name]
    skip = len(log_lines(tandem.log_path))
    ops_before = healthy.ops
    kind, data, elapsed, port = send_case(tandem, raw, mode)
    assert_error_or_closed(kind, data, request_id_of(raw))
    assert elapsed < ANSWER_TIMEOUT
    assert_proxy_fine(tandem, healthy, ops_before)
    # A frame we abandoned ourselves (half-close) may be logged as a plain EOF;
    # a frame tandem had to judge must be logged as a rejection.
    hits, new = wait_for_log(tandem.log_path, skip, port, rejection=(mode == "keep"))
    assert hits, "no JSON log line about connection :%d; new lines: %r" % (port, new[-5:])


def test_valid_checksum_is_answered(tandem, healthy):
    rid = req_id()
    raw = op_msg([kind0(ping())], flags=1, request_id=rid, checksum="good")
    kind, data, _, _ = send_case(tandem, raw, "keep")
    assert kind == "message", "a correctly checksummed ping got %s" % kind
    response_to, doc = parse_op_msg_reply(data)
    assert response_to == rid
    assert doc.get("ok") == 1, doc
    assert_proxy_fine(tandem, healthy, healthy.ops)


def test_valid_compressed_is_answered(tandem, healthy):
    """The same ping zlib-compressed in OP_COMPRESSED is answered normally."""
    rid = req_id()
    inner = _valid_ping_payload()
    payload = struct.pack("<iiB", OP_MSG, len(inner), 2) + zlib.compress(inner)
    raw = header(16 + len(payload), rid, OP_COMPRESSED) + payload
    kind, data, _, _ = send_case(tandem, raw, "keep")
    assert kind == "message", "a valid OP_COMPRESSED ping got %s" % kind
    opcode = struct.unpack("<i", data[12:16])[0]
    if opcode == OP_COMPRESSED:  # the server may answer compressed too
        orig, size, comp = struct.unpack("<iiB", data[16:25])
        assert comp == 2 and orig == OP_MSG
        body = zlib.decompress(data[25:])
        assert len(body) == size
        data = header(16 + size, 0, OP_MSG, rid) + body
    response_to, doc = parse_op_msg_reply(data)
    assert response_to == rid and doc.get("ok") == 1, doc


# --------------------------------------------------------------------------
# Slowloris: a frame that never completes is closed by frame_timeout_ms

@pytest.fixture
def slow_tandem(start_tandem, upstream):
    return start_tandem(upstream.uri, frame_timeout_ms=SLOW_FRAME_MS)


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "drip"])
def test_slowloris_closed_within_bound(slow_tandem, drip):
    t = slow_tandem
    healthy = HealthyClient(t.uri, "tandem_bad_healthy").start()
    try:
        skip = len(log_lines(t.log_path))
        full = op_msg([kind0({"ping": 1, "$db": "admin", "pad": "x" * 200})])
        s = socket.create_connection((t.host, t.port), timeout=5)
        port = s.getsockname()[1]
        start = time.monotonic()
        closed_after = None
        try:
            s.sendall(full[:50])
            i = 50
            while time.monotonic() - start < SLOW_BOUND and i < len(full) - 1:
                if drip:  # one byte every 200 ms: progress, but the frame never completes in time
                    try:
                        s.sendall(full[i:i + 1])
                    except OSError:
                        closed_after = time.monotonic() - start
                        break
                    i += 1
                r, _, _ = select.select([s], [], [], 0.2)
                if r:
                    try:
                        chunk = s.recv(4096)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        closed_after = time.monotonic() - start
                        break
                    # An error reply is acceptable before the close; keep reading.
        finally:
            s.close()
        assert closed_after is not None, "slow frame still open after %.1f s" % SLOW_BOUND
        assert closed_after >= SLOW_FRAME_MS / 1000.0 * 0.5, "closed suspiciously early"
        assert_proxy_fine(t, healthy, healthy.ops)
        hits, new = wait_for_log(t.log_path, skip, port, rejection=True)
        assert hits, "no JSON log line about the timed-out frame; new lines: %r" % new[-5:]
    finally:
        healthy.stop()


# --------------------------------------------------------------------------
# Unknown opcode: forwarded upstream byte for byte

class TapRelay:
    """TCP relay that records every byte going towards the upstream."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.upstream_bytes = bytearray()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.lsock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()

    def _pump(self, src, dst, record):
        src.settimeout(0.5)
        while not self.stopping.is_set():
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if record:
                with self.lock:
                    self.upstream_bytes += data
            try:
                dst.sendall(data)
            except OSError:
                return

    def saw(self, raw):
        with self.lock:
            return bytes(raw) in bytes(self.upstream_bytes)

    def close(self):
        self.stopping.set()
        self.lsock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def test_unknown_opcode_forwarded_untouched(start_tandem, upstream):
    relay = TapRelay(upstream.host, upstream.port)
    try:
        uri = upstream.uri.replace("%s:%d" % (upstream.host, upstream.port),
                                   "127.0.0.1:%d" % relay.port, 1)
        assert uri != upstream.uri, "cannot point %s at the relay" % upstream.uri
        t = start_tandem(uri, frame_timeout_ms=20000)
        healthy = HealthyClient(t.uri, "tandem_bad_healthy").start()
        try:
            raw = frame(9999, b"opaque payload \x00\x01\x02" + os.urandom(32))
            s = socket.create_connection((t.host, t.port), timeout=5)
            try:
                s.sendall(raw)
                deadline = time.monotonic() + ANSWER_TIMEOUT
                while not relay.saw(raw) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert relay.saw(raw), "the unknown-opcode frame did not reach the upstream intact"
                # Whatever the upstream does (mongod closes, others may ignore), a bounded wait.
                read_outcome(s, 2.0)
            finally:
                s.close()
            assert_proxy_fine(t, healthy, healthy.ops)
        finally:
            healthy.stop()
    finally:
        relay.close()
