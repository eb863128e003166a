#include "app/WebSocketUpgrade.h"

#include <civetweb.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <optional>

#include "app/HttpIo.h"
#include "app/MuxProtocol.h"
#include "app/MuxSession.h"
#include "app/RoomRefusal.h"
#include "app/Router.h"
#include "app/UpgradeRequest.h"
#include "core/Json.h"
#include "core/Log.h"
#include "net/SessionHandler.h"
#include "net/SocketLocator.h"
#include "net/WebSocketProtocol.h"
#include "rooms/OutboxClient.h"

namespace partyline {
namespace {

// How long an upgrade waits for a new shard to learn the log's position.
constexpr auto kRoomStartTimeout = std::chrono::seconds(5);
// How long an upgrade asking for an id in use waits for the Reactor to read the holder's Close.
constexpr auto kSettleWait = std::chrono::milliseconds(500);

// A connection's claim on its id in its room: given back when the upgrade leaves, unless it was
// handed to the RoomSession that gives it back at the close.
struct IdHold {
    std::shared_ptr<Shard> shard;
    ConnectionIds::Claim claim;
    IdHold(std::shared_ptr<Shard> s, ConnectionIds::Claim c) : shard(std::move(s)), claim(std::move(c)) {}
    IdHold(const IdHold&) = delete;
    IdHold& operator=(const IdHold&) = delete;
    ~IdHold() {
        if (shard) shard->ids().release(claim.id, claim.ticket);
    }
};

// The Reactor's view of one WebSocket, on the Reactor thread: each message read is posted to the
// shard's strand, and the close leaves the room, gives the id back and the connection's slot.
class RoomSession : public net::SessionHandler {
   public:
    RoomSession(std::shared_ptr<Shard> shard, std::shared_ptr<Client> client, uint64_t idTicket,
                ServerCounters& counters, std::string peer)
        : shard_(std::move(shard)),
          client_(std::move(client)),
          idTicket_(idTicket),
          counters_(counters),
          peer_(std::move(peer)) {}
    void onMessage(std::string payload, bool binary) override {
        counters_.messagesIn++;
        shard_->receive(client_, std::move(payload), binary);
    }
    // A client that said goodbye leaves at once, so its own reconnect, which may come before the
    // end of this stream, finds its id free.
    void onPeerClosed(uint16_t code, std::string_view reason) override { leave(code, reason); }
    void onClosed(uint16_t code, std::string_view reason) override {
        leave(code, reason);
        counters_.webSockets--;
        if (!peer_.empty() && counters_.releasePeer) counters_.releasePeer(peer_);
    }

   private:
    void leave(uint16_t code, std::string_view reason) {
        if (left_) return;
        left_ = true;
        // Leaving first: a newcomer given this id after the release joins after this leave.
        shard_->disconnect(client_, code, std::string(reason));
        shard_->ids().release(client_->id(), idTicket_);
    }

    std::shared_ptr<Shard> shard_;
    std::shared_ptr<Client> client_;
    uint64_t idTicket_;
    ServerCounters& counters_;
    std::string peer_;  // counted against limits.max_connections_per_ip until the close; empty: not counted
    bool left_ = false;
};

// What a partyline.v1 client learns first: its id, the secret that takes the id back from a
// connection of its own that lingers (rooms/ConnectionIds.h), and the generation of the room's log
// (bus/EpochWatch.h) that the sequences it is sent are of.
FramePtr welcomeFrame(const ConnectionIds::Claim& claim, const std::string& epoch) {
    return std::make_shared<const std::string>(net::encodeFrame(
        net::Opcode::Text, "{\"welcome\":true,\"id\":" + jsonQuote(claim.id) + ",\"resume\":" +
                               jsonQuote(claim.resume) + ",\"epoch\":" + jsonQuote(epoch) + "}"));
}

HttpResponse idRefusal(const std::string& id) {
    return HttpResponse::text(409, "connection id '" + id +
                                       "' is in use by another identity: connect without _pk, or with "
                                       "another id\n");
}

// An admitted connection's slot: given back when the upgrade leaves, unless it was handed to the
// RoomSession that gives it back at the close.
struct Slot {
    std::atomic<size_t>* count;
    ~Slot() {
        if (count) (*count)--;
    }
};

// Takes the connection's socket away from CivetWeb: a duplicate goes to the
// Reactor, and CivetWeb's descriptor number is pointed at an unconnected
// socket, which it closes when the handler returns. Returns the duplicate, or
// -1 (the connection then stays CivetWeb's).
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

// Answers 500 on a socket taken from CivetWeb (which now holds a placeholder) and closes it.
int failOnSocket(int fd) {
    std::string answer = encodeResponse(HttpResponse::text(500, "cannot upgrade this connection\n"), false);
    ssize_t ignored = ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    (void)ignored;
    close(fd);
    return 500;
}

}  // namespace

std::optional<int> WebSocketUpgrade::refuseAtConnectionLimit(mg_connection* conn) {
    if (deps_.counters.admitWebSocket(deps_.limits.max_connections)) return std::nullopt;
    deps_.counters.refused++;
    return refuse(conn, "connection limit of " + std::to_string(deps_.limits.max_connections) + " reached",
                  kRetryAfterAtLimit);
}

int WebSocketUpgrade::handle(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto upgrade = UpgradeRequest::parse(ri->request_method, headersOf(ri), queryOf(ri));
    if (!upgrade) {
        // The version this server speaks goes with every refusal (RFC 6455 section 4.4 asks it
        // for a version mismatch; it does no harm with the others).
        HttpResponse response = HttpResponse::text(400, upgrade.status().message() + "\n");
        response.headers.emplace_back("Sec-WebSocket-Version", "13");
        return send(conn, response);
    }
    const Party* party = deps_.parties.find(route.party);
    if (!party) return sendText(conn, 404, "no party named '" + route.party + "'");
    // The router's target has the same rest of the path: one request serves both.
    HttpRequest request = makeRequest(conn, route);
    if (deps_.proxies)
        request.remoteAddr = deps_.proxies->clientOf(ri->remote_addr, headersOf(ri).find("x-forwarded-for"));
    request.query.erase("_resume");  // a secret: no script reads it
    IdRequest idRequest{upgrade->connectionId, {}, upgrade->resume, false};
    // Routing spreads connections by the id asked for (or a random one): the id it is given
    // comes later, from the room.
    std::string routingId = idRequest.wanted.empty() ? ConnectionIds::randomId() : idRequest.wanted;
    Route target = route;
    std::optional<ShardChoice> choice;  // held until the shard counts the connection, or the refusal
    if (party->isRouter()) {
        ShardRouter& router = *deps_.routers.at(route.party);
        target.party = router.target();
        choice.emplace(router.assign(route.room, routingId, request.remoteAddr).value());
        target.room = choice->room();
        party = deps_.parties.find(target.party);
    }
    if (auto script = party->script(); !script->error.isOk())
        return sendText(conn, 500,
                        "party '" + target.party + "' cannot run its script: " + script->error.message());
    // The party's auth, before the room is created or runs anything: the URL's party's, else
    // (a router) its target's.
    std::optional<std::chrono::system_clock::time_point> expiresAt;
    if (const ConnectionAuth* auth = deps_.auths.authFor(route.party, target.party)) {
        idRequest.authParty = true;
        auto outcome = auth->check(request, target.party, target.room, epochSeconds());
        if (outcome.status) return send(conn, refusalOf(outcome));
        if (outcome.identity) {
            request.auth = std::move(outcome.identity->claims);
            if (outcome.identity->expires) expiresAt = epochTime(*outcome.identity->expires);
            idRequest.identity = outcome.identity->subject.value_or("");
        }
    }
    if (auto refused = refuseAtConnectionLimit(conn)) return *refused;
    Slot slot{&deps_.counters.webSockets};

    auto shard = deps_.rooms.open(target.party, target.room, request.remoteAddr);
    if (!shard) return send(conn, roomRefusal(shard.status()));
    if (!shard.value()->waitUntilReady(kRoomStartTimeout))
        return sendText(conn, 503, "the room's log cannot be reached now; retry");
    auto claim = shard.value()->ids().claim(idRequest);
    if (claim.outcome == IdOutcome::Fresh || claim.outcome == IdOutcome::Refused) {
        // The holder may have sent its Close just before (a PartySocket reconnecting does): once
        // the Reactor has read what is waiting for it, the id may be free.
        shard.value()->ids().release(claim.id, claim.ticket);  // a refusal holds nothing
        deps_.reactor.settle(kSettleWait);
        claim = shard.value()->ids().claim(idRequest);
    }
    if (claim.outcome == IdOutcome::Refused) return send(conn, idRefusal(idRequest.wanted));
    IdHold hold(shard.value(), std::move(claim));
    Waiter<std::optional<HttpResponse>> admission;
    shard.value()->beforeConnect(request, admission.callback());
    if (admission.future.wait_for(kRequestTimeout) != std::future_status::ready)
        return sendText(conn, 504, "the room did not decide in time");
    if (auto refusal = admission.future.get()) return send(conn, *refusal);
    int status = takeOver(conn, shard.value(), std::move(request), *upgrade, hold.claim, expiresAt, choice);
    if (status == 101) {  // RoomSession::onClosed gives both back
        slot.count = nullptr;
        hold.shard.reset();
    }
    return status;
}

int WebSocketUpgrade::adoptSocket(mg_connection* conn, int& status) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto socket =
        net::AdoptedSocket::find(uint16_t(ri->server_port), ri->remote_addr, uint16_t(ri->remote_port));
    if (!socket.valid()) {
        log::error("http", "cannot find the socket of " + std::string(ri->remote_addr));
        status = sendText(conn, 500, "cannot upgrade this connection");
        return -1;
    }
    mg_disable_connection_keep_alive(conn);
    int fd = takeSocket(socket.fd());
    socket.reset();
    if (fd < 0) {
        log::error("http", std::string("cannot take over the socket: ") + strerror(errno));
        status = sendText(conn, 500, "cannot upgrade this connection");  // still CivetWeb's socket
        return -1;
    }
    if (!net::adoptSocket(fd)) {
        log::error("http", std::string("cannot take over the socket: ") + strerror(errno));
        status = failOnSocket(fd);
        return -1;
    }
    return fd;
}

int WebSocketUpgrade::takeOver(mg_connection* conn, const std::shared_ptr<Shard>& shard, HttpRequest request,
                               const UpgradeRequest& upgrade, const ConnectionIds::Claim& claim,
                               std::optional<std::chrono::system_clock::time_point> expiresAt,
                               std::optional<ShardChoice>& choice) {
    int status = 101;
    int fd = adoptSocket(conn, status);
    if (fd < 0) return status;
    // The 101 goes out through the connection's outbox, held until the shard has the connection
    // in its queue: a client that saw its socket open is in the room before anything another
    // client sends after that, and every frame the room sends it follows the 101.
    auto answer = std::make_shared<const std::string>(
        net::upgradeResponse(upgrade.key, upgrade.versioned ? "partyline.v1" : ""));
    auto outbox = deps_.sender.attachHeld(fd, deps_.limits.send_buffer_bytes, std::move(answer));
    if (upgrade.versioned) outbox->send(welcomeFrame(claim, shard->logEpoch()));  // right after the 101
    auto client = std::make_shared<OutboxClient>(claim.id, upgrade.versioned, outbox, request.auth);
    net::SessionLimits limits = net::SessionLimits::from(deps_.limits);
    limits.expiresAt = expiresAt;
    ShardChoice::connect(choice,
                         [&] { shard->connect(client, std::move(request), upgrade.since, upgrade.epoch); });
    markUpgraded(conn);  // CivetWeb closes only the placeholder
    deps_.counters.http--;
    deps_.reactor.adopt(
        fd, outbox,
        std::make_unique<RoomSession>(shard, client, claim.ticket, deps_.counters,
                                      deps_.counters.countedPeer ? deps_.counters.countedPeer() : ""),
        limits);
    outbox->release();
    return 101;
}

int WebSocketUpgrade::handleMux(mg_connection* conn) {
    const mg_request_info* ri = mg_get_request_info(conn);
    HttpHeaders headers = headersOf(ri);
    auto upgrade = UpgradeRequest::parse(ri->request_method, headers, queryOf(ri));
    if (!upgrade) {
        HttpResponse response = HttpResponse::text(400, upgrade.status().message() + "\n");
        response.headers.emplace_back("Sec-WebSocket-Version", "13");
        return send(conn, response);
    }
    if (!headers.hasToken("sec-websocket-protocol", kMuxProtocol))
        return sendText(conn, 400,
                        "GET /v1/connect speaks partyline.mux.v1 only: offer it in Sec-WebSocket-Protocol");
    if (!deps_.joins || !deps_.timer) return sendText(conn, 503, "this node takes no multiplexed sockets");
    HttpRequest request = makeRequest(conn, Route{});
    if (deps_.proxies)
        request.remoteAddr = deps_.proxies->clientOf(ri->remote_addr, headers.find("x-forwarded-for"));
    request.query.clear();  // each join brings its own
    if (auto refused = refuseAtConnectionLimit(conn)) return *refused;
    Slot slot{&deps_.counters.webSockets};
    int status = 101;
    int fd = adoptSocket(conn, status);
    if (fd < 0) return status;
    auto answer =
        std::make_shared<const std::string>(net::upgradeResponse(upgrade->key, std::string(kMuxProtocol)));
    auto outbox = deps_.sender.attachHeld(fd, deps_.limits.send_buffer_bytes, std::move(answer));
    MuxDeps mux{deps_.rooms,    deps_.parties, deps_.routers, deps_.limits,
                deps_.counters, deps_.auths,   *deps_.joins,  *deps_.timer};
    auto session = makeMuxSession(mux, outbox, std::move(request),
                                  deps_.counters.countedPeer ? deps_.counters.countedPeer() : "");
    markUpgraded(conn);  // CivetWeb closes only the placeholder
    deps_.counters.http--;
    deps_.reactor.adopt(fd, outbox, std::move(session), net::SessionLimits::from(deps_.limits));
    outbox->release();
    slot.count = nullptr;  // MuxSession's onClosed gives it back
    return 101;
}

}  // namespace partyline
