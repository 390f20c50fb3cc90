"""refsession: transactions and retryable writes of the reference upstream.

A command carrying txnNumber is either
  * part of a multi-document transaction (autocommit: false): it runs in the
    transaction's TxnView (reads see the transaction's own writes, nobody else
    does); commitTransaction applies the workspace to the main data at once,
    abortTransaction (or a newer txnNumber, or endSessions) drops it; or
  * a retryable write: the reply is remembered per (lsid, txnNumber) and a
    retry of the same pair gets the remembered reply without applying twice.

Like mongod, a standalone refuses txnNumber (IllegalOperation).
Known difference from mongod: no write-conflict detection between concurrent
transactions; at commit the transaction's version of each document it
touched wins.
"""

import copy
from collections import OrderedDict

from referr import CmdError
from refstore import TxnView, encode

RETRYABLE_WRITES = {"insert", "update", "delete", "findAndModify", "findandmodify"}
TXN_ALLOWED = {"find", "getMore", "killCursors", "insert", "update", "delete", "findAndModify",
	"findandmodify", "aggregate", "distinct", "count", "create", "createIndexes",
	"commitTransaction", "abortTransaction"}
MAX_REMEMBERED = 20000

TRANSIENT = ["TransientTransactionError"]


def lsid_key(cmd):
	lsid = cmd.get("lsid")
	if not isinstance(lsid, dict) or "id" not in lsid:
		raise CmdError(9, "txnNumber requires a session id (lsid)")
	return encode({"id": lsid["id"]})


class Txn:
	def __init__(self, number, main):
		self.number = number
		self.state = "active"
		self.view = TxnView(main)


class Sessions:
	"""Per-session transaction state; callers hold the engine lock."""

	def __init__(self, main):
		self.main = main
		self.txns = {}
		self.remembered = OrderedDict()

	def reset(self, main):
		self.main = main
		self.txns.clear()
		self.remembered.clear()

	def end(self, lsids):
		for lsid in lsids or []:
			self.txns.pop(encode({"id": lsid.get("id")}), None)

	def run(self, name, cmd, rs, execute):
		"""Route a command with txnNumber; execute(view) runs the handler."""
		if not rs:
			raise CmdError(20, "Transaction numbers are only allowed on a replica set member or mongos")
		key = lsid_key(cmd)
		num = int(cmd["txnNumber"])
		if cmd.get("autocommit") is False or name in ("commitTransaction", "abortTransaction"):
			return self._in_txn(name, cmd, key, num, execute)
		if name not in RETRYABLE_WRITES:
			raise CmdError(50768, "txnNumber may only be provided for multi-document transactions and retryable write commands. autocommit:false was not provided, and %s is not a retryable write command." % name)
		seen = self.remembered.get((key, num))
		if seen is not None:
			return copy.deepcopy(seen)
		reply = execute(self.main)
		if reply.get("ok"):
			self.remembered[(key, num)] = copy.deepcopy(reply)
			while len(self.remembered) > MAX_REMEMBERED:
				self.remembered.popitem(last=False)
		return reply

	def _in_txn(self, name, cmd, key, num, execute):
		txn = self.txns.get(key)
		if name == "commitTransaction":
			return self._commit(txn, num)
		if name == "abortTransaction":
			return self._abort(txn, num)
		if cmd.get("startTransaction"):
			if txn is not None and txn.number >= num:
				raise CmdError(225, "Cannot start transaction %d on session because a newer transaction %d has already started" % (num, txn.number))
			txn = Txn(num, self.main)
			self.txns[key] = txn
		elif txn is None or txn.number != num or txn.state != "active":
			raise CmdError(251, "Transaction with { txnNumber: %d } has been aborted." % num, labels=TRANSIENT)
		if name not in TXN_ALLOWED:
			raise CmdError(263, "Cannot run '%s' in a multi-document transaction." % name)
		try:
			reply = execute(txn.view)
		except CmdError:
			txn.state = "aborted"
			raise
		if reply.get("writeErrors"):
			txn.state = "aborted"
		return reply

	def _commit(self, txn, num):
		if txn is None or txn.number != num or txn.state == "aborted":
			raise CmdError(251, "Transaction with { txnNumber: %d } has been aborted." % num, labels=TRANSIENT)
		if txn.state == "active":
			txn.view.commit()
			txn.state = "committed"
		return OrderedDict([("ok", 1.0)])

	def _abort(self, txn, num):
		if txn is None or txn.number != num or txn.state == "aborted":
			raise CmdError(251, "Transaction with { txnNumber: %d } has been aborted." % num, labels=TRANSIENT)
		if txn.state == "committed":
			raise CmdError(256, "Transaction with { txnNumber: %d } has been committed." % num)
		txn.state = "aborted"
		return OrderedDict([("ok", 1.0)])
