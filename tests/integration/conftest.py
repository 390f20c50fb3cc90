"""Fixtures of tandem's integration tests (pytest, run with /usr/bin/python3).

  tandem_bin     (session)  path of the proxy: $TANDEM_BIN or build/proxy/tandem;
                            tests that need it are skipped when it is missing
  upstream       (session)  a standalone MongoDB: $TANDEM_TEST_MONGO_URI (a real
                            mongod) or the reference upstream; .host .port .uri
                            .real .stats() (refmongo only, else None)
  upstream_rs    (session)  a replica set: $TANDEM_TEST_MONGO_URI when it names a
                            replicaSet, else refmongo rs0 with 2 nodes; .uri
                            .ports .set_primary(i) (None on a real server)
  upstream_tls   (session)  refmongo serving TLS with tls_certs' server cert
  start_tandem   (function) start_tandem(mongo_uri, **cfg) -> Tandem (servers.py);
                            every tandem started is stopped at teardown
  pg, redis      (session)  throwaway PostgreSQL 15 (.port .dsn) and Redis
                            (.port .url)
  tls_certs      (session)  CA, server and client certificates
  dbname         (function) a database name unique to the test

The server logic lives in servers.py so scripts can reuse it.
"""

import os
import re
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402

REAL_URI = os.environ.get("TANDEM_TEST_MONGO_URI")


class RealUpstream:
	"""A real mongod (or replica set) given by TANDEM_TEST_MONGO_URI."""

	def __init__(self, uri):
		from pymongo.uri_parser import parse_uri
		parsed = parse_uri(uri)
		self.uri = uri
		self.real = True
		self.host, self.port = parsed["nodelist"][0]
		self.ports = [p for _, p in parsed["nodelist"]]
		self.set_primary = None
		self.replset = parsed["options"].get("replicaset")

	def stats(self):
		return None


@pytest.fixture(scope="session")
def tandem_bin():
	path = os.environ.get("TANDEM_BIN") or os.path.join(servers.REPO, "build", "proxy", "tandem")
	if not (os.path.isfile(path) and os.access(path, os.X_OK)):
		pytest.fail("tandem binary not found at %s (build it or set TANDEM_BIN)" % path)
	return os.path.abspath(path)   # some tests start tandem from another directory


@pytest.fixture(scope="session")
def upstream(tmp_path_factory):
	if REAL_URI:
		yield RealUpstream(REAL_URI)
		return
	srv = servers.RefMongo(str(tmp_path_factory.mktemp("refmongo")))
	yield srv
	srv.stop()


@pytest.fixture(scope="session")
def upstream_rs(tmp_path_factory):
	if REAL_URI:
		if "replicaSet=" not in REAL_URI:
			pytest.skip("TANDEM_TEST_MONGO_URI is not a replica set")
		yield RealUpstream(REAL_URI)
		return
	srv = servers.RefMongo(str(tmp_path_factory.mktemp("refmongo-rs")), replset="rs0", nodes=2)
	yield srv
	srv.stop()


@pytest.fixture(scope="session")
def upstream_tls(tmp_path_factory, tls_certs):
	if REAL_URI:
		pytest.skip("upstream TLS tests need the reference upstream")
	srv = servers.RefMongo(str(tmp_path_factory.mktemp("refmongo-tls")),
		extra_args=("--tls-cert", tls_certs.server_cert, "--tls-key", tls_certs.server_key))
	yield srv
	srv.stop()


@pytest.fixture
def start_tandem(tandem_bin, tmp_path):
	started = []

	def start(mongo_uri, **cfg):
		t = servers.Tandem(tandem_bin, mongo_uri, str(tmp_path), **cfg)
		started.append(t)
		return t

	yield start
	for t in started:
		t.stop()


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
	srv = servers.Postgres()
	yield srv
	srv.stop()


@pytest.fixture(scope="session")
def redis(tmp_path_factory):
	srv = servers.Redis(str(tmp_path_factory.mktemp("redis")))
	yield srv
	srv.stop()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory):
	return servers.make_tls_certs(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def dbname(request):
	"""A valid database name unique to this test (and run)."""
	base = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:40]
	return "t_%s_%s" % (base, uuid.uuid4().hex[:8])
