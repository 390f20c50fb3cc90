#!/usr/bin/env bash
# dwbench.sh - tandem's dual-write benchmark: single-document inserts through
# tandem in dual_write against the stub upstream and a real PostgreSQL.
#
#   loadgen --insert--> stub_upstream                          "direct"
#   loadgen --insert--> tandem (mongo_only) --> stub            "mongo_only"
#   loadgen --insert--> tandem (dual_write) --> stub            "dual_write"
#                              \--applier--> PostgreSQL 15      (metrics sampled every 100 ms)
#   pgbench: one INSERT per transaction, 1 connection           "row-by-row"
#
# One run measures, on the same machine, stub and PostgreSQL:
#  1. saturation (closed loop, --conns 16 and 64): client inserts/s for each
#     path; for dual_write the applied rows/s during the window (delta of
#     tandem_dualwrite_applied_total) and the drain rate once the load stops
#     (the applier alone), then SELECT count(*) == acknowledged inserts;
#  2. lag at a fixed --rate (default 5 000 inserts/s, paced loadgen): p50/p99
#     from the deltas of tandem_dualwrite_lag_seconds over the window
#     (interpolated inside buckets) and max tandem_dualwrite_pending;
#  3. the baseline: pgbench, 1 connection, autocommit INSERT of the same row
#     into a table with the same DDL (tandemctl schema), prepared statement.
# PostgreSQL is a fresh cluster (initdb as user postgres) in the work dir:
# fsync=off, synchronous_commit=off like the integration tests, or with
# --pg-durable fsync=on, synchronous_commit=on.  Every process this script
# starts is stopped by pid (PostgreSQL with pg_ctl stop on its own data dir).
#
# usage: bash tests/bench/dwbench.sh [--quick] [--out FILE.md] [--seconds S]
#        [--warmup S] [--conns "16 64"] [--rate R] [--lag-seconds S]
#        [--baseline-seconds S] [--pg-durable] [--no-build] [--keep]
#        [--tandem-arg ARG]...   (extra tandem flags, e.g. --dualwrite-batch-max 1000)
# env:   BUILD (default ROOT/build-bench), TANDEM, TANDEMCTL (binary paths)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
HERE=$ROOT/tests/bench
PGBIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3
SECS=10 WARMUP=2 CONNS_LIST="16 64" RATE=5000 LAG_SECS=10 LAG_CONNS=64 BASE_SECS=10
DRAIN_MAX=300 OUT="" DO_BUILD=1 PG_DURABLE=0 KEEP=0 DOC_BYTES=200
TANDEM_ARGS=()

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) SECS=4; WARMUP=1; LAG_SECS=5; BASE_SECS=4 ;;
	--out) OUT=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--conns) CONNS_LIST=$2; shift ;;
	--rate) RATE=$2; shift ;;
	--lag-seconds) LAG_SECS=$2; shift ;;
	--baseline-seconds) BASE_SECS=$2; shift ;;
	--pg-durable) PG_DURABLE=1 ;;
	--no-build) DO_BUILD=0 ;;
	--keep) KEEP=1 ;;
	--tandem-arg) TANDEM_ARGS+=("$2"); shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "dwbench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

WORK=$(mktemp -d /tmp/tandem-dwbench.XXXXXX)
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

log() { echo "dwbench: $*" >&2; }
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
			meson compile -C "$BUILD" stub_upstream loadgen tandem tandemctl >"$WORK/build.log" 2>&1 ||
			{ tail -20 "$WORK/setup.log" "$WORK/build.log" >&2 2>/dev/null; die "build failed"; }
	fi
	TANDEM=${TANDEM:-$BUILD/proxy/tandem}
	TANDEMCTL=${TANDEMCTL:-$BUILD/tools/tandemctl}
	local f
	for f in "$STUB" "$LOADGEN" "$TANDEM" "$TANDEMCTL" "$PGBIN/pgbench" "$PGBIN/initdb"; do
		[ -x "$f" ] || die "missing $f"
	done
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
	start stub "$STUB" --port "$STUB_PORT"
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
	if [ "$PG_DURABLE" = 1 ]; then
		opts+=" -c fsync=on -c synchronous_commit=on"
	else
		opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	fi
	as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/postgres.log" -o "$opts" -w -t 30 start \
		>"$WORK/pg_ctl.log" 2>&1 || { cat "$WORK/pg_ctl.log" "$WORK/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
	PG_PID=$(head -1 "$PG_DATA/postmaster.pid")
	DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
}

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$DSN" -c "$1"; }

# start_tandem WRITE_MODE: TANDEM_PID, TANDEM_PORT, ADMIN_URL
start_tandem() {
	local port admin
	port=$(free_port)
	admin=$(free_port)
	start "tandem-$1" "$TANDEM" --listen "127.0.0.1:$port" --mongo-uri "mongodb://127.0.0.1:$STUB_PORT" \
		--admin "127.0.0.1:$admin" --pg "$DSN" --defaults-write-mode "$1" \
		--dualwrite-spool-path "$WORK/tandem.spool" "${TANDEM_ARGS[@]}"
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

machine_ticks() {
	local cpu user nice system idle iowait irq softirq steal rest
	read -r cpu user nice system idle iowait irq softirq steal rest </proc/stat
	echo $(( user + nice + system + irq + softirq + steal ))
}

# point NAME PORT CONNS [loadgen args...]: one loadgen run; during its window,
# CPU of stub, tandem (if TANDEM_PID set), PostgreSQL and the machine.  The
# JSON line (+ window times t0/t1 in unix seconds) is appended to RESULTS.
point() {
	local name=$1 port=$2 conns=$3 secs=$SECS warm=$WARMUP
	shift 3
	local args=("$@") lgpid t0 t1 s0 s1 x0 x1 g0 g1 m0 m1 line i
	for ((i = 0; i < ${#args[@]}; i++)); do
		[ "${args[$i]}" = --seconds ] && secs=${args[$((i + 1))]}
	done
	"$LOADGEN" --port "$port" --conns "$conns" --mode insert --doc-bytes "$DOC_BYTES" \
		--seconds "$secs" --warmup "$warm" "${args[@]}" >"$WORK/$name.json" 2>>"$WORK/loadgen.err" &
	lgpid=$!
	PIDS+=("$lgpid")
	sleep "$warm"
	t0=$(date +%s.%N) s0=$(ticks "$STUB_PID") x0=$(ticks "${TANDEM_PID:-}") g0=$(ticks $(pg_pids)) m0=$(machine_ticks)
	sleep "$secs"
	t1=$(date +%s.%N) s1=$(ticks "$STUB_PID") x1=$(ticks "${TANDEM_PID:-}") g1=$(ticks $(pg_pids)) m1=$(machine_ticks)
	wait "$lgpid" || log "loadgen reported errors on $name (see $WORK/loadgen.err)"
	line=$(cat "$WORK/$name.json")
	[ -n "$line" ] || line='{"errors":1,"ops_per_s":0,"acked":0}'
	jq -c --arg name "$name" --argjson t0 "$t0" --argjson t1 "$t1" --argjson hz "$CLK_TCK" \
		--argjson st "$((s1 - s0))" --argjson xt "$((x1 - x0))" --argjson gt "$((g1 - g0))" \
		--argjson mt "$((m1 - m0))" \
		'. + {name: $name, t0: $t0, t1: $t1,
		      stub_cpu_pct: ($st / $hz / ($t1 - $t0) * 100),
		      tandem_cpu_pct: ($xt / $hz / ($t1 - $t0) * 100),
		      pg_cpu_pct: ($gt / $hz / ($t1 - $t0) * 100),
		      machine_cpu_pct: ($mt / $hz / ($t1 - $t0) * 100)}' <<<"$line" >>"$RESULTS"
	jq -r --arg n "$name" '"  \($n): \(.ops_per_s|floor) inserts/s p50 \(.p50_us) µs p99 \(.p99_us) µs acked \(.acked) errors \(.errors) skipped \(.skipped)"' <<<"$line" >&2
	LAST_T0=$t0 LAST_T1=$t1
}

# metrics_window NAME: applied/lag/pending of the last point's window -> RESULTS.
metrics_window() {
	local w
	w=$("$PY" "$HERE/dwmetrics.py" window "$WORK/samples.jsonl" "$LAST_T0" "$LAST_T1")
	jq -c --arg name "$1" '. + {name: $name, kind: "window"}' <<<"$w" >>"$RESULTS"
	jq -r --arg n "$1" '"  \($n) window: applied \(.applied_per_s) rows/s, pending max \(.pending_max), lag p50 \(.lag_p50_ms) ms p99 \(.lag_p99_ms) ms"' <<<"$w" >&2
}

# drain NAME: waits for pending == 0 (bounded), records the drain rate.
drain() {
	local d
	d=$("$PY" "$HERE/dwmetrics.py" drain "$ADMIN_URL" --max-seconds "$DRAIN_MAX")
	jq -c --arg name "$1" '. + {name: $name, kind: "drain"}' <<<"$d" >>"$RESULTS"
	jq -r --arg n "$1" '"  \($n) drain: \(.pending_start) pending -> \(.pending_end) in \(.seconds) s (\(.rows_per_s) rows/s)"' <<<"$d" >&2
	[ "$(jq -r .drained <<<"$d")" = true ] || log "WARNING: applier did not drain within $DRAIN_MAX s"
}

metric() { curl -s "${ADMIN_URL}" | awk -v n="$1" '$1 == n {print $2}'; }

# The row-by-row baseline: pgbench, one connection, one INSERT per transaction.
baseline() {
	local doc legacy out tps n0 n1
	"$TANDEMCTL" schema --collection bench_rowbyrow >"$WORK/rowbyrow.sql"
	psql -X -q -v ON_ERROR_STOP=1 "$DSN" -f "$WORK/rowbyrow.sql" >/dev/null
	doc=$(sql "SELECT doc::text FROM bench LIMIT 1")
	legacy=$(sql "SELECT legacy_id::text FROM bench LIMIT 1")
	[ -n "$doc" ] || die "no row in bench to copy for the baseline"
	printf "INSERT INTO bench_rowbyrow VALUES ('bench', gen_random_uuid(), '%s'::jsonb, '%s'::jsonb);\n" \
		"${legacy//\'/\'\'}" "${doc//\'/\'\'}" >"$WORK/rowbyrow.pgbench"
	n0=$(sql "SELECT count(*) FROM bench_rowbyrow")
	out=$("$PGBIN/pgbench" -n -M prepared -c 1 -j 1 -T "$BASE_SECS" -f "$WORK/rowbyrow.pgbench" "$DSN" 2>&1) ||
		{ echo "$out" >&2; die "pgbench failed"; }
	n1=$(sql "SELECT count(*) FROM bench_rowbyrow")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")
	[ -n "$tps" ] || { echo "$out" >&2; die "cannot read pgbench's tps"; }
	jq -nc --argjson tps "$tps" --argjson rows "$((n1 - n0))" --argjson secs "$BASE_SECS" \
		'{kind: "baseline", name: "row-by-row", rows_per_s: $tps, rows: $rows, seconds: $secs}' >>"$RESULTS"
	log "  row-by-row: $tps rows/s ($((n1 - n0)) rows in $BASE_SECS s)"
}

# --- run --------------------------------------------------------------------
build
start_stub
start_pg
log "work $WORK; PostgreSQL $DSN (durable=$PG_DURABLE); tandem $TANDEM ${TANDEM_ARGS[*]}"
MACHINE="$(nproc) CPUs, $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"

log "direct (loadgen -> stub)"
TANDEM_PID=""
for c in $CONNS_LIST; do point "direct-$c" "$STUB_PORT" "$c"; done

log "tandem mongo_only"
start_tandem mongo_only
for c in $CONNS_LIST; do point "mongo_only-$c" "$TANDEM_PORT" "$c"; done
stop "$TANDEM_PID"

log "tandem dual_write"
start_tandem dual_write
start sampler "$PY" "$HERE/dwmetrics.py" sample "$ADMIN_URL" "$WORK/samples.jsonl" --interval 0.1 --max-seconds 3000
SAMPLER_PID=$LAST_PID
ACKED=0
for c in $CONNS_LIST; do
	point "dual_write-$c" "$TANDEM_PORT" "$c"
	metrics_window "dual_write-$c"
	ACKED=$(( ACKED + $(jq -r .acked "$WORK/dual_write-$c.json") ))
	drain "dual_write-$c"
done
point "lag-$RATE" "$TANDEM_PORT" "$LAG_CONNS" --rate "$RATE" --seconds "$LAG_SECS"
metrics_window "lag-$RATE"
ACKED=$(( ACKED + $(jq -r .acked "$WORK/lag-$RATE.json") ))
drain "lag-$RATE"
stop "$SAMPLER_PID"

ROWS=$(sql "SELECT count(*) FROM bench")
jq -nc --argjson acked "$ACKED" --argjson rows "$ROWS" \
	--argjson jobs "$(metric tandem_dualwrite_jobs_total)" \
	--argjson applied "$(metric tandem_dualwrite_applied_total)" \
	--argjson pending "$(metric tandem_dualwrite_pending)" \
	--argjson queued "$(metric tandem_dualwrite_queued_total)" \
	--argjson spooled "$(metric tandem_dualwrite_spooled_total)" \
	--argjson dead "$(metric tandem_dualwrite_dead_letters_total)" \
	--argjson etrans "$(metric tandem_dualwrite_errors_transient_total)" \
	--argjson eperm "$(metric tandem_dualwrite_errors_permanent_total)" \
	'{kind: "count", acked: $acked, pg_rows: $rows, jobs: $jobs, applied: $applied, pending: $pending,
	  queued: $queued, spooled: $spooled, dead_letters: $dead, errors_transient: $etrans,
	  errors_permanent: $eperm}' >>"$RESULTS"
log "  count: $ACKED acknowledged inserts, $ROWS rows in PostgreSQL"
stop "$TANDEM_PID"
TANDEM_PID=""

log "row-by-row baseline (pgbench)"
baseline

"$PY" "$HERE/dwreport.py" "$RESULTS" --machine "$MACHINE" --durable "$PG_DURABLE" \
	--seconds "$SECS" --warmup "$WARMUP" --rate "$RATE" --lag-seconds "$LAG_SECS" \
	--lag-conns "$LAG_CONNS" --tandem-args "${TANDEM_ARGS[*]:-}" >"$WORK/report.md"
cat "$WORK/report.md"
[ -z "$OUT" ] || cp "$WORK/report.md" "$OUT"
if [ "$(jq -r 'select(.kind == "count") | .acked == .pg_rows' "$RESULTS")" != true ]; then
	log "FAIL: PostgreSQL rows != acknowledged inserts"
	exit 1
fi
