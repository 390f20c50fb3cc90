#!/usr/bin/env bash
# bench.sh - tandem's passthrough benchmark: direct vs haproxy (mode tcp) vs tandem.
#
#   loadgen --> stub_upstream                      "direct"
#   loadgen --> haproxy mode tcp --> stub_upstream  "haproxy"
#   loadgen --> tandem --> stub_upstream            "tandem" (skipped if not built)
#
# For each point (ping at 1/16/64 connections, find at 16) every path is run
# once per round, paths interleaved, --repeat rounds; the table shows the
# median of each figure and the ratios to direct and to haproxy.  Then RSS per
# idle connection of tandem and haproxy (fresh processes, N idle connections).
# Every process this script starts is killed by pid on exit.
#
# --pin auto (default): 1-connection points run with every process on CPU 0,
#   the others unpinned.  On these VMs a wake-up across CPUs costs 50-100 us,
#   so an unpinned 1-connection latency depends on where the scheduler put
#   the processes; on one CPU it measures the path's own cost.
# --pin none: never pin.  --pin one: every point on CPU 0.
# Before each point the script waits up to --quiet-wait seconds for the
# machine to be idle (other users' load disturbs the figures; see the report).
#
# usage: bash tests/bench/bench.sh [--quick] [--out FILE.md] [--seconds S]
#        [--repeat N] [--loadgen-threads N] [--stub-threads N] [--idle-conns N]
#        [--pin auto|none|one] [--quiet-wait S] [--no-rss] [--no-build]
# env:   BUILD (default ROOT/build-bench), TANDEM (path of the tandem binary)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
SECS=4 WARMUP=1 REPEAT=3 LG_THREADS=1 STUB_THREADS=1 IDLE_CONNS=10000 QUIET_WAIT=5
OUT="" DO_RSS=1 DO_BUILD=1 PIN=auto

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) SECS=2; WARMUP=0.5; REPEAT=1; QUIET_WAIT=3 ;;
	--out) OUT=$2; shift ;;
	--seconds) SECS=$2; shift ;;
	--repeat) REPEAT=$2; shift ;;
	--loadgen-threads) LG_THREADS=$2; shift ;;
	--stub-threads) STUB_THREADS=$2; shift ;;
	--idle-conns) IDLE_CONNS=$2; shift ;;
	--no-rss) DO_RSS=0 ;;
	--no-build) DO_BUILD=0 ;;
	--pin) PIN=$2; shift ;;
	--quiet-wait) QUIET_WAIT=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

WORK=$(mktemp -d /tmp/tandem-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# --- build ------------------------------------------------------------------
# The whole project through meson when it configures; otherwise (another part
# of the tree is half-written) the two bench tools alone with cc + pkg-config.
build_standalone() {
	local dir=$BUILD/bench-standalone src=$ROOT/tests/bench
	local flags="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -pthread"
	mkdir -p "$dir"
	# shellcheck disable=SC2046
	cc $flags -o "$dir/stub_upstream" "$src/stub_upstream.c" "$src/stub_reply.c" \
		"$src/bench_msg.c" $(pkg-config --cflags --libs libevent libevent_pthreads libbson-1.0)
	# shellcheck disable=SC2046
	cc $flags -o "$dir/loadgen" "$src/loadgen.c" "$src/lg_conn.c" "$src/lg_pace.c" "$src/bench_msg.c" \
		"$src/bench_hist.c" $(pkg-config --cflags --libs libevent libevent_pthreads libbson-1.0) -lm
	STUB=$dir/stub_upstream LOADGEN=$dir/loadgen
}

build() {
	STUB=$BUILD/tests/bench/stub_upstream LOADGEN=$BUILD/tests/bench/loadgen
	if [ "$DO_BUILD" = 0 ]; then
		[ -x "$LOADGEN" ] || { STUB=$BUILD/bench-standalone/stub_upstream; LOADGEN=$BUILD/bench-standalone/loadgen; }
		[ -n "${TANDEM:-}" ] || [ ! -x "$BUILD/proxy/tandem" ] || TANDEM=$BUILD/proxy/tandem
		[ -x "$LOADGEN" ] || { log "--no-build: no bench tools in $BUILD"; exit 2; }
		return
	fi
	if { [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" >"$WORK/setup.log" 2>&1; } &&
		meson compile -C "$BUILD" stub_upstream loadgen >"$WORK/build.log" 2>&1; then
		log "built bench tools in $BUILD"
		if [ -z "${TANDEM:-}" ] && meson compile -C "$BUILD" tandem >>"$WORK/build.log" 2>&1; then
			TANDEM=$BUILD/proxy/tandem
		fi
	else
		log "meson build of the tree failed (see below); building the bench tools alone"
		tail -5 "$WORK/setup.log" "$WORK/build.log" 2>/dev/null | sed 's/^/    /' >&2 || true
		build_standalone
	fi
}

# --- processes --------------------------------------------------------------
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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
	start stub "$STUB" --port "$STUB_PORT" --threads "$STUB_THREADS"
	STUB_PID=$LAST_PID
	wait_port "$STUB_PORT" || { log "stub_upstream did not start"; cat "$WORK/stub.log" >&2; exit 1; }
}

# haproxy mode tcp with the highest maxconn that RLIMIT_NOFILE allows (2 fds per connection).
start_haproxy() {
	local port maxconn=$(( (NOFILE - 200) / 2 ))
	port=$(free_port)
	cat >"$WORK/haproxy.cfg" <<-EOF
	global
	    maxconn $maxconn
	    nbthread 2
	defaults
	    mode tcp
	    timeout connect 5s
	    timeout client 10m
	    timeout server 10m
	frontend fe
	    bind 127.0.0.1:$port
	    default_backend be
	backend be
	    server stub 127.0.0.1:$STUB_PORT maxconn $maxconn
	EOF
	start haproxy haproxy -db -f "$WORK/haproxy.cfg"
	HAP_PID=$LAST_PID HAP_PORT=$port
	wait_port "$port" || { log "haproxy did not start"; cat "$WORK/haproxy.log" >&2; exit 1; }
}

start_tandem() {
	local port admin
	port=$(free_port)
	admin=$(free_port)
	start tandem "$TANDEM" --listen "127.0.0.1:$port" --mongo-uri "mongodb://127.0.0.1:$STUB_PORT" \
		--admin "127.0.0.1:$admin"
	TANDEM_PID=$LAST_PID TANDEM_PORT=$port
	if ! wait_port "$port"; then
		log "tandem did not start; log:"
		tail -20 "$WORK/tandem.log" >&2
		stop "$TANDEM_PID"
		TANDEM_PID=""
		return 1
	fi
}

# --- measurements -----------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# CPU ticks (user + system, all threads) of a pid; 0 for "-".
proc_ticks() {
	local f
	if [ "$1" = - ] || ! read -r -a f <"/proc/$1/stat"; then echo 0; return; fi
	echo $(( f[13] + f[14] ))
}

# Busy ticks of the whole machine (all CPUs) from /proc/stat.
machine_ticks() {
	local cpu user nice system idle iowait irq softirq steal rest
	read -r cpu user nice system idle iowait irq softirq steal rest </proc/stat
	echo $(( user + nice + system + irq + softirq + steal ))
}

# run_point PATH PORT PROXY_PID MODE CONNS ROUND: one loadgen run; its JSON line,
# plus the CPU use of stub, proxy and the rest of the machine, appended to RESULTS.
run_point() {
	local path=$1 port=$2 ppid=$3 mode=$4 conns=$5 round=$6 line rc=0
	local t0 t1 s0 s1 p0 p1 m0 m1
	local cpus quiet
	local cmd=("$LOADGEN" --port "$port" --conns "$conns" --mode "$mode" --seconds "$SECS"
		--warmup "$WARMUP" --threads "$LG_THREADS")
	cpus=$(point_cpus "$conns")
	set_affinity "$cpus"
	cmd=(taskset -c "$cpus" "${cmd[@]}")
	quiet=$(wait_quiet)
	t0=$(date +%s%N) s0=$(proc_ticks "$STUB_PID") p0=$(proc_ticks "$ppid") m0=$(machine_ticks)
	line=$("${cmd[@]}" 2>>"$WORK/loadgen.err") || rc=$?
	t1=$(date +%s%N) s1=$(proc_ticks "$STUB_PID") p1=$(proc_ticks "$ppid") m1=$(machine_ticks)
	[ -n "$line" ] || line='{"errors":1,"ops_per_s":0}'
	[ "$rc" = 0 ] || log "loadgen reported errors on $path $mode $conns (exit $rc)"
	# Tick rates over the whole run (warm-up included), as % of one core.
	jq -c --arg path "$path" --argjson round "$round" --argjson hz "$CLK_TCK" \
		--argjson ns "$((t1 - t0))" --argjson st "$((s1 - s0))" --argjson pt "$((p1 - p0))" \
		--argjson mt "$((m1 - m0))" --arg cpus "$cpus" --argjson quiet "$quiet" \
		'. + {path: $path, round: $round, cpus: $cpus, busy_before_pct: $quiet,
		      stub_cpu_pct: ($st / $hz / ($ns / 1e9) * 100),
		      proxy_cpu_pct: ($pt / $hz / ($ns / 1e9) * 100),
		      machine_cpu_pct: ($mt / $hz / ($ns / 1e9) * 100)}' <<<"$line" >>"$RESULTS"
	jq -r --arg path "$path" '"  \($path) \(.mode) c=\(.conns): \(.ops_per_s|floor) ops/s p50 \(.p50_us) µs p99 \(.p99_us) µs errors \(.errors)"' <<<"$line" >&2
}

# CPUs a point with this many connections runs on (see --pin).
point_cpus() {
	if [ "$PIN" = one ] || { [ "$PIN" = auto ] && [ "$1" = 1 ]; }; then echo 0; else echo "$ALL_CPUS"; fi
}

# Moves every thread of the servers this script runs to the CPU list.
set_affinity() {
	local pid
	for pid in "$STUB_PID" "$HAP_PID" "${TANDEM_PID:-}"; do
		[ -n "$pid" ] && taskset -a -p -c "$1" "$pid" >/dev/null 2>&1 || true
	done
}

# Waits up to QUIET_WAIT s until the machine is < 15 % busy over 0.5 s; prints the last busy %.
wait_quiet() {
	local deadline busy b0 b1 t0 t1 c u n s i w q sq st r
	deadline=$(( $(date +%s) + ${QUIET_WAIT%.*} ))
	while :; do
		read -r c u n s i w q sq st r </proc/stat
		b0=$((u + n + s + q + sq + st)) t0=$((u + n + s + q + sq + st + i + w))
		sleep 0.5
		read -r c u n s i w q sq st r </proc/stat
		b1=$((u + n + s + q + sq + st)) t1=$((u + n + s + q + sq + st + i + w))
		busy=$(( (b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1) ))
		if [ "$busy" -lt 15 ] || [ "$(date +%s)" -ge "$deadline" ]; then break; fi
	done
	echo "$busy"
}

vmrss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# rss_idle PATH PID PORT: RSS growth of PID with IDLE_CONNS idle connections.
rss_idle() {
	local path=$1 pid=$2 port=$3 before after ready i lg
	"$LOADGEN" --port "$port" --conns 1 --seconds 0.5 --warmup 0 >/dev/null 2>&1 || true
	sleep 0.5
	before=$(vmrss_kib "$pid")
	rm -f "$WORK/ready.json"
	"$LOADGEN" --port "$port" --conns "$IDLE_CONNS" --mode idle --seconds 6 \
		--ready-file "$WORK/ready.json" >"$WORK/idle.json" 2>>"$WORK/loadgen.err" &
	lg=$!
	for ((i = 0; i < 1200; i++)); do
		[ -s "$WORK/ready.json" ] && break
		sleep 0.1
	done
	sleep 1
	after=$(vmrss_kib "$pid")
	ready=$(jq .ready "$WORK/ready.json" 2>/dev/null || echo 0)
	wait "$lg" || true
	jq -nc --arg path "$path" --argjson b "$before" --argjson a "$after" --argjson n "$ready" \
		--argjson want "$IDLE_CONNS" \
		'{rss: true, path: $path, conns: $want, ready: $n, before_kib: $b, after_kib: $a,
		  kib_per_conn: (if $n > 0 then ($a - $b) / $n else null end)}' >>"$RESULTS"
	log "  $path: RSS $before -> $after KiB with $ready idle connections"
}

machine_info() {
	jq -nc --arg date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" --arg nproc "$(nproc)" \
		--arg cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
		--arg kernel "$(uname -r)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
		--arg haproxy "$(haproxy -v | awk 'NR==1 {print $3}')" \
		--arg tandem "${TANDEM:-none}" --arg secs "$SECS" --arg warmup "$WARMUP" \
		--arg repeat "$REPEAT" --arg lgt "$LG_THREADS" --arg stubt "$STUB_THREADS" \
		--arg pin "$PIN" --arg quiet "$QUIET_WAIT" \
		--arg nofile "$NOFILE" \
		'{machine: true, date: $date, nproc: $nproc, cpu: $cpu, kernel: $kernel,
		  loadavg: $load, haproxy: $haproxy, tandem: $tandem, seconds: $secs,
		  warmup: $warmup, repeat: $repeat, loadgen_threads: $lgt,
		  stub_threads: $stubt, pin: $pin, quiet_wait: $quiet, nofile: $nofile}' >>"$RESULTS"
}

# --- main -------------------------------------------------------------------
for tool in jq haproxy meson; do
	command -v "$tool" >/dev/null || { log "$tool is required (Debian package $tool)"; exit 2; }
done
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
ALL_CPUS=0-$(( $(nproc) - 1 ))
case "$PIN" in auto|none|one) ;; *) log "--pin must be auto, none or one"; exit 2 ;; esac

build
if [ -z "${TANDEM:-}" ] && [ -x "$ROOT/build/proxy/tandem" ]; then TANDEM=$ROOT/build/proxy/tandem; fi
if [ -n "${TANDEM:-}" ] && [ ! -x "$TANDEM" ]; then log "TANDEM=$TANDEM is not executable"; TANDEM=""; fi
[ -n "${TANDEM:-}" ] || log "tandem binary not found (build/proxy/tandem): measuring direct and haproxy only"
log "stub $STUB, loadgen $LOADGEN, tandem ${TANDEM:-none}, RLIMIT_NOFILE $NOFILE"

machine_info
start_stub
start_haproxy
TANDEM_PID=""
if [ -n "${TANDEM:-}" ]; then start_tandem || log "tandem skipped"; fi

POINTS=("ping 1" "ping 16" "ping 64" "find 16")
for ((round = 1; round <= REPEAT; round++)); do
	log "round $round/$REPEAT"
	for point in "${POINTS[@]}"; do
		read -r mode conns <<<"$point"
		run_point direct "$STUB_PORT" - "$mode" "$conns" "$round"
		run_point haproxy "$HAP_PORT" "$HAP_PID" "$mode" "$conns" "$round"
		if [ -n "$TANDEM_PID" ]; then
			run_point tandem "$TANDEM_PORT" "$TANDEM_PID" "$mode" "$conns" "$round"
		fi
	done
done

if [ "$DO_RSS" = 1 ]; then
	# 2 fds per proxied connection must fit under RLIMIT_NOFILE.
	max_idle=$(( (NOFILE - 200) / 2 ))
	if [ "$IDLE_CONNS" -gt "$max_idle" ]; then
		log "RLIMIT_NOFILE $NOFILE (hard limit) allows $max_idle proxied connections, not $IDLE_CONNS"
		IDLE_CONNS=$max_idle
	fi
	log "RSS per idle connection ($IDLE_CONNS connections, fresh processes)"
	set_affinity "$ALL_CPUS"
	stop "$HAP_PID"
	start_haproxy
	rss_idle haproxy "$HAP_PID" "$HAP_PORT"
	stop "$HAP_PID"
	if [ -n "$TANDEM_PID" ]; then
		stop "$TANDEM_PID"
		if start_tandem; then rss_idle tandem "$TANDEM_PID" "$TANDEM_PORT"; fi
	fi
fi

/usr/bin/python3 "$ROOT/tests/bench/report.py" "$RESULTS" ${OUT:+"$OUT"}
