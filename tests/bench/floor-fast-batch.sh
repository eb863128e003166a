#!/usr/bin/env bash
# Test of partyline-jetstream-floor's --fast-batch mode against real nats-servers, each started on
# a port of its own choosing (-p -1, read back from its log) with JetStream in a temporary folder.
# On nats-server 2.14 or newer, fast batches of 100 (and a last, shorter one) store every write
# once, each batch acknowledged by its PubAck, and the single-publish mode still works on the same
# server, and --probe shows the answers docs/PERFORMANCE.md (13) relies on; on an older one
# (Debian's 2.9.10) --fast-batch and --probe are refused with exit 2 and a message that names the
# version, and the single-publish mode works. Bad flags are refused with the usage line.
# Usage: floor-fast-batch.sh FLOOR_BIN BUILD_DIR   (NATS_SERVER_BIN chooses the server under test)
set -euo pipefail
floor=$1
build_dir=$2

work=$(mktemp -d /tmp/partyline-floor-fast-batch.XXXXXX)
server_pid=""
stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Starts nats-server $1 and sets url to where it listens.
start_server() {
    local log=$work/server-$RANDOM.log
    "$1" -js -a 127.0.0.1 -p -1 -sd "$work/js-$RANDOM" >"$log" 2>&1 &
    server_pid=$!
    url=""
    for _ in $(seq 100); do
        url=$(grep -so 'client connections on [0-9.]*:[0-9]*' "$log" | head -1 | cut -d' ' -f4 || true)
        [[ -n $url ]] && { url=nats://$url; return 0; }
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    fail "$1 did not start"
}

version_of() { "$1" --version 2>&1 | grep -o '[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*' | head -1; }

# The newest of the servers the build installs and Debian's, unless NATS_SERVER_BIN says which.
servers=()
if [[ -n ${NATS_SERVER_BIN:-} ]]; then
    servers=("$NATS_SERVER_BIN")
else
    for candidate in "$build_dir/tools/bin/nats-server" /usr/sbin/nats-server; do
        [[ -x $candidate ]] && servers+=("$candidate")
    done
fi
[[ ${#servers[@]} -gt 0 ]] || fail "no nats-server found"

"$floor" nats://127.0.0.1:1 --fast-batch 10 --check-seqs 1 --republish 0 >/dev/null 2>"$work/usage" && fail "accepted --check-seqs without republish"
grep -q '^usage: partyline-jetstream-floor' "$work/usage" || fail "no usage line for bad flags"
"$floor" nats://127.0.0.1:1 --fast-batch 10 --latency 5 >/dev/null 2>&1 && fail "accepted --fast-batch with --latency"

for server in "${servers[@]}"; do
    version=$(version_of "$server")
    start_server "$server"
    "$floor" "$url" --count 2000 --window 256 >"$work/single" 2>&1 || { cat "$work/single" >&2; fail "$version: single publishes failed"; }
    grep -q '^2000 acknowledged writes' "$work/single" || fail "$version: single publishes: $(cat "$work/single")"
    set +e
    "$floor" "$url" --count 2050 --window 400 --fast-batch 100 --check-seqs 1 --server-pid "$server_pid" >"$work/batched" 2>&1
    rc=$?
    set -e
    if [[ $(printf '%s\n2.14.0\n' "$version" | sort -V | head -1) == 2.14.0 ]]; then
        [[ $rc -eq 0 ]] || { cat "$work/batched" >&2; fail "$version: fast batches failed (exit $rc)"; }
        grep -q '^2050 acknowledged writes.*fast batches of 100 (4 in flight' "$work/batched" ||
            fail "$version: fast batches: $(cat "$work/batched")"
        grep -q '2050 republished copies received' "$work/batched" || fail "$version: not every write stored once"
        grep -q ', 0 without every republished copy' "$work/batched" || fail "$version: a batch's write missing"
        grep -q 'nats-server [0-9.]* s' "$work/batched" || fail "$version: no nats-server CPU figure"
        echo "ok: nats-server $version: $(head -1 "$work/batched")"
        # What docs/PERFORMANCE.md (13) builds on: a batch's PubAck counts its messages, duplicates
        # included, with the last stored one's sequence only; a failed expected-sequence check
        # ends the batch, and what follows is refused as an unknown batch.
        "$floor" "$url" --probe 1 >"$work/probe" 2>&1 || { cat "$work/probe" >&2; fail "$version: --probe failed"; }
        grep -q 'to message 5: {"stream":"[A-Z0-9]*","seq":8,"batch":"b","count":5}' "$work/probe" ||
            fail "$version: duplicates in a batch: $(cat "$work/probe")"
        grep -q 'to message 2: {"type":"err","seq":2,.*"err_code":10071' "$work/probe" ||
            fail "$version: no error for a wrong expected sequence: $(cat "$work/probe")"
        grep -q 'to message 2: {"stream":"[A-Z0-9]*","seq":9,"batch":"c","count":1}' "$work/probe" ||
            fail "$version: a wrong expected sequence did not end the batch: $(cat "$work/probe")"
        grep -q 'to message 3: .*"err_code":10208' "$work/probe" || fail "$version: batch c went on: $(cat "$work/probe")"
        grep -q '^probe stream: 10 messages, last sequence 10$' "$work/probe" ||
            fail "$version: the stream after the probe: $(cat "$work/probe")"
    else
        [[ $rc -eq 2 ]] || { cat "$work/batched" >&2; fail "$version: --fast-batch not refused (exit $rc)"; }
        grep -q "need nats-server 2.14 or newer.* runs $version" "$work/batched" ||
            fail "$version: refusal without the version: $(cat "$work/batched")"
        echo "ok: nats-server $version refuses --fast-batch: $(cat "$work/batched")"
        set +e
        "$floor" "$url" --probe 1 >"$work/probe" 2>&1
        rc=$?
        set -e
        [[ $rc -eq 2 ]] || fail "$version: --probe not refused (exit $rc)"
    fi
    stop_server
done
