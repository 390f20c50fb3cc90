#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer target fuzz_wire (clang,
# ASan + UBSan) and run it for SECONDS (default 60) over a working copy of
# the seed corpus.  Exits non-zero when the fuzzer finds a crash, a leak, a
# timeout or undefined behaviour; the input is left in BUILD/fuzz-artifacts/.
#
#   FUZZ_BUILD_DIR  build directory (default: build-fuzz at the repo root)
#   FUZZ_ARGS       extra libFuzzer flags (e.g. "-jobs=2 -workers=2")
set -euo pipefail

secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
fi
meson compile -C "$build" fuzz_wire

work="$build/fuzz-corpus"
artifacts="$build/fuzz-artifacts"
mkdir -p "$work" "$artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

echo "fuzz_wire: running ${secs}s, corpus $work (+ seeds in tests/fuzz/corpus)"
# shellcheck disable=SC2086
"$build/tests/fuzz/fuzz_wire" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
	"$work" "$root/tests/fuzz/corpus"
echo "fuzz_wire: no crash in ${secs}s"
