#!/usr/bin/env bash
# shiftbench.sh - reads served by PostgreSQL (shift/) against the same reads
# answered by the stub upstream, and against pgbench running the same SELECT.
#
#   loadgen --find--> tandem (read_pct 0)   --> stub_upstream (canned replies)
#   loadgen --find--> tandem (read_pct 100) --> served-read thread --> PostgreSQL 15
#   pgbench -M prepared: the SELECT tandem sends for a find by _id (captured
#   from PostgreSQL's log), same PostgreSQL, same number of connections
#
# Workloads: find by _id (1 document), a 20-document find, a 1 000-document
# cursor (first batch 101, then getMore; at read_pct 100 the getMores are
# answered from tandem's cursor table).  The stub is started per workload
# with as many documents as the workload returns.  Data: 1 000 + 20
# documents {_id: Int64, pad: 100 B} inserted through tandem in dual_write.
# Figures: closed loop, --conns connections, --seconds after --warmup;
# throughput and p50/p99 at read_pct 100 as ratios to read_pct 0, find by
# _id as a ratio to pgbench; bytes per open tandem cursor (the cursor-bytes
# gauge and RSS, 200 cursors holding 10 documents each).
# tandem's served-read pool has --conns connections, as pgbench.
# Every process this script starts is stopped by pid.
#
# usage: bash tests/bench/shiftbench.sh [--seconds S] [--warmup S] [--conns N] [--no-build]
# env:   BUILD (default ROOT/build), TANDEM (binary path)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3
SECS=5 WARMUP=1 CONNS=8 DO_BUILD=1
COMMAND="bash tests/bench/shiftbench.sh $*"

while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--no-build) DO_BUILD=0 ;;
	-h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "shiftbench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

WORK=$(mktemp -d /tmp/tandem-shiftbench.XXXXXX)
PIDS=()
PG_DATA=""

log() { echo "shiftbench: $*" >&2; }
die() { log "$*"; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$DO_BUILD" = 1 ]; then
	meson compile -C "$BUILD" stub_upstream loadgen tandem >"$WORK/build.log" 2>&1 ||
		{ tail -20 "$WORK/build.log" >&2; die "build failed"; }
fi
STUB=$BUILD/tests/bench/stub_upstream LOADGEN=$BUILD/tests/bench/loadgen
TANDEM=${TANDEM:-$BUILD/proxy/tandem}
for f in "$STUB" "$LOADGEN" "$TANDEM" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/pgbench"; do
	[ -x "$f" ] || die "missing $f"
done
command -v jq >/dev/null || die "jq is needed"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	local i
	for ((i = 0; i < 200; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	return 1
}
start() { local name=$1; shift; "$@" >"$WORK/$name.log" 2>&1 & LAST_PID=$!; PIDS+=("$LAST_PID"); }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# --- PostgreSQL -------------------------------------------------------------
mkdir "$WORK/pg"
chmod 711 "$WORK"
[ "$(id -u)" != 0 ] || chown postgres:postgres "$WORK/pg"
as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres --no-sync -E UTF8 --locale C >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }
PG_DATA=$WORK/pg/data
PG_PORT=$(free_port)
as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/postgres.log" -w -t 30 start -o \
	"-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
	>"$WORK/pg_ctl.log" 2>&1 || { cat "$WORK/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$DSN" -c "$1"; }

# start_tandem STUB_PORT PCT -> TANDEM_PID TANDEM_PORT ADMIN
start_tandem() {
	TANDEM_PORT=$(free_port) ADMIN=127.0.0.1:$(free_port)
	start "tandem-$2" "$TANDEM" --listen "127.0.0.1:$TANDEM_PORT" --mongo-uri "mongodb://127.0.0.1:$1" \
		--admin "$ADMIN" --pg "$DSN" --defaults-write-mode dual_write --defaults-read-pct "$2" \
		--dualwrite-spool-path "$WORK/tandem.spool" --shift-max-inflight 256 --shift-pool-size "$CONNS"
	TANDEM_PID=$LAST_PID
	wait_port "$TANDEM_PORT" || { tail -20 "$WORK/tandem-$2.log" >&2; die "tandem did not start"; }
	wait_port "${ADMIN##*:}" || die "no admin port"
}
# metric REGEX: the sum of the samples whose name (with labels) matches ^REGEX
metric() { curl -s "http://$ADMIN/metrics" | awk -v n="$1" '$1 ~ "^"n {s += $2} END {print s + 0}'; }

start_stub() { # docs-total -> STUB_PORT STUB_PID
	STUB_PORT=$(free_port)
	start "stub-$1" "$STUB" --port "$STUB_PORT" --docs-total "$1" --doc-bytes 128
	STUB_PID=$LAST_PID
	wait_port "$STUB_PORT" || die "stub_upstream did not start"
}

# --- data -------------------------------------------------------------------
start_stub 1
start_tandem "$STUB_PORT" 0
"$PY" - "$TANDEM_PORT" <<'PYEOF' || die "loading documents failed"
import sys, pymongo
from bson.int64 import Int64
db = pymongo.MongoClient("127.0.0.1", int(sys.argv[1]))["bench"]
db.b1000.insert_many([{"_id": Int64(i), "pad": "x" * 100} for i in range(1000)])
db.b20.insert_many([{"_id": Int64(i), "pad": "x" * 100} for i in range(20)])
PYEOF
for ((i = 0; i < 100; i++)); do
	[ "$(metric 'tandem_dualwrite_pending$')" = 0 ] && break
	sleep 0.1
done
ROWS=$(sql "SELECT (SELECT count(*) FROM b1000) || ' + ' || (SELECT count(*) FROM b20)") || die "no tables"
log "loaded $ROWS rows into PostgreSQL"
stop "$TANDEM_PID"
stop "$STUB_PID"

# --- the SELECT of a find by _id, from PostgreSQL's log ----------------------
sql "ALTER SYSTEM SET log_min_duration_statement = 0" && sql "SELECT pg_reload_conf()" >/dev/null
start_stub 1
start_tandem "$STUB_PORT" 100
"$LOADGEN" --port "$TANDEM_PORT" --conns 1 --mode find --coll b1000 --filter-id 7 --seconds 0.3 --warmup 0 >/dev/null
sql "ALTER SYSTEM RESET log_min_duration_statement" && sql "SELECT pg_reload_conf()" >/dev/null
stop "$TANDEM_PID"
stop "$STUB_PID"
"$PY" - "$WORK/pg/postgres.log" "$WORK/pgbench.sql" "$WORK/pgbench.args" <<'PYEOF' || die "no SELECT captured"
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"execute [^:]*: (SELECT .*?b1000.*?)\n.*?DETAIL:\s+parameters: (.*?)\n", text, re.S)
stmt, params = m.group(1), m.group(2)
vals = dict(re.findall(r"\$(\d+) = '((?:[^']|'')*)'", params))
for n in sorted(vals, key=int, reverse=True):
    stmt = stmt.replace("$" + n, ":p" + n)
open(sys.argv[2], "w").write(stmt + ";\n")
open(sys.argv[3], "w").write(" ".join("-D p%s=%s" % (n, v) for n, v in vals.items()))
PYEOF
log "pgbench script: $(cat "$WORK/pgbench.sql")"

# --- runs ---------------------------------------------------------------------
RESULTS=$WORK/results.jsonl
run() { # name stub_docs coll loadgen-args...
	local name=$1 docs=$2 coll=$3 pct out served
	shift 3
	for pct in 0 100; do
		start_stub "$docs"
		start_tandem "$STUB_PORT" "$pct"
		out=$("$LOADGEN" --port "$TANDEM_PORT" --conns "$CONNS" --mode find --coll "$coll" \
			--seconds "$SECS" --warmup "$WARMUP" "$@" 2>>"$WORK/loadgen.err") || log "loadgen errors ($name $pct)"
		served=$(metric 'tandem_shift_reads_total{[^}]*backend="pg"')
		jq -c --arg name "$name" --argjson pct "$pct" --argjson served "$served" \
			'. + {name: $name, pct: $pct, served: $served}' <<<"$out" >>"$RESULTS"
		log "  $name read_pct $pct: $(jq -r '"\(.ops_per_s|floor) finds/s p50 \(.p50_us) µs p99 \(.p99_us) µs errors \(.errors)"' <<<"$out"), served by PostgreSQL $served"
		stop "$TANDEM_PID"
		stop "$STUB_PID"
	done
}
run "find by _id" 1 b1000 --filter-id 7
run "20-document find" 20 b20
run "1 000-document cursor" 1000 b1000

# shellcheck disable=SC2046
PGB=$(as_pg "$PGBIN/pgbench" -n -M prepared -c "$CONNS" -j 2 -T "$SECS" -h 127.0.0.1 -p "$PG_PORT" -U postgres \
	$(cat "$WORK/pgbench.args") -f "$WORK/pgbench.sql" postgres 2>&1) || { echo "$PGB" >&2; die "pgbench failed"; }
PGB_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' <<<"$PGB")
PGB_LAT=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$PGB")
log "pgbench: $PGB_TPS tps, latency average $PGB_LAT ms"
# What tandem's pool sent for a read before read batches (pgpool.h): BEGIN;
# the SELECT; COMMIT, unnamed statements (parsed and planned every time),
# one round trip.  Read batches now send a prepared SELECT alone.
{ echo "BEGIN;"; cat "$WORK/pgbench.sql"; echo "COMMIT;"; } >"$WORK/pgbench_tx.sql"
# shellcheck disable=SC2046
PGX=$(as_pg "$PGBIN/pgbench" -n -M extended -c "$CONNS" -j 2 -T "$SECS" -h 127.0.0.1 -p "$PG_PORT" -U postgres \
	$(cat "$WORK/pgbench.args") -f "$WORK/pgbench_tx.sql" postgres 2>&1) || { echo "$PGX" >&2; die "pgbench failed"; }
PGX_TPS=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' <<<"$PGX")
log "pgbench -M extended BEGIN/SELECT/COMMIT: $PGX_TPS tps"

# --- bytes per open cursor ------------------------------------------------------
start_stub 20
start_tandem "$STUB_PORT" 100
CUR=$("$PY" - "$TANDEM_PORT" "$TANDEM_PID" "$ADMIN" <<'PYEOF'
import json, sys, urllib.request, pymongo
port, pid, admin = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
def gauge(name):
    for line in urllib.request.urlopen("http://%s/metrics" % admin).read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
db = pymongo.MongoClient("127.0.0.1", port, maxPoolSize=1)["bench"]
db.command("ping")
r0, n = rss(), 200
ids = [db.command("find", "b20", batchSize=10)["cursor"]["id"] for _ in range(n)]
r1 = rss()
print(json.dumps({"cursors": gauge("tandem_shift_cursors_open"), "bytes": gauge("tandem_shift_cursor_bytes"),
    "rss_delta": r1 - r0, "n": n, "ids_nonzero": sum(1 for i in ids if i)}))
PYEOF
)
stop "$TANDEM_PID"
stop "$STUB_PID"
log "cursors: $CUR"

"$PY" - "$RESULTS" "$PGB_TPS" "$PGB_LAT" "$CUR" "$COMMAND" "$CONNS" "$SECS" "$PGX_TPS" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pgb_tps, pgb_lat = float(sys.argv[2]), float(sys.argv[3])
cur = json.loads(sys.argv[4])
print("Command: `%s` (%s connections, %s s per point, closed loop)\n" % (sys.argv[5], sys.argv[6], sys.argv[7]))
print("| workload | read_pct 0 (stub) finds/s | read_pct 100 (PostgreSQL) finds/s | × | p50 µs 0 / 100 | × | p99 µs 0 / 100 | × | served by PostgreSQL |")
print("|---|---:|---:|---:|---|---:|---|---:|---:|")
by = {}
for r in rows:
    by.setdefault(r["name"], {})[r["pct"]] = r
for name, d in by.items():
    a, b = d[0], d[100]
    ratio = lambda k: (b[k] / a[k]) if a[k] else 0
    print("| %s | %d | %d | %.2f | %d / %d | %.2f | %d / %d | %.2f | %d |" % (name, a["ops_per_s"], b["ops_per_s"],
        ratio("ops_per_s"), a["p50_us"], b["p50_us"], ratio("p50_us"), a["p99_us"], b["p99_us"], ratio("p99_us"), b["served"]))
byid = by["find by _id"][100]["ops_per_s"]
print("\npgbench (-M prepared, same SELECT, same connections): %.0f tps, latency average %.3f ms; "
      "tandem's find by _id at read_pct 100: %.0f finds/s = **%.2f × pgbench** (target ≥ 0.70)\n" % (pgb_tps, pgb_lat, byid, byid / pgb_tps))
pgx = float(sys.argv[8])
print("pgbench -M extended with BEGIN; SELECT; COMMIT (what tandem's pool sent before read "
      "batches: unnamed statements, a transaction per batch): %.0f tps; tandem = %.2f × that.\n" % (pgx, byid / pgx))
print("Open tandem cursors: %d of %d holding 10 documents of 128 B each: %.0f bytes per cursor by the gauge "
      "(documents + bookkeeping), RSS grew %.0f bytes per cursor.\n" % (cur["cursors"], cur["n"],
      cur["bytes"] / max(cur["cursors"], 1), cur["rss_delta"] / max(cur["cursors"], 1)))
PYEOF
