#!/usr/bin/env bash
# Formats the C++ sources (every .cpp and .h git tracks or would add) with clang-format and the repository's
# .clang-format. With --check it changes nothing and fails, naming each file, when one is not
# formatted: scripts/test.sh runs it first, so an unformatted change fails before the build.
#
#   scripts/format.sh           # format every file in place
#   scripts/format.sh --check   # list what is not formatted, exit 1 if anything is
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cpp' '*.h' | sort -u)
((${#files[@]})) || { echo "format: no C++ files found" >&2; exit 2; }

if [[ "${1:-}" == --check ]]; then
  unformatted=()
  for file in "${files[@]}"; do
    clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
  done
  if ((${#unformatted[@]})); then
    echo "format: not formatted (run scripts/format.sh): ${unformatted[*]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files formatted"
elif (($#)); then
  echo "usage: scripts/format.sh [--check]" >&2
  exit 2
else
  clang-format -i "${files[@]}"
fi
