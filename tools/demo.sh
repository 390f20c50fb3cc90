#!/usr/bin/env bash
# tools/demo.sh - install, build, and run tandem's main job end to end:
# the reference upstream (a 2-node replica set), PostgreSQL, Redis and
# tandem on loopback, with a sample multi-tenant workload through tandem.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec /usr/bin/python3 tools/demo.py
