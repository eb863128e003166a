#include "ClientLoop.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "Payload.h"
#include "core/Base64.h"

namespace partyline::bench {

namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr size_t kMaxHandshakeBytes = 16 * 1024;  // an upgrade answer is a few hundred bytes
constexpr int kReadsPerEvent = 8;                 // then let the other clients have their turn
constexpr int kMaxEvents = 512;

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    return text;
}

}  // namespace

// Hands one client's frames to the loop; lives for one read.
class ClientLoop::Sink : public FrameSink {
   public:
    Sink(ClientLoop& loop, Client& client, uint64_t now) : loop_(loop), client_(client), now_(now) {}

    void onMessage(bool binary, std::string_view payload) override {
        if (binary) {
            ++loop_.result_.foreign;
            return;
        }
        loop_.deliver(client_, payload, now_);
    }
    void onPing(std::string_view payload) override {
        appendClientFrame(client_.out, Opcode::Pong, payload, loop_.nextMask());
        loop_.send(client_);
    }
    void onClose(uint16_t code) override { loop_.closeClient(client_, code); }
    void onProtocolError(std::string_view why) override {
        ++loop_.result_.connectErrors["protocol error from server: " + std::string(why)];
        loop_.closeClient(client_, net::close_code::ProtocolError);
    }

   private:
    ClientLoop& loop_;
    Client& client_;
    uint64_t now_;
};

ClientLoop::ClientLoop(RunState& run, LiveCounters& live, uint32_t thread)
    : run_(run), live_(live), thread_(thread), random_(0x9E3779B97F4A7C15ull ^ (uint64_t(thread + 1) << 32)) {
    const Options& o = run.options;
    for (char c : run.runId) random_ = random_ * 131 + uint8_t(c);
    uint32_t mine = o.clients / o.threads + (thread < o.clients % o.threads ? 1 : 0);
    clients_.reserve(mine);  // never reallocated: epoll holds pointers to the clients
    for (uint32_t i = thread; i < o.clients; i += o.threads) {
        Client& client = clients_.emplace_back(o.maxMessageBytes);
        client.index = i;
        client.room = i % o.rooms;
        client.node = (o.spreadRooms ? i / o.rooms : i) % uint32_t(run.endpoints.size());
        if (o.mode == Mode::Ws && i < o.writers) {
            client.writer = int32_t(i);
            writers_.push_back(uint32_t(clients_.size() - 1));
        }
    }
    connectRate_ = o.connectRate * double(clients_.size()) / double(o.clients);
    if (o.writers > 0) writeRate_ = o.rate * double(writers_.size()) / double(o.writers);
    result_.planned = uint64_t(std::llround(writeRate_ * o.durationSeconds));
    readBuffer_.resize(kReadBufferBytes);
}

ClientLoop::~ClientLoop() {
    for (Client& client : clients_)
        if (client.fd >= 0) close(client.fd);
    if (epoll_ >= 0) close(epoll_);
}

uint32_t ClientLoop::nextMask() {
    random_ ^= random_ << 13;
    random_ ^= random_ >> 7;
    random_ ^= random_ << 17;
    return uint32_t(random_ >> 16);
}

void ClientLoop::run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    connectStartNanos_ = monotonicNanos();
    bool gaveUp = false;
    epoll_event events[kMaxEvents];
    for (;;) {
        Phase phase = run_.phase();
        uint64_t now = monotonicNanos();
        if (phase == Phase::Connect) {
            openDueClients(now);
        } else if (!gaveUp) {
            giveUpPending();
            gaveUp = true;
        }
        if (phase >= Phase::Write && !openCounted_) markOpenAtWriteStart();
        if (phase == Phase::Write && !writers_.empty()) sendDueWrites(now);
        if (phase == Phase::Stop) break;
        bool busy = (phase == Phase::Connect && nextToOpen_ < clients_.size()) ||
                    (phase == Phase::Write && !writers_.empty());
        int n = epoll_wait(epoll_, events, kMaxEvents, busy ? 1 : 20);
        now = monotonicNanos();
        for (int i = 0; i < n; ++i) onEvent(*static_cast<Client*>(events[i].data.ptr), events[i].events, now);
    }
    closeAll();
}

void ClientLoop::openDueClients(uint64_t now) {
    double elapsed = double(now - connectStartNanos_) / 1e9;
    auto due = std::min(clients_.size(), size_t(elapsed * connectRate_) + 1);
    while (nextToOpen_ < due) startClient(clients_[nextToOpen_++]);
}

void ClientLoop::startClient(Client& client) {
    const uint32_t sources = run_.options.sourceAddresses;
    client.fd = startConnect(run_.endpoints[client.node], sources ? 1 + client.index % sources : 0);
    if (client.fd < 0) return fail(client, std::string("connect: ") + strerror(errno));
    client.state = Client::State::Connecting;
    epoll_event event{};
    event.events = EPOLLOUT;
    event.data.ptr = &client;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, client.fd, &event);
    client.wantsWritable = true;
}

void ClientLoop::onEvent(Client& client, uint32_t events, uint64_t now) {
    if (client.state == Client::State::Connecting) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(client.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) return fail(client, std::string("connect: ") + strerror(error));
        return onConnected(client);
    }
    if (client.state != Client::State::Handshake && client.state != Client::State::Open) return;
    if (events & EPOLLOUT) send(client);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (client.state == Client::State::Handshake) return readHandshake(client, now);
        readFrames(client);
    }
}

void ClientLoop::onConnected(Client& client) {
    const Options& o = run_.options;
    char raw[16];
    for (int i = 0; i < 16; i += 4) {
        uint32_t r = nextMask();
        std::memcpy(raw + i, &r, 4);
    }
    client.key = base64Encode(std::string_view(raw, sizeof raw));
    std::string request =
        "GET " + run_.expandPath(o.wsPath, client.room, client.index) +
        " HTTP/1.1\r\nHost: " + run_.endpoints[client.node].hostHeader +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + client.key +
        "\r\nSec-WebSocket-Version: 13\r\n";
    if (o.subprotocol) request += "Sec-WebSocket-Protocol: partyline.v1\r\n";
    request += "\r\n";
    client.state = Client::State::Handshake;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &client;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, client.fd, &event);
    client.wantsWritable = false;
    client.out = std::move(request);
    send(client);
}

void ClientLoop::readHandshake(Client& client, uint64_t now) {
    ssize_t n = recv(client.fd, readBuffer_.data(), readBuffer_.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0)
        return fail(client, n == 0 ? "closed during the upgrade" : std::string("read: ") + strerror(errno));
    client.handshake.append(readBuffer_.data(), size_t(n));
    auto end = client.handshake.find("\r\n\r\n");
    if (end == std::string::npos) {
        if (client.handshake.size() > kMaxHandshakeBytes) fail(client, "upgrade answer too long");
        return;
    }
    std::string rest = client.handshake.substr(end + 4);
    finishHandshake(client, std::string_view(client.handshake).substr(0, end));
    std::string().swap(client.handshake);
    if (client.state != Client::State::Open) return;
    if (!rest.empty()) {
        Sink sink(*this, client, now);
        client.reader.feed(rest, sink);
    }
}

void ClientLoop::finishHandshake(Client& client, std::string_view head) {
    std::string_view statusLine = head.substr(0, head.find("\r\n"));
    if (statusLine.substr(0, 13) != "HTTP/1.1 101 ")
        return fail(client, "upgrade refused: " + std::string(statusLine.substr(0, 80)));
    bool acceptOk = false;
    for (size_t at = statusLine.size() + 2; at < head.size();) {
        size_t end = std::min(head.find("\r\n", at), head.size());
        std::string_view line = head.substr(at, end - at);
        at = end + 2;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name = lower(line.substr(0, colon));
        std::string_view value = trim(line.substr(colon + 1));
        if (name == "sec-websocket-accept") acceptOk = value == net::websocketAcceptKey(client.key);
        if (name == "sec-websocket-protocol") client.enveloped = value == "partyline.v1";
    }
    if (!acceptOk) return fail(client, "upgrade answer without the right Sec-WebSocket-Accept");
    client.state = Client::State::Open;
    uint64_t now = monotonicNanos();
    if (result_.firstOpenNanos == 0) result_.firstOpenNanos = now;
    result_.lastOpenNanos = now;
    if (client.enveloped) ++result_.enveloped;
    run_.openedPerRoom[client.room].fetch_add(1, std::memory_order_relaxed);
    live_.opened.fetch_add(1, std::memory_order_relaxed);
}

void ClientLoop::readFrames(Client& client) {
    for (int i = 0; i < kReadsPerEvent && client.state == Client::State::Open; ++i) {
        ssize_t n = recv(client.fd, readBuffer_.data(), readBuffer_.size(), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) return closeClient(client, net::close_code::Abnormal);
        Sink sink(*this, client, monotonicNanos());
        client.reader.feed(std::string_view(readBuffer_.data(), size_t(n)), sink);
        if (size_t(n) < readBuffer_.size()) return;
    }
}

void ClientLoop::deliver(Client& client, std::string_view payload, uint64_t now) {
    Delivery delivery = parseDelivery(payload, client.enveloped, run_.runId);
    if (delivery.kind == Delivery::Kind::Welcome) return;
    const WriteStamp& stamp = delivery.stamp;
    if (delivery.kind != Delivery::Kind::Ours || stamp.writer >= run_.writerCount() ||
        stamp.counter > run_.maxCounter()) {
        ++result_.foreign;
        return;
    }
    if (stamp.room != client.room) {
        ++result_.misrouted;
        return;
    }
    if (client.streams.empty()) client.streams.resize(run_.writerCount());
    StreamSeen& stream = client.streams[stamp.writer];
    if (testAndSet(stream.bits, stamp.counter)) {
        ++result_.duplicates;
        return;
    }
    live_.delivered.fetch_add(1, std::memory_order_relaxed);
    result_.latency.record(now > stamp.sentNanos ? now - stamp.sentNanos : 0);
    result_.lastDeliveryNanos = now;
    bool outOfOrder = stamp.counter < stream.lastCounter;
    stream.lastCounter = std::max(stream.lastCounter, stamp.counter);
    if (client.enveloped && delivery.seq != 0) {
        outOfOrder |= delivery.seq <= client.lastSeq;
        client.lastSeq = std::max(client.lastSeq, delivery.seq);
    }
    if (outOfOrder) ++result_.orderViolations;
}

void ClientLoop::sendDueWrites(uint64_t now) {
    const Options& o = run_.options;
    uint64_t start = run_.writeStartNanos.load(std::memory_order_acquire);
    double elapsed = double(now - start) / 1e9;
    uint64_t due = std::min(result_.planned, uint64_t(elapsed * writeRate_) + 1);
    while (writesDone_ < due) {
        Client* writer = nullptr;
        for (size_t tries = 0; tries < writers_.size() && !writer; ++tries) {
            Client& candidate = clients_[writers_[nextWriter_]];
            nextWriter_ = (nextWriter_ + 1) % writers_.size();
            if (candidate.state == Client::State::Open) writer = &candidate;
        }
        if (!writer) {  // every writer of this thread is closed: the write is not sent
            writesDone_ = due;
            return;
        }
        auto scheduled = start + uint64_t(double(writesDone_) / writeRate_ * 1e9);
        if (now > scheduled) result_.maxSendLagNanos = std::max(result_.maxSendLagNanos, now - scheduled);
        WriteStamp stamp{writer->room, uint32_t(writer->writer), ++writer->writes, monotonicNanos()};
        appendClientFrame(writer->out, Opcode::Text, encodePayload(run_.runId, stamp, o.size), nextMask());
        result_.ledger.add(stamp.room, stamp.writer, stamp.counter);
        run_.expectedWritesPerRoom[stamp.room].fetch_add(1, std::memory_order_relaxed);
        live_.sent.fetch_add(1, std::memory_order_relaxed);
        ++writesDone_;
        send(*writer);
    }
}

void ClientLoop::send(Client& client) {
    while (client.outSent < client.out.size()) {
        ssize_t n = ::send(client.fd, client.out.data() + client.outSent, client.out.size() - client.outSent,
                           MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return watchWritable(client, true);
        if (n < 0) {
            if (client.state == Client::State::Handshake)
                return fail(client, std::string("write: ") + strerror(errno));
            return closeClient(client, net::close_code::Abnormal);
        }
        client.outSent += size_t(n);
    }
    client.out.clear();
    client.outSent = 0;
    watchWritable(client, false);
}

void ClientLoop::watchWritable(Client& client, bool on) {
    if (client.wantsWritable == on || client.fd < 0) return;
    epoll_event event{};
    event.events = uint32_t(EPOLLIN) | (on ? uint32_t(EPOLLOUT) : 0u);
    event.data.ptr = &client;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, client.fd, &event);
    client.wantsWritable = on;
}

void ClientLoop::fail(Client& client, const std::string& why) {
    if (client.fd >= 0) close(client.fd);
    client.fd = -1;
    client.state = Client::State::Failed;
    ++result_.connectErrors[why];
    live_.failed.fetch_add(1, std::memory_order_relaxed);
}

// The server closed (with `code`), broke the protocol, or the socket ended (1006).
void ClientLoop::closeClient(Client& client, uint16_t code) {
    if (client.state != Client::State::Open) return;
    if (run_.phase() != Phase::Stop) ++result_.serverCloses[code];
    if (code != net::close_code::Abnormal) {
        std::string reply;
        uint16_t echo = code == net::close_code::NoStatus ? uint16_t(net::close_code::Normal) : code;
        appendClientClose(reply, echo, nextMask());
        ::send(client.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(client.fd);
    client.fd = -1;
    client.state = Client::State::Closed;
    client.closeCode = code;
}

void ClientLoop::giveUpPending() {
    for (Client& client : clients_) {
        if (client.state == Client::State::Waiting || client.state == Client::State::Connecting ||
            client.state == Client::State::Handshake)
            fail(client, "not open within --connect-timeout");
    }
}

void ClientLoop::markOpenAtWriteStart() {
    for (Client& client : clients_) client.openAtWriteStart = client.state == Client::State::Open;
    openCounted_ = true;
}

void ClientLoop::closeAll() {
    for (Client& client : clients_) {
        if (client.fd < 0) continue;
        if (client.state == Client::State::Open) {
            std::string bye;
            appendClientClose(bye, net::close_code::Normal, nextMask());
            ::send(client.fd, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        close(client.fd);
        client.fd = -1;
    }
}

}  // namespace partyline::bench
