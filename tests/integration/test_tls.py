"""TLS on both sides of tandem.

Client side: tandem with tls.cert_file/key_file.
  * pymongo with tls=True and the test CA works (CRUD);
  * the Node.js driver with tls=true works too (when tests/node is installed);
  * a plain (non-TLS) client fails cleanly, and tandem stays up for TLS clients;
  * with tls.ca_file set, a client without a certificate is refused and one
    with the test client certificate is served (mutual TLS).

Upstream side: the reference upstream speaks plain TCP, so a TLS-terminating
relay (Python ssl, the test server certificate) stands in front of it and
tandem is given `mongodb://127.0.0.1:RELAY/?tls=true` plus upstream_tls.
  * with the right CA: clients work through tandem over upstream TLS, and the
    relay saw TLS handshakes (so the data really went over TLS);
  * with a wrong CA (mockupdb's unrelated self-signed certificate) the
    upstream connection is refused: clients get an error, tandem stays up;
  * a relay that requires a client certificate accepts tandem's upstream_tls
    cert/key;
  * the reference upstream's own TLS mode (conftest's upstream_tls) works too.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pymongo
import pytest
from pymongo.errors import PyMongoError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE_DIR = os.path.join(ROOT, "tests", "node")
MOCKUPDB_PEM = "/usr/lib/python3/dist-packages/mockupdb/server.pem"


def crud_roundtrip(client):
    coll = client["tandem_tls_" + uuid.uuid4().hex[:8]]["c"]
    try:
        coll.insert_many([{"_id": i, "v": i * i} for i in range(10)])
        assert coll.count_documents({"v": {"$gte": 25}}) == 5
        assert [d["_id"] for d in coll.find({}, batch_size=3).sort("_id", 1)] == list(range(10))
        coll.update_one({"_id": 3}, {"$set": {"v": -1}})
        assert coll.find_one({"_id": 3})["v"] == -1
    finally:
        coll.drop()


# --------------------------------------------------------------------------
# Client-facing TLS

@pytest.fixture
def tls_tandem(start_tandem, upstream, tls_certs):
    return start_tandem(upstream.uri, tls={"cert_file": tls_certs.server_cert,
                                           "key_file": tls_certs.server_key})


def test_tls_client_works(tls_tandem, tls_certs):
    c = pymongo.MongoClient(tls_tandem.uri, tls=True, tlsCAFile=tls_certs.ca,
                            serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    try:
        assert c.admin.command("ping")["ok"] == 1
        crud_roundtrip(c)
    finally:
        c.close()


def test_tls_refuses_untrusted_client_view(tls_tandem):
    """A client that trusts a different CA must fail the handshake: tandem
    really presents the configured certificate (the test can fail)."""
    c = pymongo.MongoClient(tls_tandem.uri, tls=True, tlsCAFile=MOCKUPDB_PEM,
                            serverSelectionTimeoutMS=1500, heartbeatFrequencyMS=500)
    try:
        with pytest.raises(PyMongoError):
            c.admin.command("ping")
    finally:
        c.close()


def test_plain_client_fails_cleanly(tls_tandem, tls_certs):
    t = tls_tandem
    # pymongo without TLS: a clean failure within its selection timeout.
    c = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500,
                            heartbeatFrequencyMS=500)
    start = time.monotonic()
    try:
        with pytest.raises(PyMongoError):
            c.admin.command("ping")
    finally:
        c.close()
    assert time.monotonic() - start < 10
    # A raw plaintext OP_MSG: tandem closes the connection (no hang).
    import bson
    import struct
    body = b"\x00" + bson.BSON.encode({"ping": 1, "$db": "admin"})
    msg = struct.pack("<iiiiI", 16 + 4 + len(body), 7, 0, 2013, 0) + body
    s = socket.create_connection((t.host, t.port), timeout=5)
    try:
        s.sendall(msg)
        s.settimeout(5)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        # Whatever came back (a TLS alert at most) is not a MongoDB reply.
        assert len(got) < 16 or struct.unpack("<i", got[12:16])[0] != 2013
    finally:
        s.close()
    assert t.proc.poll() is None
    test_tls_client_works(t, tls_certs)


def test_node_driver_over_tls(tls_tandem, tls_certs):
    if shutil.which("node") is None or not os.path.isdir(
            os.path.join(NODE_DIR, "node_modules", "mongodb")):
        pytest.skip("tests/node/node_modules missing: run `npm ci` in tests/node")
    uri = "%s?tls=true&tlsCAFile=%s" % (tls_tandem.uri, tls_certs.ca)
    p = subprocess.run(["node", os.path.join(NODE_DIR, "crud.js"), uri,
                        "--db", "tandem_tls_node"], cwd=NODE_DIR, timeout=120,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert p.returncode == 0 and res["ok"], res.get("error")


def test_mutual_tls(start_tandem, upstream, tls_certs):
    t = start_tandem(upstream.uri, tls={"cert_file": tls_certs.server_cert,
                                        "key_file": tls_certs.server_key,
                                        "ca_file": tls_certs.ca})
    without = pymongo.MongoClient(t.uri, tls=True, tlsCAFile=tls_certs.ca,
                                  serverSelectionTimeoutMS=1500, heartbeatFrequencyMS=500)
    try:
        with pytest.raises(PyMongoError):
            without.admin.command("ping")
    finally:
        without.close()
    with_cert = pymongo.MongoClient(t.uri, tls=True, tlsCAFile=tls_certs.ca,
                                    tlsCertificateKeyFile=tls_certs.client_pem,
                                    serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500)
    try:
        assert with_cert.admin.command("ping")["ok"] == 1
        crud_roundtrip(with_cert)
    finally:
        with_cert.close()
    assert t.proc.poll() is None


# --------------------------------------------------------------------------
# Upstream TLS through a TLS-terminating relay

class TlsRelay:
    """Accepts TLS on a free port and forwards the plaintext to (host, port)."""

    def __init__(self, host, port, certfile, keyfile, client_ca=None):
        self.target = (host, port)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        if client_ca:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(client_ca)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.handshakes = 0
        self.failed_handshakes = 0
        self.peer_certs = []
        self.stopping = threading.Event()
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.lsock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                raw, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        raw.settimeout(5)
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.failed_handshakes += 1
            raw.close()
            return
        self.handshakes += 1
        self.peer_certs.append(c.getpeercert())
        try:
            u = socket.create_connection(self.target, timeout=5)
        except OSError:
            c.close()
            return
        self.socks += [c, u]
        threading.Thread(target=self._pump, args=(u, c), daemon=True).start()
        self._pump(c, u)

    def _pump(self, src, dst):
        src.settimeout(0.5)
        while not self.stopping.is_set():
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.stopping.set()
        self.lsock.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def relay_uri(relay, upstream):
    """The upstream URI with its host replaced by the relay, plus tls=true."""
    hp = "%s:%d" % (upstream.host, upstream.port)
    uri = upstream.uri.replace(hp, "127.0.0.1:%d" % relay.port, 1)
    assert uri != upstream.uri, "cannot point %s at the relay" % upstream.uri
    if "?" in uri:
        return uri + "&tls=true"
    return uri.rstrip("/") + "/?tls=true"


@pytest.fixture
def tls_relay(upstream, tls_certs):
    r = TlsRelay(upstream.host, upstream.port, tls_certs.server_cert, tls_certs.server_key)
    yield r
    r.close()


def test_upstream_tls_with_ca(start_tandem, upstream, tls_certs, tls_relay):
    t = start_tandem(relay_uri(tls_relay, upstream), upstream_tls={"ca_file": tls_certs.ca})
    c = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=8000, heartbeatFrequencyMS=500)
    try:
        assert c.admin.command("ping")["ok"] == 1
        crud_roundtrip(c)
    finally:
        c.close()
    assert tls_relay.handshakes >= 1
    assert t.proc.poll() is None


def test_upstream_tls_reference_upstream(start_tandem, upstream_tls, tls_certs):
    """The reference upstream serving TLS itself (URI carries tls=true)."""
    assert "tls=true" in upstream_tls.uri
    t = start_tandem(upstream_tls.uri, upstream_tls={"ca_file": tls_certs.ca})
    c = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=8000, heartbeatFrequencyMS=500)
    try:
        assert c.admin.command("ping")["ok"] == 1
        crud_roundtrip(c)
    finally:
        c.close()
    assert t.proc.poll() is None


def test_upstream_tls_wrong_ca_is_refused(start_tandem, upstream, tls_relay):
    t = start_tandem(relay_uri(tls_relay, upstream), upstream_tls={"ca_file": MOCKUPDB_PEM})
    c = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=3000, socketTimeoutMS=5000,
                            heartbeatFrequencyMS=500)
    try:
        with pytest.raises(PyMongoError):
            c.admin.command("ping")
    finally:
        c.close()
    assert tls_relay.handshakes == 0
    assert t.proc.poll() is None


def test_upstream_tls_client_certificate(start_tandem, upstream, tls_certs):
    relay = TlsRelay(upstream.host, upstream.port, tls_certs.server_cert, tls_certs.server_key,
                     client_ca=tls_certs.ca)
    try:
        t = start_tandem(relay_uri(relay, upstream),
                         upstream_tls={"ca_file": tls_certs.ca,
                                       "cert_file": tls_certs.client_cert,
                                       "key_file": tls_certs.client_key})
        c = pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=8000, heartbeatFrequencyMS=500)
        try:
            assert c.admin.command("ping")["ok"] == 1
            crud_roundtrip(c)
        finally:
            c.close()
        assert relay.handshakes >= 1
        assert all(relay.peer_certs), "tandem presented no client certificate"
    finally:
        relay.close()
