#!/usr/bin/python3
"""shreport.py - helpers of shbench.sh (the shadow-read benchmark).

  shreport.py load PORT DOCS DOC_BYTES
      inserts the documents stub_upstream's find returns ({_id: int64 i,
      pad: "x" * (DOC_BYTES - 28)}, i = 0 .. DOCS-1) into bench.bench through
      tandem (pymongo, one ordered insert_many); prints {"inserted": n}
  shreport.py metrics URL
      one JSON line: the tandem_shadow_* counters summed over tenant/coll
      (reads, matches, mismatches, skipped, shed, and per kind / reason),
      plus tandem_dualwrite_pending and tandem_dualwrite_applied_total
  shreport.py settle URL --max-seconds S
      polls URL until every shadow read has an outcome (reads == matches +
      mismatches + skipped + shed) and the dual-write backlog is 0; prints
      the final metrics line with "settled": true|false
  shreport.py report RESULTS.jsonl --machine TEXT --command TEXT ...
      the Markdown report (stdout) from shbench.sh's JSON lines

Standard library only, except `load` (Debian's python3-pymongo).  Targets are
the brief's: at shadow_pct 1 client p99 within 5 % of shadow off; at 100 %
throughput >= 70 % of off.
"""
import json
import statistics
import sys
import time
import urllib.request

TARGET_P99_1 = 1.05
TARGET_TPUT_100 = 0.70
STUB_DOC_OVERHEAD = 28
FAMILIES = {
	"tandem_shadow_reads_total": "reads",
	"tandem_shadow_matches_total": "matches",
	"tandem_shadow_mismatches_total": "mismatches",
	"tandem_shadow_skipped_total": "skipped",
	"tandem_shadow_shed_total": "shed",
	"tandem_dualwrite_pending": "dw_pending",
	"tandem_dualwrite_applied_total": "dw_applied",
}
BY_LABEL = {"mismatches": "kind", "skipped": "reason", "shed": "reason"}


def cmd_load(port, docs, doc_bytes):
	import bson.int64
	import pymongo

	pad = "x" * (int(doc_bytes) - STUB_DOC_OVERHEAD)
	cli = pymongo.MongoClient("127.0.0.1", int(port), serverSelectionTimeoutMS=5000,
		directConnection=True)
	coll = cli["bench"]["bench"]
	res = coll.insert_many([{"_id": bson.int64.Int64(i), "pad": pad} for i in range(int(docs))],
		ordered=True)
	cli.close()
	print(json.dumps({"inserted": len(res.inserted_ids)}))


def parse_labels(s):
	out = {}
	for part in s.split(","):
		if "=" in part:
			k, v = part.split("=", 1)
			out[k.strip()] = v.strip().strip('"')
	return out


def scrape(url):
	text = urllib.request.urlopen(url, timeout=5).read().decode()
	m = {v: 0.0 for v in FAMILIES.values()}
	for key in BY_LABEL:
		m[key + "_by"] = {}
	for line in text.splitlines():
		if not line or line[0] == "#":
			continue
		name_labels, _, value = line.rpartition(" ")
		name, _, labels = name_labels.partition("{")
		short = FAMILIES.get(name)
		if short is None:
			continue
		v = float(value)
		m[short] += v
		if short in BY_LABEL:
			lab = parse_labels(labels.rstrip("}")).get(BY_LABEL[short], "?")
			by = m[short + "_by"]
			by[lab] = by.get(lab, 0.0) + v
	return m


def outcomes(m):
	return m["matches"] + m["mismatches"] + m["skipped"] + m["shed"]


def cmd_settle(url, max_seconds):
	deadline = time.monotonic() + float(max_seconds)
	while True:
		m = scrape(url)
		ok = outcomes(m) >= m["reads"] and m["dw_pending"] == 0
		if ok or time.monotonic() > deadline:
			m["settled"] = ok
			print(json.dumps(m))
			return
		time.sleep(0.05)


# --- report ------------------------------------------------------------------

def fmt(v, nd=0):
	if v is None:
		return "-"
	return "{:,.{}f}".format(v, nd)


def med(xs):
	xs = [x for x in xs if x is not None]
	return statistics.median(xs) if xs else None


def ratio(a, b):
	return None if not a or not b else a / b


def fr(r):
	return "-" if r is None else "{:.3f}".format(r)


def delta(after, before):
	d = {}
	for k, v in after.items():
		if isinstance(v, dict):
			d[k] = {x: v[x] - before.get(k, {}).get(x, 0.0) for x in v}
			d[k] = {x: y for x, y in d[k].items() if y}
		elif isinstance(v, (int, float)) and not isinstance(v, bool):
			d[k] = v - before.get(k, 0.0)
	return d


def load_results(path):
	pts, misc = [], {}
	for line in open(path):
		if line.strip():
			r = json.loads(line)
			if r.get("kind") == "point":
				r["shadow"] = delta(r["m_after"], r["m_before"])
				pts.append(r)
			else:
				misc[r.get("kind")] = r
	return pts, misc


def by_kind(pts, kind):
	"""{pct: [points of that kind, in round order]}"""
	out = {}
	for p in pts:
		if p["load"] == kind:
			out.setdefault(p["pct"], []).append(p)
	return out


def other_cpu(p):
	mine = p["stub_cpu_pct"] + p["tandem_cpu_pct"] + p["pg_cpu_pct"] + p.get("loadgen_cpu_pct", 0)
	return max(0.0, p["machine_cpu_pct"] - mine)


def nth(xs, i):
	return xs[i] if xs and i < len(xs) else 0.0


def spread_frac(xs):
	xs = [x for x in xs if x]
	return None if len(xs) < 2 else (max(xs) - min(xs)) / statistics.median(xs)


def spread(xs):
	f = spread_frac(xs)
	return "-" if f is None else "{:.1f} %".format(f * 100)


def load_table(title, pts, out):
	pcts = sorted(pts)
	base = pts.get(0.0, [])
	b_ops = med([p["ops_per_s"] for p in base])
	b_p99 = med([p["p99_us"] for p in base])
	b_p50 = med([p["p50_us"] for p in base])
	out.append("### " + title + "\n")
	out.append("| shadow_pct | finds/s | × off | p50 µs | × off | p99 µs | × off | p99 per round µs "
		"| finds/s per round | CPU % loadgen / stub / tandem / PG / other | tandem's 3 busiest threads % "
		"| errors / skipped |")
	out.append("|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---|")
	for pct in pcts:
		ps = pts[pct]
		ops, p50, p99 = (med([p[k] for p in ps]) for k in ("ops_per_s", "p50_us", "p99_us"))
		cpu = " / ".join(fmt(med([f(p) for p in ps])) for f in (
			lambda p: p.get("loadgen_cpu_pct", 0), lambda p: p["stub_cpu_pct"],
			lambda p: p["tandem_cpu_pct"], lambda p: p["pg_cpu_pct"], other_cpu))
		thr = " / ".join(fmt(med([nth(p.get("tandem_threads_pct"), i) for p in ps])) for i in range(3))
		out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |".format(
			fmt(pct, 0 if pct == int(pct) else 2), fmt(ops), fr(ratio(ops, b_ops)), fmt(p50),
			fr(ratio(p50, b_p50)), fmt(p99), fr(ratio(p99, b_p99)),
			", ".join(fmt(p["p99_us"]) for p in ps), ", ".join(fmt(p["ops_per_s"]) for p in ps),
			cpu, thr, sum(p["errors"] for p in ps), sum(p.get("skipped", 0) for p in ps)))
	out.append("\nNoise between rounds at shadow_pct 0 ((max − min) / median): finds/s {}, p99 {}.\n".format(
		spread([p["ops_per_s"] for p in base]), spread([p["p99_us"] for p in base])))


def shadow_table(pts, out):
	out.append("## Shadow outcomes (deltas of tandem_shadow_* over each run, warm-up and drain "
		"included, summed over tenant/coll and rounds)\n")
	out.append("| load | shadow_pct | finds acked | sampled (reads) | sampled share | matched "
		"| mismatched | skipped | shed | unresolved |")
	out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	total_mis = 0.0
	for kind in ("closed", "paced"):
		for pct, ps in sorted(by_kind(pts, kind).items()):
			s = {k: sum(p["shadow"].get(k, 0.0) for p in ps) for k in
				("reads", "matches", "mismatches", "skipped", "shed")}
			acked = sum(p.get("acked", 0) for p in ps)
			detail = {}
			for k in ("mismatches_by", "skipped_by", "shed_by"):
				for p in ps:
					for lab, v in p["shadow"].get(k, {}).items():
						detail.setdefault(k, {}).setdefault(lab, 0.0)
						detail[k][lab] += v
			total_mis += s["mismatches"]

			def cell(key):
				d = detail.get(key + "_by", {})
				extra = ", ".join("{} {}".format(lab, fmt(v)) for lab, v in sorted(d.items()))
				return fmt(s[key]) + (" ({})".format(extra) if extra else "")
			unresolved = s["reads"] - s["matches"] - s["mismatches"] - s["skipped"] - s["shed"]
			out.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
				kind, fmt(pct, 0 if pct == int(pct) else 2), fmt(acked), fmt(s["reads"]),
				"-" if not acked else "{:.2f} %".format(s["reads"] / acked * 100),
				fmt(s["matches"]), cell("mismatches"), cell("skipped"), cell("shed"), fmt(unresolved)))
	out.append("")
	return total_mis


def targets(closed, paced, out):
	out.append("## Targets (brief: at 1 % client p99 within 5 % of shadow off; at 100 % "
		"throughput ≥ 70 % of off)\n")
	out.append("| target | measured | verdict |")
	out.append("|---|---|---|")
	for name, pts in (("paced", paced), ("closed loop", closed)):
		r = ratio(med([p["p99_us"] for p in pts.get(1.0, [])]),
			med([p["p99_us"] for p in pts.get(0.0, [])]))
		verdict = "-" if r is None else ("met" if r <= TARGET_P99_1 else "not met")
		noise = spread_frac([p["p99_us"] for p in pts.get(0.0, [])])
		if r is not None and noise is not None and noise > TARGET_P99_1 - 1:
			verdict += " (inconclusive: p99 at shadow 0 varied {:.0f} % between rounds)".format(
				noise * 100)
		elif r is not None and noise is None:
			verdict += " (one round: noise unknown)"
		out.append("| p99 at 1 % ≤ 1.05 × off ({}) | {} | {} |".format(name, fr(r), verdict))
	r = ratio(med([p["ops_per_s"] for p in closed.get(100.0, [])]),
		med([p["ops_per_s"] for p in closed.get(0.0, [])]))
	out.append("| finds/s at 100 % ≥ 0.70 × off (closed loop) | {} | {} |".format(fr(r),
		"-" if r is None else ("met" if r >= TARGET_TPUT_100 else "not met")))
	out.append("")


def cmd_report(path, opts):
	pts, misc = load_results(path)
	closed, paced = by_kind(pts, "closed"), by_kind(pts, "paced")
	out = ["# tandem shadow-read benchmark\n"]
	out.append("- date: {}".format(time.strftime("%Y-%m-%d %H:%M:%S %Z")))
	out.append("- command: `{}`".format(opts.get("command", "?")))
	out.append("- machine: {}".format(opts.get("machine", "?")))
	out.append("- chain: loadgen --find--> tandem (mode dual_write, pg set, no Redis, "
		"--defaults-shadow-pct P, restarted per point) --> stub_upstream; sampled reads "
		"re-run on PostgreSQL 15 (fsync off) by tandem's shadow thread")
	out.append("- workload: {}".format(opts.get("workload", "?")))
	out.append("- rounds: {} (each round runs the shadow_pct values in a rotated order; "
		"figures are medians over rounds)\n".format(opts.get("rounds", "?")))
	ld = misc.get("load", {})
	out.append("Data: {} documents inserted through tandem in dual_write, {} rows in PostgreSQL "
		"(table bench, tenant bench); a check find at shadow_pct 100 before the runs: {}.\n".format(
		fmt(ld.get("inserted")), fmt(ld.get("pg_rows")), ld.get("check", "?")))
	targets(closed, paced, out)
	out.append("## Client load\n")
	load_table("Closed loop ({} connections, {} s window after {} s warm-up)".format(
		opts.get("conns"), opts.get("seconds"), opts.get("warmup")), closed, out)
	load_table("Paced at {} finds/s ({} connections)".format(opts.get("rate"),
		opts.get("paced-conns")), paced, out)
	mis = shadow_table(pts, out)
	out.append("## Comparator throughput\n")
	out.append(opts.get("compare", "-") + "\n")
	out.append("## Caveats\n")
	out.append("- {} CPUs shared by loadgen, stub, tandem (2 workers + shadow thread) and "
		"PostgreSQL: shadow work at 100 % competes with the client path for the same cores, "
		"which is what the throughput target measures; on a machine with spare cores the "
		"ratio would be higher.".format(opts.get("nproc", "?")))
	out.append("- p99 of a few-second window on a shared VM moves by more than 5 % between "
		"identical runs (see the noise line under each table): a 1 % result within that "
		"noise is not evidence either way.")
	out.append("- A sampled read that is shed (queue full) still costs the worker its "
		"sampling work (copy of the command and of the reply, taken before the queue is "
		"checked); the shed count shows how much of the 100 % sample PostgreSQL actually "
		"compared.")
	others = [other_cpu(p) for p in pts]
	if others and med(others) > 30:
		out.append("- **The machine was not quiet**: processes this run did not start used a "
			"median {:.0f} % of a core during the windows (column `other`); every figure is "
			"disturbed by them.".format(med(others)))
	out.append("- The stub answers every find with the same generated documents; the shadow "
		"read has no push-down for filter {} and reads every row of the tenant's collection "
		"(= the documents of one reply).")
	if mis:
		out.append("- **{} mismatches were counted**: the data in PostgreSQL did not compare "
			"equal to the stub's documents for those reads.".format(fmt(mis)))
	print("\n".join(out))


def main(argv):
	if len(argv) >= 5 and argv[1] == "load":
		cmd_load(argv[2], argv[3], argv[4])
	elif len(argv) == 3 and argv[1] == "metrics":
		print(json.dumps(scrape(argv[2])))
	elif len(argv) == 5 and argv[1] == "settle":
		cmd_settle(argv[2], argv[4])
	elif len(argv) >= 3 and argv[1] == "report":
		opts, i = {}, 3
		while i + 1 < len(argv):
			opts[argv[i].lstrip("-")] = argv[i + 1]
			i += 2
		cmd_report(argv[2], opts)
	else:
		print(__doc__, file=sys.stderr)
		return 2
	return 0


if __name__ == "__main__":
	sys.exit(main(sys.argv))
