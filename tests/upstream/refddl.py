"""refddl: collections, databases and indexes of the reference upstream.

create / drop / dropDatabase / renameCollection, listCollections /
listDatabases / dbStats, createIndexes / listIndexes / dropIndexes, answered
like mongod 7.0 (drop of a missing collection is ok; list* answer cursors).
Handlers are fn(ctx, db, cmd) -> reply, run under the engine lock.
"""

import uuid
from collections import OrderedDict

from bson.binary import Binary, UUID_SUBTYPE
from pymongo.errors import DuplicateKeyError
import mongomock.filtering as mm_filtering

from referr import CmdError
from refread import cursor_reply
from refstore import fmt_value

ID_INDEX = OrderedDict([("v", 2), ("key", OrderedDict([("_id", 1)])), ("name", "_id_")])


def _uuid(ctx, db, name):
	u = ctx.engine.uuids.get((db, name))
	if u is None:
		u = Binary(uuid.uuid4().bytes, UUID_SUBTYPE)
		ctx.engine.uuids[(db, name)] = u
	return u


def cmd_create(ctx, db, cmd):
	name = cmd["create"]
	if not isinstance(name, str) or not name:
		raise CmdError(73, "Invalid namespace specified '%s.%s'" % (db, name))
	if cmd.get("viewOn") or cmd.get("timeseries"):
		raise CmdError(238, "refmongo does not implement views or time series collections")
	if ctx.view.exists(db, name):
		raise CmdError(48, "Collection %s.%s already exists." % (db, name))
	ctx.view.create(db, name)
	_uuid(ctx, db, name)
	return OrderedDict([("ok", 1.0)])


def cmd_drop(ctx, db, cmd):
	name = cmd["drop"]
	if not ctx.view.exists(db, name):
		return OrderedDict([("ok", 1.0)])
	n = len(ctx.view.coll(db, name).index_information())
	ctx.view.drop(db, name)
	ctx.engine.uuids.pop((db, name), None)
	return OrderedDict([("nIndexesWas", n), ("ns", "%s.%s" % (db, name)), ("ok", 1.0)])


def cmd_drop_database(ctx, db, cmd):
	ctx.view.drop_database(db)
	for k in [k for k in ctx.engine.uuids if k[0] == db]:
		del ctx.engine.uuids[k]
	return OrderedDict([("ok", 1.0)])


def cmd_rename(ctx, db, cmd):
	src, dst = cmd["renameCollection"], cmd.get("to")
	if db != "admin":
		raise CmdError(13, "renameCollection may only be run against the admin database.")
	if not isinstance(src, str) or not isinstance(dst, str) or "." not in src or "." not in dst:
		raise CmdError(73, "Invalid namespace specified")
	sdb, sname = src.split(".", 1)
	ddb, dname = dst.split(".", 1)
	if sdb != ddb:
		raise CmdError(238, "refmongo does not implement renames across databases")
	if not ctx.view.exists(sdb, sname):
		raise CmdError(26, "Source collection %s does not exist" % src)
	if ctx.view.exists(ddb, dname):
		if not cmd.get("dropTarget"):
			raise CmdError(48, "target namespace exists")
		ctx.view.drop(ddb, dname)
	ctx.view.coll(sdb, sname).rename(dname)
	ctx.engine.uuids[(ddb, dname)] = ctx.engine.uuids.pop((sdb, sname), None) or _uuid(ctx, ddb, dname)
	return OrderedDict([("ok", 1.0)])


def _coll_info(ctx, db, name, name_only):
	d = OrderedDict([("name", name), ("type", "collection")])
	if name_only:
		return d
	d["options"] = OrderedDict()
	d["info"] = OrderedDict([("readOnly", False), ("uuid", _uuid(ctx, db, name))])
	d["idIndex"] = ID_INDEX
	return d


def cmd_list_collections(ctx, db, cmd):
	filt = cmd.get("filter") or {}
	name_only = bool(cmd.get("nameOnly"))
	docs = []
	for name in sorted(ctx.view.collection_names(db)):
		d = _coll_info(ctx, db, name, name_only)
		if mm_filtering.filter_applies(filt, d):
			docs.append(d)
	bs = (cmd.get("cursor") or {}).get("batchSize")
	return cursor_reply(ctx, "%s.$cmd.listCollections" % db, docs, bs)


def cmd_list_databases(ctx, db, cmd):
	if db != "admin":
		raise CmdError(13, "listDatabases may only be run against the admin database.")
	filt = cmd.get("filter") or {}
	out, total = [], 0
	for name in sorted(set(ctx.view.database_names()) | {"admin", "config", "local"}):
		n = sum(ctx.view.coll(name, c).estimated_document_count() for c in ctx.view.collection_names(name))
		size = 8192 * (1 + n // 64)
		d = OrderedDict([("name", name), ("sizeOnDisk", size), ("empty", n == 0)])
		if cmd.get("nameOnly"):
			d = OrderedDict([("name", name)])
		if mm_filtering.filter_applies(filt, d):
			out.append(d)
			total += size
	r = OrderedDict([("databases", out)])
	if not cmd.get("nameOnly"):
		r["totalSize"] = total
		r["totalSizeMb"] = total // (1024 * 1024)
	r["ok"] = 1.0
	return r


def cmd_db_stats(ctx, db, cmd):
	names = ctx.view.collection_names(db)
	objects = sum(ctx.view.coll(db, c).estimated_document_count() for c in names)
	return OrderedDict([("db", db), ("collections", len(names)), ("views", 0), ("objects", objects),
		("avgObjSize", 0), ("dataSize", 0), ("storageSize", 0), ("indexes", len(names)),
		("indexSize", 0), ("totalSize", 0), ("scaleFactor", 1), ("fsUsedSize", 0), ("fsTotalSize", 0), ("ok", 1.0)])


# ---------------------------------------------------------------- indexes

def _index_docs(coll):
	out = []
	for name, spec in coll.index_information().items():
		d = OrderedDict([("v", 2), ("key", OrderedDict(spec["key"])), ("name", name)])
		for opt in ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds"):
			if opt in spec:
				d[opt] = spec[opt]
		out.append(d)
	return out


def _create_one(coll, ns, spec, existing):
	"""Create one index; returns False when an identical one exists."""
	key = spec.get("key")
	name = spec.get("name")
	if not isinstance(key, dict) or not key:
		raise CmdError(9, "The 'key' field is a required property of an index specification")
	if not isinstance(name, str) or not name:
		raise CmdError(9, "The 'name' field is a required property of an index specification")
	opts = {k: spec[k] for k in ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds") if k in spec}
	for d in existing:
		same_key = list(d["key"].items()) == list(key.items())
		if d["name"] == name and same_key:
			if any(d.get(k) != v for k, v in opts.items() if v):
				raise CmdError(86, "An existing index has the same name as the requested index but different options. Requested index: %s, existing index: %s" % (fmt_value(dict(spec)), fmt_value(dict(d))))
			return False
		if d["name"] == name:
			raise CmdError(86, "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Requested index: %s, existing index: %s" % (fmt_value(dict(spec)), fmt_value(dict(d))))
		if same_key and name != d["name"] and d["name"] != "_id_":
			raise CmdError(85, "Index already exists with a different name: %s" % d["name"])
	try:
		coll.create_index(list(key.items()), name=name, **opts)
	except DuplicateKeyError:
		raise CmdError(11000, "Index build failed: E11000 duplicate key error collection: %s index: %s" % (ns, name))
	return True


def cmd_create_indexes(ctx, db, cmd):
	name = cmd["createIndexes"]
	specs = cmd.get("indexes")
	if not isinstance(specs, list) or not specs:
		raise CmdError(2, "Must specify at least one index to create")
	created_coll = not ctx.view.exists(db, name)
	if created_coll:
		ctx.view.create(db, name)
		_uuid(ctx, db, name)
	coll = ctx.view.coll(db, name)
	before = len(coll.index_information())
	made = 0
	for spec in specs:
		made += _create_one(coll, "%s.%s" % (db, name), spec, _index_docs(coll))
	r = OrderedDict([("numIndexesBefore", before), ("numIndexesAfter", len(coll.index_information()))])
	if not made:
		r["note"] = "all indexes already exist"
	r["createdCollectionAutomatically"] = created_coll
	r["ok"] = 1.0
	return r


def cmd_list_indexes(ctx, db, cmd):
	name = cmd["listIndexes"]
	if not ctx.view.exists(db, name):
		raise CmdError(26, "ns does not exist: %s.%s" % (db, name))
	bs = (cmd.get("cursor") or {}).get("batchSize")
	return cursor_reply(ctx, "%s.%s" % (db, name), _index_docs(ctx.view.coll(db, name)), bs)


def _drop_names(index, docs):
	if index == "*":
		return [d["name"] for d in docs if d["name"] != "_id_"]
	if isinstance(index, dict):
		for d in docs:
			if list(d["key"].items()) == list(index.items()):
				return [d["name"]]
		raise CmdError(27, "can't find index with key: %s" % fmt_value(dict(index)))
	names = index if isinstance(index, list) else [index]
	for n in names:
		if n == "_id_":
			raise CmdError(72, "cannot drop _id index")
		if n not in [d["name"] for d in docs]:
			raise CmdError(27, "index not found with name [%s]" % n)
	return names


def cmd_drop_indexes(ctx, db, cmd):
	name = cmd[next(iter(cmd))]
	if not ctx.view.exists(db, name):
		raise CmdError(26, "ns not found %s.%s" % (db, name))
	coll = ctx.view.coll(db, name)
	docs = _index_docs(coll)
	for n in _drop_names(cmd.get("index"), docs):
		coll.drop_index(n)
	return OrderedDict([("nIndexesWas", len(docs)), ("ok", 1.0)])


COMMANDS = {
	"create": cmd_create,
	"drop": cmd_drop,
	"dropDatabase": cmd_drop_database,
	"renameCollection": cmd_rename,
	"listCollections": cmd_list_collections,
	"listDatabases": cmd_list_databases,
	"dbStats": cmd_db_stats,
	"createIndexes": cmd_create_indexes,
	"listIndexes": cmd_list_indexes,
	"dropIndexes": cmd_drop_indexes,
	"deleteIndexes": cmd_drop_indexes,
}
