"""refengine: command dispatch of the reference upstream.

  run(ctx, name, db, cmd, secondary_ok)
    1. unknown name                    -> CommandNotFound (59)
    2. node role (replica set face)    -> NotWritablePrimary (10107) for writes,
                                          NotPrimaryNoSecondaryOk (13435) for
                                          reads without secondaryOk
    3. under the engine lock: txnNumber -> refsession (transaction workspace or
                                          retryable-write memory), else the
                                          handler on the main data
    4. errors -> {ok: 0, errmsg, code, codeName, errorLabels}; replica-set
       replies carry $clusterTime and operationTime like mongod's.

One Engine serves every node of the process; the lock makes each command
atomic (mongomock is not thread-safe). hello is not here: it may wait, so the
connection loop in refmongo.py answers it without the lock.
"""

import threading
from collections import OrderedDict

from bson.binary import Binary
from bson.int64 import Int64

import refadmin
import refcrud
import refddl
import refread
from referr import CmdError, RETRYABLE_CODES, from_exception
from reffail import FailPoint
from refread import CursorStore
from refsession import RETRYABLE_WRITES, Sessions
from refstore import MainView

WRITES = {"insert", "update", "delete", "findAndModify", "findandmodify", "create", "drop",
	"dropDatabase", "createIndexes", "dropIndexes", "deleteIndexes", "renameCollection",
	"commitTransaction", "abortTransaction"}
READS = {"find", "getMore", "aggregate", "count", "distinct", "listCollections", "listIndexes",
	"listDatabases", "dbStats"}
STATE_CHANGE = {10107, 13435, 11600, 91, 189, 11602, 13436}


class Ctx:
	"""What a handler sees: engine, topology, node, connection, data view."""

	def __init__(self, engine, topo, node, conn, view=None):
		self.engine = engine
		self.topo = topo
		self.node = node
		self.conn = conn
		self.view = view

	def with_view(self, view):
		return Ctx(self.engine, self.topo, self.node, self.conn, view)


def _no_txn(ctx, db, cmd):
	raise CmdError(50768, "%s requires txnNumber, lsid and autocommit: false" % next(iter(cmd)))


class Engine:
	def __init__(self, topo, version="7.0.0"):
		self.topo = topo
		self.version = version
		self.lock = threading.RLock()
		self.main = MainView()
		self.cursors = CursorStore()
		self.sessions = Sessions(self.main)
		self.failpoint = FailPoint()
		self.uuids = {}
		self.handlers = {}
		for mod in (refadmin, refcrud, refread, refddl):
			self.handlers.update(mod.COMMANDS)
		self.handlers["commitTransaction"] = _no_txn
		self.handlers["abortTransaction"] = _no_txn

	def command_names(self):
		return list(self.handlers) + ["hello", "isMaster"]

	def reset(self):
		self.main.reset()
		self.cursors.clear()
		self.sessions.reset(self.main)
		self.uuids.clear()

	def ctx(self, node, conn):
		return Ctx(self, self.topo, node, conn)

	def run(self, ctx, name, db, cmd, secondary_ok):
		try:
			handler = self.handlers.get(name)
			if handler is None:
				raise CmdError(59, "no such command: '%s'" % name)
			self._check_role(ctx.node, name, cmd, secondary_ok)
			with self.lock:
				reply = self._execute(ctx, handler, name, db, cmd)
		except Exception as e:  # every failure becomes a MongoDB error reply
			err = from_exception(e)
			self._label(err, name, cmd)
			reply = err.doc()
		return self._decorate(reply, name)

	def _execute(self, ctx, handler, name, db, cmd):
		if "txnNumber" in cmd:
			run = lambda view: handler(ctx.with_view(view), db, cmd)
			return self.sessions.run(name, cmd, self.topo.is_rs, run)
		return handler(ctx.with_view(self.main), db, cmd)

	def _check_role(self, node, name, cmd, secondary_ok):
		if self.topo.is_primary(node):
			return
		tv = OrderedDict([("topologyVersion", self.topo.topology_version(node))])
		if name in WRITES or cmd.get("autocommit") is False:
			raise CmdError(10107, "not primary", extra=tv)
		if name in READS and not secondary_ok:
			raise CmdError(13435, "not primary and secondaryOk=false", extra=tv)

	def _label(self, err, name, cmd):
		in_txn = cmd.get("autocommit") is False
		retryable = ("txnNumber" in cmd and not in_txn and name in RETRYABLE_WRITES) or \
			name in ("commitTransaction", "abortTransaction")
		if retryable and err.code in RETRYABLE_CODES and "RetryableWriteError" not in err.labels:
			err.labels.append("RetryableWriteError")
		if in_txn and name not in ("commitTransaction", "abortTransaction") and err.code in STATE_CHANGE:
			if "TransientTransactionError" not in err.labels:
				err.labels.append("TransientTransactionError")

	def _decorate(self, reply, name):
		if not self.topo.is_rs:
			return reply
		ts = self.topo.tick() if name in WRITES else self.topo.now()
		sig = OrderedDict([("hash", Binary(b"\0" * 20, 0)), ("keyId", Int64(0))])
		reply["$clusterTime"] = OrderedDict([("clusterTime", ts), ("signature", sig)])
		reply["operationTime"] = ts
		return reply
