#!/usr/bin/python3
"""dwreport.py - dwbench.sh's JSON lines -> the Markdown report (stdout).

  dwreport.py RESULTS.jsonl --machine TEXT --durable 0|1 --seconds S --warmup S
              --rate R --lag-seconds S --lag-conns N --tandem-args TEXT

Lines: loadgen points (name direct-N, mongo_only-N, dual_write-N, lag-R; with
CPU shares), kind "window" (dwmetrics.py window), kind "drain", kind "count",
kind "baseline".  Targets are the brief's: >= 20 000 single-document inserts/s
applied; lag p99 <= 50 ms at 5 000 writes/s.
"""
import datetime
import json
import sys

TARGET_APPLIED = 20000.0
TARGET_LAG_MS = 50.0


def fmt(v, nd=0):
	if v is None:
		return "-"
	if isinstance(v, str):
		return v
	return "{:,.{}f}".format(v, nd)


def ratio(a, b):
	return "-" if not a or not b else "{:.2f}".format(a / b)


def parse_args(argv):
	opts, i = {}, 2
	while i < len(argv):
		opts[argv[i].lstrip("-")] = argv[i + 1]
		i += 2
	return argv[1], opts


def load(path):
	points, windows, drains, count, base = {}, {}, {}, None, None
	for line in open(path):
		if not line.strip():
			continue
		r = json.loads(line)
		kind = r.get("kind")
		if kind == "window":
			windows[r["name"]] = r
		elif kind == "drain":
			drains[r["name"]] = r
		elif kind == "count":
			count = r
		elif kind == "baseline":
			base = r
		else:
			points[r["name"]] = r
	return points, windows, drains, count, base


def other_cpu(p):
	mine = p["stub_cpu_pct"] + p["tandem_cpu_pct"] + p["pg_cpu_pct"] + p.get("loadgen_cpu_pct", 0)
	return max(0.0, p["machine_cpu_pct"] - mine)


def throughput_table(points, windows, drains, out):
	out.append("## Saturation: single-document inserts, closed loop\n")
	out.append("| path | conns | client inserts/s | × direct | × mongo_only | p50 µs | p99 µs "
		"| applied rows/s (window) | pending at window end | drain rows/s (applier alone) "
		"| CPU % loadgen / stub / tandem / PG / other | errors |")
	out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
	conns = sorted({int(n.split("-")[1]) for n in points if not n.startswith("lag")})
	for c in conns:
		d = points.get("direct-%d" % c, {}).get("ops_per_s")
		m = points.get("mongo_only-%d" % c, {}).get("ops_per_s")
		for path in ("direct", "mongo_only", "dual_write"):
			p = points.get("%s-%d" % (path, c))
			if p is None:
				continue
			w = windows.get(p["name"], {})
			dr = drains.get(p["name"], {})
			cpu = "%.0f / %.0f / %.0f / %.0f / %.0f" % (p.get("loadgen_cpu_pct", 0), p["stub_cpu_pct"],
				p["tandem_cpu_pct"], p["pg_cpu_pct"], other_cpu(p))
			out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
				path, c, fmt(p["ops_per_s"]), ratio(p["ops_per_s"], d),
				ratio(p["ops_per_s"], m) if path != "direct" else "-",
				fmt(p["p50_us"], 1), fmt(p["p99_us"], 1), fmt(w.get("applied_per_s")),
				fmt(w.get("pending_end")), fmt(dr.get("rows_per_s")), cpu, p.get("errors", "-")))
	out.append("")


def lag_table(points, windows, opts, out):
	name = "lag-%s" % opts["rate"]
	p, w = points.get(name), windows.get(name)
	if p is None or w is None:
		return None
	out.append("## Lag at a fixed %s inserts/s (%s connections, %s s window, paced loadgen)\n"
		% (fmt(float(opts["rate"])), opts["lag-conns"], opts["lag-seconds"]))
	out.append("| achieved inserts/s | skipped by the pacer | operations in window | lag p50 ms "
		"| lag p99 ms | ≤ 50 ms (exact, from the bucket) | pending max (100 ms samples) "
		"| applied rows/s | CPU % loadgen / stub / tandem / PG / other |")
	out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	cpu = "%.0f / %.0f / %.0f / %.0f / %.0f" % (p.get("loadgen_cpu_pct", 0), p["stub_cpu_pct"],
		p["tandem_cpu_pct"], p["pg_cpu_pct"], other_cpu(p))
	out.append("| %s | %s | %s | %s | %s | %s %% | %s | %s | %s |" % (
		fmt(p["ops_per_s"]), fmt(p.get("skipped")), fmt(w["lag_n"]), fmt(w["lag_p50_ms"], 2),
		fmt(w["lag_p99_ms"], 2), fmt(w["lag_le_50ms_pct"], 2), fmt(w["pending_max"]),
		fmt(w["applied_per_s"]), cpu))
	out.append("")
	out.append("Lag = MongoDB's reply reaching tandem → PostgreSQL commit, per operation "
		"(`tandem_dualwrite_lag_seconds`).  Percentiles come from the histogram's bucket "
		"deltas over the window, linearly interpolated inside a bucket (bounds 50 µs … 10 s; "
		"around the target the buckets are 25/50/100 ms, so p99 is only known to within its "
		"bucket); the ≤ 50 ms share is exact.\n")
	return w


def main(argv):
	path, opts = parse_args(argv)
	points, windows, drains, count, base = load(path)
	out = ["# Dual-write benchmark\n",
		"- date: %s UTC" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S"),
		"- machine: %s" % opts.get("machine", "?"),
		"- PostgreSQL 15, fresh cluster, %s" % ("fsync=on, synchronous_commit=on" if opts.get("durable") == "1"
			else "fsync=off, synchronous_commit=off, full_page_writes=off (as the integration tests)"),
		"- documents: ~200 B BSON (ObjectId _id, 9 user-like fields), one per insert command, "
		"collection `bench` → default table (tenant_id, id uuid, legacy_id jsonb, doc jsonb) + GIN index on doc",
		"- closed-loop points: %s s warm-up, %s s window; tandem extra flags: %s\n" % (
			opts.get("warmup"), opts.get("seconds"), opts.get("tandem-args") or "none")]
	throughput_table(points, windows, drains, out)
	w = lag_table(points, windows, opts, out)
	best = max((windows[n]["applied_per_s"] or 0 for n in windows if n.startswith("dual_write")),
		default=None)
	best_drain = max((drains[n]["rows_per_s"] or 0 for n in drains if n.startswith("dual_write")),
		default=None)
	if base:
		out.append("## Row-by-row baseline (same PostgreSQL, same DDL, same row)\n")
		out.append("| row-by-row rows/s (pgbench, 1 conn, autocommit, prepared) | tandem applied rows/s "
			"(best window) | ratio | tandem drain rows/s (best) | ratio |")
		out.append("|---:|---:|---:|---:|---:|")
		out.append("| %s | %s | %s | %s | %s |\n" % (fmt(base["rows_per_s"]), fmt(best),
			ratio(best, base["rows_per_s"]), fmt(best_drain), ratio(best_drain, base["rows_per_s"])))
	if count:
		ok = count["acked"] == count["pg_rows"]
		out.append("## Nothing lost\n")
		out.append("%s: %s inserts acknowledged to the loadgen over the dual_write points, %s rows in "
			"PostgreSQL after the drain (tandem jobs %s, applied %s, pending %s, queued %s, spooled %s, "
			"dead letters %s, errors transient/permanent %s/%s).\n" % (
			"OK" if ok else "**MISMATCH**", fmt(count["acked"]), fmt(count["pg_rows"]), fmt(count["jobs"]),
			fmt(count["applied"]), fmt(count["pending"]), fmt(count["queued"]), fmt(count["spooled"]),
			fmt(count["dead_letters"]), count["errors_transient"], count["errors_permanent"]))
	out.append("## Targets (brief)\n")
	out.append("| target | result |")
	out.append("|---|---|")
	out.append("| ≥ 20 000 single-document inserts/s applied | %s: %s rows/s (best window), %s rows/s "
		"draining |" % ("met" if best and best >= TARGET_APPLIED else "**not met**", fmt(best), fmt(best_drain)))
	if w:
		met = w["lag_le_50ms_pct"] is not None and w["lag_le_50ms_pct"] >= 99.0
		out.append("| lag p99 ≤ 50 ms at %s writes/s | %s: p99 ≈ %s ms, %s %% ≤ 50 ms |" % (
			fmt(float(opts["rate"])), "met" if met else "**not met**", fmt(w["lag_p99_ms"], 1),
			fmt(w["lag_le_50ms_pct"], 2)))
	out.append("\nCPU %: share of one core during the window (the machine has the cores listed "
		"above; `other` = processes this script did not start: when it is high the figures are "
		"disturbed).")
	print("\n".join(out))


if __name__ == "__main__":
	main(sys.argv)
