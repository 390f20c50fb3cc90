"""reffail: mongod's `failCommand` fail point, for injecting errors.

  {configureFailPoint: "failCommand", mode: "alwaysOn" | "off" | {times: n}
   | {skip: n}, data: {failCommands: [...], errorCode, errorLabels,
   closeConnection, blockConnection, blockTimeMS, writeConcernError, appName}}

Same command and semantics as mongod started with enableTestCommands=1, so a
test that injects failures runs unchanged against a real server.  One field
is refmongo's own: blockReplyMS runs the command at once and holds its reply
back (a write MongoDB applied whose reply is slow to come); tests that need
it skip themselves against a real mongod.
check() is called for every command; it returns the fail point's data when
this command must fail (and counts the activation), else None.
"""

import threading
from collections import OrderedDict

from referr import CmdError


class FailPoint:
	def __init__(self):
		self.lock = threading.Lock()
		self.mode = "off"
		self.times = 0
		self.skip = 0
		self.data = {}
		self.entered = 0

	def configure(self, cmd):
		name = cmd.get("configureFailPoint")
		if name != "failCommand":
			raise CmdError(2, "refmongo only has the failCommand fail point, not %r" % (name,))
		mode = cmd.get("mode")
		with self.lock:
			before = self.entered
			if mode == "off":
				self.mode = "off"
			elif mode == "alwaysOn":
				self.mode = "alwaysOn"
			elif isinstance(mode, dict) and "times" in mode:
				self.mode, self.times, self.skip = "times", int(mode["times"]), 0
			elif isinstance(mode, dict) and "skip" in mode:
				self.mode, self.skip = "skip", int(mode["skip"])
			else:
				raise CmdError(9, "unknown fail point mode %r" % (mode,))
			self.data = dict(cmd.get("data") or {})
			self.entered = 0
		return OrderedDict([("count", before), ("ok", 1.0)])

	def check(self, name, app_name):
		with self.lock:
			if self.mode == "off" or name not in (self.data.get("failCommands") or []):
				return None
			want_app = self.data.get("appName")
			if want_app is not None and want_app != app_name:
				return None
			if self.mode == "skip":
				if self.skip > 0:
					self.skip -= 1
					return None
			elif self.mode == "times":
				if self.times <= 0:
					self.mode = "off"
					return None
				self.times -= 1
			self.entered += 1
			return dict(self.data)


def failure_error(data):
	"""The CmdError a failCommand activation answers with (or None)."""
	code = data.get("errorCode")
	if code is None:
		return None
	labels = data.get("errorLabels")
	return CmdError(int(code), "Failing command via 'failCommand' failpoint", labels=labels)
