#!/usr/bin/env bash
# Smoke test of the Socket.IO peer of docs/PERFORMANCE.md section (9), so its harness cannot rot:
# bench/socketio/peer.sh starts a real redis-server and two real Socket.IO servers on loopback
# and runs the load generator against them (10 rooms x 4 clients, 2 writes/s each, 2 s), whose
# verdict must be clean and whose counts must add up; then each refusal of the servers.
# peer.sh stops every process it started on every exit path. Usage: socketio-smoke.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
peer=$source_dir/bench/socketio/peer.sh
work=$(mktemp -d /tmp/socketio-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "+ peer.sh --rooms 10 --clients 40 --writers 40 --rate 80 --duration 2"
bash "$peer" --rooms 10 --clients 40 --writers 40 --rate 80 --duration 2 --settle 0.5 --drain 10 --json --quiet \
    >"$work/run.json"

# The generator's own verdict, and its counts against the run's shape: 160 writes, each to the 4
# clients of its room; every delivery timed once; the servers' and redis-server's CPU read.
node --input-type=module - "$work/run.json" <<'JS'
import { readFileSync } from "node:fs";
const r = JSON.parse(readFileSync(process.argv[2], "utf8"));
const d = r.deliveries;
const checks = [
    ["clean verdict", r.clean === true],
    ["40 clients open, none failed", r.clients.open === 40 && r.clients.failed === 0],
    ["160 writes planned and sent", r.writes.planned === 160 && r.writes.sent === 160 && r.writes.behind === 0],
    ["expected = sent x 4 clients per room", d.expected === r.writes.sent * 4],
    ["0 lost, 0 duplicates", d.lost === 0 && d.duplicates === 0 && d.delivered === d.expected],
    ["no order violation, nothing unexpected, foreign or misrouted",
     d.order_violations === 0 && d.unexpected === 0 && d.foreign === 0 && d.misrouted === 0],
    ["one latency sample per delivery", d.latency_ms.samples === d.delivered],
    ["CPU of socketio-1, socketio-2 and redis-server read",
     r.cpu.map((c) => c.name).join() === "socketio-1,socketio-2,redis-server" && r.cpu.every((c) => c.read)],
];
let failed = 0;
for (const [what, ok] of checks) {
    console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
    if (!ok) failed++;
}
if (failed) {
    console.log(JSON.stringify(r));
    process.exit(1);
}
JS

echo "+ peer.sh with refusals.mjs"
SOCKETIO_PEER_CLIENT=$source_dir/bench/socketio/refusals.mjs bash "$peer"

echo "+ load.mjs refuses bad flags"
for flags in "" "--url http://127.0.0.1:1 --rooms 0" "--url http://127.0.0.1:1 --cpu node" \
    "--url http://127.0.0.1:1 --clients 4 --writers 5" "--url ws://x/y"; do
    status=0
    # shellcheck disable=SC2086
    node "$source_dir/bench/socketio/load.mjs" $flags 2>"$work/flags.txt" || status=$?
    if ((status != 2)) || ! grep -q "^load.mjs: " "$work/flags.txt"; then
        echo "load.mjs $flags: exit $status, not 2 with a message:" >&2
        cat "$work/flags.txt" >&2
        exit 1
    fi
done
echo "socketio smoke: OK"
