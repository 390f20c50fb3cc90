"""The per-tenant flag cache (shift/flags*.c) against a real redis-server,
through the C driver tests/clients/flags_probe.c, and `tandemctl
mode/shift/shadow/flags`.

The cache follows Redis CLIENT TRACKING invalidations (a changed hash is
re-read alone) with a slow full refresh (SCAN) as the fallback; with
flags.tracking=false it polls every flags.poll_ms (the old behaviour).
Tests that count tenants use their own redis-server (own_redis): the
session's one holds the other tests' hashes.

The probe starts the cache and prints the flags it serves every 20 ms, one
line of key=value pairs per tenant (see flags_probe.c); these tests change
Redis with plain redis-cli and watch the lines.

Binaries: $TANDEM_FLAGS_PROBE, else build/tests/clients/flags_probe;
$TANDEM_CTL, else build/tools/tandemctl.
Each test uses its own tenants; tandem:defaults is shared, so it is
deleted before and after every test that uses the session's Redis.
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import servers  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONTRACT_S = 1.0  # BRIEF: a plain HSET takes effect within 1 s


def _bin(env, *rel):
	path = os.environ.get(env) or os.path.join(ROOT, "build", *rel)
	if not os.access(path, os.X_OK):
		pytest.fail("%s not built: %s" % (rel[-1], path))
	return path


def probe_bin():
	return _bin("TANDEM_FLAGS_PROBE", "tests", "clients", "flags_probe")


def ctl_bin():
	return _bin("TANDEM_CTL", "tools", "tandemctl")


def parse(line):
	return dict(kv.split("=", 1) for kv in line.split())


def cli(redis, *args):
	p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port)] + [str(a) for a in args],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True)
	return p.stdout.decode().strip()


class Probe:
	"""flags_probe running in the background; stdout lines parsed as they come."""

	def __init__(self, *args, iterations=1500):
		self.proc = subprocess.Popen([probe_bin()] + [str(a) for a in args] + [str(iterations)],
			stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=servers._die_with_parent)
		self.lines = queue.Queue()
		self.events = queue.Queue()
		self.last = {}
		self.err = []
		threading.Thread(target=self._read_out, daemon=True).start()
		threading.Thread(target=self._read_err, daemon=True).start()

	def _read_out(self):
		for raw in self.proc.stdout:
			line = raw.decode().strip()
			if not line or line == "started":
				continue
			d = parse(line)
			if "kind" in d:
				self.events.put(d)
			else:
				self.lines.put(d)
		self.lines.put(None)
		self.events.put(None)

	def event(self, kind, timeout=10.0):
		"""The next kind=KIND line (loaded, lookups, cost)."""
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			try:
				d = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
			except queue.Empty:
				break
			if d is None:
				raise AssertionError("probe exited: %s" % "".join(self.err))
			if d["kind"] == kind:
				return d
		raise AssertionError("no %s line in %.0fs: %s" % (kind, timeout, "".join(self.err)[-2000:]))

	def _read_err(self):
		for raw in self.proc.stderr:
			self.err.append(raw.decode())

	def wait_for(self, pred, timeout=5.0, tenant=None):
		"""The first line (of tenant, if given) for which pred holds."""
		deadline = time.monotonic() + timeout
		while time.monotonic() < deadline:
			try:
				d = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
			except queue.Empty:
				break
			if d is None:
				raise AssertionError("probe exited (rc %s): %s" % (self.proc.wait(), "".join(self.err)))
			self.last[d["tenant"]] = d
			if (tenant is None or d["tenant"] == tenant) and pred(d):
				return d
		raise AssertionError("condition not met in %.1fs; last lines %s; stderr %s"
			% (timeout, self.last, "".join(self.err)[-2000:]))

	def lines_for(self, seconds, tenant):
		"""Every line of tenant printed during the next seconds."""
		out, end = [], time.monotonic() + seconds
		while time.monotonic() < end:
			try:
				d = self.lines.get(timeout=0.05)
			except queue.Empty:
				continue
			if d is None:
				break
			self.last[d["tenant"]] = d
			if d["tenant"] == tenant:
				out.append(d)
		return out

	def stop(self):
		servers.stop_process(self.proc)
		return "".join(self.err)


@pytest.fixture
def tenant():
	return "t-" + uuid.uuid4().hex[:10]


@pytest.fixture
def clean_defaults(redis):
	cli(redis, "DEL", "tandem:defaults")
	yield redis
	cli(redis, "DEL", "tandem:defaults")


@pytest.fixture
def probes():
	started = []

	def start(*args, **kw):
		p = Probe(*args, **kw)
		started.append(p)
		return p

	yield start
	for p in started:
		p.stop()


def refreshed(d, n=1):
	return d["connected"] == "1" and int(d["refreshes"]) >= n


def loaded(d):
	"""Connected, invalidations on, and the first full refresh done."""
	return d["connected"] == "1" and d["tracking"] == "1" and int(d["full"]) >= 1


def test_builtin_defaults_without_redis(tenant):
	p = subprocess.run([probe_bin(), tenant, "3"], stdout=subprocess.PIPE, timeout=30, check=True)
	lines = [parse(x) for x in p.stdout.decode().splitlines()[1:]]
	assert len(lines) == 3
	for d in lines:
		assert (d["write_mode"], d["read_pct"], d["shadow_pct"], d["phase"]) == ("mongo_only", "0", "0", "-")
		assert (d["connected"], d["tenants"], d["last_ok_ms"]) == ("0", "0", "0")


def test_config_defaults_without_redis(tenant):
	p = subprocess.run([probe_bin(), "--set", "defaults.write_mode=dual_write", "--set", "defaults.read_pct=12.5",
		"--set", "defaults.shadow_pct=3", tenant, "2"], stdout=subprocess.PIPE, timeout=30, check=True)
	d = parse(p.stdout.decode().splitlines()[-1])
	assert (d["write_mode"], d["read_pct"], d["shadow_pct"]) == ("dual_write", "12.5", "3")


def test_config_defaults_when_redis_has_no_flags(clean_defaults, probes, tenant):
	p = probes("--redis", clean_defaults.url, "--set", "defaults.write_mode=pg_primary",
		"--set", "defaults.read_pct=7", tenant)
	d = p.wait_for(loaded, tenant=tenant)
	assert (d["write_mode"], d["read_pct"], d["shadow_pct"], d["phase"]) == ("pg_primary", "7", "0", "-")


def test_tandem_defaults_apply_field_wise_over_config(clean_defaults, probes, tenant):
	cli(clean_defaults, "HSET", "tandem:defaults", "write_mode", "pg_primary", "read_pct", "25", "phase", "shadow")
	p = probes("--redis", clean_defaults.url, "--set", "defaults.shadow_pct=4", "--set", "defaults.read_pct=1", tenant)
	d = p.wait_for(lambda d: d["write_mode"] == "pg_primary", tenant=tenant)
	assert (d["read_pct"], d["shadow_pct"], d["phase"]) == ("25", "4", "shadow")
	assert int(d["version"]) >= 1


def test_tenant_hash_overrides_field_by_field(clean_defaults, probes, tenant):
	other = tenant + "-other"
	cli(clean_defaults, "HSET", "tandem:defaults", "write_mode", "pg_primary", "read_pct", "25", "shadow_pct", "9")
	cli(clean_defaults, "HSET", "tandem:tenant:" + tenant, "shadow_pct", "50")
	p = probes("--redis", clean_defaults.url, "%s,%s" % (tenant, other))
	d = p.wait_for(lambda d: d["shadow_pct"] == "50", tenant=tenant)
	assert (d["write_mode"], d["read_pct"]) == ("pg_primary", "25")  # from tandem:defaults
	o = p.wait_for(lambda d: refreshed(d) and d["write_mode"] == "pg_primary", tenant=other)
	assert (o["read_pct"], o["shadow_pct"]) == ("25", "9")


def test_invalid_values_are_ignored_and_logged_once_a_minute(clean_defaults, probes, tenant):
	key = "tandem:tenant:" + tenant
	cli(clean_defaults, "HSET", "tandem:defaults", "write_mode", "dual_write", "read_pct", "10")
	cli(clean_defaults, "HSET", key, "write_mode", "bogus", "read_pct", "150", "shadow_pct", "abc",
		"phase", "nonsense", "updated_by", "alice")
	# polling (the old behaviour), so that the same bad values are read again and again
	p = probes("--redis", clean_defaults.url, "--set", "defaults.shadow_pct=2", "--set", "flags.tracking=false",
		tenant)
	d = p.wait_for(lambda d: d["write_mode"] == "dual_write", tenant=tenant)
	first = int(d["refreshes"])
	d = p.wait_for(lambda d: int(d["refreshes"]) >= first + 5, tenant=tenant)
	assert (d["write_mode"], d["read_pct"], d["shadow_pct"], d["phase"]) == ("dual_write", "10", "2", "-")
	assert int(d["invalid"]) >= 4 * 5  # counted on every refresh...
	logs = [json.loads(x) for x in p.stop().splitlines() if x.startswith("{")]
	warned = sorted(x["field"] for x in logs if x["event"] == "flags_invalid_value" and x["key"] == key)
	assert warned == ["phase", "read_pct", "shadow_pct", "write_mode"]  # ...logged once per field
	assert all(x["level"] == "warn" for x in logs if x["event"] == "flags_invalid_value")


def test_a_key_of_the_wrong_type_means_no_flags(clean_defaults, probes, tenant):
	cli(clean_defaults, "SET", "tandem:tenant:" + tenant, "not-a-hash")
	cli(clean_defaults, "HSET", "tandem:defaults", "read_pct", "3")
	p = probes("--redis", clean_defaults.url, tenant)
	d = p.wait_for(lambda d: loaded(d) and d["read_pct"] == "3", tenant=tenant)
	assert d["errors"] == "0"
	assert '"flags_bad_reply"' in p.stop()


def test_plain_hset_is_visible_within_one_second(clean_defaults, probes, tenant):
	p = probes("--redis", clean_defaults.url, tenant)
	p.wait_for(loaded, tenant=tenant)
	delays = []
	for i in range(5):
		value = str(31 + i)
		t0 = time.time() * 1000
		cli(clean_defaults, "HSET", "tandem:tenant:" + tenant, "read_pct", value)
		d = p.wait_for(lambda d: d["read_pct"] == value, timeout=3, tenant=tenant)
		delays.append(int(d["now_ms"]) - t0)
		time.sleep(0.13)
	print("HSET -> visible delays (ms, invalidations, probe prints every 20 ms): %s"
		% ", ".join("%.0f" % x for x in delays))
	assert max(delays) < CONTRACT_S * 1000
	d = p.wait_for(lambda d: True, tenant=tenant)
	assert int(d["invalidations"]) >= 5 and d["full"] == "1", "seen through invalidations, not a full refresh"


def test_publish_refreshes_before_the_next_poll(clean_defaults, probes, tenant):
	p = probes("--redis", clean_defaults.url, "--set", "flags.poll_ms=5000", "--set", "flags.tracking=false",
		tenant)
	p.wait_for(lambda d: refreshed(d) and d["tracking"] == "0", tenant=tenant)
	time.sleep(0.3)  # the next poll is ~5 s away
	cli(clean_defaults, "HSET", "tandem:tenant:" + tenant, "write_mode", "pg_only")
	assert all(d["write_mode"] == "mongo_only" for d in p.lines_for(0.5, tenant)), "refreshed without a poll?"
	t0 = time.time() * 1000
	cli(clean_defaults, "PUBLISH", "tandem:flags", tenant)
	d = p.wait_for(lambda d: d["write_mode"] == "pg_only", timeout=CONTRACT_S, tenant=tenant)
	print("PUBLISH -> visible: %.0f ms (poll 5000 ms)" % (int(d["now_ms"]) - t0))
	assert int(d["messages"]) >= 1


def test_tandemctl_mode_and_flags(clean_defaults, probes, tenant):
	ctl = ctl_bin()
	p = probes("--redis", clean_defaults.url, "--set", "flags.poll_ms=5000", tenant)
	p.wait_for(loaded, tenant=tenant)
	r = subprocess.run([ctl, "mode", tenant, "dual_write", "--redis", clean_defaults.url],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
	assert r.returncode == 0, r.stderr.decode()
	out = r.stdout.decode()
	assert "notified:   1 tandem instance on tandem:flags" in out, out
	assert "write_mode: dual_write   (tandem:tenant:%s)" % tenant in out, out
	p.wait_for(lambda d: d["write_mode"] == "dual_write", timeout=CONTRACT_S, tenant=tenant)
	assert cli(clean_defaults, "HGET", "tandem:tenant:" + tenant, "write_mode") == "dual_write"

	cli(clean_defaults, "HSET", "tandem:defaults", "read_pct", "5", "shadow_pct", "oops")
	r = subprocess.run([ctl, "flags", tenant, "--redis", clean_defaults.url], stdout=subprocess.PIPE, timeout=30)
	out = r.stdout.decode()
	assert r.returncode == 0
	assert "read_pct:   5            (tandem:defaults)" in out, out
	assert "shadow_pct: 0            (built-in default)" in out, out
	assert "tandem:defaults shadow_pct 'oops' (invalid)" in out, out

	bad = subprocess.run([ctl, "mode", tenant, "bogus", "--redis", clean_defaults.url], stderr=subprocess.PIPE,
		stdout=subprocess.PIPE, timeout=30)
	assert bad.returncode == 2 and b"not one of" in bad.stderr
	down = subprocess.run([ctl, "flags", tenant, "--redis", "redis://127.0.0.1:%d" % servers.free_port()],
		stderr=subprocess.PIPE, stdout=subprocess.PIPE, timeout=30)
	assert down.returncode == 1 and b"cannot reach Redis" in down.stderr


class RestartableRedis:
	"""A redis-server on a fixed port that can be stopped and started again."""

	def __init__(self, workdir):
		self.workdir = workdir
		self.port = servers.free_port()
		self.url = "redis://127.0.0.1:%d/0" % self.port
		self.proc = None
		self.start()

	def start(self):
		self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", self.workdir], stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL, preexec_fn=servers._die_with_parent)
		servers.wait_until(lambda: self.ping(), what="redis to answer PING")

	def ping(self):
		try:
			return cli(self, "PING") == "PONG"
		except subprocess.CalledProcessError:
			return False

	def stop(self):
		servers.stop_process(self.proc)


@pytest.fixture
def own_redis(tmp_path):
	r = RestartableRedis(str(tmp_path))
	yield r
	r.stop()


def test_redis_outage_keeps_the_last_flags_then_refresh_resumes(own_redis, probes, tenant):
	key = "tandem:tenant:" + tenant
	cli(own_redis, "HSET", key, "read_pct", "33", "write_mode", "dual_write")
	p = probes("--redis", own_redis.url, tenant)
	d = p.wait_for(lambda d: d["read_pct"] == "33", tenant=tenant)

	own_redis.stop()
	down = p.wait_for(lambda d: d["connected"] == "0" and int(d["errors"]) >= 1, tenant=tenant)
	kept = p.lines_for(1.5, tenant)
	assert kept and all((x["read_pct"], x["write_mode"]) == ("33", "dual_write") for x in kept)
	assert int(kept[-1]["errors"]) >= int(down["errors"])
	assert kept[-1]["last_ok_ms"] == down["last_ok_ms"]
	errors = int(kept[-1]["errors"])
	assert errors <= 1.5 / 0.1 + 2, "reconnects are backed off"

	own_redis.start()  # empty: the flags must follow what Redis now says
	t0 = time.time()
	cli(own_redis, "HSET", key, "read_pct", "44")
	d = p.wait_for(lambda d: d["read_pct"] == "44" and d["connected"] == "1", timeout=5, tenant=tenant)
	print("refresh resumed %.2f s after Redis restarted (%d errors while down)" % (time.time() - t0, errors))
	assert d["write_mode"] == "mongo_only"  # the old hash is gone, and with it dual_write
	assert int(d["last_ok_ms"]) > int(down["last_ok_ms"])
	assert d["tracking"] == "1", "invalidations re-enabled after the restart"
	# a change now is seen through invalidations (the next full refresh is 30 s away)
	full = d["full"]
	cli(own_redis, "HSET", key, "read_pct", "45")
	d = p.wait_for(lambda d: d["read_pct"] == "45", timeout=CONTRACT_S, tenant=tenant)
	assert d["full"] == full
	logs = [json.loads(x) for x in p.stop().splitlines() if x.startswith("{")]
	assert [x["level"] for x in logs if x["event"] == "flags_redis_down"] == ["warn"]


def ctl(redis_url, *args):
	return subprocess.run([ctl_bin()] + [str(a) for a in args] + ["--redis", redis_url],
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)


def write_tenants(redis, names, field="read_pct", value="1"):
	"""HSET tandem:tenant:<name> for every name, pipelined (redis-cli --pipe)."""
	cmds = "".join("HSET tandem:tenant:%s %s %s\r\n" % (n, field, value) for n in names)
	p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "--pipe"], input=cmds.encode(),
		stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
	assert p.returncode == 0 and b"errors: 0" in p.stdout, p.stdout + p.stderr


def test_only_tenants_with_a_hash_get_an_entry(own_redis, probes, tenant):
	"""10 000 distinct unknown names looked up: the table keeps the tenants
	that have a hash, and the process does not grow."""
	write_tenants(own_redis, ["%s-%d" % (tenant, i) for i in range(3)])
	p = probes("--redis", own_redis.url, "--lookups", "10000", tenant + "-0")
	assert p.event("loaded")["tenants"] == "3"
	d = p.event("lookups")
	print("10 000 unknown names: tenants %s, RSS %s -> %s KiB" % (d["tenants"], d["rss_kb_before"],
		d["rss_kb_after"]))
	assert d["tenants"] == "3" and d["refused"] == "0"
	assert int(d["rss_kb_after"]) - int(d["rss_kb_before"]) < 256, d
	line = p.wait_for(lambda d: True, tenant=tenant + "-0")
	assert (line["tenants"], line["read_pct"]) == ("3", "1")


def test_a_new_hash_adds_the_tenant_and_del_removes_it(own_redis, probes, tenant):
	key = "tandem:tenant:" + tenant
	p = probes("--redis", own_redis.url, "--set", "defaults.read_pct=2", tenant)
	d = p.wait_for(loaded, tenant=tenant)
	assert (d["tenants"], d["read_pct"]) == ("0", "2")
	cli(own_redis, "HSET", key, "read_pct", "70", "write_mode", "dual_write")
	d = p.wait_for(lambda d: d["read_pct"] == "70", timeout=CONTRACT_S, tenant=tenant)
	assert (d["tenants"], d["write_mode"], d["full"]) == ("1", "dual_write", "1")
	cli(own_redis, "DEL", key)
	d = p.wait_for(lambda d: d["tenants"] == "0", timeout=CONTRACT_S, tenant=tenant)
	assert (d["read_pct"], d["write_mode"], d["full"]) == ("2", "mongo_only", "1")


def test_defaults_change_reaches_every_tenant_without_a_full_refresh(own_redis, probes, tenant):
	other = tenant + "-nohash"
	cli(own_redis, "HSET", "tandem:tenant:" + tenant, "shadow_pct", "5")
	p = probes("--redis", own_redis.url, "%s,%s" % (tenant, other))
	p.wait_for(loaded, tenant=tenant)
	cli(own_redis, "HSET", "tandem:defaults", "read_pct", "15", "shadow_pct", "9")
	d = p.wait_for(lambda d: d["read_pct"] == "15", timeout=CONTRACT_S, tenant=tenant)
	assert d["shadow_pct"] == "5" and d["full"] == "1"
	o = p.wait_for(lambda d: d["read_pct"] == "15", timeout=CONTRACT_S, tenant=other)
	assert o["shadow_pct"] == "9" and o["tenants"] == "1"


def test_the_full_refresh_runs_as_a_fallback_and_repairs_nothing_when_no_change_is_lost(own_redis, probes, tenant):
	write_tenants(own_redis, ["%s-%d" % (tenant, i) for i in range(2500)])  # three pipelines of HGETALL
	last = "%s-2499" % tenant
	p = probes("--redis", own_redis.url, "--set", "flags.full_refresh_ms=1000", last)
	assert p.event("loaded")["tenants"] == "2500"
	d = p.wait_for(lambda d: int(d["full"]) >= 3, timeout=6, tenant=last)
	assert (d["repairs"], d["tenants"], d["errors"]) == ("0", "2500", "0")
	cli(own_redis, "HSET", "tandem:tenant:" + last, "read_pct", "61")
	p.wait_for(lambda d: d["read_pct"] == "61", timeout=CONTRACT_S, tenant=last)


def test_flush_forgets_every_tenant(own_redis, probes, tenant):
	write_tenants(own_redis, [tenant], "read_pct", "40")
	p = probes("--redis", own_redis.url, tenant)
	p.wait_for(lambda d: loaded(d) and d["read_pct"] == "40", tenant=tenant)
	cli(own_redis, "FLUSHDB")
	d = p.wait_for(lambda d: d["tenants"] == "0", timeout=CONTRACT_S, tenant=tenant)
	assert d["read_pct"] == "0"


@pytest.mark.parametrize("cmd,field", [("shift", "read_pct"), ("shadow", "shadow_pct")])
def test_tandemctl_shift_and_shadow_set_print_and_notify(clean_defaults, probes, tenant, cmd, field):
	key = "tandem:tenant:" + tenant
	cli(clean_defaults, "HSET", key, field, "10")
	p = probes("--redis", clean_defaults.url, "--set", "flags.tracking=false", "--set", "flags.poll_ms=5000",
		tenant)
	p.wait_for(lambda d: refreshed(d) and d[field] == "10", tenant=tenant)
	r = ctl(clean_defaults.url, cmd, tenant, "12.5")
	assert r.returncode == 0, r.stderr.decode()
	out = r.stdout.decode()
	assert "changed:    %s 10 -> 12.5 (was from %s)" % (field, key) in out, out
	assert "notified:   1 tandem instance on tandem:flags" in out, out
	assert "%-11s 12.5         (%s)" % (field + ":", key) in out, out
	assert cli(clean_defaults, "HGET", key, field) == "12.5"
	# the probe polls every 5 s: only the PUBLISH can bring it this fast
	p.wait_for(lambda d: d[field] == "12.5", timeout=CONTRACT_S, tenant=tenant)
	r = ctl(clean_defaults.url, cmd, tenant + "-new", "0")
	assert r.returncode == 0 and ("changed:    %s 0 -> 0 (was from built-in default)" % field) in r.stdout.decode()


@pytest.mark.parametrize("cmd", ["shift", "shadow"])
@pytest.mark.parametrize("value", ["101", "-1", "abc", "1e1", "nan", "", "50%"])
def test_tandemctl_refuses_a_bad_percentage(clean_defaults, tenant, cmd, value):
	r = ctl(clean_defaults.url, cmd, tenant, value)
	assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
	assert ("%s: '%s' is not a percentage between 0 and 100" % (cmd, value)).encode() in r.stderr, r.stderr
	assert cli(clean_defaults, "EXISTS", "tandem:tenant:" + tenant) == "0"


@pytest.mark.parametrize("cmd", ["shift", "shadow", "mode", "flags"])
def test_tandemctl_flag_commands_help_and_usage(cmd):
	r = subprocess.run([ctl_bin(), cmd, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
	assert r.returncode == 0 and ("usage: tandemctl %s TENANT" % cmd).encode() in r.stdout, r.stdout
	r = subprocess.run([ctl_bin(), cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
	assert r.returncode == 2 and b"usage:" in r.stderr


@pytest.mark.parametrize("cmd,value", [("shift", "25"), ("shadow", "3"), ("mode", "dual_write")])
def test_tandemctl_with_redis_down_exits_1(cmd, value, tenant):
	r = ctl("redis://127.0.0.1:%d" % servers.free_port(), cmd, tenant, value)
	assert r.returncode == 1 and b"cannot reach Redis" in r.stderr, r.stderr


def _rss_kb(pid):
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	return 0


def _tandem_metric(t, name):
	for line in t.metrics().splitlines():
		if line.startswith(name + " "):
			return float(line.split()[1])
	raise AssertionError("no metric %s" % name)


def test_tandem_10000_database_names_do_not_grow_the_flag_table(start_tandem, upstream, own_redis, tenant):
	"""Writes to 10 000 distinct databases through tandem (each one a
	flags_get of a client-chosen name): the table stays at the tenants that
	have a hash, and tandem's RSS stays bounded."""
	import wire  # noqa: E402  (tests/integration/wire.py)
	write_tenants(own_redis, ["%s-%d" % (tenant, i) for i in range(2)], "write_mode", "mongo_only")
	t = start_tandem(upstream.uri, redis=own_redis.url)
	servers.wait_until(lambda: _tandem_metric(t, "tandem_flags_full_refreshes_total") >= 1, what="flags loaded")
	assert _tandem_metric(t, "tandem_flags_tenants") == 2
	assert _tandem_metric(t, "tandem_flags_tracking") == 1
	s = wire.connect(t.port)
	rss0 = _rss_kb(t.proc.pid)
	n, batch = 10000, 250
	for start in range(0, n, batch):  # pipelined: a batch of inserts, then their replies
		s.sendall(b"".join(wire.op_msg({"insert": "c", "documents": [{"_id": 1}],
			"$db": "%s~%d" % (tenant, i)}, request_id=i + 1) for i in range(start, start + batch)))
		for _ in range(batch):
			assert wire.msg_body(wire.recv_msg(s)).get("ok") == 1
	s.close()
	rss1 = _rss_kb(t.proc.pid)
	print("10 000 database names through tandem: flag entries %d, RSS %d -> %d KiB"
		% (_tandem_metric(t, "tandem_flags_tenants"), rss0, rss1))
	assert _tandem_metric(t, "tandem_flags_tenants") == 2
	if not servers.sanitized(t.binary):   # ASan's quarantine keeps freed memory
		assert rss1 - rss0 < 8192, "RSS grew by %d KiB" % (rss1 - rss0)
	# a tenant whose hash appears now gets its entry at once
	cli(own_redis, "HSET", "tandem:tenant:%s~7" % tenant, "read_pct", "5")
	servers.wait_until(lambda: _tandem_metric(t, "tandem_flags_tenants") == 3, timeout=CONTRACT_S,
		what="the new hash's entry")


def test_a_frozen_redis_is_noticed_by_ping_and_updates_resume(own_redis, probes, tenant):
	"""SIGSTOP: no EOF reaches the refresher, only silence; the PING after 5 s
	of silence goes unanswered, the connection is dropped (flags kept), and
	after SIGCONT invalidations flow again."""
	import signal
	key = "tandem:tenant:" + tenant
	cli(own_redis, "HSET", key, "read_pct", "21")
	p = probes("--redis", own_redis.url, tenant)
	p.wait_for(lambda d: loaded(d) and d["read_pct"] == "21", tenant=tenant)
	os.kill(own_redis.proc.pid, signal.SIGSTOP)
	try:
		d = p.wait_for(lambda d: d["connected"] == "0", timeout=12, tenant=tenant)
		assert d["read_pct"] == "21" and int(d["errors"]) >= 1
	finally:
		os.kill(own_redis.proc.pid, signal.SIGCONT)
	d = p.wait_for(lambda d: d["connected"] == "1" and d["tracking"] == "1", timeout=8, tenant=tenant)
	cli(own_redis, "HSET", key, "read_pct", "22")
	p.wait_for(lambda d: d["read_pct"] == "22", timeout=CONTRACT_S, tenant=tenant)


def test_a_change_redis_does_not_announce_is_repaired_by_the_full_refresh(own_redis, probes, tenant):
	"""SWAPDB changes what database 0 holds without an invalidation: the
	periodic full refresh finds it and counts a repair.  (A write in another
	database is announced too, BCAST being server-wide: it costs one HGETALL
	and changes nothing.)"""
	key = "tandem:tenant:" + tenant
	cli(own_redis, "HSET", key, "read_pct", "1")
	p = probes("--redis", own_redis.url, "--set", "flags.full_refresh_ms=1500", tenant)
	p.wait_for(lambda d: loaded(d) and d["read_pct"] == "1", tenant=tenant)
	cli(own_redis, "-n", "1", "HSET", key, "read_pct", "9")
	cli(own_redis, "SWAPDB", "0", "1")
	d = p.wait_for(lambda d: d["read_pct"] == "9", timeout=5, tenant=tenant)
	assert int(d["repairs"]) == 1 and int(d["full"]) >= 2, d
