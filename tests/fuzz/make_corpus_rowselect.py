#!/usr/bin/python3
"""Write the seed corpus of fuzz_rowselect into tests/fuzz/corpus_rowselect/.

A seed is one filter document (BSON), as a client sends it.  The column
names are those of fuzz_rowselect.c's mapping (c_i4 int4, n.i8 int8, c_f8
float8, c_num numeric, price.amount numeric(12,2), c_text / c_status /
a.b.c.d text, c_bool bool, at timestamptz, owner uuid, tags text[], c_json
jsonb, kids (child), refs / ownerIds (junctions)); other keys exercise the
default table's jsonb containment and the mapped table's extras.
Run with Debian's python3:  /usr/bin/python3 tests/fuzz/make_corpus_rowselect.py
"""
import datetime
import hashlib
import os
import re

import bson
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.son import SON

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus_rowselect")

OID = ObjectId("507f1f77bcf86cd799439011")
UTC = datetime.timezone.utc
DAY = datetime.datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
LOW = datetime.datetime(1, 1, 1, tzinfo=UTC)

FILTERS = [
    {},
    {"_id": OID},
    {"_id": {"$in": [OID, 7, "s", 2.0, Int64(9)]}},
    {"_id": {"$eq": "abc"}, "c_text": "x"},
    {"_id": 1.5},
    SON([("c_i4", {"$gt": 3, "$lte": Int64(100)}), ("n.i8", {"$gte": -2.5, "$lt": 2 ** 62})]),
    {"c_i4": 2 ** 31, "n.i8": {"$gt": 9.3e18}},
    {"n.i8": {"$lt": Decimal128("-9223372036854775809")}},
    {"c_f8": {"$gt": Decimal128("0.1"), "$lt": float("inf")}},
    {"c_f8": {"$in": [1, 2.5, Int64(2 ** 53 + 1), Decimal128("1E+400"), "x"]}},
    {"c_f8": float("nan")},
    {"c_num": {"$gte": Decimal128("12.34"), "$lte": Decimal128("1E+901")}},
    {"c_num": {"$in": [0, -0.0, Decimal128("-0E-6176"), 1e-320, Decimal128("1E-901")]}},
    {"price.amount": {"$eq": Decimal128("99.99")}, "c_num": 0},
    {"c_text": {"$gt": "a'b", "$lt": "z\\\"q"}},
    {"c_text": {"$in": ["O'Reilly", "back\\slash", "quote\"d", "caf\u00e9", "\u2603\U0001f600", ""]}},
    {"c_status": "done", "a.b.c.d": {"$gte": "m"}},
    {"c_bool": {"$in": [True, False]}, "c_ts": {"$gte": DAY}},
    {"at": {"$gt": DAY, "$lt": LOW}},
    {"at": {"$in": [DAY, LOW, None]}},
    {"owner": OID, "ownerIds": OID},
    {"owner": {"$in": [OID, "not an oid"]}},
    {"tags": "red", "refs": "r1", "kids": {"$elemMatch": {"k_i8": 1}}},
    {"c_json": {"k": 1}, "c_bytes": b"\x00\x01"},
    {"$and": [{"c_i4": {"$gt": 1}}, {"$and": [{"c_text": "deep"}, {"name": "n'1"}]}]},
    {"$or": [{"c_i4": 1}, {"c_text": "x"}], "$nor": [{"a": 1}]},
    {"name": "plain", "flag": True, "off": {"$eq": False}},
    {"name": {"$in": ["a", "b"]}, "city": {"$ne": "x"}, "n": {"$exists": True}},
    {"nested": {"doc": {"x": "y"}}, "arr": [1, "two", {"three": 3}]},
    {"dotted.key": "v", "$where": "x", "~tilde": "t", "unicode\u00e9": "caf\u00e9 'q' \\ \""},
    {"re": re.compile("^ab"), "c_text": {"$regex": "x", "$options": "i"}},
    {"c_i4": {"$not": {"$gt": 5}}, "c_text": {"$nin": ["a"]}},
    {"c_i4": None, "c_text": {"$eq": None}},
    {"c_text": "x" * 1100, "long": "y" * 1024},
    {"$and": [{"$and": [{"$and": [{"$and": [{"c_num": {"$gt": 1}}]}]}]}]},
    {"c_i4": {"$in": [1, 2, Int64(3), 4.0, Decimal128("5"), 5.5, "s", DAY]}},
    {"c_num": {"$in": list(range(70))}},
]


def dup_keys(*pairs):
    """A document with repeated keys (a dict cannot hold them)."""
    body = b"".join(bson.BSON.encode({k: v})[4:-1] for k, v in pairs)
    return (len(body) + 5).to_bytes(4, "little") + body + b"\0"


RAW = [
    dup_keys(("c_i4", 1), ("c_i4", {"$lt": 0})),
    dup_keys(("_id", 1), ("_id", 2), ("name", "a"), ("name", "b")),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for data in [bson.BSON.encode(f) for f in FILTERS] + RAW:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(OUT, name), "wb") as out:
            out.write(data)


if __name__ == "__main__":
    main()
