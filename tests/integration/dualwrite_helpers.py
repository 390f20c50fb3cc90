"""dualwrite_helpers: shared tools of the dual-write integration tests
(test_conformance_write.py, test_differential.py).

The contract they test (issue 3; the lead's pipeline implements it):

  tandem config   pg: CONNINFO, redis: URL, mapping: FILE,
                  defaults: {write_mode: dual_write|mongo_only|pg_primary|pg_only}
  Redis flag      HSET tandem:tenant:<tenant> write_mode <mode> (seen within 1 s);
                  the tenant is the database name when no `tenant:` is configured
  applied         metrics gauges tandem_dualwrite_pending == 0 and
                  tandem_dualwrite_queue_depth == 0
  tables          tandemctl schema --apply --pg DSN [--mapping F] [--collection C]
  read back       tandemctl dump --pg DSN [--mapping F] --tenant T --collection C
                  (one canonical extended JSON document per line)
  drain           tandemctl replay --config FILE [--tenant T]

What is here:

  tandemctl_path(tandem_bin)         tandemctl built next to tandem (or None)
  dump_support(ctl)                  None when `tandemctl dump` exists, else why not
  make_pg_db(pg, name)               a fresh PostgreSQL database, its DSN
  pg_count(dsn, table, tenant)       rows of a tenant in a table (no dump needed)
  schema_apply(ctl, dsn, mapping, collections)
  write_mapping(path, colls)         a mapping file: id int8 + column x int8
  start_mode(start, mongo_uri, mode, ...)   tandem in a write mode (see its doc)
  set_tenant_mode(redis_url, tenant, mode)
  redis_command(redis_url, *args)    one command in the URL's database (AUTH too)
  metrics_values(text), wait_applied(tandem, timeout=30)
  dump(ctl, dsn, tenant, coll, mapping)   -> list of documents
  upstream_docs(coll)                -> list of documents sorted by _id
  compare_docs(expected, actual)     -> list of differences (missing / extra /
                                        changed / order), each with both
                                        documents in canonical extended JSON
  pg_stop(pg), pg_start(pg)          stop/start a servers.Postgres on the same
                                     port and data directory
  replay(ctl, config, tenant=None)   run tandemctl replay, return the result
"""

import json
import os
import re
import socket
import subprocess
import time

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from bson.json_util import JSONMode, JSONOptions
from bson.son import SON

import servers

MODES = ("mongo_only", "dual_write", "pg_primary", "pg_only")
APPLY_TIMEOUT_S = 30.0
CODEC = CodecOptions(document_class=SON)
CANON = JSONOptions(json_mode=JSONMode.CANONICAL, document_class=SON)  # pymongo 3.11: with_options() loses the JSON mode


class PipelineMissing(Exception):
	"""tandem does not know the dual-write config keys yet."""


# ---------------------------------------------------------------- tools

def tandemctl_path(tandem_bin):
	"""build/tools/tandemctl next to build/proxy/tandem, as test_schema finds it."""
	ctl = os.path.join(os.path.dirname(os.path.dirname(tandem_bin)), "tools", "tandemctl")
	return ctl if os.path.exists(ctl) else None


def _run(args, timeout=120, **kw):
	return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
		timeout=timeout, **kw)


def _subcommand_exists(ctl, name):
	"""`tandemctl NAME --help` must print NAME's own usage: the current
	tandemctl answers an unknown command with its general help and exit 0,
	so the exit status alone does not tell."""
	if ctl is None:
		return False
	r = _run([ctl, name, "--help"], timeout=30)
	text = r.stdout + r.stderr
	return r.returncode == 0 and re.search(r"tandemctl\s+%s\b" % re.escape(name), text) is not None


def dump_support(ctl):
	"""None if `tandemctl dump` is usable, else the reason to skip."""
	if ctl is None:
		return "tandemctl is not built next to tandem"
	if not _subcommand_exists(ctl, "dump"):
		return "`tandemctl dump` does not exist yet (row storage + dump not landed): PostgreSQL checks skipped"
	return None


def replay_support(ctl):
	if ctl is None:
		return "tandemctl is not built next to tandem"
	if not _subcommand_exists(ctl, "replay"):
		return "`tandemctl replay` does not exist yet"
	return None


# ---------------------------------------------------------------- PostgreSQL

def make_pg_db(pg, name):
	"""(Re)create database `name` on pg; returns its DSN."""
	pg.psql('DROP DATABASE IF EXISTS "%s"' % name)
	pg.psql('CREATE DATABASE "%s"' % name)
	return re.sub(r"dbname=\S+", "dbname=" + name, pg.dsn)


def schema_apply(ctl, dsn, mapping=None, collections=()):
	"""tandemctl schema --apply: the mapped tables and the default tables of
	`collections` (unmapped collection names)."""
	args = [ctl, "schema", "--apply", "--pg", dsn]
	if mapping:
		args += ["--mapping", mapping]
	for c in collections:
		args += ["--collection", c]
	r = _run(args)
	if r.returncode != 0:
		raise AssertionError("tandemctl schema --apply failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr))
	return r.stdout


def pg_count(dsn, table, tenant, tenant_column="tenant_id"):
	"""Rows of `tenant` in `table` (a check that needs no tandemctl dump)."""
	sql = 'SELECT count(*) FROM "%s" WHERE "%s" = \'%s\'' % (table, tenant_column, tenant.replace("'", "''"))
	r = _run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], timeout=60)
	if r.returncode != 0:
		raise AssertionError("psql %s: %s" % (sql, r.stderr))
	return int(r.stdout.strip())


def write_mapping(path, collections):
	"""A mapping file giving each collection `id: int8` and a column x int8
	(the spec tests' documents are {_id: int, x: int, ...})."""
	lines = ["version: 1", "collections:"]
	for c in collections:
		lines += ["  %s:" % c, "    table: %s" % c, "    id: int8", "    columns:",
			"      x:", "        type: int8"]
	with open(path, "w") as f:
		f.write("\n".join(lines) + "\n")
	return path


def pg_stop(pg):
	"""Stop a servers.Postgres, keeping its data directory and port."""
	subprocess.run(pg._as_user + [os.path.join(servers.PG_BIN, "pg_ctl"), "-D", pg.data, "-m", "fast",
		"-w", "-t", "30", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def pg_start(pg):
	"""Start it again on the same port and data directory (pg_ctl reuses
	the options of the first start from postmaster.opts)."""
	opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " \
		"-c full_page_writes=off -c max_connections=200" % (pg.port, pg.sock_dir)
	pg._run([os.path.join(servers.PG_BIN, "pg_ctl"), "-D", pg.data, "-l", pg.log_path, "-o", opts,
		"-w", "-t", "30", "start"])


# ---------------------------------------------------------------- tandem

def start_mode(start, mongo_uri, mode, pg_dsn=None, redis_url=None, mapping=None, **extra):
	"""Start a tandem whose default write mode is `mode`.

	Returns the Tandem with .write_mode and .pipeline (True when tandem
	accepted the dual-write config).  While tandem does not know
	`defaults.write_mode`:
	  - mode mongo_only: starts tandem as the plain proxy it is today (no
	    pg/redis/defaults), which is mongo_only by definition; .pipeline False;
	  - any other mode: raises PipelineMissing (callers skip)."""
	assert mode in MODES, mode
	cfg = dict(extra)
	if pg_dsn:
		cfg["pg"] = pg_dsn
	if redis_url:
		cfg["redis"] = redis_url
	if mapping:
		cfg["mapping"] = mapping
	cfg["defaults"] = dict(cfg.get("defaults") or {}, write_mode=mode)
	if os.environ.get("TANDEM_TEST_LOG_LEVEL"):  # e.g. debug: divergences log the whole operation
		cfg["log"] = {"level": os.environ["TANDEM_TEST_LOG_LEVEL"]}
	try:
		t = start(mongo_uri, **cfg)
		t.pipeline = True
	except servers.ServerError as e:
		msg = str(e)
		if "unknown key" not in msg:
			raise
		if mode != "mongo_only":
			raise PipelineMissing("tandem refuses the dual-write config: %s" % msg.strip().splitlines()[-1])
		t = start(mongo_uri, **extra)
		t.pipeline = False
	t.write_mode = mode
	return t


def set_tenant_mode(redis_url, tenant, mode, settle_s=1.1):
	"""HSET tandem:tenant:<tenant> write_mode <mode> in the URL's database,
	then wait for tandem to see it (<= 1 s)."""
	reply = redis_command(redis_url, "HSET", "tandem:tenant:%s" % tenant, "write_mode", mode)
	if not isinstance(reply, int):
		raise AssertionError("HSET failed: %r" % reply)
	time.sleep(settle_s)


_REDIS_URL = re.compile(r"redis://(?:([^:@/]*):([^@/]*)@)?([^:/@]+):(\d+)(?:/(\d*))?$")


def redis_command(redis_url, *args):
	"""One Redis command over a raw RESP socket (no redis module needed), in
	the database of redis_url (redis://[USER:PASSWORD@]HOST:PORT[/DB], AUTH
	first when it has a password).  Returns the reply: int, str (status or
	error), bytes, list or None."""
	m = _REDIS_URL.match(redis_url)
	if not m:
		raise ValueError("not a redis://HOST:PORT[/DB] URL: %r" % redis_url)
	user, password, host, port, db = m.groups()
	setup = []
	if password:
		setup.append(["AUTH", user, password] if user else ["AUTH", password])
	if db and int(db):
		setup.append(["SELECT", db])
	with socket.create_connection((host, int(port)), timeout=5) as s:
		f = s.makefile("rb")

		def call(cmd):
			s.sendall(("*%d\r\n" % len(cmd) + "".join("$%d\r\n%s\r\n" % (len(str(a).encode()), a)
				for a in cmd)).encode())
			return _resp(f)
		for cmd in setup:
			reply = call(cmd)
			if reply != "OK":
				raise AssertionError("%s failed: %r" % (cmd[0], reply))
		return call(args)


def _resp(f):
	line = f.readline().rstrip(b"\r\n")
	kind, rest = line[:1], line[1:]
	if kind == b":":
		return int(rest)
	if kind in (b"+", b"-"):
		return rest.decode()
	if kind == b"$":
		n = int(rest)
		return None if n < 0 else f.read(n + 2)[:-2]
	if kind == b"*":
		return [_resp(f) for _ in range(int(rest))]
	raise AssertionError("unexpected RESP %r" % line)


_METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metrics_values(text):
	"""Prometheus text -> {name: sum over label sets}."""
	out = {}
	for line in text.splitlines():
		if not line or line.startswith("#"):
			continue
		m = _METRIC.match(line)
		if m:
			try:
				out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
			except ValueError:
				pass
	return out


def wait_applied(tandem, timeout=APPLY_TIMEOUT_S):
	"""Wait until tandem_dualwrite_pending and tandem_dualwrite_queue_depth
	are both 0 on two polls in a row; returns the last metrics values."""
	deadline = time.monotonic() + timeout
	ok_before = False
	last = {}
	while True:
		last = metrics_values(tandem.metrics())
		missing = [n for n in ("tandem_dualwrite_pending", "tandem_dualwrite_queue_depth") if n not in last]
		if missing:
			raise AssertionError("tandem exports no %s (metrics: %s)" % (", ".join(missing),
				sorted(k for k in last if "dualwrite" in k)))
		ok = last["tandem_dualwrite_pending"] == 0 and last["tandem_dualwrite_queue_depth"] == 0
		if ok and ok_before:
			return last
		ok_before = ok
		if time.monotonic() >= deadline:
			raise AssertionError("dual-write not applied after %.0f s: %s" % (timeout,
				{k: v for k, v in last.items() if "dualwrite" in k}))
		time.sleep(0.05)


def replay(ctl, config, tenant=None, timeout=300):
	args = [ctl, "replay", "--config", config]
	if tenant:
		args += ["--tenant", tenant]
	return _run(args, timeout=timeout)


# ---------------------------------------------------------------- documents

def dump(ctl, dsn, tenant, coll, mapping=None):
	"""The documents PostgreSQL holds for (tenant, coll), via tandemctl dump."""
	args = [ctl, "dump", "--pg", dsn, "--tenant", tenant, "--collection", coll]
	if mapping:
		args += ["--mapping", mapping]
	r = _run(args)
	if r.returncode != 0:
		raise AssertionError("tandemctl dump failed (%d): %s" % (r.returncode, r.stderr))
	docs = []
	for n, line in enumerate(r.stdout.splitlines(), 1):
		if not line.strip():
			continue
		try:
			docs.append(json_util.loads(line, json_options=CANON))
		except Exception as e:
			raise AssertionError("tandemctl dump line %d is not canonical extended JSON (%s): %r" % (n, e, line[:300]))
	return docs


def upstream_docs(coll):
	"""Every document of a pymongo collection, sorted by _id, decoded as SON
	(field order kept)."""
	return list(coll.with_options(codec_options=CODEC).find({}).sort("_id", 1))


def normalize(doc):
	"""A document as BSON would store it (python ints -> int32/int64 by
	size), decoded again as SON: spec JSON and driver documents compare
	by the same rules."""
	return bson.decode(bson.encode(doc), codec_options=CODEC)


def canonical(doc):
	return json_util.dumps(doc, json_options=CANON)


def _sorted_json(doc):
	return json.dumps(json.loads(canonical(doc)), sort_keys=True)


def _key(doc):
	if "_id" not in doc:
		return "(no _id) " + canonical(doc)
	return canonical(SON([("_id", doc["_id"])]))


def compare_docs(expected, actual, exp_name="upstream", act_name="postgres"):
	"""Differences between two lists of documents, matched by _id.

	Kinds: missing (in expected only), extra (in actual only), duplicate
	(one _id twice in one list), changed (values or types differ), order
	(same fields and values, different field order).  Each difference is a
	dict {kind, _id, <exp_name>, <act_name>} with canonical extended JSON."""
	diffs = []
	exp, act = {}, {}
	for side, docs, idx in ((exp_name, expected, exp), (act_name, actual, act)):
		for d in docs:
			d = normalize(d)
			k = _key(d)
			if k in idx:
				diffs.append({"kind": "duplicate", "_id": k, side: canonical(d)})
			idx[k] = d
	for k, d in exp.items():
		if k not in act:
			diffs.append({"kind": "missing", "_id": k, exp_name: canonical(d), act_name: None})
	for k, d in act.items():
		if k not in exp:
			diffs.append({"kind": "extra", "_id": k, exp_name: None, act_name: canonical(d)})
	for k, d in exp.items():
		if k not in act:
			continue
		a, b = canonical(d), canonical(act[k])
		if a == b:
			continue
		kind = "order" if _sorted_json(d) == _sorted_json(act[k]) else "changed"
		diffs.append({"kind": kind, "_id": k, exp_name: a, act_name: b})
	return diffs


def format_diffs(diffs, limit=20):
	lines = ["%d difference(s)%s:" % (len(diffs), "" if len(diffs) <= limit else ", first %d" % limit)]
	for d in diffs[:limit]:
		lines.append("  %s" % json.dumps(d, ensure_ascii=False))
	kinds = {}
	for d in diffs:
		kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
	lines.append("  by kind: %s" % kinds)
	return "\n".join(lines)
