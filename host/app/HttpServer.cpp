#include "app/HttpServer.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <vector>

#include "app/ClientBundle.h"
#include "app/HttpIo.h"
#include "app/RequestFraming.h"
#include "app/RoomRefusal.h"
#include "app/Router.h"
#include "app/UpgradeRequest.h"
#include "core/Json.h"
#include "core/Log.h"
#include "core/ThreadName.h"
#include "net/SocketLocator.h"

namespace partyline {
namespace {

// The most a request's line and headers may take; CivetWeb reads no further.
constexpr size_t kMaxRequestHead = 16384;

// While mg_start runs on this thread: where CivetWeb's log lines go, for the start error.
thread_local std::string* tStartError = nullptr;

// CivetWeb waits this long for the next request on a kept-alive connection.
constexpr auto kKeepAliveTimeout = std::chrono::milliseconds(5000);
// Threads on which joins of multiplexed sockets wait for their rooms: a new room waits for the
// log's position (one NATS round trip), onBeforeConnect for its strand; four keep a burst of
// joins from queueing behind one slow room.
constexpr size_t kJoinThreads = 4;

// On each worker, since when it waits for a request's head, and whether the connection served
// one already: CivetWeb answers a head that missed its deadline "Malformed message", as it does
// a malformed one, and this tells the two apart.
thread_local std::chrono::steady_clock::time_point tHeadSince;
thread_local bool tKeptAlive = false;
std::chrono::milliseconds tHeadTimeout{10000};  // limits.header_timeout_ms, set once at start
// On each worker, the address its connection is counted against by ConnectionAdmission (empty:
// not counted). A worker holds one connection at a time, from init_connection to its close.
thread_local std::string tCountedPeer;

// One request to the node itself, so ConnectionPeer learns where CivetWeb keeps a connection's
// peer before any client arrives. Blocking, with a few seconds' bound; false if it got no answer.
bool askSelf(const std::string& listen, uint16_t port) {
    std::string host = listen.substr(0, listen.rfind(':'));
    if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) return false;
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval bound{3, 0};
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound) == 0 &&
              setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound) == 0 &&
              connect(fd, found->ai_addr, found->ai_addrlen) == 0;
    freeaddrinfo(found);
    const char request[] = "GET /healthz HTTP/1.0\r\n\r\n";
    char answer[256];
    ok = ok && ::send(fd, request, sizeof request - 1, MSG_NOSIGNAL) == ssize_t(sizeof request - 1) &&
         ::recv(fd, answer, sizeof answer, 0) > 0;
    if (fd >= 0) close(fd);
    return ok;
}

// Stops new connections on CivetWeb's listening socket without stopping CivetWeb (mg_stop would
// refuse to write the answers of requests in progress): the descriptor is pointed at a
// non-blocking socket listening on a free loopback port nobody knows, so CivetWeb's accept loop
// waits as before, and the real listener is shut down, which refuses new connections at once
// (its poll may still hold it for a moment). False if the listener was not found.
bool closeListener(uint16_t port) {
    int fd = net::findListeningSocket(port);
    if (fd < 0) return false;
    int listener = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int decoy = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in loopback{};
    loopback.sin_family = AF_INET;
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = listener >= 0 && decoy >= 0 &&
              bind(decoy, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback) == 0 &&
              listen(decoy, 1) == 0 && dup2(decoy, fd) >= 0;
    if (decoy >= 0) close(decoy);
    if (listener >= 0) {
        if (ok) shutdown(listener, SHUT_RDWR);
        close(listener);
    }
    return ok;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen, HttpServerDeps deps) {
    std::unique_ptr<HttpServer> server(new HttpServer(std::move(deps)));
    server->makeHandlers();
    // A CivetWeb worker serves one connection at a time, and an idle keep-alive connection holds
    // its worker until keep_alive_timeout_ms: past 3/4 of the workers busy, answers close their
    // connection, so idle clients can never hold every worker and leave new ones unanswered.
    size_t workers = server->deps_.limits.http_threads;
    server->keepAliveBelow_ = workers - workers / 4;
    std::string threads = std::to_string(workers);
    std::string maxHead = std::to_string(kMaxRequestHead);
    // A burst of new connections (clients reconnecting after a node went away) waits in the
    // kernel's accept queue while every worker is busy: CivetWeb's default of 200 overflowed
    // there, and each dropped handshake cost its client a 1 s SYN retransmission. The kernel caps
    // the backlog at net.core.somaxconn.
    std::string backlog =
        std::to_string(std::clamp<size_t>(server->deps_.limits.max_connections, 256, 65535));
    // CivetWeb's request_timeout_ms bounds the wait for a request's line and headers, from the
    // first byte the worker waits for to the last (and each write to a client that reads slowly).
    std::string headerTimeout = std::to_string(server->deps_.limits.header_timeout_ms.count());
    tHeadTimeout = server->deps_.limits.header_timeout_ms;
    std::string keepAlive = std::to_string(kKeepAliveTimeout.count());
    std::vector<const char*> options = {
        "listening_ports", listen.c_str(), "num_threads", threads.c_str(), "listen_backlog", backlog.c_str(),
        "request_timeout_ms", headerTimeout.c_str(), "enable_keep_alive", "yes", "tcp_nodelay", "1",
        "enable_directory_listing", "no", "decode_url", "no", "keep_alive_timeout_ms", keepAlive.c_str(),
        "max_request_size", maxHead.c_str(),
        // CivetWeb answers CORS preflights itself with "*" by
        // default: AccessGate answers them, for listed origins only.
        "access_control_allow_origin", "", "access_control_allow_methods", "", "access_control_allow_headers",
        "", nullptr};
    // No document_root: CivetWeb serves no file (so runs no CGI or SSI); StaticFiles does.
    mg_callbacks callbacks{};
    callbacks.init_connection = &HttpServer::onConnectionStart;
    // CivetWeb's threads by role: its accept loop, its workers (numbered), its timer.
    callbacks.init_thread = [](const mg_context*, int type) -> void* {
        static std::atomic<unsigned> workers{0};
        nameThisThread(type == 0   ? std::string("pl-http-accept")
                       : type == 1 ? "pl-http-" + std::to_string(workers++)
                                   : std::string("pl-http-timer"));
        return nullptr;
    };
    callbacks.connection_close = &HttpServer::onConnectionClose;
    callbacks.log_message = [](const mg_connection*, const char* message) {
        log::warn("http", message);
        if (tStartError) *tStartError += (tStartError->empty() ? "" : "; ") + std::string(message);
        return 1;
    };
    // A request CivetWeb cannot read is answered by CivetWeb before partyline sees it. Its
    // "Malformed message" also stands for a head over max_request_size (1.15 never answers 413
    // for that: a 64 KiB Authorization header got "Malformed message"), so the body says both.
    callbacks.http_error = [](mg_connection* conn, int status, const char* message) {
        // CivetWeb's 411 is a Content-Length that is negative or not a number: a malformed
        // request (RFC 9112 section 6.3), answered as RequestFraming answers the other forms.
        if (status == 411) {
            std::string out = encodeResponse(
                HttpResponse::text(400, "Content-Length must be a number of bytes in decimal digits\n"),
                false);
            mg_write(conn, out.data(), out.size());
            return 0;
        }
        if (status != 400 || !message || std::strcmp(message, "Malformed message") != 0) return 1;
        auto deadline = tKeptAlive ? std::min(tHeadTimeout, kKeepAliveTimeout) : tHeadTimeout;
        if (std::chrono::steady_clock::now() - tHeadSince >= deadline) {
            std::string out =
                encodeResponse(HttpResponse::text(408, "the request line and headers did not arrive within " +
                                                           std::to_string(deadline.count()) +
                                                           " ms (limits.header_timeout_ms)\n"),
                               false);
            mg_write(conn, out.data(), out.size());
            return 0;
        }
        std::string why =
            "the request cannot be read: it is malformed, or its request line and headers are over " +
            std::to_string(kMaxRequestHead) + " bytes\n";
        std::string out = encodeResponse(HttpResponse::text(400, why), false);
        mg_write(conn, out.data(), out.size());
        return 0;
    };
    mg_init_library(0);
    // CivetWeb says why it cannot listen ("cannot bind to ...: Address already in use") in its
    // log, on this thread, and only "Failed to setup server ports" in its error text.
    std::string why;
    tStartError = &why;
    char summary[256] = "";
    unsigned code = 0;
    mg_init_data init{&callbacks, server.get(), options.data()};
    mg_error_data error{&code, summary, sizeof summary};
    server->ctx_ = mg_start2(&init, &error);
    tStartError = nullptr;
    if (!server->ctx_)
        return Status(Code::Unavailable, "cannot listen on " + listen + ": " +
                                             (!why.empty() ? why
                                              : summary[0] ? summary
                                                           : "unknown error"));
    // The authorization hook is the one CivetWeb calls for every request,
    // WebSocket upgrades included, before its own handling: partyline answers
    // there and lets CivetWeb go on only for static files.
    mg_set_auth_handler(server->ctx_, "/", &HttpServer::dispatch, server.get());
    mg_server_port ports[4];
    int n = mg_get_server_ports(server->ctx_, 4, ports);
    if (n > 0) server->port_ = uint16_t(ports[0].port);
    if (!askSelf(listen, server->port_) || !server->peers_.known())
        log::warn("http", "the per-address limits apply from the first request a client completes");
    if (!server->deps_.opsListen.empty()) {
        HttpServer* self = server.get();
        auto ops = OpsListener::start(server->deps_.opsListen, server->deps_.limits.header_timeout_ms,
                                      [self](mg_connection* conn) { return self->handleOpsRequest(conn); });
        if (!ops) return ops.status();
        server->ops_ = std::move(ops).value();
        log::info("http", "/healthz, /readyz and /metrics also answer on " + server->deps_.opsListen,
                  {{"port", std::to_string(server->ops_->port())}});
    }
    return server;
}

// WebSockets leave CivetWeb once upgraded (see Reactor.h), so its workers
// serve HTTP only; WebSockets past max_connections get a 503.
void HttpServer::makeHandlers() {
    reactor_ = std::make_unique<net::Reactor>(deps_.limits.max_pending_input_bytes);
    for (const auto& [name, party] : deps_.parties.all())
        if (party->isRouter())
            routers_.emplace(name, std::make_unique<ShardRouter>(party->router(), deps_.rooms));
    proxies_ = TrustedProxies(deps_.trustedProxies);
    joins_ = std::make_unique<Executor>(kJoinThreads, "pl-join");
    upgrade_ = std::make_unique<WebSocketUpgrade>(
        WebSocketUpgradeDeps{deps_.rooms, deps_.parties, routers_, deps_.sender, *reactor_, deps_.limits,
                             counters_, deps_.auths, &proxies_, joins_.get(), deps_.timer});
    bodies_ = std::make_unique<BodyReader>(deps_.limits.body_timeout_ms);
    logEndpoints_ = std::make_unique<LogEndpoints>(
        LogEndpointsDeps{deps_.rooms, deps_.parties, routers_, deps_.bus, deps_.limits, deps_.reload,
                         deps_.publishSeconds, bodies_.get(), deps_.writeRate, &proxies_});
    presence_ = std::make_unique<PresenceEndpoint>(deps_.rooms, deps_.parties);
    gate_ = std::make_unique<AccessGate>(deps_.apiKeys, deps_.apiInsecure, deps_.origins, proxies_);
    admission_ = std::make_unique<ConnectionAdmission>(deps_.limits, proxies_);
    counters_.countedPeer = [] { return tCountedPeer; };
    counters_.releasePeer = [this](std::string_view peer) { admission_->release(peer); };
    log::info("http", gate_->control().describe());
}

HttpServer::~HttpServer() {
    ops_.reset();
    drain();
    if (ctx_) mg_stop(ctx_);     // joins the workers: no upgrade is half done
    reactor_.reset();            // closes what is still open, 1001
    if (joins_) joins_->stop();  // a join under way finishes with what it uses still here
}

void HttpServer::drain() {
    stopping_ = true;
    if (reactor_) reactor_->drain();
    std::call_once(drainOnce_, [this] {
        if (ctx_ && !closeListener(port_))
            log::warn("http", "cannot close the listening socket; new connections get 503 while draining",
                      {{"port", std::to_string(port_)}});
    });
}

bool HttpServer::drained() const {
    // The connection that asked for nothing yet counts too: its request may be on the way.
    return inFlight_.load() == 0 && (!reactor_ || reactor_->size() == 0);
}

// Returns 0: every request is answered here (CivetWeb has no document_root to serve from).
int HttpServer::dispatch(mg_connection* conn, void* self) {
    auto* server = static_cast<HttpServer*>(self);
    if (isRefused(conn)) return 0;  // answered when the connection came, and shut down
    if (!server->peers_.learn(conn) && !server->peerLayoutWarned_.exchange(true))
        log::error(
            "http",
            "CivetWeb's connection layout is not the one learned; per-address limits may misread peers");
    struct InFlight {
        std::atomic<size_t>& count;
        explicit InFlight(std::atomic<size_t>& c) : count(c) { count++; }
        ~InFlight() { count--; }
    } inFlight(server->inFlight_);
    // Once answered, the worker waits for the connection's next request.
    struct NextHead {
        ~NextHead() {
            tHeadSince = std::chrono::steady_clock::now();
            tKeptAlive = true;
        }
    } nextHead;
    // No exception may cross into CivetWeb.
    try {
        return server->handle(conn) == 0 ? 1 : 0;
    } catch (const std::exception& e) {
        log::error("http", std::string("request failed: ") + e.what());
        sendText(conn, 500, "internal error");
        return 0;
    }
}

// CivetWeb worker, when it takes a connection and before it reads a request.
// Refuses it there, past the per-address limits (ConnectionAdmission).
int HttpServer::onConnectionStart(const mg_connection* conn, void** connData) {
    auto* server = static_cast<HttpServer*>(mg_get_user_data(mg_get_context(conn)));
    tHeadSince = std::chrono::steady_clock::now();
    tKeptAlive = false;
    tCountedPeer.clear();
    *connData = nullptr;
    server->counters_.http++;
    auto peer = server->peers_.peerOf(conn);
    if (!peer) return 0;  // before the first request: not counted
    // Scarce as for keep-alive (past 3/4 of the workers busy, this connection counted): then an
    // address keeps to its share of the workers.
    const bool scarce = server->counters_.http.load() > server->keepAliveBelow_;
    switch (server->admission_->admit(*peer, scarce)) {
        case ConnectionAdmission::Verdict::Counted:
            tCountedPeer = std::move(peer->address);
            break;
        case ConnectionAdmission::Verdict::Uncounted:
            break;
        case ConnectionAdmission::Verdict::Refused:
            *connData = refusedMark();
            break;
    }
    return 0;
}

// CivetWeb worker, when the connection is closed. An upgraded connection's address is given back
// when its WebSocket closes (ServerCounters::releasePeer).
void HttpServer::onConnectionClose(const mg_connection* conn) {
    auto* server = static_cast<HttpServer*>(mg_get_user_data(mg_get_context(conn)));
    // The worker is free either way: an upgraded connection went on to the Reactor.
    if (!tCountedPeer.empty()) server->admission_->releaseWorker(tCountedPeer);
    if (isUpgraded(conn)) return;
    server->counters_.http--;
    if (!tCountedPeer.empty()) server->admission_->release(tCountedPeer);
    tCountedPeer.clear();
}

int HttpServer::refuse(mg_connection* conn, const std::string& why, int retryAfterSeconds) {
    counters_.refused++;
    return partyline::refuse(conn, why, retryAfterSeconds);
}

int HttpServer::handle(mg_connection* conn) {
    counters_.requests++;
    const mg_request_info* ri = mg_get_request_info(conn);
    if (auto refused = refuseFraming(conn, ri)) return *refused;
    std::string raw = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    Route r = route(raw);
    if (counters_.http.load() >= keepAliveBelow_) closeAfterAnswer(conn);
    if (r.kind == Route::Kind::Health || r.kind == Route::Kind::Ready) return handleOperations(conn, r);
    // The control surface: every /v1/ path (one the Router refuses too, so a caller without a key
    // learns nothing of it) and /metrics.
    // GET /v1/connect is a room's WebSocket, many times over: the rules of a room, not the key.
    const bool control = r.kind != Route::Kind::Connect && (raw.rfind("/v1/", 0) == 0 || raw == "/v1");
    if (r.kind == Route::Kind::Metrics || control) {
        if (auto refused = gate_->refuseControl(conn, ri)) return *refused;
        if (r.kind == Route::Kind::Metrics) return handleOperations(conn, r);
    }
    if (stopping_) return refuse(conn, "server is shutting down; retry on another node", kRetryAfterDraining);
    if (counters_.atLimit(deps_.limits.max_connections))
        return refuse(conn,
                      "connection limit of " + std::to_string(deps_.limits.max_connections) + " reached",
                      kRetryAfterAtLimit);
    switch (r.kind) {
        case Route::Kind::Health:
        case Route::Kind::Ready:
        case Route::Kind::Metrics:
            break;  // answered above
        case Route::Kind::BadRequest:
            return sendText(conn, 400, r.error);
        case Route::Kind::Broadcast:
        case Route::Kind::History:
        case Route::Kind::Reload:
            return logEndpoints_->handle(conn, r);
        case Route::Kind::Presence:
            return presence_->handle(conn, r, clientOf(conn));
        case Route::Kind::Room:
            return handleRoom(conn, r);
        case Route::Kind::Connect:
            return handleConnect(conn);
        case Route::Kind::Other:
            break;
    }
    return handleStatic(conn);
}

std::string HttpServer::clientOf(mg_connection* conn) const {
    const mg_request_info* ri = mg_get_request_info(conn);
    return proxies_.clientOf(ri->remote_addr, headersOf(ri).find("x-forwarded-for"));
}

std::optional<int> HttpServer::refuseFraming(mg_connection* conn, const mg_request_info* ri) {
    HeaderFields fields;
    fields.reserve(size_t(ri->num_headers));
    for (int i = 0; i < ri->num_headers; ++i)
        fields.emplace_back(ri->http_headers[i].name, ri->http_headers[i].value);
    auto refusal = checkFraming(fields, deps_.limits.max_headers);
    if (!refusal) return std::nullopt;
    closeAfterAnswer(conn);  // where this request ends, and so where the next begins, is unknown
    return sendText(conn, refusal->status, refusal->why);
}

int HttpServer::handleRoom(mg_connection* conn, const Route& r) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto admission = gate_->admitRoom(conn, ri);
    if (admission.answered) return *admission.answered;
    if (UpgradeRequest::isUpgrade(headersOf(ri))) return upgrade_->handle(conn, r);
    return handleRoomRequest(conn, r, admission.corsOrigin);
}

// GET /v1/connect: who may open a room's WebSocket may open this one (origins here, the per-address
// limits before the request, the party's auth at each join).
int HttpServer::handleConnect(mg_connection* conn) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto admission = gate_->admitRoom(conn, ri);
    if (admission.answered) return *admission.answered;
    if (!UpgradeRequest::isUpgrade(headersOf(ri))) {
        HttpResponse answer =
            HttpResponse::text(426, "GET /v1/connect is a WebSocket: upgrade with partyline.mux.v1\n");
        answer.headers.emplace_back("Upgrade", "websocket");
        return send(conn, answer);
    }
    return upgrade_->handleMux(conn);
}

// The node's own page at / when no folder is mounted there: its parties and its pages.
HttpResponse HttpServer::indexPage() const {
    auto escape = [](const std::string& text) {
        std::string out;
        for (char c : text) {
            switch (c) {
                case '<':
                    out += "&lt;";
                    break;
                case '>':
                    out += "&gt;";
                    break;
                case '&':
                    out += "&amp;";
                    break;
                case '"':
                    out += "&quot;";
                    break;
                default:
                    out += c;
            }
        }
        return out;
    };
    std::string html =
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>partyline</title>"
        "<link rel=\"icon\" href=\"data:,\"></head>\n<body>\n<h1>partyline node " +
        escape(deps_.nodeId) + "</h1>\n<h2>Parties</h2>\n<ul>\n";
    for (const auto& [name, party] : deps_.parties.all()) {
        html += "<li><code>" + escape(name) + "</code>: <code>ws://HOST/parties/" + escape(name) +
                "/ROOM</code>" + (party->isRouter() ? " (router)" : "") + "</li>\n";
    }
    html += "</ul>\n<h2>Pages</h2>\n<ul>\n";
    for (const auto& mount : deps_.staticFiles.mounts()) {
        html += "<li><a href=\"" + escape(mount.prefix) + "\">" + escape(mount.prefix) + "</a></li>\n";
    }
    html += "</ul>\n</body></html>\n";
    return {200, {{"Content-Type", "text/html; charset=utf-8"}}, html};
}

int HttpServer::handleStatic(mg_connection* conn) {
    const mg_request_info* ri = mg_get_request_info(conn);
    if (ri->local_uri && kClientBundlePath == ri->local_uri)
        return send(conn, clientBundleResponse(ri->request_method, headersOf(ri).find("if-none-match")));
    if (strcmp(ri->request_method, "GET") && strcmp(ri->request_method, "HEAD"))
        return sendText(conn, 404, "not found");
    std::string path = ri->local_uri ? ri->local_uri : "/";
    if (path == "/" && !deps_.staticFiles.hasRoot()) return send(conn, indexPage());
    auto file = deps_.staticFiles.resolve(path);
    switch (file.kind) {
        case StaticFiles::Resolved::Kind::File:
            mg_send_mime_file(conn, file.path.c_str(), nullptr);
            return 200;
        case StaticFiles::Resolved::Kind::Redirect:
            return send(conn, {301, {{"Location", file.path}}, {}});
        case StaticFiles::Resolved::Kind::NotFound:
            break;
    }
    return sendText(conn, 404, "not found");
}

// Health, readiness and metrics answer whatever the load, so probes and scrapes see an overloaded
// node as it is. Readiness says 503 at the connection limit: a load balancer sends clients elsewhere.
int HttpServer::handleOperations(mg_connection* conn, const Route& r) {
    switch (r.kind) {
        case Route::Kind::Health:
            return sendText(conn, 200, "ok");
        case Route::Kind::Ready: {
            if (stopping_) return sendText(conn, 503, "draining");
            if (counters_.atLimit(deps_.limits.max_connections))
                return sendText(conn, 503,
                                "at the connection limit of " + std::to_string(deps_.limits.max_connections));
            Status ready = deps_.ready();
            return ready ? sendText(conn, 200, "ready")
                         : sendText(conn, 503, "not ready: " + ready.message());
        }
        default: {
            Metrics out;
            if (deps_.metrics) deps_.metrics(out);
            writeMetrics(out);
            return send(conn, {200, {{"Content-Type", "text/plain; version=0.0.4"}}, out.text()});
        }
    }
}

int HttpServer::handleOpsRequest(mg_connection* conn) {
    const mg_request_info* ri = mg_get_request_info(conn);
    Route r = route(ri->local_uri_raw ? ri->local_uri_raw : "");
    switch (r.kind) {
        case Route::Kind::Metrics:
            if (auto refused = gate_->refuseControl(conn, ri)) return *refused;
            return handleOperations(conn, r);
        case Route::Kind::Health:
        case Route::Kind::Ready:
            return handleOperations(conn, r);
        default:
            return sendText(conn, 404,
                            "this listener (ops_listen) answers /healthz, /readyz and /metrics only");
    }
}

int HttpServer::handleRoomRequest(mg_connection* conn, const Route& route, const std::string& corsOrigin) {
    const Party* party = deps_.parties.find(route.party);
    if (!party) return sendText(conn, 404, "no party named '" + route.party + "'");
    if (party->isRouter()) return handleRouterRequest(conn, route, corsOrigin);
    if (auto script = party->script(); !script->error.isOk())
        return sendText(conn, 500,
                        "party '" + route.party + "' cannot run its script: " + script->error.message());
    HttpRequest request = makeRequest(conn, route);
    request.remoteAddr = clientOf(conn);
    if (auto refused = checkToken(conn, route.party, route.party, route.room, request)) return *refused;
    if (Status body = bodies_->read(conn, deps_.limits.max_message_bytes, request.body); !body)
        return BodyReader::refuse(conn, body);
    auto shard = deps_.rooms.open(route.party, route.room, request.remoteAddr);
    if (!shard) return send(conn, roomRefusal(shard.status()));
    Waiter<HttpResponse> waiter;
    shard.value()->request(std::move(request), waiter.callback());
    if (waiter.future.wait_for(kRequestTimeout) != std::future_status::ready)
        return sendText(conn, 504, "the room did not answer in time");
    HttpResponse answer = waiter.future.get();
    AccessGate::addCors(answer, corsOrigin);
    return send(conn, answer);
}

// A room request under a party with auth carries a valid token (or none, when not required); its
// claims become req.auth. The refusal's status when it does not, before the body is read.
std::optional<int> HttpServer::checkToken(mg_connection* conn, const std::string& party,
                                          const std::string& target, const std::string& room,
                                          HttpRequest& request) {
    const ConnectionAuth* auth = deps_.auths.authFor(party, target);
    if (!auth) return std::nullopt;
    auto outcome = auth->check(request, party, room, epochSeconds());
    if (outcome.status) {
        closeAfterAnswer(conn);  // its body is never read
        return send(conn, refusalOf(outcome));
    }
    if (outcome.identity) request.auth = std::move(outcome.identity->claims);
    return std::nullopt;
}

// A request to a router room goes to every shard room; the answer comes when
// all of them answered: 200 when every one answered 2xx, else 502, with each
// room's status and body.
int HttpServer::handleRouterRequest(mg_connection* conn, const Route& route, const std::string& corsOrigin) {
    ShardRouter& router = *routers_.at(route.party);
    if (auto script = deps_.parties.find(router.target())->script(); !script->error.isOk())
        return sendText(conn, 500,
                        "party '" + router.target() + "' cannot run its script: " + script->error.message());
    HttpRequest request = makeRequest(conn, route);
    request.remoteAddr = clientOf(conn);
    if (auto refused = checkToken(conn, route.party, router.target(), route.room, request)) return *refused;
    if (Status body = bodies_->read(conn, deps_.limits.max_message_bytes, request.body); !body)
        return BodyReader::refuse(conn, body);
    auto rooms = router.shardRooms(route.room);
    std::vector<Waiter<HttpResponse>> waiters(rooms.size());
    for (size_t i = 0; i < rooms.size(); ++i) {
        auto shard = deps_.rooms.open(router.target(), rooms[i], request.remoteAddr);
        if (!shard) return send(conn, roomRefusal(shard.status()));
        shard.value()->request(request, waiters[i].callback());
    }
    auto deadline = std::chrono::steady_clock::now() + kRequestTimeout;
    bool allOk = true;
    std::string json = "{\"rooms\":[";
    for (size_t i = 0; i < rooms.size(); ++i) {
        if (waiters[i].future.wait_until(deadline) != std::future_status::ready)
            return sendText(conn, 504, "room " + rooms[i] + " did not answer in time");
        HttpResponse response = waiters[i].future.get();
        allOk &= response.status >= 200 && response.status < 300;
        json += (i ? ",{" : "{") + std::string("\"room\":") + jsonQuote(rooms[i]) +
                ",\"status\":" + std::to_string(response.status) + ",\"body\":" + jsonQuote(response.body) +
                "}";
    }
    HttpResponse answer = HttpResponse::json(allOk ? 200 : 502, json + "]}");
    AccessGate::addCors(answer, corsOrigin);
    return send(conn, answer);
}

void HttpServer::writeMetrics(Metrics& out) const {
    out.gauge("partyline_connections", "Open WebSocket connections.", counters_.webSockets.load());
    out.gauge("partyline_mux_rooms", "Rooms joined over partyline.mux.v1 sockets (GET /v1/connect).",
              counters_.muxRooms.load());
    out.counter("partyline_http_requests_total", "HTTP requests received.", counters_.requests.load());
    out.counter("partyline_messages_in_total", "WebSocket messages received.", counters_.messagesIn.load());
    out.gauge("partyline_http_connections", "HTTP connections held by a worker thread.",
              counters_.http.load());
    out.counter("partyline_refused_total",
                "Upgrades and requests answered 503 at the connection limit or while draining.",
                counters_.refused.load());
    out.counter("partyline_api_refused_total",
                "Control API requests refused: no key, a wrong key, or not loopback.",
                gate_->controlRefusals());
    out.counter("partyline_origin_refused_total",
                "Room requests and upgrades refused for their browser Origin.", gate_->originRefusals());
    out.counter("partyline_per_ip_refused_total",
                "New connections refused for their address: over limits.max_connections_per_ip (503).",
                admission_->refusedConnections());
    out.counter("partyline_per_ip_rate_refused_total",
                "New connections refused for their address: over "
                "limits.max_new_connections_per_ip_per_second (429).",
                admission_->refusedRate());
    deps_.sender.writeMetrics(out);
    reactor_->writeMetrics(out);
}

}  // namespace partyline
