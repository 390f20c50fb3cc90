#!/usr/bin/python3
"""Write the seed corpus of fuzz_readexec into tests/fuzz/corpus_readexec/.

A seed is a read command followed by candidate documents, all BSON back to
back (see fuzz_readexec.c).  Commands cover find (filter, sort, skip, limit,
projection with inclusion/exclusion/$slice/$elemMatch/positional/literals),
count, distinct and aggregate, plus a few commands that are skipped or
invalid.  Run with Debian's python3:  /usr/bin/python3 tests/fuzz/make_corpus_readexec.py
"""
import hashlib
import os

import bson
from bson.son import SON

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus_readexec")

DOCS = [
    {"_id": 1, "a": 3, "b": [1, 5], "s": "x"},
    {"_id": 2, "a": 1, "b": 2, "c": {"d": [{"e": 1}, {"e": 2}]}},
    {"_id": 3, "b": [], "a": None},
    {"_id": 4, "a": 2.5, "b": {"c": 1}, "t": [[1, 2], 3]},
    {"_id": 5, "a": bson.int64.Int64(1), "b": [{"c": 2}, {"c": 1}]},
]

COMMANDS = [
    SON([("find", "c"), ("filter", {"a": {"$gte": 1}}), ("sort", SON([("a", -1), ("_id", 1)]))]),
    SON([("find", "c"), ("sort", {"b": 1}), ("skip", 1), ("limit", 2), ("projection", {"a": 1})]),
    SON([("find", "c"), ("projection", {"b": {"$slice": [1, 1]}, "_id": 0})]),
    SON([("find", "c"), ("filter", {"b": 5}), ("projection", {"b.$": 1})]),
    SON([("find", "c"), ("projection", SON([("b", {"$elemMatch": {"c": 1}}), ("a", 1)]))]),
    SON([("find", "c"), ("projection", SON([("x", "lit"), ("c.d.e", 1)]))]),
    SON([("find", "c"), ("projection", {"c.d": 0})]),
    SON([("find", "c"), ("sort", SON([("b.c", 1), ("a", 1)]))]),
    SON([("find", "c"), ("sort", {"a": 1}), ("batchSize", 2)]),
    SON([("count", "c"), ("query", {"a": {"$exists": True}}), ("skip", 1), ("limit", -2)]),
    SON([("count", "c")]),
    SON([("distinct", "c"), ("key", "b.c"), ("query", {})]),
    SON([("distinct", "c"), ("key", "t")]),
    SON([("aggregate", "c"), ("pipeline", [{"$match": {"a": 1}}]), ("cursor", {})]),
    SON([("find", "c"), ("collation", {"locale": "fr"})]),
    SON([("find", "c"), ("sort", {"a": 2})]),
    SON([("find", "c"), ("projection", {"a": 1, "b": 0})]),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, cmd in enumerate(COMMANDS):
        data = bson.BSON.encode(cmd) + b"".join(bson.BSON.encode(d) for d in DOCS[: 2 + i % 4])
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
