#!/usr/bin/env bash
# flagbench.sh - flag propagation at 10 000 tenants: how long a plain HSET
# takes to be served by two running flag caches (flags_probe processes, which
# read the cache through flags_get as a worker does), with Redis
# invalidations (the default) and with the old behaviour (full re-read every
# 100 ms) as the baseline; plus Redis's round trip and the cost of flags_get.
# Everything is measured by tests/bench/flagbench.py; see its header.
#
# usage: bash tests/bench/flagbench.sh [--changes N] [--tenants N] [--out FILE.md]
# env:   BUILD (default ROOT/build), FLAGS_PROBE (binary path)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
if [ -z "${FLAGS_PROBE:-}" ]; then
	[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" >/dev/null
	meson compile -C "$BUILD" flags_probe >/dev/null
	FLAGS_PROBE=$BUILD/tests/clients/flags_probe
fi
exec /usr/bin/python3 "$ROOT/tests/bench/flagbench.py" --probe "$FLAGS_PROBE" "$@"
