#!/usr/bin/env bash
# tools/setup.sh - install everything tandem needs on Debian 12 and build it.
#
#   bash tools/setup.sh            # packages + npm test clients + build/
#   SKIP_APT=1 bash tools/setup.sh # when the packages are known to be there
#
# Idempotent; safe to run again.  Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
  libevent-dev libmongoc-dev libbson-dev libpq-dev libhiredis-dev libmsgpack-dev libpcre2-dev
  libssl-dev libyaml-dev zlib1g-dev libsnappy-dev libzstd-dev libcriterion-dev
  postgresql redis-server haproxy openssl curl procps
  python3 python3-pymongo python3-mockupdb python3-mongomock python3-pytest python3-yaml
)
# Node.js and npm from Debian unless a node with npm is already installed.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${SKIP_APT:-0}" != 1 ] && [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Node.js driver, mongosh and Mongoose used by the integration tests.
if [ ! -d tests/node/node_modules/mongodb ] || [ ! -x tests/node/node_modules/.bin/mongosh ] ||
   [ ! -d tests/node/node_modules/mongoose ]; then
  echo "setup: npm ci in tests/node"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

BUILD=${BUILD:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" >/dev/null
fi
meson compile -C "$BUILD" >/dev/null
echo "setup: built $BUILD/proxy/tandem and $BUILD/tools/tandemctl"
