"""rowstore against a real PostgreSQL 15: documents stored with rowstore_put
(through the hidden `tandemctl dump --load FILE --twice --echo`) and read back
with rowstore_select + rowstore_decode (`tandemctl dump`) must come back
byte-identical, for the default table and for conf/mapping.yaml's users,
plans and orders (typed columns, child and junction tables).  Every put's
statements run twice, and a second load of the same file changes nothing:
the writes are idempotent.  TANDEM_ROWSTORE_SEED replays a run."""
import datetime
import os
import random
import subprocess

import pytest

bson = pytest.importorskip("bson")
from bson import json_util  # noqa: E402
from bson.binary import Binary  # noqa: E402
from bson.code import Code  # noqa: E402
from bson.decimal128 import Decimal128  # noqa: E402
from bson.int64 import Int64  # noqa: E402
from bson.max_key import MaxKey  # noqa: E402
from bson.min_key import MinKey  # noqa: E402
from bson.objectid import ObjectId  # noqa: E402
from bson.regex import Regex  # noqa: E402
from bson.timestamp import Timestamp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAPPING = os.path.join(ROOT, "conf", "mapping.yaml")
# subtype 3/4 binaries stay Binary (not uuid.UUID, which would re-encode differently)
CANON = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL,
			      uuid_representation=bson.binary.UuidRepresentation.UNSPECIFIED)
SEED = int(os.environ.get("TANDEM_ROWSTORE_SEED", random.randrange(1 << 30)))


@pytest.fixture
def tandemctl(tandem_bin):
	ctl = os.path.join(os.path.dirname(os.path.dirname(tandem_bin)), "tools", "tandemctl")
	if not os.path.exists(ctl):
		pytest.skip("tandemctl not built next to tandem")
	return ctl


@pytest.fixture
def db(pg):
	name = "rowstore_%d_%d" % (os.getpid(), random.randrange(1 << 30))
	pg.psql("CREATE DATABASE %s" % name)
	dsn = pg.dsn.replace("dbname=postgres", "dbname=" + name)
	yield dsn
	pg.psql("DROP DATABASE IF EXISTS %s" % name)


def run(*args):
	return subprocess.run(list(args), capture_output=True, text=True, timeout=300)


# ---- random documents ------------------------------------------------------

KEYS = ["a", "b", "a.b", "x$y", "", "~o", "~t", "~~", "~c", "ключ", "😀", "tab\tnl\n", "q\"uote", "back\\"]


def rnd_text(r):
	pieces = ["a", "Z", " ", '"', "\\", "{", "}", ",", "NULL", "\n", "é", "€", "😀", "日", "\x01", "\x00"]
	return "".join(r.choice(pieces) for _ in range(r.choice([0, 1, 3, 8, 40])))


def rnd_scalar(r, depth=0):
	k = r.randrange(22)
	if k == 0:
		return r.choice([0.0, -0.0, 1.5, 0.1, 1e300, -1e-300, 5e-324, float("inf"), float("-inf"), float("nan"), 12.345])
	if k == 1:
		return r.randrange(-2 ** 31, 2 ** 31)
	if k == 2:
		return Int64(r.choice([0, 5, -7, 2 ** 40, -2 ** 63, 2 ** 63 - 1]))
	if k == 3:
		return Decimal128(r.choice(["1.00", "1.0", "-0", "NaN", "-Infinity", "12345678901234567890.123", "1E+3", "0.001"]))
	if k == 4:
		return rnd_text(r)
	if k == 5:
		return ObjectId()
	if k == 6:
		return r.choice([True, False])
	if k == 7:
		return None
	if k == 8:
		return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=r.randrange(-2 ** 41, 2 ** 41))
	if k == 9:
		return Binary(bytes(r.randrange(256) for _ in range(r.randrange(20))), r.choice([0, 1, 2, 5, 128]))
	if k == 10:
		return Regex(rnd_text(r).replace("\x00", ""), r.choice(["", "i", "imsx"]))
	if k == 11:
		return Timestamp(r.randrange(1 << 32), r.randrange(1 << 32))
	if k == 12:
		return r.choice([MinKey(), MaxKey()])
	if k == 13:  # libbson 1.23's JSON reader builds invalid BSON for $code inside arrays
		return Code("function(){}") if depth == 0 else "code"
	if k == 14:
		return Binary(bytes(r.randrange(256) for _ in range(16)), r.choice([3, 4]))
	return r.choice(["cart", "x", "", "NULL", "日本"])


def rnd_value(r, depth):
	k = r.randrange(10)
	if depth < 3 and k == 0:
		return rnd_doc(r, depth + 1)
	if depth < 3 and k == 1:
		return [rnd_value(r, depth + 1) for _ in range(r.randrange(4))]
	return rnd_scalar(r, depth)


def rnd_doc(r, depth=0):
	return {r.choice(KEYS) + str(r.randrange(3)): rnd_value(r, depth) for _ in range(r.randrange(5))}


def maybe(r, d, key, value, p=0.8):
	if r.random() < p:
		d[key] = value


def shuffled(r, d):
	items = list(d.items())
	r.shuffle(items)
	return dict(items)


def rnd_any_id(r):
	return r.choice([ObjectId(), ObjectId(), "k%d" % r.randrange(10 ** 9), Int64(r.randrange(10 ** 12)), r.randrange(10 ** 6)])


def money(r):
	return r.choice([Decimal128("%d.%02d" % (r.randrange(10 ** 6), r.randrange(100))), r.randrange(1000),
			 r.randrange(100) + 0.25, Int64(r.randrange(10 ** 9))])


def mapped_doc(r, coll, i):
	"""A document of coll that satisfies the mapping's constraints (NOT NULL,
	enum CHECK, unique) but otherwise varies types, order and presence."""
	d = {"_id": rnd_any_id(r)}
	if coll == "users":
		d["email"] = "user%d@example.com" % i
		maybe(r, d, "name", r.choice([rnd_text(r).replace("\x00", ""), 42, None]))
		maybe(r, d, "status", r.choice(["invited", "active", "suspended", 7, None]) if r.random() < 0.5 else "active")
		maybe(r, d, "createdAt", r.choice([datetime.datetime(2020, 1, 2, 3, 4, 5, 678000), "yesterday", None]))
		maybe(r, d, "lastLogin", r.choice([
			shuffled(r, {"at": datetime.datetime(1999, 12, 31, 23, 59, 59, 999000), "count": r.choice([3, Int64(4), 2.0, 2 ** 40, "x"]), "ip": "::1"}),
			"never", None]))
		maybe(r, d, "settings", r.choice([rnd_doc(r), rnd_value(r, 1)]))
	elif coll == "plans":
		d["code"] = "plan-%d" % i
		maybe(r, d, "title", rnd_text(r).replace("\x00", ""))
		maybe(r, d, "price", r.choice([{"monthly": money(r), "yearly": money(r)}, {"monthly": 12.345}, 5]))
		maybe(r, d, "active", r.choice([True, False, "yes", None]))
		maybe(r, d, "sections", r.choice([
			[shuffled(r, {"heading": rnd_text(r).replace("\x00", ""), "body": r.choice(["b", 3]), "order": r.choice([1, Int64(2), 2.5, None])})
			 for _ in range(r.randrange(4))],
			[{"heading": "h"}, "not a document"], []]))
	else:
		d["userId"] = ObjectId()
		d["status"] = r.choice(["cart", "placed", "paid", "shipped"])
		d["total"] = money(r)
		maybe(r, d, "currency", r.choice(["EUR", "USD", 5]))
		maybe(r, d, "tags", r.choice([[rnd_text(r).replace("\x00", "") for _ in range(r.randrange(4))], ["a", 1], "t"]))
		maybe(r, d, "placedAt", r.choice([datetime.datetime(2024, 2, 29, 12, 0, 0, 1000), None, 17]))
		maybe(r, d, "shipping", {"address": r.choice([{"city": rnd_text(r).replace("\x00", ""), "zip": "1"}, {"city": 5}]), "by": "post"})
		maybe(r, d, "items", [shuffled(r, {"sku": "sku-%d" % r.randrange(100), "qty": r.choice([1, 2, Int64(3), "x"]),
						  "unitPrice": r.choice([money(r), "free"]), "note": rnd_value(r, 1)}) for _ in range(r.randrange(5))])
		maybe(r, d, "couponIds", r.choice([[ObjectId() for _ in range(r.randrange(4))], [ObjectId(), "x"]]))
	extra = rnd_doc(r)
	for k, v in extra.items():
		d.setdefault(k, v)
	first = d.pop("_id")
	rest = shuffled(r, d)
	return dict([("_id", first)] + list(rest.items())) if r.random() < 0.7 else dict(list(rest.items()) + [("_id", first)])


# ---- the round trip ----------------------------------------------------------

def echoed_docs(stderr):
	"""The documents --echo wrote to stderr, without libraries' warnings
	(libmongoc prints "Falling back to malloc for counters." when it cannot
	map its shared-memory counters)."""
	return [line for line in stderr.splitlines() if line.startswith("{")]


def load_and_dump(tandemctl, dsn, coll, docs, tmp_path, tenant="t1"):
	f = tmp_path / ("%s_%s.jsonl" % (coll, tenant))
	f.write_text("".join(json_util.dumps(d, json_options=CANON) + "\n" for d in docs))
	r = run(tandemctl, "dump", "--pg", dsn, "--mapping", MAPPING, "--tenant", tenant, "--collection", coll,
		"--load", str(f), "--twice", "--echo")
	assert r.returncode == 0, "seed %d: %s" % (SEED, r.stderr[-3000:])
	return r.stdout.splitlines(), echoed_docs(r.stderr)


def check_collection(tandemctl, dsn, coll, docs, tmp_path, pg_count):
	dumped, echoed = load_and_dump(tandemctl, dsn, coll, docs, tmp_path)
	assert len(dumped) == len(docs), "seed %d" % SEED
	# libbson's canonical Extended JSON of what was put == of what came back
	assert sorted(dumped) == sorted(echoed), "seed %d: documents differ" % SEED
	# and byte-identical BSON once more through pymongo's codec
	want = sorted(bson.encode(d) for d in docs)
	got = sorted(bson.encode(json_util.loads(line, json_options=CANON)) for line in dumped)
	assert got == want, "seed %d" % SEED
	counts = pg_count()
	again, _ = load_and_dump(tandemctl, dsn, coll, docs, tmp_path)  # idempotent
	assert again == dumped
	assert pg_count() == counts
	return dumped


def test_rowstore_roundtrip_default_and_mapped_tables(tandemctl, db, tmp_path):
	r = run(tandemctl, "schema", "--mapping", MAPPING, "--collection", "events", "--apply", "--pg", db)
	assert r.returncode == 0, r.stderr
	rng = random.Random(SEED)

	def count():
		out = subprocess.run(["psql", "-X", "-At", db, "-c",
				      "select (select count(*) from events) || ',' || (select count(*) from users) || ',' || "
				      "(select count(*) from plans) || ',' || (select count(*) from plan_sections) || ',' || "
				      "(select count(*) from orders) || ',' || (select count(*) from order_items) || ',' || "
				      "(select count(*) from order_coupons)"], capture_output=True, text=True, timeout=60)
		return out.stdout.strip()

	events = []
	for _ in range(300):
		d = rnd_doc(rng)
		d.pop("_id", None)
		events.append(dict([("_id", rnd_any_id(rng))] + list(d.items())))
	ids = set()
	events = [d for d in events if not (json_util.dumps(d["_id"]) in ids or ids.add(json_util.dumps(d["_id"])))]
	check_collection(tandemctl, db, "events", events, tmp_path, count)
	for coll in ("users", "plans", "orders"):
		docs, ids = [], set()
		for i in range(200):
			d = mapped_doc(rng, coll, i)
			key = json_util.dumps(d["_id"])
			if key not in ids:
				ids.add(key)
				docs.append(d)
		check_collection(tandemctl, db, coll, docs, tmp_path, count)
	totals = [int(x) for x in count().split(",")]
	assert totals[3] > 50 and totals[5] > 50 and totals[6] > 50, "child/junction rows were written: %s" % totals
	# typed columns really hold the values (not only extras)
	n = subprocess.run(["psql", "-X", "-At", db, "-c", "select count(*) from orders where total is not null and user_id is not null"],
			   capture_output=True, text=True, timeout=60).stdout.strip()
	assert int(n) == totals[4]


def test_rowstore_tenants_are_separate_and_filter_pushdown(tandemctl, db, tmp_path):
	r = run(tandemctl, "schema", "--mapping", MAPPING, "--collection", "events", "--apply", "--pg", db)
	assert r.returncode == 0, r.stderr
	a = [{"_id": ObjectId(), "n": i} for i in range(5)]
	b = [{"_id": d["_id"], "n": -1} for d in a[:3]]
	load_and_dump(tandemctl, db, "events", a, tmp_path, "ta")
	dumped_b, _ = load_and_dump(tandemctl, db, "events", b, tmp_path, "tb")
	assert len(dumped_b) == 3
	r = run(tandemctl, "dump", "--pg", db, "--tenant", "ta", "--collection", "events",
		"--filter", json_util.dumps({"_id": {"$in": [a[1]["_id"], a[4]["_id"]]}}))
	assert r.returncode == 0, r.stderr
	got = [json_util.loads(line) for line in r.stdout.splitlines()]
	assert sorted(d["n"] for d in got) == [1, 4]
	r = run(tandemctl, "dump", "--pg", db, "--tenant", "ta", "--collection", "events",
		"--filter", json_util.dumps({"n": {"$gt": 2}}))
	assert len(r.stdout.splitlines()) == 5, "a filter that is not on _id reads every row (superset)"


EVERY_TYPE = """version: 1
collections:
  things:
    id: %s
    columns:
      c_uuid: {type: uuid}
      c_text: {type: text}
      c_int4: {type: int4}
      c_int8: {type: int8}
      c_float8: {type: float8}
      c_num: {type: numeric}
      c_num2: {type: 'numeric(6,3)', source: n.two}
      c_bool: {type: bool}
      c_ts: {type: timestamptz}
      c_json: {type: jsonb}
      c_bytes: {type: bytea}
      c_tags: {type: 'text[]'}
    children:
      kids: {columns: {k_int8: {type: int8}, k_f: {type: float8}, k_ts: {type: timestamptz}}}
    junctions:
      refs_t: {type: text}
      refs_i: {type: int8}
      refs_o: {type: uuid}
"""

EDGES = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, float("nan"), float("inf"),
	 float("-inf"), 0.1, 123.456, -2.5, 2 ** 53, 2 ** 31 - 1, -2 ** 31, Int64(2 ** 53), Int64(-2 ** 63),
	 Int64(2 ** 63 - 1), Decimal128("0.001"), Decimal128("-123.450"), Decimal128("1E+2"), Decimal128("-0.000"),
	 Decimal128("9999999999999999999999999999999999"), Decimal128("1E-6176"), Decimal128("999.999"),
	 datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59, 999000),
	 datetime.datetime(1969, 12, 31, 23, 59, 59, 999000), datetime.datetime(2000, 2, 29, 0, 0, 0, 1000),
	 Binary(b"", 0), Binary(b"\x00\xff", 128), Binary(b"x" * 16, 4), ["a", "", "NULL", "{\"}", " x "], [],
	 "", "x\"y\\z", "NULL", True, False, None]


def test_rowstore_every_column_type_on_postgres(tandemctl, db, tmp_path):
	rng = random.Random(SEED)
	for kind in ("objectid", "any"):
		mapping = tmp_path / ("every_%s.yaml" % kind)
		mapping.write_text(EVERY_TYPE % kind)
		run(tandemctl, "schema", "--mapping", str(mapping), "--apply", "--pg", db)
		cols = ["c_uuid", "c_text", "c_int4", "c_int8", "c_float8", "c_num", "c_bool", "c_ts", "c_json",
			"c_bytes", "c_tags"]
		docs = []
		for i in range(250):
			d = {"_id": ObjectId() if kind == "objectid" else rnd_any_id(rng)}
			for c in cols:
				if rng.random() < 0.8:
					d[c] = rng.choice(EDGES + [ObjectId(), rnd_value(rng, 1)])
			d["n"] = {"two": rng.choice(EDGES)}
			d["kids"] = [{"k_int8": rng.choice(EDGES), "k_f": rng.choice(EDGES), "k_ts": rng.choice(EDGES)}
				     for _ in range(rng.randrange(3))]
			d["refs_t"] = [rng.choice(["a", "", "NULL", "b c"]) for _ in range(rng.randrange(3))]
			d["refs_i"] = rng.choice([[1, 2], [Int64(5), Int64(-2 ** 63)], [1, Int64(2)], []])
			d["refs_o"] = [ObjectId() for _ in range(rng.randrange(3))]
			if kind == "any" and any(json_util.dumps(d["_id"]) == json_util.dumps(x["_id"]) for x in docs):
				continue
			docs.append(shuffled(rng, d))
		f = tmp_path / ("things_%s.jsonl" % kind)
		f.write_text("".join(json_util.dumps(d, json_options=CANON) + "\n" for d in docs))
		db_tenant = "t_" + kind
		r = run(tandemctl, "dump", "--pg", db, "--mapping", str(mapping), "--tenant", db_tenant,
			"--collection", "things", "--load", str(f), "--twice", "--echo")
		assert r.returncode == 0, "seed %d: %s" % (SEED, r.stderr[-3000:])
		dumped, echoed = r.stdout.splitlines(), echoed_docs(r.stderr)
		assert len(dumped) == len(docs)
		assert sorted(dumped) == sorted(echoed), "seed %d" % SEED
		# the edge values really went to typed columns for the most part
		out = subprocess.run(["psql", "-X", "-At", db, "-c",
				      "select count(c_float8) + count(c_num) + count(c_ts) + count(c_bytes) + count(c_tags) "
				      "from things where tenant_id = '%s'" % db_tenant], capture_output=True, text=True, timeout=60)
		assert int(out.stdout.strip()) > len(docs) // 2, out
		subprocess.run(["psql", "-X", "-q", db, "-c", "DROP TABLE things CASCADE; DROP TABLE things_kids, "
				"things_refs_t, things_refs_i, things_refs_o"], capture_output=True, timeout=60)


# ---- filter push-down: the SQL never drops a document match.h matches -------

PUSH_MAPPING = """version: 1
collections:
  pd:
    id: any
    columns:
      c_int4: {type: int4}
      c_int8: {type: int8}
      c_f8: {type: float8}
      c_num: {type: numeric}
      c_money: {type: 'numeric(12,2)', source: n.money}
      c_text: {type: text}
      c_bool: {type: bool, default: true}
      c_ts: {type: timestamptz}
      c_uuid: {type: uuid}
      c_def: {type: int8, default: 7}
    children:
      kids: {columns: {k: {type: int8}}}
    junctions:
      refs: {type: text}
"""
PUSH_OIDS = ['{"$oid": "507f1f77bcf86cd799439011"}', '{"$oid": "507f1f77bcf86cd799439012"}']


def _j(s):
	return json_util.dumps(s)


PUSH_SCALARS = (
	['{"$numberInt": "%d"}' % k for k in (-2, 0, 1, 2, 3, 2147483647)]
	+ ['{"$numberLong": "%d"}' % k for k in (-2, 0, 2, 3, 2 ** 53 + 1, 2 ** 63 - 1, -2 ** 63)]
	+ ['{"$numberDouble": "%s"}' % d for d in ("2.0", "2.5", "-0.0", "0.0", "1e300", "NaN", "Infinity",
						   "-Infinity", "0.1", "9007199254740992.0", "9.3e18", "5e-324",
						   "-2.5", "3.0000000000000004")]
	+ ['{"$numberDecimal": "%s"}' % d for d in ("2", "2.00", "2.5", "-0", "NaN", "Infinity", "1E+3", "0.001",
						    "1E-6176", "12345678901234567890.123", "0.1",
						    "2.000000000000000000000000000000001", "-1E-6000")]
	+ [_j(s) for s in ("a", "b", "ab", "", "\u00e9", "\U0001f600", "A", "z", "a\u0000b", "~t")]
	+ ['{"$date": {"$numberLong": "%d"}}' % ms for ms in (0, 1, -1, 1700000000000, 253402300800000,
								  -62135596800001, -62135596800000)]
	+ ["true", "false", "null"] + PUSH_OIDS)


PUSH_NATURAL = {"int": PUSH_SCALARS[:34], "str": [s for s in PUSH_SCALARS if s.startswith('"')],
		"date": [s for s in PUSH_SCALARS if "$date" in s], "bool": ["true", "false"], "oid": PUSH_OIDS}
PUSH_KIND = {"c_int4": "int", "c_int8": "int", "c_f8": "int", "c_num": "int", "c_def": "int", "n.money": "int",
	     "c_text": "str", "u_s": "str", "a": "str", "b": "int", "c_bool": "bool", "u_b": "bool", "c": "bool",
	     "c_ts": "date", "c_uuid": "oid"}


def push_value(r, depth=0, field=None):
	"""Mostly a value of the field's natural type (so filters are selective), else anything."""
	k = r.random()
	if depth == 0 and k < 0.1:
		return "[" + ", ".join(push_value(r, 1, field) for _ in range(r.randrange(3))) + "]"
	if field in PUSH_KIND and k < 0.7:
		return r.choice(PUSH_NATURAL[PUSH_KIND[field]])
	return r.choice(PUSH_SCALARS)


PUSH_FIELDS = ["c_int4", "c_int8", "c_f8", "c_num", "c_text", "c_bool", "c_ts", "c_uuid", "c_def", "u_s", "u_b", "kids", "refs"]


def push_doc(r, i, fields):
	parts = ['"_id": {"$numberInt": "%d"}' % i]
	for f in fields:
		if r.random() < 0.85:
			parts.append('"%s": %s' % (f, push_value(r, 0, f)))
	if "c_int4" in fields:
		n = r.random()
		if n < 0.5:
			parts.append('"n": {"money": %s}' % push_value(r, 0, "n.money"))
		elif n < 0.6:
			parts.append('"n": [{"money": %s}]' % push_value(r, 0, "n.money"))
		elif n < 0.7:
			parts.append('"n": %s' % push_value(r))
	r.shuffle(parts)
	return "{" + ", ".join(parts) + "}"


def push_cond(r, fields):
	f = r.choice(fields)
	op = r.choice(["lit", "$eq", "$gt", "$gte", "$lt", "$lte", "$in", "range", "$ne", "$or"])
	if op == "lit":
		return '"%s": %s' % (f, push_value(r, 0, f))
	if op == "$in":
		return '"%s": {"$in": [%s]}' % (f, ", ".join(push_value(r, 1, f) for _ in range(r.randrange(4))))
	if op == "range":
		return '"%s": {"$gt": %s, "$lte": %s}' % (f, push_value(r, 1, f), push_value(r, 1, f))
	if op == "$or":  # not pushed; ANDed with the rest
		return '"$or": [{"%s": %s}, {"%s": %s}]' % (f, push_value(r), r.choice(fields), push_value(r))
	return '"%s": {"%s": %s}' % (f, op, push_value(r, 1, f))


def push_filter(r, fields):
	conds = [push_cond(r, fields) for _ in range(1 + r.randrange(2))]
	if r.random() < 0.2:
		return '{"$and": [{%s}, {%s}]}' % (conds[0], push_cond(r, fields))
	return "{" + ", ".join(conds) + "}"


@pytest.fixture
def match_probe(tandem_bin):
	path = os.path.join(os.path.dirname(os.path.dirname(tandem_bin)), "tests", "clients", "match_probe")
	if not os.path.exists(path):
		pytest.skip("match_probe not built next to tandem")
	return path


def check_pushdown(tandemctl, match_probe, db, mapping, coll, docs, filters, tmp_path):
	f = tmp_path / ("%s.jsonl" % coll)
	f.write_text("".join(d + "\n" for d in docs))
	base = [tandemctl, "dump", "--pg", db, "--mapping", str(mapping), "--tenant", "t1", "--collection", coll]
	r = run(*(base + ["--load", str(f)]))
	assert r.returncode == 0, "seed %d: %s" % (SEED, r.stderr[-3000:])
	every = r.stdout
	assert len(every.splitlines()) == len(docs)
	read = matched = 0
	for flt in filters:
		want = subprocess.run([match_probe, flt], input=every, capture_output=True, text=True, timeout=60)
		assert want.returncode == 0, "seed %d %s: %s" % (SEED, flt, want.stderr)
		got = run(*(base + ["--filter", flt]))
		assert got.returncode == 0, "seed %d %s: %s" % (SEED, flt, got.stderr[-2000:])
		missing = set(want.stdout.splitlines()) - set(got.stdout.splitlines())
		assert not missing, "seed %d: filter %s dropped %s" % (SEED, flt, sorted(missing)[:3])
		# the rows read, matched in C, give exactly the matches over all rows
		again = subprocess.run([match_probe, flt], input=got.stdout, capture_output=True, text=True, timeout=60)
		assert again.stdout == want.stdout, "seed %d %s" % (SEED, flt)
		read += len(got.stdout.splitlines())
		matched += len(want.stdout.splitlines())
	return read, matched


@pytest.fixture
def icu_db(pg):
	"""A database whose default collation is ICU en-US (not byte order, 'a' < 'B'), when
	the server has ICU; else the server's default."""
	name = "pushdown_%d_%d" % (os.getpid(), random.randrange(1 << 30))
	try:
		pg.psql("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
			"ICU_LOCALE 'en-US' LOCALE 'C.utf8'" % name)
	except Exception:
		pg.psql("CREATE DATABASE %s" % name)
	yield pg.dsn.replace("dbname=postgres", "dbname=" + name)
	pg.psql("DROP DATABASE IF EXISTS %s" % name)


def test_rowstore_pushdown_never_drops_a_match(tandemctl, match_probe, icu_db, tmp_path):
	"""Random documents (every number type incl. NaN, -0.0, huge decimals; strings incl.
	unicode and NUL; dates past the column's range; arrays; values of the wrong type)
	and random filters of the pushed shapes mixed with un-pushed ones: the rows the
	pushed-down SELECT returns hold every document match.h matches among ALL rows."""
	db = icu_db
	rng = random.Random(SEED)
	mapping = tmp_path / "push.yaml"
	mapping.write_text(PUSH_MAPPING)
	r = run(tandemctl, "schema", "--mapping", str(mapping), "--collection", "ev", "--apply", "--pg", db)
	assert r.returncode == 0, r.stderr
	n, nf = int(os.environ.get("TANDEM_PUSH_DOCS", 400)), int(os.environ.get("TANDEM_PUSH_FILTERS", 250))
	fields = PUSH_FIELDS + ["n.money", "n"]
	docs = [push_doc(rng, i, PUSH_FIELDS) for i in range(n)]
	filters = [push_filter(rng, fields) for _ in range(nf)]
	read, matched = check_pushdown(tandemctl, match_probe, db, mapping, "pd", docs, filters, tmp_path)
	assert 0 < matched < read < 0.85 * n * nf, "mapped: push-down reads %d of %d rows" % (read, n * nf)
	dfields = ["a", "b", "c"]
	docs = [push_doc(rng, i, dfields) for i in range(n)]
	filters = [push_filter(rng, dfields) for _ in range(nf)]
	read, matched = check_pushdown(tandemctl, match_probe, db, mapping, "ev", docs, filters, tmp_path)
	assert 0 < matched < read < 0.95 * n * nf, "default: push-down reads %d of %d rows" % (read, n * nf)


def test_rowstore_pushdown_is_selective_on_clean_data(tandemctl, match_probe, icu_db, tmp_path):
	"""Documents whose fields all have the column's type: each selective filter reads
	exactly the matching rows (nothing is left to the C matcher)."""
	mapping = tmp_path / "push.yaml"
	mapping.write_text(PUSH_MAPPING)
	r = run(tandemctl, "schema", "--mapping", str(mapping), "--collection", "ev", "--apply", "--pg", icu_db)
	assert r.returncode == 0, r.stderr
	words = ["apple", "Banana", "cherry", "\u00e9clair", "\U0001f600"]
	docs = ['{"_id": %d, "c_int4": %d, "c_int8": {"$numberLong": "%d"}, "c_f8": %d.5, "c_num": {"$numberDecimal": "%d.25"}, '
		'"n": {"money": {"$numberDecimal": "%d.10"}}, "c_text": "%s", "c_bool": %s, "c_ts": {"$date": {"$numberLong": "%d"}}, '
		'"c_uuid": %s, "c_def": %d, "u_s": "%s", "u_b": %s}'
		% (i, i % 50, i * 1000, i % 10, i % 20, i % 30, words[i % 5], "true" if i % 3 else "false",
		   1700000000000 + i * 1000, PUSH_OIDS[i % 2], i % 7, words[(i + 1) % 5], "true" if i % 4 else "false")
		for i in range(1000)]
	filters = ['{"c_int4": 7}', '{"c_int8": {"$gte": 990000}}', '{"c_f8": {"$lt": 1}}', '{"c_num": 3.25}',
		   '{"n.money": {"$in": [{"$numberDecimal": "1.10"}, {"$numberDecimal": "2.10"}]}}', '{"c_text": "cherry"}',
		   '{"c_text": {"$gt": "b", "$lt": "c"}}', '{"c_bool": false, "c_int4": {"$lt": 10}}',
		   '{"c_ts": {"$lt": {"$date": {"$numberLong": "1700000010000"}}}}', '{"c_def": {"$in": [1, 2.5]}}',
		   '{"$and": [{"c_int4": {"$gt": 40}}, {"c_int8": {"$lt": 100000}}]}', '{"u_s": "apple", "u_b": false}',
		   '{"c_uuid": %s, "c_int4": 0}' % PUSH_OIDS[1]]
	f = tmp_path / "clean.jsonl"
	f.write_text("".join(d + "\n" for d in docs))
	base = [tandemctl, "dump", "--pg", icu_db, "--mapping", str(mapping), "--tenant", "t1", "--collection", "pd"]
	r = run(*(base + ["--load", str(f)]))
	assert r.returncode == 0, r.stderr[-2000:]
	for flt in filters:
		got = run(*(base + ["--filter", flt]))
		want = subprocess.run([match_probe, flt], input=r.stdout, capture_output=True, text=True, timeout=60)
		assert got.returncode == 0 and want.returncode == 0, got.stderr + want.stderr
		assert got.stdout == want.stdout, "%s: read %d rows, %d match" % (
			flt, len(got.stdout.splitlines()), len(want.stdout.splitlines()))
		assert len(got.stdout.splitlines()) <= 200, flt
