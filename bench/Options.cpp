#include "Options.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

namespace partyline::bench {

const char* const kHelpText =
    R"(partyline-bench - load and correctness benchmark for partyline and PartyKit-style hosts

Usage: partyline-bench [options]

Opens N WebSocket clients over one or more nodes and rooms, writes to the rooms at
a fixed rate, and reports what every client received: delivered/expected, loss,
duplicates, order violations, deliveries per second, end-to-end latency (send to
receive, one clock) and, with --pid, the server's RSS per connection.

Where the clients go:
  --url URL             a node, http://HOST:PORT or ws://HOST:PORT; repeat for several
                        nodes (client i and HTTP connection i use node i mod U).
                        Default http://127.0.0.1:1999
  --clients N           WebSocket clients (default 100)
  --party NAME          party of every room (default main)
  --rooms K             rooms; client i joins room i mod K (default 1)
  --spread client|room  client: client i uses node i mod U (default); room: node (i div K) mod U,
                        so each room's clients alternate between the nodes
  --room-prefix P       room names are P0 .. P(K-1) (default bench-)
  --connect-rate R      new connections per second (default 2000)
  --connect-timeout S   give up on clients not open after S seconds (default 60)
  --threads T           threads running the clients, one epoll each (default 1)
  --settle S            seconds between the last client opening and the first write;
                        RSS is read at its end (default 1)

What is written:
  --mode post|ws        post: HTTP POST of each write to --post-path over keep-alive
                        connections; the node answers after the log stored it (default).
                        ws: a text frame from a writer client; the room's script must
                        broadcast what it receives (partyline: tests/integration/scripts/echo.lua;
                        the default example party "main" does not)
  --rate R[/s]          writes per second over all rooms (default 100). 0: no writes, the
                        clients are only held open for --duration (RSS, health)
  --duration S[s]       seconds of writing (default 10)
  --drain S             after the last write, wait up to S seconds for deliveries (default 5)
  --size B              pad each payload to B bytes (default 64; the stamp alone is ~40)
  --http-conns C        post: keep-alive connections, one request in flight each (default 8)
  --batch B             post: up to B writes per request (what is due when a connection is
                        free), one per line of an application/x-ndjson body, all to one
                        room; 1 sends each write as the whole body (default 1)
  --writers W           ws: clients 0..W-1 send; 0 = one per room (default 0)
  --request-timeout S   post: a request without an answer after S s fails (default 10)

Paths ({party}, {room}, {id} are replaced; {id} is a unique client id):
  --ws-path T           WebSocket path (default /parties/{party}/{room}?_pk={id})
  --post-path T         POST path (default /v1/parties/{party}/{room}/broadcast)
  --no-subprotocol      do not offer partyline.v1
  --health-path P       GET P on every node once the clients are open, and report the
                        status and time (default /healthz; "" skips it)

Measuring the server:
  --pid PID             read VmRSS of PID from /proc before connecting, after --settle and
                        at the end; reports RSS per open connection
  --cpu NAME=PID        read the CPU time and context switches (all threads) of PID when
                        writing begins and after the drain; reports them under NAME, per
                        million deliveries and per write (repeat; one NAME may sum several;
                        PID "self" is this tool)
  --source-addresses N  bind the WebSocket clients to N loopback source addresses, 127.0.1.1
                        upwards (client i to the (i mod N)-th), to open more connections to
                        one node than one address has ephemeral ports (0: the kernel picks)

Output:
  --json                print one JSON object on stdout (the summary goes to stderr)
  --quiet               no progress lines on stderr
  --help                this text

Each payload is "plb1.<run>.<room>.<writer>.<counter>.<sent-ns>." padded with '-'.
When the node accepts partyline.v1, every frame is {"seq":N,"data":"..."} and each
client also checks that seq increases. A host that does not (PartyKit, or any
server answering without the subprotocol) sends plain frames: the tool then finds
the payload anywhere in the frame and checks order by each writer's counter only.
Frames without a payload of this run are counted as "foreign" and ignored.

Expected deliveries: every acknowledged POST (2xx) or every sent frame (ws) times
the clients of its room that were open when writing began. Loss is what of that
had not arrived when the drain ended (a backlog that clears later still counts:
raise --drain to tell slow from lost); a duplicate is the same write twice to
one client; an order violation is a write that arrives after a later one of the
same writer, or (with partyline.v1) a seq not above the client's previous one.
Latency runs from the moment a write leaves the tool to the moment a client
thread reads it; a write sent late (no free HTTP connection) is timed from when
it left, and the summary says how far behind schedule the most delayed one left.

Exit status: 0 when every client opened and every expected delivery arrived once,
in order, with no failed write; 1 when the run finished but something was lost,
duplicated, reordered, failed or not opened; 2 on bad options or setup errors.
The run always ends by itself after connect + settle + duration + drain.

Example (one node, 1,000 clients in one room, 200 POST writes/s for 20 s):
  partyline-bench --url http://127.0.0.1:1999 --clients 1000 --rate 200 --duration 20
)";

namespace {

bool parseNumber(std::string_view text, double& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() && std::isfinite(value);
}

bool parseCount(std::string_view text, uint64_t& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size();
}

// "200", "200/s"; "20", "20s".
std::string_view stripSuffix(std::string_view text, std::string_view suffix) {
    if (text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix)
        text.remove_suffix(suffix.size());
    return text;
}

using Setter = std::function<bool(std::string_view)>;

Setter seconds(double& target, double minimum) {
    return [&target, minimum](std::string_view v) {
        return parseNumber(stripSuffix(v, "s"), target) && target >= minimum;
    };
}

template <typename T>
Setter count(T& target, uint64_t minimum, uint64_t maximum) {
    return [&target, minimum, maximum](std::string_view v) {
        uint64_t n = 0;
        if (!parseCount(v, n) || n < minimum || n > maximum) return false;
        target = T(n);
        return true;
    };
}

Setter text(std::string& target) {
    return [&target](std::string_view v) {
        target = std::string(v);
        return true;
    };
}

std::string check(const Options& o) {
    if (o.rooms > o.clients)
        return "--rooms must not exceed --clients (a room without clients measures nothing)";
    if (o.mode == Mode::Ws && o.writers > o.clients) return "--writers must not exceed --clients";
    if (o.mode == Mode::Ws && o.batch > 1) return "--batch is for --mode post";
    if (o.threads > o.clients) return "--threads must not exceed --clients";
    if (o.wsPath.empty() || o.wsPath.front() != '/') return "--ws-path must start with /";
    if (o.postPath.empty() || o.postPath.front() != '/') return "--post-path must start with /";
    if (!o.healthPath.empty() && o.healthPath.front() != '/')
        return "--health-path must start with / or be empty";
    return "";
}

}  // namespace

ParseResult parseOptions(int argc, char** argv, Options& o, std::string& error) {
    bool urlGiven = false;
    std::string mode = "post";
    std::map<std::string_view, Setter> valued = {
        {"--url",
         [&](std::string_view v) {
             if (!urlGiven) o.urls.clear();
             urlGiven = true;
             o.urls.emplace_back(v);
             return true;
         }},
        {"--clients", count(o.clients, 1, 1000000)},
        {"--party", text(o.party)},
        {"--rooms", count(o.rooms, 1, 1000000)},
        {"--room-prefix", text(o.roomPrefix)},
        {"--connect-rate",
         [&](std::string_view v) {
             return parseNumber(stripSuffix(v, "/s"), o.connectRate) && o.connectRate > 0;
         }},
        {"--connect-timeout", seconds(o.connectTimeoutSeconds, 0.1)},
        {"--threads", count(o.threads, 1, 64)},
        {"--settle", seconds(o.settleSeconds, 0)},
        {"--mode",
         [&](std::string_view v) {
             mode = std::string(v);
             return v == "post" || v == "ws";
         }},
        {"--rate",
         [&](std::string_view v) { return parseNumber(stripSuffix(v, "/s"), o.rate) && o.rate >= 0; }},
        {"--duration", seconds(o.durationSeconds, 0.001)},
        {"--drain", seconds(o.drainSeconds, 0)},
        {"--size", count(o.size, 0, 1 << 20)},
        {"--http-conns", count(o.httpConnections, 1, 10000)},
        {"--batch", count(o.batch, 1, 1000)},
        {"--writers", count(o.writers, 0, 1000000)},
        {"--request-timeout", seconds(o.requestTimeoutSeconds, 0.001)},
        {"--ws-path", text(o.wsPath)},
        {"--post-path", text(o.postPath)},
        {"--health-path", text(o.healthPath)},
        {"--pid", count(o.pid, 1, INT32_MAX)},
        {"--source-addresses", count(o.sourceAddresses, 0, 65000)},
        {"--spread",
         [&](std::string_view v) {
             o.spreadRooms = v == "room";
             return v == "room" || v == "client";
         }},
        {"--cpu",
         [&](std::string_view v) {
             auto eq = v.rfind('=');
             if (eq == std::string_view::npos || eq == 0) return false;
             uint64_t pid = 0;
             if (v.substr(eq + 1) == "self")
                 pid = uint64_t(getpid());  // the tool's own share of the machine
             else if (!parseCount(v.substr(eq + 1), pid) || pid < 1 || pid > INT32_MAX)
                 return false;
             o.cpuPids.emplace_back(std::string(v.substr(0, eq)), int(pid));
             return true;
         }},
    };
    std::map<std::string_view, bool*> flags = {{"--json", &o.json}, {"--quiet", &o.quiet}};
    o.urls = {"http://127.0.0.1:1999"};
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i], value;
        bool inlineValue = false;
        if (arg == "--help" || arg == "-h") return ParseResult::Help;
        if (arg == "--no-subprotocol") {
            o.subprotocol = false;
            continue;
        }
        if (auto eq = arg.find('='); eq != std::string_view::npos && arg.substr(0, 2) == "--") {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            inlineValue = true;
        }
        if (auto flag = flags.find(arg); flag != flags.end() && !inlineValue) {
            *flag->second = true;
            continue;
        }
        auto setter = valued.find(arg);
        if (setter == valued.end()) {
            error = "unknown option " + std::string(arg) + " (see --help)";
            return ParseResult::Error;
        }
        if (!inlineValue) {
            if (i + 1 >= argc) {
                error = std::string(arg) + " needs a value";
                return ParseResult::Error;
            }
            value = argv[++i];
        }
        if (!setter->second(value)) {
            error = "bad value for " + std::string(arg) + ": " + std::string(value);
            return ParseResult::Error;
        }
    }
    o.mode = mode == "ws" ? Mode::Ws : Mode::Post;
    if (o.mode == Mode::Ws && o.writers == 0) o.writers = o.rooms;
    error = check(o);
    return error.empty() ? ParseResult::Run : ParseResult::Error;
}

}  // namespace partyline::bench
