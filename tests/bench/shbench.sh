#!/usr/bin/env bash
# shbench.sh - tandem's shadow-read benchmark: find load through tandem at
# shadow_pct 0, 1 and 100 against the stub upstream and a real PostgreSQL.
#
#   loadgen --find--> tandem (dual_write, --defaults-shadow-pct P) --> stub_upstream
#                        \--shadow thread: same find on PostgreSQL 15, compared
#
# Setup: stub_upstream answers every find with the same DOCS generated documents
# {_id: int64 0..DOCS-1, pad: "xxx..."} (stub_reply.c); the same documents are
# inserted through tandem in dual_write (the stub acks them, tandem applies them
# to PostgreSQL), so PostgreSQL holds exactly what the stub's find returns for
# tenant "bench", collection "bench" and every shadow read should match; a check
# find at shadow_pct 100 verifies that before the runs.
# Then, per round (shadow_pct order rotated per round), for P in 0, 1, 100:
# a fresh tandem with --defaults-shadow-pct P, and
#  1. closed loop: --conns connections, one find in flight each, --seconds
#     after --warmup: client finds/s, p50, p99;
#  2. paced at --rate finds/s: p50, p99;
# with tandem's tandem_shadow_* counters read before and after each run
# (after: once every sampled read has an outcome) and CPU per process.
# Figures are medians over rounds, as ratios to shadow_pct 0.
# PostgreSQL is a fresh cluster (initdb as user postgres) in the work dir,
# fsync=off.  Every process this script starts is stopped by pid.
#
# usage: bash tests/bench/shbench.sh [--quick] [--out FILE.md] [--seconds S]
#        [--warmup S] [--rounds N] [--conns N] [--rate R] [--paced-conns N]
#        [--docs N (<= 101)] [--doc-bytes B] [--no-build] [--keep]
#        [--tandem-arg ARG]...   (extra tandem flags, e.g. --shadow-max-inflight 8)
# env:   BUILD (default ROOT/build-bench), TANDEM (binary path),
#        COMPARE_BENCH (compare_bench binary; default BUILD/tests/bench/compare_bench)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
HERE=$ROOT/tests/bench
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3
SECS=10 WARMUP=2 ROUNDS=3 CONNS=16 RATE=2000 PACED_CONNS=16 DOCS=20 DOC_BYTES=128
OUT="" DO_BUILD=1 KEEP=0 QUIET_WAIT=5
PCTS=(0 1 100)
TANDEM_ARGS=()
COMMAND="bash tests/bench/shbench.sh $*"

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) SECS=4; WARMUP=1; ROUNDS=1 ;;
	--out) OUT=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--paced-conns) PACED_CONNS=$2; shift ;;
	--docs) DOCS=$2; shift ;;
	--doc-bytes) DOC_BYTES=$2; shift ;;
	--no-build) DO_BUILD=0 ;;
	--keep) KEEP=1 ;;
	--tandem-arg) TANDEM_ARGS+=("$2"); shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "shbench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
# One reply must hold the whole result (no getMore): the stub's first batch is 101.
[ "$DOCS" -ge 1 ] && [ "$DOCS" -le 101 ] || { echo "shbench.sh: --docs must be 1..101" >&2; exit 2; }

WORK=$(mktemp -d /tmp/tandem-shbench.XXXXXX)
RESULTS=$WORK/results.jsonl
PIDS=()
PG_DATA=""

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	fi
	if [ "$KEEP" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "shbench: $*" >&2; }
die() { log "$*"; exit 1; }

# Runs a command as the postgres user when we are root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- build ------------------------------------------------------------------
build() {
	STUB=$BUILD/tests/bench/stub_upstream LOADGEN=$BUILD/tests/bench/loadgen
	if [ "$DO_BUILD" = 1 ]; then
		{ [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" >"$WORK/setup.log" 2>&1; } &&
			meson compile -C "$BUILD" stub_upstream loadgen tandem >"$WORK/build.log" 2>&1 ||
			{ tail -20 "$WORK/setup.log" "$WORK/build.log" >&2 2>/dev/null; die "build failed"; }
		# The comparator benchmark is optional: built when the tree has it.
		if [ -f "$HERE/compare_bench.c" ]; then
			meson compile -C "$BUILD" compare_bench >>"$WORK/build.log" 2>&1 ||
				log "compare_bench did not build (see $WORK/build.log)"
		fi
	fi
	TANDEM=${TANDEM:-$BUILD/proxy/tandem}
	COMPARE_BENCH=${COMPARE_BENCH:-$BUILD/tests/bench/compare_bench}
	local f
	for f in "$STUB" "$LOADGEN" "$TANDEM" "$PGBIN/initdb" "$PGBIN/pg_ctl"; do
		[ -x "$f" ] || die "missing $f"
	done
	command -v jq >/dev/null || die "jq is needed"
	command -v psql >/dev/null || die "psql is needed"
}

# --- processes --------------------------------------------------------------
free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port [tries of 50 ms]
	local i
	for ((i = 0; i < ${2:-100}; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	return 1
}

# start NAME CMD... : runs CMD in the background, records its pid in LAST_PID.
start() {
	local name=$1
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

start_stub() {
	STUB_PORT=$(free_port)
	start stub "$STUB" --port "$STUB_PORT" --docs-total "$DOCS" --doc-bytes "$DOC_BYTES"
	STUB_PID=$LAST_PID
	wait_port "$STUB_PORT" || { cat "$WORK/stub.log" >&2; die "stub_upstream did not start"; }
}

start_pg() {
	local opts
	mkdir "$WORK/pg"
	chmod 711 "$WORK"
	[ "$(id -u)" != 0 ] || chown postgres:postgres "$WORK/pg"
	as_pg "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres --no-sync -E UTF8 --locale C \
		>"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
	PG_DATA=$WORK/pg/data
	PG_PORT=$(free_port)
	opts="-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=100"
	opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/postgres.log" -o "$opts" -w -t 30 start \
		>"$WORK/pg_ctl.log" 2>&1 || { cat "$WORK/pg_ctl.log" "$WORK/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
	PG_PID=$(head -1 "$PG_DATA/postmaster.pid")
	DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
}

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$DSN" -c "$1"; }

# start_tandem PCT: TANDEM_PID, TANDEM_PORT, ADMIN_URL
start_tandem() {
	local port admin
	port=$(free_port)
	admin=$(free_port)
	start "tandem-$1" "$TANDEM" --listen "127.0.0.1:$port" --mongo-uri "mongodb://127.0.0.1:$STUB_PORT" \
		--admin "127.0.0.1:$admin" --pg "$DSN" --defaults-write-mode dual_write \
		--defaults-shadow-pct "$1" --dualwrite-spool-path "$WORK/tandem.spool" "${TANDEM_ARGS[@]}"
	TANDEM_PID=$LAST_PID TANDEM_PORT=$port ADMIN_URL="http://127.0.0.1:$admin/metrics"
	wait_port "$port" && wait_port "$admin" || { tail -20 "$WORK/tandem-$1.log" >&2; die "tandem did not start"; }
}

# --- measurements -----------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# CPU ticks (user + system, all threads) of the pids given.
ticks() {
	local pid sum=0 f
	for pid in "$@"; do
		if [ -n "$pid" ] && read -r -a f <"/proc/$pid/stat" 2>/dev/null; then
			sum=$(( sum + f[13] + f[14] ))
		fi
	done
	echo "$sum"
}

# PostgreSQL: the postmaster and its children (backends, walwriter, ...).
pg_pids() { echo "$PG_PID" $(pgrep -P "$PG_PID" || true); }

# "tid:ticks ..." of every thread of pid (to see which of tandem's threads is busy).
thread_ticks() {
	local t f out=""
	for t in /proc/"$1"/task/*; do
		if read -r -a f <"$t/stat" 2>/dev/null; then out+="${t##*/}:$(( f[13] + f[14] )) "; fi
	done
	echo "$out"
}

# thread_pcts BEFORE AFTER SECONDS: JSON array of per-thread CPU %, largest first.
thread_pcts() {
	"$PY" -c '
import json, sys
b = dict(x.split(":") for x in sys.argv[1].split())
a = dict(x.split(":") for x in sys.argv[2].split())
hz, secs = float(sys.argv[3]), float(sys.argv[4])
print(json.dumps(sorted((round((int(v) - int(b.get(t, 0))) / hz / secs * 100, 1) for t, v in a.items()), reverse=True)))
' "$1" "$2" "$CLK_TCK" "$3"
}

machine_ticks() {
	local cpu user nice system idle iowait irq softirq steal rest
	read -r cpu user nice system idle iowait irq softirq steal rest </proc/stat
	echo $(( user + nice + system + irq + softirq + steal ))
}

# quiet: waits up to QUIET_WAIT s for the machine to be < 15 % busy; BUSY = last %.
quiet() {
	local i m0 m1
	BUSY=0
	for ((i = 0; i < QUIET_WAIT * 2; i++)); do
		m0=$(machine_ticks)
		sleep 0.5
		m1=$(machine_ticks)
		BUSY=$(( (m1 - m0) * 100 * 2 / CLK_TCK / $(nproc) ))
		[ "$BUSY" -ge 15 ] || return 0
	done
}

# point LOAD PCT ROUND [loadgen args...]: one loadgen find run through tandem;
# CPU of stub, tandem, PostgreSQL and the machine during its window; the shadow
# counters before it and after it (settled).  One JSON line -> RESULTS.
point() {
	local load=$1 pct=$2 round=$3 conns=$CONNS
	shift 3
	[ "$load" = paced ] && conns=$PACED_CONNS
	local lgpid t0 t1 s0 s1 x0 x1 g0 g1 m0 m1 th0 th1 line mb ma name=$load-$pct-r$round
	quiet
	mb=$("$PY" "$HERE/shreport.py" metrics "$ADMIN_URL")
	"$LOADGEN" --port "$TANDEM_PORT" --conns "$conns" --mode find \
		--seconds "$SECS" --warmup "$WARMUP" "$@" >"$WORK/$name.json" 2>>"$WORK/loadgen.err" &
	lgpid=$!
	PIDS+=("$lgpid")
	sleep "$WARMUP"
	t0=$(date +%s.%N) s0=$(ticks "$STUB_PID") x0=$(ticks "$TANDEM_PID") g0=$(ticks $(pg_pids)) m0=$(machine_ticks)
	th0=$(thread_ticks "$TANDEM_PID")
	sleep "$SECS"
	t1=$(date +%s.%N) s1=$(ticks "$STUB_PID") x1=$(ticks "$TANDEM_PID") g1=$(ticks $(pg_pids)) m1=$(machine_ticks)
	th1=$(thread_ticks "$TANDEM_PID")
	wait "$lgpid" || log "loadgen reported errors on $name (see $WORK/loadgen.err)"
	ma=$("$PY" "$HERE/shreport.py" settle "$ADMIN_URL" --max-seconds 5)
	[ "$(jq -r .settled <<<"$ma")" = true ] || log "WARNING: $name: shadow reads without an outcome after 5 s"
	line=$(cat "$WORK/$name.json")
	[ -n "$line" ] || line='{"errors":1,"ops_per_s":0,"p50_us":0,"p99_us":0,"acked":0}'
	jq -c --arg load "$load" --argjson pct "$pct" --argjson round "$round" \
		--argjson t0 "$t0" --argjson t1 "$t1" --argjson hz "$CLK_TCK" \
		--argjson st "$((s1 - s0))" --argjson xt "$((x1 - x0))" --argjson gt "$((g1 - g0))" \
		--argjson mt "$((m1 - m0))" --argjson busy "$BUSY" --argjson mb "$mb" --argjson ma "$ma" \
		--argjson th "$(thread_pcts "$th0" "$th1" "$(jq -n "$t1 - $t0")")" \
		'. + {kind: "point", load: $load, pct: $pct, round: $round, t0: $t0, t1: $t1,
		      busy_before_pct: $busy, tandem_threads_pct: $th, m_before: $mb, m_after: $ma,
		      stub_cpu_pct: ($st / $hz / ($t1 - $t0) * 100),
		      tandem_cpu_pct: ($xt / $hz / ($t1 - $t0) * 100),
		      pg_cpu_pct: ($gt / $hz / ($t1 - $t0) * 100),
		      machine_cpu_pct: ($mt / $hz / ($t1 - $t0) * 100)}' <<<"$line" >>"$RESULTS"
	jq -r --arg n "$name" --argjson mb "$mb" \
		'"  \($n): \(.ops_per_s|floor) finds/s p50 \(.p50_us) µs p99 \(.p99_us) µs errors \(.errors) skipped \(.skipped // 0); shadow reads \(.m_after.reads - $mb.reads) matched \(.m_after.matches - $mb.matches) mismatched \(.m_after.mismatches - $mb.mismatches) skipped \(.m_after.skipped - $mb.skipped) shed \(.m_after.shed - $mb.shed); tandem threads % \(.tandem_threads_pct[:4])"' \
		<<<"$(tail -1 "$RESULTS")" >&2
}

# load_data: inserts the stub's documents through tandem (dual_write), waits
# for the applier, checks the row count and one shadowed find at 100 %.
load_data() {
	local ins rows m0 m1 check
	start_tandem 100
	ins=$("$PY" "$HERE/shreport.py" load "$TANDEM_PORT" "$DOCS" "$DOC_BYTES") || die "loading documents failed"
	"$PY" "$HERE/shreport.py" settle "$ADMIN_URL" --max-seconds 30 >/dev/null
	rows=$(sql "SELECT count(*) FROM bench") || die "no table bench in PostgreSQL"
	[ "$rows" = "$DOCS" ] || log "WARNING: $rows rows in PostgreSQL, expected $DOCS"
	m0=$("$PY" "$HERE/shreport.py" metrics "$ADMIN_URL")
	"$LOADGEN" --port "$TANDEM_PORT" --conns 1 --mode find --seconds 1 --warmup 0 >"$WORK/check.json" \
		2>>"$WORK/loadgen.err" || die "check find failed"
	m1=$("$PY" "$HERE/shreport.py" settle "$ADMIN_URL" --max-seconds 5)
	check=$(jq -nr --argjson a "$m0" --argjson b "$m1" \
		'"\($b.reads - $a.reads) reads, \($b.matches - $a.matches) matched, \($b.mismatches - $a.mismatches) mismatched, \($b.skipped - $a.skipped) skipped, \($b.shed - $a.shed) shed"')
	log "  loaded: $ins, $rows rows in PostgreSQL; check (1 conn, 1 s, shadow 100 %): $check"
	jq -nc --argjson ins "$ins" --argjson rows "$rows" --arg check "$check" \
		'{kind: "load", inserted: $ins.inserted, pg_rows: $rows, check: $check}' >>"$RESULTS"
	stop "$TANDEM_PID"
}

# compare_bench: the comparator's documents/s, when the tree has the tool.
compare_figure() {
	if [ ! -f "$HERE/compare_bench.c" ]; then
		COMPARE="Not measured: tests/bench/compare_bench.c is not in this tree."
	elif [ ! -x "$COMPARE_BENCH" ]; then
		COMPARE="Not measured: compare_bench.c exists but $COMPARE_BENCH was not built."
	else
		local out
		out=$(timeout 120 "$COMPARE_BENCH" 2>&1) || log "compare_bench exited non-zero"
		COMPARE=$(printf 'Output of `%s`:\n\n```\n%s\n```' "${COMPARE_BENCH#"$ROOT"/}" "$out")
	fi
}

# --- run --------------------------------------------------------------------
build
start_stub
start_pg
log "work $WORK; PostgreSQL $DSN; tandem $TANDEM ${TANDEM_ARGS[*]:-}"
MACHINE="$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"

log "loading $DOCS documents of $DOC_BYTES B through tandem (dual_write)"
load_data

for ((r = 0; r < ROUNDS; r++)); do
	log "round $((r + 1)) of $ROUNDS"
	for ((k = 0; k < ${#PCTS[@]}; k++)); do
		pct=${PCTS[$(( (k + r) % ${#PCTS[@]} ))]}
		start_tandem "$pct"
		point closed "$pct" "$r"
		point paced "$pct" "$r" --rate "$RATE"
		stop "$TANDEM_PID"
	done
done

compare_figure
"$PY" "$HERE/shreport.py" report "$RESULTS" --machine "$MACHINE" --command "$COMMAND" \
	--nproc "$(nproc)" --rounds "$ROUNDS" --conns "$CONNS" --seconds "$SECS" --warmup "$WARMUP" \
	--rate "$RATE" --paced-conns "$PACED_CONNS" --compare "$COMPARE" \
	--workload "find {} on bench.bench, $DOCS documents of $DOC_BYTES B per reply (one batch, cursor id 0); tandem args: ${TANDEM_ARGS[*]:-none}" \
	>"$WORK/report.md"
cat "$WORK/report.md"
[ -z "$OUT" ] || cp "$WORK/report.md" "$OUT"
