#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer targets (clang, ASan +
# UBSan) and run each for SECONDS (default 60) over a working copy of its
# seed corpus: fuzz_wire (frame, OP_MSG, OP_QUERY/OP_REPLY, OP_COMPRESSED),
# fuzz_rowcodec (the jsonb row codec's parser and its round trip),
# fuzz_qentry (the durable queue's entry decoder), fuzz_dwtrans (write
# commands + replies), fuzz_readexec (read commands over documents),
# fuzz_aggregate (pipelines over documents), fuzz_compare (the shadow
# comparator and mismatch line), fuzz_rowselect (the filter push-down) and
# fuzz_tenant (tenant resolution in field mode, database-name refusals).
# fuzz_privs (connectionStatus and authentication replies, common/wire/privs.c).
# fuzz_router (the read router's request parsing and the cursor table).
# Exits non-zero when the fuzzer finds a crash, a leak, a timeout or
# undefined behaviour; the input is left in BUILD/fuzz-artifacts/.
#
#   FUZZ_BUILD_DIR  build directory (default: build-fuzz at the repo root)
#   FUZZ_ARGS       extra libFuzzer flags (e.g. "-jobs=2 -workers=2")
#   FUZZ_TARGETS    which targets (default: all nine)
set -euo pipefail

secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
fi
targets=${FUZZ_TARGETS:-fuzz_wire fuzz_rowcodec fuzz_qentry fuzz_dwtrans fuzz_readexec fuzz_aggregate fuzz_compare fuzz_rowselect fuzz_tenant fuzz_privs fuzz_router}
# shellcheck disable=SC2086
meson compile -C "$build" $targets

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

for t in $targets; do
	seeds="$root/tests/fuzz/corpus"                  # fuzz_wire
	[ "$t" != fuzz_wire ] && seeds="$root/tests/fuzz/corpus_${t#fuzz_}"
	work="$build/$t-corpus"
	artifacts="$build/fuzz-artifacts/$t"
	mkdir -p "$work" "$artifacts"
	echo "$t: running ${secs}s, corpus $work (+ seeds in $seeds)"
	# shellcheck disable=SC2086
	"$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
		"$work" "$seeds"
	echo "$t: no crash in ${secs}s"
done
