// HttpServer: the node's front door, on CivetWeb: its lifecycle (start, drain, stop), the
// connection limits, and the routing of every request. It answers /healthz, /readyz and /metrics
// (on ops_listen too, through OpsListener), hands room requests to the room's shard, upgrades to
// WebSocketUpgrade and the /v1/ control API to LogEndpoints (a room's presence to PresenceEndpoint). Against
// clients that would hold its workers: ConnectionAdmission's per-address limits when a worker takes a
// connection, the head's deadline (CivetWeb's request_timeout_ms), RequestFraming before routing,
// BodyReader's deadline. CivetWeb's own WebSocket code is not used: it allocates a frame's declared length
// before reading it and its writes block on a client that does not read. Must not: encode an answer itself
// (HttpIo does) or run Lua.
//
// Threads: handlers run on CivetWeb worker threads. They never run Lua: they post to shards and,
// for HTTP, wait for the shard's answer.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "app/AccessGate.h"
#include "app/BodyReader.h"
#include "app/ConnectionAdmission.h"
#include "app/LogEndpoints.h"
#include "app/OpsListener.h"
#include "app/PresenceEndpoint.h"
#include "app/ServerCounters.h"
#include "app/StaticFiles.h"
#include "app/WebSocketUpgrade.h"
#include "bus/Bus.h"
#include "config/Config.h"
#include "core/Executor.h"
#include "core/Histogram.h"
#include "core/Metrics.h"
#include "core/Status.h"
#include "core/Timer.h"
#include "net/Reactor.h"
#include "net/Sender.h"
#include "rooms/Party.h"
#include "rooms/RoomRegistry.h"
#include "rooms/ShardRouter.h"

struct mg_context;
struct mg_connection;

namespace partyline {

struct Route;

struct HttpServerDeps {
    RoomRegistry& rooms;
    const Parties& parties;
    Bus& bus;
    net::Sender& sender;
    const Limits& limits;
    std::string nodeId;
    StaticFiles staticFiles;                // the pages served beside the rooms; empty: none
    std::function<Status()> ready;          // for /readyz
    std::function<void(Metrics&)> metrics;  // every metric but the server's own (writeMetrics)
    std::function<Status(const std::string& party)> reload;  // POST /v1/parties/:party/reload
    Histogram* publishSeconds = nullptr;       // a built-in broadcast until the log acknowledged it
    net::WriteRateLimit* writeRate = nullptr;  // limits.max_write_bytes_per_second_per_ip; null: none
    // Who may call the control surface, and which web pages may reach rooms (see AccessGate).
    std::vector<std::string> apiKeys{};
    bool apiInsecure = false;
    std::vector<std::string> origins{};
    PartyAuths auths{};  // each party's connection auth (parties.X.auth)
    // Peers whose X-Forwarded-For names the client (trusted_proxies).
    std::vector<std::string> trustedProxies{};
    std::string opsListen{};  // "host:port" of the probes' own listener (OpsListener); empty: none
    Timer* timer =
        nullptr;  // ends a multiplexed socket's room at its token's expiry; null: no GET /v1/connect
};

class HttpServer {
   public:
    // Listens on "host:port" (port 0 picks a free one).
    static Result<std::unique_ptr<HttpServer>> start(const std::string& listen, HttpServerDeps deps);
    ~HttpServer();  // drains (below) and waits for CivetWeb to stop

    uint16_t port() const { return port_; }
    // The port of ops_listen; 0 when there is none.
    uint16_t opsPort() const { return ops_ ? ops_->port() : 0; }
    size_t connections() const { return counters_.webSockets.load(); }
    // HTTP connections a CivetWeb worker holds now (an upgraded WebSocket leaves the count).
    size_t httpConnections() const { return counters_.http.load(); }
    // Any thread. Graceful drain: the listening socket closes (new connections are refused),
    // requests on open keep-alive connections get 503, every WebSocket is asked to close with 1001,
    // and requests in progress go on to their answer.
    void drain();
    // Any thread. No request is in progress and no WebSocket is open.
    bool drained() const;
    // Any thread. The server's own metrics: its counters, the access gate's refusals, the Sender's
    // and the Reactor's.
    void writeMetrics(Metrics& out) const;

   private:
    explicit HttpServer(HttpServerDeps deps) : deps_(std::move(deps)) {}
    // Before CivetWeb starts: the Reactor, the routers and the units that answer requests.
    void makeHandlers();
    static int dispatch(mg_connection* conn, void* self);
    static int onConnectionStart(const mg_connection* conn, void** connData);
    static void onConnectionClose(const mg_connection* conn);
    int handle(mg_connection* conn);
    // 400 or 431 for a request whose end is ambiguous or that has too many header fields.
    std::optional<int> refuseFraming(mg_connection* conn, const mg_request_info* ri);
    int handleOperations(mg_connection* conn, const Route& route);
    // A request on ops_listen: /healthz, /readyz and /metrics as on the main listener, else 404.
    int handleOpsRequest(mg_connection* conn);
    // 503 with Retry-After, counted in partyline_refused_total, and the connection closed afterwards.
    int refuse(mg_connection* conn, const std::string& why, int retryAfterSeconds);
    int handleRoom(mg_connection* conn, const Route& route);
    int handleConnect(mg_connection* conn);
    int handleRoomRequest(mg_connection* conn, const Route& route, const std::string& corsOrigin);
    int handleRouterRequest(mg_connection* conn, const Route& route, const std::string& corsOrigin);
    // GET and HEAD of a page: a file of staticFiles, or the node's index at /.
    int handleStatic(mg_connection* conn);
    std::optional<int> checkToken(mg_connection* conn, const std::string& party, const std::string& target,
                                  const std::string& room, HttpRequest& request);
    HttpResponse indexPage() const;
    // The request's client: its peer, or what a trusted proxy's X-Forwarded-For says.
    std::string clientOf(mg_connection* conn) const;

    HttpServerDeps deps_;
    TrustedProxies proxies_;   // trusted_proxies, for the client address of every request
    ServerCounters counters_;  // before the Reactor: its sessions count down at their close
    ShardRouters routers_;
    std::unique_ptr<net::Reactor> reactor_;  // reads the upgraded WebSockets
    // Where the joins of multiplexed sockets wait for their rooms (pl-join-N); stopped after the
    // Reactor, before what the joins use.
    std::unique_ptr<Executor> joins_;
    std::unique_ptr<WebSocketUpgrade> upgrade_;
    std::unique_ptr<LogEndpoints> logEndpoints_;      // the /v1/ control API
    std::unique_ptr<PresenceEndpoint> presence_;      // GET /v1/parties/:party/:room/presence
    std::unique_ptr<AccessGate> gate_;                // asked before the control API and every room
    std::unique_ptr<ConnectionAdmission> admission_;  // per-address limits, before a request is read
    ConnectionPeer peers_;                            // a new connection's peer, for admission_
    std::atomic<bool> peerLayoutWarned_{false};
    std::unique_ptr<BodyReader> bodies_;  // request bodies within limits.body_timeout_ms
    mg_context* ctx_ = nullptr;
    std::unique_ptr<OpsListener> ops_;  // stopped first: it calls into the gate and the Reactor
    std::once_flag drainOnce_;
    std::atomic<size_t> inFlight_{0};  // requests being handled now
    uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    size_t keepAliveBelow_ = 0;  // busy workers from which answers close their connection
};

}  // namespace partyline
