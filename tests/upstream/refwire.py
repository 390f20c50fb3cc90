"""refwire: framing for the reference upstream (tests/upstream/refmongo.py).

What mockupdb does not do for us, done here without touching Debian's files:
  * read one message off a socket with header sanity (16 <= length <= 48 MB),
  * undo OP_COMPRESSED (zlib from the stdlib, snappy and zstd through ctypes on
    Debian's libsnappy / libzstd), remembering which compressor the client used,
  * check an OP_MSG's section layout (exactly one kind-0 section, kind-1
    sections in bounds, nothing trailing) and its CRC-32C when checksumPresent,
    before mockupdb's OpMsg.unpack merges the sections into one document,
  * build replies: OP_MSG (optionally with moreToCome, for exhaust streams,
    where each reply's responseTo is the previous reply's requestID) or
    OP_REPLY for legacy OP_QUERY commands, compressed like the request was.

Every parse error raises WireError; the caller closes that one connection.
"""

import ctypes
import ctypes.util
import itertools
import struct
import zlib

import bson
from mockupdb import OpMsg, OpQuery

from refstore import CODEC

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

MSG_CHECKSUM = 1
MSG_MORE_TO_COME = 2
MSG_EXHAUST_ALLOWED = 1 << 16

MAX_MESSAGE = 48000000
HEADER = struct.Struct("<iiii")


class WireError(Exception):
	"""A framing or parse error: the connection is closed."""


# ---------------------------------------------------------------- CRC-32C

def _crc32c_table():
	table = []
	for i in range(256):
		c = i
		for _ in range(8):
			c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
		table.append(c)
	return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
	"""CRC-32C (Castagnoli) of bytes, as OP_MSG checksums use."""
	c = 0xFFFFFFFF
	for b in data:
		c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
	return c ^ 0xFFFFFFFF


# ---------------------------------------------------------------- compression

class _Ctypes:
	"""Lazy ctypes bindings for snappy and zstd (None when absent)."""

	def __init__(self):
		self.snappy = self._load("snappy")
		self.zstd = self._load("zstd")

	@staticmethod
	def _load(name):
		path = ctypes.util.find_library(name)
		if not path:
			return None
		try:
			return ctypes.CDLL(path)
		except OSError:
			return None


_LIBS = _Ctypes()


def _snappy_compress(data):
	lib = _LIBS.snappy
	cap = ctypes.c_size_t(lib.snappy_max_compressed_length(ctypes.c_size_t(len(data))))
	out = ctypes.create_string_buffer(cap.value)
	if lib.snappy_compress(data, ctypes.c_size_t(len(data)), out, ctypes.byref(cap)) != 0:
		raise WireError("snappy compress failed")
	return out.raw[:cap.value]


def _snappy_uncompress(data, size):
	lib = _LIBS.snappy
	n = ctypes.c_size_t(size)
	out = ctypes.create_string_buffer(max(size, 1))
	if lib.snappy_uncompress(data, ctypes.c_size_t(len(data)), out, ctypes.byref(n)) != 0:
		raise WireError("snappy: corrupt data")
	return out.raw[:n.value]


def _zstd_compress(data):
	lib = _LIBS.zstd
	lib.ZSTD_compressBound.restype = ctypes.c_size_t
	lib.ZSTD_compress.restype = ctypes.c_size_t
	cap = lib.ZSTD_compressBound(ctypes.c_size_t(len(data)))
	out = ctypes.create_string_buffer(cap)
	n = lib.ZSTD_compress(out, ctypes.c_size_t(cap), data, ctypes.c_size_t(len(data)), 3)
	if lib.ZSTD_isError(ctypes.c_size_t(n)):
		raise WireError("zstd compress failed")
	return out.raw[:n]


def _zstd_uncompress(data, size):
	lib = _LIBS.zstd
	lib.ZSTD_decompress.restype = ctypes.c_size_t
	out = ctypes.create_string_buffer(max(size, 1))
	n = lib.ZSTD_decompress(out, ctypes.c_size_t(size), data, ctypes.c_size_t(len(data)))
	if lib.ZSTD_isError(ctypes.c_size_t(n)):
		raise WireError("zstd: corrupt data")
	return out.raw[:n]


def _zlib_uncompress(data, size):
	try:
		return zlib.decompress(data, bufsize=max(size, 1))
	except zlib.error as e:
		raise WireError("zlib: %s" % e)


# id -> (name, compress, uncompress)
COMPRESSORS = {0: ("noop", lambda d: d, lambda d, n: d)}
COMPRESSORS[2] = ("zlib", lambda d: zlib.compress(d, 6), _zlib_uncompress)
if _LIBS.snappy is not None:
	COMPRESSORS[1] = ("snappy", _snappy_compress, _snappy_uncompress)
if _LIBS.zstd is not None:
	COMPRESSORS[3] = ("zstd", _zstd_compress, _zstd_uncompress)
COMPRESSOR_IDS = {name: cid for cid, (name, _, _) in COMPRESSORS.items()}


def available_compressors():
	"""Names this process can speak, for the hello negotiation."""
	return [n for n in ("zstd", "snappy", "zlib") if n in COMPRESSOR_IDS]


# ---------------------------------------------------------------- reading

def _recv_exact(sock, n):
	chunks = []
	while n:
		chunk = sock.recv(min(n, 1 << 20))
		if not chunk:
			raise ConnectionResetError("peer closed")
		chunks.append(chunk)
		n -= len(chunk)
	return b"".join(chunks)


class Frame:
	"""One received message: header fields, the (decompressed) body and
	which compressor id the client used (None when uncompressed)."""

	def __init__(self, length, request_id, opcode, body, compressor):
		self.length = length
		self.request_id = request_id
		self.opcode = opcode
		self.body = body
		self.compressor = compressor


def read_frame(sock, max_message=MAX_MESSAGE):
	"""Read one message. Raises WireError on bad framing and
	ConnectionResetError when the peer closed."""
	header = _recv_exact(sock, 16)
	length, request_id, _response_to, opcode = HEADER.unpack(header)
	if length < 16 or length > max_message:
		raise WireError("bad message length %d" % length)
	body = _recv_exact(sock, length - 16)
	compressor = None
	if opcode == OP_COMPRESSED:
		if len(body) < 9:
			raise WireError("OP_COMPRESSED too short")
		opcode, size, compressor = struct.unpack("<iiB", body[:9])
		if compressor not in COMPRESSORS or size < 0 or size > max_message:
			raise WireError("OP_COMPRESSED: bad compressor %d or size %d" % (compressor, size))
		body = COMPRESSORS[compressor][2](body[9:], size)
		if len(body) != size:
			raise WireError("OP_COMPRESSED: size mismatch")
		if opcode == OP_MSG and struct.unpack("<I", body[:4])[0] & MSG_CHECKSUM:
			# the checksum covers the uncompressed message: rebuild its header
			header = HEADER.pack(16 + size, request_id, _response_to, opcode)
	if opcode == OP_MSG:
		check_op_msg(header, body)
	return Frame(length, request_id, opcode, body, compressor)


def check_op_msg(header, body):
	"""Section layout and checksum of an OP_MSG body; raises WireError."""
	if len(body) < 5:
		raise WireError("OP_MSG too short")
	flags = struct.unpack("<I", body[:4])[0]
	if flags & 0xFFFC:  # required bits 2..15 unknown to us
		raise WireError("OP_MSG: unknown required flag bits 0x%x" % flags)
	end = len(body)
	if flags & MSG_CHECKSUM:
		if end < 9:
			raise WireError("OP_MSG checksum missing")
		end -= 4
		want = struct.unpack("<I", body[end:])[0]
		if crc32c(header + body[:end]) != want:
			raise WireError("OP_MSG checksum mismatch")
	pos, kind0 = 4, 0
	while pos < end:
		kind = body[pos]
		if pos + 5 > end:
			raise WireError("OP_MSG truncated section")
		size = struct.unpack("<i", body[pos + 1:pos + 5])[0]
		if size < 5 or pos + 1 + size > end:
			raise WireError("OP_MSG section size %d out of bounds" % size)
		if kind == 0:
			kind0 += 1
		elif kind != 1:
			raise WireError("OP_MSG unknown section kind %d" % kind)
		pos += 1 + size
	if kind0 != 1:
		raise WireError("OP_MSG needs exactly one kind-0 section, has %d" % kind0)


def parse_request(frame, client, server):
	"""mockupdb's parse of an OP_MSG or OP_QUERY frame (Command / OpQuery /
	OpMsg), with the message's flag bits in .wire_flags. Other opcodes raise
	WireError."""
	try:
		if frame.opcode == OP_MSG:
			# mockupdb knows only bits 0, 1 and (wrongly) 4 and rejects the
			# rest; hand it bits 0-1 and keep the real flags on the request
			flags = struct.unpack("<I", frame.body[:4])[0]
			body = struct.pack("<I", flags & 3) + frame.body[4:]
			req = OpMsg.unpack(body, client, server, frame.request_id)
			req.wire_flags = flags
			return req
		if frame.opcode == OP_QUERY:
			req = OpQuery.unpack(frame.body, client, server, frame.request_id)
			req.wire_flags = struct.unpack("<I", frame.body[:4])[0]
			return req
	except WireError:
		raise
	except KeyError as e:
		raise WireError("missing field %s" % e)
	except Exception as e:  # bson.errors.InvalidBSON, struct.error, ...
		raise WireError("unparsable message: %s: %s" % (type(e).__name__, e))
	raise WireError("unsupported opcode %d" % frame.opcode)


# ---------------------------------------------------------------- replies

def _compress(msg, compressor):
	if compressor is None:
		return msg
	length, rid, rto, opcode = HEADER.unpack(msg[:16])
	data = COMPRESSORS[compressor][1](msg[16:])
	body = struct.pack("<iiB", opcode, len(msg) - 16, compressor) + data
	return HEADER.pack(16 + len(body), rid, rto, OP_COMPRESSED) + body


_REPLY_IDS = itertools.count(1)


def next_request_id():
	return next(_REPLY_IDS) & 0x7FFFFFFF


def reply_bytes(request, doc, compressor=None, more_to_come=False, response_to=None, request_id=None):
	"""Encode a reply to `request` (an OpMsg or a legacy Command).

	response_to defaults to the request's id; in an exhaust stream each
	further reply answers the previous reply's request_id instead."""
	rid = next_request_id() if request_id is None else request_id
	rto = request.request_id if response_to is None else response_to
	body = bson.encode(doc, codec_options=CODEC)
	if isinstance(request, OpMsg):
		flags = MSG_MORE_TO_COME if more_to_come else 0
		data = struct.pack("<IB", flags, 0) + body
		msg = HEADER.pack(16 + len(data), rid, rto, OP_MSG) + data
	else:
		data = struct.pack("<iqii", 0, 0, 0, 1) + body
		msg = HEADER.pack(16 + len(data), rid, rto, OP_REPLY) + data
	return _compress(msg, compressor)


def query_failure_bytes(request, errmsg, code):
	"""OP_REPLY with QueryFailure for a legacy non-command OP_QUERY."""
	body = bson.encode({"$err": errmsg, "code": code}, codec_options=CODEC)
	data = struct.pack("<iqii", 2, 0, 0, 1) + body
	return HEADER.pack(16 + len(data), next_request_id(), request.request_id, OP_REPLY) + data


def error_reply_raw(request_id, doc):
	"""OP_MSG reply built without a parsed request (e.g. missing $db)."""
	data = struct.pack("<IB", 0, 0) + bson.encode(doc, codec_options=CODEC)
	return HEADER.pack(16 + len(data), next_request_id(), request_id, OP_MSG) + data
