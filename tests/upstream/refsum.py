"""refsum: mongod's $sum and $avg for the reference upstream.

mongomock adds with Python's sum() (naive, left to right, booleans counted
as 1, int64 inputs coming back as int32 when small); mongod adds with a
double-double summation (Fast2Sum + 2Sum, mongo/util/summation.h) and its
own result types.  install() replaces both places mongomock computes them,
in this process only (Debian's files stay untouched):

  $group    aggregate._GROUPING_OPERATOR_MAP["$sum"/"$avg"]   one value per
            document -> group_sum / group_avg
  $project  _Parser._handle_project_operator("$sum"/"$avg")   the arguments
            (a single array argument: its elements) -> the same functions

DoubleDouble mirrors tandem's common/readexec/summation.c operation for
operation, so both give the same double for the same inputs in the same
order (including mongod's quirk: the last addend is not added in, so
[1e16, 1.0, -1e16] sums to 0.0).  test_refsum.py checks the vectors that
tests/unit/test_summation.c checks.  Results: int32 while int32 inputs fit,
int64 (Int64) with int64 inputs or past int32, double with a double or past
int64.  Decimal128 inputs keep mongomock's behaviour.
"""

import math

import mongomock.aggregate as mm_aggregate
from bson.decimal128 import Decimal128
from bson.int64 import Int64

INT32, INT64, DOUBLE = 0, 1, 2
TWO32 = 1 << 32
TWO63 = float(1 << 63)


def _llround(x):
	"""C's llround: nearest integer, halves away from zero."""
	r = math.floor(x)
	f = x - r  # exact
	if f > 0.5 or (f == 0.5 and x > 0):
		r += 1
	return int(r)


class DoubleDouble:
	"""mongod's DoubleDoubleSummation: (sum, addend) plus a plain sum for NaN."""

	def __init__(self):
		self.sum = 0.0
		self.addend = 0.0
		self.special = 0.0

	def add_double(self, x):
		self.special += x
		t = x + self.addend  # Fast2Sum(x, addend)
		self.addend -= t - x
		x = t
		n = self.sum + x  # 2Sum(sum, x)
		sp = n - x
		xp = n - sp
		err = (self.sum - sp) + (x - xp)
		self.sum = n
		self.addend += err

	def add_long(self, x):
		"""x split in halves that are exact doubles (truncating, as C's /)."""
		high = (abs(x) // TWO32) * TWO32
		if x < 0:
			high = -high
		self.add_double(float(x - high))
		self.add_double(float(high))

	def double(self):
		return self.special if math.isnan(self.sum) else self.sum

	def fits_long(self):
		if -TWO63 < self.sum < TWO63:
			return True
		if self.sum == TWO63:
			return self.addend < -0.5
		if self.sum == -TWO63:
			return self.addend >= -0.5
		return False

	def long(self):
		if self.sum == TWO63:
			return _llround(self.addend) + (1 << 63)
		r = _llround(self.sum)
		return r + _llround((self.sum - float(r)) + self.addend)


class Acc:
	"""$sum/$avg state: the summation, the widest input type, the count."""

	def __init__(self):
		self.dd = DoubleDouble()
		self.type = INT32
		self.count = 0

	def add(self, v):
		if isinstance(v, bool) or not isinstance(v, (int, float)):
			return  # not a number: ignored (mongomock counts True as 1)
		if isinstance(v, float):
			self.dd.add_double(v)
			self.type = DOUBLE
		elif not isinstance(v, Int64) and -(1 << 31) <= v < (1 << 31):
			self.dd.add_double(float(v))
		elif -(1 << 63) <= v < (1 << 63):
			self.dd.add_long(int(v))
			self.type = max(self.type, INT64)
		else:  # a Python int no BSON type holds
			self.dd.add_double(float(v))
			self.type = DOUBLE
		self.count += 1

	def sum(self):
		if self.type != DOUBLE and self.dd.fits_long():
			r = self.dd.long()
			if self.type == INT32 and -(1 << 31) <= r < (1 << 31):
				return r
			return Int64(r)
		return self.dd.double()

	def avg(self):
		return None if self.count == 0 else self.dd.double() / self.count


_ORIGINAL = {}


def _accumulate(values):
	acc = Acc()
	for v in values:
		acc.add(v)
	return acc


def group_sum(values):
	values = list(values)
	if any(isinstance(v, Decimal128) for v in values):
		return _ORIGINAL["$sum"](values)
	return _accumulate(values).sum()


def group_avg(values):
	values = list(values)
	if any(isinstance(v, Decimal128) for v in values):
		return _ORIGINAL["$avg"](values)
	return _accumulate(values).avg()


def _project_operator(original):
	"""$sum/$avg in expressions as mongod's ExpressionFromAccumulator."""

	def handle(self, operator, values):
		if operator not in ("$sum", "$avg"):
			return original(self, operator, values)
		args = values if isinstance(values, list) else [values]
		vals = []
		for arg in args:
			try:
				vals.append(self.parse(arg))
			except KeyError:
				pass  # missing: not a number
		if len(args) == 1 and vals and isinstance(vals[0], list):
			vals = vals[0]
		return group_sum(vals) if operator == "$sum" else group_avg(vals)

	handle._ref_patched = True
	return handle


def install():
	"""Idempotent; patches mongomock.aggregate in this process."""
	ops = mm_aggregate._GROUPING_OPERATOR_MAP
	if ops["$sum"] is not group_sum:
		_ORIGINAL["$sum"] = ops["$sum"]
		_ORIGINAL["$avg"] = ops["$avg"]
		ops["$sum"] = group_sum
		ops["$avg"] = group_avg
	parser = mm_aggregate._Parser
	if not getattr(parser._handle_project_operator, "_ref_patched", False):
		parser._handle_project_operator = _project_operator(parser._handle_project_operator)
