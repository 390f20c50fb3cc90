"""Smoke tests of the rig's fixtures themselves (PostgreSQL, Redis, TLS
certificates, the YAML writer), so a broken fixture fails here, by name,
rather than somewhere inside a proxy test.

  /usr/bin/python3 -m pytest -q tests/integration/test_rig_fixtures.py
"""

import os
import socket
import ssl
import subprocess
import threading

import servers


def _redis(r, *args):
	cmd = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)
	with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
		s.sendall(cmd.encode())
		return s.recv(4096).decode()


def test_pg_fixture(pg):
	assert pg.psql("select 40 + 2").strip() == "42"
	assert pg.psql("show listen_addresses").strip() == "127.0.0.1"
	assert pg.psql("show port").strip() == str(pg.port)
	assert pg.psql("select current_user").strip() == "postgres"
	assert pg.psql("select version()").startswith("PostgreSQL 15")
	data = pg.psql("show data_directory").strip()
	st = os.stat(data)
	assert st.st_uid != 0  # the cluster does not run as root


def test_redis_fixture(redis):
	assert _redis(redis, "PING").startswith("+PONG")
	assert _redis(redis, "CONFIG", "GET", "save").endswith("$4\r\nsave\r\n$0\r\n\r\n")
	assert "no" in _redis(redis, "CONFIG", "GET", "appendonly")
	assert redis.url == "redis://127.0.0.1:%d/0" % redis.port


def test_tls_certs_fixture(tls_certs):
	r = subprocess.run(["openssl", "verify", "-CAfile", tls_certs.ca, tls_certs.server_cert, tls_certs.client_cert],
		capture_output=True, text=True)
	assert r.returncode == 0, r.stdout + r.stderr
	text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", tls_certs.server_cert],
		capture_output=True, text=True).stdout
	assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text
	# a mutual-TLS handshake with these files succeeds
	srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	srv_ctx.load_cert_chain(tls_certs.server_cert, tls_certs.server_key)
	srv_ctx.load_verify_locations(tls_certs.ca)
	srv_ctx.verify_mode = ssl.CERT_REQUIRED
	cli_ctx = ssl.create_default_context(cafile=tls_certs.ca)
	cli_ctx.load_cert_chain(tls_certs.client_pem)
	lsock = socket.socket()
	lsock.bind(("127.0.0.1", 0))
	lsock.listen(1)
	peer = {}

	def serve():
		conn, _ = lsock.accept()
		with srv_ctx.wrap_socket(conn, server_side=True) as tconn:
			peer["cert"] = tconn.getpeercert()
			tconn.sendall(b"ok")

	th = threading.Thread(target=serve, daemon=True)
	th.start()
	with socket.create_connection(lsock.getsockname(), timeout=5) as raw:
		with cli_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
			assert t.recv(2) == b"ok"
	th.join(5)
	lsock.close()
	assert ("commonName", "tandem-test-client") in [x[0] for x in peer["cert"]["subject"]]


def test_yaml_writer_round_trips():
	import yaml
	cfg = {"listen": "127.0.0.1:1", "log": {"level": "debug", "file": ""}, "tls": {"cert_file": "/a b"},
		"workers": 2, "list": [1, {"a": {"b": [True, None]}}], "empty": {}, "ratio": 0.5}
	assert yaml.safe_load(servers.to_yaml(cfg)) == cfg
