"""reftopo: the topology face of the reference upstream (standalone or a
replica set of N nodes in one process sharing one data set).

  hello / isMaster / ismaster --> hello_doc(node, cmd): wire versions, limits,
      topologyVersion, and for a replica set setName, hosts, primary, me,
      isWritablePrimary|ismaster, secondary, setVersion, electionId
  refSetPrimary i             --> set_primary(i): i = -1 means no primary;
      bumps electionId and every node's topologyVersion counter, and wakes
      the awaitable hellos (streaming monitors) waiting in wait_change().

Invariant: electionId only grows (ObjectIds made in one process increase),
so drivers accept each new primary.
"""

import datetime
import itertools
import threading
import time
from collections import Counter, OrderedDict

from bson import ObjectId, Timestamp
from bson.int64 import Int64

from referr import CmdError

HELLO_NAMES = {"hello", "isMaster", "ismaster"}


class Node:
	def __init__(self, index, host, port):
		self.index = index
		self.host = host
		self.port = port
		self.process_id = ObjectId()
		self.conns_total = 0
		self.conns = {}  # conn id -> Conn
		self.commands = Counter()
		self.compressed = Counter()  # compressor id -> requests received compressed

	@property
	def address(self):
		return "%s:%d" % (self.host, self.port)


class Topology:
	def __init__(self, set_name=None, min_wire=0, max_wire=17, compressors=()):
		self.set_name = set_name
		self.min_wire = min_wire
		self.max_wire = max_wire
		self.compressors = list(compressors)
		self.nodes = []
		self.primary = 0
		self.counter = 0
		self.set_version = 1
		self.election_id = ObjectId()
		self.cond = threading.Condition()
		self.conn_ids = itertools.count(1)
		self.stopping = False
		self._clock = [int(time.time()), 0]

	@property
	def is_rs(self):
		return self.set_name is not None

	def add_node(self, host, port):
		n = Node(len(self.nodes), host, port)
		self.nodes.append(n)
		return n

	def is_primary(self, node):
		return not self.is_rs or node.index == self.primary

	def set_primary(self, index):
		if not self.is_rs:
			raise CmdError(76, "not running with --replSet")
		if not isinstance(index, int) or index < -1 or index >= len(self.nodes):
			raise CmdError(2, "refSetPrimary: node index must be -1..%d" % (len(self.nodes) - 1))
		with self.cond:
			self.primary = index
			self.election_id = ObjectId()
			self.counter += 1
			self.cond.notify_all()

	def topology_version(self, node):
		return OrderedDict([("processId", node.process_id), ("counter", Int64(self.counter))])

	def tick(self):
		"""Next cluster time (a Timestamp that only grows)."""
		now = int(time.time())
		with self.cond:
			if now > self._clock[0]:
				self._clock = [now, 0]
			self._clock[1] += 1
			return Timestamp(self._clock[0], self._clock[1])

	def now(self):
		with self.cond:
			return Timestamp(self._clock[0], max(self._clock[1], 1))

	def wait_change(self, node, client_tv, max_wait_s):
		"""Block until the topology differs from client_tv or max_wait_s pass."""
		deadline = time.monotonic() + max(0.0, min(max_wait_s, 3600.0))
		with self.cond:
			while not self.stopping and self._same_tv(node, client_tv):
				left = deadline - time.monotonic()
				if left <= 0:
					return
				self.cond.wait(left)

	def _same_tv(self, node, tv):
		try:
			return tv.get("processId") == node.process_id and int(tv.get("counter")) == self.counter
		except (AttributeError, TypeError, ValueError):
			return False

	def stop(self):
		with self.cond:
			self.stopping = True
			self.cond.notify_all()

	def hello_doc(self, node, conn, cmd, name):
		"""The reply to hello/isMaster on `node` for connection `conn`."""
		d = OrderedDict()
		if cmd.get("helloOk"):
			d["helloOk"] = True
		primary_key = "isWritablePrimary" if name == "hello" else "ismaster"
		d["topologyVersion"] = self.topology_version(node)
		if self.is_rs:
			self._rs_fields(d, node, primary_key)
		else:
			d[primary_key] = True
		d["maxBsonObjectSize"] = 16777216
		d["maxMessageSizeBytes"] = 48000000
		d["maxWriteBatchSize"] = 100000
		d["localTime"] = datetime.datetime.utcnow()
		d["logicalSessionTimeoutMinutes"] = 30
		d["connectionId"] = conn.id
		d["minWireVersion"] = self.min_wire
		d["maxWireVersion"] = self.max_wire
		d["readOnly"] = False
		agreed = self.negotiate(cmd.get("compression"))
		if agreed:
			d["compression"] = agreed
		d["ok"] = 1.0
		return d

	def _rs_fields(self, d, node, primary_key):
		is_primary = node.index == self.primary
		d["hosts"] = [n.address for n in self.nodes]
		d["setName"] = self.set_name
		d["setVersion"] = self.set_version
		d[primary_key] = is_primary
		d["secondary"] = not is_primary
		if self.primary >= 0:
			d["primary"] = self.nodes[self.primary].address
		d["me"] = node.address
		if is_primary:
			d["electionId"] = self.election_id
		ts = self.now()
		when = datetime.datetime.utcfromtimestamp(ts.time)
		op = OrderedDict([("ts", ts), ("t", Int64(1))])
		d["lastWrite"] = OrderedDict([("opTime", op), ("lastWriteDate", when),
			("majorityOpTime", op), ("majorityWriteDate", when)])

	def negotiate(self, requested):
		if not isinstance(requested, list):
			return []
		return [c for c in requested if c in self.compressors]
