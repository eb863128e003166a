#!/usr/bin/env bash
# Smoke test of partyline-bench against a real node: one node with its embedded nats-server on a
# free loopback port, a short run in post mode, one in post mode with batches (application/x-ndjson
# bodies, several writes per request) and one in ws mode (party "echo", whose script
# broadcasts every frame it gets), each of which must report every expected delivery exactly once
# and in order (the tool exits 0 only then). Usage: smoke.sh PARTYLINE_BIN BENCH_BIN SOURCE_DIR
set -euo pipefail
partyline=$1
bench=$2
source_dir=$3

work=$(mktemp -d /tmp/partyline-bench-smoke.XXXXXX)
node_pid=""
cleanup() {
    if [[ -n $node_pid ]]; then
        kill "$node_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$node_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$node_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# 200 OK from GET $1 on the node, within one attempt.
answers_ok() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
    local status
    read -r -t 2 status <&3 || status=""
    exec 3<&-
    [[ $status == "HTTP/1.1 200"* ]]
}

# The node binds port 0 and logs the port it got: no port is chosen here and bound later.
start_node() {
    cat > "$work/node.yaml" <<YAML
listen: 127.0.0.1:0
data_dir: $work/data
parties:
  main: { script: $source_dir/examples/chat/room.lua }
  echo: { script: $source_dir/tests/integration/scripts/echo.lua }
limits:
  max_connections: 1000
YAML
    "$partyline" serve --config "$work/node.yaml" > "$work/node.log" 2>&1 &
    node_pid=$!
    port=""
    for _ in $(seq 150); do
        kill -0 "$node_pid" 2>/dev/null || break
        if [[ -z $port ]]; then
            port=$(sed -n 's/.* listening on .* (port \([0-9][0-9]*\)).*/\1/p' "$work/node.log" | head -n 1)
        fi
        if [[ -n $port ]] && answers_ok /readyz 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "the node did not become ready; its log:" >&2
    tail -n 30 "$work/node.log" >&2
    return 1
}

run_bench() {
    echo "+ partyline-bench $*"
    if ! "$bench" --url "http://127.0.0.1:$port" --pid "$node_pid" --quiet --settle 0.5 --drain 5 "$@"; then
        echo "partyline-bench reported a problem (above); the node's last lines:" >&2
        tail -n 30 "$work/node.log" >&2
        return 1
    fi
}

start_node
run_bench --mode post --clients 60 --rooms 3 --rate 300 --duration 2 --http-conns 4
run_bench --mode post --clients 30 --rooms 3 --rate 2000 --duration 2 --http-conns 2 --batch 50
run_bench --mode ws --party echo --clients 40 --rooms 2 --writers 4 --rate 200 --duration 2 --threads 2
echo "bench smoke test passed"
