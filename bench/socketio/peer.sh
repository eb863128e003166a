#!/usr/bin/env bash
# The Socket.IO peer of docs/PERFORMANCE.md section (9), end to end: one redis-server (no
# persistence) on a loopback port, two Socket.IO servers (bench/socketio/server.mjs, each on a
# port the kernel gave it) sharing rooms through it, then the load generator
# (bench/socketio/load.mjs) against both with --cpu of each server and of redis-server. Every
# process it starts is stopped when it exits, however it exits.
#
#   bash bench/socketio/peer.sh [LOAD FLAGS ...]     e.g. --rooms 500 --clients 2000 --writers 2000
#                                                         --rate 4000 --duration 30 --json
#
# Prints what the load generator prints (summary on stderr, --json on stdout) and exits with its
# status; 2 when a part is missing or does not start. Needs redis-server and `npm ci` in
# bench/socketio (scripts/install-deps.sh --test and scripts/test.sh do both). SOCKETIO_PEER_LOGS=DIR
# keeps the servers' and redis-server's logs there. SOCKETIO_PEER_CLIENT=FILE.mjs runs that client
# instead of load.mjs, with the same flags (the smoke test's refusals.mjs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

command -v redis-server >/dev/null || { echo "peer.sh: redis-server is missing: run scripts/install-deps.sh --test" >&2; exit 2; }
command -v node >/dev/null || { echo "peer.sh: node is missing: run scripts/install-deps.sh --test" >&2; exit 2; }
[[ -d $here/node_modules/socket.io ]] ||
    { echo "peer.sh: bench/socketio has no node_modules: run scripts/install-deps.sh --test (npm ci there)" >&2; exit 2; }

work=$(mktemp -d /tmp/socketio-peer.XXXXXX)
pids=()
# Stops what was started, the last first: the load generator, the servers, then redis-server.
cleanup() {
    local pid reversed=()
    for pid in "${pids[@]}"; do reversed=("$pid" "${reversed[@]}"); done
    for pid in "${reversed[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${reversed[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${SOCKETIO_PEER_LOGS:-} ]]; then mkdir -p "$SOCKETIO_PEER_LOGS" && cp "$work"/*.log "$SOCKETIO_PEER_LOGS"/ 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# redis-server takes no port 0 (that turns TCP off), so it is started on a port of the ephemeral
# range and binds it itself: a port already taken makes it exit, and the next candidate is tried.
# Nothing here finds a port free and binds it later.
start_redis() {
    local attempt port
    for attempt in $(seq 20); do
        port=$((30000 + (RANDOM * 32768 + RANDOM) % 20000))
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --databases 1 \
            --logfile "$work/redis.log" --daemonize no &
        redis_pid=$!
        pids=("$redis_pid")
        for _ in $(seq 100); do
            grep -q "Ready to accept connections" "$work/redis.log" 2>/dev/null && { redis_port=$port; return 0; }
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        pids=()
        grep -q "Address already in use" "$work/redis.log" 2>/dev/null || break
        : >"$work/redis.log"
    done
    echo "peer.sh: redis-server did not start; its log:" >&2
    tail -n 20 "$work/redis.log" >&2
    exit 2
}

# start_server N: a Socket.IO server on a port the kernel picks; sets server_pid and server_port.
start_server() {
    node "$here/server.mjs" --redis "redis://127.0.0.1:$redis_port" --name "socketio-$1" >"$work/socketio-$1.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    server_port=""
    for _ in $(seq 300); do
        server_port=$(sed -n 's/.* listening on .* (port \([0-9][0-9]*\)).*/\1/p' "$work/socketio-$1.log" | head -n 1)
        [[ -n $server_port ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "peer.sh: socketio-$1 did not start; its log:" >&2
    tail -n 20 "$work/socketio-$1.log" >&2
    exit 2
}

start_redis
args=()
for n in 1 2; do
    start_server "$n"
    args+=(--url "http://127.0.0.1:$server_port" --cpu "socketio-$n=$server_pid")
done
args+=(--cpu "redis-server=$redis_pid")
# In the background, so that a TERM or INT to this script stops it too (bash runs a trap only
# once the command it waits for returns, and `wait` returns at once on a signal).
status=0
node "${SOCKETIO_PEER_CLIENT:-$here/load.mjs}" "${args[@]}" "$@" &
load_pid=$!
pids+=("$load_pid")
wait "$load_pid" || status=$?
if ((status != 0)); then
    for log in "$work"/*.log; do
        echo "peer.sh: the last lines of $(basename "$log"):" >&2
        tail -n 10 "$log" >&2
    done
fi
exit "$status"
