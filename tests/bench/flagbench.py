"""Flag propagation benchmark (run through flagbench.sh).

  redis-server (own, free port) ◀── 10 000 × HSET tandem:tenant:<t> (redis-cli --pipe)
      │ invalidation / poll
      ├──▶ flags_probe A ─┐ each prints "kind=change now_us=... tenant=T read_pct=R"
      └──▶ flags_probe B ─┘ when flags_get(T) changes (looked up every 200 µs)
  this script: HSET tandem:tenant:T read_pct R over a raw socket (RESP, as
  redis-cli sends it), t0 = wall clock before the send; delay = now_us - t0
  (same machine, same clock) until each probe serves R.

For each mode (invalidations: the default config; poll: flags.tracking=false
flags.poll_ms=100, the previous design re-reading every hash on every tick)
two fresh probes load the 10 000 tenants, then N changes go one at a time to
20 watched tenants, 10-30 ms apart.  Printed: p50/p99/max per instance, the
HGETALL calls Redis served per second during the run (from INFO
commandstats), Redis's PING round trip (p50/p99), and flags_get's cost in
ns per lookup for known and unknown tenants (10 000 distinct unknown names).
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

WATCHED = 20


def free_port():
	s = socket.socket()
	s.bind(("127.0.0.1", 0))
	port = s.getsockname()[1]
	s.close()
	return port


class Resp:
	"""A minimal RESP2 client over one socket (no library between us and Redis)."""

	def __init__(self, port):
		self.sock = socket.create_connection(("127.0.0.1", port))
		self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		self.buf = b""

	def send(self, *args):
		out = b"*%d\r\n" % len(args)
		for a in args:
			a = a if isinstance(a, bytes) else str(a).encode()
			out += b"$%d\r\n%s\r\n" % (len(a), a)
		self.sock.sendall(out)

	def _line(self):
		while b"\r\n" not in self.buf:
			chunk = self.sock.recv(65536)
			if not chunk:
				raise ConnectionError("redis closed")
			self.buf += chunk
		line, self.buf = self.buf.split(b"\r\n", 1)
		return line

	def reply(self):
		line = self._line()
		if line[:1] == b"$":
			n = int(line[1:])
			if n < 0:
				return None
			while len(self.buf) < n + 2:
				self.buf += self.sock.recv(65536)
			data, self.buf = self.buf[:n], self.buf[n + 2:]
			return data
		if line[:1] == b"*":
			return [self.reply() for _ in range(int(line[1:]))]
		if line[:1] == b"-":
			raise RuntimeError(line.decode())
		return line[1:]

	def call(self, *args):
		self.send(*args)
		return self.reply()


class Probe:
	def __init__(self, binary, port, tenants, extra):
		args = [binary, "--redis", "redis://127.0.0.1:%d/0" % port] + extra + \
			["--watch-us", "200", ",".join(tenants), "1000000000"]
		self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=None if os.environ.get("FLAGBENCH_DEBUG") else subprocess.DEVNULL)
		self.seen = {}
		self.loaded = None
		self.cv = threading.Condition()
		threading.Thread(target=self._read, daemon=True).start()

	def _read(self):
		for raw in self.proc.stdout:
			d = dict(kv.split("=", 1) for kv in raw.decode().split() if "=" in kv)
			with self.cv:
				if d.get("kind") == "loaded":
					self.loaded = d
				elif d.get("kind") == "change":
					self.seen[(d["tenant"], d["read_pct"])] = int(d["now_us"])
				self.cv.notify_all()

	def wait(self, pred, timeout):
		end = time.monotonic() + timeout
		with self.cv:
			while not pred():
				left = end - time.monotonic()
				if left <= 0:
					return False
				self.cv.wait(left)
		return True

	def stop(self):
		self.proc.terminate()
		try:
			self.proc.wait(5)
		except subprocess.TimeoutExpired:
			self.proc.kill()
			self.proc.wait()


def pct(xs, p):
	xs = sorted(xs)
	return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def hgetall_calls(r):
	for line in r.call("INFO", "commandstats").decode().splitlines():
		if line.startswith("cmdstat_hgetall:"):
			return int(line.split("calls=")[1].split(",")[0])
	return 0


def run_mode(args, port, r, tenants, watched, extra, frac):
	probes = [Probe(args.probe, port, watched, extra) for _ in range(2)]
	try:
		for p in probes:
			if not p.wait(lambda: p.loaded is not None, 30):
				sys.exit("flagbench: a probe did not load the tenants")
			if int(p.loaded["tenants"]) != len(tenants):
				sys.exit("flagbench: probe loaded %s tenants, expected %d" % (p.loaded["tenants"], len(tenants)))
		calls0, t_start = hgetall_calls(r), time.monotonic()
		delays = [[], []]
		rnd = random.Random(7)
		for i in range(args.changes):
			tenant, value = watched[i % len(watched)], "%d.%s" % (i % 100, frac)  # a new value each time
			t0 = time.time()
			r.call("HSET", "tandem:tenant:" + tenant, "read_pct", value)
			for k, p in enumerate(probes):
				if not p.wait(lambda: (tenant, value) in p.seen, 5):
					sys.exit("flagbench: instance %d never served %s=%s (saw %s)" % (k, tenant, value, sorted(p.seen)[:5]))
				delays[k].append((p.seen[(tenant, value)] - t0 * 1e6) / 1000.0)
			time.sleep(rnd.uniform(0.01, 0.03))
		rate = (hgetall_calls(r) - calls0) / (time.monotonic() - t_start)
		return delays, rate, [int(p.loaded["ms"]) for p in probes]
	finally:
		for p in probes:
			p.stop()


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--probe", required=True)
	ap.add_argument("--changes", type=int, default=100)
	ap.add_argument("--tenants", type=int, default=10000)
	ap.add_argument("--cost-lookups", type=int, default=2000000)
	ap.add_argument("--out")
	args = ap.parse_args()
	if not shutil.which("redis-server") or not os.access(args.probe, os.X_OK):
		sys.exit("flagbench: needs redis-server and %s" % args.probe)
	work = tempfile.mkdtemp(prefix="flagbench.")
	port = free_port()
	redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	try:
		for _ in range(100):
			try:
				r = Resp(port)
				r.call("PING")
				break
			except OSError:
				time.sleep(0.05)
		tenants = ["tenant-%05d" % i for i in range(args.tenants)]
		cmds = "".join("HSET tandem:tenant:%s read_pct 0 write_mode dual_write shadow_pct 1\r\n" % t
			for t in tenants)
		subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=cmds.encode(), check=True,
			stdout=subprocess.DEVNULL)
		watched = tenants[::max(1, len(tenants) // WATCHED)][:WATCHED]
		rtt = []
		for _ in range(200):
			t0 = time.perf_counter()
			r.call("PING")
			rtt.append((time.perf_counter() - t0) * 1000.0)
		results = {}
		for name, extra, frac in (("invalidations (default)", [], "25"),
				("poll every 100 ms (baseline)", ["--set", "flags.tracking=false", "--set", "flags.poll_ms=100"], "75")):
			results[name] = run_mode(args, port, r, tenants, watched, extra, frac)
		cost = subprocess.run([args.probe, "--redis", "redis://127.0.0.1:%d/0" % port, "--cost",
			str(args.cost_lookups), ",".join(watched), "1"], stdout=subprocess.PIPE, check=True).stdout.decode()
		c = dict(kv.split("=", 1) for line in cost.splitlines() if line.startswith("kind=cost")
			for kv in line.split())
	finally:
		redis.terminate()
		redis.wait()
		shutil.rmtree(work, ignore_errors=True)
	lines = ["# flagbench: %d tenants with a hash, %d changes (plain HSET), two flag caches" % (args.tenants,
		args.changes), "",
		"| mode | instance | p50 ms | p99 ms | max ms | HGETALL/s at Redis | initial load ms |",
		"|---|---|---:|---:|---:|---:|---:|"]
	for name, (delays, rate, load) in results.items():
		for k in range(2):
			lines.append("| %s | %s | %.2f | %.2f | %.2f | %.0f | %d |" % (name, "AB"[k], pct(delays[k], 50),
				pct(delays[k], 99), max(delays[k]), rate, load[k]))
	inv = results["invalidations (default)"][0]
	poll = results["poll every 100 ms (baseline)"][0]
	p99 = max(pct(inv[0], 99), pct(inv[1], 99))
	lines += ["", "Redis PING round trip (this script's socket): p50 %.3f ms, p99 %.3f ms" % (pct(rtt, 50),
		pct(rtt, 99)),
		"invalidations p99 (worst instance) %.2f ms = %.2f× the poll baseline's p99 %.2f ms; %.1f× Redis's PING p99"
		% (p99, p99 / max(pct(poll[0], 99), pct(poll[1], 99)), max(pct(poll[0], 99), pct(poll[1], 99)),
			p99 / pct(rtt, 99)),
		"flags_get: %s ns/lookup known tenant, %s ns/lookup unknown tenant (%s tenants in the table, %d lookups each)"
		% (c.get("known_ns"), c.get("unknown_ns"), c.get("tenants"), args.cost_lookups)]
	text = "\n".join(lines) + "\n"
	print(text)
	if args.out:
		with open(args.out, "w") as f:
			f.write(text)


if __name__ == "__main__":
	main()
