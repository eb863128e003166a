// HttpServer: the node's front door, on CivetWeb.
//
// CivetWeb accepts connections and parses HTTP requests; this class routes
// them (Router), answers the built-in endpoints, hands room requests to the
// room's shard, and upgrades WebSockets itself: it finds the connection's
// socket, answers the handshake and hands the socket to the Reactor, which
// reads frames with partyline's own parser; writes go through the Sender.
// CivetWeb's own
// WebSocket code is not used: it allocates a frame's declared length before
// reading it and its writes block on a client that does not read.
//
// Threads: handlers run on CivetWeb worker threads. They never run Lua: they
// post to shards and, for HTTP, wait for the shard's answer.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "bus/Bus.h"
#include "config/Config.h"
#include "core/Histogram.h"
#include "core/Status.h"
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
    std::string staticRoot;                // served at / (the examples); empty: none
    std::function<Status()> ready;         // for /readyz
    std::function<std::string()> metrics;  // the Prometheus text of everything but the server's own counters
    std::function<Status(const std::string& party)> reload;  // POST /v1/parties/:party/reload
    Histogram* publishSeconds = nullptr;  // a built-in broadcast until the log acknowledged it
};

class HttpServer {
   public:
    // Listens on "host:port" (port 0 picks a free one).
    static Result<std::unique_ptr<HttpServer>> start(const std::string& listen, HttpServerDeps deps);
    ~HttpServer();  // drains (below) and waits for CivetWeb to stop

    uint16_t port() const { return port_; }
    size_t connections() const { return connections_.load(); }
    // HTTP connections a CivetWeb worker holds now (an upgraded WebSocket leaves the count).
    size_t httpConnections() const { return httpConnections_.load(); }
    // Any thread. Graceful drain: the listening socket closes (new connections are refused),
    // requests on open keep-alive connections get 503, every WebSocket is asked to close with 1001,
    // and requests in progress go on to their answer.
    void drain();
    // Any thread. No request is in progress and no WebSocket is open.
    bool drained() const;
    // The server's own counters in Prometheus text format.
    std::string metrics() const;

   private:
    explicit HttpServer(HttpServerDeps deps) : deps_(std::move(deps)) {}
    static int dispatch(mg_connection* conn, void* self);
    static int onConnectionStart(const mg_connection* conn, void** connData);
    static void onConnectionClose(const mg_connection* conn);
    int handle(mg_connection* conn);
    int handleOperations(mg_connection* conn, const Route& route);
    // Connections other than `conn` (WebSockets and HTTP) are at limits.max_connections.
    bool atConnectionLimit() const;
    // 503 with Retry-After, and the connection closed afterwards.
    int refuse(mg_connection* conn, const std::string& why, int retryAfterSeconds);
    int handleUpgrade(mg_connection* conn, const Route& route);
    int handleRoomRequest(mg_connection* conn, const Route& route);
    int handleRouterRequest(mg_connection* conn, const Route& route);
    int handleBroadcast(mg_connection* conn, const Route& route);
    int handleHistory(mg_connection* conn, const Route& route);

    HttpServerDeps deps_;
    std::map<std::string, std::unique_ptr<ShardRouter>> routers_;  // by router party name
    std::unique_ptr<net::Reactor> reactor_;                        // reads the upgraded WebSockets
    mg_context* ctx_ = nullptr;
    std::once_flag drainOnce_;
    std::atomic<size_t> inFlight_{0};  // requests being handled now
    uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<size_t> connections_{0};
    std::atomic<size_t> httpConnections_{0};
    size_t keepAliveBelow_ = 0;  // busy workers from which answers close their connection
    std::atomic<uint64_t> refused_{0};
    std::atomic<uint64_t> requests_{0};
    std::atomic<uint64_t> messagesIn_{0};
};

}  // namespace partyline
