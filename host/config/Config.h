// The node's configuration: the YAML of DESIGN.md as plain structs.
//
// Every key is optional; the defaults below run one node on one machine. The
// loader validates every key: an unknown key or a bad value is an error that
// names the key, the file and the line. Limits live here and nowhere else.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/Status.h"

namespace partyline {

struct Limits {
    // Open WebSockets plus HTTP connections; past it, upgrades and requests get 503 and Retry-After.
    // 20,000 idle WebSockets measured about 40 KB each: under 1 GB.
    size_t max_connections = 20000;
    // Checked against the frame header before any payload is read: 1 MiB is
    // plenty for chat and game moves and bounds memory per connection.
    size_t max_message_bytes = 1048576;
    // Bytes queued for one client before it counts as slow and is closed 1013.
    size_t send_buffer_bytes = 1048576;
    // A shard's Lua heap cap: 16 MiB holds a large room's in-memory state.
    size_t lua_memory_bytes = 16 * 1024 * 1024;
    // Per handler call: about 0.1 s of pure Lua on one core.
    uint64_t lua_instructions_per_call = 10000000;
    // Per handler call, processor time: a backstop for the few instructions that cost O(n) yet
    // count as one. 1 s is ten times the instruction budget's worth of plain Lua.
    uint64_t lua_cpu_ms_per_call = 1000;
    // A shard with no connections lives this long, so a reconnecting client finds it warm.
    std::chrono::seconds idle_room_seconds{60};
    // Half-open connections are found by ping/pong: a ping after this much silence...
    std::chrono::seconds ping_interval_seconds{25};
    // ...and the connection is closed if nothing arrives for this long.
    std::chrono::seconds ping_timeout_seconds{60};
    // Messages one WebSocket may send per second, on average (0: no limit); past it the connection
    // is closed 1008. A 60 Hz cursor or game input is far below; a client above 1,000/s is broken
    // or hostile, and each message costs a Lua call.
    size_t max_messages_per_second = 1000;
    // Messages a connection may send at once above that rate (a token bucket of this size).
    size_t message_burst = 2000;
    // CivetWeb worker threads: each serves one HTTP connection at a time (WebSockets leave the
    // pool once upgraded). 128 answers many concurrent slow room requests for about 1 MB.
    size_t http_threads = 128;
    // SIGTERM: how long the node may take to finish in-flight requests and publishes before it
    // exits. Longer than a publish's 10 s of re-sends, so a POST in flight gets its real answer.
    std::chrono::seconds drain_seconds{15};
    // One room.storage value, encoded. A value is one NATS message, and
    // nats-server refuses messages over its max_payload (1 MiB by default);
    // half of that leaves room for the key and headers and keeps a handler
    // that reads a few values well inside lua_memory_bytes.
    size_t storage_value_bytes = 512 * 1024;
};

struct LogConfig {
    std::string level = "info";     // debug, info, warn, error
    std::string format = "logfmt";  // logfmt (key=value) or json, one line per event
};

struct NatsConfig {
    std::string url = "embedded";  // "embedded" or nats://host:4222[,nats://...]
    std::string stream = "PARTYLINE";
    int replicas = 1;
    std::chrono::seconds max_age{24 * 3600};
    int64_t max_msgs_per_room = 10000;
    std::string subject_prefix = "partyline";  // subjects: <prefix>.room.<party>.<room>
    // Key-value buckets, created with `replicas` copies: room.storage of every
    // party with storage: true (keys <party>.<room>.<key>), and every room's
    // pending alarm (keys <party>.<room>).
    std::string storage_bucket = "PARTYLINE_STORAGE";
    std::string alarm_bucket = "PARTYLINE_ALARMS";
};

// A router party runs no script: it spreads each WebSocket over the rooms
// <room>-1..<room>-N of its target party, and an HTTP request to it reaches all of them.
struct RouterConfig {
    std::string target;
    size_t shards = 0;                // 0: the party is not a router
    std::string strategy = "random";  // random, round-robin, least-connections, hash (of the connection id)
};

struct PartyConfig {
    std::string name;
    RouterConfig router;
    std::string script;    // path as written in the file, resolved against the working directory
    bool storage = false;  // create the room storage bucket for this party
};

struct Config {
    std::string listen = "0.0.0.0:1999";
    std::string node_id = "auto";  // "auto": hostname-pid
    std::string data_dir = ".partyline";
    NatsConfig nats;
    std::map<std::string, PartyConfig> parties;  // empty: the embedded example party "main"
    Limits limits;
    LogConfig log;
    std::string source = "<defaults>";  // where this configuration came from, for messages

    // Reads and validates a YAML file.
    static Result<Config> load(const std::string& path);
    // Validates YAML text; `sourceName` is used in error messages.
    static Result<Config> parse(const std::string& yaml, const std::string& sourceName);
};

// Parses "24h", "90s", "15m", "2d", "500ms" (rounded down to seconds), or a bare number of seconds.
Result<std::chrono::milliseconds> parseDuration(const std::string& text);

}  // namespace partyline
