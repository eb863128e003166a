#!/usr/bin/env bash
# Command 1: install what is missing, build, and run a partyline node with its
# embedded default (a local nats-server with JetStream, the example chat room).
# Extra arguments go to `partyline serve`, e.g. --listen 127.0.0.1:2000.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "$root"
exec "$root/build/partyline" serve "$@"
