#!/usr/bin/python3
"""dwmetrics.py - samples tandem's dual-write metrics and summarises a window.

  dwmetrics.py sample URL OUT.jsonl --interval 0.1 --max-seconds 600
      GETs URL (http://ADMIN/metrics) every interval until killed or
      max-seconds; appends one JSON line per sample:
      {"t": unix time, "applied": n, "pending": n, "jobs": n, "lag": {le: cumulative count}}
  dwmetrics.py window OUT.jsonl T0 T1
      prints one JSON line about the samples in [T0, T1]:
      applied_per_s  (applied_total delta between the samples closest to T0 and T1)
      pending_max, pending_end, samples
      lag_n, lag_p50_ms, lag_p99_ms (from the deltas of the histogram buckets,
        linear interpolation inside a bucket; ">10000" if in the +Inf bucket),
      lag_le_50ms_pct (exact: share of the window's operations in buckets <= 50 ms)
  dwmetrics.py drain URL --max-seconds S
      waits until tandem_dualwrite_pending is 0 (polls every 50 ms, bounded);
      prints {"drained": bool, "seconds": s, "applied": n, "rows_per_s": r}
      where rows_per_s is the applied rate while draining (the applier alone).

Only the standard library; use /usr/bin/python3.
"""
import json
import sys
import time
import urllib.request

LAG = "tandem_dualwrite_lag_seconds_bucket{le=\""


def scrape(url):
	"""One scrape of the metrics page -> dict (raises on HTTP errors)."""
	with urllib.request.urlopen(url, timeout=2) as r:
		text = r.read().decode()
	s = {"t": time.time(), "lag": {}}
	for line in text.splitlines():
		if line.startswith("#") or " " not in line:
			continue
		name, val = line.rsplit(" ", 1)
		if name == "tandem_dualwrite_applied_total":
			s["applied"] = int(float(val))
		elif name == "tandem_dualwrite_pending":
			s["pending"] = int(float(val))
		elif name == "tandem_dualwrite_jobs_total":
			s["jobs"] = int(float(val))
		elif name.startswith(LAG):
			s["lag"][name[len(LAG):-2]] = int(float(val))
	return s


def cmd_sample(url, out, interval, max_s):
	end = time.time() + max_s
	with open(out, "a") as f:
		while time.time() < end:
			t0 = time.time()
			try:
				f.write(json.dumps(scrape(url)) + "\n")
				f.flush()
			except OSError:
				pass
			time.sleep(max(0.0, interval - (time.time() - t0)))


def bound(le):
	return float("inf") if le == "+Inf" else float(le)


def quantile(deltas, q):
	"""deltas: [(upper bound s, count)] sorted; linear interpolation in the bucket."""
	n = sum(c for _, c in deltas)
	if n == 0:
		return None
	rank, cum, lo = q * n, 0, 0.0
	for hi, c in deltas:
		if c > 0 and cum + c >= rank:
			if hi == float("inf"):
				return float("inf")
			return lo + (hi - lo) * (rank - cum) / c
		cum += c
		lo = hi
	return lo


def closest(samples, t):
	return min(samples, key=lambda s: abs(s["t"] - t))


def cmd_window(path, t0, t1):
	samples = [json.loads(l) for l in open(path) if l.strip()]
	samples = [s for s in samples if "applied" in s]
	a, b = closest(samples, t0), closest(samples, t1)
	inside = [s for s in samples if t0 <= s["t"] <= t1]
	les = sorted(b["lag"], key=bound)
	cum_a = [a["lag"].get(le, 0) for le in les]
	cum_b = [b["lag"].get(le, 0) for le in les]
	deltas, prev = [], 0
	for i, le in enumerate(les):
		d = cum_b[i] - cum_a[i]
		deltas.append((bound(le), d - prev))
		prev = d
	n = sum(c for _, c in deltas)
	le50 = sum(c for hi, c in deltas if hi <= 0.05)

	def ms(v):
		return None if v is None else (">10000" if v == float("inf") else round(v * 1000, 2))
	dt = b["t"] - a["t"]
	print(json.dumps({
		"t0": a["t"], "t1": b["t"], "samples": len(inside),
		"applied": b["applied"] - a["applied"],
		"applied_per_s": round((b["applied"] - a["applied"]) / dt, 1) if dt > 0 else None,
		"jobs_per_s": round((b.get("jobs", 0) - a.get("jobs", 0)) / dt, 1) if dt > 0 else None,
		"pending_max": max((s["pending"] for s in inside), default=None),
		"pending_end": b["pending"],
		"lag_n": n, "lag_p50_ms": ms(quantile(deltas, 0.5)), "lag_p99_ms": ms(quantile(deltas, 0.99)),
		"lag_le_50ms_pct": round(100.0 * le50 / n, 2) if n else None,
	}))


def cmd_drain(url, max_s):
	t0 = time.time()
	first = scrape(url)
	s = first
	while s["pending"] > 0 and time.time() - t0 < max_s:
		time.sleep(0.05)
		s = scrape(url)
	dt = s["t"] - first["t"]
	applied = s["applied"] - first["applied"]
	print(json.dumps({"drained": s["pending"] == 0, "seconds": round(dt, 2), "applied": applied,
		"pending_start": first["pending"], "pending_end": s["pending"],
		"rows_per_s": round(applied / dt, 1) if dt > 0.2 else None}))


def main(argv):
	opts = {"--interval": 0.1, "--max-seconds": 600.0}
	pos, i = [], 1
	while i < len(argv):
		if argv[i] in opts:
			opts[argv[i]] = float(argv[i + 1])
			i += 2
		else:
			pos.append(argv[i])
			i += 1
	if pos[:1] == ["sample"] and len(pos) == 3:
		cmd_sample(pos[1], pos[2], opts["--interval"], opts["--max-seconds"])
	elif pos[:1] == ["window"] and len(pos) == 4:
		cmd_window(pos[1], float(pos[2]), float(pos[3]))
	elif pos[:1] == ["drain"] and len(pos) == 2:
		cmd_drain(pos[1], opts["--max-seconds"])
	else:
		sys.stderr.write(__doc__)
		return 2
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv))
