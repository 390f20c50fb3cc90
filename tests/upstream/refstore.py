"""refstore: the data behind the reference upstream, on mongomock.

  MainView  -- the committed data (one mongomock client for the process; all
               replica-set nodes share it).
  TxnView   -- a transaction's private workspace: every collection it touches
               is copied from the main view on first access (snapshot), reads
               and writes go to the copy, commit() applies the difference
               (inserted / changed / deleted documents by _id, new indexes)
               to the main view; abort is dropping the workspace.

Invariant: callers hold the engine lock while using any view.

Also here: the process-wide codec (Binary UUIDs stay Binary so subtype 3 and 4
round-trip unchanged), the mongomock patches (MongoDB 5+ accepts keys with
dots and dollars; $inc/$mul keep int64; $sum/$avg add as mongod, refsum.py),
duplicate-key error building and a
projection helper for documents that are no longer stored.
"""

import copy
from collections import OrderedDict

import bson
import mockupdb
import mongomock
import mongomock.collection as mm_collection
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.int64 import Int64

import refsum
from referr import CmdError

CODEC = CodecOptions(document_class=OrderedDict, uuid_representation=UuidRepresentation.UNSPECIFIED)


def encode(doc):
	return bson.encode(doc, codec_options=CODEC)


def decode(data):
	return bson.decode(data, codec_options=CODEC)


class _LenientBSON:
	"""mongomock validates with check_keys=True; MongoDB 5+ stores such keys."""

	@staticmethod
	def encode(doc, check_keys=False, codec_options=CODEC):
		return bson.encode(doc, codec_options=codec_options)


def _keep_int64(updater):
	def wrapped(doc, field_name, value):
		before = doc.get(field_name) if isinstance(doc, dict) else None
		updater(doc, field_name, value)
		if isinstance(doc, dict) and (isinstance(before, Int64) or isinstance(value, Int64)):
			after = doc.get(field_name)
			if type(after) is int and -(1 << 63) <= after < (1 << 63):
				doc[field_name] = Int64(after)
	return wrapped


def install_patches():
	"""Patch modules in this process only (Debian's files stay untouched)."""
	mockupdb.CODEC_OPTIONS = CODEC
	mm_collection.BSON = _LenientBSON
	ups = mm_collection._updaters
	if not getattr(ups["$inc"], "_ref_patched", False):
		ups["$inc"] = _keep_int64(ups["$inc"])
		ups["$inc"]._ref_patched = True
	refsum.install()


def id_key(value):
	"""Hashable, type-exact key for an _id value."""
	return encode({"_id": value})


# ---------------------------------------------------------------- views

class MainView:
	"""The committed data."""

	def __init__(self):
		self.client = mongomock.MongoClient()

	def coll(self, db, name):
		return self.client[db][name]

	def exists(self, db, name):
		return name in self.client[db].list_collection_names()

	def collection_names(self, db):
		return self.client[db].list_collection_names()

	def database_names(self):
		return self.client.list_database_names()

	def create(self, db, name):
		self.client[db].create_collection(name)

	def drop(self, db, name):
		self.client[db].drop_collection(name)

	def drop_database(self, db):
		self.client.drop_database(db)

	def reset(self):
		self.client = mongomock.MongoClient()


class TxnView:
	"""Copy-on-first-access workspace of one transaction."""

	def __init__(self, main):
		self.main = main
		self.client = mongomock.MongoClient()
		self.snap = {}  # (db, name) -> {id_key: doc} at copy time, None if absent
		self.snap_indexes = {}

	def _touch(self, db, name):
		k = (db, name)
		if k in self.snap:
			return
		if not self.main.exists(db, name):
			self.snap[k] = None
			self.snap_indexes[k] = {}
			return
		src = self.main.coll(db, name)
		dst = self.client[db][name]
		self.client[db].create_collection(name)
		info = src.index_information()
		for iname, spec in info.items():
			if iname != "_id_":
				dst.create_index(spec["key"], name=iname, **_index_opts(spec))
		docs = {}
		for d in src.find({}):
			dst.insert_one(copy.deepcopy(d))
			docs[id_key(d["_id"])] = d
		self.snap[k] = docs
		self.snap_indexes[k] = info

	def coll(self, db, name):
		self._touch(db, name)
		return self.client[db][name]

	def exists(self, db, name):
		self._touch(db, name)
		return name in self.client[db].list_collection_names()

	def collection_names(self, db):
		names = set(self.main.collection_names(db))
		for (d, n) in self.snap:
			if d == db:
				names.discard(n)
				if n in self.client[db].list_collection_names():
					names.add(n)
		return sorted(names)

	def database_names(self):
		return self.main.database_names()

	def create(self, db, name):
		self._touch(db, name)
		self.client[db].create_collection(name)

	def drop(self, db, name):
		raise CmdError(263, "Cannot run 'drop' in a multi-document transaction.")

	def drop_database(self, db):
		raise CmdError(263, "Cannot run 'dropDatabase' in a multi-document transaction.")

	def commit(self):
		"""Apply the workspace's difference to the main view."""
		for (db, name), before in self.snap.items():
			if name not in self.client[db].list_collection_names():
				continue
			priv = self.client[db][name]
			if before is None and not self.main.exists(db, name):
				self.main.create(db, name)
			target = self.main.coll(db, name)
			for iname, spec in priv.index_information().items():
				if iname not in self.snap_indexes.get((db, name), {}):
					target.create_index(spec["key"], name=iname, **_index_opts(spec))
			after = {id_key(d["_id"]): d for d in priv.find({})}
			before = before or {}
			for k, d in before.items():
				if k not in after:
					target.delete_one({"_id": d["_id"]})
			for k, d in after.items():
				if k not in before or before[k] != d:
					target.replace_one({"_id": d["_id"]}, d, upsert=True)


def _index_opts(spec):
	return {k: v for k, v in spec.items() if k in ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds")}


# ---------------------------------------------------------------- helpers

def fmt_value(v):
	"""Render a value the way mongod's error messages do (close enough)."""
	if isinstance(v, str):
		return '"%s"' % v
	if isinstance(v, bool):
		return "true" if v else "false"
	if v is None:
		return "null"
	if isinstance(v, bson.ObjectId):
		return "ObjectId('%s')" % v
	if isinstance(v, dict):
		return "{ " + ", ".join("%s: %s" % (k, fmt_value(x)) for k, x in v.items()) + " }"
	if isinstance(v, list):
		return "[ " + ", ".join(fmt_value(x) for x in v) + " ]"
	return str(v)


def _get_path(doc, path):
	cur = doc
	for part in path.split("."):
		if isinstance(cur, dict) and part in cur:
			cur = cur[part]
		else:
			return None
	return cur


_NO_SELF = object()


def duplicate_key_error(coll, ns, doc, self_id=_NO_SELF):
	"""CmdError 11000 naming the unique index `doc` collides on in `coll`;
	self_id excludes the document's own stored version (updates)."""
	candidates = [("_id_", [("_id", 1)])]
	for name, spec in coll.index_information().items():
		if name != "_id_" and spec.get("unique"):
			candidates.append((name, spec["key"]))
	for name, key in candidates:
		value = OrderedDict((f, _get_path(doc, f)) for f, _ in key)
		probe = dict(value)
		if self_id is not _NO_SELF:
			probe = {"$and": [probe, {"_id": {"$ne": self_id}}]}
		if coll.count_documents(probe) > 0:
			return _dup(ns, name, key, value)
	return None


def update_dup_error(coll, ns, q, u, operator, multi, upsert):
	"""After mongomock refused an update with a duplicate key: replay it on
	scratch copies to find the document and index that collide."""
	targets = list(coll.find(q))
	if not multi:
		targets = targets[:1]
	for t in targets:
		post = simulate_update(t, q, u, operator)
		err = post is not None and duplicate_key_error(coll, ns, post, self_id=t["_id"])
		if err:
			return err
	if upsert and not targets:
		post = simulate_update(None, q, u, operator)
		err = post is not None and duplicate_key_error(coll, ns, post)
		if err:
			return err
	return CmdError(11000, "E11000 duplicate key error collection: %s" % ns)


def simulate_update(doc, q, u, operator):
	"""Post-image of applying update u to doc (or of an upsert when None)."""
	scratch = mongomock.MongoClient()["s"]["s"]
	if doc is not None:
		scratch.insert_one(copy.deepcopy(doc))
	fn = scratch.update_one if operator else scratch.replace_one
	r = fn(q if doc is None else {"_id": doc["_id"]}, u, upsert=doc is None)
	target = r.upserted_id if doc is None else doc["_id"]
	return scratch.find_one({"_id": target})


def _dup(ns, name, key, value):
	msg = "E11000 duplicate key error collection: %s index: %s dup key: %s" % (ns, name, fmt_value(value))
	extra = OrderedDict([("keyPattern", OrderedDict(key)), ("keyValue", value)])
	return CmdError(11000, msg, extra=extra)


def project(doc, projection):
	"""Apply a find projection to a document that is not (or no longer) stored."""
	if doc is None or not projection:
		return doc
	scratch = mongomock.MongoClient()["p"]["p"]
	scratch.insert_one(copy.deepcopy(doc))
	return scratch.find_one({}, projection)


def sort_spec(sort):
	"""A find/aggregate sort document as mongomock's list of pairs (or None)."""
	if not sort:
		return None
	if not isinstance(sort, dict):
		raise CmdError(14, "sort must be an object")
	out = []
	for k, v in sort.items():
		if isinstance(v, dict):
			raise CmdError(238, "refmongo does not implement $meta sorts")
		out.append((k, 1 if v >= 0 else -1))
	return out
