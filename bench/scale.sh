#!/usr/bin/env bash
# The scale run of docs/SCALING.md: a three-server NATS cluster (JetStream, replicas 3), three
# partyline nodes on it with `nats.partitions: 3` (bench/bench-scale.yaml), HAProxy in front of
# them, and partyline-bench holding as many WebSockets over as many rooms as this machine's
# open-file limit allows, writing by POST and by WebSocket. Every run reports delivered/expected,
# loss, duplicates, order, p50/p99 and the CPU-seconds of each process kind (the nodes, the
# nats-servers, HAProxy, the tool) per million deliveries.
#
#   bash bench/scale.sh [RUN ...]           from the repository root, after scripts/build.sh
#
# RUN is one of (default: all, in this order):
#   proxied-post proxied-ws            every client and POST through HAProxy, round robin, so a
#                                      room's clients land on all three nodes
#   proxied-post-room proxied-ws-room  through HAProxy balancing by room: each room on one node
#     HAProxy holds two descriptors per connection, so under a hard limit of N open files it
#     proxies about N/2 connections: these runs take what fits.
#   direct-post direct-ws              straight to the nodes, each room's clients alternating
#                                      between them (--spread room): every room on every node
#   direct-ws-room                     straight to the nodes, each room on one of them
#     as many connections as the tool itself can hold.
#   write-ceiling                      batched POSTs to 30 rooms at a rate above what the
#                                      cluster takes: its acknowledged writes per second
#
# Environment: SCALE_CLIENTS (direct clients, default: what fits under the open-file limit, at
# most 30,000), SCALE_CLIENTS_PER_ROOM (10), SCALE_RATE (writes per second over all rooms,
# default 1000), SCALE_DURATION (seconds of writing, default 30), SCALE_PORT (first of the ports
# used, default 24100; 20 above it are taken), NATS_SERVER_BIN (default: the newest found),
# SCALE_OUT (default bench-results/scale-<date>). The cluster is started once and every run uses
# its own rooms (the run's name is the room prefix); everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

BIN=${PARTYLINE_BIN:-build/partyline}
BENCH=${PARTYLINE_BENCH:-build/partyline-bench}
HAPROXY=${HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}
NATS=${NATS_SERVER_BIN:-}
[[ -z $NATS && -x build/tools/bin/nats-server ]] && NATS=build/tools/bin/nats-server
[[ -z $NATS ]] && NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
PORT=${SCALE_PORT:-24100}
PER_ROOM=${SCALE_CLIENTS_PER_ROOM:-10}
RATE=${SCALE_RATE:-1000}
DURATION=${SCALE_DURATION:-30}
OUT=${SCALE_OUT:-bench-results/scale-$(date -u +%Y%m%dT%H%M%SZ)}
for tool in "$BIN" "$BENCH" "$HAPROXY" "$NATS" "$(command -v node || echo node)" "$(command -v jq || echo jq)"; do
    [[ -x $tool ]] || { echo "scale.sh: $tool is missing (scripts/build.sh; scripts/install-deps.sh --test)" >&2; exit 2; }
done
for port in $(seq "$PORT" $((PORT + 19))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "scale.sh: port $port is taken; set SCALE_PORT to a free range of 20" >&2
        exit 2
    fi
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
files=$(ulimit -n)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d /tmp/scale-XXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    mkdir -p "$OUT/logs" && cp "$work"/*.log "$work"/*.cfg "$OUT/logs/" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

say() { echo "$*" | tee -a "$OUT/summary.txt"; }
fail() {
    echo "scale.sh: $*" >&2
    for log in "$work"/*.log; do echo "----- $log" >&2; tail -15 "$log" >&2; done
    exit 1
}

# Ports: nats-i client PORT+i, route PORT+3+i, monitor PORT+6+i; node-i PORT+10+i; HAProxy PORT+15
# (round robin) and PORT+16 (by room).
nats_port() { echo $((PORT + $1)); }
route_port() { echo $((PORT + 3 + $1)); }
monitor_port() { echo $((PORT + 6 + $1)); }
node_port() { echo $((PORT + 10 + $1)); }
PROXY_PORT=$((PORT + 15))
ROOM_PROXY_PORT=$((PORT + 16))

start_nats_cluster() {
    local routes=() i
    for i in 1 2 3; do routes+=("nats://127.0.0.1:$(route_port "$i")"); done
    for i in 1 2 3; do
        local others
        others=$(printf '%s\n' "${routes[@]}" | grep -v ":$(route_port "$i")\$" | paste -sd,)
        "$NATS" -js -a 127.0.0.1 -p "$(nats_port "$i")" -m "$(monitor_port "$i")" -sd "$work/nats-$i" \
            --server_name "nats-$i" --cluster_name partyline-scale \
            --cluster "nats://127.0.0.1:$(route_port "$i")" --routes "$others" >"$work/nats-$i.log" 2>&1 &
        pids+=($!)
        nats_pids+=($!)
    done
    # Ready once every server is healthy and all name the same JetStream meta leader.
    for _ in $(seq 300); do
        local leaders=""
        for i in 1 2 3; do
            leaders+=$(curl -fs "http://127.0.0.1:$(monitor_port "$i")/jsz" 2>/dev/null |
                jq -r '.meta_cluster.leader // empty' 2>/dev/null || true)" "
        done
        local distinct
        distinct=$(tr ' ' '\n' <<<"$leaders" | grep -c . || true)
        if ((distinct == 3)) && [[ $(tr ' ' '\n' <<<"$leaders" | grep . | sort -u | wc -l) == 1 ]]; then
            say "nats cluster: $("$NATS" --version), meta leader $(cut -d' ' -f1 <<<"$leaders")"
            return 0
        fi
        sleep 0.2
    done
    fail "the NATS cluster found no meta leader within 60 s"
}

start_nodes() {
    local url i
    url=$(for i in 1 2 3; do echo "nats://127.0.0.1:$(nats_port "$i")"; done | paste -sd,)
    for i in 1 2 3; do
        SCALE_NATS_URL=$url "$BIN" serve --config bench/bench-scale.yaml --listen "127.0.0.1:$(node_port "$i")" \
            --data "$work/node-$i" >"$work/node-$i.log" 2>&1 &
        pids+=($!)
        node_pids+=($!)
    done
    for i in 1 2 3; do
        local ready=0
        for _ in $(seq 600); do
            if curl -fs "http://127.0.0.1:$(node_port "$i")/readyz" >/dev/null 2>&1; then ready=1; break; fi
            sleep 0.1
        done
        ((ready)) || fail "node-$i was not ready within 60 s"
    done
    say "nodes: 3 on ports $(node_port 1)-$(node_port 3), nats.partitions 3, replicas 3"
    # Each partition's stream led by its own server, as the model assumes.
    local spread
    spread=$(node bench/spread-leaders.mjs PARTYLINE 3 $(for i in 1 2 3; do
        printf 'nats-%s=%s:%s ' "$i" "$(nats_port "$i")" "$(monitor_port "$i")"; done) | tail -1) ||
        say "scale.sh: the partitions' leaders still share a server: $spread"
    say "leaders: $spread"
}

# HAProxy in front of the three nodes, twice: round robin (as deploy/haproxy.cfg), and by room
# (a hash of party and room from the path, so all of a room's clients and POSTs reach one node).
# WebSockets are tunnelled, keep-alive kept for the POSTs, and the connection limit is what its
# descriptors allow (two per proxied connection).
start_haproxy() {
    proxy_conns=$(((files - 200) / 2))
    cat >"$work/haproxy.cfg" <<EOF
global
    maxconn $proxy_conns
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    timeout http-keep-alive 60s
frontend round-robin
    bind 127.0.0.1:$PROXY_PORT
    default_backend nodes
frontend by-room
    bind 127.0.0.1:$ROOM_PROXY_PORT
    # party/room from /parties/P/R... and /v1/parties/P/R/...: every request of a room to one node.
    http-request set-var(txn.party) path,regsub(^/v1/,/),field(3,/)
    http-request set-var(txn.room) path,regsub(^/v1/,/),field(4,/),concat(@,txn.party)
    default_backend nodes-by-room
backend nodes
    balance roundrobin
$(for i in 1 2 3; do echo "    server node-$i 127.0.0.1:$(node_port "$i")"; done)
backend nodes-by-room
    balance hash var(txn.room)
    hash-type consistent
$(for i in 1 2 3; do echo "    server node-$i 127.0.0.1:$(node_port "$i")"; done)
EOF
    "$HAPROXY" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
    pids+=($!)
    haproxy_pid=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$PROXY_PORT/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fs "http://127.0.0.1:$PROXY_PORT/readyz" >/dev/null || fail "HAProxy does not answer on $PROXY_PORT"
    say "haproxy: $("$HAPROXY" -v | head -1 | cut -d' ' -f1-3), maxconn $proxy_conns (open files $files)"
}

# Where each partition's stream leader is, from JetStream's stream info on the monitor port.
leaders() {
    curl -fs "http://127.0.0.1:$(monitor_port 1)/jsz?streams=true" |
        jq -r '[.account_details[]?.stream_detail[]? | select(.name | startswith("PARTYLINE"))
                | "\(.name) on \(.cluster.leader), \(.state.messages) messages"] | sort | join("; ")'
}

cpu_args() {
    local pid
    for pid in "${node_pids[@]}"; do printf -- '--cpu nodes=%s ' "$pid"; done
    for pid in "${nats_pids[@]}"; do printf -- '--cpu nats-servers=%s ' "$pid"; done
    printf -- '--cpu haproxy=%s --cpu tool=self' "$haproxy_pid"
}

# run NAME CLIENTS ARGS...: one run of the tool; its report and summary kept under $OUT.
run() {
    local name=$1 clients=$2
    shift 2
    local rooms=$((clients / PER_ROOM)) status=0
    # shellcheck disable=SC2046
    "$BENCH" --json --quiet --clients "$clients" --rooms "$rooms" --room-prefix "$name-" --threads 2 \
        --source-addresses 8 --connect-rate 3000 --connect-timeout 120 --settle 3 \
        --rate "$RATE" --duration "$DURATION" --drain 10 $(cpu_args) "$@" \
        >"$OUT/$name.json" 2>"$OUT/$name.txt" || status=$?
    {
        printf '%s (exit %d): %d clients over %d rooms, %s writes/s for %s s: %s\n' \
            "$name" "$status" "$clients" "$rooms" "$RATE" "$DURATION" "$*"
        grep -E '^(clients|health|writes|ack|delivered|rate|latency|cpu|result) ' "$OUT/$name.txt" | sed 's/^/    /'
        echo "    streams: $(leaders)"
    } | tee -a "$OUT/summary.txt"
}

nats_pids=()
node_pids=()
say "scale run $(date -u +%FT%TZ) on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), open files $files, load $(cut -d' ' -f1-3 /proc/loadavg)"
start_nats_cluster
start_nodes
start_haproxy

direct_urls=()
for i in 1 2 3; do direct_urls+=(--url "http://127.0.0.1:$(node_port "$i")"); done
# The tool holds one descriptor per client plus its HTTP connections; HAProxy two per client.
# Client counts are multiples of 3 rooms' worth, so that direct-ws-room puts each room on one node.
step=$((3 * PER_ROOM * 100))
direct_clients=${SCALE_CLIENTS:-$(((files - 1000) / step * step))}
((direct_clients > 30000)) && direct_clients=30000
proxied_clients=$(((proxy_conns - 200) / step * step))
((proxied_clients > direct_clients)) && proxied_clients=$direct_clients

runs=("$@")
((${#runs[@]})) || runs=(proxied-post proxied-ws proxied-post-room proxied-ws-room direct-post direct-ws
    direct-ws-room write-ceiling)
rr=(--url "http://127.0.0.1:$PROXY_PORT")
by_room=(--url "http://127.0.0.1:$ROOM_PROXY_PORT")
for name in "${runs[@]}"; do
    case $name in
        proxied-post) run "$name" "$proxied_clients" "${rr[@]}" --mode post --http-conns 16 ;;
        proxied-ws) run "$name" "$proxied_clients" "${rr[@]}" --mode ws ;;
        proxied-post-room) run "$name" "$proxied_clients" "${by_room[@]}" --mode post --http-conns 16 ;;
        proxied-ws-room) run "$name" "$proxied_clients" "${by_room[@]}" --mode ws ;;
        # Each room's clients alternate between the three nodes: every write goes to all three.
        direct-post) run "$name" "$direct_clients" "${direct_urls[@]}" --spread room --mode post --http-conns 16 ;;
        direct-ws) run "$name" "$direct_clients" "${direct_urls[@]}" --spread room --mode ws ;;
        # Client i on node i mod 3 and in room i mod ROOMS (a multiple of 3): each room on one node.
        direct-ws-room) run "$name" "$direct_clients" "${direct_urls[@]}" --spread client --mode ws ;;
        # As many acknowledged writes as the cluster takes: batches of 100 to 30 rooms (10 of each
        # partition, about), one client each, over the three nodes.
        write-ceiling) RATE=100000 PER_ROOM=1 run "$name" 30 "${direct_urls[@]}" --mode post --http-conns 24 \
            --batch 100 ;;
        *) echo "scale.sh: unknown run $name (see the top of this file)" >&2; exit 2 ;;
    esac
done
say "load at the end $(cut -d' ' -f1-3 /proc/loadavg); reports in $OUT"
