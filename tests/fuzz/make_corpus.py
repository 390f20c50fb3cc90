#!/usr/bin/python3
"""Write the seed corpus of fuzz_wire into tests/fuzz/corpus/.

Seeds are whole wire messages: OP_MSG (plain, with checksum, with document
sequences, moreToCome/exhaustAllowed), OP_QUERY (handshake, $query wrapper,
fields selector), OP_REPLY, OP_COMPRESSED with each compressor, and a few
malformed ones so the error paths are covered from the start.

Snappy and zstd have no Python module on Debian here, so their seeds are
written by hand in the simplest valid form (snappy literals, a zstd frame of
one raw block); zlib uses Python's zlib.  BSON comes from pymongo's bson.

Run with Debian's python3:  /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import os
import struct
import zlib

import bson
from bson.son import SON

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def doc(d):
    return bson.BSON.encode(d)


def message(opcode, body, request_id=1, response_to=0):
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, opcode) + body


def op_msg(flags, body, seqs=(), checksum=False):
    data = struct.pack("<I", flags) + b"\x00" + doc(body)
    for ident, docs in seqs:
        payload = ident.encode() + b"\x00" + b"".join(doc(d) for d in docs)
        data += b"\x01" + struct.pack("<i", 4 + len(payload)) + payload
    if not checksum:
        return message(2013, data)
    msg = message(2013, data + b"\x00\x00\x00\x00")
    return msg[:-4] + struct.pack("<I", crc32c(msg[:-4]))


def op_query(ns, query, fields=None, flags=0, skip=0, nret=-1):
    data = struct.pack("<i", flags) + ns.encode() + b"\x00" + struct.pack("<ii", skip, nret)
    data += doc(query) + (doc(fields) if fields is not None else b"")
    return message(2004, data)


def op_reply(docs, cursor_id=0):
    data = struct.pack("<iqii", 8, cursor_id, 0, len(docs)) + b"".join(doc(d) for d in docs)
    return message(1, data, response_to=1)


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def snappy_literal(raw):
    out = varint(len(raw))
    for i in range(0, len(raw), 60):
        chunk = raw[i:i + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    return out


def zstd_raw_frame(raw):
    # magic, descriptor: single segment + 4-byte content size; one last raw block
    assert len(raw) < (1 << 21)
    header = struct.pack("<IB", 0xFD2FB528, 0xA0) + struct.pack("<I", len(raw))
    block = (len(raw) << 3) | 1  # last block, type raw
    return header + struct.pack("<I", block)[:3] + raw


def op_compressed(inner, comp_id, data):
    orig = struct.unpack("<i", inner[12:16])[0]
    body = struct.pack("<iiB", orig, len(inner) - 16, comp_id) + data
    return message(2012, body, request_id=9)


def seeds():
    hello = SON([("hello", 1), ("$db", "admin")])
    insert = op_msg(0, SON([("insert", "users"), ("ordered", True), ("$db", "test")]),
                    [("documents", [{"_id": i, "n": "u%d" % i} for i in range(3)])])
    yield "opmsg_hello", op_msg(0, hello)
    yield "opmsg_hello_checksum", op_msg(1, hello, checksum=True)
    yield "opmsg_insert_seq", insert
    yield "opmsg_update_two_seqs", op_msg(0x10000, SON([("update", "c"), ("$db", "d")]),
                                          [("updates", [{"q": {}, "u": {"$set": {"a": 1}}}]),
                                           ("extra", [])])
    yield "opmsg_more_to_come", op_msg(2, SON([("insert", "c"), ("$db", "d"),
                                                ("documents", [{"x": 1.5}])]))
    yield "opquery_ismaster", op_query("admin.$cmd", SON([("isMaster", 1),
                                                           ("client", {"driver": "x"})]))
    yield "opquery_wrapped", op_query("t.$cmd", SON([("$query", {"count": "c"}),
                                                      ("$readPreference", {"mode": "nearest"})]))
    yield "opquery_fields", op_query("t.users", {"a": {"$gt": 1}}, {"a": 1}, skip=2, nret=5)
    yield "opreply_two", op_reply([SON([("ismaster", True), ("ok", 1.0)]), {"n": 1}], 77)
    yield "opcomp_noop", op_compressed(insert, 0, insert[16:])
    yield "opcomp_snappy", op_compressed(insert, 1, snappy_literal(insert[16:]))
    yield "opcomp_zlib", op_compressed(insert, 2, zlib.compress(insert[16:]))
    yield "opcomp_zstd", op_compressed(insert, 3, zstd_raw_frame(insert[16:]))
    bad = bytearray(op_msg(1, hello, checksum=True))
    bad[-1] ^= 1
    yield "bad_checksum", bytes(bad)
    yield "bad_two_bodies", message(2013, struct.pack("<I", 0) + (b"\x00" + doc(hello)) * 2)
    yield "bad_short", b"\x10\x00\x00\x00\x01"


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
