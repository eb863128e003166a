// The node's configuration: the node's YAML file (README.md, Configuration) as plain structs.
//
// Every key is optional; the defaults below run one node on one machine. The
// loader validates every key: an unknown key or a bad value is an error that
// names the key, the file and the line, and every error of the file is
// reported at once. Limits live here and nowhere else.
//
// Any string value may hold ${NAME} or ${NAME:-default}, replaced from the
// environment while the file is read. Keys whose values must never be printed
// are Secret; values taken from the environment are listed in
// Config::from_environment. Neither appears in messages or in describe(): both
// show "<set>".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/Secret.h"
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
    std::chrono::seconds ping_interval_seconds{10};
    // ...and the connection is closed if nothing arrives for this long. Short, because a client
    // reconnecting with the id of its half-open connection gets a fresh id until that one is gone.
    std::chrono::seconds ping_timeout_seconds{20};
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

    // The HTTP front door against clients that hold a worker (README.md, Limits).
    // A request's line and headers arrive within this: a client on any real link sends them in
    // one round trip, and a worker waiting for a slow one serves nobody else.
    std::chrono::milliseconds header_timeout_ms{10000};
    // A request body arrives whole within this, so it must average max_message_bytes per
    // body_timeout_ms (1 MiB in 10 s, about 100 KiB/s) at least; past it, 408 and the close.
    std::chrono::milliseconds body_timeout_ms{10000};
    // Connections one address holds at once, HTTP and WebSockets together (0: no limit); past it,
    // 503 before the request is read. A household or office behind one NAT opens far fewer.
    size_t max_connections_per_ip = 256;
    // New connections one address may open per second, with as many at once (0: no limit); past
    // it, 429. A page reconnecting after a network change opens a handful.
    size_t max_new_connections_per_ip_per_second = 100;
    // CivetWeb workers one address may hold at once once more than 3/4 of them are busy: its HTTP
    // connections not yet answered or upgraded (0: no limit); past it, 503 before the request is
    // read. Well under http_threads, so one address that sends slowly cannot hold every worker,
    // whatever max_connections_per_ip, while a burst on an idle node is served.
    size_t max_http_workers_per_ip = 32;
    // Headers one request may carry; more gets 431. CivetWeb keeps 64 and drops the rest unseen,
    // so at most 63: a request with 64 may have had more.
    size_t max_headers = 63;
    // A bounded log: what one client may take of the log and what one read of it may hold.
    // A page of history (GET .../history and room:history) ends before the entry that would take
    // its encoded size past this, so an answer holds about this much whatever `limit` asks; the
    // first entry always comes, so a write larger than the budget is read alone. 1 MiB is a
    // thousand chat lines, and as large as one write may be.
    size_t max_history_page_bytes = 1024 * 1024;
    // Bytes of writes one client address may put into the log per second, on average: built-in
    // broadcasts (past it 429 with Retry-After) and writes a WebSocket's messages make (closed
    // 1008). One second's worth may come at once. 16 MiB/s is far above any chat or game and
    // far below the 190 MiB/s a single client could store without it. 0: no limit.
    size_t max_write_bytes_per_second_per_ip = 16 * 1024 * 1024;
    // Hostile WebSocket clients and new rooms.
    // Bytes all WebSockets of the node may hold in messages they began and have not finished;
    // past it the newest such connection is closed 1013. 256 MiB is 256 clients each holding a
    // whole 1 MiB message at once, and a small part of a server's memory.
    size_t max_pending_input_bytes = 256 * 1024 * 1024;
    // A WebSocket that sent part of a message (or of a frame) finishes it within this, else it is
    // closed 1008: a byte a minute must not hold a message buffer forever. 10 s moves a 1 MiB
    // message at 100 KB/s.
    std::chrono::milliseconds message_timeout_ms{10000};
    // Rooms (shards) this node holds at once; a client that would open one more gets 503 with
    // Retry-After. A shard costs about 23 KB idle: 10,000 are about 230 MB.
    size_t max_rooms = 10000;
    // New rooms one client address may open per second, on average (0: no limit); past it (and
    // the burst) 429 with Retry-After. Rooms that exist stay reachable. A page opens a few rooms;
    // thousands a second is a scan.
    size_t max_new_rooms_per_ip_per_second = 20;
    // New rooms an address may open at once above that rate (a token bucket of this size).
    size_t new_room_burst = 100;
    // Rooms one partyline.mux.v1 socket may be in at once (its joins under way included); a join
    // past it gets an error frame, 429. A page shows a few dozen rooms; each costs a shard
    // connection, so one socket must not hold thousands.
    size_t max_rooms_per_connection = 100;
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
    // Rooms are spread over this many log streams (<stream>-0 .. <stream>-<N-1>, each with its
    // own storage and alarm bucket), so that a NATS cluster's writes are not all on one stream
    // leader; 1 keeps one stream named `stream`. Fixed for a deployment: a node refuses to start
    // when it finds the streams of another count. At most 64: each one is a stream and two
    // buckets on every server that holds a copy.
    static constexpr int kMaxPartitions = 64;
    int partitions = 1;
    // Where JetStream keeps the log's streams: "file" (the default: writes survive a restart of
    // every NATS server) or "memory" (cheaper per write for nats-server, but a restart of every
    // server holding a copy loses the log, and with it replay). Fixed per stream: JetStream
    // cannot change it, so a node refuses to start over a stream stored the other way. The
    // storage and alarm buckets stay on file either way.
    std::string storage = "file";
    // Key-value buckets, created with `replicas` copies: room.storage of every
    // party with storage: true (keys <party>.<room>.<key>), and every room's
    // pending alarm (keys <party>.<room>).
    std::string storage_bucket = "PARTYLINE_STORAGE";
    std::string alarm_bucket = "PARTYLINE_ALARMS";
    // JetStream stores a write once per message id within this window, so a re-sent publish or
    // a retried broadcast with the same Idempotency-Key is not stored twice. 2m is JetStream's
    // own default and covers the 10 s a publish is re-sent many times; left out, it is max_age when
    // that is shorter (as JetStream does). Set: at least 10s, at most max_age.
    std::chrono::seconds duplicate_window{120};

    // The stream's size cap (JetStream MaxBytes, discard old): once the log holds this much, the
    // oldest writes of the stream go first, so the disk cannot fill. nats-server refuses a cap
    // larger than the storage it can still reserve (its max_file_store, 75% of the free disk by
    // default), and the node then stops and says so: 1 GiB starts on any machine with 1.4 GiB
    // free, the embedded default included; a cluster sets more (config/cluster.yaml: 10 GiB).
    // With several partitions, each partition's stream is capped at max_bytes / partitions.
    size_t max_bytes = size_t(1) * 1024 * 1024 * 1024;
    // The largest message the stream stores (JetStream MaxMsgSize). Left out: max_message_bytes
    // plus kMaxMsgSizeHeadroom for the headers a write carries (message id, exclusions). Set: at
    // least limits.max_message_bytes, at most max_bytes and 2 GiB - 1.
    static constexpr size_t kMaxMsgSizeHeadroom = 64 * 1024;
    size_t max_msg_size = Limits{}.max_message_bytes + kMaxMsgSizeHeadroom;
    // How a node reads a room's log (gap fill, `since` replay): true asks for batches of entries
    // (batched Direct Get) when the nats-server is 2.11 or newer, and one entry per request on
    // older servers; false asks one entry per request on every server.
    bool batch_reads = true;
};

// The control surface (/v1/..., /metrics).
struct ApiConfig {
    // Bearer keys, any of which opens the control surface. Empty: only loopback peers are served,
    // so a node on a laptop works with curl and one on a public address is closed by default.
    std::vector<Secret> keys;
    // true: the control surface is open to every peer, for development. false by default, because
    // anyone who reaches it can write to and read every room.
    bool insecure = false;
};

// Verifying connection tokens (JWT) of a party.
struct JwtConfig {
    Secret secret;           // for HS256/HS384/HS512; empty when public_key is set
    std::string public_key;  // PEM file path as written, resolved against the working directory
    // The PEM text of public_key, read at start so a missing or unreadable file stops the node
    // then, not at the first connection. For RS256, ES256 and EdDSA.
    std::string public_key_pem;
    // Accepted "alg" values, from HS256 HS384 HS512 RS256 ES256 EdDSA; required, never "none", so
    // a token cannot choose a weaker check than the operator did.
    std::vector<std::string> algorithms;
    std::string audience;  // the "aud" a token must carry; empty: not checked
    std::string issuer;    // the "iss" a token must carry; empty: not checked
    // Clock difference forgiven on exp, nbf and iat: 30 s covers ordinary drift between the
    // token issuer's clock and this node's.
    std::chrono::seconds leeway_seconds{30};
};

struct AuthConfig {
    JwtConfig jwt;
    // true: a connection or room request without a valid token is refused. Defaults to true
    // because a party that configures auth means to keep anonymous clients out; false checks a
    // token when one is given and admits anonymous clients otherwise.
    bool required = true;
};

// A router party runs no script: it spreads each WebSocket over the rooms
// <room>-1..<room>-N of its target party, and an HTTP request to it reaches all of them.
struct RouterConfig {
    std::string target;
    size_t shards = 0;                // 0: the party is not a router
    std::string strategy = "random";  // random, round-robin, least-connections, hash (of the connection id)
};

// Outgoing HTTP calls of room scripts (`fetch` in Lua), for the whole node.
struct FetchConfig {
    // Hosts (and host:port) a script may call: "api.example.com", "*.internal.example.com"
    // (subdomains only), "127.0.0.1:8080", "[::1]:8080". Empty: none, so a script cannot reach the
    // network until the operator says where.
    std::vector<std::string> allow;
    // Default and maximum per call, redirects and a slow body included: no backend holds a
    // handler longer.
    int timeout_ms = 10000;
    // The body of one answer: a room's state or a session check, not a download.
    size_t max_response_bytes = 1024 * 1024;
    // Calls in flight on the node; past it fetch returns nil, "busy" at once instead of queueing
    // behind a slow backend. Each is one socket, not one thread.
    size_t max_in_flight = 1000;
    // Each hop is checked against allow again; 3 covers http to https and a moved path.
    int max_redirects = 3;
    // A PEM file of the CAs of a private backend, in place of the system's bundle; read at start.
    // Empty: the system's store.
    std::string ca_file;
};

// A party's own list, which narrows the node's: a call must pass both (so it cannot widen it).
struct PartyFetchConfig {
    std::vector<std::string> allow;  // the entries of fetch.allow's form; empty: none
};

// Room events posted to the app's backend (parties.X.webhook), signed with the secret.
struct WebhookConfig {
    std::string url;  // http:// or https://, the operator's own: it needs no fetch.allow entry
    // Which events to post: room.started, room.idle, connect, close. Omitted: all of them.
    std::vector<std::string> events;
    // The HMAC-SHA-256 key of X-Partyline-Signature. Required: an unsigned event could come from
    // anyone who finds the URL.
    Secret secret;
};

struct PartyConfig {
    std::string name;
    RouterConfig router;
    // The path the node reads. Config::load joins a relative path to the configuration file's
    // folder, so a file names its scripts the same way from any working directory.
    std::string script;
    bool storage = false;  // create the room storage bucket for this party
    // What each node announces of its connections of a room: "list" (each connection and its
    // conn.presence) or "count" (its number only, for rooms of very many connections).
    std::string presence = "list";
    // room.env of the party's scripts: names [A-Za-z_][A-Za-z0-9_]*, values never printed.
    std::map<std::string, Secret> env;
    std::optional<AuthConfig> auth;         // none: connections are not asked for a token
    std::optional<PartyFetchConfig> fetch;  // none: the node's fetch.allow as it is
    std::optional<WebhookConfig> webhook;   // none: no events are posted
};

struct Config {
    std::string listen = "0.0.0.0:1999";
    std::string node_id = "auto";  // "auto": hostname-pid
    std::string data_dir = ".partyline";
    NatsConfig nats;
    std::map<std::string, PartyConfig> parties;  // empty: the embedded example party "main"
    Limits limits;
    LogConfig log;
    ApiConfig api;
    FetchConfig fetch;
    // Origins whose browser pages may open WebSockets and call room HTTP, each
    // "http(s)://host[:port]" or "http(s)://*.domain[:port]", lowercase, without a default port.
    // Empty: only pages of the node's own origin, since a page elsewhere would act with its
    // visitor's cookies.
    std::vector<std::string> origins;
    // Proxies whose X-Forwarded-For names the client: addresses or CIDR blocks ("10.0.0.0/8").
    // Empty: the TCP peer is the client, since anyone may send the header.
    std::vector<std::string> trusted_proxies;
    // A second listener for /healthz, /readyz and /metrics only, with workers of its own, so probes
    // and scrapes are answered while clients hold every worker of `listen`. Empty: none.
    std::string ops_listen;
    std::string source = "<defaults>";  // where this configuration came from, for messages
    // Dotted paths ("nats.url", "api.keys[0]") of the values taken from the environment.
    std::set<std::string> from_environment;
    // The line of each key the file set, by dotted path ("parties.main.script"), for messages
    // about a configuration that loaded but cannot run.
    std::map<std::string, int> lines;

    // Reads and validates a YAML file. Relative script paths are joined to the file's folder and
    // each script must exist. On failure the message holds every error of the file, one a line
    // ("FILE:LINE: key: what is wrong"), ordered by line.
    static Result<Config> load(const std::string& path);
    // Validates YAML text as load does; `sourceName` is used in error messages. Script paths
    // stay as written and are not looked for, since the text has no folder.
    static Result<Config> parse(const std::string& yaml, const std::string& sourceName);

    // The configuration in effect as YAML, for check-config: secrets and values taken from the
    // environment read "<set>".
    std::string describe() const;
    // `value` of the key at `path`, or "<set>" when it came from the environment: for messages.
    std::string shown(const std::string& path, const std::string& value) const;
};

// Parses "24h", "90s", "15m", "2d", "500ms" (rounded down to seconds), or a bare number of seconds.
Result<std::chrono::milliseconds> parseDuration(const std::string& text);

}  // namespace partyline
