"""Authorization of what tandem answers itself (proxy/authz.h).

tandem serves a pg_only tenant's writes from PostgreSQL only on a connection
MongoDB has authorized for that database and action; it asks MongoDB
(connectionStatus with showPrivileges) after each authentication.  Here the
reference upstream enforces authentication (refmongo --auth, SCRAM): an
unauthenticated client, a client authorized only on another database, a
client that logged out, all get MongoDB's own Unauthorized (13), and neither
PostgreSQL's rows nor the tandem_pgserve_* metrics move; an authorized client
is served by PostgreSQL (MongoDB stays empty: pg_only).

Every tenant is in pg_only (tandem's default write mode, with Redis and
PostgreSQL configured).
"""

import json
import os
import shutil
import subprocess
import time
import uuid

import pymongo
import pytest
from pymongo.errors import OperationFailure

import dualwrite_helpers as dw
import servers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE_DIR = os.path.join(ROOT, "tests", "node")


@pytest.fixture(scope="module")
def authup(tmp_path_factory):
	"""A reference upstream that enforces authentication, with a root user."""
	srv = servers.RefMongo(str(tmp_path_factory.mktemp("authup")),
		extra_args=["--auth", "--user", "root:rootpw:root@admin"])
	yield srv
	srv.stop()


@pytest.fixture
def tenant(authup, dbname):
	"""(tenant db, other db, users): alice may write the tenant, bob only the other
	database, rita may only read the tenant.  Passwords are the names."""
	suffix = uuid.uuid4().hex[:6]
	other = dbname[:50] + "_other"
	users = {"alice": "alice_" + suffix, "bob": "bob_" + suffix, "rita": "rita_" + suffix}
	root = _direct(authup, "root", "rootpw")
	root.admin.command("createUser", users["alice"], pwd="alice", roles=[{"role": "readWrite", "db": dbname}])
	root.admin.command("createUser", users["bob"], pwd="bob", roles=[{"role": "readWrite", "db": other}])
	root.admin.command("createUser", users["rita"], pwd="rita", roles=[{"role": "read", "db": dbname}])
	root.close()
	return dbname, other, users


def _direct(srv, user, pwd):
	return pymongo.MongoClient(srv.uri, username=user, password=pwd, serverSelectionTimeoutMS=5000)


def _via(t, user=None, pwd=None, **kw):
	creds = dict(username=user, password=pwd) if user else {}
	return pymongo.MongoClient(t.uri, serverSelectionTimeoutMS=10000, maxPoolSize=1, **creds, **kw)


def _ctl(tandem_bin):
	ctl = dw.tandemctl_path(tandem_bin)
	if ctl is None:
		pytest.fail("tandemctl not built next to tandem")
	return ctl


def _start(start_tandem, upstream, pg, redis):
	"""tandem with PostgreSQL and Redis, every tenant in pg_only (the default:
	a tenant's own Redis hash is read on the first request that names it,
	which that request does not wait for)."""
	return dw.start_mode(start_tandem, upstream.uri, "pg_only", pg.dsn, redis_url=redis.url)


def _metric(t, name):
	return dw.metrics_values(t.metrics()).get(name, 0)


def _pg_count(ctl, pg, db, coll):
	"""Rows PostgreSQL holds for (tenant, coll); 0 when no tenant ever created the table."""
	if pg.psql("SELECT to_regclass('%s') IS NOT NULL" % coll).strip() != "t":
		return 0
	return len(dw.dump(ctl, pg.dsn, db, coll))


def _refused(fn):
	with pytest.raises(OperationFailure) as e:
		fn()
	assert e.value.code == 13, e.value.details
	return e.value.details["errmsg"]


def test_unauthorized_writes_go_to_mongodb(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""(a) Unauthenticated, authorized on another database, or read-only:
	MongoDB's Unauthorized for every write; nothing reaches PostgreSQL."""
	db, other, users = tenant
	ctl = _ctl(tandem_bin)
	t = _start(start_tandem, authup, pg, redis)
	anon = _via(t)
	assert _refused(lambda: anon[db].things.insert_one({"_id": 1})) == "Command insert requires authentication"
	_refused(lambda: anon[db].things.update_one({"_id": 1}, {"$set": {"x": 1}}, upsert=True))
	_refused(lambda: anon[db].things.delete_many({}))
	_refused(lambda: anon[db].things.find_one_and_update({"_id": 1}, {"$set": {"x": 1}}))
	bob = _via(t, users["bob"], "bob")
	msg = _refused(lambda: bob[db].things.insert_one({"_id": 2}))
	assert msg.startswith("not authorized on %s to execute command { insert: " % db), msg
	_refused(lambda: bob[db].things.delete_one({"_id": 2}))
	rita = _via(t, users["rita"], "rita")
	_refused(lambda: rita[db].things.insert_one({"_id": 3}))
	assert rita[db].things.find_one() is None  # reads go to MongoDB, which allows them
	assert _pg_count(ctl, pg, db, "things") == 0
	assert _metric(t, "tandem_pgserve_writes_total") == 0
	assert _metric(t, "tandem_pgserve_write_errors_total") == 0
	assert _metric(t, "tandem_authz_not_served_total") >= 7
	assert _metric(t, "tandem_authz_privilege_queries_total") >= 2
	assert _metric(t, "tandem_authz_privilege_query_errors_total") == 0
	assert "upstream_auth_enforced" in t.log_text()
	for c in (anon, bob, rita):
		c.close()


def test_authorized_writes_are_served_by_postgres(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""(b) The tenant's own user: PostgreSQL answers (MongoDB stays empty in
	pg_only), for inserts, updates, upserts, deletes and findAndModify."""
	db, other, users = tenant
	ctl = _ctl(tandem_bin)
	t = _start(start_tandem, authup, pg, redis)
	alice = _via(t, users["alice"], "alice")
	c = alice[db].things
	c.insert_many([{"_id": i, "n": i} for i in range(5)])
	assert c.update_many({"n": {"$gte": 3}}, {"$inc": {"n": 10}}).modified_count == 2
	assert c.update_one({"_id": 9}, {"$set": {"n": 9}}, upsert=True).upserted_id == 9
	assert c.delete_one({"_id": 0}).deleted_count == 1
	assert c.find_one_and_update({"_id": 1}, {"$set": {"x": 1}})["_id"] == 1
	assert _pg_count(ctl, pg, db, "things") == 5
	assert _metric(t, "tandem_pgserve_writes_total") >= 5
	assert _metric(t, "tandem_authz_not_served_total") == 0
	root = _direct(authup, "root", "rootpw")
	assert root[db].things.count_documents({}) == 0, "pg_only: MongoDB is not written"
	root.close()
	alice.close()


def test_logout_then_write_is_refused(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""(c) After logout the same connection's write goes to MongoDB and is refused."""
	db, other, users = tenant
	ctl = _ctl(tandem_bin)
	t = _start(start_tandem, authup, pg, redis)
	alice = _via(t, users["alice"], "alice")
	alice[db].things.insert_one({"_id": 1})
	assert _pg_count(ctl, pg, db, "things") == 1
	served = _metric(t, "tandem_pgserve_writes_total")
	alice.admin.logout()
	_refused(lambda: alice[db].things.insert_one({"_id": 2}))
	assert _pg_count(ctl, pg, db, "things") == 1
	assert _metric(t, "tandem_pgserve_writes_total") == served
	alice.close()


def test_reauthentication_changes_the_answer(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""(d) One connection: bob (refused), logout, alice (served), logout, bob
	again (refused): each authentication is asked about anew."""
	db, other, users = tenant
	ctl = _ctl(tandem_bin)
	t = _start(start_tandem, authup, pg, redis)
	c = _via(t, users["bob"], "bob")
	_refused(lambda: c[db].things.insert_one({"_id": 1}))
	c.admin.logout()
	c.admin.authenticate(users["alice"], "alice")
	c[db].things.insert_one({"_id": 2})
	assert _pg_count(ctl, pg, db, "things") == 1
	c.admin.logout()
	c.admin.authenticate(users["bob"], "bob")
	_refused(lambda: c[db].things.insert_one({"_id": 3}))
	assert [d["_id"] for d in dw.dump(ctl, pg.dsn, db, "things")] == [2]
	assert _metric(t, "tandem_authz_privilege_queries_total") >= 5  # 3 authentications, 2 logouts
	stats = authup.stats()["nodes"][0]["commands"]
	assert stats.get("connectionStatus", 0) >= 5
	c.close()


NODE_SCRIPT = r"""
const { MongoClient } = require('mongodb');
(async () => {
  const [uri, db] = process.argv.slice(1);
  const out = {};
  const c = new MongoClient(uri, { maxPoolSize: 1, serverSelectionTimeoutMS: 10000 });
  try {
    await c.db(db).collection('things').insertOne({ _id: 'node' });
    out.inserted = true;
  } catch (e) { out.code = e.code; out.errmsg = e.message; }
  await c.close();
  console.log(JSON.stringify(out));
})().catch(e => { console.log(JSON.stringify({ fatal: String(e) })); process.exit(1); });
"""


def _node_insert(uri, db):
	if shutil.which("node") is None:
		pytest.fail("node is not installed")
	if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mongodb")):
		pytest.fail("tests/node/node_modules missing: run `npm ci` in tests/node")
	p = subprocess.run(["node", "-e", NODE_SCRIPT, uri, db], cwd=NODE_DIR, stdout=subprocess.PIPE,
		stderr=subprocess.PIPE, timeout=60)
	lines = p.stdout.decode(errors="replace").strip().splitlines()
	assert lines, "node printed nothing: %s" % p.stderr.decode()[-2000:]
	return json.loads(lines[-1])


def test_node_driver_speculative_authentication(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""The Node.js driver authenticates inside hello (speculative SCRAM-SHA-256):
	alice is served by PostgreSQL, bob gets MongoDB's Unauthorized."""
	db, other, users = tenant
	ctl = _ctl(tandem_bin)
	t = _start(start_tandem, authup, pg, redis)
	base = "mongodb://%s:%s@127.0.0.1:%d/?authSource=admin"
	res = _node_insert(base % (users["bob"], "bob", t.port), db)
	assert res.get("code") == 13, res
	res = _node_insert(base % (users["alice"], "alice", t.port), db)
	assert res.get("inserted") is True, res
	assert [d["_id"] for d in dw.dump(ctl, pg.dsn, db, "things")] == ["node"]
	assert _metric(t, "tandem_pgserve_writes_total") == 1


def test_upstream_without_authentication(start_tandem, upstream, pg, redis, tandem_bin, dbname):
	"""(e) The upstream does not enforce authentication: every connection is
	authorized, served writes work, and tandem says so once at start-up."""
	ctl = _ctl(tandem_bin)
	t = _start(start_tandem, upstream, pg, redis)
	c = _via(t)
	c[dbname].things.insert_one({"_id": 1})
	assert _pg_count(ctl, pg, dbname, "things") == 1
	assert _metric(t, "tandem_pgserve_writes_total") == 1
	log = [json.loads(line) for line in t.log_text().splitlines() if line.startswith("{")]
	warned = [l for l in log if l.get("event") == "upstream_auth_not_enforced"]
	assert len(warned) == 1 and warned[0]["level"] == "warn", warned
	c.close()


def test_revoked_role_is_seen_after_refresh(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""Privileges are asked again when older than authz.refresh_ms: a role
	revoked in MongoDB stops tandem from serving that connection's writes."""
	db, other, users = tenant
	ctl = _ctl(tandem_bin)
	t = dw.start_mode(start_tandem, authup.uri, "pg_only", pg.dsn, redis_url=redis.url,
		authz={"refresh_ms": 300})
	alice = _via(t, users["alice"], "alice")
	alice[db].things.insert_one({"_id": 1})
	time.sleep(0.5)  # past refresh_ms: the next request waits for fresh privileges
	alice[db].things.insert_one({"_id": 2})
	assert _pg_count(ctl, pg, db, "things") == 2
	assert _metric(t, "tandem_authz_privilege_queries_total") >= 2
	root = _direct(authup, "root", "rootpw")
	root.admin.command("revokeRolesFromUser", users["alice"], roles=[{"role": "readWrite", "db": db}])
	time.sleep(0.5)
	_refused(lambda: alice[db].things.insert_one({"_id": 3}))
	assert _pg_count(ctl, pg, db, "things") == 2
	assert _metric(t, "tandem_pgserve_writes_total") == 2
	assert root[db].things.count_documents({}) == 0
	root.close()
	alice.close()


def test_upstream_unreachable_at_start(start_tandem, pg, redis, tandem_bin, tmp_path, dbname):
	"""The upstream is down when tandem starts: authentication counts as
	enforced (logged), tandem asks again every 2 s, and once the upstream
	answers without enforcing it, served writes work."""
	ctl = _ctl(tandem_bin)
	port = servers.free_port()
	t = dw.start_mode(start_tandem, "mongodb://127.0.0.1:%d/" % port, "pg_only", pg.dsn,
		redis_url=redis.url)
	servers.wait_until(lambda: "upstream_auth_unknown" in t.log_text(), timeout=10,
		what="tandem to log the upstream's authentication as unknown")
	up = servers.RefMongo(str(tmp_path / "late"), extra_args=["--port", str(port)])
	try:
		servers.wait_until(lambda: "upstream_auth_not_enforced" in t.log_text(), timeout=15,
			what="tandem to find the upstream open")
		c = _via(t)
		c[dbname].things.insert_one({"_id": 1})
		assert _pg_count(ctl, pg, dbname, "things") == 1
		assert pymongo.MongoClient(up.uri)[dbname].things.count_documents({}) == 0
		c.close()
	finally:
		up.stop()


def test_unreadable_privileges_leave_the_decision_to_mongodb(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""tandem's connectionStatus fails (failCommand): the connection is
	UNKNOWN, so even the tenant's own user's write goes to MongoDB (which
	accepts it) and PostgreSQL gets it only as MongoDB's acknowledged write."""
	db, other, users = tenant
	ctl = _ctl(tandem_bin)
	t = _start(start_tandem, authup, pg, redis)
	root = _direct(authup, "root", "rootpw")
	root.admin.command("configureFailPoint", "failCommand", mode={"times": 1},
		data={"failCommands": ["connectionStatus"], "errorCode": 8000})
	alice = _via(t, users["alice"], "alice")
	alice[db].things.insert_one({"_id": 1})
	assert _metric(t, "tandem_authz_privilege_query_errors_total") == 1
	assert _metric(t, "tandem_authz_not_served_total") == 1
	assert _metric(t, "tandem_pgserve_writes_total") == 0
	assert root[db].things.count_documents({}) == 1, "MongoDB answered the write"
	servers.wait_until(lambda: _pg_count(ctl, pg, db, "things") == 1, timeout=10,
		what="the captured write to reach PostgreSQL")
	root.close()
	alice.close()


def _labelled(t, family, label):
	"""The value of family{...label...} in /metrics (sum over matching series)."""
	total = 0.0
	for line in t.metrics().splitlines():
		if line.startswith(family + "{") and label in line:
			total += float(line.rsplit(" ", 1)[1])
	return total


def test_unauthorized_reads_are_never_served_by_postgresql(start_tandem, authup, pg, redis, tandem_bin, tenant):
	"""Issue 11: at read_pct 100 an unauthenticated client and a client
	authorized only on another database get MongoDB's Unauthorized (13) for
	find, count, distinct and aggregate; the tenant's own reader is served
	by PostgreSQL."""
	db, other, users = tenant
	t = dw.start_mode(start_tandem, authup.uri, "dual_write", pg.dsn, redis_url=redis.url,
		defaults={"read_pct": "100"})
	alice = _via(t, users["alice"], "alice")
	alice[db].things.insert_many([{"_id": i, "v": i % 3} for i in range(20)])
	dw.wait_applied(t)
	before = _labelled(t, "tandem_shift_reads_total", 'backend="pg"')
	assert sorted(d["_id"] for d in alice[db].things.find({"v": 1})) == [1, 4, 7, 10, 13, 16, 19]
	assert alice[db].things.count_documents({}) == 20
	assert _labelled(t, "tandem_shift_reads_total", 'backend="pg"') >= before + 2, \
		"the authorized reader was not served by PostgreSQL"
	served = _labelled(t, "tandem_shift_reads_total", 'backend="pg"')
	refused = _labelled(t, "tandem_shift_fallback_total", 'reason="unauthorized"')
	for client in (_via(t), _via(t, users["bob"], "bob")):
		coll = client[db].things
		_refused(lambda: coll.find_one({"_id": 1}))
		_refused(lambda: list(coll.find({})))
		_refused(lambda: coll.count_documents({}))
		_refused(lambda: coll.distinct("v"))
		_refused(lambda: list(coll.aggregate([{"$group": {"_id": "$v", "n": {"$sum": 1}}}])))
	assert _labelled(t, "tandem_shift_reads_total", 'backend="pg"') == served, \
		"an unauthorized read was answered from PostgreSQL"
	assert _labelled(t, "tandem_shift_fallback_total", 'reason="unauthorized"') >= refused + 10
