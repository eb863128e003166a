// The peer of docs/PERFORMANCE.md section (9): one Socket.IO "node" of a cluster whose nodes
// share rooms through Redis (@socket.io/redis-adapter). A client joins the room named by the
// `room` query parameter of its handshake; every string it sends as event "m" is relayed to its
// whole room, itself included (io.to(room).emit), as bench/bench-node.yaml's room script relays
// each frame with room:broadcast.
//
//   node bench/socketio/server.mjs --redis redis://127.0.0.1:PORT [--port 0] [--host 127.0.0.1] [--name N]
//
// Who may use it: a benchmark harness on one machine. It authenticates nobody and listens on
// loopback unless told otherwise; it is not part of partyline and must not face a network.
// One process, one thread (Node's event loop). With --port 0 (the default) the kernel picks the
// port and the server prints it: "... listening on http://HOST:PORT (port PORT)".
// Refusals: a handshake without a valid room gets connect_error "room: ..."; a message that is
// not a string gets event "relay_error" back and is not relayed.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

// A room name: 1-64 of letters, digits, '-', '_' and '.' (the load generator's are "bench-N").
const ROOM_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function usage(message) {
    console.error(`server.mjs: ${message}`);
    console.error("usage: node bench/socketio/server.mjs --redis redis://HOST:PORT [--port N] [--host H] [--name N]");
    process.exit(2);
}

function options() {
    let values;
    try {
        ({ values } = parseArgs({
            options: {
                redis: { type: "string" },
                port: { type: "string", default: "0" },
                host: { type: "string", default: "127.0.0.1" },
                name: { type: "string", default: "socketio" },
            },
        }));
    } catch (error) {
        usage(error.message);
    }
    if (!values.redis) usage("--redis is required");
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port ${values.port}: not a port`);
    return { ...values, port };
}

// The adapter publishes each broadcast on one Redis connection and receives every node's on
// another (a subscribed connection can do nothing else).
async function connectRedis(url, name) {
    const pub = createClient({ url });
    const sub = pub.duplicate();
    for (const client of [pub, sub]) {
        client.on("error", (error) => console.error(`${name}: redis: ${error.message}`));
    }
    await Promise.all([pub.connect(), sub.connect()]);
    return { pub, sub };
}

function relay(io, socket, room) {
    socket.on("m", (message) => {
        if (typeof message !== "string") {
            socket.emit("relay_error", "m: a message must be a string");
            return;
        }
        io.to(room).emit("m", message);
    });
}

async function main() {
    const o = options();
    let redis;
    try {
        redis = await connectRedis(o.redis, o.name);
    } catch (error) {
        console.error(`${o.name}: cannot connect to redis at ${o.redis}: ${error.message}`);
        process.exit(1);
    }
    const http = createServer();
    const io = new Server(http, { adapter: createAdapter(redis.pub, redis.sub), serveClient: false });
    io.use((socket, next) => {
        const room = socket.handshake.query.room;
        if (typeof room !== "string" || !ROOM_NAME.test(room)) {
            next(new Error("room: the handshake needs a room query parameter of 1-64 of [A-Za-z0-9._-]"));
            return;
        }
        socket.data.room = room;
        next();
    });
    io.on("connection", (socket) => {
        socket.join(socket.data.room);
        relay(io, socket, socket.data.room);
    });
    http.on("error", (error) => {
        console.error(`${o.name}: cannot listen on ${o.host}:${o.port}: ${error.message}`);
        process.exit(1);
    });
    http.listen(o.port, o.host, () => {
        const { port } = http.address();
        console.error(`${o.name}: listening on http://${o.host}:${port} (port ${port})`);
    });
    const stop = () => {
        io.close();
        Promise.allSettled([redis.pub.quit(), redis.sub.quit()]).then(() => process.exit(0));
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main();
