#!/usr/bin/env bash
# tools/test.sh - install, build and run every test of tandem.
#
#   bash tools/test.sh           # everything (what CI runs)
#   QUICK=1 bash tools/test.sh   # skip the sanitizer pass and the fuzzer
#
# 1. setup (Debian packages, npm clients, build/)
# 2. unit tests (criterion, meson test)
# 3. integration tests (pytest): real PostgreSQL, Redis, the reference
#    upstream and real clients, started by the fixtures on loopback
# 4. the same unit and integration tests against an AddressSanitizer +
#    UndefinedBehaviorSanitizer build (build-asan/)
# 5. the libFuzzer targets, seed 1, FUZZ_RUNS inputs (1 000 000) or
#    FUZZ_SECONDS (30) each, whichever ends first
#
# Set TANDEM_TEST_MONGO_URI=mongodb://... to run the integration tests
# against a real mongod instead of the reference upstream.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3

bash tools/setup.sh

echo "== unit tests"
meson test -C build --suite unit --print-errorlogs

run_integration() {
  local bin=$1
  shift
  echo "== integration tests ($bin)"
  TANDEM_BIN=$bin $PY -m pytest -q -p no:cacheprovider tests/integration "$@"
}

# The reference upstream's own self-tests run once, with the first pass.
run_integration build/proxy/tandem tests/upstream

if [ "${QUICK:-0}" != 1 ]; then
  echo "== sanitizer build (address,undefined)"
  [ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined >/dev/null
  meson compile -C build-asan >/dev/null
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  meson test -C build-asan --suite unit --print-errorlogs

  reports=$(mktemp -d /tmp/tandem-asan.XXXXXX)
  chmod 777 "$reports"
  # The randomized differential tests run 20,000 writes in the first pass,
  # 5,000 here, and the shadow test 1,000 reads instead of 10,000 (the
  # sanitizers make tandem several times slower).
  ASAN_OPTIONS=log_path=$reports/report:detect_leaks=1 \
    UBSAN_OPTIONS=log_path=$reports/report:halt_on_error=0:print_stacktrace=1 \
    TANDEM_DIFF_WRITES=${TANDEM_DIFF_WRITES_ASAN:-5000} \
    TANDEM_SHADOW_READS=${TANDEM_SHADOW_READS_ASAN:-1000} \
    run_integration build-asan/proxy/tandem
  if compgen -G "$reports/report*" >/dev/null; then
    echo "sanitizer reports from tandem under test:"
    cat "$reports"/report*
    exit 1
  fi
  rm -rf "$reports"

  if [ -x tests/fuzz/run.sh ] && command -v clang >/dev/null; then
    # A fixed seed and run count make this pass the same every time, so a
    # finding is reproducible; long exploring runs are local:
    # bash tests/fuzz/run.sh 600
    echo "== fuzzing (wire parsers, jsonb codec, queue entries, write and read commands), seed 1, at most ${FUZZ_SECONDS:-30} s each"
    FUZZ_ARGS=${FUZZ_ARGS:-"-seed=1 -runs=${FUZZ_RUNS:-1000000}"} bash tests/fuzz/run.sh "${FUZZ_SECONDS:-30}"
  fi
fi
echo "== all tests passed"
