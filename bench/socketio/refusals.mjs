// Checks each refusal of bench/socketio/server.mjs against running servers (the bench smoke test
// runs it through peer.sh: SOCKETIO_PEER_CLIENT=bench/socketio/refusals.mjs). Takes peer.sh's
// flags (--url of each server; --cpu is ignored) and exits 0 only when every server
//   - refuses a handshake without a room, and one with a bad room name, with connect_error "room: ...";
//   - answers a message that is not a string with "relay_error" and relays nothing of it;
//   - still relays a string to the sender's room, the sender included.
// Who may use it: the smoke test, on loopback. Every wait is bounded by socket.io's own timeouts.
import { parseArgs } from "node:util";
import { io } from "socket.io-client";

const { values } = parseArgs({ options: { url: { type: "string", multiple: true, default: [] }, cpu: { type: "string", multiple: true } } });
if (values.url.length === 0) {
    console.error("refusals.mjs: at least one --url is required");
    process.exit(2);
}
const TIMEOUT_MS = 10000;

function connect(url, query) {
    return io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: TIMEOUT_MS, query });
}

// The first of `events` the socket emits, as [event, argument]; "timeout" after TIMEOUT_MS.
function first(socket, events) {
    return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(["timeout"]), TIMEOUT_MS);
        for (const event of events)
            socket.once(event, (argument) => {
                clearTimeout(timer);
                resolve([event, argument]);
            });
    });
}

async function refusedHandshake(url, query, what) {
    const socket = connect(url, query);
    const [event, error] = await first(socket, ["connect", "connect_error"]);
    socket.close();
    if (event !== "connect_error" || !/^room: /.test(error?.message ?? ""))
        throw new Error(`${url}: a handshake ${what} got ${event} ${error?.message ?? ""}, not connect_error "room: ..."`);
}

async function refusedMessage(url) {
    const socket = connect(url, { room: "refusals" });
    const [opened] = await first(socket, ["connect", "connect_error"]);
    if (opened !== "connect") throw new Error(`${url}: a client of room "refusals" did not connect (${opened})`);
    const relayed = [];
    socket.on("m", (message) => relayed.push(message));
    socket.emit("m", { not: "a string" });
    const [event, reason] = await first(socket, ["relay_error"]);
    if (event !== "relay_error" || !/must be a string/.test(reason))
        throw new Error(`${url}: a message that is not a string got ${event} ${reason ?? ""}, not relay_error`);
    // The relay still works, and what came back before is only that string: nothing of the object.
    socket.emit("m", "still-relayed");
    const [echoed, text] = await first(socket, ["m"]);
    socket.close();
    if (echoed !== "m" || text !== "still-relayed" || relayed.some((m) => typeof m !== "string"))
        throw new Error(`${url}: after a refused message the relay gave ${JSON.stringify(relayed)}`);
}

try {
    for (const url of values.url) {
        await refusedHandshake(url, {}, "without a room");
        await refusedHandshake(url, { room: "bad room/name" }, "with a bad room name");
        await refusedMessage(url);
    }
    console.error(`refusals.mjs: ${values.url.length} server(s): every refusal answered`);
    process.exit(0);
} catch (error) {
    console.error(`refusals.mjs: ${error.message}`);
    process.exit(1);
}
