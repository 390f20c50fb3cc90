"""referr: MongoDB-format command errors for the reference upstream.

A command handler raises CmdError; the dispatcher turns it into
{ok: 0, errmsg, code, codeName[, errorLabels][, extra fields]} exactly like a
mongod reply. Code names follow src/mongo/base/error_codes.yml.
"""

from collections import OrderedDict

CODE_NAMES = {
	1: "InternalError",
	2: "BadValue",
	9: "FailedToParse",
	13: "Unauthorized",
	14: "TypeMismatch",
	18: "AuthenticationFailed",
	20: "IllegalOperation",
	26: "NamespaceNotFound",
	27: "IndexNotFound",
	40: "ConflictingUpdateOperators",
	43: "CursorNotFound",
	48: "NamespaceExists",
	52: "DollarPrefixedFieldName",
	59: "CommandNotFound",
	66: "ImmutableField",
	72: "InvalidOptions",
	73: "InvalidNamespace",
	76: "NoReplicationEnabled",
	85: "IndexOptionsConflict",
	86: "IndexKeySpecsConflict",
	91: "ShutdownInProgress",
	112: "WriteConflict",
	189: "PrimarySteppedDown",
	225: "TransactionTooOld",
	238: "NotImplemented",
	251: "NoSuchTransaction",
	256: "TransactionCommitted",
	263: "OperationNotSupportedInTransaction",
	11000: "DuplicateKey",
	10107: "NotWritablePrimary",
	11600: "InterruptedAtShutdown",
	13435: "NotPrimaryNoSecondaryOk",
	50768: "Location50768",
}

# Codes after which a retryable write or a commit may be retried.
RETRYABLE_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}


def code_name(code):
	return CODE_NAMES.get(code, "Location%d" % code)


class CmdError(Exception):
	"""A command failure; `extra` fields are added to the reply document."""

	def __init__(self, code, errmsg, labels=None, extra=None):
		super().__init__(errmsg)
		self.code = code
		self.errmsg = errmsg
		self.labels = list(labels or [])
		self.extra = extra or {}

	def doc(self):
		d = OrderedDict()
		d["ok"] = 0.0
		d["errmsg"] = self.errmsg
		d["code"] = self.code
		d["codeName"] = code_name(self.code)
		d.update(self.extra)
		if self.labels:
			d["errorLabels"] = self.labels
		return d


def not_implemented(what):
	return CmdError(238, "refmongo does not implement %s" % what)


def from_exception(e):
	"""Map a mongomock / Python exception raised by a handler to a CmdError."""
	if isinstance(e, CmdError):
		return e
	code = getattr(e, "code", None)
	if isinstance(e, NotImplementedError):
		return not_implemented(str(e) or type(e).__name__)
	if isinstance(e, TypeError):
		return CmdError(14, str(e))
	if isinstance(e, (KeyError, ValueError)):
		return CmdError(9, "%s: %s" % (type(e).__name__, e))
	if isinstance(code, int) and code:
		return CmdError(code, str(e))
	return CmdError(2, "%s: %s" % (type(e).__name__, e))
