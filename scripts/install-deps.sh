#!/usr/bin/env bash
# Installs what partyline needs on Debian 12, if it is missing. Without arguments: what building
# and running need (scripts/run.sh, the Dockerfile's build stage). With --test: that and what the
# tests need too (scripts/test.sh): Node.js and npm for the integration tests, haproxy for the
# cluster test, which puts it in front of three nodes; chromium and its fonts for the example
# pages' browser tests; clang and its runtime libraries for the libFuzzer targets, which gcc
# cannot build; clang-format for the format check; openssl for the TLS test's certificate;
# prometheus for promtool, which checks deploy/prometheus.yml and a node's /metrics; debootstrap
# for the container test, which builds the image's Debian root without a Docker engine; jq for
# the benchmark scripts (bench/scale.sh reads JetStream's stream info with it); redis-server and
# the npm packages of bench/socketio (`npm ci` there) for the Socket.IO peer of bench/targets.sh's
# peer figure and its smoke test.
# Runs apt-get update once, and only when a package is missing. Needs root or sudo.
set -euo pipefail

packages=(build-essential cmake pkg-config nats-server libnats-dev libcivetweb-dev
          liblua5.4-dev libyaml-cpp-dev doctest-dev libssl-dev libcurl4-openssl-dev curl
          ca-certificates)
test_packages=(nodejs npm haproxy chromium fonts-liberation fonts-dejavu-core clang
               libclang-rt-14-dev clang-format openssl prometheus debootstrap jq redis-server)
case "${1:-}" in
  --test) packages+=("${test_packages[@]}") ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another source than Debian's package: accept any node >= 18 and npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The current nats-server, beside Debian's 2.9.10: built from its Go module into the build's tools
# folder (build/tools/bin, or $BUILD_DIR/tools/bin) when Go is installed. The embedded server, the
# tests and the benchmarks start the newest nats-server they find, so this one; scripts/test.sh
# runs a compatibility subset against Debian's too. Without Go, Debian's is the only one.
nats_version=v2.15.3
tools="${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}/tools/bin"
if [[ -x "$tools/nats-server" ]] && "$tools/nats-server" --version 2>/dev/null | grep -qF "$nats_version"; then
  :
elif command -v go >/dev/null; then
  echo "building nats-server $nats_version into $tools"
  mkdir -p "$tools"
  # Go keeps its module and build caches under HOME, which a CI job may not set.
  export HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
  if ! GOBIN="$tools" GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 \
      go install "github.com/nats-io/nats-server/v2@$nats_version"; then
    echo "install-deps: cannot build nats-server $nats_version; Debian's nats-server is used" >&2
  fi
else
  echo "install-deps: Go is not installed; Debian's nats-server $(/usr/sbin/nats-server --version 2>/dev/null) is used" >&2
fi

# The Socket.IO peer's packages (socket.io, its Redis adapter, the redis client, socket.io-client),
# at the versions of bench/socketio/package-lock.json.
if [[ "${1:-}" == --test ]]; then
  (cd "$(dirname "$0")/../bench/socketio" && npm ci --no-audit --no-fund --loglevel=error)
fi
