#!/usr/bin/env bash
# Smoke test of partyline-bench against a real node: one node with its embedded nats-server on a
# free loopback port, a short run in post mode, one in post mode with batches (application/x-ndjson
# bodies, several writes per request) and one in ws mode (party "echo", whose script
# broadcasts every frame it gets), each of which must report every expected delivery exactly once
# and in order (the tool exits 0 only then). Then the same tool against partyline-raw-sender, the
# fan-out floor: every frame delivered, its own counts adding up to the tool's, and each request it
# refuses answered with its status. Usage: smoke.sh PARTYLINE_BIN BENCH_BIN SOURCE_DIR RAW_SENDER_BIN
set -euo pipefail
partyline=$1
bench=$2
source_dir=$3
raw_sender=$4

work=$(mktemp -d /tmp/partyline-bench-smoke.XXXXXX)
node_pid=""
raw_pid=""
full_pid=""
cleanup() {
    [[ -n $raw_pid ]] && kill "$raw_pid" 2>/dev/null || true
    [[ -n $full_pid ]] && kill "$full_pid" 2>/dev/null || true
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
# A run is clean only if every planned write was sent in time, and each HTTP connection waits for
# its answer: the rates leave each connection 80 ms (one write) and 200 ms (a batch of 50) per
# answer, far more than any machine needs, so the smoke test checks the tool, not the machine.
run_bench --mode post --clients 60 --rooms 3 --rate 100 --duration 2 --http-conns 8
run_bench --mode post --clients 30 --rooms 3 --rate 1000 --duration 2 --http-conns 4 --batch 50
run_bench --mode ws --party echo --clients 40 --rooms 2 --writers 4 --rate 200 --duration 2 --threads 2
kill "$node_pid"
wait "$node_pid" 2>/dev/null || true
node_pid=""

# The raw sender binds port 0 and prints the port it got.
"$raw_sender" --listen 127.0.0.1:0 2> "$work/raw.log" &
raw_pid=$!
port=""
for _ in $(seq 150); do
    port=$(sed -n 's/.*listening on .* (port \([0-9][0-9]*\)).*/\1/p' "$work/raw.log" | head -n 1)
    [[ -n $port ]] && break
    kill -0 "$raw_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n $port ]] || { echo "the raw sender did not start:" >&2; cat "$work/raw.log" >&2; exit 1; }

# The status line of one request sent as is, or "none".
status_of() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf '%b' "$1" >&3
    local status
    read -r -t 5 status <&3 || status="none"
    exec 3<&-
    echo "${status%$'\r'}"
}
expect_status() {
    local got
    got=$(status_of "$2") || got="no answer (exit $?)"
    [[ $got == "HTTP/1.1 $1 "* ]] || { echo "raw sender: expected $1 for $3, got '$got'" >&2; exit 1; }
    echo "raw sender refuses $3 with $1"
}
expect_status 404 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n' "an unknown path"
expect_status 405 'GET /v1/parties/main/r/broadcast HTTP/1.1\r\nHost: x\r\n\r\n' "a GET of broadcast"
expect_status 400 'POST /v1/parties/main/r/broadcast HTTP/1.1\r\nHost: x\r\n\r\n' "a POST without Content-Length"
expect_status 413 'POST /v1/parties/main/r/broadcast HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n' "a body over the limit"
expect_status 415 'POST /v1/parties/main/r/broadcast HTTP/1.1\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1\r\n\r\nx' "a batch"
expect_status 400 'GET /parties/main/r HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' "an upgrade without a key"
expect_status 405 'POST /parties/main/r HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' "an upgrade that is not a GET"
expect_status 400 'GET\r\n\r\n' "a malformed request line"
expect_status 431 "GET / HTTP/1.1\r\nX: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n" "a head over the limit"

# Past --max-clients a connection is answered 503; flags it cannot use exit 2.
"$raw_sender" --listen 127.0.0.1:0 --max-clients 1 2> "$work/raw-full.log" &
full_pid=$!
full_port=""
for _ in $(seq 150); do
    full_port=$(sed -n 's/.*(port \([0-9][0-9]*\)).*/\1/p' "$work/raw-full.log" | head -n 1)
    [[ -n $full_port ]] && break
    sleep 0.1
done
exec 4<>"/dev/tcp/127.0.0.1/$full_port"
saved_port=$port
port=$full_port
expect_status 503 'GET /healthz HTTP/1.1\r\n\r\n' "a connection past --max-clients"
port=$saved_port
exec 4<&-
kill "$full_pid"
wait "$full_pid" || true
full_pid=""
for flags in "--listen nowhere" "--listen 127.0.0.1:99999" "--max-clients 0" "--colour blue" "--listen"; do
    status=0
    # shellcheck disable=SC2086
    "$raw_sender" $flags 2> "$work/raw-flags.log" || status=$?
    [[ $status == 2 ]] || { echo "raw sender: $flags exited $status, not 2" >&2; exit 1; }
    echo "raw sender refuses $flags: $(head -n 1 "$work/raw-flags.log")"
done

echo "+ partyline-bench (raw sender) --clients 25 --rate 40 --duration 1"
"$bench" --url "http://127.0.0.1:$port" --cpu "raw=$raw_pid" --quiet --settle 0.2 --drain 5 \
    --clients 25 --rate 40 --duration 1 --http-conns 2 > "$work/raw-bench.txt" ||
    { cat "$work/raw-bench.txt" "$work/raw.log" >&2; echo "partyline-bench reported a problem against the raw sender" >&2; exit 1; }
cat "$work/raw-bench.txt"
kill "$raw_pid"
wait "$raw_pid" || true
raw_pid=""
cat "$work/raw.log"
acked=$(sed -n 's/^writes .* \([0-9][0-9]*\) acknowledged,.*/\1/p' "$work/raw-bench.txt")
delivered=$(sed -n 's/^delivered *\([0-9][0-9]*\) of .*/\1/p' "$work/raw-bench.txt")
read -r upgrades broadcasts frames < <(sed -n 's/.*upgrades \([0-9]*\) broadcasts \([0-9]*\) frames \([0-9]*\).*/\1 \2 \3/p' "$work/raw.log")
echo "tool: $acked acknowledged, $delivered delivered; raw sender: $upgrades upgrades, $broadcasts broadcasts, $frames frames"
[[ $upgrades == 25 && $acked -gt 0 && $broadcasts == "$acked" && $frames == $((acked * 25)) && $delivered == "$frames" ]] ||
    { echo "the raw sender's counts do not add up to the tool's" >&2; exit 1; }
echo "bench smoke test passed"
