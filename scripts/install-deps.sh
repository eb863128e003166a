#!/usr/bin/env bash
# Installs what partyline needs to build, run and test on Debian 12, if it is missing
# (haproxy only for the cluster test, which puts it in front of three nodes;
# chromium and its fonts only for the example pages' browser tests; clang and its
# runtime libraries only for the libFuzzer targets, which gcc cannot build; clang-format for the
# format check; openssl for the TLS test's certificate; prometheus for promtool, which checks
# deploy/prometheus.yml and a node's /metrics).
# Runs apt-get update once, and only when a package is missing. Needs root or sudo.
set -euo pipefail

packages=(build-essential cmake pkg-config nats-server libnats-dev libcivetweb-dev
          liblua5.4-dev libyaml-cpp-dev doctest-dev libssl-dev libcurl4-openssl-dev nodejs npm curl
          ca-certificates haproxy
          chromium fonts-liberation fonts-dejavu-core clang libclang-rt-14-dev clang-format openssl
          prometheus)

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
