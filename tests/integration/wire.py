"""Tiny MongoDB wire helpers for tests that speak raw bytes.

Only what the tests need: OP_MSG / OP_COMPRESSED encoding, reading one whole
message from a socket, and decoding an OP_MSG body.  bson comes from Debian's
python3-pymongo.
"""
import socket
import struct
import zlib

import bson

OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG = 1, 2004, 2012, 2013
MORE_TO_COME, EXHAUST_ALLOWED = 1 << 1, 1 << 16


def op_msg(doc, request_id=1, response_to=0, flags=0):
    body = struct.pack("<IB", flags, 0) + bson.BSON.encode(doc)
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, OP_MSG) + body


def op_compressed_zlib(msg):
    length, request_id, response_to, opcode = struct.unpack_from("<iiii", msg)
    data = zlib.compress(msg[16:])
    body = struct.pack("<iiB", opcode, len(msg) - 16, 2) + data
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, OP_COMPRESSED) + body


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def recv_msg(sock):
    """One whole message (header included) or ConnectionError on EOF."""
    head = recv_exact(sock, 16)
    (length,) = struct.unpack_from("<i", head)
    return head + recv_exact(sock, length - 16)


def header(msg):
    return struct.unpack_from("<iiii", msg)


def msg_flags(msg):
    return struct.unpack_from("<I", msg, 16)[0]


def msg_body(msg):
    """The kind-0 document of an uncompressed OP_MSG (first section only)."""
    assert header(msg)[3] == OP_MSG, header(msg)
    assert msg[20] == 0
    (blen,) = struct.unpack_from("<i", msg, 21)
    return bson.BSON(msg[21:21 + blen]).decode()


def connect(port, host="127.0.0.1", timeout=10):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
