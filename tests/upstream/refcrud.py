"""refcrud: write commands of the reference upstream.

insert / update / delete answer like mongod: {n[, nModified][, upserted]
[, writeErrors]}, ordered batches stop at the first error, unordered ones go
on; findAndModify answers {lastErrorObject, value}. Duplicate keys become
code 11000 with mongod's E11000 message, keyPattern and keyValue.

Every handler is fn(ctx, db, cmd) -> reply document, run under the engine
lock, against ctx.view (the main data or a transaction's workspace).
"""

import copy
from collections import OrderedDict

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from referr import CmdError, from_exception
from refstore import duplicate_key_error, project, sort_spec, update_dup_error


def _coll_name(cmd, name):
	coll = cmd[name]
	if not isinstance(coll, str) or not coll or "\0" in coll or coll.startswith("$"):
		raise CmdError(73, "Invalid namespace specified '%s'" % (coll,))
	return coll


def _write_error(index, err):
	e = OrderedDict([("index", index), ("code", err.code)])
	e.update(err.extra)
	e["errmsg"] = err.errmsg
	return e


def _ensure_id(doc):
	"""mongod stores _id first, generating an ObjectId when it is missing."""
	if next(iter(doc), None) == "_id":
		return doc
	out = OrderedDict([("_id", doc["_id"] if "_id" in doc else ObjectId())])
	for k, v in doc.items():
		if k != "_id":
			out[k] = v
	return out


def _is_operator_update(u):
	"""True for {$op: ...} updates, False for replacements; mixing is an error."""
	keys = list(u.keys())
	if not keys:
		return False
	if keys[0].startswith("$"):
		for k in keys:
			if not k.startswith("$"):
				raise CmdError(9, "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified as an array" % k)
		return True
	for k in keys:
		if k.startswith("$"):
			raise CmdError(52, "The dollar ($) prefixed field '%s' in '%s' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith." % (k, k))
	return False


def _finish(n, errors, extra=None):
	r = OrderedDict([("n", n)])
	if extra:
		r.update(extra)
	if errors:
		r["writeErrors"] = errors
	r["ok"] = 1.0
	return r


def cmd_insert(ctx, db, cmd):
	name = _coll_name(cmd, "insert")
	docs = cmd.get("documents") or []
	ordered = cmd.get("ordered", True)
	coll = ctx.view.coll(db, name)
	ns = "%s.%s" % (db, name)
	n, errors = 0, []
	for i, doc in enumerate(docs):
		doc = _ensure_id(doc)
		try:
			coll.insert_one(copy.deepcopy(doc))
			n += 1
		except DuplicateKeyError:
			err = duplicate_key_error(coll, ns, doc)
			errors.append(_write_error(i, err or CmdError(11000, "E11000 duplicate key error collection: %s" % ns)))
		except Exception as e:  # mongomock WriteError, bson errors
			errors.append(_write_error(i, from_exception(e)))
		if errors and ordered:
			break
	return _finish(n, errors)


def _one_update(coll, ns, spec):
	"""Apply one update statement; returns (n, nModified, upserted_id or None)."""
	q = spec.get("q") or {}
	u = spec.get("u")
	multi = bool(spec.get("multi", False))
	upsert = bool(spec.get("upsert", False))
	if isinstance(u, list):
		raise CmdError(238, "refmongo does not implement pipeline-style updates")
	if not isinstance(u, dict):
		raise CmdError(9, "Update argument must be either an object or an array")
	if spec.get("arrayFilters"):
		raise CmdError(238, "refmongo does not implement arrayFilters")
	operator = _is_operator_update(u)
	if multi and not operator:
		raise CmdError(9, "multi update is not supported for replacement-style update")
	try:
		if operator:
			fn = coll.update_many if multi else coll.update_one
			r = fn(q, u, upsert=upsert)
		else:
			r = coll.replace_one(q, u, upsert=upsert)
	except DuplicateKeyError:
		raise update_dup_error(coll, ns, q, u, operator, multi, upsert)
	raw = r.raw_result
	upserted = raw.get("upserted") if not raw.get("updatedExisting") and raw.get("n") else None
	return raw.get("n", 0), raw.get("nModified", 0), upserted


def cmd_update(ctx, db, cmd):
	name = _coll_name(cmd, "update")
	ordered = cmd.get("ordered", True)
	coll = ctx.view.coll(db, name)
	ns = "%s.%s" % (db, name)
	n = n_mod = 0
	upserted, errors = [], []
	for i, spec in enumerate(cmd.get("updates") or []):
		try:
			dn, dm, uid = _one_update(coll, ns, spec)
			n += dn
			n_mod += dm
			if uid is not None:
				upserted.append(OrderedDict([("index", i), ("_id", uid)]))
		except Exception as e:
			errors.append(_write_error(i, from_exception(e)))
			if ordered:
				break
	extra = OrderedDict()
	if upserted:
		extra["upserted"] = upserted
	extra["nModified"] = n_mod
	return _finish(n, errors, extra)


def cmd_delete(ctx, db, cmd):
	name = _coll_name(cmd, "delete")
	ordered = cmd.get("ordered", True)
	coll = ctx.view.coll(db, name)
	n, errors = 0, []
	for i, spec in enumerate(cmd.get("deletes") or []):
		try:
			q = spec.get("q") or {}
			limit = spec.get("limit", 0)
			if limit not in (0, 1):
				raise CmdError(9, "The limit field in delete objects must be 0 or 1. Got %s" % limit)
			r = coll.delete_one(q) if limit == 1 else coll.delete_many(q)
			n += r.deleted_count
		except Exception as e:
			errors.append(_write_error(i, from_exception(e)))
			if ordered:
				break
	return _finish(n, errors)


# ---------------------------------------------------------------- findAndModify

def _fam_args(cmd):
	remove = bool(cmd.get("remove", False))
	update = cmd.get("update")
	if remove and update is not None:
		raise CmdError(9, "Cannot specify both an update and remove=true")
	if not remove and update is None:
		raise CmdError(9, "Either an update or remove=true must be specified")
	if remove and cmd.get("new"):
		raise CmdError(9, "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document")
	if isinstance(update, list):
		raise CmdError(238, "refmongo does not implement pipeline-style updates")
	if cmd.get("arrayFilters"):
		raise CmdError(238, "refmongo does not implement arrayFilters")
	return remove, update


def _fam_apply(coll, ns, query, target, update, upsert):
	"""Update the target (or upsert); returns (post_image, upserted_id)."""
	operator = _is_operator_update(update)
	try:
		if target is not None:
			spec = OrderedDict(query)
			spec["_id"] = target["_id"]
			if operator:
				coll.update_one(spec, update)
			else:
				coll.replace_one({"_id": target["_id"]}, update)
			return coll.find_one({"_id": target["_id"]}), None
		if operator:
			r = coll.update_one(query, update, upsert=True)
		else:
			r = coll.replace_one(query, update, upsert=True)
	except DuplicateKeyError:
		if target is not None:
			raise update_dup_error(coll, ns, {"_id": target["_id"]}, update, operator, False, False)
		raise update_dup_error(coll, ns, query, update, operator, False, True)
	uid = r.upserted_id
	return coll.find_one({"_id": uid}), uid


def cmd_find_and_modify(ctx, db, cmd):
	cname = next(iter(cmd))
	name = _coll_name(cmd, cname)
	remove, update = _fam_args(cmd)
	coll = ctx.view.coll(db, name)
	ns = "%s.%s" % (db, name)
	query = cmd.get("query") or {}
	fields = cmd.get("fields") or None
	found = list(coll.find(query, sort=sort_spec(cmd.get("sort")), limit=1))
	target = found[0] if found else None
	leo = OrderedDict()
	value = None
	if remove:
		leo["n"] = 1 if target is not None else 0
		if target is not None:
			coll.delete_one({"_id": target["_id"]})
			value = target
	elif target is not None or cmd.get("upsert"):
		post, uid = _fam_apply(coll, ns, query, target, update, bool(cmd.get("upsert")))
		leo["n"] = 1
		leo["updatedExisting"] = target is not None
		if uid is not None:
			leo["upserted"] = uid
		value = post if cmd.get("new") else target
	else:
		leo["n"] = 0
		leo["updatedExisting"] = False
	reply = OrderedDict([("lastErrorObject", leo), ("value", project(value, fields)), ("ok", 1.0)])
	return reply


COMMANDS = {
	"insert": cmd_insert,
	"update": cmd_update,
	"delete": cmd_delete,
	"findAndModify": cmd_find_and_modify,
	"findandmodify": cmd_find_and_modify,
}
