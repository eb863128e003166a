#!/usr/bin/env bash
# Runs the benchmark figures of docs/PERFORMANCE.md, each against a fresh node (embedded
# nats-server, empty data directory, bench/bench-node.yaml), and keeps every report.
#
#   bash bench/targets.sh [FIGURE ...]      from the repository root, after scripts/build.sh
#
# FIGURE is one of: latency fanout ceiling rss acked floor rooms many small-rooms peer ratios
# fastbatch (default: all but many, small-rooms, peer, ratios and fastbatch). peer needs node,
# redis-server and jq (scripts/install-deps.sh --test).
# Reports go to $PARTYLINE_BENCH_OUT (default bench-results/<date>), one file per run, the
# tool's summary and its --json object; summary.txt lists the headline of each run.
# PARTYLINE_BENCH_RUNS repeats each run (default 3; ratios: 5 rounds). Needs `ulimit -n` of 20000 for rss.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${PARTYLINE_BIN:-build/partyline}
BENCH=${PARTYLINE_BENCH:-build/partyline-bench}
FLOOR=${PARTYLINE_FLOOR:-build/partyline-jetstream-floor}
RAW=${PARTYLINE_RAW_SENDER:-build/partyline-raw-sender}
RUNS=${PARTYLINE_BENCH_RUNS:-3}
OUT=${PARTYLINE_BENCH_OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PARTYLINE_BENCH_PORT:-21999}
mkdir -p "$OUT"
for tool in "$BIN" "$BENCH" "$FLOOR" "$RAW"; do
    [[ -x $tool ]] || { echo "targets.sh: $tool is missing: run scripts/build.sh first" >&2; exit 2; }
done
ulimit -n 20000 2>/dev/null || echo "targets.sh: cannot raise ulimit -n to 20000; the rss figure needs it" >&2

node_pid=""
data=""
stop_node() {
    if [[ -n $node_pid ]]; then
        kill "$node_pid" 2>/dev/null || true
        wait "$node_pid" 2>/dev/null || true
    fi
    node_pid=""
    [[ -n $data ]] && rm -rf "$data"
    data=""
}
trap stop_node EXIT

# Starts a fresh node and waits for /readyz; sets node_pid and nats_url.
start_node() {
    data=$(mktemp -d /tmp/bench-data-XXXX)
    "$BIN" serve --config "${BENCH_CONFIG:-bench/bench-node.yaml}" --listen "127.0.0.1:$PORT" --data "$data" \
        >"$data/node.log" 2>&1 &
    node_pid=$!
    for _ in $(seq 300); do
        if curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
            nats_url=$(grep -o 'connected to nats://[0-9.:]*' "$data/node.log" | head -1 | cut -d' ' -f3)
            return 0
        fi
        kill -0 "$node_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "targets.sh: the node did not become ready:" >&2
    tail -20 "$data/node.log" >&2
    exit 1
}

# The nats-server a figure runs on: NATS_SERVER_BIN, else the newest the scripts install.
newest_nats_server() {
    if [[ -n ${NATS_SERVER_BIN:-} ]]; then echo "$NATS_SERVER_BIN"
    elif [[ -x build/tools/bin/nats-server ]]; then echo build/tools/bin/nats-server
    else echo /usr/sbin/nats-server; fi
}

# other_cpu: CPU-seconds the rest of the machine used, from /proc/stat, to tell quiet runs apart.
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }

# run NAME ARGS...: one run of the tool against a fresh node.
run() {
    local name=$1
    shift
    start_node
    local before
    before=$(cpu_busy)
    local status=0
    "$BENCH" --url "http://127.0.0.1:$PORT" --pid "$node_pid" --cpu "node=$node_pid" --json --quiet "$@" \
        >"$OUT/$name.json" 2>"$OUT/$name.txt" || status=$?
    local ticks=$(($(cpu_busy) - before))
    stop_node
    {
        printf '%s (exit %d, machine busy %s CPU-s): %s\n' "$name" "$status" \
            "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz}')" "$*"
        grep -E '^(clients|server|health|writes|ack|delivered|rate|latency|cpu|result) ' "$OUT/$name.txt" | sed 's/^/    /'
    } | tee -a "$OUT/summary.txt"
}

figure_latency() {
    for i in $(seq "$RUNS"); do run "latency-$i" --clients 1 --rate 50 --duration 20; done
}

figure_fanout() {
    for i in $(seq "$RUNS"); do run "fanout-$i" --clients 1000 --rate 200 --duration 20; done
}

figure_ceiling() {
    for rate in 400 800 1200 1600 2400; do
        run "ceiling-$rate" --clients 1000 --rate "$rate" --duration 20 --http-conns 32
    done
}

figure_rss() {
    for i in $(seq "$RUNS"); do run "rss-$i" --clients 10000 --rate 0 --duration 5 --settle 3; done
    run "rss-1000-rooms" --clients 10000 --rooms 1000 --rate 0 --duration 5 --settle 3
}

figure_acked() {
    for conns in 16 64 120; do
        run "acked-c$conns" --clients 10 --rooms 10 --rate 100000 --duration 10 --http-conns "$conns"
    done
    for conns_batch in 16/10 16/100 4/100 64/100 8/1000; do
        local conns=${conns_batch%/*} batch=${conns_batch#*/}
        run "acked-c$conns-batch$batch" --clients 10 --rooms 10 --rate 100000 --duration 10 \
            --http-conns "$conns" --batch "$batch"
    done
}

# nats-server alone, written to as NatsBus writes: the floor under figure (4). Once for each
# nats-server installed (the newest, which the node's embedded server starts, and Debian's), so
# every ratio is taken against the same server in the same run.
figure_floor() {
    local servers=("${NATS_SERVER_BIN:-}")
    [[ -x /usr/sbin/nats-server && -z ${NATS_SERVER_BIN:-} ]] && servers+=(/usr/sbin/nats-server)
    for server in "${servers[@]}"; do
        for window in 64 256 1024; do
            NATS_SERVER_BIN=$server start_node
            local name
            name=$(grep -o 'embedded nats-server [0-9][0-9.]*' "$data/node.log" | head -1 | cut -d' ' -f3)
            "$FLOOR" "$nats_url" --count 200000 --window "$window" 2>&1 |
                tee "$OUT/floor-$name-w$window.txt" |
                sed "s/^/floor nats-server $name window $window: /" | tee -a "$OUT/summary.txt"
            stop_node
        done
    done
}

figure_rooms() {
    for rate in 1000 2000 4000; do
        for i in $(seq "$RUNS"); do
            run "rooms-$rate-$i" --clients 4000 --rooms 4000 --connect-rate "$rate" --rate 0 --duration 2 --settle 2
        done
    done
    # A storm: far more new rooms per second than the node opens.
    for i in $(seq "$RUNS"); do
        run "rooms-storm-$i" --clients 8000 --rooms 8000 --connect-rate 8000 --rate 0 --duration 1 --settle 1
    done
}

# 100,000 WebSockets on one node: 99,000 idle clients in 99 rooms held open by one tool (their
# source addresses spread over 127.0.1.1-8, past one address's ephemeral ports), then a second
# tool's 1,000-client room broadcast to at 200 writes/s while the rest idle, its /healthz timed
# with every connection open. RSS per connection is the idle tool's (node RSS after it opened).
# The node holds one descriptor per connection: where the hard limit on open files is lower
# (and cannot be raised without CAP_SYS_RESOURCE), the idle clients are what fits under it.
figure_many() {
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    local fit=$(($(ulimit -n) - 3000)) idle_clients=99000
    if ((fit < idle_clients)); then
        idle_clients=$((fit / 99 * 99))
        echo "targets.sh: open files are limited to $(ulimit -n) per process: $idle_clients idle clients, not 99,000" |
            tee -a "$OUT/summary.txt" >&2
    fi
    BENCH_CONFIG=bench/bench-node-100k.yaml start_node
    local before
    before=$(cpu_busy)
    "$BENCH" --url "http://127.0.0.1:$PORT" --pid "$node_pid" --json --quiet --clients "$idle_clients" --rooms 99 \
        --room-prefix idle- --source-addresses 8 --threads 2 --connect-rate 4000 --connect-timeout 120 \
        --settle 5 --rate 0 --duration 60 >"$OUT/many-idle.json" 2>"$OUT/many-idle.txt" &
    local idle=$!
    # The idle clients are open once the node counts them (at most 3 minutes).
    for _ in $(seq 1800); do
        local open
        open=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^partyline_connections /{print $2}')
        [[ ${open%.*} -ge $idle_clients ]] 2>/dev/null && break
        sleep 0.1
    done
    local status=0
    "$BENCH" --url "http://127.0.0.1:$PORT" --json --quiet --clients 1000 --room-prefix hot- \
        --rate 200 --duration 20 >"$OUT/many-hot.json" 2>"$OUT/many-hot.txt" || status=$?
    wait "$idle" || true
    local ticks=$(($(cpu_busy) - before))
    stop_node
    {
        printf 'many (exit %d, machine busy %s CPU-s): %d idle + a 1,000-client room at 200 writes/s\n' \
            "$status" "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz}')" "$idle_clients"
        grep -E '^(clients|server) ' "$OUT/many-idle.txt" | sed 's/^/    idle: /'
        grep -E '^(clients|health|writes|delivered|rate|latency|result) ' "$OUT/many-hot.txt" | sed 's/^/    hot:  /'
    } | tee -a "$OUT/summary.txt"
}

# Many small rooms: 500 rooms x 4 clients over two nodes on one nats-server (each room's clients
# alternate between the nodes: 2 on each), every client writing 2 messages/s over its socket,
# the room's script relaying each with room:broadcast. CPU-seconds per million deliveries and
# context switches per write, per process kind (each node, nats-server), from /proc.
# PARTYLINE_SMALL_ROOMS replaces the shape (flags both tools take), e.g. for a short try.
read -ra SMALL_ROOMS <<<"${PARTYLINE_SMALL_ROOMS:---rooms 500 --clients 2000 --writers 2000 --rate 4000 --duration 30}"

# small_rooms_run NAME: one run of that workload against two fresh nodes and a fresh nats-server.
small_rooms_run() {
    local name=$1 server dir
    server=$(newest_nats_server)
    dir=$(mktemp -d /tmp/bench-small-XXXX)
    "$server" -js -a 127.0.0.1 -p $((PORT + 100)) -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
    local nats_pid=$! pids=()
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$((PORT + 100))" >/dev/null 2>&1 && break
        grep -q "Server is ready" "$dir/nats.log" && break; sleep 0.1; done
    for n in 1 2; do
        "$BIN" serve --config "${BENCH_CONFIG:-bench/bench-node.yaml}" --listen "127.0.0.1:$((PORT + n))" --data "$dir/node-$n" \
            --nats-url "nats://127.0.0.1:$((PORT + 100))" --node-id "small-$n" >"$dir/node-$n.log" 2>&1 &
        pids+=($!)
    done
    for n in 1 2; do
        for _ in $(seq 300); do curl -fs "http://127.0.0.1:$((PORT + n))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    done
    local status=0
    "$BENCH" --url "http://127.0.0.1:$((PORT + 1))" --url "http://127.0.0.1:$((PORT + 2))" --mode ws \
        "${SMALL_ROOMS[@]}" --spread room \
        --cpu "node-1=${pids[0]}" --cpu "node-2=${pids[1]}" --cpu "nats-server=$nats_pid" \
        --json --quiet >"$OUT/$name.json" 2>"$OUT/$name.txt" || status=$?
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    kill "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
    rm -rf "$dir"
    {
        printf '%s (exit %d): partyline, 2 nodes on 1 nats-server, ws writes: %s\n' "$name" "$status" "${SMALL_ROOMS[*]}"
        grep -E '^(clients|writes|delivered|latency|cpu|result) ' "$OUT/$name.txt" | sed 's/^/    /'
    } | tee -a "$OUT/summary.txt"
}

figure_small_rooms() {
    for i in $(seq "$RUNS"); do small_rooms_run "small-rooms-$i"; done
}

# The same workload on partyline's peer: two Socket.IO servers sharing rooms through the Redis
# adapter and one redis-server (bench/socketio/peer.sh), driven by bench/socketio/load.mjs on
# PEER_THREADS worker threads (default 2: one Node thread does not keep the schedule).
peer_run() {
    local name=$1 status=0
    SOCKETIO_PEER_LOGS=$OUT/$name.logs bash bench/socketio/peer.sh "${SMALL_ROOMS[@]}" --threads "${PEER_THREADS:-2}" \
        --json --quiet >"$OUT/$name.json" 2>"$OUT/$name.txt" || status=$?
    {
        printf '%s (exit %d): Socket.IO + Redis adapter, 2 servers on 1 redis-server: %s\n' "$name" "$status" "${SMALL_ROOMS[*]}"
        grep -E '^(clients|writes|delivered|latency|warm|cpu|result) ' "$OUT/$name.txt" | sed 's/^/    /'
    } | tee -a "$OUT/summary.txt"
}

# One table row of a --json report of either tool: delivered of expected, lost, duplicates, p50,
# p99, the p99 of the writes sent after the first 5 s (load.mjs --warm; Node's JIT warms up in
# them), each --cpu process's CPU-s per million deliveries and context switches per write, and the
# sum of their CPU (the server side; the load generator's own is not in it).
peer_row() {
    jq -r --arg round "$1" --arg side "$2" '
        (.deliveries.delivered + .deliveries.unexpected) as $n
        | .writes.sent as $w
        | [.cpu[] | "\(.name) \(if $n > 0 then .cpu_s * 1e6 / $n else 0 end | . * 10 | round / 10)"] as $each
        | [.cpu[] | "\(if $w > 0 then .context_switches / $w else 0 end | . * 10 | round / 10)"] as $switches
        | "| \($round) | \($side) | \(.deliveries.delivered) of \(.deliveries.expected), \(.deliveries.lost) lost, " +
          "\(.deliveries.duplicates) duplicates | \(.deliveries.latency_ms.p50 * 100 | round / 100) ms | " +
          "\(.deliveries.latency_ms.p99 * 10 | round / 10) ms | " +
          "\(if .deliveries.warm then "\(.deliveries.warm.latency_ms.p99 * 10 | round / 10) ms" else "-" end) | \($each | join(", ")) | \($switches | join(", ")) | " +
          "\(if $n > 0 then ([.cpu[].cpu_s] | add) * 1e6 / $n else 0 end | . * 10 | round / 10) |"' "$OUT/$3.json"
}

server_cpu_per_million() {
    jq -r '(.deliveries.delivered + .deliveries.unexpected) as $n
        | if $n > 0 then ([.cpu[].cpu_s] | add) * 1e6 / $n else 0 end' "$OUT/$1.json"
}

# partyline against Socket.IO + Redis on the many-small-rooms workload: each round runs partyline
# (figure small-rooms) then the peer, one after the other, and the table of docs/PERFORMANCE.md
# (9) gives both and the ratio of their server-side CPU per delivery (target: at most 0.5).
figure_peer() {
    command -v jq >/dev/null || { echo "targets.sh: jq is missing: run scripts/install-deps.sh --test" >&2; exit 2; }
    [[ -d bench/socketio/node_modules/socket.io ]] || (cd bench/socketio && npm ci --no-audit --no-fund --loglevel=error)
    local table=$OUT/peer.txt
    {
        echo "| round | server | delivered | p50 | p99 | p99 after the first 5 s | CPU-s per M deliveries, each process | context switches per write, each | server side, all | partyline / Socket.IO |"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    } >"$table"
    for i in $(seq "$RUNS"); do
        small_rooms_run "peer-partyline-$i"
        peer_run "peer-socketio-$i"
        local ratio
        ratio=$(awk -v a="$(server_cpu_per_million "peer-partyline-$i")" -v b="$(server_cpu_per_million "peer-socketio-$i")" \
            'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
        echo "$(peer_row "$i" partyline "peer-partyline-$i") $ratio |" >>"$table"
        echo "$(peer_row "$i" "Socket.IO + Redis" "peer-socketio-$i") |" >>"$table"
    done
    tee -a "$OUT/summary.txt" <"$table"
}

# The figure of a --json report named by $1: acked (acknowledged writes/s), p99 (delivery p99, ms),
# rooms (clients opened per second), cpu (CPU-s of the --cpu process per million deliveries).
json_figure() {
    local json=$OUT/$1.json
    case $2 in
    acked) grep -o '"acknowledged_per_second":[0-9.e+-]*' "$json" | head -1 | cut -d: -f2 ;;
    p99) grep -o '"latency_ms":{[^}]*}' "$json" | grep -o '"p99":[0-9.e+-]*' | cut -d: -f2 ;;
    rooms) awk -v open="$(grep -o '"open":[0-9]*' "$json" | head -1 | cut -d: -f2)" \
        -v s="$(grep -o '"connect_s":[0-9.e+-]*' "$json" | cut -d: -f2)" 'BEGIN{printf "%.0f", (s > 0 ? open / s : 0)}' ;;
    cpu) awk -v cpu="$(grep -o '"cpu_s":[0-9.e+-]*' "$json" | head -1 | cut -d: -f2)" \
        -v n="$(grep -o '"delivered":[0-9]*' "$json" | head -1 | cut -d: -f2)" 'BEGIN{printf "%.2f", (n > 0 ? cpu * 1e6 / n : 0)}' ;;
    esac
}

# One run of the tool against partyline-raw-sender (the fan-out floor: one epoll thread, no NATS,
# Lua or rooms), which binds port 0 and says which port it got.
run_raw() {
    local name=$1
    shift
    "$RAW" --listen 127.0.0.1:0 2>"$OUT/$name.sender.txt" &
    local raw_pid=$! raw_port=""
    for _ in $(seq 100); do
        raw_port=$(sed -n 's/.*(port \([0-9][0-9]*\)).*/\1/p' "$OUT/$name.sender.txt")
        [[ -n $raw_port ]] && break
        sleep 0.05
    done
    local status=0
    "$BENCH" --url "http://127.0.0.1:$raw_port" --pid "$raw_pid" --cpu "raw=$raw_pid" --json --quiet "$@" \
        >"$OUT/$name.json" 2>"$OUT/$name.txt" || status=$?
    kill "$raw_pid" 2>/dev/null || true
    wait "$raw_pid" 2>/dev/null || true
    {
        printf '%s (exit %d, raw sender): %s\n' "$name" "$status" "$*"
        grep -E '^(clients|delivered|rate|latency|cpu|result) ' "$OUT/$name.txt" | sed 's/^/    /'
    } | tee -a "$OUT/summary.txt"
}

# Ratios to the floors, PARTYLINE_BENCH_RUNS (default 5) rounds of every measure, each round's
# floor and node on the same nats-server (the newest the scripts find): acknowledged writes/s one
# write per request and in batches of 100 (partyline-jetstream-floor with as many writes in
# flight), idle delivery p99 (the floor's publish -> republished copy), new rooms/s (against the
# figure of section (5)), and the node's CPU per delivery against partyline-raw-sender's at 100k
# and 400k deliveries/s (1,000 clients, one room). Prints the table of docs/PERFORMANCE.md (12).
# PARTYLINE_BENCH_PERF=1 adds one node run at 100k/s under `perf record -g` ($OUT/fanout-node.perf).
figure_ratios() {
    local server
    server=$(newest_nats_server)
    server=$(realpath "$server")
    local rounds=${PARTYLINE_BENCH_RUNS:-5} values=$OUT/ratios-values.txt
    : >"$values"
    echo "ratios: nats-server $("$server" --version 2>&1 | head -1), $rounds rounds" | tee -a "$OUT/summary.txt"
    for i in $(seq "$rounds"); do
        # Floors on the embedded nats-server of a node that is idle meanwhile, then the node.
        local label floor_args
        for label_args in "single:--window 64 --count 200000" "batched:--window 1024 --count 200000" \
            "idle-p99:--latency 500"; do
            label=${label_args%%:*} floor_args=${label_args#*:}
            NATS_SERVER_BIN=$server start_node
            # shellcheck disable=SC2086
            "$FLOOR" "$nats_url" $floor_args >"$OUT/ratios-floor-$label-$i.txt" 2>&1 || true
            stop_node
            sed "s/^/floor $label $i: /" "$OUT/ratios-floor-$label-$i.txt" | tee -a "$OUT/summary.txt"
        done
        grep -o '[0-9]*/s (msg-id' "$OUT/ratios-floor-single-$i.txt" | cut -d/ -f1 | sed "s/^/single floor $i /" >>"$values"
        grep -o '[0-9]*/s (msg-id' "$OUT/ratios-floor-batched-$i.txt" | cut -d/ -f1 | sed "s/^/batched floor $i /" >>"$values"
        grep -o 'p99 [0-9.]* ms' "$OUT/ratios-floor-idle-p99-$i.txt" | cut -d' ' -f2 | sed "s/^/idle-p99 floor $i /" >>"$values"
        NATS_SERVER_BIN=$server run "ratios-single-$i" --clients 10 --rooms 10 --rate 100000 --duration 10 --http-conns 64
        echo "single node $i $(json_figure "ratios-single-$i" acked)" >>"$values"
        NATS_SERVER_BIN=$server run "ratios-batched-$i" --clients 10 --rooms 10 --rate 100000 --duration 10 \
            --http-conns 16 --batch 100
        echo "batched node $i $(json_figure "ratios-batched-$i" acked)" >>"$values"
        NATS_SERVER_BIN=$server run "ratios-idle-$i" --clients 1 --rate 50 --duration 10
        echo "idle-p99 node $i $(json_figure "ratios-idle-$i" p99)" >>"$values"
        NATS_SERVER_BIN=$server run "ratios-rooms-$i" --clients 4000 --rooms 4000 --connect-rate 8000 --rate 0 \
            --duration 1 --settle 1
        echo "new-rooms floor $i $ROOMS_BEFORE" >>"$values"
        echo "new-rooms node $i $(json_figure "ratios-rooms-$i" rooms)" >>"$values"
        for rate_conns in 100/8 400/32; do
            local rate=${rate_conns%/*} conns=${rate_conns#*/}
            local args=(--clients 1000 --rate "$rate" --duration 10 --http-conns "$conns")
            run_raw "ratios-fanout-raw-${rate}k-$i" "${args[@]}"
            echo "fanout-${rate}k floor $i $(json_figure "ratios-fanout-raw-${rate}k-$i" cpu)" >>"$values"
            NATS_SERVER_BIN=$server run "ratios-fanout-node-${rate}k-$i" "${args[@]}"
            echo "fanout-${rate}k node $i $(json_figure "ratios-fanout-node-${rate}k-$i" cpu)" >>"$values"
        done
    done
    if [[ -n ${PARTYLINE_BENCH_PERF:-} ]]; then
        NATS_SERVER_BIN=$server start_node
        perf record -g -o "$OUT/fanout-node.perf" -p "$node_pid" -- sleep 8 2>"$OUT/fanout-node.perf.txt" &
        local perf_pid=$!
        "$BENCH" --url "http://127.0.0.1:$PORT" --cpu "node=$node_pid" --quiet --clients 1000 --rate 100 \
            --duration 10 --http-conns 8 >>"$OUT/fanout-node.perf.txt" 2>&1 || true
        wait "$perf_pid" || true
        stop_node
        echo "perf profile of the node at 100k deliveries/s: $OUT/fanout-node.perf" | tee -a "$OUT/summary.txt"
    fi
    ratios_table "$values" | tee -a "$OUT/summary.txt" | tee "$OUT/ratios.txt"
}

# JetStream fast-ingest batches (nats-server 2.14+) against one acknowledged publish per write:
# PARTYLINE_BENCH_RUNS (default 3) rounds on the newest nats-server, the floor's modes in an order
# that rotates each round, each on a fresh node's embedded server (the node idle meanwhile):
# 200,000 writes with 1,600 in flight, one publish each (single), as fast batches of 100 (fast: 16
# batches in flight, as the node's 16 connections of 100-write POSTs), or as fast batches of 1,600
# (fast-one: one batch in flight, the server's best case); then the node itself, POST batches of
# 100 on 16 connections. Each floor run reports writes/s and nats-server's CPU per write. Then
# once on Debian's 2.9.10, which has only the first mode (the others are refused). Prints the
# table of docs/PERFORMANCE.md (13).
figure_fastbatch() {
    local server rounds=${PARTYLINE_BENCH_RUNS:-3} values=$OUT/fastbatch-values.txt
    server=$(realpath "$(newest_nats_server)")
    : >"$values"
    echo "fastbatch: nats-server $("$server" --version 2>&1 | head -1), $rounds rounds" | tee -a "$OUT/summary.txt"
    # floor_once SERVER NAME ARGS...: one floor run on a fresh node's embedded nats-server.
    floor_once() {
        local bin=$1 name=$2
        shift 2
        NATS_SERVER_BIN=$bin start_node
        local nats_pid
        nats_pid=$(grep -o 'embedded nats-server [0-9.]* pid=[0-9]*' "$data/node.log" | head -1 | cut -d= -f2)
        "$FLOOR" "$nats_url" --count 200000 --server-pid "$nats_pid" "$@" >"$OUT/$name.txt" 2>&1 || true
        stop_node
        sed "s/^/$name: /" "$OUT/$name.txt" | tee -a "$OUT/summary.txt"
    }
    local all=(single fast fast-one)
    for i in $(seq "$rounds"); do
        local shift_by=$(((i - 1) % 3)) mode
        for mode in "${all[@]:shift_by}" "${all[@]:0:shift_by}"; do
            local args=(--window 1600)
            [[ $mode == fast ]] && args+=(--fast-batch 100)
            [[ $mode == fast-one ]] && args+=(--fast-batch 1600)
            floor_once "$server" "fastbatch-floor-$mode-$i" "${args[@]}"
            echo "$mode $i $(grep -o '[0-9]*/s (msg-id' "$OUT/fastbatch-floor-$mode-$i.txt" | cut -d/ -f1)" \
                "$(grep -o 'nats-server [0-9.]* s ([0-9.]* us' "$OUT/fastbatch-floor-$mode-$i.txt" | cut -d'(' -f2 | cut -d' ' -f1)" \
                >>"$values"
        done
        NATS_SERVER_BIN=$server run "fastbatch-node-$i" --clients 10 --rooms 10 --rate 100000 --duration 10 \
            --http-conns 16 --batch 100
        echo "node $i $(json_figure "fastbatch-node-$i" acked)" >>"$values"
    done
    if [[ -x /usr/sbin/nats-server ]]; then
        floor_once /usr/sbin/nats-server fastbatch-floor-single-debian --window 1600
        floor_once /usr/sbin/nats-server fastbatch-floor-fast-debian --window 1600 --fast-batch 100
    fi
    # Per round: writes/s of each mode with nats-server's microseconds of CPU per write, and the
    # ratios to one publish per write; then the medians of the ratios.
    awk 'function median(a, n,   i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { v[$1, $2] = $3; c[$1, $2] = $4; if ($2 > rounds) rounds = $2 }
        END {
            printf "| round | floor single: writes/s (server us/write) | floor fast, 16 x 100 | floor fast-one, 1 x 1,600 | node, POSTs of 100 | fast / single | fast-one / single | node / single |\n"
            printf "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
            for (r = 1; r <= rounds; r++) {
                if (v["single", r] == 0 || v["fast", r] == 0 || v["fast-one", r] == 0) continue
                n++; a[n] = v["fast", r] / v["single", r]; b[n] = v["fast-one", r] / v["single", r]
                d[n] = v["node", r] / v["single", r]
                printf "| %d | %d (%s) | %d (%s) | %d (%s) | %d | %.2f | %.2f | %.2f |\n", r, v["single", r],
                    c["single", r], v["fast", r], c["fast", r], v["fast-one", r], c["fast-one", r], v["node", r],
                    a[n], b[n], d[n]
            }
            if (n > 0) printf "| median | | | | | %.2f | %.2f | %.2f |\n", median(a, n), median(b, n), median(d, n)
        }' "$values" | tee -a "$OUT/summary.txt" | tee "$OUT/fastbatch.txt"
}

# New rooms per second before this table: section (5) of docs/PERFORMANCE.md (rooms top out at
# about 2,000/s). The target is twice that.
ROOMS_BEFORE=2000

# The table: per measure, the floor's and the node's median and range over the rounds, and the
# median of the rounds' ratios (each node / floor of the same round, on the same server).
ratios_table() {
    awk '
    function median(list, n,   sorted, i, j, t) {
        for (i = 1; i <= n; i++) sorted[i] = list[i]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && sorted[j] < sorted[j-1]; j--) { t = sorted[j]; sorted[j] = sorted[j-1]; sorted[j-1] = t }
        return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
    }
    function range(list, n,   lo, hi, i) {
        lo = hi = list[1]
        for (i = 2; i <= n; i++) { if (list[i] < lo) lo = list[i]; if (list[i] > hi) hi = list[i] }
        return sprintf("%g-%g", lo, hi)
    }
    { v[$1, $2, $3] = $4; if ($3 > rounds) rounds = $3 }
    END {
        split("single batched idle-p99 new-rooms fanout-100k fanout-400k", order, " ")
        what["single"] = "acknowledged writes/s, one per request"; target["single"] = ">= 0.5"
        what["batched"] = "acknowledged writes/s, batches of 100"; target["batched"] = ">= 0.8"
        what["idle-p99"] = "idle delivery p99, ms"; target["idle-p99"] = "<= 1.5"
        what["new-rooms"] = "new rooms/s (floor: section 5)"; target["new-rooms"] = ">= 2"
        what["fanout-100k"] = "CPU-s per M deliveries, 100k/s"; target["fanout-100k"] = "<= 1.2"
        what["fanout-400k"] = "CPU-s per M deliveries, 400k/s"; target["fanout-400k"] = "<= 1.2"
        printf "| measure | floor: median (range) | node: median (range) | node / floor | target |\n"
        printf "| --- | --- | --- | --- | --- |\n"
        for (m = 1; m <= 6; m++) {
            k = order[m]; n = 0
            for (r = 1; r <= rounds; r++) {
                if (!((k, "floor", r) in v) || !((k, "node", r) in v) || v[k, "floor", r] == 0) continue
                n++; f[n] = v[k, "floor", r]; o[n] = v[k, "node", r]; q[n] = o[n] / f[n]
            }
            if (n == 0) { printf "| %s | - | - | - | %s |\n", what[k], target[k]; continue }
            printf "| %s | %g (%s) | %g (%s) | %.2f | %s |\n", what[k], median(f, n), range(f, n),
                median(o, n), range(o, n), median(q, n), target[k]
        }
    }' "$1"
}

figures=("$@")
[[ ${#figures[@]} -gt 0 ]] || figures=(latency fanout ceiling rss acked floor rooms)
{
    echo "partyline $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) CPUs, $(date -u +%FT%TZ)"
} | tee -a "$OUT/summary.txt"
for f in "${figures[@]}"; do
    declare -F "figure_${f//-/_}" >/dev/null || { echo "targets.sh: no figure '$f'" >&2; exit 2; }
    "figure_${f//-/_}"
done
echo "reports in $OUT"
