// runWebSocketSession over loopback TCP, with a client driven by hand: masked frames written by the
// test, server frames parsed by it. Timers are shortened so every test ends in well under a second.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "NetTestSupport.h"
#include "net/Sender.h"
#include "net/WebSocketProtocol.h"
#include "net/WebSocketSession.h"

namespace partyline::net {
namespace {

using namespace std::chrono_literals;
using test::closePayload;
using test::FrameStream;
using test::maskedFrame;
using test::maskedHeader;
using test::TcpPair;
using test::writeAll;

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kText = 0x01, kBinary = 0x02, kClose = 0x08, kPing = 0x09, kPong = 0x0A;

// Echoes every message back through the outbox, as a room would after a round trip.
class EchoHandler : public SessionHandler {
   public:
    explicit EchoHandler(Outbox& outbox) : outbox_(outbox) {}

    void onMessage(std::string payload, bool binary) override {
        auto echo =
            std::make_shared<const std::string>(encodeFrame(binary ? Opcode::Binary : Opcode::Text, payload));
        {
            // Recorded before the echo goes out, so a test that saw the echo sees the record.
            std::lock_guard lock(mutex_);
            messages_.push_back(std::move(payload));
        }
        outbox_.send(std::move(echo));
    }
    void onClosed(uint16_t code, std::string_view reason) override {
        std::lock_guard lock(mutex_);
        ++closedCalls_;
        code_ = code;
        reason_ = reason;
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
    Outbox& outbox_;
    mutable std::mutex mutex_;
    std::vector<std::string> messages_;
    int closedCalls_ = 0;
    uint16_t code_ = 0;
    std::string reason_;
};

// One server-side session on its own thread, as a CivetWeb worker would run it.
struct SessionRun {
    explicit SessionRun(SessionLimits limits = {1 << 16, 10s, 20s}, std::string alreadyBuffered = {})
        : outbox(sender.attach(pair.server, 1 << 20)), handler(*outbox), client(pair.client) {
        thread = std::thread([this, limits, buffered = std::move(alreadyBuffered)] {
            runWebSocketSession(pair.server, buffered, *outbox, handler, limits, stopping);
            done = true;
        });
    }
    ~SessionRun() {
        // The client leaving ends the session at once; `stopping` is only looked at once a second.
        if (pair.client >= 0) ::shutdown(pair.client, SHUT_RDWR);
        stopping = true;
        if (thread.joinable()) thread.join();
    }
    bool finishes(std::chrono::milliseconds timeout = 4000ms) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
        if (done) thread.join();
        return done;
    }
    void send(const std::string& bytes) { REQUIRE(writeAll(pair.client, bytes)); }

    Sender sender;
    TcpPair pair;
    std::shared_ptr<Outbox> outbox;
    EchoHandler handler;
    FrameStream client;
    std::atomic<bool> stopping{false};
    std::atomic<bool> done{false};
    std::thread thread;
};

TEST_SUITE("net.WebSocketSession") {
    TEST_CASE("messages are delivered to the handler and its replies reach the client") {
        SessionRun run;
        run.send(maskedFrame(kFin | kText, "hello"));
        run.send(maskedFrame(kBinary, "bi") + maskedFrame(kFin, "nary"));
        auto text = run.client.next(), binary = run.client.next();
        REQUIRE((text && binary));
        CHECK(text->opcode == 1);
        CHECK(text->payload == "hello");
        CHECK(binary->opcode == 2);
        CHECK(binary->payload == "binary");
        CHECK(run.handler.messages() == std::vector<std::string>{"hello", "binary"});
    }

    TEST_CASE("a big message split across reads is reassembled") {
        SessionRun run({1 << 20, 10s, 20s});
        std::string payload(200000, 'p');
        run.send(maskedFrame(kFin | kBinary, payload));
        auto echo = run.client.next();
        REQUIRE(echo);
        CHECK(echo->payload == payload);
    }

    TEST_CASE("a ping is answered with a pong carrying the same payload") {
        SessionRun run;
        run.send(maskedFrame(kFin | kPing, "tick"));
        auto pong = run.client.next();
        REQUIRE(pong);
        CHECK(pong->opcode == 10);
        CHECK(pong->payload == "tick");
    }

    TEST_CASE("close handshake: the client's Close is echoed, the socket shut, onClosed called once") {
        SessionRun run;
        run.send(maskedFrame(kFin | kClose, closePayload(1000, "bye")));
        auto echo = run.client.next();
        REQUIRE(echo);
        CHECK(echo->opcode == 8);
        CHECK(echo->closeCode() == 1000);
        CHECK(run.client.waitEof(3s));
        REQUIRE(run.finishes());
        CHECK(run.handler.closedCalls() == 1);
        CHECK(run.handler.code() == 1000);
        CHECK(run.handler.reason() == "bye");
        CHECK(run.outbox->closed());
    }

    TEST_CASE("a Close without a code is echoed empty and reported as 1005") {
        SessionRun run;
        run.send(maskedFrame(kFin | kClose, ""));
        auto echo = run.client.next();
        REQUIRE(echo);
        CHECK(echo->opcode == 8);
        CHECK(echo->payload.empty());
        REQUIRE(run.finishes());
        CHECK(run.handler.code() == 1005);
    }

    TEST_CASE("an oversize frame is refused with 1009 from its header") {
        SessionRun run({1000, 10s, 20s});
        run.send(maskedHeader(kFin | kBinary, uint64_t(2) << 30));
        auto close = run.client.next();
        REQUIRE(close);
        CHECK(close->opcode == 8);
        CHECK(close->closeCode() == 1009);
        CHECK(close->closeReason().find("1000 bytes") != std::string::npos);
        CHECK(run.client.waitEof(3s));
        REQUIRE(run.finishes());
        CHECK(run.handler.code() == 1009);
        CHECK(run.handler.messages().empty());
    }

    TEST_CASE("an unmasked frame is refused with 1002") {
        SessionRun run;
        run.send(encodeFrame(Opcode::Text, "not masked"));
        auto close = run.client.next();
        REQUIRE(close);
        CHECK(close->closeCode() == 1002);
        REQUIRE(run.finishes());
        CHECK(run.handler.code() == 1002);
    }

    TEST_CASE("text that is not UTF-8 is refused with 1007") {
        SessionRun run;
        run.send(maskedFrame(kFin | kText, "\xC3\x28"));
        auto close = run.client.next();
        REQUIRE(close);
        CHECK(close->closeCode() == 1007);
        REQUIRE(run.finishes());
    }

    TEST_CASE("bytes that arrived with the upgrade request are read first") {
        SessionRun run({1 << 16, 10s, 20s}, maskedFrame(kFin | kText, "early"));
        auto echo = run.client.next();
        REQUIRE(echo);
        CHECK(echo->payload == "early");
    }

    TEST_CASE("silence: a ping after the interval, then 1006 after the timeout, with no Close sent") {
        SessionRun run({1 << 16, 50ms, 300ms});
        auto start = std::chrono::steady_clock::now();
        auto ping = run.client.next(1s);
        REQUIRE(ping);
        CHECK(ping->opcode == 9);
        REQUIRE(run.finishes(2s));
        CHECK(std::chrono::steady_clock::now() - start >= 300ms);
        CHECK(run.handler.code() == 1006);
        CHECK(run.handler.reason() == "ping timeout");
        run.pair.closeServer();  // what CivetWeb does after the handler returns
        while (auto f = run.client.next(1s)) CHECK(f->opcode != 8);
    }

    TEST_CASE("a client that answers pings stays connected") {
        SessionRun run({1 << 16, 30ms, 150ms});
        auto until = std::chrono::steady_clock::now() + 500ms;
        int pings = 0;
        while (std::chrono::steady_clock::now() < until) {
            if (auto f = run.client.next(50ms); f && f->opcode == 9) {
                ++pings;
                run.send(maskedFrame(kFin | kPong, f->payload));
            }
        }
        CHECK(pings >= 3);
        CHECK(!run.done);
        CHECK(run.handler.closedCalls() == 0);
    }

    TEST_CASE("stopping closes 1001 'server shutting down'") {
        SessionRun run;
        run.send(maskedFrame(kFin | kText, "x"));
        REQUIRE(run.client.next());
        run.stopping = true;
        auto close = run.client.next(2s);
        REQUIRE(close);
        CHECK(close->closeCode() == 1001);
        CHECK(close->closeReason() == "server shutting down");
        REQUIRE(run.finishes());
        CHECK(run.handler.code() == 1001);
    }

    TEST_CASE("a close from the room (another thread) ends the session with its code") {
        SessionRun run;
        run.outbox->close(4000, "kicked");
        auto close = run.client.next();
        REQUIRE(close);
        CHECK(close->closeCode() == 4000);
        run.send(maskedFrame(kFin | kClose, closePayload(4000)));  // the client's echo
        REQUIRE(run.finishes());
        CHECK(run.handler.closedCalls() == 1);
        CHECK(run.handler.code() == 4000);
        CHECK(run.handler.reason() == "kicked");
    }

    TEST_CASE("a client that disconnects without a Close is reported as 1006") {
        SessionRun run;
        run.send(maskedFrame(kFin | kText, "x"));
        REQUIRE(run.client.next());
        run.pair.closeClient();
        REQUIRE(run.finishes());
        CHECK(run.handler.closedCalls() == 1);
        CHECK(run.handler.code() == 1006);
    }
}

}  // namespace
}  // namespace partyline::net
