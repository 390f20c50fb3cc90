#!/usr/bin/python3
"""servers: start and stop the throwaway servers of the integration tests.

Plain functions and classes, used by conftest.py's fixtures and reusable by
scripts (the demo):

  RefMongo(replset=None, nodes=1)   the reference upstream (tests/upstream)
  Postgres(workdir)                 PostgreSQL 15, non-root, 127.0.0.1 only
  Redis(workdir)                    redis-server, no persistence
  make_tls_certs(dir)               CA + server + client certificates (openssl)
  Tandem(bin, mongo_uri, workdir, **cfg)   the proxy under a YAML config

Every server listens on 127.0.0.1 on a free port, every wait is bounded, and
stop() ends only the process this module started (by pid).

  /usr/bin/python3 tests/integration/servers.py refmongo|refmongo-rs|pg|redis
starts one, prints how to reach it, and runs until Ctrl-C / SIGTERM.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"
REFMONGO = os.path.join(REPO, "tests", "upstream", "refmongo.py")
PG_BIN = "/usr/lib/postgresql/15/bin"
START_TIMEOUT_S = 10.0


class ServerError(RuntimeError):
	pass


def _die_with_parent():
	"""preexec_fn: the child gets SIGTERM if the test process dies (Linux),
	so a crashed pytest leaves no servers behind."""
	import ctypes
	try:
		ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
	except OSError:
		pass


_handed_out = set()


def free_port():
	"""A port that was free a moment ago on 127.0.0.1.

	Chosen below the kernel's ephemeral range (32768-60999 here): a port
	from that range can be taken by any outgoing connection between this
	call and the server's bind, which made a listener fail with
	EADDRINUSE now and then.  Never the same port twice in one process."""
	import random
	for _ in range(200):
		port = random.randrange(20000, 32000)
		if port in _handed_out:
			continue
		with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
			try:
				s.bind(("127.0.0.1", port))
			except OSError:
				continue
		_handed_out.add(port)
		return port
	with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


_SANITIZED = {}


def sanitized(binary):
	"""Whether binary runs under AddressSanitizer (linked with libasan).  Its
	allocator keeps freed memory in quarantine, so RSS bounds are checked
	in the plain pass only (tools/test.sh runs both)."""
	if binary not in _SANITIZED:
		out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
			text=True, timeout=30).stdout
		_SANITIZED[binary] = "libasan" in out
	return _SANITIZED[binary]


def wait_until(pred, timeout=START_TIMEOUT_S, interval=0.05, what="condition"):
	"""Poll pred() until it returns a true value or timeout seconds pass."""
	deadline = time.monotonic() + timeout
	while True:
		v = pred()
		if v:
			return v
		if time.monotonic() >= deadline:
			raise ServerError("timed out after %.1f s waiting for %s" % (timeout, what))
		time.sleep(interval)


def port_open(host, port):
	try:
		with socket.create_connection((host, port), timeout=0.5):
			return True
	except OSError:
		return False


def _tail(path, n=30):
	try:
		with open(path, errors="replace") as f:
			return "".join(f.readlines()[-n:])
	except OSError:
		return "(no log)"


def stop_process(proc, timeout=10.0):
	"""SIGTERM, wait, then SIGKILL; returns the exit status."""
	if proc is None or proc.poll() is not None:
		return None if proc is None else proc.returncode
	proc.send_signal(signal.SIGTERM)
	try:
		return proc.wait(timeout)
	except subprocess.TimeoutExpired:
		proc.kill()
		return proc.wait(5)


# ---------------------------------------------------------------- refmongo

class RefMongo:
	"""tests/upstream/refmongo.py as a child process."""

	def __init__(self, workdir, replset=None, nodes=None, extra_args=()):
		self.workdir = workdir
		self.replset = replset
		self.host = "127.0.0.1"
		self.real = False
		os.makedirs(workdir, exist_ok=True)
		port_file = os.path.join(workdir, "ports")
		self.log_path = os.path.join(workdir, "refmongo.log")
		cmd = [PYTHON, REFMONGO, "--port", "0", "--port-file", port_file]
		if replset:
			cmd += ["--replset", replset, "--nodes", str(nodes or 2)]
		cmd += list(extra_args)
		self._log = open(self.log_path, "ab")
		self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir,
			preexec_fn=_die_with_parent)
		try:
			wait_until(lambda: self.proc.poll() is not None or os.path.exists(port_file),
				what="refmongo to listen")
			if self.proc.poll() is not None:
				raise ServerError("refmongo exited with %s:\n%s" % (self.proc.returncode, _tail(self.log_path)))
		except Exception:
			self.stop()
			raise
		with open(port_file) as f:
			self.ports = [int(p) for p in f.read().split()]
		self.port = self.ports[0]
		self.hosts = ["%s:%d" % (self.host, p) for p in self.ports]
		tls = "tls=true" if "--tls-cert" in extra_args else None
		opts = [o for o in (("replicaSet=%s" % replset) if replset else None, tls) if o]
		self.uri = "mongodb://%s/%s" % (",".join(self.hosts), ("?" + "&".join(opts)) if opts else "")

	def admin_command(self, node, cmd, value=1):
		"""Run an admin command on one node over a raw OP_MSG connection
		(whose local port is in CONTROL_PORTS while it is open, so that
		connection watchers can tell the rig's own traffic apart)."""
		return raw_command(self.host, self.ports[node], {cmd: value, "$db": "admin"})

	def set_primary(self, index):
		"""Make node `index` the primary (-1: no primary)."""
		return self.admin_command(0, "refSetPrimary", index)

	def stats(self):
		return self.admin_command(0, "refStats")

	def stop(self):
		stop_process(self.proc)
		self._log.close()


CONTROL_PORTS = set()


def raw_command(host, port, doc, timeout=10.0):
	"""One OP_MSG command on a fresh connection; returns the reply document."""
	import bson
	import struct
	body = struct.pack("<IB", 0, 0) + bson.encode(doc)
	local = None
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	try:
		s.bind(("127.0.0.1", 0))  # know the local port before connecting
		local = s.getsockname()[1]
		CONTROL_PORTS.add(local)
		s.settimeout(timeout)
		s.connect((host, port))
		s.sendall(struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body)
		head = _recv_exact(s, 16)
		length = struct.unpack("<i", head[:4])[0]
		data = _recv_exact(s, length - 16)
	finally:
		s.close()
		CONTROL_PORTS.discard(local)
	reply = bson.decode(data[5:])
	if not reply.get("ok"):
		raise ServerError("%s failed: %s" % (next(iter(doc)), reply))
	return reply


def _recv_exact(s, n):
	buf = b""
	while len(buf) < n:
		chunk = s.recv(n - len(buf))
		if not chunk:
			raise ServerError("connection closed")
		buf += chunk
	return buf


# ---------------------------------------------------------------- PostgreSQL

class Postgres:
	"""A throwaway PostgreSQL 15 cluster owned by the `postgres` user."""

	def __init__(self, workdir=None):
		self.workdir = workdir or tempfile.mkdtemp(prefix="tandem-pg-")
		self.data = os.path.join(self.workdir, "data")
		self.sock_dir = self.workdir
		self.log_path = os.path.join(self.workdir, "postgres.log")
		self.port = free_port()
		self.user = "postgres"
		self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
		if os.geteuid() == 0:
			shutil.chown(self.workdir, "postgres", "postgres")
		os.chmod(self.workdir, 0o700)
		self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
			"--no-sync", "-E", "UTF8", "--locale", "C"])
		opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " \
			"-c full_page_writes=off -c max_connections=200" % (self.port, self.sock_dir)
		self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log_path, "-o", opts,
			"-w", "-t", "30", "start"])
		self.host = "127.0.0.1"
		self.dsn = "host=127.0.0.1 port=%d user=postgres dbname=postgres" % self.port
		self.url = "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

	def _run(self, cmd):
		r = subprocess.run(self._as_user + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
		if r.returncode != 0:
			raise ServerError("%s failed (%d):\n%s\n%s" % (cmd[0], r.returncode, r.stdout.decode(errors="replace"),
				_tail(self.log_path)))

	def psql(self, sql):
		"""Run SQL with psql; returns stdout (tuples only, unaligned)."""
		r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.dsn, "-c", sql],
			stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
		if r.returncode != 0:
			raise ServerError("psql: %s" % r.stderr.decode(errors="replace"))
		return r.stdout.decode()

	def stop(self):
		if os.path.exists(os.path.join(self.data, "postmaster.pid")):
			subprocess.run(self._as_user + [os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast",
				"-w", "-t", "30", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
		shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------- Redis

class Redis:
	def __init__(self, workdir=None):
		self.workdir = workdir or tempfile.mkdtemp(prefix="tandem-redis-")
		self.port = free_port()
		self.host = "127.0.0.1"
		self.url = "redis://127.0.0.1:%d/0" % self.port
		self.log_path = os.path.join(self.workdir, "redis.log")
		self._log = open(self.log_path, "ab")
		self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", self.workdir, "--daemonize", "no"],
			stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
		try:
			wait_until(lambda: self.proc.poll() is not None or self.ping(), what="redis to answer PING")
			if self.proc.poll() is not None:
				raise ServerError("redis-server exited:\n%s" % _tail(self.log_path))
		except Exception:
			self.stop()
			raise

	def ping(self):
		try:
			with socket.create_connection((self.host, self.port), timeout=0.5) as s:
				s.sendall(b"PING\r\n")
				return s.recv(16).startswith(b"+PONG")
		except OSError:
			return False

	def stop(self):
		stop_process(self.proc)
		self._log.close()


# ---------------------------------------------------------------- TLS

class TlsCerts:
	pass


def _openssl(args, cwd):
	r = subprocess.run(["openssl"] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
	if r.returncode != 0:
		raise ServerError("openssl %s failed:\n%s" % (args[0], r.stdout.decode(errors="replace")))


def _issue(d, name, cn, ext):
	_openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
		"-subj", "/CN=" + cn], d)
	with open(os.path.join(d, name + ".ext"), "w") as f:
		f.write(ext)
	_openssl(["x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", name + ".pem", "-days", "2", "-sha256", "-extfile", name + ".ext"], d)


def make_tls_certs(d):
	"""A throwaway CA, a server certificate for 127.0.0.1/localhost and a
	client certificate, made with the openssl CLI in directory d."""
	os.makedirs(d, exist_ok=True)
	_openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
		"-days", "2", "-sha256", "-subj", "/CN=tandem-test-ca",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
	_issue(d, "server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
		"extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
	_issue(d, "client", "tandem-test-client", "extendedKeyUsage=clientAuth\n"
		"keyUsage=critical,digitalSignature,keyEncipherment\n")
	t = TlsCerts()
	t.dir = d
	t.ca = os.path.join(d, "ca.pem")
	t.server_cert = os.path.join(d, "server.pem")
	t.server_key = os.path.join(d, "server.key")
	t.client_cert = os.path.join(d, "client.pem")
	t.client_key = os.path.join(d, "client.key")
	t.client_pem = os.path.join(d, "client-combined.pem")
	t.server_pem = os.path.join(d, "server-combined.pem")
	for out, parts in ((t.client_pem, (t.client_cert, t.client_key)), (t.server_pem, (t.server_cert, t.server_key))):
		with open(out, "w") as f:
			for p in parts:
				with open(p) as src:
					f.write(src.read())
	return t


# ---------------------------------------------------------------- tandem

def to_yaml(value, indent=0):
	"""A small block-style YAML emitter (scalars as JSON, which YAML reads)."""
	pad = "  " * indent
	if isinstance(value, dict) and value:
		lines = []
		for k, v in value.items():
			if isinstance(v, (dict, list)) and v:
				lines.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 1)))
			else:
				lines.append("%s%s: %s" % (pad, k, to_yaml(v, 0).strip()))
		return "\n".join(lines)
	if isinstance(value, list) and value:
		out = []
		for v in value:
			if isinstance(v, dict) and v:
				out.append("%s- %s" % (pad, to_yaml(v, indent + 1).lstrip()))
			else:
				out.append("%s- %s" % (pad, to_yaml(v, 0).strip()))
		return "\n".join(out)
	if isinstance(value, dict):
		return pad + "{}"
	if isinstance(value, list):
		return pad + "[]"
	return pad + json.dumps(value)


class Tandem:
	"""The proxy under a YAML config written into workdir.

	String values in cfg may use {listen}, {port}, {admin} placeholders.
	"""

	def __init__(self, binary, mongo_uri, workdir, **cfg):
		os.makedirs(workdir, exist_ok=True)
		self.binary = binary = os.path.abspath(binary)
		self.host = "127.0.0.1"
		listen = cfg.pop("listen", None) or "127.0.0.1:%d" % free_port()
		admin = cfg.pop("admin", None) or "127.0.0.1:%d" % free_port()
		self.port = int(listen.rsplit(":", 1)[1])
		self.admin_port = int(admin.rsplit(":", 1)[1])
		subst = {"listen": listen, "port": self.port, "admin": admin}
		conf = {"listen": listen, "admin": admin, "mongo_uri": mongo_uri}
		conf.update({k: _subst(v, subst) for k, v in cfg.items()})
		self.config = conf
		self.config_path = os.path.join(workdir, "tandem-%d.yaml" % self.port)
		with open(self.config_path, "w") as f:
			f.write(to_yaml(conf) + "\n")
		self.log_path = os.path.join(workdir, "tandem-%d.log" % self.port)
		self.uri = "mongodb://127.0.0.1:%d/" % self.port
		self.admin_url = "http://%s" % admin
		self._log = open(self.log_path, "ab")
		self.proc = subprocess.Popen([binary, "--config", self.config_path], stdout=self._log,
			stderr=self._log, cwd=workdir, preexec_fn=_die_with_parent)
		try:
			wait_until(lambda: self.proc.poll() is not None or port_open(self.host, self.port),
				what="tandem to listen on %d" % self.port)
			if self.proc.poll() is not None:
				raise ServerError("tandem exited with %s:\n%s" % (self.proc.returncode, _tail(self.log_path)))
		except Exception:
			self.stop()
			raise

	def log_text(self):
		with open(self.log_path, errors="replace") as f:
			return f.read()

	def metrics(self):
		with urllib.request.urlopen(self.admin_url + "/metrics", timeout=5) as r:
			return r.read().decode()

	def stop(self):
		rc = stop_process(self.proc)
		if not self._log.closed:
			self._log.close()
		return rc


def _subst(v, subst):
	if isinstance(v, str) and "{" in v:
		try:
			return v.format(**subst)
		except (KeyError, IndexError, ValueError):
			return v
	if isinstance(v, dict):
		return {k: _subst(x, subst) for k, x in v.items()}
	if isinstance(v, list):
		return [_subst(x, subst) for x in v]
	return v


# ---------------------------------------------------------------- CLI

def _main(argv):
	if len(argv) != 2 or argv[1] not in ("refmongo", "refmongo-rs", "pg", "redis"):
		sys.stderr.write("usage: servers.py refmongo|refmongo-rs|pg|redis\n")
		return 2
	what = argv[1]
	work = tempfile.mkdtemp(prefix="tandem-%s-" % what)
	if what == "refmongo":
		srv = RefMongo(work)
		info = {"uri": srv.uri, "port": srv.port}
	elif what == "refmongo-rs":
		srv = RefMongo(work, replset="rs0", nodes=2)
		info = {"uri": srv.uri, "ports": srv.ports}
	elif what == "pg":
		srv = Postgres(work)
		info = {"dsn": srv.dsn, "port": srv.port}
	else:
		srv = Redis(work)
		info = {"url": srv.url, "port": srv.port}
	info["pid"] = os.getpid()
	print(json.dumps(info))
	sys.stdout.flush()
	done = []
	signal.signal(signal.SIGTERM, lambda *_: done.append(1))
	try:
		while not done:
			time.sleep(0.5)
	except KeyboardInterrupt:
		pass
	srv.stop()
	shutil.rmtree(work, ignore_errors=True)
	return 0


if __name__ == "__main__":
	sys.exit(_main(sys.argv))
