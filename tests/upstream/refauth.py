"""refauth: authentication and authorization of the reference upstream
(switched on with --auth; off by default, then nothing here runs).

  hello (+ speculativeAuthenticate, saslSupportedMechs) --> Auth.decorate_hello
  saslStart / saslContinue (SCRAM-SHA-256, SCRAM-SHA-1) --> Scram, per connection
  logout, connectionStatus (showPrivileges), createUser --> Auth.command
  every other command --> Auth.check: Unauthorized (13) worded as mongod's
     unauthenticated: "Command find requires authentication"
     no privilege:    "not authorized on acme to execute command { insert: ... }"

Users live in (db, name); roles are mongod's built-ins `read`, `readWrite`
(on one database) and `root`, with the privileges mongod reports for them
(resources {db, collection} with the actions of that role). One user per
connection, as in mongod 5+: a new authentication replaces the old one.
createUser needs `root`, or no user at all yet (mongod's localhost
exception); revokeRolesFromUser (root) applies at once to open connections. The test-rig commands (refReset, refStats, refSetPrimary,
configureFailPoint) need no authentication, so fixtures can reset state.
"""

import base64
import hashlib
import hmac
import os
import threading
from collections import OrderedDict

from bson.binary import Binary
from pymongo.saslprep import saslprep

from referr import CmdError

READ_ACTIONS = ["changeStream", "collStats", "dbHash", "dbStats", "find", "killCursors",
	"listCollections", "listIndexes", "listSearchIndexes", "planCacheRead"]
READWRITE_ACTIONS = sorted(READ_ACTIONS + ["convertToCapped", "createCollection", "createIndex",
	"createSearchIndexes", "dropCollection", "dropIndex", "dropSearchIndex", "insert", "remove",
	"renameCollectionSameDB", "update", "updateSearchIndex"])
ROOT_DB_ACTIONS = sorted(READWRITE_ACTIONS + ["dropDatabase", "enableProfiler", "validate",
	"createUser", "dropUser", "grantRole", "viewUser"])
ROOT_CLUSTER_ACTIONS = ["hostInfo", "listDatabases", "replSetGetStatus", "serverStatus", "getCmdLineOpts",
	"getLog", "getParameter", "killAnySession"]

# Commands any connection may run (mongod's requiresAuth() == false, and the rig's own).
NO_AUTH = {"hello", "isMaster", "ismaster", "saslStart", "saslContinue", "authenticate", "logout",
	"ping", "buildInfo", "buildinfo", "connectionStatus", "getLastError", "getlasterror", "whatsmyuri",
	"endSessions", "refReset", "refStats", "refSetPrimary", "configureFailPoint"}
# Commands on one collection: the field naming it, the actions they need.
COLL_ACTIONS = {
	"find": ["find"], "count": ["find"], "distinct": ["find"], "aggregate": ["find"],
	"killCursors": ["killCursors"], "listIndexes": ["listIndexes"],
	"insert": ["insert"], "update": ["update"], "delete": ["remove"],
	"create": ["createCollection"], "drop": ["dropCollection"], "createIndexes": ["createIndex"],
	"dropIndexes": ["dropIndex"], "deleteIndexes": ["dropIndex"],
}
DB_ACTIONS = {"listCollections": ["listCollections"], "dbStats": ["dbStats"], "dropDatabase": ["dropDatabase"]}
# Anything else an authenticated user may run, except these cluster commands (root only).
CLUSTER_ONLY = {"serverStatus", "hostInfo", "getCmdLineOpts", "getLog", "replSetGetStatus",
	"renameCollection", "getParameter", "createUser", "revokeRolesFromUser"}

SCRAM = {"SCRAM-SHA-256": (hashlib.sha256, 15000), "SCRAM-SHA-1": (hashlib.sha1, 10000)}


def _b64(b):
	return base64.b64encode(b).decode()


class User:
	def __init__(self, db, name, password, roles):
		self.db = db
		self.name = name
		self.roles = roles  # [(role, db)]
		self.keys = {}  # mechanism -> (salt, iterations, stored_key, server_key)
		for mech, (digest, iterations) in SCRAM.items():
			if mech == "SCRAM-SHA-1":
				secret = hashlib.md5(("%s:mongo:%s" % (name, password)).encode()).hexdigest().encode()
			else:
				secret = saslprep(password).encode()
			salt = os.urandom(16 if mech == "SCRAM-SHA-1" else 28)
			salted = hashlib.pbkdf2_hmac(digest().name, secret, salt, iterations)
			client_key = hmac.new(salted, b"Client Key", digest).digest()
			server_key = hmac.new(salted, b"Server Key", digest).digest()
			self.keys[mech] = (salt, iterations, digest(client_key).digest(), server_key)

	def privileges(self):
		out = []
		for role, db in self.roles:
			if role == "root":
				out.append(_priv(OrderedDict([("db", ""), ("collection", "")]), ROOT_DB_ACTIONS))
				out.append(_priv(OrderedDict([("cluster", True)]), ROOT_CLUSTER_ACTIONS))
				continue
			actions = READ_ACTIONS if role == "read" else READWRITE_ACTIONS
			out.append(_priv(OrderedDict([("db", db), ("collection", "")]), actions))
			out.append(_priv(OrderedDict([("db", db), ("collection", "system.js")]), actions))
		return out


def _priv(resource, actions):
	return OrderedDict([("resource", resource), ("actions", list(actions))])


def _matches(resource, db, coll):
	if resource.get("anyResource"):
		return True
	if "db" not in resource or "collection" not in resource:
		return False
	if resource["db"] and resource["db"] != db:
		return False
	if coll is None:  # a database-level command: a database resource
		return resource["collection"] == ""
	if resource["collection"]:
		return resource["collection"] == coll
	return not coll.startswith("system.")


def parse_user_option(text):
	"""--user NAME:PASSWORD:ROLE@DB[,ROLE@DB...] (the user lives in admin)."""
	name, password, roles = text.split(":", 2)
	out = []
	for r in roles.split(","):
		role, _, db = r.partition("@")
		out.append((role, db or "admin"))
	return "admin", name, password, out


class Scram:
	"""One server-side SCRAM conversation (RFC 5802 / 7677)."""

	def __init__(self, user, mechanism, client_first, skip_empty):
		self.user = user
		self.mechanism = mechanism
		self.skip_empty = skip_empty
		self.step = 1
		if not client_first.startswith((b"n,", b"y,")):
			raise CmdError(18, "Authentication failed.")
		self.first_bare = client_first.split(b",", 2)[2]
		attrs = dict(kv.split(b"=", 1) for kv in self.first_bare.split(b","))
		salt, iterations, _, _ = user.keys[mechanism]
		self.nonce = attrs[b"r"] + base64.b64encode(os.urandom(24))
		self.server_first = b"r=%s,s=%s,i=%d" % (self.nonce, base64.b64encode(salt), iterations)

	def finish(self, client_final):
		"""Check the proof; returns the server-final message."""
		digest = SCRAM[self.mechanism][0]
		_, _, stored_key, server_key = self.user.keys[self.mechanism]
		without_proof, _, proof = client_final.rpartition(b",p=")
		attrs = dict(kv.split(b"=", 1) for kv in without_proof.split(b","))
		if attrs.get(b"r") != self.nonce:
			raise CmdError(18, "Authentication failed.")
		auth_msg = b",".join((self.first_bare, self.server_first, without_proof))
		client_sig = hmac.new(stored_key, auth_msg, digest).digest()
		client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), client_sig))
		if not hmac.compare_digest(digest(client_key).digest(), stored_key):
			raise CmdError(18, "Authentication failed.")
		return b"v=" + base64.b64encode(hmac.new(server_key, auth_msg, digest).digest())


class Auth:
	def __init__(self):
		self.users = {}  # (db, name) -> User
		self.lock = threading.Lock()

	def add_user(self, db, name, password, roles):
		with self.lock:
			self.users[(db, name)] = User(db, name, password, roles)

	# ------------------------------------------------------------ hello

	def decorate_hello(self, conn, cmd, doc):
		mechs = cmd.get("saslSupportedMechs")
		if isinstance(mechs, str) and "." in mechs:
			db, name = mechs.split(".", 1)
			if (db, name) in self.users:
				doc["saslSupportedMechs"] = ["SCRAM-SHA-1", "SCRAM-SHA-256"]
		spec = cmd.get("speculativeAuthenticate")
		if isinstance(spec, dict) and "saslStart" in spec:
			try:
				r = self.sasl_start(conn, spec.get("db", "admin"), spec)
				r.pop("ok", None)
				doc["speculativeAuthenticate"] = r
			except CmdError:
				pass  # mongod leaves the field out; the driver authenticates again
		return doc

	# ------------------------------------------------------------ commands

	def command(self, conn, name, db, cmd):
		"""The reply to an authentication command, or None for others."""
		try:
			if name == "saslStart":
				return self.sasl_start(conn, db, cmd)
			if name == "saslContinue":
				return self.sasl_continue(conn, cmd)
			if name == "authenticate":
				raise CmdError(18, "Authentication failed.")
			if name == "logout":
				conn.user = None
				conn.sasl = None
				return OrderedDict([("ok", 1.0)])
			if name == "connectionStatus":
				return self.connection_status(conn, cmd)
			if name == "createUser":
				return self.create_user(conn, db, cmd)
			if name == "revokeRolesFromUser":
				return self.revoke_roles(conn, db, cmd)
		except CmdError as e:
			return e.doc()
		return None

	def sasl_start(self, conn, db, cmd):
		mech = cmd.get("mechanism")
		if mech not in SCRAM:
			raise CmdError(2, "Received authentication for mechanism %s which is unknown or not enabled" % mech)
		payload = bytes(cmd.get("payload", b""))
		try:
			user_part = payload.split(b",", 2)[2].split(b",")[0]
			name = user_part[2:].decode().replace("=2C", ",").replace("=3D", "=")
		except (IndexError, UnicodeDecodeError):
			raise CmdError(18, "Authentication failed.")
		user = self.users.get((db, name))
		if user is None:
			raise CmdError(18, "Authentication failed.")
		opts = cmd.get("options") or {}
		conn.sasl = Scram(user, mech, payload, bool(opts.get("skipEmptyExchange")))
		return OrderedDict([("conversationId", 1), ("done", False),
			("payload", Binary(conn.sasl.server_first)), ("ok", 1.0)])

	def sasl_continue(self, conn, cmd):
		s = getattr(conn, "sasl", None)
		if s is None or cmd.get("conversationId") != 1:
			raise CmdError(17, "No SASL session state found")
		payload = bytes(cmd.get("payload", b""))
		if s.step == 1:
			try:
				final = s.finish(payload)
			except (ValueError, KeyError):
				conn.sasl = None
				raise CmdError(18, "Authentication failed.")
			except CmdError:
				conn.sasl = None
				raise
			s.step = 2
			if s.skip_empty:
				self._authenticated(conn, s.user)
			return OrderedDict([("conversationId", 1), ("done", s.skip_empty),
				("payload", Binary(final)), ("ok", 1.0)])
		self._authenticated(conn, s.user)
		return OrderedDict([("conversationId", 1), ("done", True), ("payload", Binary(b"")), ("ok", 1.0)])

	def _authenticated(self, conn, user):
		conn.user = user
		conn.sasl = None

	def connection_status(self, conn, cmd):
		user = getattr(conn, "user", None)
		info = OrderedDict()
		info["authenticatedUsers"] = [OrderedDict([("user", user.name), ("db", user.db)])] if user else []
		info["authenticatedUserRoles"] = [OrderedDict([("role", r), ("db", d)]) for r, d in user.roles] if user else []
		if cmd.get("showPrivileges"):
			info["authenticatedUserPrivileges"] = user.privileges() if user else []
		return OrderedDict([("authInfo", info), ("ok", 1.0)])

	def create_user(self, conn, db, cmd):
		if self.users and not self._may(conn, "createUser", db, None):
			raise self._refusal(conn, "createUser", db, cmd)
		name, pwd = cmd.get("createUser"), cmd.get("pwd")
		if not isinstance(name, str) or not isinstance(pwd, str) or not name:
			raise CmdError(2, "createUser needs a user name and a pwd")
		if (db, name) in self.users:
			raise CmdError(51003, "User \"%s@%s\" already exists" % (name, db))
		roles = []
		for r in cmd.get("roles", []):
			role, rdb = (r, db) if isinstance(r, str) else (r.get("role"), r.get("db", db))
			if role not in ("read", "readWrite", "root"):
				raise CmdError(31, "Could not find role: %s@%s" % (role, rdb))
			roles.append((role, rdb))
		self.add_user(db, name, pwd, roles)
		return OrderedDict([("ok", 1.0)])

	def revoke_roles(self, conn, db, cmd):
		"""Takes effect at once on the user's open connections, as in mongod."""
		if not self._may(conn, "revokeRolesFromUser", db, None):
			raise self._refusal(conn, "revokeRolesFromUser", db, cmd)
		user = self.users.get((db, cmd.get("revokeRolesFromUser")))
		if user is None:
			raise CmdError(11, "Could not find user \"%s@%s\"" % (cmd.get("revokeRolesFromUser"), db))
		gone = [(r, db) if isinstance(r, str) else (r.get("role"), r.get("db", db)) for r in cmd.get("roles", [])]
		user.roles = [r for r in user.roles if r not in gone]
		return OrderedDict([("ok", 1.0)])

	# ------------------------------------------------------------ checks

	def _may(self, conn, name, db, cmd):
		user = getattr(conn, "user", None)
		if user is None:
			return False
		if any(role == "root" for role, _ in user.roles):
			return True
		if name in CLUSTER_ONLY:
			return False
		needs, coll = self._needs(name, db, cmd)
		if needs is None:
			return True  # sessions, transactions, getParameter-like reads of the server
		privs = user.privileges()
		return all(any(a in p["actions"] and _matches(p["resource"], db, coll) for p in privs) for a in needs)

	def _needs(self, name, db, cmd):
		if cmd is None:
			return None, None
		if name == "getMore":
			coll = cmd.get("collection")
			return ["find"], coll if isinstance(coll, str) else None
		if name in ("findAndModify", "findandmodify"):
			needs = ["find", "remove"] if cmd.get("remove") else ["find", "update"] + (["insert"] if cmd.get("upsert") else [])
			return needs, cmd.get(name)
		if name == "update":
			ups = any(isinstance(u, dict) and u.get("upsert") for u in cmd.get("updates", []))
			return ["update"] + (["insert"] if ups else []), cmd.get(name)
		if name in COLL_ACTIONS:
			coll = cmd.get(name)
			return COLL_ACTIONS[name], coll if isinstance(coll, str) else None
		if name in DB_ACTIONS:
			return DB_ACTIONS[name], None
		return None, None

	def _refusal(self, conn, name, db, cmd):
		if getattr(conn, "user", None) is None:
			return CmdError(13, "Command %s requires authentication" % name)
		return CmdError(13, "not authorized on %s to execute command %s" % (db, _shape(cmd, db)))

	def check(self, conn, name, db, cmd):
		"""None when conn may run the command, else the error reply."""
		if name in NO_AUTH or self._may(conn, name, db, cmd):
			return None
		return self._refusal(conn, name, db, cmd).doc()


def _shape(cmd, db):
	"""The command as mongod prints it in the error: { insert: "c", ..., $db: "db" }."""
	parts = []
	for k, v in [(k, v) for k, v in cmd.items() if k != "$db"][:4]:
		if isinstance(v, bool):
			parts.append("%s: %s" % (k, "true" if v else "false"))
		elif k in ("documents", "updates", "deletes", "pipeline", "filter", "lsid", "$clusterTime"):
			parts.append("%s: [...]" % k if isinstance(v, list) else "%s: {...}" % k)
		elif isinstance(v, str):
			parts.append('%s: "%s"' % (k, v))
		else:
			parts.append("%s: %s" % (k, v))
	parts.append('$db: "%s"' % db)
	return "{ %s }" % ", ".join(parts)
