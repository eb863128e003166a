#!/usr/bin/env bash
# Command 2: install what is missing, build, and run the whole test suite:
# unit and integration tests (real nats-server, real nodes, real WebSocket
# clients) against the newest nats-server installed, a compatibility subset of them against
# Debian's nats-server 2.9.10, then the unit tests again under AddressSanitizer+UBSan and
# ThreadSanitizer, then each libFuzzer target for a bounded time (scripts/fuzz.sh).
# Set PARTYLINE_SKIP_SANITIZERS=1 to skip the sanitizer builds, PARTYLINE_SKIP_FUZZ=1 to skip
# fuzzing, PARTYLINE_FUZZ_SECONDS to fuzz each target longer or shorter than 30 s. The C++
# sources must be formatted (scripts/format.sh) and build without a warning.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" --test
# Formatting first: it takes a second, and an unformatted change fails before a long build.
"$root/scripts/format.sh" --check
# A compiler warning fails every build below (PARTYLINE_WERROR=OFF to see warnings only).
export PARTYLINE_WERROR=${PARTYLINE_WERROR:-ON}
(cd "$root/tests" && npm ci --no-audit --no-fund --loglevel=error)

jobs=$(nproc)
"$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure -j"$jobs" --timeout 600
# The suite above ran against the newest nats-server installed (build/tools/bin when Go built
# one); the compatibility subset runs again against Debian's 2.9.10.
if [[ -x "$root/build/tools/bin/nats-server" && -x /usr/sbin/nats-server ]]; then
  echo "compatibility subset against $(/usr/sbin/nats-server --version)"
  NATS_SERVER_BIN=/usr/sbin/nats-server ctest --test-dir "$root/build" --output-on-failure -L compat \
    -j"$jobs" --timeout 600
fi

if [[ "${PARTYLINE_SKIP_SANITIZERS:-0}" != 1 ]]; then
  for sanitizer in "address,undefined" thread; do
    dir="$root/build-${sanitizer%%,*}"
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DPARTYLINE_SANITIZE="$sanitizer" \
      -DPARTYLINE_WERROR="$PARTYLINE_WERROR" >/dev/null
    cmake --build "$dir" -j"$jobs"
    # Unit tests only: the integration tests exercise the release build.
    UBSAN_OPTIONS=halt_on_error=1 TSAN_OPTIONS=halt_on_error=1 \
      ctest --test-dir "$dir" --output-on-failure -L unit -j"$jobs"
  done
fi

if [[ "${PARTYLINE_SKIP_FUZZ:-0}" != 1 ]]; then
  "$root/scripts/fuzz.sh"
fi
