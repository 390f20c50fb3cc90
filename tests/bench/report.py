#!/usr/bin/python3
"""report.py - turns bench.sh's results (JSON lines) into the markdown report.

usage: report.py RESULTS.jsonl [OUT.md]

Input lines: one {"machine": true, ...}, loadgen results with "path" and
"round" added, and {"rss": true, ...} lines.  For every (mode, conns, path)
the median over rounds of each figure is shown, with:
  x direct     throughput / direct's throughput
  x haproxy    throughput / haproxy's throughput
  +p50         path p50 - direct p50 (latency the hop adds), microseconds
  +p50 / hap   tandem's added p50 / haproxy's added p50 (target <= 1)
"""
import json
import statistics
import sys

PATHS = ["direct", "haproxy", "tandem"]
FIGS = ["ops_per_s", "p50_us", "p99_us", "p999_us", "errors"]


def load(path):
    machine, points, rss = {}, {}, []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("machine"):
                machine = rec
            elif rec.get("rss"):
                rss.append(rec)
            else:
                key = (rec.get("mode", "?"), rec.get("conns", 0), rec["path"])
                points.setdefault(key, []).append(rec)
    return machine, points, rss


def median(runs, fig):
    vals = [r.get(fig, 0) or 0 for r in runs]
    return statistics.median(vals) if fig != "errors" else sum(vals)


def fmt(v, nd=1):
    return "-" if v is None else f"{v:,.{nd}f}"


def load_table(points):
    rows = ["| mode | conns | cpus | path | ops/s | p50 µs | p99 µs | p99.9 µs | × direct "
            "| × haproxy | +p50 µs | +p50 / haproxy's | errors |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    groups = sorted({(m, c) for (m, c, _) in points}, key=lambda k: (k[0] != "ping", k[1]))
    for mode, conns in groups:
        med = {p: {f: median(points[(mode, conns, p)], f) for f in FIGS}
               for p in PATHS if (mode, conns, p) in points}
        d, h = med.get("direct"), med.get("haproxy")
        for p, m in med.items():
            x_direct = m["ops_per_s"] / d["ops_per_s"] if d and d["ops_per_s"] else None
            x_hap = m["ops_per_s"] / h["ops_per_s"] if h and h["ops_per_s"] else None
            added = m["p50_us"] - d["p50_us"] if d and p != "direct" else None
            hap_added = h["p50_us"] - d["p50_us"] if d and h else None
            rel = added / hap_added if (p == "tandem" and added is not None
                                        and hap_added and hap_added > 0) else None
            cpus = points[(mode, conns, p)][0].get("cpus", "?")
            rows.append(f"| {mode} | {conns} | {cpus} | {p} | {fmt(m['ops_per_s'], 0)} | {fmt(m['p50_us'])} "
                        f"| {fmt(m['p99_us'])} | {fmt(m['p999_us'])} | {fmt(x_direct, 2)} "
                        f"| {fmt(x_hap if p != 'direct' else None, 2)} | {fmt(added)} "
                        f"| {fmt(rel, 2)} | {int(m['errors'])} |")
    return rows


def cpu_table(points):
    rows = ["| mode | conns | path | loadgen % | stub % | proxy % | other % | busy before % "
            "| proxy CPU µs/request |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for (mode, conns, path) in sorted(points, key=lambda k: (k[0] != "ping", k[1], PATHS.index(k[2]))):
        runs = points[(mode, conns, path)]
        lg, st, px, mc, ops, quiet = (median(runs, f) for f in
                                      ("loadgen_cpu_pct", "stub_cpu_pct", "proxy_cpu_pct",
                                       "machine_cpu_pct", "ops_per_s", "busy_before_pct"))
        other = max(0.0, mc - lg - st - px)
        per_req = px / 100 / ops * 1e6 if path != "direct" and ops else None
        rows.append(f"| {mode} | {conns} | {path} | {fmt(lg, 0)} | {fmt(st, 0)} "
                    f"| {fmt(px if path != 'direct' else None, 0)} | {fmt(other, 0)} | {fmt(quiet, 0)} "
                    f"| {fmt(per_req, 1)} |")
    return rows


def rss_table(rss):
    rows = ["| path | idle conns ready | RSS before KiB | RSS after KiB | KiB per connection |",
            "|---|---:|---:|---:|---:|"]
    for r in rss:
        rows.append(f"| {r['path']} | {r['ready']} / {r['conns']} | {r['before_kib']:,} "
                    f"| {r['after_kib']:,} | {fmt(r['kib_per_conn'], 2)} |")
    return rows


def main():
    machine, points, rss = load(sys.argv[1])
    out = ["# tandem passthrough benchmark", ""]
    if machine:
        out += [f"- date: {machine['date']}",
                f"- machine: {machine['nproc']} CPUs, {machine['cpu']}, Linux {machine['kernel']}, "
                f"load average at start {machine['loadavg']}",
                f"- haproxy {machine['haproxy']} (mode tcp, nbthread 2); tandem: {machine['tandem']}",
                f"- {machine['seconds']} s per point after {machine['warmup']} s warm-up, "
                f"{machine['repeat']} interleaved round(s), median shown; loadgen threads "
                f"{machine['loadgen_threads']}, stub threads {machine['stub_threads']}, "
                f"pinning: {machine['pin']} (cpus column), quiet-wait {machine.get('quiet_wait', '?')} s, "
                f"RLIMIT_NOFILE {machine['nofile']}",
                ""]
    out += ["## Throughput and latency (closed loop, one request in flight per connection)", ""]
    out += load_table(points)
    out += ["", "## CPU during each point (% of one core; the machine has "
            f"{machine.get('nproc', '?')} × 100 %)", "",
            "loadgen: its own window; stub, proxy, machine: whole run incl. warm-up (from "
            "/proc ticks); other = machine busy − loadgen − stub − proxy (other users' load "
            "disturbs the figures when it is high); busy before = whole machine's busy % "
            "(of all CPUs) just before the point started.", ""]
    out += cpu_table(points)
    others = [max(0.0, median(r, "machine_cpu_pct") - median(r, "loadgen_cpu_pct")
                  - median(r, "stub_cpu_pct") - median(r, "proxy_cpu_pct"))
              for r in points.values()]
    if others and statistics.median(others) > 25:
        out += ["", f"**Warning:** other processes used a median {statistics.median(others):.0f} % "
                "of a core during the points: the machine was not quiet, the figures (and even "
                "the ratios) are disturbed. Re-run on an idle machine."]
    if rss:
        out += ["", "## RSS per idle client connection", ""] + rss_table(rss)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
