#include "app/MuxSession.h"

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "app/HttpIo.h"
#include "app/MuxProtocol.h"
#include "app/RoomRefusal.h"
#include "net/WebSocketProtocol.h"

namespace partyline {
namespace {

// How long a join waits for a new shard to learn the log's position (as an upgrade does).
constexpr auto kRoomStartTimeout = std::chrono::seconds(5);

net::FramePtr textFrame(std::string_view json) {
    return std::make_shared<const std::string>(net::encodeFrame(net::Opcode::Text, json));
}

// A refusal's body as an error frame's text: its first line.
std::string reasonOf(const HttpResponse& response) {
    std::string text = response.body.substr(0, response.body.find('\n'));
    return text.empty() ? std::string(reasonPhrase(response.status)) : text;
}

}  // namespace

// One room of the socket as its shard sees it: a connection whose frames name the room. Its
// mutex orders what the shard sends against the socket's own answers for the room (`joined`
// first, nothing after `left` or `closed`).
class MuxClient final : public Client, public std::enable_shared_from_this<MuxClient> {
   public:
    MuxClient(std::string id, std::string room, std::string auth, std::string ref, std::string epoch,
              std::shared_ptr<net::Outbox> outbox, std::weak_ptr<MuxSocket> socket)
        : id_(std::move(id)),
          room_(std::move(room)),
          auth_(std::move(auth)),
          ref_(std::move(ref)),
          epoch_(std::move(epoch)),
          outbox_(std::move(outbox)),
          socket_(std::move(socket)) {}

    const std::string& id() const override { return id_; }
    const std::string& auth() const override { return auth_; }
    const std::string& room() const { return room_; }
    const std::string& ref() const { return ref_; }
    bool versioned() const override { return false; }
    bool multiplexed() const override { return true; }
    void send(const FramePtr& frame) override {
        std::lock_guard lock(mutex_);
        if (!ended_) outbox_->send(frame);
    }
    void send(const FramePtr& frame, net::SendBatch& batch) override {
        std::lock_guard lock(mutex_);
        if (!ended_) outbox_->send(frame, batch);
    }
    void sendNow(const FramePtr& frame) override {
        std::lock_guard lock(mutex_);
        if (!ended_) outbox_->sendNow(frame);
    }
    void sendMessage(std::string_view data, bool binary) override {
        send(textFrame(muxMessage(room_, data, binary)));
    }
    void admitted() override {
        std::lock_guard lock(mutex_);
        if (ended_) return;
        admitted_ = true;
        outbox_->send(textFrame(muxJoined(ref_, room_, id_, epoch_)));
    }
    // The shard (or the script's conn:close) ends this room's connection: the socket stays.
    void close(uint16_t code, std::string_view reason) override;
    bool closed() const override {
        std::lock_guard lock(mutex_);
        return ended_ || outbox_->closed();
    }
    size_t queuedBytes() const override { return outbox_->queuedBytes(); }

    // Any thread. Ends the connection with `last` as the room's last frame (none when empty);
    // false when it had ended already. Before `joined`, `refusal` goes instead (the room could not
    // take it).
    bool end(std::string_view last, std::string_view refusal = {}) {
        std::lock_guard lock(mutex_);
        if (ended_) return false;
        ended_ = true;
        std::string_view frame = admitted_ || refusal.empty() ? last : refusal;
        if (!frame.empty()) outbox_->send(textFrame(frame));
        return true;
    }

   private:
    const std::string id_;
    const std::string room_;  // "party/room"
    const std::string auth_;
    const std::string ref_;    // the join's, for its answer
    const std::string epoch_;  // the room's log generation when it joined, for `joined`
    const std::shared_ptr<net::Outbox> outbox_;
    const std::weak_ptr<MuxSocket> socket_;
    mutable std::mutex mutex_;
    bool ended_ = false;
    bool admitted_ = false;
};

// What the socket's threads share: its rooms, the joins under way, whether it closed.
class MuxSocket : public std::enable_shared_from_this<MuxSocket> {
   public:
    MuxSocket(const MuxDeps& deps, std::shared_ptr<net::Outbox> outbox, HttpRequest upgrade)
        : deps_(deps), outbox_(std::move(outbox)), upgrade_(std::move(upgrade)) {}

    // Reactor thread, below.
    void onMessage(std::string payload, bool binary);
    // Every room is left, with the socket's close code; joins under way are dropped.
    void closeAll(uint16_t code, std::string_view reason);

    // Any thread: the room ended `client` (MuxClient::close) or its token expired.
    void endRoom(const std::shared_ptr<MuxClient>& client, uint16_t code, std::string_view reason);

   private:
    struct Room {
        std::shared_ptr<Shard> shard;
        std::shared_ptr<MuxClient> client;
        uint64_t ticket = 0;                 // its claim on the connection id
        std::string asked;                   // the "party/room" the join named (a router's, for one)
        std::string party;                   // the party whose auth checks its tokens: the asked one
        std::optional<std::string> subject;  // the token's sub, which a refresh must keep
        uint64_t expiry = 0;                 // the timer that ends it when its token expires; 0: none
    };
    // What a join brings to the join executor.
    struct Join {
        MuxCommand command;
        std::string ref;
        std::string asked;
    };

    void send(std::string_view json) { outbox_->send(textFrame(json)); }
    void join(MuxCommand command, std::string ref);
    void leave(const MuxCommand& command, const std::string& ref);
    void sendTo(MuxCommand command, const std::string& ref);
    void refresh(const MuxCommand& command, const std::string& ref);

    // Join executor: everything a join waits for; then the shard has the connection.
    void runJoin(const Join& job);
    // The request a room sees for a join, as it would see its own URL's upgrade.
    HttpRequest requestFor(const MuxCommand& command) const;
    // The join failed: `status` and `error` go back with its ref.
    void refuseJoin(const Join& job, int status, std::string_view error);
    // Timer: ends the client's connection at its token's expiry, unless a refresh moved it.
    uint64_t scheduleExpiry(const std::shared_ptr<MuxClient>& client, std::optional<double> expires);
    // Gives a room up: the shard's onClose with `code`, the id back.
    static void leaveRoom(Room& room, uint16_t code, std::string_view reason);

    const MuxDeps deps_;
    const std::shared_ptr<net::Outbox> outbox_;
    const HttpRequest upgrade_;
    // Guards the members below. Held across no call that waits on a shard or runs its tasks:
    // only Shard::connect, which posts, is called under it.
    std::mutex mutex_;
    bool closed_ = false;
    std::set<std::string> pending_;      // "party/room" asked by joins under way
    std::map<std::string, Room> rooms_;  // by the room's name
};

void MuxClient::close(uint16_t code, std::string_view reason) {
    // On the shard's strand, or a script's conn:close: the socket's mutex is never held while
    // waiting on a shard, so taking it here cannot deadlock.
    if (auto socket = socket_.lock()) socket->endRoom(shared_from_this(), code, reason);
}

// ---- the client's frames ------------------------------------------------------

void MuxSocket::onMessage(std::string payload, bool binary) {
    MuxParse parsed = parseMuxCommand(payload, binary);
    if (!parsed.command) return send(muxError(parsed.ref, 400, parsed.error));
    switch (parsed.command->op) {
        case MuxCommand::Op::Join:
            return join(std::move(*parsed.command), std::move(parsed.ref));
        case MuxCommand::Op::Leave:
            return leave(*parsed.command, parsed.ref);
        case MuxCommand::Op::Send:
            return sendTo(std::move(*parsed.command), parsed.ref);
        case MuxCommand::Op::Refresh:
            return refresh(*parsed.command, parsed.ref);
    }
}

void MuxSocket::join(MuxCommand command, std::string ref) {
    std::string asked = command.party + "/" + command.room;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        bool joined = pending_.count(asked) > 0;
        for (const auto& [name, room] : rooms_) joined = joined || room.asked == asked;
        if (joined) return send(muxError(ref, 409, "already joined " + asked + ": leave it first", asked));
        if (pending_.size() + rooms_.size() >= deps_.limits.max_rooms_per_connection)
            return send(muxError(ref, 429,
                                 "this socket is in limits.max_rooms_per_connection (" +
                                     std::to_string(deps_.limits.max_rooms_per_connection) +
                                     ") rooms: leave one first",
                                 asked));
        pending_.insert(asked);
    }
    auto job = std::make_shared<Join>(Join{std::move(command), std::move(ref), std::move(asked)});
    deps_.joins.makeStrand()->post([self = shared_from_this(), job] { self->runJoin(*job); });
}

void MuxSocket::leave(const MuxCommand& command, const std::string& ref) {
    std::optional<Room> room;
    {
        std::lock_guard lock(mutex_);
        if (auto it = rooms_.find(command.room); it != rooms_.end()) {
            room = std::move(it->second);
            rooms_.erase(it);
            deps_.counters.muxRooms--;
        } else if (pending_.erase(command.room) == 0) {
            return send(muxError(ref, 404, "not in room " + command.room, command.room));
        }
    }
    if (!room) return send(muxLeft(ref, command.room));  // the join under way is dropped
    deps_.timer.cancel(room->expiry);
    if (room->client->end(muxLeft(ref, command.room))) leaveRoom(*room, 1000, "left");
}

void MuxSocket::sendTo(MuxCommand command, const std::string& ref) {
    std::shared_ptr<Shard> shard;
    std::shared_ptr<MuxClient> client;
    {
        std::lock_guard lock(mutex_);
        auto it = rooms_.find(command.room);
        if (it != rooms_.end()) {
            shard = it->second.shard;
            client = it->second.client;
        }
    }
    if (!client) return send(muxError(ref, 404, "not in room " + command.room, command.room));
    deps_.counters.messagesIn++;
    shard->receive(client, std::move(command.data), command.binary);
}

// A new token for every room of the socket whose party checks tokens: each is checked as its
// join's was, for the same subject. All or nothing: one refusal changes no room.
void MuxSocket::refresh(const MuxCommand& command, const std::string& ref) {
    struct Renewal {
        std::string name;
        std::shared_ptr<MuxClient> client;
        std::optional<double> expires;
        uint64_t oldExpiry;
    };
    std::vector<Renewal> renewals;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [name, room] : rooms_) {
            std::string party, id;
            splitRoomName(name, party, id);
            const ConnectionAuth* auth = deps_.auths.authFor(room.party, party);
            if (!auth) continue;
            HttpRequest request = upgrade_;
            request.query["token"] = command.token;
            auto outcome = auth->check(request, party, id, epochSeconds());
            if (outcome.status)
                return send(muxError(ref, outcome.status, "token refused: " + outcome.reason, name));
            auto subject = outcome.identity ? outcome.identity->subject : std::nullopt;
            if (subject != room.subject)
                return send(muxError(ref, 403,
                                     "the token names another subject than the room was joined with", name));
            renewals.push_back({name, room.client,
                                outcome.identity ? outcome.identity->expires : std::nullopt, room.expiry});
        }
    }
    for (auto& renewal : renewals) {
        // Outside the mutex: cancelling waits for an expiry running now, which takes it.
        deps_.timer.cancel(renewal.oldExpiry);
        std::lock_guard lock(mutex_);
        auto it = rooms_.find(renewal.name);
        if (it != rooms_.end() && it->second.client == renewal.client &&
            it->second.expiry == renewal.oldExpiry)
            it->second.expiry = scheduleExpiry(renewal.client, renewal.expires);
    }
    send(muxRefreshed(ref, renewals.size()));
}

void MuxSocket::closeAll(uint16_t code, std::string_view reason) {
    std::map<std::string, Room> rooms;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        closed_ = true;
        pending_.clear();
        rooms.swap(rooms_);
        deps_.counters.muxRooms -= rooms.size();
    }
    for (auto& [name, room] : rooms) {
        deps_.timer.cancel(room.expiry);
        if (room.client->end({})) leaveRoom(room, code, reason);
    }
}

void MuxSocket::endRoom(const std::shared_ptr<MuxClient>& client, uint16_t code, std::string_view reason) {
    std::optional<Room> room;
    {
        std::lock_guard lock(mutex_);
        auto it = rooms_.find(client->room());
        if (it == rooms_.end() || it->second.client != client) return;
        room = std::move(it->second);
        rooms_.erase(it);
        deps_.counters.muxRooms--;
    }
    // Before `joined`, the room could not take it (its script broken, the room stopping): the
    // join is refused instead, as an upgrade would be.
    const int status = reason.find("script") != std::string_view::npos ? 500 : 503;
    if (!client->end(muxClosed(client->room(), code, reason),
                     muxError(client->ref(), status, reason, client->room())))
        return;
    leaveRoom(*room, code, reason);
}

void MuxSocket::leaveRoom(Room& room, uint16_t code, std::string_view reason) {
    room.shard->disconnect(room.client, code, std::string(reason));
    room.shard->ids().release(room.client->id(), room.ticket);
}

// ---- a join, on the join executor ------------------------------------------------

HttpRequest MuxSocket::requestFor(const MuxCommand& command) const {
    HttpRequest request = upgrade_;
    request.path = "/parties/" + command.party + "/" + command.room;
    request.url = request.path;
    request.rest.clear();
    request.query = command.query;
    request.query.erase("_resume");
    if (!command.token.empty()) request.query["token"] = command.token;
    return request;
}

void MuxSocket::refuseJoin(const Join& job, int status, std::string_view error) {
    {
        std::lock_guard lock(mutex_);
        // Left meanwhile (already answered) or the socket closed: nobody to tell.
        if (closed_ || pending_.erase(job.asked) == 0) return;
    }
    send(muxError(job.ref, status, error, job.asked));
}

void MuxSocket::runJoin(const Join& job) {
    const MuxCommand& command = job.command;
    const Party* party = deps_.parties.find(command.party);
    if (!party) return refuseJoin(job, 404, "no party named '" + command.party + "'");
    HttpRequest request = requestFor(command);
    std::string targetParty = command.party, targetRoom = command.room;
    std::optional<ShardChoice> choice;  // held until the shard counts the connection, or the refusal
    if (party->isRouter()) {
        ShardRouter& router = *deps_.routers.at(command.party);
        targetParty = router.target();
        auto assigned = router.assign(command.room, ConnectionIds::randomId(), request.remoteAddr);
        if (!assigned)
            return refuseJoin(job, statusFor(assigned.status().code()), assigned.status().message());
        choice.emplace(std::move(assigned).value());
        targetRoom = choice->room();
        party = deps_.parties.find(targetParty);
        if (!party) return refuseJoin(job, 500, "router target '" + targetParty + "' is not a party");
    }
    if (auto script = party->script(); !script->error.isOk())
        return refuseJoin(job, 500,
                          "party '" + targetParty + "' cannot run its script: " + script->error.message());
    IdRequest idRequest;
    std::optional<double> expires;
    std::optional<std::string> subject;
    if (const ConnectionAuth* auth = deps_.auths.authFor(command.party, targetParty)) {
        idRequest.authParty = true;
        auto outcome = auth->check(request, targetParty, targetRoom, epochSeconds());
        if (outcome.status) return refuseJoin(job, outcome.status, "token refused: " + outcome.reason);
        if (outcome.identity) {
            request.auth = std::move(outcome.identity->claims);
            expires = outcome.identity->expires;
            subject = outcome.identity->subject;
            idRequest.identity = subject.value_or("");
        }
    }
    auto shard = deps_.rooms.open(targetParty, targetRoom, request.remoteAddr);
    if (!shard) {
        HttpResponse refusal = roomRefusal(shard.status());
        return refuseJoin(job, refusal.status, reasonOf(refusal));
    }
    if (!shard.value()->waitUntilReady(kRoomStartTimeout))
        return refuseJoin(job, 503, "the room's log cannot be reached now; retry");
    auto claim = shard.value()->ids().claim(idRequest);  // a fresh id: nothing asked for
    Waiter<std::optional<HttpResponse>> admission;
    shard.value()->beforeConnect(request, admission.callback());
    std::optional<HttpResponse> refusal;
    if (admission.future.wait_for(kRequestTimeout) != std::future_status::ready)
        refusal = HttpResponse::text(504, "the room did not decide in time");
    else
        refusal = admission.future.get();
    if (refusal) {
        shard.value()->ids().release(claim.id, claim.ticket);
        return refuseJoin(job, refusal->status, reasonOf(*refusal));
    }
    const std::string name = targetParty + "/" + targetRoom;
    auto client = std::make_shared<MuxClient>(claim.id, name, request.auth, job.ref,
                                              shard.value()->logEpoch(), outbox_, weak_from_this());
    bool wanted = false;
    {
        std::lock_guard lock(mutex_);
        wanted = !closed_ && pending_.erase(job.asked) > 0;
        if (wanted && rooms_.count(name) == 0) {
            Room room{shard.value(), client, claim.ticket, job.asked, command.party, subject, 0};
            room.expiry = scheduleExpiry(client, expires);
            rooms_.emplace(name, std::move(room));
            deps_.counters.muxRooms++;
            // Under the mutex (connect only posts): a leave or the socket's close that finds the
            // room now posts its disconnect after this connect, never before it. `joined` goes
            // out from the strand (MuxClient::admitted), before anything the shard sends it.
            ShardChoice::connect(choice, [&] {
                shard.value()->connect(client, std::move(request), command.since, command.epoch);
            });
            return;
        }
    }
    shard.value()->ids().release(claim.id, claim.ticket);
    if (wanted) send(muxError(job.ref, 409, "already joined " + name + ": leave it first", name));
}

uint64_t MuxSocket::scheduleExpiry(const std::shared_ptr<MuxClient>& client, std::optional<double> expires) {
    if (!expires) return 0;
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(epochTime(*expires) -
                                                                       std::chrono::system_clock::now());
    std::weak_ptr<MuxSocket> weak = weak_from_this();
    std::weak_ptr<MuxClient> weakClient = client;
    return deps_.timer.after(std::max(delay, std::chrono::milliseconds(0)), [weak, weakClient] {
        auto self = weak.lock();
        auto client = weakClient.lock();
        if (self && client) self->endRoom(client, 4001, "token expired");
    });
}

// ---- the Reactor's handler --------------------------------------------------------

namespace {

class MuxSession final : public net::SessionHandler {
   public:
    MuxSession(std::shared_ptr<MuxSocket> socket, ServerCounters& counters, std::string peer)
        : socket_(std::move(socket)), counters_(counters), peer_(std::move(peer)) {}
    void onMessage(std::string payload, bool binary) override {
        socket_->onMessage(std::move(payload), binary);
    }
    // A client that said goodbye leaves its rooms at once.
    void onPeerClosed(uint16_t code, std::string_view reason) override { socket_->closeAll(code, reason); }
    void onClosed(uint16_t code, std::string_view reason) override {
        socket_->closeAll(code, reason);
        counters_.webSockets--;
        if (!peer_.empty() && counters_.releasePeer) counters_.releasePeer(peer_);
    }

   private:
    std::shared_ptr<MuxSocket> socket_;
    ServerCounters& counters_;
    std::string peer_;  // counted against limits.max_connections_per_ip until the close; empty: not counted
};

}  // namespace

std::unique_ptr<net::SessionHandler> makeMuxSession(const MuxDeps& deps, std::shared_ptr<net::Outbox> outbox,
                                                    HttpRequest upgrade, std::string peer) {
    auto socket = std::make_shared<MuxSocket>(deps, std::move(outbox), std::move(upgrade));
    return std::make_unique<MuxSession>(std::move(socket), deps.counters, std::move(peer));
}

}  // namespace partyline
