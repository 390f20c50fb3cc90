"""tools/demo.py - tandem's main job end to end, on one machine.

Starts the reference upstream as a two-node replica set, PostgreSQL, Redis
and tandem (all on loopback, free ports), then runs a small multi-tenant
workload through tandem with pymongo and mongosh: CRUD, a cursor over
several batches, an aggregation, a transaction, and a failover of the
upstream primary while the application keeps writing.  Every write is
dual-written to PostgreSQL and compared; then reads are shadowed on
PostgreSQL (and a row changed behind tandem's back is caught), one
tenant's reads shift to PostgreSQL (25 %, then 100 %), and that tenant moves
to pg_primary.  Prints what it sees and tandem's own status; stops
everything it started.

Run by tools/demo.sh (which installs and builds first).
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import pymongo  # noqa: E402
from servers import Postgres, Redis, RefMongo, Tandem  # noqa: E402

import bson.json_util  # noqa: E402
import bson.son  # noqa: E402

CANON = bson.json_util.JSONOptions(json_mode=bson.json_util.JSONMode.CANONICAL, document_class=bson.son.SON)

TANDEM = os.environ.get("TANDEM_BIN", os.path.join(ROOT, "build", "proxy", "tandem"))
TANDEMCTL = os.path.join(os.path.dirname(os.path.dirname(TANDEM)), "tools", "tandemctl")
MONGOSH = os.path.join(ROOT, "tests", "node", "node_modules", ".bin", "mongosh")


def step(text):
    print("\n== " + text, flush=True)


def workload(client):
    for tenant in ("acme", "globex"):
        db = client["tenant_" + tenant]
        db.users.drop()
        db.orders.drop()
        db.users.insert_many([{"email": "%s-%d@example.com" % (tenant, i), "plan": "pro" if i % 3 else "free",
                               "tags": ["t%d" % (i % 4)]} for i in range(50)])
        db.orders.insert_many([{"user": i % 50, "total": round(9.99 * (i % 7 + 1), 2), "status": "open"}
                               for i in range(120)])
        db.orders.update_many({"total": {"$gt": 40}}, {"$set": {"status": "review"}})
        db.users.update_one({"email": "%s-0@example.com" % tenant}, {"$push": {"tags": "vip"}})
        db.orders.delete_many({"status": "open", "total": {"$lt": 10}})
        seen = sum(1 for _ in db.orders.find({}, batch_size=25))
        by_status = {d["_id"]: d["n"] for d in db.orders.aggregate(
            [{"$group": {"_id": "$status", "n": {"$sum": 1}}}])}
        print("  tenant %-7s users=%d orders=%d (read back in batches of 25: %d) by status=%s" % (
            tenant, db.users.count_documents({}), db.orders.count_documents({}), seen, by_status))


def transaction(client):
    db = client.tenant_acme
    with client.start_session() as s:
        with s.start_transaction():
            db.orders.insert_one({"user": 1, "total": 1.0, "status": "txn"}, session=s)
            db.users.update_one({"email": "acme-1@example.com"}, {"$set": {"plan": "enterprise"}}, session=s)
    print("  committed: txn orders=%d, acme-1 plan=%s" % (
        db.orders.count_documents({"status": "txn"}), db.users.find_one({"email": "acme-1@example.com"})["plan"]))


def failover(client, upstream):
    db = client.tenant_globex
    upstream.set_primary(1)
    print("  upstream primary moved to node 1 (%s)" % upstream.hosts[1])
    ok = 0
    deadline = time.monotonic() + 20
    while ok < 20 and time.monotonic() < deadline:
        try:
            db.events.insert_one({"n": ok})
            ok += 1
        except pymongo.errors.PyMongoError as e:
            print("  (driver saw %s; retrying)" % type(e).__name__)
            time.sleep(0.2)
    print("  %d writes after failover; the driver knows only %s" % (ok, sorted(client.nodes)))


def compare_postgres(t, pg, upstream):
    """Wait until the applier has nothing pending, then read every tenant's
    collections back from PostgreSQL (tandemctl dump) and compare them with
    what the upstream holds, document by document."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = t.metrics()
        if "\ntandem_dualwrite_pending 0" in m and "\ntandem_dualwrite_queue_depth 0" in m:
            break
        time.sleep(0.1)
    direct = pymongo.MongoClient(upstream.uri, serverSelectionTimeoutMS=10000,
                                 document_class=bson.son.SON)
    same = True
    for tenant in ("tenant_acme", "tenant_globex"):
        for coll in sorted(direct[tenant].list_collection_names()):
            want = [bson.json_util.dumps(d, json_options=CANON) for d in direct[tenant][coll].find()]
            out = subprocess.run([TANDEMCTL, "dump", "--pg", pg.dsn, "--tenant", tenant, "--collection", coll],
                                 capture_output=True, text=True, timeout=60)
            got = [bson.json_util.dumps(bson.json_util.loads(line, json_options=CANON), json_options=CANON)
                   for line in out.stdout.splitlines() if line.strip()]
            equal = sorted(want) == sorted(got)
            same = same and equal
            print("  %s.%-7s MongoDB %4d documents, PostgreSQL %4d, identical: %s" % (
                tenant, coll, len(want), len(got), "yes" if equal else "NO"))
    if not same:
        raise SystemExit("demo: PostgreSQL differs from MongoDB")


def redis_hset(redis, tenant, field, value):
    subprocess.run(["redis-cli", "-u", redis.url, "HSET", "tandem:tenant:" + tenant, field, str(value)],
                   check=True, capture_output=True, timeout=10)
    time.sleep(1.1)  # a flag change reaches every tandem within 1 s


def shadow_totals(t):
    out = {}
    for line in t.metrics().splitlines():
        if line.startswith("tandem_shadow_") and "{" in line and not line.startswith("tandem_shadow_latency"):
            name = line.split("{", 1)[0]
            out[name] = out.get(name, 0) + float(line.rsplit(" ", 1)[1])
    return out


def shadow(t, pg, redis, client):
    """shadow_pct 100 for tenant_acme: its reads also run on PostgreSQL."""
    redis_hset(redis, "tenant_acme", "shadow_pct", 100)
    db = client["tenant_acme"]
    for i in range(50):
        list(db.orders.find({"user": i}).sort("total", -1))
        db.users.count_documents({"plan": "pro"})
        list(db.orders.aggregate([{"$match": {"user": {"$lt": i}}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]))
    time.sleep(1)
    print("  %s" % {k.replace("tandem_shadow_", ""): int(v) for k, v in sorted(shadow_totals(t).items())})
    # a row changed in PostgreSQL behind tandem's back
    subprocess.run(["psql", "-X", "-q", pg.dsn, "-c",
                    "UPDATE users SET doc = jsonb_set(doc, '{plan}', '\"gold\"') "
                    "WHERE tenant_id = 'tenant_acme' AND doc->>'email' = 'acme-1@example.com'"],
                   check=True, capture_output=True, timeout=30)
    db.users.find_one({"email": "acme-1@example.com"})
    time.sleep(1)
    print("  after changing one row in PostgreSQL directly, tandemctl mismatches tenant_acme:")
    out = subprocess.run([TANDEMCTL, "mismatches", "tenant_acme", "--redis", redis.url, "--limit", "1"],
                         capture_output=True, text=True, timeout=30)
    print("  " + (out.stdout.strip() or out.stderr.strip()))


def shift_reads(t, redis, client, upstream):
    """tandemctl shift: a share of tenant_globex's reads is answered by PostgreSQL."""
    def served():
        out = {"pg": 0, "mongo": 0}
        for line in t.metrics().splitlines():
            if line.startswith('tandem_shift_reads_total{tenant="tenant_globex"'):
                out["pg" if 'backend="pg"' in line else "mongo"] += int(float(line.rsplit(" ", 1)[1]))
        return out

    db = client["tenant_globex"]
    direct = pymongo.MongoClient(upstream.uri)["tenant_globex"]
    for pct in (25, 100):
        out = subprocess.run([TANDEMCTL, "shift", "tenant_globex", str(pct), "--redis", redis.url],
                             capture_output=True, text=True, timeout=30)
        print("  $ tandemctl shift tenant_globex %d" % pct)
        for line in (out.stdout or out.stderr).strip().splitlines()[:2]:
            print("    " + line)
        time.sleep(0.2)  # a flag change reaches every tandem within 100 ms
        before = served()
        for i in range(400):
            db.users.find_one({"email": "globex-%d@example.com" % (i % 40)})
        after = served()
        pg, mongo = after["pg"] - before["pg"], after["mongo"] - before["mongo"]
        print("  400 reads: %d answered by PostgreSQL, %d by MongoDB (%.1f %%)" % (pg, mongo, 100.0 * pg / max(pg + mongo, 1)))
    cursor = list(db.orders.find({}).sort("_id", 1).batch_size(7))
    same = cursor == list(direct.orders.find({}).sort("_id", 1))
    print("  a cursor over %d orders in batches of 7 (getMores answered by tandem): same as MongoDB's: %s" % (
        len(cursor), same))
    if not same:
        raise SystemExit("demo: a read served by PostgreSQL differs from MongoDB's")
    subprocess.run([TANDEMCTL, "shift", "tenant_globex", "0", "--redis", redis.url], capture_output=True, timeout=30)


def pg_primary(t, redis, client, upstream):
    """tenant_globex moves to pg_primary: PostgreSQL answers its writes."""
    redis_hset(redis, "tenant_globex", "write_mode", "pg_primary")
    db = client["tenant_globex"]
    r = db.orders.update_many({"status": "review"}, {"$set": {"status": "approved"}})
    dup = "no duplicate-key error: unexpected"
    try:
        db.users.insert_one({"_id": db.users.find_one()["_id"], "email": "dup@example.com"})
    except pymongo.errors.DuplicateKeyError as e:
        dup = "E11000 from PostgreSQL: %s" % str(e)[:60]
    direct = pymongo.MongoClient(upstream.uri)["tenant_globex"].orders.count_documents({"status": "approved"})
    print("  update_many answered by PostgreSQL: matched %d, modified %d; MongoDB behind it holds %d approved" % (
        r.matched_count, r.modified_count, direct))
    print("  " + dup)


def main():
    work = tempfile.mkdtemp(prefix="tandem-demo-")
    started = []
    try:
        step("starting the reference upstream (replica set rs0, 2 nodes), PostgreSQL and Redis")
        upstream = RefMongo(os.path.join(work, "upstream"), replset="rs0", nodes=2)
        started.append(upstream)
        pg = Postgres()
        started.append(pg)
        redis = Redis()
        started.append(redis)
        print("  upstream %s\n  postgres %s\n  redis    %s" % (upstream.uri, pg.dsn, redis.url))

        step("starting tandem")
        t = Tandem(TANDEM, upstream.uri, os.path.join(work, "tandem"), advertise="{listen}",
                   pg=pg.dsn, redis=redis.url, defaults={"write_mode": "dual_write"},
                   dualwrite={"spool_path": os.path.join(work, "tandem.spool")})
        started.append(t)
        print("  applications connect to mongodb://127.0.0.1:%d/?replicaSet=rs0" % t.port)
        print("  admin endpoint %s (/metrics, /healthz)" % t.admin_url)

        client = pymongo.MongoClient("mongodb://127.0.0.1:%d/?replicaSet=rs0" % t.port,
                                     serverSelectionTimeoutMS=10000, retryWrites=True)
        step("multi-tenant workload through tandem (pymongo)")
        workload(client)
        step("a multi-document transaction through tandem")
        transaction(client)
        if os.path.exists(MONGOSH):
            step("mongosh through tandem")
            out = subprocess.run([MONGOSH, "mongodb://127.0.0.1:%d/tenant_acme" % t.port, "--quiet", "--eval",
                                  "print('  mongosh sees ' + db.users.countDocuments({plan: 'pro'}) + ' pro users')"],
                                 capture_output=True, text=True, timeout=60)
            print(out.stdout.rstrip() or out.stderr.rstrip())
        step("failover: the upstream elects another primary while the application writes")
        failover(client, upstream)
        client.close()

        step("dual-write: PostgreSQL holds what MongoDB acknowledged")
        compare_postgres(t, pg, upstream)

        client = pymongo.MongoClient("mongodb://127.0.0.1:%d/?replicaSet=rs0" % t.port,
                                     serverSelectionTimeoutMS=10000)
        step("shadow reads: tenant_acme's reads also run on PostgreSQL and are compared")
        shadow(t, pg, redis, client)
        step("shifting reads: tenant_globex's reads move to PostgreSQL (25 %, then 100 %)")
        shift_reads(t, redis, client, upstream)
        step("pg_primary: PostgreSQL answers tenant_globex's writes, MongoDB follows")
        pg_primary(t, redis, client, upstream)
        client.close()

        step("tandemctl status")
        subprocess.run([TANDEMCTL, "--admin", t.admin_url.replace("http://", ""), "status"], timeout=10)
        step("a few of tandem's metrics")
        for line in t.metrics().splitlines():
            if line.startswith(("tandem_commands_total", "tandem_hello_rewrites_total",
                                "tandem_topology_primary_changes_total", "tandem_dualwrite_applied_total",
                                "tandem_dualwrite_resyncs_total", "tandem_dualwrite_transactions_committed_total",
                                "tandem_dualwrite_queued_total")) and not line.endswith(" 0"):
                print("  " + line)
        print("\ndemo finished: every request went through tandem; see %s for its JSON log" % t.log_path)
        return 0
    finally:
        for srv in reversed(started):
            srv.stop()


if __name__ == "__main__":
    sys.exit(main())
