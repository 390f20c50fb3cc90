"""Reads served by PostgreSQL (issue 11, shift/): a tenant in dual_write
whose read_pct is raised with a plain Redis HSET gets its reads answered
by tandem from PostgreSQL, in MongoDB's format, with tandem-owned cursors.

- the same client-visible results at read_pct 0 and 100 (pymongo, the
  Node.js driver, mongosh, libmongoc), and the metrics prove PostgreSQL
  answered (a test passing because everything fell back proves nothing);
- read_pct 25: the served share over 10 000 reads is 25 +- 2 %;
- PostgreSQL stopped mid-run: served reads fall back, 0 client errors;
- read-your-writes while PostgreSQL is slow;
- bad input: forged cursor ids, huge batchSize, killCursors of both
  backends, a hostile filter.

Every test starts its own tandem (conftest.py: reference upstream, real
PostgreSQL and Redis); the PostgreSQL-down test starts its own PostgreSQL.
"""

import json
import os
import re
import signal
import subprocess
import time
import uuid

import bson
import pymongo
import pytest
from bson.int64 import Int64
from pymongo.errors import OperationFailure

import dualwrite_helpers as dw
import servers

SETTLE_S = 1.1   # flags.poll_ms is 100 ms; HSET is seen well within this
LABELED = re.compile(r'^(tandem_shift_[a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$')


def shift_metrics(t):
	"""{family: {labels: value}} for the labelled tandem_shift_* series."""
	out = {}
	for line in t.metrics().splitlines():
		m = LABELED.match(line)
		if m:
			out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
	return out


def served(t, backend="pg"):
	return sum(v for k, v in shift_metrics(t).get("tandem_shift_reads_total", {}).items()
		if 'backend="%s"' % backend in k)


def fallbacks(t):
	return {re.sub(r'reason="([^"]*)"', r"\1", k): v
		for k, v in shift_metrics(t).get("tandem_shift_fallback_total", {}).items() if v}


def set_read_pct(redis_url, tenant, pct):
	dw.redis_command(redis_url, "HSET", "tandem:tenant:%s" % tenant, "read_pct", str(pct))
	time.sleep(SETTLE_S)


def start(start_tandem, upstream, dsn, redis, **shift):
	return dw.start_mode(start_tandem, upstream.uri, "dual_write", dsn, redis.url,
		shift=dict({"timeout_ms": 5000}, **shift), defaults={"write_mode": "dual_write"})


def seed(client, dbname, n=1000):
	db = client[dbname]
	db.things.insert_many([{"_id": i, "i": i, "k": "k%d" % (i % 7), "g": i % 5,
		"tags": ["t%d" % (i % 3), "u%d" % (i % 2)], "sub": {"x": i % 11}} for i in range(n)])
	db.owners.insert_many([{"_id": g, "name": "owner%d" % g} for g in range(5)])


def scenarios(db):
	"""Every read shape of the issue; returns {name: client-visible result}."""
	c = db.things
	out = {}
	out["filter_proj_sort_skip_limit"] = list(c.find({"i": {"$gte": 100}}, {"k": 1, "i": 1})
		.sort([("k", 1), ("i", -1)]).skip(10).limit(40))
	out["find_one"] = c.find_one({"_id": 17})
	for bs in (0, 1, 7, None):
		cur = c.find({}).sort("i", 1)
		if bs is not None:
			cur = cur.batch_size(bs)
		out["cursor_bs_%s" % bs] = [d["_id"] for d in cur]
	out["limit_with_batch"] = [d["_id"] for d in c.find({"g": 1}).sort("i", 1).limit(23).batch_size(5)]
	cur = c.find({}).sort("i", 1).batch_size(5)
	out["killed_first"] = [next(cur)["_id"] for _ in range(3)]
	cur.close()
	out["count_documents"] = c.count_documents({"g": {"$in": [1, 2]}})
	out["count_skip_limit"] = c.count_documents({}, skip=5, limit=100)
	out["estimated"] = c.estimated_document_count()
	out["distinct"] = sorted(c.distinct("k"))
	out["distinct_filter"] = sorted(c.distinct("sub.x", {"g": 3}))
	out["group"] = sorted(c.aggregate([{"$group": {"_id": "$g", "n": {"$sum": 1}, "m": {"$max": "$i"}}}]),
		key=lambda d: d["_id"])
	out["unwind"] = list(c.aggregate([{"$match": {"i": {"$lt": 20}}}, {"$unwind": "$tags"},
		{"$sort": {"i": 1, "tags": 1}}, {"$project": {"_id": 0, "i": 1, "tags": 1}}]))
	out["lookup"] = list(c.aggregate([{"$match": {"i": {"$lt": 12}}}, {"$sort": {"i": 1}},
		{"$lookup": {"from": "owners", "localField": "g", "foreignField": "_id", "as": "owner"}},
		{"$project": {"i": 1, "owner.name": 1}}]))
	out["agg_cursor"] = [d["_id"] for d in c.aggregate([{"$sort": {"i": -1}}], batchSize=50)]
	return out


def test_pymongo_same_results_at_0_and_100(start_tandem, upstream, pg, redis, dbname):
	dsn = dw.make_pg_db(pg, "shift_%s" % uuid.uuid4().hex[:8])
	t = start(start_tandem, upstream, dsn, redis)
	client = pymongo.MongoClient(t.uri)
	seed(client, dbname)
	dw.wait_applied(t)
	set_read_pct(redis.url, dbname, 0)
	at0 = scenarios(client[dbname])
	assert served(t) == 0
	set_read_pct(redis.url, dbname, 100)
	before = served(t)
	at100 = scenarios(client[dbname])
	n_pg = served(t) - before
	fb = fallbacks(t)
	print("\nserved by PostgreSQL: %d reads; fallbacks %s; getMores %s" % (n_pg, fb,
		dw.metrics_values(t.metrics()).get("tandem_shift_getmores_total")))
	for name in at0:
		assert at100[name] == at0[name], name
	assert n_pg >= 15, "reads served by PostgreSQL: %d (fallbacks %s)" % (n_pg, fb)
	assert not fb, fb
	m = dw.metrics_values(t.metrics())
	assert m.get("tandem_shift_getmores_total", 0) > 1000 / 7
	assert m.get("tandem_shift_cursors_open", 0) == 0   # every cursor drained or killed
