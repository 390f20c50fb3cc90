"""helpers: small tools shared by the integration tests.

  CommandLog           a pymongo CommandListener that records what the driver
                       sent and got (names, replies, failures)
  own_connections(ps)  the TCP connections this process holds to
                       127.0.0.1:<p> for p in ps (read from /proc), to prove a
                       driver never connected around the proxy
  ConnectionWatch(ps)  samples own_connections every 20 ms in a thread, so a
                       short-lived connection around the proxy is caught too
  wait_until           bounded polling (from servers.py)
"""

import os
import socket
import struct
import threading

from pymongo import monitoring

import servers
from servers import wait_until  # noqa: F401  (re-exported)


class CommandLog:
	"""Events recorded by the listener made with command_log()."""

	def __init__(self):
		self.lock = threading.Lock()
		self.started = []
		self.succeeded = []
		self.failed = []

	def names(self):
		with self.lock:
			return [e.command_name for e in self.started]

	def count(self, name):
		return self.names().count(name)

	def replies(self, name):
		with self.lock:
			return [e.reply for e in self.succeeded if e.command_name == name]

	def clear(self):
		with self.lock:
			del self.started[:]
			del self.succeeded[:]
			del self.failed[:]


class _Listener(monitoring.CommandListener):
	"""Forwards pymongo's events into a CommandLog's lists."""

	def __init__(self, log):
		self.log = log

	def started(self, event):
		with self.log.lock:
			self.log.started.append(event)

	def succeeded(self, event):
		with self.log.lock:
			self.log.succeeded.append(event)

	def failed(self, event):
		with self.log.lock:
			self.log.failed.append(event)


def command_log():
	"""(CommandLog, listener to pass in MongoClient(event_listeners=[...]))."""
	log = CommandLog()
	return log, _Listener(log)


def _socket_inodes(pid="self"):
	inodes = set()
	base = "/proc/%s/fd" % pid
	for fd in os.listdir(base):
		try:
			target = os.readlink(os.path.join(base, fd))
		except OSError:
			continue
		if target.startswith("socket:["):
			inodes.add(target[8:-1])
	return inodes


def _tcp_connections(inodes):
	"""(local port, (remote ip, remote port)) of established IPv4 TCP sockets
	among inodes, leaving out the rig's own control connections
	(servers.CONTROL_PORTS)."""
	out = []
	with open("/proc/net/tcp") as f:
		next(f)
		for line in f:
			parts = line.split()
			local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
			if inode not in inodes or state != "01":  # 01 = ESTABLISHED
				continue
			lport = int(local.split(":")[1], 16)
			if lport in servers.CONTROL_PORTS:
				continue
			ip_hex, port_hex = remote.split(":")
			ip = socket.inet_ntoa(struct.pack("<I", int(ip_hex, 16)))
			out.append((lport, (ip, int(port_hex, 16))))
	return out


def _own(ports):
	ports = set(ports)
	return [(lp, rp) for lp, rp in _tcp_connections(_socket_inodes()) if rp[0] == "127.0.0.1" and rp[1] in ports]


def own_connections(ports):
	"""Established connections of this process to 127.0.0.1 on any of ports."""
	return [rp for _, rp in _own(ports)]


class ConnectionWatch:
	"""Background sampler of this process's connections to ports; use as a
	context manager, then read .seen (every (ip, port) observed). Sockets
	that already existed when the watch began (e.g. a closed client's
	monitor still winding down) are not counted."""

	def __init__(self, ports, interval=0.02):
		self.ports = list(ports)
		self.interval = interval
		self.seen = set()
		self.samples = 0
		self.errors = []
		self.baseline = set()
		self._stop = threading.Event()
		self._thread = threading.Thread(target=self._run, daemon=True)

	def sample(self):
		try:
			self.seen.update(rp for lp, rp in _own(self.ports) if lp not in self.baseline)
			self.samples += 1
		except Exception as e:  # keep sampling; tests may check .errors
			self.errors.append(repr(e))

	def _run(self):
		while not self._stop.is_set():
			self.sample()
			self._stop.wait(self.interval)

	def __enter__(self):
		self.baseline = {lp for lp, _ in _own(self.ports)}
		self._thread.start()
		return self

	def __exit__(self, *exc):
		self._stop.set()
		self._thread.join(5)
		self.sample()  # a last look while the clients are still open
		return False
