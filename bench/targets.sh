#!/usr/bin/env bash
# Runs the benchmark figures of docs/PERFORMANCE.md, each against a fresh node (embedded
# nats-server, empty data directory, bench/bench-node.yaml), and keeps every report.
#
#   bash bench/targets.sh [FIGURE ...]      from the repository root, after scripts/build.sh
#
# FIGURE is one of: latency fanout ceiling rss acked floor rooms many small-rooms (default: all
# but many and small-rooms).
# Reports go to $PARTYLINE_BENCH_OUT (default bench-results/<date>), one file per run, the
# tool's summary and its --json object; summary.txt lists the headline of each run.
# PARTYLINE_BENCH_RUNS repeats each run (default 3). Needs `ulimit -n` of 20000 for rss.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${PARTYLINE_BIN:-build/partyline}
BENCH=${PARTYLINE_BENCH:-build/partyline-bench}
FLOOR=${PARTYLINE_FLOOR:-build/partyline-jetstream-floor}
RUNS=${PARTYLINE_BENCH_RUNS:-3}
OUT=${PARTYLINE_BENCH_OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PARTYLINE_BENCH_PORT:-21999}
mkdir -p "$OUT"
for tool in "$BIN" "$BENCH" "$FLOOR"; do
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
    "$BENCH" --url "http://127.0.0.1:$PORT" --pid "$node_pid" --json --quiet "$@" \
        >"$OUT/$name.json" 2>"$OUT/$name.txt" || status=$?
    local ticks=$(($(cpu_busy) - before))
    stop_node
    {
        printf '%s (exit %d, machine busy %s CPU-s): %s\n' "$name" "$status" \
            "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz}')" "$*"
        grep -E '^(clients|server|health|writes|ack|delivered|rate|latency|result) ' "$OUT/$name.txt" | sed 's/^/    /'
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
figure_small_rooms() {
    local server=${NATS_SERVER_BIN:-}
    [[ -z $server && -x build/tools/bin/nats-server ]] && server=build/tools/bin/nats-server
    [[ -z $server ]] && server=/usr/sbin/nats-server
    for i in $(seq "$RUNS"); do
        local dir
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
            --rooms 500 --clients 2000 --writers 2000 --spread room --rate 4000 --duration 30 \
            --cpu "node-1=${pids[0]}" --cpu "node-2=${pids[1]}" --cpu "nats-server=$nats_pid" \
            --json --quiet >"$OUT/small-rooms-$i.json" 2>"$OUT/small-rooms-$i.txt" || status=$?
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
        kill "$nats_pid" 2>/dev/null || true
        wait "$nats_pid" 2>/dev/null || true
        rm -rf "$dir"
        {
            printf 'small-rooms-%d (exit %d): 500 rooms x 4 clients over 2 nodes, 2 writes/s per client\n' "$i" "$status"
            grep -E '^(clients|writes|delivered|latency|cpu|result) ' "$OUT/small-rooms-$i.txt" | sed 's/^/    /'
        } | tee -a "$OUT/summary.txt"
    done
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
