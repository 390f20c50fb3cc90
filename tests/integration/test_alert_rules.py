"""conf/prometheus/tandem-alerts.yml: the shipped Prometheus alerting rules.

No servers: the file must parse as YAML, have the rule-group structure
Prometheus loads (groups -> rules with alert/expr/for/labels/annotations),
carry the thresholds the shadow-read issue asks for, and name only metrics
that tandem's C sources export (a renamed metric would silently never fire).
"""
import glob
import os
import re

import pytest

yaml = pytest.importorskip("yaml")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "conf", "prometheus", "tandem-alerts.yml")
RULE_KEYS = {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
METRIC = re.compile(r"\btandem_[a-z0-9_]+")


@pytest.fixture(scope="module")
def doc():
	with open(RULES) as f:
		return yaml.safe_load(f)


@pytest.fixture(scope="module")
def rules(doc):
	return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def c_sources():
	text = []
	for d in ("common", "proxy", "shadow", "shift"):
		for path in glob.glob(os.path.join(ROOT, d, "**", "*.[ch]"), recursive=True):
			with open(path, errors="replace") as f:
				text.append(f.read())
	return "\n".join(text)


def test_structure(doc):
	assert set(doc) == {"groups"}
	names = [g["name"] for g in doc["groups"]]
	assert len(names) == len(set(names)), "group names must be unique"
	for g in doc["groups"]:
		assert set(g) <= {"name", "rules", "interval", "limit"}, g.keys()
		assert g["rules"], g["name"]
		for r in g["rules"]:
			assert set(r) <= RULE_KEYS, (r.get("alert"), set(r) - RULE_KEYS)
			assert isinstance(r["alert"], str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", r["alert"])
			assert isinstance(r["expr"], str) and r["expr"].strip()
			assert DURATION.match(r["for"]), r["for"]
			assert r["labels"]["severity"] in ("page", "warning"), r["alert"]
			assert r["annotations"]["summary"].strip() and r["annotations"]["description"].strip()
			expr = r["expr"]
			assert expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]"), expr


def test_the_three_alerts(rules):
	assert set(rules) == {"TandemShadowMismatchRate", "TandemShadowShedding", "TandemDualwriteQueueGrowing"}


def squash(expr):
	return " ".join(expr.split())


def test_mismatch_rate(rules):
	r = rules["TandemShadowMismatchRate"]
	e = squash(r["expr"])
	assert "sum by (tenant) (rate(tandem_shadow_mismatches_total[5m]))" in e
	assert "sum by (tenant) (rate(tandem_shadow_reads_total[5m]))" in e
	assert e.endswith(") > 0.001"), e
	assert r["for"] == "10m" and r["labels"]["severity"] == "page"
	d = r["annotations"]["description"]
	assert "tandemctl mismatches {{ $labels.tenant }}" in d
	assert "shadow_mismatch" in d


def test_shedding(rules):
	r = rules["TandemShadowShedding"]
	e = squash(r["expr"])
	assert "rate(tandem_shadow_shed_total[5m])" in e and "rate(tandem_shadow_reads_total[5m])" in e
	assert e.endswith(") > 0.05"), e
	assert r["for"] == "15m" and r["labels"]["severity"] == "warning"


def test_queue_growing(rules):
	r = rules["TandemDualwriteQueueGrowing"]
	assert squash(r["expr"]) == "tandem_dualwrite_queue_depth > 0"
	assert r["for"] == "10m" and r["labels"]["severity"] == "warning"


def test_every_metric_name_is_exported(rules):
	"""Each tandem_* name in an expression or annotation occurs in the C
	sources as a string: whole ("tandem_shadow_reads_total") or without the
	prefix that common/runtime/metrics.c adds ("dualwrite_queue_depth")."""
	src = c_sources()
	used = set()
	for r in rules.values():
		used |= set(METRIC.findall(r["expr"]))
		for text in r["annotations"].values():
			used |= set(METRIC.findall(text))
	assert len(used) >= 4, used
	missing = [n for n in sorted(used)
		if '"%s"' % n not in src and '"%s"' % n[len("tandem_"):] not in src]
	assert not missing, "metrics named in the rules but exported nowhere: %s" % missing


def test_tandemctl_mismatches_exists():
	"""The mismatch alert points SREs to `tandemctl mismatches`."""
	with open(os.path.join(ROOT, "tools", "tandemctl.c")) as f:
		assert '"mismatches"' in f.read()
