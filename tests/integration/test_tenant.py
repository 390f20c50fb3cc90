"""Tenant resolution (config `tenant:`, shift/tenant.h, docs/tenant.md) and
database names MongoDB refuses.

  - a bad `tenant:` section: one line naming the key, exit code 2;
  - database mode with a regex: the capture selects the flags
    (tandem:tenant:<capture>), rows stay keyed by the database name;
  - field mode: the tenant_id of the documents / filters selects the flags;
    writes naming no tenant, or several, are counted and never served;
  - an over-long or invalid $db: InvalidNamespace (73) in mongod's words,
    the connection stays usable, nothing is cut, other connections unharmed,
    10,000 distinct names leave the memory bounded.

Every test starts its own tandem against the shared reference upstream,
PostgreSQL and Redis (conftest.py).
"""

import os
import subprocess
import uuid

import pymongo
import pytest
from pymongo.errors import OperationFailure

import dualwrite_helpers as dw
import servers
import wire

NAMES_LOOP = 10000          # distinct database names sent on one connection
RSS_GROWTH_MAX_KB = 48 * 1024


def _ctl(tandem_bin):
	ctl = dw.tandemctl_path(tandem_bin)
	if ctl is None:
		pytest.fail("tandemctl not built next to tandem")
	return ctl


def _client(t):
	return pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=10000)


def _unresolved(t):
	"""tandem_tenant_unresolved_total by reason."""
	out = {}
	for line in t.metrics().splitlines():
		if line.startswith("tandem_tenant_unresolved_total{"):
			reason = line.split('reason="', 1)[1].split('"', 1)[0]
			out[reason] = float(line.rsplit(" ", 1)[1])
	if set(out) != {"none", "several", "unmatched", "invalid", "too_large"}:
		raise AssertionError("tandem_tenant_unresolved_total reasons: %r" % out)
	return out


def _rss_kb(pid):
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	raise AssertionError("no VmRSS for %d" % pid)


def _tenant(prefix):
	return "%s%s" % (prefix, uuid.uuid4().hex[:8])


def _warm(t, coll, pg_dsn, db, table, extra=None):
	"""tandem returns the defaults for a tenant it sees for the first time
	(shift/flags.h) while it fetches its hash: write probes until one is
	dual-written, then delete them through tandem (dual-written too), so
	the tenant's rows in PostgreSQL start at 0."""
	probes = []
	for n in range(100):
		probes.append("probe%d" % n)
		coll.insert_one(dict(extra or {}, _id=probes[-1]))
		dw.wait_applied(t)
		if dw.pg_count(pg_dsn, table, db) > 0:
			break
	else:
		raise AssertionError("the tenant's flags never took effect")
	coll.delete_many(dict(extra or {}, _id={"$in": probes}))
	dw.wait_applied(t)
	assert dw.pg_count(pg_dsn, table, db) == 0


# ---------------------------------------------------------------- config

@pytest.mark.parametrize("section,key,why", [
	("tenant:\n  regex: '^tenant_(.+'\n", "tenant.regex", "missing closing parenthesis"),
	("tenant:\n  regex: '^tenant_.+$'\n", "tenant.regex", "found 0"),
	("tenant:\n  regex: '^(a)_(.+)$'\n", "tenant.regex", "found 2"),
	("tenant:\n  from: collection\n", "tenant.from", "is not one of database, field"),
	("tenant:\n  from: field\n  field: ''\n", "tenant.field", "is not a field name"),
	("tenant:\n  from: field\n  regex: '^(.+)$'\n", "tenant.regex", "only with tenant.from database"),
])
def test_bad_tenant_section_is_one_line_exit_2(tandem_bin, tmp_path, section, key, why):
	conf = tmp_path / "bad.yaml"
	conf.write_text("listen: 127.0.0.1:1\nmongo_uri: mongodb://127.0.0.1:1/\nadmin: ''\n" + section)
	r = subprocess.run([tandem_bin, "--config", str(conf)], stdout=subprocess.PIPE,
		stderr=subprocess.PIPE, text=True, timeout=30)
	assert r.returncode == 2, (r.returncode, r.stderr)
	lines = r.stderr.strip().splitlines()
	assert len(lines) == 1, r.stderr
	assert "key '%s'" % key in lines[0] and why in lines[0], lines[0]


# ---------------------------------------------------------------- database mode

def test_regex_capture_selects_the_flags(start_tandem, upstream, pg, redis, tandem_bin):
	"""tenant_<t> databases: HSET tandem:tenant:<t> write_mode dual_write
	dual-writes tenant_<t> (rows keyed by the database name), while
	tenant_<other> stays mongo_only; an unmatched database is counted."""
	ctl = _ctl(tandem_bin)
	acme, other = _tenant("acme"), _tenant("other")
	db_acme, db_other, db_plain = "tenant_" + acme, "tenant_" + other, _tenant("plain_")
	dw.schema_apply(ctl, pg.dsn, None, ["orders"])
	t = dw.start_mode(start_tandem, upstream.uri, "mongo_only", pg.dsn, redis.url,
		tenant={"from": "database", "regex": "^tenant_(.+)$"})
	try:
		dw.set_tenant_mode(redis.url, acme, "dual_write")
		c = _client(t)
		_warm(t, c[db_acme].orders, pg.dsn, db_acme, "orders")
		before = _unresolved(t)
		c[db_acme].orders.insert_many([{"_id": i, "v": i} for i in range(5)])
		c[db_acme].orders.update_one({"_id": 1}, {"$set": {"v": 10}})
		c[db_other].orders.insert_many([{"_id": i} for i in range(3)])
		c[db_plain].orders.insert_one({"_id": 1})
		dw.wait_applied(t)
		assert dw.pg_count(pg.dsn, "orders", db_acme) == 5
		assert dw.pg_count(pg.dsn, "orders", db_other) == 0
		assert dw.pg_count(pg.dsn, "orders", db_plain) == 0
		docs = {d["_id"]: d for d in dw.dump(ctl, pg.dsn, db_acme, "orders")}
		assert docs[1]["v"] == 10
		after = _unresolved(t)
		assert after["unmatched"] == before["unmatched"] + 1
		assert sum(after.values()) == sum(before.values()) + 1
	finally:
		dw.redis_command(redis.url, "DEL", "tandem:tenant:" + acme)


def test_default_tenant_takes_unmatched_databases(start_tandem, upstream, pg, redis, tandem_bin):
	ctl = _ctl(tandem_bin)
	shared = _tenant("shared")
	db_plain = _tenant("plain_")
	dw.schema_apply(ctl, pg.dsn, None, ["events"])
	t = dw.start_mode(start_tandem, upstream.uri, "mongo_only", pg.dsn, redis.url,
		tenant={"regex": "^tenant_(.+)$", "default": shared})
	try:
		dw.set_tenant_mode(redis.url, shared, "dual_write")
		_warm(t, _client(t)[db_plain].events, pg.dsn, db_plain, "events")
		_client(t)[db_plain].events.insert_many([{"_id": 1}, {"_id": 2}])
		dw.wait_applied(t)
		assert dw.pg_count(pg.dsn, "events", db_plain) == 2
		assert sum(_unresolved(t).values()) == 0
	finally:
		dw.redis_command(redis.url, "DEL", "tandem:tenant:" + shared)


# ---------------------------------------------------------------- field mode

def test_field_mode_dual_writes_the_named_tenant(start_tandem, upstream, pg, redis, tandem_bin, dbname):
	"""One database shared by tenants: writes carrying tenant_id <acme> are
	dual-written, other tenants' are not, writes naming no tenant or two
	are counted and stay on MongoDB (defaults mongo_only)."""
	ctl = _ctl(tandem_bin)
	acme, other = _tenant("acme"), _tenant("other")
	dw.schema_apply(ctl, pg.dsn, None, ["items"])
	t = dw.start_mode(start_tandem, upstream.uri, "mongo_only", pg.dsn, redis.url,
		tenant={"from": "field", "field": "tenant_id"})
	try:
		dw.set_tenant_mode(redis.url, acme, "dual_write")
		c = _client(t)[dbname].items
		_warm(t, c, pg.dsn, dbname, "items", {"tenant_id": acme})
		before = _unresolved(t)
		c.insert_many([{"_id": "a%d" % i, "tenant_id": acme} for i in range(4)])
		c.update_one({"tenant_id": acme, "_id": "a1"}, {"$set": {"x": 1}})
		c.delete_one({"$and": [{"tenant_id": {"$eq": acme}}, {"_id": "a3"}]})
		c.insert_many([{"_id": "o%d" % i, "tenant_id": other} for i in range(2)])
		c.insert_one({"_id": "none"})                          # no tenant
		c.insert_many([{"_id": "m1", "tenant_id": acme}, {"_id": "m2", "tenant_id": other}])  # several
		c.update_one({"_id": "a2"}, {"$set": {"y": 1}})         # filter without tenant
		dw.wait_applied(t)
		ids = {d["_id"]: d for d in dw.dump(ctl, pg.dsn, dbname, "items")}
		assert set(ids) == {"a0", "a1", "a2"}, sorted(ids)
		assert ids["a1"].get("x") == 1 and "y" not in ids["a2"]
		after = _unresolved(t)
		assert after["none"] == before["none"] + 2
		assert after["several"] == before["several"] + 1
		assert c.count_documents({}) == 8   # MongoDB has every write (a0-a2, o0-o1, none, m1-m2)
	finally:
		dw.redis_command(redis.url, "DEL", "tandem:tenant:" + acme)


def test_unresolved_writes_are_never_served(start_tandem, upstream, pg, redis, tandem_bin, dbname):
	"""Default tenant in pg_only: a write naming it is served by PostgreSQL
	(MongoDB untouched); a write naming no tenant goes to MongoDB, and is
	still captured into PostgreSQL (its flags are the default tenant's)."""
	ctl = _ctl(tandem_bin)
	acme = _tenant("acme")
	dw.schema_apply(ctl, pg.dsn, None, ["things"])
	t = dw.start_mode(start_tandem, upstream.uri, "mongo_only", pg.dsn, redis.url,
		tenant={"from": "field", "default": acme})
	try:
		dw.set_tenant_mode(redis.url, acme, "pg_only")
		c = _client(t)[dbname].things
		up = pymongo.MongoClient(upstream.uri)[dbname].things
		for n in range(100):   # until the flag is live: a probe no longer reaches MongoDB
			c.insert_one({"_id": "probe%d" % n, "tenant_id": acme})
			if up.count_documents({"_id": "probe%d" % n}) == 0:
				break
		else:
			raise AssertionError("pg_only never took effect")
		served = dw.metrics_values(t.metrics()).get("tandem_pgserve_writes_total", 0)
		c.insert_one({"_id": "served", "tenant_id": acme})
		c.insert_one({"_id": "forwarded"})
		dw.wait_applied(t)
		ids = {d["_id"] for d in up.find()}
		assert "forwarded" in ids and "served" not in ids, ids
		assert dw.metrics_values(t.metrics())["tandem_pgserve_writes_total"] == served + 1
		assert {"served", "forwarded"} <= {d["_id"] for d in dw.dump(ctl, pg.dsn, dbname, "things")}
	finally:
		dw.redis_command(redis.url, "DEL", "tandem:tenant:" + acme)


# ---------------------------------------------------------------- database names

def _command(sock, doc, request_id):
	sock.sendall(wire.op_msg(doc, request_id=request_id))
	reply = wire.recv_msg(sock)
	assert wire.header(reply)[2] == request_id
	return wire.msg_body(reply)


@pytest.mark.parametrize("db,errmsg", [
	("d" * 64, "db name must be at most 63 characters, found: 64"),
	("d" * 10000, "db name must be at most 63 characters, found: 10000"),
	("a/b", "Invalid database name: 'a/b'"),
	("a b", "Invalid database name: 'a b'"),
	("a.b", "'.' is an invalid character in a db name: a.b"),
	("a\x00b", "database names cannot have embedded null characters"),
])
def test_invalid_database_name_is_refused_and_the_connection_lives(start_tandem, upstream, db, errmsg):
	t = start_tandem(upstream.uri)
	other = _client(t)
	other.admin.command("ping")
	s = wire.connect(t.port)
	try:
		r = _command(s, {"find": "c", "filter": {}, "$db": db}, 7)
		assert r["ok"] == 0 and r["code"] == 73 and r["codeName"] == "InvalidNamespace", r
		assert r["errmsg"] == errmsg
		assert _command(s, {"ping": 1, "$db": "admin"}, 8)["ok"] == 1
	finally:
		s.close()
	assert other.admin.command("ping")["ok"] == 1
	assert dw.metrics_values(t.metrics())["tandem_invalid_database_names_total"] == 1


def test_63_byte_name_and_dollar_names_pass(start_tandem, upstream):
	t = start_tandem(upstream.uri)
	s = wire.connect(t.port)
	try:
		assert _command(s, {"ping": 1, "$db": "d" * 63}, 1)["ok"] == 1
		r = _command(s, {"ping": 1, "$db": "$external"}, 2)
		assert r.get("code") != 73, r
	finally:
		s.close()
	assert dw.metrics_values(t.metrics())["tandem_invalid_database_names_total"] == 0


def test_many_distinct_database_names_keep_memory_bounded(start_tandem, upstream, pg, redis):
	"""10,000 distinct names (matching the regex or not) of writes that
	reach tenant resolution: tandem's RSS grows by less than a bound, and
	another connection is served throughout."""
	t = dw.start_mode(start_tandem, upstream.uri, "mongo_only", pg.dsn, redis.url,
		tenant={"regex": "^tenant_(.+)$"})
	other = _client(t)
	other.admin.command("ping")
	run = uuid.uuid4().hex[:6]
	s = wire.connect(t.port)
	try:
		assert _command(s, {"ping": 1, "$db": "admin"}, 1)["ok"] == 1
		rss0 = _rss_kb(t.proc.pid)
		for i in range(NAMES_LOOP):
			db = ("tenant_%s_%d" if i % 2 else "n%s_%d") % (run, i)
			r = _command(s, {"delete": "c", "deletes": [{"q": {"_id": 0}, "limit": 1}], "$db": db}, i + 2)
			assert r["ok"] == 1, r
			if i % 2000 == 0:
				assert other.admin.command("ping")["ok"] == 1
		rss1 = _rss_kb(t.proc.pid)
	finally:
		s.close()
	print("RSS %d kB -> %d kB after %d names" % (rss0, rss1, NAMES_LOOP))
	if not servers.sanitized(t.binary):   # ASan's quarantine keeps freed memory
		assert rss1 - rss0 < RSS_GROWTH_MAX_KB, (rss0, rss1)
	assert _unresolved(t)["unmatched"] == NAMES_LOOP // 2
	assert other.admin.command("ping")["ok"] == 1
