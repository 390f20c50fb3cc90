#!/usr/bin/python3
"""refmongo: the reference MongoDB upstream for tandem's integration tests.

No MongoDB server can be installed on the test machines, so this stands in
for one: Debian's python3-mockupdb (MongoDB's wire-protocol test server) does
the listening and message parsing, python3-mongomock the query and update
semantics. It presents itself as a modern mongod (maxWireVersion 17, OP_MSG,
int64 cursor ids, no reply to moreToCome, awaitable/streaming hello,
compression) so current drivers, mongosh and tandem accept it.

  /usr/bin/python3 tests/upstream/refmongo.py --port 0 --port-file F
  /usr/bin/python3 tests/upstream/refmongo.py --replset rs0 --nodes 2 --port-file F

Prints one JSON line {"ports": [...], "uri": ..., "pid": ...} when listening
and writes the ports (space separated, one line) to --port-file.
SIGTERM / SIGINT exit with status 0.

Per connection (one thread each, mockupdb's accept loop):

  read_frame --> parse (mockupdb OpMsg / OpQuery) --> failCommand check
     --> hello: answered here (awaitable hello waits; exhaustAllowed streams
                replies with moreToCome until the client hangs up)
     --> --auth: authentication commands answered by refauth, others
                refused (Unauthorized) unless the connection's user may run them
     --> else Engine.run (refengine.py) --> reply, unless moreToCome was set
                (getMore with exhaustAllowed streams its batches)

Files: refwire (framing), refengine (dispatch), refcrud / refread / refddl /
refadmin (commands), refsession (transactions, retryable writes), reftopo
(hello, replica-set face), reffail (failCommand), refstore (mongomock data),
refauth (--auth: SCRAM, users, roles, connectionStatus).
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mockupdb import MockupDB, OpMsg  # noqa: E402

import refauth  # noqa: E402
import refstore  # noqa: E402
from refengine import Engine  # noqa: E402
from reffail import failure_error  # noqa: E402
from reftopo import HELLO_NAMES, Topology  # noqa: E402
from refwire import (MSG_EXHAUST_ALLOWED, MSG_MORE_TO_COME, WireError, available_compressors,  # noqa: E402
	next_request_id, parse_request, query_failure_bytes, read_frame, reply_bytes)


class Conn:
	"""One client connection to one node."""

	def __init__(self, cid, node, sock, peer):
		self.id = cid
		self.node = node
		self.sock = sock
		self.peer = peer if isinstance(peer, tuple) else (str(peer), 0)
		self.driver = None
		self.app_name = None
		self.reply_delay_s = 0.0
		self.user = None  # refauth.User once authenticated (--auth)
		self.sasl = None  # refauth.Scram conversation in progress


class RefServer(MockupDB):
	"""mockupdb's listener with our own per-connection loop: no global
	server lock around handlers (an awaitable hello may wait for seconds)."""

	def __init__(self, app, host, port):
		super().__init__(port=port, request_timeout=int(1e6))
		self._address = (host, port)
		self.app = app
		self.node = None

	def _server_loop(self, client, client_addr):
		self.app.serve(self, client, client_addr)


class App:
	def __init__(self, topo, engine, verbose=False, tls=None, auth=None):
		self.topo = topo
		self.engine = engine
		self.auth = auth  # refauth.Auth when authentication is enforced, else None
		self.verbose = verbose
		self.tls = tls  # ssl.SSLContext or None
		self.stats_lock = threading.Lock()

	def log(self, msg):
		if self.verbose:
			sys.stderr.write("refmongo: %s\n" % msg)
			sys.stderr.flush()

	# ------------------------------------------------------------ connection

	def serve(self, server, sock, addr):
		while server.node is None and not server._stopped:
			time.sleep(0.01)
		node = server.node
		try:
			sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
			if self.tls is not None:
				sock.settimeout(10)
				sock = self.tls.wrap_socket(sock, server_side=True)
				sock.settimeout(None)
		except (OSError, ssl.SSLError) as e:
			self.log("node %d: TLS handshake with %s failed: %s" % (node.index, addr, e))
			sock.close()
			return
		with self.stats_lock:
			conn = Conn(next(self.topo.conn_ids), node, sock, addr)
			node.conns[conn.id] = conn
			node.conns_total += 1
		self.log("node %d: connection %d from %s" % (node.index, conn.id, addr))
		try:
			while not server._stopped:
				frame = read_frame(sock)
				if not self.handle(server, conn, frame):
					break
		except (ConnectionError, OSError):
			pass
		except WireError as e:
			self.log("connection %d closed: %s" % (conn.id, e))
		except Exception:
			traceback.print_exc()
		finally:
			with self.stats_lock:
				node.conns.pop(conn.id, None)
			try:
				sock.close()
			except OSError:
				pass

	def send(self, conn, req, doc, frame, more=False, response_to=None):
		"""Send a reply; returns its requestID (what the next reply of an
		exhaust stream answers)."""
		rid = next_request_id()
		conn.sock.sendall(reply_bytes(req, doc, frame.compressor, more_to_come=more,
			response_to=response_to, request_id=rid))
		return rid

	def handle(self, server, conn, frame):
		"""One request; False closes the connection."""
		req = parse_request(frame, conn.sock, server)
		if not req.is_command:
			conn.sock.sendall(query_failure_bytes(req, "OP_QUERY is no longer supported; use OP_MSG", 5739101))
			return True
		cmd = req.doc
		if "$query" in cmd and isinstance(cmd["$query"], dict):
			cmd = cmd["$query"]
		db = req.namespace or ""
		name = next(iter(cmd), "")
		is_msg = isinstance(req, OpMsg)
		flags = req.wire_flags
		more = is_msg and bool(flags & MSG_MORE_TO_COME)
		exhaust = is_msg and bool(flags & MSG_EXHAUST_ALLOWED)
		self.log("node %d conn %d: %s %s.%s%s" % (conn.node.index, conn.id, name, db, cmd.get(name), " (moreToCome)" if more else ""))
		with self.stats_lock:
			conn.node.commands[name] += 1
			if frame.compressor is not None:
				conn.node.compressed[frame.compressor] += 1
		conn.reply_delay_s = 0.0
		handled, reply = self.failpoint(conn, name)
		if handled is False:
			return False
		if reply is None and name in HELLO_NAMES:
			return self.hello(conn, req, frame, cmd, name, exhaust and not more, more)
		if reply is None and self.auth is not None:
			reply = self.auth.command(conn, name, db, cmd)
			if reply is None:
				reply = self.auth.check(conn, name, db, cmd)
		if reply is None:
			reply = self.engine.run(self.engine.ctx(conn.node, conn), name, db, cmd, self.secondary_ok(req, cmd))
			if handled:  # writeConcernError injected after running
				reply["writeConcernError"] = handled
			if conn.reply_delay_s:  # refmongo only: applied now, answered later
				time.sleep(conn.reply_delay_s)
		if more:
			return True
		if exhaust and name == "getMore":
			return self.stream_get_more(conn, req, frame, cmd, db, reply)
		self.send(conn, req, reply, frame)
		return True

	def secondary_ok(self, req, cmd):
		if isinstance(req, OpMsg):
			rp = cmd.get("$readPreference")
			return isinstance(rp, dict) and rp.get("mode", "primary") != "primary"
		return bool(req.wire_flags & 4)

	def failpoint(self, conn, name):
		"""(False, None): close; (wce or None, doc or None): go on."""
		if name == "configureFailPoint":
			return None, None
		data = self.engine.failpoint.check(name, conn.app_name)
		if not data:
			return None, None
		if data.get("blockConnection"):
			time.sleep(min(float(data.get("blockTimeMS", 0)), 60000.0) / 1000.0)
		conn.reply_delay_s = min(float(data.get("blockReplyMS", 0)), 60000.0) / 1000.0
		if data.get("closeConnection"):
			return False, None
		err = failure_error(data)
		if err is not None:
			return None, err.doc()
		return data.get("writeConcernError"), None

	# ------------------------------------------------------------ streaming

	def hello(self, conn, req, frame, cmd, name, exhaust, more):
		meta = cmd.get("client")
		if isinstance(meta, dict):
			conn.driver = (meta.get("driver") or {}).get("name")
			conn.app_name = (meta.get("application") or {}).get("name")
		tv = cmd.get("topologyVersion")
		wait_ms = cmd.get("maxAwaitTimeMS")
		if tv is None or wait_ms is None:
			if not more:
				self.send(conn, req, self.hello_doc(conn, cmd, name), frame)
			return True
		answers = None
		while not self.topo.stopping:
			self.topo.wait_change(conn.node, tv, float(wait_ms) / 1000.0)
			doc = self.hello_doc(conn, cmd, name)
			if more:
				return True
			answers = self.send(conn, req, doc, frame, more=exhaust, response_to=answers)
			if not exhaust:
				return True
			tv = doc["topologyVersion"]
		return False

	def hello_doc(self, conn, cmd, name):
		doc = self.topo.hello_doc(conn.node, conn, cmd, name)
		return self.auth.decorate_hello(conn, cmd, doc) if self.auth is not None else doc

	def stream_get_more(self, conn, req, frame, cmd, db, reply):
		"""exhaustAllowed getMore: every batch with moreToCome but the last."""
		answers = None
		while reply.get("ok") and int(reply["cursor"]["id"]) != 0:
			answers = self.send(conn, req, reply, frame, more=True, response_to=answers)
			reply = self.engine.run(self.engine.ctx(conn.node, conn), "getMore", db, cmd, True)
		self.send(conn, req, reply, frame, response_to=answers)
		return True


# ---------------------------------------------------------------- main

def parse_args(argv):
	p = argparse.ArgumentParser(description="reference MongoDB upstream (mockupdb + mongomock)")
	p.add_argument("--host", default="127.0.0.1")
	p.add_argument("--port", type=int, default=0, help="first port (0: free ports)")
	p.add_argument("--port-file", help="write the listening ports here")
	p.add_argument("--replset", help="replica-set name (replica-set face)")
	p.add_argument("--nodes", type=int, default=None, help="replica-set members (default 2)")
	p.add_argument("--min-wire-version", type=int, default=0)
	p.add_argument("--max-wire-version", type=int, default=17)
	p.add_argument("--server-version", default="7.0.0")
	p.add_argument("--compressors", default=",".join(available_compressors()),
		help="compressors offered in hello (comma separated; empty: none)")
	p.add_argument("--tls-cert", help="PEM certificate: serve TLS only")
	p.add_argument("--tls-key", help="PEM private key for --tls-cert")
	p.add_argument("--tls-ca", help="CA for client certificates (then required)")
	p.add_argument("--auth", action="store_true", default=os.environ.get("REFMONGO_AUTH") == "1",
		help="enforce authentication (SCRAM-SHA-256 / SCRAM-SHA-1) and authorization (env REFMONGO_AUTH=1)")
	p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD:ROLE@DB[,ROLE@DB]",
		help="a user in admin with roles read / readWrite / root (repeatable)")
	p.add_argument("--verbose", action="store_true")
	args = p.parse_args(argv)
	if args.nodes is None:
		args.nodes = 2 if args.replset else 1
	if args.nodes < 1 or (args.nodes > 1 and not args.replset):
		p.error("--nodes > 1 needs --replset")
	return args


def tls_context(args):
	if not args.tls_cert:
		return None
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.load_cert_chain(args.tls_cert, args.tls_key)
	if args.tls_ca:
		ctx.load_verify_locations(args.tls_ca)
		ctx.verify_mode = ssl.CERT_REQUIRED
	return ctx


def start(args):
	refstore.install_patches()
	wanted = [c for c in args.compressors.split(",") if c]
	topo = Topology(args.replset, args.min_wire_version, args.max_wire_version,
		[c for c in wanted if c in available_compressors()])
	engine = Engine(topo, args.server_version)
	auth = None
	if args.auth:
		auth = refauth.Auth()
		for u in args.user:
			auth.add_user(*refauth.parse_user_option(u))
	app = App(topo, engine, args.verbose, tls_context(args), auth)
	servers = []
	for i in range(args.nodes):
		srv = RefServer(app, args.host, args.port + i if args.port else 0)
		srv.run()
		srv.node = topo.add_node(args.host, srv.port)
		servers.append(srv)
	return topo, servers


def announce(args, topo):
	ports = [n.port for n in topo.nodes]
	hosts = ",".join(n.address for n in topo.nodes)
	opts = (["replicaSet=%s" % args.replset] if args.replset else []) + (["tls=true"] if args.tls_cert else [])
	uri = "mongodb://%s/" % hosts + ("?" + "&".join(opts) if opts else "")
	if args.port_file:
		tmp = args.port_file + ".tmp"
		with open(tmp, "w") as f:
			f.write(" ".join(str(p) for p in ports) + "\n")
		os.replace(tmp, args.port_file)
	print(json.dumps({"ports": ports, "host": args.host, "uri": uri, "replset": args.replset, "pid": os.getpid()}))
	sys.stdout.flush()


def shutdown(topo, servers):
	topo.stop()
	for srv in servers:
		srv._stopped = True
		try:
			srv._listening_sock.close()
		except OSError:
			pass
		for node_conn in list(srv.node.conns.values()):
			try:
				node_conn.sock.shutdown(socket.SHUT_RDWR)
			except OSError:
				pass


def main(argv=None):
	args = parse_args(argv)
	stop = threading.Event()
	signal.signal(signal.SIGTERM, lambda *_: stop.set())
	signal.signal(signal.SIGINT, lambda *_: stop.set())
	try:
		topo, servers = start(args)
	except OSError as e:
		sys.stderr.write("refmongo: cannot listen: %s\n" % e)
		return 1
	announce(args, topo)
	while not stop.wait(0.5):
		pass
	shutdown(topo, servers)
	sys.stdout.flush()
	sys.stderr.flush()
	os._exit(0)


if __name__ == "__main__":
	sys.exit(main())
