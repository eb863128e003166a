#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan in build-fuzz/, then runs
# them one after the other (one core each), every one for PARTYLINE_FUZZ_SECONDS (default 30)
# from its committed seed corpus tests/fuzz/<role>/<Target>/. Inputs that found new code are kept
# in build-fuzz/corpus/<Target>/ for the next run (not committed). A crash, a failed check, an
# out-of-memory or a timeout prints the log, leaves the input in build-fuzz/crashes/ and fails.
#
#   scripts/fuzz.sh                                     # every target, 30 s each
#   PARTYLINE_FUZZ_SECONDS=600 scripts/fuzz.sh ConfigFuzz   # one target, longer
#   build-fuzz/fuzz/ConfigFuzz build-fuzz/crashes/ConfigFuzz-crash-...   # replay one input
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build-fuzz"
seconds=${PARTYLINE_FUZZ_SECONDS:-30}

cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DPARTYLINE_FUZZ=ON -DPARTYLINE_WERROR="${PARTYLINE_WERROR:-OFF}" >/dev/null
cmake --build "$dir" -j"$(nproc)" --target fuzzers

targets=("$@")
if ((${#targets[@]} == 0)); then
  for binary in "$dir"/fuzz/*Fuzz; do targets+=("$(basename "$binary")"); done
fi

mkdir -p "$dir/crashes"
failed=()
for target in "${targets[@]}"; do
  seeds=$(find "$root/tests/fuzz" -mindepth 2 -maxdepth 2 -type d -name "$target")
  [[ -x "$dir/fuzz/$target" && -n "$seeds" ]] || { echo "no fuzz target named $target" >&2; exit 2; }
  mkdir -p "$dir/corpus/$target"
  log="$dir/fuzz-$target.log"
  # -timeout: one input taking 10 s is a hang. The outer timeout bounds a run whose exit stalls.
  status=0
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 timeout --kill-after=10 $((seconds + 120)) \
    "$dir/fuzz/$target" "$dir/corpus/$target" "$seeds" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$dir/crashes/$target-" >"$log" 2>&1 ||
    status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  if ((status == 0)); then
    echo "fuzz: $target: ${runs:-?} inputs in ${seconds} s, no crash"
  else
    echo "fuzz: $target FAILED (exit $status); log $log:" >&2
    grep -v '^#[0-9]' "$log" | tail -60 >&2
    failed+=("$target")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: failed: ${failed[*]}; inputs in $dir/crashes/" >&2
  exit 1
fi
