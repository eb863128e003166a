#!/usr/bin/env bash
# Configures and builds partyline into build/ (or $BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} \
  -DPARTYLINE_WERROR="${PARTYLINE_WERROR:-OFF}" "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
