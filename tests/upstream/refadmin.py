"""refadmin: server-level commands of the reference upstream.

What drivers and mongosh send besides CRUD: ping, buildInfo, getLastError,
whatsmyuri, getParameter, getCmdLineOpts, connectionStatus, hostInfo, getLog,
serverStatus, listCommands, startSession / endSessions / killSessions,
replSetGetStatus; plus the control commands of the test rig:

  {refSetPrimary: i}   make node i primary (-1: none)      [admin]
  {refStats: 1}        per-node connections and command counts
  {refReset: 1}        drop all data, cursors, sessions

Handlers are fn(ctx, db, cmd) -> reply, run under the engine lock.
"""

import datetime
import os
import socket
import time
from collections import OrderedDict

from bson.binary import Binary, UUID_SUBTYPE
from bson.int64 import Int64
import uuid

from referr import CmdError
from refwire import COMPRESSORS

STARTED = time.time()


def _ok(**fields):
	d = OrderedDict(fields)
	d["ok"] = 1.0
	return d


def cmd_ping(ctx, db, cmd):
	return _ok()


def cmd_build_info(ctx, db, cmd):
	v = ctx.engine.version
	parts = [int(p) for p in v.split(".")[:3]] + [0]
	return OrderedDict([("version", v), ("gitVersion", "refmongo"), ("modules", []),
		("allocator", "system"), ("javascriptEngine", "none"), ("sysInfo", "deprecated"),
		("versionArray", parts), ("openssl", OrderedDict([("running", "disabled"), ("compiled", "disabled")])),
		("buildEnvironment", OrderedDict()), ("bits", 64), ("debug", False),
		("maxBsonObjectSize", 16777216), ("storageEngines", ["ephemeralForTest"]), ("ok", 1.0)])


def cmd_get_last_error(ctx, db, cmd):
	return _ok(n=0, err=None, connectionId=ctx.conn.id)


def cmd_whatsmyuri(ctx, db, cmd):
	return _ok(you="%s:%d" % ctx.conn.peer[:2])


def _params(ctx):
	major_minor = ".".join(ctx.engine.version.split(".")[:2])
	return OrderedDict([
		("featureCompatibilityVersion", OrderedDict([("version", major_minor)])),
		("authenticationMechanisms", ["SCRAM-SHA-1", "SCRAM-SHA-256"]),
		("requireApiVersion", False),
		("transactionLifetimeLimitSeconds", 60),
		("enableTestCommands", 1),
		("logLevel", 0),
	])


def cmd_get_parameter(ctx, db, cmd):
	params = _params(ctx)
	want = cmd.get("getParameter")
	if want == "*" or (isinstance(want, dict) and want.get("allParameters")):
		names = list(params)
	else:
		names = [k for k in cmd if k not in ("getParameter", "$db", "lsid", "$clusterTime", "$readPreference", "comment")]
	out = OrderedDict()
	for k in names:
		if k not in params:
			raise CmdError(72, "no option found to get")
		out[k] = params[k]
	out["ok"] = 1.0
	return out


def cmd_get_cmd_line_opts(ctx, db, cmd):
	node = ctx.node
	parsed = OrderedDict([("net", OrderedDict([("bindIp", node.host), ("port", node.port)]))])
	if ctx.topo.is_rs:
		parsed["replication"] = OrderedDict([("replSet", ctx.topo.set_name)])
	return _ok(argv=["refmongo", "--port", str(node.port)], parsed=parsed)


def cmd_connection_status(ctx, db, cmd):
	info = OrderedDict([("authenticatedUsers", []), ("authenticatedUserRoles", [])])
	if cmd.get("showPrivileges"):
		info["authenticatedUserPrivileges"] = []
	return _ok(authInfo=info)


def cmd_host_info(ctx, db, cmd):
	system = OrderedDict([("currentTime", datetime.datetime.utcnow()), ("hostname", socket.gethostname()),
		("cpuAddrSize", 64), ("numCores", os.cpu_count() or 1), ("cpuArch", "x86_64")])
	return _ok(system=system, os=OrderedDict([("type", "Linux"), ("name", "refmongo")]), extra=OrderedDict())


def cmd_get_log(ctx, db, cmd):
	if cmd.get("getLog") == "*":
		return _ok(names=["global", "startupWarnings"])
	return _ok(totalLinesWritten=0, log=[])


def cmd_server_status(ctx, db, cmd):
	node = ctx.node
	conns = OrderedDict([("current", len(node.conns)), ("available", 10000), ("totalCreated", node.conns_total)])
	return _ok(host=node.address, version=ctx.engine.version, process="refmongo", pid=Int64(os.getpid()),
		uptime=float(int(time.time() - STARTED)), localTime=datetime.datetime.utcnow(), connections=conns)


def cmd_list_commands(ctx, db, cmd):
	cmds = OrderedDict((name, OrderedDict([("help", "")])) for name in sorted(ctx.engine.command_names()))
	return _ok(commands=cmds)


def cmd_start_session(ctx, db, cmd):
	sid = OrderedDict([("id", Binary(uuid.uuid4().bytes, UUID_SUBTYPE))])
	return _ok(id=sid, timeoutMinutes=30)


def cmd_end_sessions(ctx, db, cmd):
	ctx.engine.sessions.end(cmd.get(next(iter(cmd))))
	return _ok()


def cmd_repl_set_get_status(ctx, db, cmd):
	topo = ctx.topo
	if not topo.is_rs:
		raise CmdError(76, "not running with --replSet")
	members = []
	for n in topo.nodes:
		primary = n.index == topo.primary
		members.append(OrderedDict([("_id", n.index), ("name", n.address), ("health", 1.0),
			("state", 1 if primary else 2), ("stateStr", "PRIMARY" if primary else "SECONDARY"),
			("self", n is ctx.node)]))
	return _ok(set=topo.set_name, date=datetime.datetime.utcnow(), myState=1 if topo.is_primary(ctx.node) else 2,
		members=members)


def cmd_auth_refused(ctx, db, cmd):
	raise CmdError(18, "Authentication failed.")


def cmd_logout(ctx, db, cmd):
	return _ok()


# ---------------------------------------------------------------- control

def _admin_only(db, name):
	if db != "admin":
		raise CmdError(13, "%s may only be run against the admin database." % name)


def cmd_ref_set_primary(ctx, db, cmd):
	_admin_only(db, "refSetPrimary")
	ctx.topo.set_primary(cmd["refSetPrimary"])
	return _ok(primary=ctx.topo.primary, electionId=ctx.topo.election_id)


def cmd_ref_stats(ctx, db, cmd):
	nodes = []
	for n in ctx.topo.nodes:
		peers = [OrderedDict([("id", c.id), ("peer", "%s:%d" % c.peer[:2]), ("driver", c.driver), ("appName", c.app_name)])
			for c in list(n.conns.values())]
		nodes.append(OrderedDict([("index", n.index), ("port", n.port), ("isPrimary", ctx.topo.is_primary(n)),
			("connectionsTotal", n.conns_total), ("connectionsCurrent", len(peers)), ("connections", peers),
			("commands", OrderedDict(sorted(n.commands.items()))),
			("compressedRequests", OrderedDict((COMPRESSORS[k][0], v) for k, v in sorted(n.compressed.items())))]))
	return _ok(nodes=nodes, primary=ctx.topo.primary, cursorsOpen=len(ctx.engine.cursors.cursors))


def cmd_ref_reset(ctx, db, cmd):
	_admin_only(db, "refReset")
	ctx.engine.reset()
	return _ok()


def cmd_configure_fail_point(ctx, db, cmd):
	_admin_only(db, "configureFailPoint")
	return ctx.engine.failpoint.configure(cmd)


COMMANDS = {
	"ping": cmd_ping,
	"buildInfo": cmd_build_info,
	"buildinfo": cmd_build_info,
	"getLastError": cmd_get_last_error,
	"getlasterror": cmd_get_last_error,
	"whatsmyuri": cmd_whatsmyuri,
	"getParameter": cmd_get_parameter,
	"getCmdLineOpts": cmd_get_cmd_line_opts,
	"connectionStatus": cmd_connection_status,
	"hostInfo": cmd_host_info,
	"getLog": cmd_get_log,
	"serverStatus": cmd_server_status,
	"listCommands": cmd_list_commands,
	"startSession": cmd_start_session,
	"endSessions": cmd_end_sessions,
	"killSessions": cmd_end_sessions,
	"killAllSessions": cmd_ping,
	"replSetGetStatus": cmd_repl_set_get_status,
	"saslStart": cmd_auth_refused,
	"saslContinue": cmd_auth_refused,
	"authenticate": cmd_auth_refused,
	"logout": cmd_logout,
	"refSetPrimary": cmd_ref_set_primary,
	"refStats": cmd_ref_stats,
	"refReset": cmd_ref_reset,
	"configureFailPoint": cmd_configure_fail_point,
}
