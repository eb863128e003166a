// Reactor over loopback TCP, with clients driven by hand: masked frames written by the test, server
// frames parsed by it. A Sender writes, a Reactor reads, as in HttpServer. Timers are shortened so
// every test ends well within 3 s.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "NetTestSupport.h"
#include "net/Reactor.h"
#include "net/Sender.h"
#include "net/SessionHandler.h"
#include "net/SocketLocator.h"
#include "net/WebSocketProtocol.h"

namespace partyline::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::closePayload;
using test::FrameStream;
using test::maskedFrame;
using test::maskedHeader;
using test::TcpPair;
using test::writeAll;

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kText = 0x01, kBinary = 0x02, kClose = 0x08, kPing = 0x09, kPong = 0x0A;
constexpr uint8_t kCloseOp = 8, kPingOp = 9, kPongOp = 10;

// Long enough that no timer fires unless a test asks for it.
const SessionLimits kQuiet{1 << 16, 10s, 20s};

// What a handler saw. Shared by the handler (owned by the Reactor, which destroys it after
// onClosed) and the test.
class Record {
   public:
    void message(std::string payload) {
        std::lock_guard lock(mutex_);
        messages_.push_back(std::move(payload));
    }
    void peerClose() {
        std::lock_guard lock(mutex_);
        peerClosed_ = true;
    }
    bool peerClosed() const {
        std::lock_guard lock(mutex_);
        return peerClosed_;
    }
    void closed(uint16_t code, std::string_view reason) {
        {
            std::lock_guard lock(mutex_);
            ++closedCalls_;
            code_ = code;
            reason_ = reason;
        }
        changed_.notify_all();
    }

    // True once onClosed was called; false after `timeout`.
    bool waitClosed(std::chrono::milliseconds timeout = 2500ms) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return closedCalls_ > 0; });
    }
    int closedCalls() const {
        std::lock_guard lock(mutex_);
        return closedCalls_;
    }
    uint16_t code() const {
        std::lock_guard lock(mutex_);
        return code_;
    }
    std::string reason() const {
        std::lock_guard lock(mutex_);
        return reason_;
    }
    std::vector<std::string> messages() const {
        std::lock_guard lock(mutex_);
        return messages_;
    }

   private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> messages_;
    int closedCalls_ = 0;
    bool peerClosed_ = false;
    uint16_t code_ = 0;
    std::string reason_;
};

// Echoes every message back through the outbox, as a room would after a round trip.
class EchoHandler : public SessionHandler {
   public:
    EchoHandler(std::shared_ptr<Outbox> outbox, std::shared_ptr<Record> record)
        : outbox_(std::move(outbox)), record_(std::move(record)) {}

    void onMessage(std::string payload, bool binary) override {
        auto echo =
            std::make_shared<const std::string>(encodeFrame(binary ? Opcode::Binary : Opcode::Text, payload));
        record_->message(std::move(payload));  // before the echo: a test that saw the echo sees the record
        outbox_->send(std::move(echo));
    }
    void onPeerClosed(uint16_t, std::string_view) override { record_->peerClose(); }
    void onClosed(uint16_t code, std::string_view reason) override { record_->closed(code, reason); }

   private:
    std::shared_ptr<Outbox> outbox_;
    std::shared_ptr<Record> record_;
};

// One hand-driven client whose server side was handed to `reactor`, as HttpServer does after the
// upgrade. The Reactor owns and closes the server fd.
struct WsClient {
    WsClient(Sender& sender, Reactor& reactor, const SessionLimits& limits = kQuiet,
             size_t sendBufferBytes = 1 << 20)
        : outbox(sender.attach(pair.server, sendBufferBytes)), frames(pair.client) {
        serverFd = pair.server;
        pair.server = -1;
        REQUIRE(adoptSocket(serverFd));
        reactor.adopt(serverFd, outbox, std::make_unique<EchoHandler>(outbox, record), limits);
    }

    void send(const std::string& bytes) { REQUIRE(writeAll(pair.client, bytes)); }

    // What a browser does with the server's Close: answers it, waits for the server's end of the
    // stream, then ends its own (which ends the session on the server).
    void answerClose(const test::ServerFrame& close) {
        send(maskedFrame(kFin | kClose, close.payload.empty() ? "" : closePayload(close.closeCode())));
        endStream();
    }
    void endStream() {
        CHECK(frames.waitEof(2s));
        ::shutdown(pair.client, SHUT_WR);
    }

    // Sends a text message and expects it back.
    void echoes(const std::string& text) {
        send(maskedFrame(kFin | kText, text));
        auto echo = frames.next(2s);
        REQUIRE(echo);
        CHECK(echo->opcode == 1);
        CHECK(echo->payload == text);
    }

    TcpPair pair;
    int serverFd = -1;
    std::shared_ptr<Outbox> outbox;
    std::shared_ptr<Record> record = std::make_shared<Record>();
    FrameStream frames;
};

// Members in the order HttpServer holds them: the Reactor goes before the Sender it writes through.
struct Node {
    Sender sender;
    Reactor reactor;
};

TEST_SUITE("net.Reactor") {
    TEST_CASE("messages are delivered to the handler and its replies reach the client") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.send(maskedFrame(kFin | kText, "hello"));
        client.send(maskedFrame(kBinary, "bi") + maskedFrame(kFin, "nary"));
        auto text = client.frames.next(), binary = client.frames.next();
        REQUIRE((text && binary));
        CHECK(text->opcode == 1);
        CHECK(text->payload == "hello");
        CHECK(binary->opcode == 2);
        CHECK(binary->payload == "binary");
        CHECK(client.record->messages() == std::vector<std::string>{"hello", "binary"});
        CHECK(node.reactor.size() == 1);
    }

    TEST_CASE("a big message split across reads is reassembled") {
        Node node;
        WsClient client(node.sender, node.reactor, {1 << 20, 10s, 20s});
        std::string payload(200000, 'p');
        client.send(maskedFrame(kFin | kBinary, payload));
        auto echo = client.frames.next();
        REQUIRE(echo);
        CHECK(echo->payload == payload);
    }

    TEST_CASE("a ping is answered with a pong carrying the same payload") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.send(maskedFrame(kFin | kPing, "tick"));
        auto pong = client.frames.next();
        REQUIRE(pong);
        CHECK(pong->opcode == kPongOp);
        CHECK(pong->payload == "tick");
    }

    TEST_CASE("silence: a ping after the interval, then dropped 1006 'ping timeout' with no Close") {
        Node node;
        auto start = Clock::now();
        WsClient client(node.sender, node.reactor, {1 << 16, 50ms, 300ms});
        auto ping = client.frames.next(1s);
        REQUIRE(ping);
        CHECK(ping->opcode == kPingOp);
        REQUIRE(client.record->waitClosed(2s));
        CHECK(Clock::now() - start >= 300ms);
        CHECK(client.record->code() == 1006);
        CHECK(client.record->reason() == "ping timeout");
        CHECK(node.reactor.stats().pingTimeouts == 1);
        while (auto f = client.frames.next(1s)) CHECK(f->opcode != kCloseOp);
        CHECK(client.frames.eof());  // the Reactor closed the socket
        CHECK(node.reactor.size() == 0);
    }

    TEST_CASE("a client that answers pings stays connected") {
        Node node;
        WsClient client(node.sender, node.reactor, {1 << 16, 100ms, 1000ms});
        // Past the 1 s timeout, and at least three pings answered (a loaded machine may send fewer
        // in that second than the interval says, never none).
        auto start = Clock::now(), giveUp = start + 10s;
        int pings = 0;
        while ((Clock::now() - start < 1100ms || pings < 3) && Clock::now() < giveUp) {
            if (auto f = client.frames.next(50ms); f && f->opcode == kPingOp) {
                ++pings;
                client.send(maskedFrame(kFin | kPong, f->payload));
            }
        }
        CHECK(pings >= 3);
        CHECK(client.record->closedCalls() == 0);
        client.echoes("still here");
    }

    TEST_CASE("close handshake: the client's Close is echoed, the socket shut, onClosed gets its code") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.send(maskedFrame(kFin | kClose, closePayload(4001, "bye")));
        auto echo = client.frames.next();
        REQUIRE(echo);
        CHECK(echo->opcode == kCloseOp);
        CHECK(echo->closeCode() == 4001);
        client.endStream();
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->closedCalls() == 1);
        CHECK(client.record->code() == 4001);
        CHECK(client.record->reason() == "bye");
        CHECK(client.outbox->closed());
        CHECK(!isAdopted(client.serverFd));  // released before the fd was closed
        CHECK(node.reactor.size() == 0);
    }

    TEST_CASE("a Close without a code is echoed empty and reported as 1005") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.send(maskedFrame(kFin | kClose, ""));
        auto echo = client.frames.next();
        REQUIRE(echo);
        CHECK(echo->opcode == kCloseOp);
        CHECK(echo->payload.empty());
        client.endStream();
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->code() == 1005);
    }

    TEST_CASE("an oversize frame is refused with 1009 from its header") {
        Node node;
        WsClient client(node.sender, node.reactor, {1000, 10s, 20s});
        client.send(maskedHeader(kFin | kBinary, uint64_t(2) << 30));
        auto close = client.frames.next();
        REQUIRE(close);
        CHECK(close->opcode == kCloseOp);
        CHECK(close->closeCode() == 1009);
        CHECK(close->closeReason().find("1000 bytes") != std::string::npos);
        client.answerClose(*close);
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->code() == 1009);
        CHECK(client.record->messages().empty());
    }

    TEST_CASE("a client over its message rate is closed 1008 after its burst, and counted") {
        Node node;
        SessionLimits limits = kQuiet;
        limits.messagesPerSecond = 1;  // a token per second: none comes back during the test
        limits.messageBurst = 3;
        WsClient client(node.sender, node.reactor, limits);
        std::string burst;
        for (int i = 0; i < 10; ++i) burst += maskedFrame(kFin | kText, "m" + std::to_string(i));
        client.send(burst);
        for (int i = 0; i < 3; ++i) {
            auto echo = client.frames.next();
            REQUIRE(echo);
            CHECK(echo->payload == "m" + std::to_string(i));
        }
        auto close = client.frames.next();
        REQUIRE(close);
        CHECK(close->opcode == kCloseOp);
        CHECK(close->closeCode() == 1008);
        CHECK(close->closeReason() == "message rate over limits.max_messages_per_second (1/s)");
        client.answerClose(*close);
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->code() == 1008);
        CHECK(client.record->messages() == std::vector<std::string>{"m0", "m1", "m2"});
        CHECK(node.reactor.stats().rateLimited == 1);
    }

    TEST_CASE("pings count against the message rate: a ping flood is closed 1008 after its burst") {
        Node node;
        SessionLimits limits = kQuiet;
        limits.messagesPerSecond = 1;
        limits.messageBurst = 3;
        WsClient client(node.sender, node.reactor, limits);
        std::string flood;
        for (int i = 0; i < 50; ++i) flood += maskedFrame(kFin | kPing, "p");
        client.send(flood);
        for (int i = 0; i < 3; ++i) {
            auto pong = client.frames.next();
            REQUIRE(pong);
            CHECK(pong->opcode == kPongOp);
        }
        auto close = client.frames.next();
        REQUIRE(close);
        CHECK(close->opcode == kCloseOp);
        CHECK(close->closeCode() == 1008);
        client.answerClose(*close);
        REQUIRE(client.record->waitClosed());
        CHECK(node.reactor.stats().rateLimited == 1);
    }

    TEST_CASE("unsolicited pongs count against the message rate too") {
        Node node;
        SessionLimits limits = kQuiet;
        limits.messagesPerSecond = 1;
        limits.messageBurst = 3;
        WsClient client(node.sender, node.reactor, limits);
        std::string flood;
        for (int i = 0; i < 50; ++i) flood += maskedFrame(kFin | kPong, "");
        client.send(flood);
        auto close = client.frames.next();
        REQUIRE(close);
        CHECK(close->opcode == kCloseOp);
        CHECK(close->closeCode() == 1008);
    }

    TEST_CASE("a message begun and not finished within the deadline is closed 1008, fragments or not") {
        Node node;
        SessionLimits limits = kQuiet;
        limits.messageTimeout = 300ms;
        WsClient idle(node.sender, node.reactor, limits);
        WsClient trickle(node.sender, node.reactor, limits);
        auto start = Clock::now();
        idle.send(maskedFrame(kText, "first part"));  // no FIN: more fragments to come
        trickle.send(maskedFrame(kBinary, "a"));
        // The trickler keeps sending fragments (each a sign of life), never the last one.
        for (int i = 0; i < 100 && trickle.record->closedCalls() == 0; ++i) {
            if (!writeAll(trickle.pair.client, maskedFrame(0x00, "b"))) break;
            std::this_thread::sleep_for(20ms);
        }
        for (WsClient* client : {&idle, &trickle}) {
            auto close = client->frames.next(3s);
            REQUIRE(close);
            CHECK(close->opcode == kCloseOp);
            CHECK(close->closeCode() == 1008);
            CHECK(close->closeReason() == "message not finished within limits.message_timeout_ms (300 ms)");
            client->answerClose(*close);
            REQUIRE(client->record->waitClosed());
            CHECK(client->record->messages().empty());
        }
        CHECK(Clock::now() - start >= 300ms);
        CHECK(node.reactor.stats().messageTimeouts == 2);
    }

    TEST_CASE("the deadline is for a message begun: a client quiet between whole messages stays") {
        Node node;
        SessionLimits limits = kQuiet;
        limits.messageTimeout = 100ms;
        WsClient client(node.sender, node.reactor, limits);
        client.echoes("one");
        std::this_thread::sleep_for(400ms);  // several deadlines with nothing begun
        client.send(maskedFrame(kText, "two, "));
        client.send(maskedFrame(kFin | 0x00, "in two frames"));
        auto echo = client.frames.next();
        REQUIRE(echo);
        CHECK(echo->payload == "two, in two frames");
        CHECK(client.record->closedCalls() == 0);
        CHECK(node.reactor.stats().messageTimeouts == 0);
    }

    TEST_CASE("past the node's input budget the newest holder of an unfinished message is closed 1013") {
        Sender sender;
        Reactor reactor(100000);             // bytes of unfinished messages, all connections together
        const std::string part(45000, 'x');  // held as 45,000 to 90,000 bytes (string growth)
        std::vector<std::unique_ptr<WsClient>> clients;
        std::vector<test::ServerFrame> answers;  // the pong, or the Close: either way the part was read
        for (int i = 0; i < 4; ++i) {
            clients.push_back(std::make_unique<WsClient>(sender, reactor, SessionLimits{1 << 20, 10s, 20s}));
            WsClient& c = *clients.back();
            c.send(maskedFrame(kBinary, part));  // no FIN
            c.send(maskedFrame(kFin | kPing, "read?"));
            auto answer = c.frames.next();
            REQUIRE(answer);
            answers.push_back(*answer);
        }
        // At most two parts fit, and the first one came first: it is never the newest.
        int refused = 0;
        for (size_t i = 1; i < clients.size(); ++i) {
            WsClient& c = *clients[i];
            if (c.record->closedCalls() == 0 && !c.outbox->closed()) continue;
            ++refused;
        }
        CHECK(refused >= 2);
        CHECK(reactor.stats().inputBudgetCloses == uint64_t(refused));
        CHECK(reactor.stats().pendingInputBytes <= 100000);
        // The oldest finishes its message and is answered.
        WsClient& first = *clients[0];
        CHECK(first.record->closedCalls() == 0);
        first.send(maskedFrame(kFin | 0x00, "!"));
        std::optional<test::ServerFrame> echo;
        while ((echo = first.frames.next()) && echo->opcode != 2) {
        }
        REQUIRE(echo);
        CHECK(echo->payload == part + "!");
        // Those refused got 1013 and the reason.
        for (size_t i = 1; i < clients.size(); ++i) {
            WsClient& c = *clients[i];
            if (!c.outbox->closed()) continue;
            std::optional<test::ServerFrame> close = answers[i];
            while (close && close->opcode != kCloseOp) close = c.frames.next();
            REQUIRE(close);
            CHECK(close->closeCode() == 1013);
            CHECK(close->closeReason().find("limits.max_pending_input_bytes") != std::string::npos);
        }
    }

    TEST_CASE(
        "settle is answered by a round of the Reactor, which reads what clients sent: a message, a Close") {
        Node node;
        WsClient talker(node.sender, node.reactor);
        WsClient leaver(node.sender, node.reactor);
        // Loopback hands bytes to the receiving socket soon after the write returns, not always
        // before: a round or two may pass first, never many.
        auto settleUntil = [&](auto seen) {
            for (int round = 0; round < 50 && !seen(); ++round) {
                auto start = Clock::now();
                node.reactor.settle(5s);
                CHECK(Clock::now() - start < 5s);  // answered by a round, not by the timeout
            }
            return seen();
        };
        for (int i = 0; i < 20; ++i) {
            std::string text = "m" + std::to_string(i);
            talker.send(maskedFrame(kFin | kText, text));
            REQUIRE(settleUntil([&] { return talker.record->messages().size() == size_t(i + 1); }));
            CHECK(talker.record->messages().back() == text);
        }
        leaver.send(maskedFrame(kFin | kClose, closePayload(1000, "bye")));
        CHECK(settleUntil([&] { return leaver.record->peerClosed(); }));
        leaver.endStream();
    }

    TEST_CASE("time the Reactor's thread did not run is no client's silence") {
        Node node;
        // A handler that holds the Reactor's thread, as a paused process would.
        static std::atomic<bool> stalled{false};
        stalled = false;
        struct Stall : SessionHandler {
            void onMessage(std::string, bool) override {
                std::this_thread::sleep_for(2500ms);
                stalled = true;
            }
            void onClosed(uint16_t, std::string_view) override {}
        };
        TcpPair stallPair;
        REQUIRE(adoptSocket(stallPair.server));
        node.reactor.adopt(stallPair.server, node.sender.attach(stallPair.server, 1 << 20),
                           std::make_unique<Stall>(), kQuiet);
        stallPair.server = -1;
        WsClient quiet(node.sender, node.reactor, {1 << 16, 10s, 1500ms});  // silent, dead after 1.5 s of it
        REQUIRE(writeAll(stallPair.client, maskedFrame(kFin | kText, "hold the thread")));
        for (int i = 0; i < 1000 && !stalled; ++i) std::this_thread::sleep_for(10ms);
        REQUIRE(stalled);
        CHECK(quiet.record->closedCalls() == 0);
        quiet.echoes("still here");
    }

    TEST_CASE("a client within its message rate is never closed") {
        Node node;
        SessionLimits limits = kQuiet;
        limits.messagesPerSecond = 1000;
        limits.messageBurst = 50;
        WsClient client(node.sender, node.reactor, limits);
        for (int i = 0; i < 40; ++i) client.echoes("ok" + std::to_string(i));
        CHECK(client.record->closedCalls() == 0);
        CHECK(node.reactor.stats().rateLimited == 0);
    }

    TEST_CASE("text that is not UTF-8 is refused with 1007") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.send(maskedFrame(kFin | kText, "\xC3\x28"));
        auto close = client.frames.next();
        REQUIRE(close);
        CHECK(close->closeCode() == 1007);
        client.answerClose(*close);
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->code() == 1007);
        CHECK(client.record->messages().empty());
    }

    TEST_CASE("an unmasked frame is refused with 1002") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.send(encodeFrame(Opcode::Text, "not masked"));
        auto close = client.frames.next();
        REQUIRE(close);
        CHECK(close->closeCode() == 1002);
        client.answerClose(*close);
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->code() == 1002);
    }

    TEST_CASE("drain closes every connection 1001, those adopted afterwards too") {
        Node node;
        WsClient before(node.sender, node.reactor);
        before.echoes("x");
        node.reactor.drain();
        WsClient after(node.sender, node.reactor);
        for (WsClient* client : {&before, &after}) {
            auto close = client->frames.next(1s);
            REQUIRE(close);
            CHECK(close->closeCode() == 1001);
            CHECK(close->closeReason() == "server shutting down");
            client->answerClose(*close);
            REQUIRE(client->record->waitClosed());
            CHECK(client->record->code() == 1001);
        }
    }

    TEST_CASE("a close from another thread ends the session with this side's code") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.echoes("x");
        std::thread room([&] { client.outbox->close(4000, "bye"); });
        room.join();
        auto close = client.frames.next();
        REQUIRE(close);
        CHECK(close->closeCode() == 4000);
        CHECK(close->closeReason() == "bye");
        // The client answers with a code of its own: the server closed first, so its code stands.
        client.send(maskedFrame(kFin | kClose, closePayload(1000, "ok")));
        client.endStream();
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->closedCalls() == 1);
        CHECK(client.record->code() == 4000);
        CHECK(client.record->reason() == "bye");
    }

    TEST_CASE("Closes that cross: this side closed first, so its code stands") {
        Node node;
        WsClient client(node.sender, node.reactor, kQuiet, 64 << 20);
        // Back up the server's writes so its Close waits in the outbox behind them.
        auto chunk =
            std::make_shared<const std::string>(encodeFrame(Opcode::Binary, std::string(16 * 1024, 'c')));
        auto deadline = Clock::now() + 2s;
        while (client.outbox->queuedBytes() < (256 << 10) && Clock::now() < deadline)
            REQUIRE(client.outbox->send(chunk) == SendResult::Queued);
        REQUIRE(client.outbox->queuedBytes() >= (256 << 10));
        std::thread room([&] { client.outbox->close(4000, "bye"); });
        room.join();
        // The client closes too, before it has seen the server's Close.
        client.send(maskedFrame(kFin | kClose, closePayload(1000, "ok")));
        std::optional<test::ServerFrame> last;
        while (auto f = client.frames.next(1s)) last = std::move(f);
        REQUIRE(last);
        CHECK(last->closeCode() == 4000);
        client.endStream();
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->code() == 4000);
        CHECK(client.record->reason() == "bye");
    }

    TEST_CASE("a client that stops reading is closed 1013 while another on the same Reactor flows") {
        Node node;
        WsClient slow(node.sender, node.reactor, kQuiet, 64 * 1024);
        WsClient fast(node.sender, node.reactor);
        int small = 16 * 1024;
        ::setsockopt(slow.pair.client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        // The room keeps sending to `slow`, which reads nothing, until its outbox is over the limit.
        auto chunk =
            std::make_shared<const std::string>(encodeFrame(Opcode::Binary, std::string(16 * 1024, 's')));
        auto deadline = Clock::now() + 2s;
        SendResult result = SendResult::Queued;
        while (result == SendResult::Queued && Clock::now() < deadline) result = slow.outbox->send(chunk);
        REQUIRE(result == SendResult::Slow);
        for (int i = 0; i < 20; ++i) fast.echoes("m" + std::to_string(i));
        // `slow` reads again: what was written, then the 1013 Close, then the end of the stream.
        std::optional<test::ServerFrame> last;
        while (auto f = slow.frames.next(1s)) last = std::move(f);
        REQUIRE(last);
        CHECK(last->opcode == kCloseOp);
        CHECK(last->closeCode() == 1013);
        CHECK(last->closeReason().find("slow consumer") != std::string::npos);
        slow.endStream();
        REQUIRE(slow.record->waitClosed());
        CHECK(slow.record->code() == 1013);
        CHECK(fast.record->closedCalls() == 0);
        fast.echoes("after");
    }

    TEST_CASE("a client that disconnects without a Close is reported as 1006") {
        Node node;
        WsClient client(node.sender, node.reactor);
        client.echoes("x");
        client.pair.closeClient();
        REQUIRE(client.record->waitClosed());
        CHECK(client.record->closedCalls() == 1);
        CHECK(client.record->code() == 1006);
    }

    TEST_CASE("200 connections at once each get their own echo") {
        Node node;
        std::vector<std::unique_ptr<WsClient>> clients;
        for (int i = 0; i < 200; ++i)
            clients.push_back(std::make_unique<WsClient>(node.sender, node.reactor));
        for (size_t i = 0; i < clients.size(); ++i)
            clients[i]->send(maskedFrame(kFin | kText, "client " + std::to_string(i)));
        for (size_t i = 0; i < clients.size(); ++i) {
            auto echo = clients[i]->frames.next(2s);
            REQUIRE(echo);
            CHECK(echo->payload == "client " + std::to_string(i));
        }
        CHECK(node.reactor.size() == 200);
    }

    TEST_CASE("destroying the Reactor closes open connections 1001 and calls onClosed once each") {
        Sender sender;
        std::optional<Reactor> reactor(std::in_place);
        std::vector<std::unique_ptr<WsClient>> clients;
        for (int i = 0; i < 5; ++i) {
            clients.push_back(std::make_unique<WsClient>(sender, *reactor));
            clients.back()->echoes("x");
        }
        // One more that the Reactor's thread may not even have taken in yet.
        clients.push_back(std::make_unique<WsClient>(sender, *reactor));
        // None of them answers its Close: the Reactor waits its 1 s for them, then closes them anyway.
        auto start = Clock::now();
        reactor.reset();
        CHECK(Clock::now() - start < 1500ms);
        for (auto& client : clients) {
            CHECK(client->record->closedCalls() == 1);  // the destructor returned: every call is done
            CHECK(client->record->code() == 1001);
            auto close = client->frames.next(1s);
            REQUIRE(close);
            CHECK(close->closeCode() == 1001);
            CHECK(client->frames.waitEof(1s));
        }
    }
}

}  // namespace
}  // namespace partyline::net
