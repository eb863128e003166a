#!/usr/bin/env bash
# Builds clients/js/dist/partyline-client.js: the client library and partysocket in one ES
# module, so a page can import it with <script type="module"> and no bundler of its own. The
# node serves it at /_partyline/partyline-client.js (it is compiled into the binary).
#
#   scripts/bundle-client.sh           writes the bundle
#   scripts/bundle-client.sh --check   fails when the committed bundle is not what the sources give
#
# Needs `npm ci` in tests/ (esbuild and partysocket are pinned in tests/package.json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
esbuild="$root/tests/node_modules/.bin/esbuild"
out="$root/clients/js/dist/partyline-client.js"
if [[ ! -x "$esbuild" ]]; then
    echo "bundle-client: $esbuild is missing: run npm ci in tests/" >&2
    exit 1
fi
build() {
    cd "$root"  # esbuild names the bundled files by their path from here
    # partysocket resolves from tests/node_modules, where npm ci put the pinned version.
    NODE_PATH="$root/tests/node_modules" "$esbuild" "$root/clients/js/index.js" --bundle --format=esm \
        --target=es2022 --legal-comments=inline --log-level=warning --outfile="$1"
}
if [[ "${1:-}" == "--check" ]]; then
    fresh="$(mktemp --suffix=.js)"
    trap 'rm -f "$fresh"' EXIT
    build "$fresh"
    if ! cmp -s "$fresh" "$out"; then
        echo "bundle-client: clients/js/dist/partyline-client.js is not what clients/js gives: run scripts/bundle-client.sh" >&2
        exit 1
    fi
    exit 0
fi
mkdir -p "$(dirname "$out")"
build "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
