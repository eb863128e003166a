#include "app/HttpServer.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <random>
#include <string_view>
#include <vector>

#include "app/HistoryQuery.h"
#include "app/HttpHeaders.h"
#include "app/Router.h"
#include "app/UpgradeRequest.h"
#include "core/Log.h"
#include "lua/Json.h"
#include "net/Reactor.h"
#include "net/SessionHandler.h"
#include "net/SocketLocator.h"
#include "net/WebSocketProtocol.h"

namespace partyline {
namespace {

// Marks a connection whose socket went to the Reactor: it left the HTTP count already.
char kUpgradedMarker;
// Marks a connection to close after this answer, whatever the request asked for.
char kCloseAfterAnswer;

void closeAfterAnswer(mg_connection* conn) {
    mg_set_user_connection_data(conn, &kCloseAfterAnswer);
    mg_disable_connection_keep_alive(conn);
}
// Seconds a refused client should wait: at the limit, and while this node drains (go elsewhere).
constexpr int kRetryAfterAtLimit = 5;
constexpr int kRetryAfterDraining = 1;
// How long an HTTP request waits for its room handler or the log's acknowledgement.
constexpr auto kRequestTimeout = std::chrono::seconds(30);
// How long an upgrade waits for a new shard to learn the log's position.
constexpr auto kRoomStartTimeout = std::chrono::seconds(5);
// Writes in one batch broadcast: enough to fill the bus's send window in a few requests, few
// enough that one request cannot queue an unbounded backlog of publishes.
constexpr size_t kMaxBatchWrites = 1000;
constexpr const char* kBatchType = "application/x-ndjson";

// While mg_start runs on this thread: where CivetWeb's log lines go, for the start error.
thread_local std::string* tStartError = nullptr;

class OutboxClient : public Client {
   public:
    OutboxClient(std::string id, bool versioned, std::shared_ptr<net::Outbox> outbox)
        : id_(std::move(id)), versioned_(versioned), outbox_(std::move(outbox)) {}
    const std::string& id() const override { return id_; }
    bool versioned() const override { return versioned_; }
    void send(const FramePtr& frame) override { outbox_->send(frame); }
    void sendNow(const FramePtr& frame) override { outbox_->sendNow(frame); }
    void close(uint16_t code, std::string_view reason) override { outbox_->close(code, reason); }
    bool closed() const override { return outbox_->closed(); }
    size_t queuedBytes() const override { return outbox_->queuedBytes(); }

   private:
    std::string id_;
    bool versioned_;
    std::shared_ptr<net::Outbox> outbox_;
};

// Frames read on the CivetWeb worker go to the shard's strand.
// Reactor thread: frames go to the shard's strand.
class RoomSession : public net::SessionHandler {
   public:
    RoomSession(std::shared_ptr<Shard> shard, std::shared_ptr<Client> client,
                std::atomic<uint64_t>& messagesIn, std::atomic<size_t>& connections)
        : shard_(std::move(shard)),
          client_(std::move(client)),
          messagesIn_(messagesIn),
          connections_(connections) {}
    void onMessage(std::string payload, bool binary) override {
        messagesIn_++;
        shard_->receive(client_, std::move(payload), binary);
    }
    void onClosed(uint16_t code, std::string_view reason) override {
        shard_->disconnect(client_, code, std::string(reason));
        connections_--;
    }

   private:
    std::shared_ptr<Shard> shard_;
    std::shared_ptr<Client> client_;
    std::atomic<uint64_t>& messagesIn_;
    std::atomic<size_t>& connections_;
};

// Takes the connection's socket away from CivetWeb: a duplicate goes to the
// Reactor, and CivetWeb's descriptor number is pointed at an unconnected
// socket, which it closes when the handler returns. Returns the duplicate, or
// -1 (the connection then stays CivetWeb's).
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

int takeSocket(int fd) {
    int ours = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (ours < 0) return -1;
    int placeholder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (placeholder < 0 || dup2(placeholder, fd) < 0) {
        if (placeholder >= 0) close(placeholder);
        close(ours);
        return -1;
    }
    close(placeholder);
    return ours;
}

const char* reasonPhrase(int status) {
    switch (status) {
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 204:
            return "No Content";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 409:
            return "Conflict";
        case 413:
            return "Payload Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        default:
            return "Status";
    }
}

// Whether CivetWeb reads another request from this connection after the answer: its own rule
// (a Connection header decides, else HTTP/1.1 keeps it), except that a request that asked for an
// upgrade is answered and closed.
bool keepsAlive(mg_connection* conn) {
    if (mg_get_user_connection_data(conn) == &kCloseAfterAnswer) return false;
    if (mg_get_header(conn, "Upgrade")) return false;
    if (const char* connection = mg_get_header(conn, "Connection"))
        return HttpHeaders::listHasToken(connection, "keep-alive");
    const char* version = mg_get_request_info(conn)->http_version;
    return version && strcmp(version, "1.1") == 0;
}

// The whole answer in one buffer and one write: CivetWeb's header API sends every header line
// on its own (8 TCP segments for a broadcast's answer, with tcp_nodelay).
// Head and body in one buffer, for one write.
std::string encodeResponse(const HttpResponse& response, bool keepAlive) {
    std::string out;
    out.reserve(160 + response.body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += reasonPhrase(response.status);
    out += "\r\n";
    for (const auto& [name, value] : response.headers)
        out.append(name).append(": ").append(value).append("\r\n");
    out += "Content-Length: ";
    out += std::to_string(response.body.size());
    // Clients close idle connections before the server's keep_alive_timeout_ms (5 s), so a
    // request never races the server's close.
    out += keepAlive ? "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=4\r\n\r\n"
                     : "\r\nConnection: close\r\n\r\n";
    out += response.body;
    return out;
}

int send(mg_connection* conn, const HttpResponse& response) {
    const bool keepAlive = keepsAlive(conn);
    if (!keepAlive) mg_disable_connection_keep_alive(conn);
    std::string out = encodeResponse(response, keepAlive);
    mg_write(conn, out.data(), out.size());
    return response.status;
}

int sendText(mg_connection* conn, int status, const std::string& body) {
    return send(conn, HttpResponse::text(status, body + "\n"));
}

int statusFor(Code code) {
    switch (code) {
        case Code::InvalidArgument:
            return 400;
        case Code::NotFound:
            return 404;
        case Code::Conflict:
            return 409;
        case Code::TooLarge:
            return 413;
        case Code::Unavailable:
        case Code::ResourceExhausted:
            return 503;
        case Code::Timeout:
            return 504;
        default:
            return 500;
    }
}

HttpHeaders headersOf(const mg_request_info* ri) {
    HttpHeaders headers;
    for (int i = 0; i < ri->num_headers; ++i)
        headers.add(ri->http_headers[i].name, ri->http_headers[i].value);
    return headers;
}

std::map<std::string, std::string> queryOf(const mg_request_info* ri) {
    return ri->query_string ? parseQuery(ri->query_string) : std::map<std::string, std::string>{};
}

// Reads the whole body, refusing more than `limit` bytes before reading them when the length is declared.
Status readBody(mg_connection* conn, size_t limit, std::string& body) {
    const mg_request_info* ri = mg_get_request_info(conn);
    if (ri->content_length > 0 && size_t(ri->content_length) > limit)
        return Status(Code::TooLarge, "body of " + std::to_string(ri->content_length) +
                                          " bytes is over limits.max_message_bytes (" +
                                          std::to_string(limit) + ")");
    char buffer[16384];
    for (;;) {
        int n = mg_read(conn, buffer, sizeof buffer);
        if (n < 0) return Status(Code::InvalidArgument, "the request body could not be read");
        if (n == 0) return Status::ok();
        if (body.size() + size_t(n) > limit)
            return Status(Code::TooLarge,
                          "body is over limits.max_message_bytes (" + std::to_string(limit) + ")");
        body.append(buffer, size_t(n));
    }
}

std::string newConnectionId() {
    thread_local std::mt19937_64 random{std::random_device{}()};
    char id[33];
    std::snprintf(id, sizeof id, "%016llx%016llx", (unsigned long long)random(),
                  (unsigned long long)random());
    return id;
}

HttpRequest makeRequest(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    HttpRequest request;
    request.method = ri->request_method;
    // decode_url is off, so CivetWeb leaves the path as the client sent it.
    request.url = ri->local_uri_raw ? ri->local_uri_raw : "";
    if (!percentDecode(request.url, request.path, false)) request.path = request.url;
    if (ri->query_string) {
        request.url += '?';
        request.url += ri->query_string;
        request.query = parseQuery(ri->query_string);
    }
    request.rest = route.rest;
    HttpHeaders headers = headersOf(ri);
    request.headers = {headers.all().begin(), headers.all().end()};
    request.remoteAddr = ri->remote_addr;
    return request;
}

// Waits on a CivetWeb worker for an answer produced on another thread.
template <class T>
struct Waiter {
    std::shared_ptr<std::promise<T>> promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    std::function<void(T)> callback() {
        return [p = promise](T value) { p->set_value(std::move(value)); };
    }
};

// The log's answers to the publishes of one broadcast, collected for the CivetWeb worker that
// waits for all of them. Callbacks run on bus threads.
class Acks : public std::enable_shared_from_this<Acks> {
   public:
    explicit Acks(size_t count)
        : results_(count, Status(Code::Unavailable, "no acknowledgement from the log in time")),
          remaining_(count) {}
    PublishCallback callback(size_t index) {
        return [self = shared_from_this(), index](Result<uint64_t> result) {
            std::lock_guard lock(self->mutex_);
            self->results_[index] = std::move(result);
            if (--self->remaining_ == 0) self->done_.notify_one();
        };
    }
    // Worker thread. Results not answered by the deadline stay "no acknowledgement in time".
    const std::vector<Result<uint64_t>>& wait(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        done_.wait_until(lock, deadline, [&] { return remaining_ == 0; });
        return results_;
    }

   private:
    std::mutex mutex_;
    std::condition_variable done_;
    std::vector<Result<uint64_t>> results_;
    size_t remaining_;
};

// The writes of a batch broadcast: each non-empty line of the body, without its line end.
std::vector<std::string> splitLines(std::string_view body) {
    std::vector<std::string> lines;
    while (!body.empty()) {
        size_t end = body.find('\n');
        std::string_view line = body.substr(0, end);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty()) lines.emplace_back(line);
        if (end == std::string_view::npos) break;
        body.remove_prefix(end + 1);
    }
    return lines;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen, HttpServerDeps deps) {
    std::unique_ptr<HttpServer> server(new HttpServer(std::move(deps)));
    // WebSockets leave CivetWeb once upgraded (see Reactor.h), so its workers
    // serve HTTP only; WebSockets past max_connections get a 503.
    server->reactor_ = std::make_unique<net::Reactor>();
    // A CivetWeb worker serves one connection at a time, and an idle keep-alive connection holds
    // its worker until keep_alive_timeout_ms: past 3/4 of the workers busy, answers close their
    // connection, so idle clients can never hold every worker and leave new ones unanswered.
    size_t workers = server->deps_.limits.http_threads;
    server->keepAliveBelow_ = workers - workers / 4;
    std::string threads = std::to_string(workers);
    // A burst of new connections (clients reconnecting after a node went away) waits in the
    // kernel's accept queue while every worker is busy: CivetWeb's default of 200 overflowed
    // there, and each dropped handshake cost its client a 1 s SYN retransmission. The kernel caps
    // the backlog at net.core.somaxconn.
    std::string backlog =
        std::to_string(std::clamp<size_t>(server->deps_.limits.max_connections, 256, 65535));
    std::vector<const char*> options = {"listening_ports",
                                        listen.c_str(),
                                        "num_threads",
                                        threads.c_str(),
                                        "listen_backlog",
                                        backlog.c_str(),
                                        "request_timeout_ms",
                                        "30000",
                                        "enable_keep_alive",
                                        "yes",
                                        "tcp_nodelay",
                                        "1",
                                        "enable_directory_listing",
                                        "no",
                                        "decode_url",
                                        "no",
                                        "keep_alive_timeout_ms",
                                        "5000",
                                        "max_request_size",
                                        "16384"};
    if (!server->deps_.staticRoot.empty()) {
        options.push_back("document_root");
        options.push_back(server->deps_.staticRoot.c_str());
    }
    options.push_back(nullptr);
    mg_callbacks callbacks{};
    callbacks.init_connection = &HttpServer::onConnectionStart;
    callbacks.connection_close = &HttpServer::onConnectionClose;
    callbacks.log_message = [](const mg_connection*, const char* message) {
        log::warn("http", message);
        if (tStartError) *tStartError += (tStartError->empty() ? "" : "; ") + std::string(message);
        return 1;
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
    for (const auto& [name, party] : server->deps_.parties.all())
        if (party->isRouter())
            server->routers_.emplace(name,
                                     std::make_unique<ShardRouter>(party->router(), server->deps_.rooms));
    mg_set_auth_handler(server->ctx_, "/", &HttpServer::dispatch, server.get());
    mg_server_port ports[4];
    int n = mg_get_server_ports(server->ctx_, 4, ports);
    if (n > 0) server->port_ = uint16_t(ports[0].port);
    return server;
}

HttpServer::~HttpServer() {
    drain();
    if (ctx_) mg_stop(ctx_);  // joins the workers: no upgrade is half done
    reactor_.reset();         // closes what is still open, 1001
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

// Returns 1 to let CivetWeb serve a static file, 0 when the request was answered.
int HttpServer::dispatch(mg_connection* conn, void* self) {
    auto* server = static_cast<HttpServer*>(self);
    struct InFlight {
        std::atomic<size_t>& count;
        explicit InFlight(std::atomic<size_t>& c) : count(c) { count++; }
        ~InFlight() { count--; }
    } inFlight(server->inFlight_);
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
int HttpServer::onConnectionStart(const mg_connection* conn, void** connData) {
    *connData = nullptr;
    static_cast<HttpServer*>(mg_get_user_data(mg_get_context(conn)))->httpConnections_++;
    return 0;
}

// CivetWeb worker, when the connection is closed.
void HttpServer::onConnectionClose(const mg_connection* conn) {
    if (mg_get_user_connection_data(conn) == &kUpgradedMarker) return;
    static_cast<HttpServer*>(mg_get_user_data(mg_get_context(conn)))->httpConnections_--;
}

bool HttpServer::atConnectionLimit() const {
    size_t http = httpConnections_.load();
    return connections_.load() + (http > 0 ? http - 1 : 0) >= deps_.limits.max_connections;
}

int HttpServer::refuse(mg_connection* conn, const std::string& why, int retryAfterSeconds) {
    refused_++;
    closeAfterAnswer(conn);
    HttpResponse response = HttpResponse::text(503, why + "\n");
    response.headers.emplace_back("Retry-After", std::to_string(retryAfterSeconds));
    return send(conn, response);
}

int HttpServer::handle(mg_connection* conn) {
    requests_++;
    const mg_request_info* ri = mg_get_request_info(conn);
    std::string raw = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    Route r = route(raw);
    if (httpConnections_.load() >= keepAliveBelow_) closeAfterAnswer(conn);
    if (r.kind == Route::Kind::Health || r.kind == Route::Kind::Ready || r.kind == Route::Kind::Metrics)
        return handleOperations(conn, r);
    if (stopping_) return refuse(conn, "server is shutting down; retry on another node", kRetryAfterDraining);
    if (atConnectionLimit())
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
            return handleBroadcast(conn, r);
        case Route::Kind::History:
            return handleHistory(conn, r);
        case Route::Kind::Room:
            if (UpgradeRequest::isUpgrade(headersOf(ri))) return handleUpgrade(conn, r);
            return handleRoomRequest(conn, r);
        case Route::Kind::Reload: {
            if (strcmp(ri->request_method, "POST") != 0) return sendText(conn, 405, "use POST");
            Status reloaded = deps_.reload(r.party);
            if (reloaded)
                return send(conn, HttpResponse::json(200, "{\"reloaded\":" + lua::jsonQuote(r.party) + "}"));
            int status = reloaded.code() == Code::NotFound ? 404 : 422;
            return sendText(conn, status, "reload failed, the running version stays: " + reloaded.message());
        }
        case Route::Kind::Other:
            break;
    }
    if (deps_.staticRoot.empty() || (strcmp(ri->request_method, "GET") && strcmp(ri->request_method, "HEAD")))
        return sendText(conn, 404, "not found");
    return 0;  // CivetWeb serves the file from document_root
}

// Health, readiness and metrics answer whatever the load, so probes and scrapes see an overloaded
// node as it is. Readiness says 503 at the connection limit: a load balancer sends clients elsewhere.
int HttpServer::handleOperations(mg_connection* conn, const Route& r) {
    switch (r.kind) {
        case Route::Kind::Health:
            return sendText(conn, 200, "ok");
        case Route::Kind::Ready: {
            if (stopping_) return sendText(conn, 503, "draining");
            if (atConnectionLimit())
                return sendText(conn, 503,
                                "at the connection limit of " + std::to_string(deps_.limits.max_connections));
            Status ready = deps_.ready();
            return ready ? sendText(conn, 200, "ready")
                         : sendText(conn, 503, "not ready: " + ready.message());
        }
        default:
            return send(conn,
                        {200, {{"Content-Type", "text/plain; version=0.0.4"}}, deps_.metrics() + metrics()});
    }
}

int HttpServer::handleUpgrade(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto upgrade = UpgradeRequest::parse(ri->request_method, headersOf(ri), queryOf(ri));
    if (!upgrade) {
        // The version this server speaks goes with every refusal (RFC 6455 section 4.4 asks it
        // for a version mismatch; it does no harm with the others).
        HttpResponse response = HttpResponse::text(400, upgrade.status().message() + "\n");
        response.headers.emplace_back("Sec-WebSocket-Version", "13");
        return send(conn, response);
    }
    std::string id = upgrade->connectionId.empty() ? newConnectionId() : upgrade->connectionId;
    const Party* party = deps_.parties.find(route.party);
    if (!party) return sendText(conn, 404, "no party named '" + route.party + "'");
    Route target = route;
    if (party->isRouter()) {
        ShardRouter& router = *routers_.at(route.party);
        target.party = router.target();
        target.room = router.assign(route.room, id).value();
        party = deps_.parties.find(target.party);
    }
    if (auto script = party->script(); !script->error.isOk())
        return sendText(conn, 500,
                        "party '" + target.party + "' cannot run its script: " + script->error.message());
    // Checked again with this connection counted, for upgrades racing each other to the last slot.
    size_t http = httpConnections_.load();
    if (connections_.fetch_add(1) + (http > 0 ? http - 1 : 0) >= deps_.limits.max_connections) {
        connections_--;
        return refuse(conn,
                      "connection limit of " + std::to_string(deps_.limits.max_connections) + " reached",
                      kRetryAfterAtLimit);
    }
    // Until the Reactor owns the connection, leaving this function gives the slot back.
    struct Release {
        std::atomic<size_t>* count;
        ~Release() {
            if (count) (*count)--;
        }
    } release{&connections_};

    auto shard = deps_.rooms.shard(target.party, target.room);
    if (!shard) return sendText(conn, statusFor(shard.status().code()), shard.status().message());
    if (!shard.value()->waitUntilReady(kRoomStartTimeout))
        return sendText(conn, 503, "the room's log cannot be reached now; retry");
    HttpRequest request = makeRequest(conn, target);
    Waiter<std::optional<HttpResponse>> admission;
    shard.value()->beforeConnect(request, admission.callback());
    if (admission.future.wait_for(kRequestTimeout) != std::future_status::ready)
        return sendText(conn, 504, "the room did not decide in time");
    if (auto refusal = admission.future.get()) return send(conn, *refusal);
    auto socket =
        net::AdoptedSocket::find(uint16_t(ri->server_port), ri->remote_addr, uint16_t(ri->remote_port));
    if (!socket.valid()) {
        log::error("http", "cannot find the socket of " + std::string(ri->remote_addr));
        return sendText(conn, 500, "cannot upgrade this connection");
    }

    mg_disable_connection_keep_alive(conn);
    int fd = takeSocket(socket.fd());
    socket.reset();
    if (fd < 0) {
        log::error("http", std::string("cannot take over the socket: ") + strerror(errno));
        return sendText(conn, 500, "cannot upgrade this connection");  // still CivetWeb's socket
    }
    if (!net::adoptSocket(fd)) {
        log::error("http", std::string("cannot take over the socket: ") + strerror(errno));
        // CivetWeb now holds a placeholder: the answer goes to the socket itself.
        std::string answer =
            encodeResponse(HttpResponse::text(500, "cannot upgrade this connection\n"), false);
        ssize_t ignored = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        (void)ignored;
        close(fd);
        return 500;
    }
    // The 101 goes out through the connection's outbox, held until the shard has the connection
    // in its queue: a client that saw its socket open is in the room before anything another
    // client sends after that, and every frame the room sends it follows the 101.
    auto answer = std::make_shared<const std::string>(
        net::upgradeResponse(upgrade->key, upgrade->versioned ? "partyline.v1" : ""));
    auto outbox = deps_.sender.attachHeld(fd, deps_.limits.send_buffer_bytes, std::move(answer));
    auto client = std::make_shared<OutboxClient>(id, upgrade->versioned, outbox);
    shard.value()->connect(client, std::move(request), upgrade->since);
    release.count = nullptr;                              // RoomSession::onClosed gives it back
    mg_set_user_connection_data(conn, &kUpgradedMarker);  // CivetWeb closes only the placeholder
    httpConnections_--;
    reactor_->adopt(fd, outbox,
                    std::make_unique<RoomSession>(shard.value(), client, messagesIn_, connections_),
                    net::SessionLimits::from(deps_.limits));
    outbox->release();
    return 101;
}

int HttpServer::handleRoomRequest(mg_connection* conn, const Route& route) {
    const Party* party = deps_.parties.find(route.party);
    if (!party) return sendText(conn, 404, "no party named '" + route.party + "'");
    if (party->isRouter()) return handleRouterRequest(conn, route);
    if (auto script = party->script(); !script->error.isOk())
        return sendText(conn, 500,
                        "party '" + route.party + "' cannot run its script: " + script->error.message());
    HttpRequest request = makeRequest(conn, route);
    if (Status body = readBody(conn, deps_.limits.max_message_bytes, request.body); !body)
        return sendText(conn, statusFor(body.code()), body.message());
    auto shard = deps_.rooms.shard(route.party, route.room);
    if (!shard) return sendText(conn, statusFor(shard.status().code()), shard.status().message());
    Waiter<HttpResponse> waiter;
    shard.value()->request(std::move(request), waiter.callback());
    if (waiter.future.wait_for(kRequestTimeout) != std::future_status::ready)
        return sendText(conn, 504, "the room did not answer in time");
    return send(conn, waiter.future.get());
}

// A request to a router room goes to every shard room; the answer comes when
// all of them answered: 200 when every one answered 2xx, else 502, with each
// room's status and body.
int HttpServer::handleRouterRequest(mg_connection* conn, const Route& route) {
    ShardRouter& router = *routers_.at(route.party);
    if (auto script = deps_.parties.find(router.target())->script(); !script->error.isOk())
        return sendText(conn, 500,
                        "party '" + router.target() + "' cannot run its script: " + script->error.message());
    HttpRequest request = makeRequest(conn, route);
    if (Status body = readBody(conn, deps_.limits.max_message_bytes, request.body); !body)
        return sendText(conn, statusFor(body.code()), body.message());
    auto rooms = router.shardRooms(route.room);
    std::vector<Waiter<HttpResponse>> waiters(rooms.size());
    for (size_t i = 0; i < rooms.size(); ++i) {
        auto shard = deps_.rooms.shard(router.target(), rooms[i]);
        if (!shard) return sendText(conn, statusFor(shard.status().code()), shard.status().message());
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
        json += (i ? ",{" : "{") + std::string("\"room\":") + lua::jsonQuote(rooms[i]) +
                ",\"status\":" + std::to_string(response.status) +
                ",\"body\":" + lua::jsonQuote(response.body) + "}";
    }
    return send(conn, HttpResponse::json(allOk ? 200 : 502, json + "]}"));
}

int HttpServer::handleBroadcast(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    if (strcmp(ri->request_method, "POST") != 0) {
        HttpResponse response = HttpResponse::text(405, "use POST\n");
        response.headers.emplace_back("Allow", "POST");
        return send(conn, response);
    }
    // A router room's broadcast goes into the log of every one of its shard rooms.
    std::vector<std::pair<std::string, std::string>> targets;  // room, subject
    const Party* party = deps_.parties.find(route.party);
    const bool router = party && party->isRouter();
    if (router) {
        ShardRouter& shardRouter = *routers_.at(route.party);
        for (auto& room : shardRouter.shardRooms(route.room))
            targets.emplace_back(room, deps_.rooms.subject(shardRouter.target(), room).value());
    } else {
        auto subject = deps_.rooms.subject(route.party, route.room);
        if (!subject) return sendText(conn, statusFor(subject.status().code()), subject.status().message());
        targets.emplace_back(route.room, subject.value());
    }
    std::string body;
    if (Status read = readBody(conn, deps_.limits.max_message_bytes, body); !read)
        return sendText(conn, statusFor(read.code()), read.message());
    const char* type = mg_get_header(conn, "Content-Type");
    std::string_view contentType = type ? type : "";
    PublishOptions options;
    options.binary = contentType.rfind("application/octet-stream", 0) == 0;
    // A batch: every line is one write, published in order, answered once all are stored.
    const bool batch = contentType.rfind(kBatchType, 0) == 0;
    std::vector<std::string> writes;
    if (batch) {
        writes = splitLines(body);
        if (writes.empty())
            return sendText(conn, 400,
                            std::string("an ") + kBatchType + " broadcast needs at least one line");
        if (writes.size() > kMaxBatchWrites)
            return sendText(conn, 413,
                            std::to_string(writes.size()) + " lines is over the batch limit of " +
                                std::to_string(kMaxBatchWrites) + " writes");
    } else {
        writes.push_back(std::move(body));
    }
    auto acks = std::make_shared<Acks>(targets.size() * writes.size());
    size_t index = 0;
    auto published = std::chrono::steady_clock::now();
    std::vector<Publish> publishes;
    publishes.reserve(targets.size() * writes.size());
    for (const auto& [room, subject] : targets)
        for (const auto& write : writes)
            publishes.push_back({subject, write, options, acks->callback(index++)});
    deps_.bus.publishAll(std::move(publishes));
    const auto& results = acks->wait(std::chrono::steady_clock::now() + kRequestTimeout);
    if (deps_.publishSeconds) deps_.publishSeconds->observe(std::chrono::steady_clock::now() - published);
    const Result<uint64_t>* failure = nullptr;
    for (const auto& result : results)
        if (!result && !failure) failure = &result;
    if (failure && !batch)
        return sendText(conn, statusFor(failure->status().code()),
                        "broadcast failed: " + failure->status().message());
    if (!batch && !router)
        return send(conn, HttpResponse::json(200, "{\"seq\":" + std::to_string(results[0].value()) + "}"));
    // {"seq":N} per room, or {"seqs":[...]} per batch: null where the write was not acknowledged.
    auto seqs = [&](size_t room) {
        std::string json = batch ? "\"seqs\":[" : "\"seq\":";
        for (size_t i = 0; i < writes.size(); ++i) {
            const auto& result = results[room * writes.size() + i];
            json += (i ? "," : "") + (result ? std::to_string(result.value()) : std::string("null"));
        }
        return batch ? json + "]" : json;
    };
    std::string json =
        failure ? "{\"error\":" + lua::jsonQuote("broadcast failed: " + failure->status().message()) + ","
                : "{";
    if (router) {
        json += "\"rooms\":[";
        for (size_t i = 0; i < targets.size(); ++i)
            json += (i ? ",{" : "{") + std::string("\"room\":") + lua::jsonQuote(targets[i].first) + "," +
                    seqs(i) + "}";
        json += "]}";
    } else {
        json += seqs(0) + "}";
    }
    return send(conn, HttpResponse::json(failure ? statusFor(failure->status().code()) : 200, json));
}

int HttpServer::handleHistory(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto subject = deps_.rooms.subject(route.party, route.room);
    if (!subject) return sendText(conn, statusFor(subject.status().code()), subject.status().message());
    auto query = HistoryQuery::parse(queryOf(ri));
    if (!query) return sendText(conn, 400, query.status().message());
    auto entries = deps_.bus.read(subject.value(), query->since, query->limit);
    if (!entries) return sendText(conn, statusFor(entries.status().code()), entries.status().message());
    auto holds = logHolds(deps_.bus, subject.value(), query->since);
    bool truncated = holds && !holds.value();
    std::string json = "{\"truncated\":" + std::string(truncated ? "true" : "false") + ",\"entries\":[";
    bool comma = false;
    for (const auto& e : entries.value()) {
        if (comma) json += ',';
        comma = true;
        json += "{\"seq\":" + std::to_string(e.seq) + ",\"binary\":" + (e.binary ? "true" : "false") +
                ",\"data\":" + lua::jsonQuote(e.data) + "}";
    }
    json += "]}";
    return send(conn, HttpResponse::json(200, json));
}

std::string HttpServer::metrics() const {
    auto stats = deps_.sender.stats();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, uint64_t value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name +
               " " + std::to_string(value) + "\n";
    };
    metric("partyline_connections", "gauge", "Open WebSocket connections.", connections_.load());
    metric("partyline_http_requests_total", "counter", "HTTP requests received.", requests_.load());
    metric("partyline_messages_in_total", "counter", "WebSocket messages received.", messagesIn_.load());
    metric("partyline_http_connections", "gauge", "HTTP connections held by a worker thread.",
           httpConnections_.load());
    metric("partyline_refused_total", "counter",
           "Upgrades and requests answered 503 at the connection limit or while draining.", refused_.load());
    metric("partyline_messages_out_total", "counter",
           "Frames written to clients: messages, pings and Closes.", stats.framesWritten);
    metric("partyline_bytes_written_total", "counter", "Bytes written to clients.", stats.bytesWritten);
    metric("partyline_slow_consumer_closes_total", "counter", "Clients closed 1013 for not reading.",
           stats.slowCloses);
    auto reactor = reactor_->stats();
    metric("partyline_rate_limit_closes_total", "counter",
           "Clients closed 1008 for sending over their message rate.", reactor.rateLimited);
    metric("partyline_ping_timeouts_total", "counter",
           "Clients dropped for silence past limits.ping_timeout_seconds.", reactor.pingTimeouts);
    return out;
}

}  // namespace partyline
