"""Self-tests of refsum: the reference upstream's $sum/$avg add doubles as
mongod does (double-double summation), on the vectors and with the expected
values of tests/unit/test_summation.c, so refmongo and tandem's C engine
agree bit for bit when they add the same numbers in the same order.

  /usr/bin/python3 -m pytest -q tests/upstream/test_refsum.py
"""

import math
import os
import random
import sys

import mongomock
import pytest
from bson.int64 import Int64

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import refsum  # noqa: E402
import servers  # noqa: E402

# test_summation.c's MIXED, MIXED_SUM, MIXED_NAIVE, MIXED_AVG
MIXED = [
	-64581136152.0, 42993.8456, 0.382, 3891146.37642, -1936.0, -12000206098.88,
	147657.9, -1286904.1202, 3165952001.0, 6025.78316, -3787303252.894821, -48755206563.8,
	-1566601.4, 0.2109, 84221011819.0, -1616494.812, -11023272.0, -2803219141.69504,
	29.2, 279660314.688361, 0.399, -248268.6, -13230.1, 6043247.437048,
]
MIXED_SUM = -44266072680.079575
MIXED_NAIVE = -44266072680.07956
MIXED_AVG = -1844419695.0033157


def dd_sum(values):
	s = refsum.DoubleDouble()
	for v in values:
		s.add_double(v)
	return s.double()


def naive(values):
	s = 0.0
	for v in values:
		s += v
	return s


@pytest.fixture
def coll():
	refsum.install()
	return mongomock.MongoClient().db.c


def group(coll, values, acc="$sum", expr="$x"):
	coll.delete_many({})
	coll.insert_many([{"x": v} for v in values])
	out = list(coll.aggregate([{"$group": {"_id": None, "r": {acc: expr}}}]))
	return out[0]["r"]


# ---------------------------------------------------------------- the algorithm

def test_double_double_where_naive_differs():
	assert naive([1e16, 1.0, 1.0, -1e16]) == 0.0
	assert dd_sum([1e16, 1.0, 1.0, -1e16]) == 2.0
	assert naive([0.1] * 10) == 0.9999999999999999
	assert dd_sum([0.1] * 10) == 1.0
	assert dd_sum([0.1, 0.2, 0.3]) == 0.6
	assert naive(MIXED) == MIXED_NAIVE
	assert dd_sum(MIXED) == MIXED_SUM == math.fsum(MIXED)


def test_last_addend_is_not_added_as_mongod():
	s = refsum.DoubleDouble()
	for v in (1e16, 1.0, -1e16):
		s.add_double(v)
	assert (s.double(), s.addend) == (0.0, 1.0)
	assert dd_sum([1e16, -1e16, 1.0]) == 1.0


def test_mixed_same_in_every_order():
	rng = random.Random(7)
	values = list(MIXED)
	for _ in range(2000):
		rng.shuffle(values)
		assert dd_sum(values) == MIXED_SUM


def test_long_halves_and_edges():
	s = refsum.DoubleDouble()
	s.add_long((1 << 63) - 1)
	assert s.sum == 2.0 ** 63 and s.fits_long() and s.long() == (1 << 63) - 1
	s.add_long(1)
	assert not s.fits_long()
	s = refsum.DoubleDouble()
	s.add_long(-(1 << 53) - 3)  # truncating split of a negative value
	assert s.fits_long() and s.long() == -(1 << 53) - 3


def test_nan_and_infinities():
	assert dd_sum([1.0, math.inf, 5.0]) == math.inf
	assert math.isnan(dd_sum([math.inf, 1.0, -math.inf]))
	assert math.isnan(dd_sum([1.0, math.nan, 2.0]))
	assert dd_sum([1e308, 1e308, -1e308]) == math.inf
	assert dd_sum([-math.inf, -1e308, 1.0]) == -math.inf


# ---------------------------------------------------------------- through mongomock

def test_group_sum_and_avg(coll):
	assert group(coll, [1e16, 1.0, 1.0, -1e16]) == 2.0
	assert group(coll, [1e16, 1.0, 1.0, -1e16], "$avg") == 0.5
	assert group(coll, [1e16, 1.0, -1e16]) == 0.0
	assert group(coll, [1e16, -1e16, 1.0]) == 1.0
	assert group(coll, [0.1] * 10) == 1.0
	assert group(coll, [0.1] * 10, "$avg") == 0.1
	assert group(coll, MIXED) == MIXED_SUM
	assert group(coll, MIXED, "$avg") == MIXED_AVG


def test_group_result_types(coll):
	r = group(coll, [2147483647, 1])
	assert type(r) is Int64 and r == 2147483648
	r = group(coll, [Int64(1), 2])
	assert type(r) is Int64 and r == 3
	r = group(coll, [Int64((1 << 63) - 1), Int64(1)])
	assert type(r) is float and r == 2.0 ** 63
	r = group(coll, [1, 0.5, 2])
	assert type(r) is float and r == 3.5
	r = group(coll, [1, True, "x", None, [5]])  # only numbers count
	assert type(r) is int and r == 1
	assert group(coll, ["x"], "$avg") is None
	assert group(coll, [1, 2], "$avg") == 1.5


def test_project_sum_and_avg(coll):
	coll.insert_one({"_id": 1, "xs": [1e16, 1.0, 1.0, -1e16], "a": 0.1, "b": 0.2})
	out = list(coll.aggregate([{"$project": {
		"s": {"$sum": "$xs"}, "v": {"$avg": "$xs"}, "two": {"$sum": ["$a", "$b", "$nope", "$xs"]},
		"none": {"$sum": "$nope"}, "empty": {"$avg": "$nope"}}}]))
	assert out == [{"_id": 1, "s": 2.0, "v": 0.5, "two": dd_sum([0.1, 0.2]), "none": 0, "empty": None}]


# ---------------------------------------------------------------- through refmongo

def test_refmongo_serves_mongods_sum(tmp_path):
	srv = servers.RefMongo(str(tmp_path))
	try:
		docs = [{"_id": i, "x": v} for i, v in enumerate([1e16, 1.0, 1.0, -1e16])]
		servers.raw_command(srv.host, srv.port, {"insert": "c", "documents": docs, "$db": "t"})
		reply = servers.raw_command(srv.host, srv.port, {"aggregate": "c", "cursor": {}, "$db": "t",
			"pipeline": [{"$group": {"_id": None, "s": {"$sum": "$x"}, "a": {"$avg": "$x"}}}]})
		assert reply["cursor"]["firstBatch"] == [{"_id": None, "s": 2.0, "a": 0.5}]
	finally:
		srv.stop()
