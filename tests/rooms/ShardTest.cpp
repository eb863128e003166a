// Shards over the in-memory bus with recording clients: the delivery path,
// the Lua handlers and the room API, without a network.
#include <doctest/doctest.h>

#include <fstream>
#include <thread>

#include "net/NetTestSupport.h"
#include "net/Sender.h"
#include "net/WebSocketProtocol.h"
#include "rooms/OutboxClient.h"
#include "rooms/RoomsTestSupport.h"

using namespace partyline;
using namespace partyline::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kEcho = R"lua(
local Room = {}
function Room.onMessage(room, conn, message)
  if message == "boom" then error("boom requested") end
  if message == "only-me" then conn:send("just for " .. conn.id) return end
  if message == "except-me" then room:broadcast(message, {exclude = {conn.id}}) return end
  local seq = room:broadcast(message, {binary = conn.binary})
  conn.state.last = seq
end
function Room.onRequest(room, req)
  if req.path == "/fail" then local t = nil; return t.x end
  return {status = 201, body = req.method .. " " .. room.id .. " " .. (req.query.q or ""),
          headers = {["X-Room"] = room.party}}
end
return Room
)lua";

// A room of a partyline.mux.v1 socket: records "admitted" where the shard admitted it, the
// frames it got (pointers too, to see that one write is encoded once) and conn:send's data.
class MuxFakeClient : public FakeClient {
   public:
    using FakeClient::FakeClient;
    bool multiplexed() const override { return true; }
    void admitted() override {
        FakeClient::send(
            std::make_shared<const std::string>(net::encodeFrame(net::Opcode::Text, "admitted")));
    }
    void send(const FramePtr& frame) override {
        {
            std::lock_guard lock(framesMutex_);
            frames_.push_back(frame);
        }
        FakeClient::send(frame);
    }
    void sendMessage(std::string_view data, bool binary) override {
        FakeClient::send(std::make_shared<const std::string>(net::encodeFrame(
            net::Opcode::Text, std::string(binary ? "binary:" : "text:") + std::string(data))));
    }
    std::vector<FramePtr> frames() {
        std::lock_guard lock(framesMutex_);
        return frames_;
    }

   private:
    std::mutex framesMutex_;
    std::vector<FramePtr> frames_;
};

}  // namespace

TEST_CASE("rooms of multiplexed sockets get each write naming the room, encoded once for all of them") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "mux");
    auto plain = std::make_shared<FakeClient>("p");
    auto a = std::make_shared<MuxFakeClient>("a"), b = std::make_shared<MuxFakeClient>("b");
    shard->connect(plain, {});
    shard->connect(a, {});
    shard->connect(b, {});
    REQUIRE(texts(b->waitFor(1)) == std::vector<std::string>{"admitted"});
    shard->receive(plain, "hi \"there\"", false);
    const std::vector<std::string> expected{"admitted",
                                            R"({"room":"echo/mux","seq":1,"data":"hi \"there\""})"};
    CHECK(texts(a->waitFor(2)) == expected);
    CHECK(texts(b->waitFor(2)) == expected);
    REQUIRE(a->frames().size() == 1);
    REQUIRE(b->frames().size() == 1);
    CHECK(a->frames()[0] == b->frames()[0]);  // the same encoded frame
    CHECK(texts(plain->waitFor(1)) == std::vector<std::string>{"hi \"there\""});

    shard->receive(a, "bin", true);  // conn.binary: the write is binary, base64 in the frame
    CHECK(texts(b->waitFor(3))[2] == R"({"room":"echo/mux","seq":2,"binary":true,"data":"Ymlu"})");
    shard->receive(a, "only-me", false);  // conn:send goes through the client's own wrapping
    CHECK(texts(a->waitFor(4))[3] == "text:just for a");
}

TEST_CASE("a multiplexed room replays with since, its truncation marker naming the room") {
    Rooms rooms(Scripts{{"echo", kEcho}}, {}, 3);  // the log keeps the last 3 writes per room
    auto shard = rooms.shard("echo", "muxed");
    auto writer = std::make_shared<FakeClient>("w");
    shard->connect(writer, {});
    for (int i = 1; i <= 6; ++i) shard->receive(writer, "m" + std::to_string(i), false);
    REQUIRE(writer->waitFor(6).size() == 6);
    auto late = std::make_shared<MuxFakeClient>("late");
    shard->connect(late, {}, 1);
    auto got = texts(late->waitFor(5));
    REQUIRE(got.size() == 5);
    CHECK(got[0] == "admitted");  // before the replay
    CHECK(got[1] == R"({"room":"echo/muxed","truncated":true,"since":1,"first":4})");
    CHECK(got[2] == R"({"room":"echo/muxed","seq":4,"data":"m4"})");
    CHECK(got[4] == R"({"room":"echo/muxed","seq":6,"data":"m6"})");
}

namespace {

// The payloads of the next `count` frames on `fd`.
std::vector<std::string> readPayloads(int fd, size_t count) {
    net::test::FrameStream stream(fd);
    std::vector<std::string> got;
    while (got.size() < count) {
        auto frame = stream.next(5s);
        if (!frame) break;
        got.push_back(frame->payload);
    }
    return got;
}

std::vector<std::string> writesNamed(int first, int count) {
    std::vector<std::string> names;
    for (int i = first; i < first + count; ++i) names.push_back("w" + std::to_string(i));
    return names;
}

// The Sender's count of sendmsg calls once it has counted `frames` frames written, waiting (up
// to 5 s) for `expected`. A write is counted after it returns, when the reader may have its
// bytes already, and a delivery may run on the strand's thread, which no drain() waits for. Once
// every frame is counted, at most the writes being counted are missing: a count past `expected`
// comes back at once, one short of it (fewer writes than expected) after the wait.
uint64_t writeCallsFor(const net::Sender& sender, uint64_t frames, uint64_t expected) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (sender.stats().framesWritten < frames && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    while (sender.stats().writeCalls < expected && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    return sender.stats().writeCalls;
}

// Publishes writes from another publisher while the bus is paused, so the shard gets them as one
// burst (each delivery but the last with moreQueued), as nats.c hands over what one read of its
// socket brought.
void publishBurst(Rooms& rooms, const std::string& subject, const std::vector<std::string>& writes) {
    rooms.bus.pause(true);
    for (const auto& w : writes) rooms.bus.publish(subject, w, {}, nullptr);
    rooms.bus.pause(false);
}

}  // namespace

TEST_CASE("a burst of live writes reaches a small room's sockets in one write per 33 deliveries, in order") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "burst");
    REQUIRE(shard->waitUntilReady(3s));
    net::Sender sender;
    net::test::UnixPair pa, pb;
    auto a = std::make_shared<OutboxClient>("a", false, sender.attach(pa.writer, 1 << 20));
    auto b = std::make_shared<OutboxClient>("b", false, sender.attach(pb.writer, 1 << 20));
    shard->connect(a, {});
    shard->connect(b, {});
    const auto subject = shard->subjects().log;
    // One write alone first: both connections are in, and a write with nothing behind it is
    // written at once, one sendmsg per socket.
    rooms.bus.publish(subject, "w0", {}, nullptr);
    REQUIRE(readPayloads(pa.reader, 1) == writesNamed(0, 1));
    REQUIRE(readPayloads(pb.reader, 1) == writesNamed(0, 1));
    CHECK(writeCallsFor(sender, 2, 2) == 2);

    SUBCASE("10 writes: one sendmsg per socket") {
        publishBurst(rooms, subject, writesNamed(1, 10));
        CHECK(readPayloads(pa.reader, 10) == writesNamed(1, 10));
        CHECK(readPayloads(pb.reader, 10) == writesNamed(1, 10));
        CHECK(writeCallsFor(sender, 2 + 20, 2 + 2) == 2 + 2);
    }
    SUBCASE("80 writes: 32 held, the 33rd writes them, so 3 writes per socket") {
        publishBurst(rooms, subject, writesNamed(1, 80));
        CHECK(readPayloads(pa.reader, 80) == writesNamed(1, 80));
        CHECK(readPayloads(pb.reader, 80) == writesNamed(1, 80));
        CHECK(writeCallsFor(sender, 2 + 160, 2 + 2 * 3) == 2 + 2 * 3);
    }
    SUBCASE("writes one at a time, each delivered before the next is published: one sendmsg each") {
        for (int i = 1; i <= 5; ++i) {
            rooms.bus.publish(subject, "w" + std::to_string(i), {}, nullptr);
            REQUIRE(rooms.bus.drain());
        }
        CHECK(readPayloads(pa.reader, 5) == writesNamed(1, 5));
        CHECK(writeCallsFor(sender, 2 + 10, 2 + 2 * 5) == 2 + 2 * 5);
    }
    shard->stop();
    REQUIRE(rooms.bus.drain());
}

TEST_CASE("a broadcast goes through the log to every connection, in order") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "lobby");
    auto a = std::make_shared<FakeClient>("a"), b = std::make_shared<FakeClient>("b");
    shard->connect(a, {});
    shard->connect(b, {});
    for (int i = 0; i < 20; ++i) shard->receive(i % 2 ? a : b, "m" + std::to_string(i), false);
    auto got = texts(a->waitFor(20));
    REQUIRE(got.size() == 20);
    for (int i = 0; i < 20; ++i) CHECK(got[i] == "m" + std::to_string(i));
    CHECK(texts(b->waitFor(20)) == got);
    CHECK(rooms.bus.lastSequence(shard->subjects().log).value() == 20);
}

TEST_CASE("binary stays binary and exclude skips the sender") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "r");
    auto a = std::make_shared<FakeClient>("a"), b = std::make_shared<FakeClient>("b");
    shard->connect(a, {});
    shard->connect(b, {});
    shard->receive(a, std::string("\x00\x01\x02", 3), true);
    shard->receive(a, "except-me", false);
    shard->receive(a, "only-me", false);
    auto atB = b->waitFor(2);
    REQUIRE(atB.size() == 2);
    CHECK(atB[0].binary);
    CHECK(atB[0].data == std::string("\x00\x01\x02", 3));
    CHECK(atB[1].data == "except-me");
    auto atA = a->waitFor(2);
    REQUIRE(atA.size() == 2);
    CHECK(atA[0].binary);
    CHECK(atA[1].data == "just for a");  // never "except-me"
}

TEST_CASE("a lost live delivery is filled from the log before newer writes") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "gap");
    auto a = std::make_shared<FakeClient>("a");
    shard->connect(a, {});
    shard->receive(a, "first", false);
    REQUIRE(a->waitFor(1).size() == 1);
    rooms.bus.dropNextDeliveries(2);
    shard->receive(a, "lost-1", false);
    shard->receive(a, "lost-2", false);
    shard->receive(a, "after", false);
    auto got = texts(a->waitFor(4));
    CHECK(got == std::vector<std::string>{"first", "lost-1", "lost-2", "after"});
    CHECK(rooms.context->gapsFilled.load() == 2);
}

TEST_CASE("a gap is filled through a read replica that lags: it is asked again, never skipped") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "lagging");
    auto a = std::make_shared<FakeClient>("a");
    shard->connect(a, {});
    shard->receive(a, "first", false);
    REQUIRE(a->waitFor(1).size() == 1);
    rooms.bus.dropNextDeliveries(2);
    rooms.bus.lagNextReads(2, 3);  // the gap's first two reads miss every write after "first"
    shard->receive(a, "lost-1", false);
    shard->receive(a, "lost-2", false);
    shard->receive(a, "after", false);
    CHECK(texts(a->waitFor(4)) == std::vector<std::string>{"first", "lost-1", "lost-2", "after"});
    CHECK(rooms.context->gapsFilled.load() == 2);
}

TEST_CASE("a shard delivers writes from other publishers, not ones stored before it started") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto subject = rooms.registry->subjects("echo", "x").value().log;
    std::promise<void> stored;
    rooms.bus.publish(subject, "old", {}, [&](Result<uint64_t>) { stored.set_value(); });
    stored.get_future().wait();
    auto shard = rooms.shard("echo", "x");
    REQUIRE(shard->waitUntilReady(3s));
    auto a = std::make_shared<FakeClient>("a");
    shard->connect(a, {});
    rooms.bus.publish(subject, "new", {}, [](Result<uint64_t>) {});
    CHECK(texts(a->waitFor(1)) == std::vector<std::string>{"new"});
    CHECK(texts(a->waitFor(2, 200ms)).size() == 1);
}

TEST_CASE("partyline.v1 clients get each write with its sequence") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "v");
    auto plain = std::make_shared<FakeClient>("p"), versioned = std::make_shared<FakeClient>("v", true);
    shard->connect(plain, {});
    shard->connect(versioned, {});
    shard->receive(plain, "say \"hi\"", false);
    CHECK(texts(versioned->waitFor(1)) == std::vector<std::string>{R"({"seq":1,"data":"say \"hi\""})"});
    CHECK(texts(plain->waitFor(1)) == std::vector<std::string>{"say \"hi\""});
}

TEST_CASE("conn:send reaches a partyline.v1 client as {\"data\":...} and a raw client as sent") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "direct");
    auto plain = std::make_shared<FakeClient>("p"), versioned = std::make_shared<FakeClient>("v", true);
    shard->connect(plain, {});
    shard->connect(versioned, {});
    shard->receive(versioned, "only-me", false);
    shard->receive(plain, "only-me", false);
    CHECK(texts(versioned->waitFor(1)) == std::vector<std::string>{R"({"data":"just for v"})"});
    CHECK(texts(plain->waitFor(1)) == std::vector<std::string>{"just for p"});
}

namespace {

// The writes `client` gets after `skip` frames, once it has `count` frames in all.
std::vector<std::string> framesAfter(FakeClient& client, size_t skip, size_t count) {
    auto all = texts(client.waitFor(count));
    REQUIRE(all.size() >= count);
    return {all.begin() + long(skip), all.begin() + long(count)};
}

}  // namespace

TEST_CASE(
    "when the log begins again, partyline.v1 clients are told with the new epoch, then get the new log") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "again");
    REQUIRE(shard->waitUntilReady(3s));
    CHECK(shard->logEpoch() == "1");
    auto writer = std::make_shared<FakeClient>("w"), versioned = std::make_shared<FakeClient>("v", true);
    shard->connect(writer, {});
    shard->connect(versioned, {});
    for (int i = 1; i <= 3; ++i) shard->receive(writer, "old" + std::to_string(i), false);
    REQUIRE(versioned->waitFor(3).size() == 3);

    rooms.bus.beginAgain();  // the stream deleted and created again: sequences start over
    CHECK(shard->logEpoch() == "2");
    auto subject = shard->subjects().log;
    for (const char* m : {"new1", "new2"}) rooms.bus.publish(subject, m, {}, [](Result<uint64_t>) {});
    REQUIRE(rooms.bus.drain());

    // Within about a second (the heartbeat), whether the new writes came live first or not.
    auto got = framesAfter(*versioned, 3, 6);
    CHECK(got[0].rfind(R"({"truncated":true,"since":3,"first":)", 0) == 0);
    CHECK(got[0].find(R"("epoch":"2"})") != std::string::npos);
    CHECK(got[1] == R"({"seq":1,"data":"new1"})");
    CHECK(got[2] == R"({"seq":2,"data":"new2"})");
    CHECK(framesAfter(*writer, 3, 5) == std::vector<std::string>{"new1", "new2"});
    CHECK(versioned->waitFor(7, 300ms).size() == 6);  // nothing twice

    shard->receive(writer, "new3", false);  // the shard follows the new log on
    CHECK(framesAfter(*versioned, 6, 7) == std::vector<std::string>{R"({"seq":3,"data":"new3"})"});
}

TEST_CASE("a client resuming with an epoch of an older log is told so and gets the new log from its start") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "resume-epoch");
    auto writer = std::make_shared<FakeClient>("w");
    shard->connect(writer, {});
    for (int i = 1; i <= 4; ++i) shard->receive(writer, "old" + std::to_string(i), false);
    REQUIRE(writer->waitFor(4).size() == 4);
    rooms.bus.beginAgain();
    for (const char* m : {"new1", "new2"})
        rooms.bus.publish(shard->subjects().log, m, {}, [](Result<uint64_t>) {});
    REQUIRE(rooms.bus.drain());

    auto stale = std::make_shared<FakeClient>("stale", true);
    shard->connect(stale, {}, 4, "1");  // saw write 4 of the old log
    CHECK(texts(stale->waitFor(3)) ==
          std::vector<std::string>{R"({"truncated":true,"since":4,"first":1,"epoch":"2"})",
                                   R"({"seq":1,"data":"new1"})", R"({"seq":2,"data":"new2"})"});
    auto current = std::make_shared<FakeClient>("current", true);
    shard->connect(current, {}, 1, "2");  // the same log: a plain resume
    CHECK(texts(current->waitFor(1)) == std::vector<std::string>{R"({"seq":2,"data":"new2"})"});
    auto unknown = std::make_shared<FakeClient>("unknown", true);
    shard->connect(unknown, {}, 1);  // no epoch given: resumed as before epochs existed
    CHECK(texts(unknown->waitFor(1)) == std::vector<std::string>{R"({"seq":2,"data":"new2"})"});
}

TEST_CASE("onRequest answers with status, body and headers") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "req");
    HttpRequest req;
    req.method = "POST";
    req.path = "/parties/echo/req";
    req.query["q"] = "42";
    auto response = rooms.request(shard, req);
    CHECK(response.status == 201);
    CHECK(response.body == "POST req 42");
    CHECK(std::find(response.headers.begin(), response.headers.end(),
                    std::make_pair(std::string("X-Room"), std::string("echo"))) != response.headers.end());
}

TEST_CASE("a handler error names the script line, and the shard keeps serving") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "err");
    HttpRequest fail;
    fail.method = "GET";
    fail.path = "/fail";
    auto response = rooms.request(shard, fail);
    CHECK(response.status == 500);
    CHECK(response.body.find("echo.lua:11:") != std::string::npos);

    auto a = std::make_shared<FakeClient>("a");
    shard->connect(a, {});
    shard->receive(a, "boom", false);
    shard->receive(a, "still here", false);
    CHECK(texts(a->waitFor(1)) == std::vector<std::string>{"still here"});
    CHECK(rooms.context->luaErrors.load() == 2);
}

TEST_CASE("a party whose script does not compile answers 500 naming file and line") {
    Rooms rooms(
        Scripts{{"broken", "local Room = {}\nfunction Room.onRequest(\nreturn Room\n"}, {"echo", kEcho}});
    auto shard = rooms.shard("broken", "r");
    HttpRequest req;
    req.method = "GET";
    auto response = rooms.request(shard, req);
    CHECK(response.status == 500);
    CHECK(response.body.find("broken.lua:3:") != std::string::npos);
    auto client = std::make_shared<FakeClient>("c");
    shard->connect(client, {});
    CHECK(client->waitForClose() == 1011);
    // Another party of the same node is unaffected.
    CHECK(rooms.request(rooms.shard("echo", "r"), req).status == 201);
}

TEST_CASE("a room without onRequest answers 404; unknown parties are not found") {
    Rooms rooms(Scripts{{"quiet", "return {}"}});
    HttpRequest req;
    req.method = "GET";
    CHECK(rooms.request(rooms.shard("quiet", "r"), req).status == 404);
    CHECK(rooms.registry->shard("nope", "r").status().code() == Code::NotFound);
}

TEST_CASE("a publish the log refuses comes back to the script as nil and a reason") {
    Rooms rooms(Scripts{{"p", R"lua(
local Room = {}
function Room.onRequest(room, req)
  local seq, err = room:broadcast("x")
  return {status = seq and 200 or 503, body = tostring(err)}
end
return Room)lua"}});
    auto shard = rooms.shard("p", "r");
    HttpRequest req;
    req.method = "GET";
    rooms.bus.setAvailable(false);
    auto response = rooms.request(shard, req);
    CHECK(response.status == 503);
    CHECK(response.body != "nil");
    rooms.bus.setAvailable(true);
    CHECK(rooms.request(shard, req).status == 200);
}

TEST_CASE("room:append with a stale expected sequence is a conflict") {
    Rooms rooms(Scripts{{"g", R"lua(
local Room = {}
function Room.onRequest(room, req)
  local seq, err = room:append("move", {expect = tonumber(req.query.expect)})
  return {status = 200, body = tostring(seq) .. " " .. tostring(err)}
end
return Room)lua"}});
    auto shard = rooms.shard("g", "r");
    HttpRequest req;
    req.method = "POST";
    req.query["expect"] = "0";
    CHECK(rooms.request(shard, req).body == "1 nil");
    CHECK(rooms.request(shard, req).body == "nil conflict");
    req.query["expect"] = "1";
    CHECK(rooms.request(shard, req).body == "2 nil");
}

TEST_CASE("idle shards are closed and created again on the next touch") {
    Limits limits;
    limits.idle_room_seconds = std::chrono::seconds(0);
    Rooms rooms(Scripts{{"echo", kEcho}}, limits);
    auto first = rooms.shard("echo", "idle");
    auto client = std::make_shared<FakeClient>("a");
    first->connect(client, {});
    CHECK(rooms.registry->sweepIdle() == 0);  // a connection keeps it
    first->disconnect(client, 1000, "");
    size_t swept = 0;
    for (int i = 0; i < 200 && swept == 0; ++i) {
        std::this_thread::sleep_for(10ms);
        swept = rooms.registry->sweepIdle();
    }
    CHECK(swept == 1);
    CHECK(rooms.registry->size() == 0);
    CHECK(rooms.shard("echo", "idle") != first);
}

TEST_CASE("a client connecting with since gets every later write first, then the live stream") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "replay");
    auto writer = std::make_shared<FakeClient>("w");
    shard->connect(writer, {});
    for (int i = 1; i <= 5; ++i) shard->receive(writer, "m" + std::to_string(i), false);
    REQUIRE(writer->waitFor(5).size() == 5);

    auto late = std::make_shared<FakeClient>("late", true);
    shard->connect(late, {}, 2);  // saw seq 1 and 2
    shard->receive(writer, "m6", false);
    auto got = texts(late->waitFor(4));
    CHECK(got == std::vector<std::string>{R"({"seq":3,"data":"m3"})", R"({"seq":4,"data":"m4"})",
                                          R"({"seq":5,"data":"m5"})", R"({"seq":6,"data":"m6"})"});
}

TEST_CASE("a replay through a read replica that lags goes on to the last delivered write") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "replay-lag");
    auto writer = std::make_shared<FakeClient>("w");
    shard->connect(writer, {});
    for (int i = 1; i <= 5; ++i) shard->receive(writer, "m" + std::to_string(i), false);
    REQUIRE(writer->waitFor(5).size() == 5);

    // The check that the log still holds since and the replay's first two reads, without 4 and 5:
    // the second finds nothing after 3.
    rooms.bus.lagNextReads(3, 2);
    auto late = std::make_shared<FakeClient>("late", true);
    shard->connect(late, {}, 2);
    shard->receive(writer, "m6", false);
    CHECK(texts(late->waitFor(4)) ==
          std::vector<std::string>{R"({"seq":3,"data":"m3"})", R"({"seq":4,"data":"m4"})",
                                   R"({"seq":5,"data":"m5"})", R"({"seq":6,"data":"m6"})"});
}

TEST_CASE("a replay past the log's retention starts with an explicit marker") {
    Rooms rooms(Scripts{{"echo", kEcho}}, {}, 3);  // the log keeps the last 3 writes per room
    auto shard = rooms.shard("echo", "short");
    auto writer = std::make_shared<FakeClient>("w");
    shard->connect(writer, {});
    for (int i = 1; i <= 6; ++i) shard->receive(writer, "m" + std::to_string(i), false);
    REQUIRE(writer->waitFor(6).size() == 6);
    auto late = std::make_shared<FakeClient>("late", true);
    shard->connect(late, {}, 1);
    auto got = texts(late->waitFor(4));
    REQUIRE(got.size() == 4);
    CHECK(got[0] == R"({"truncated":true,"since":1,"first":4})");
    CHECK(got[1] == R"({"seq":4,"data":"m4"})");
    CHECK(got[3] == R"({"seq":6,"data":"m6"})");
}

TEST_CASE("after a reconnect, writes the live stream never brought are delivered") {
    Rooms rooms(Scripts{{"echo", kEcho}});
    auto shard = rooms.shard("echo", "rc");
    REQUIRE(shard->waitUntilReady(3s));
    auto client = std::make_shared<FakeClient>("c");
    shard->connect(client, {});
    rooms.bus.dropNextDeliveries(2);  // as if NATS was away while they were stored
    auto subject = shard->subjects().log;
    for (const char* m : {"during-1", "during-2"}) rooms.bus.publish(subject, m, {}, [](Result<uint64_t>) {});
    REQUIRE(rooms.bus.drain());
    CHECK(client->waitFor(1, 300ms).empty());  // nothing arrives by itself
    rooms.bus.simulateReconnect();
    CHECK(texts(client->waitFor(2)) == std::vector<std::string>{"during-1", "during-2"});
}

TEST_CASE("the count of a room's connections covers every node, within a second of a change") {
    Rooms a(Scripts{{"echo", kEcho}});
    // A second node on the same bus. Its shards run on a's executor and may be
    // destroyed there after the last reference here is gone, so its context is
    // a's to keep until a's threads have stopped.
    OtherNode b(a, "node-b");
    auto onA = a.shard("echo", "lobby");
    auto onB = b.shard("echo", "lobby");
    std::weak_ptr<Shard> watchB = onB;
    auto a1 = std::make_shared<FakeClient>("a1"), a2 = std::make_shared<FakeClient>("a2");
    auto b1 = std::make_shared<FakeClient>("b1");
    onA->connect(a1, {});
    onA->connect(a2, {});
    onB->connect(b1, {});
    CHECK(eventually([&] { return onA->totalCount() == 3 && onB->totalCount() == 3; }, 1s));
    onA->disconnect(a2, 1000, "");
    CHECK(eventually([&] { return onA->totalCount() == 2 && onB->totalCount() == 2; }, 1s));
    // Another room is counted apart.
    CHECK(a.shard("echo", "other")->totalCount() == 0);

    onB.reset();
    b.registry.reset();
    REQUIRE(eventually([&] { return watchB.expired(); }, 3s));
}

TEST_CASE("onBeforeConnect refuses with false or an answer, and accepts otherwise") {
    Rooms rooms(Scripts{{"gate", R"lua(
local Room = {}
function Room.onBeforeConnect(room, req)
  if req.query.token == "good" then return nil end
  if req.headers["x-ban"] then return false end
  return {status = 401, body = "token required"}
end
return Room)lua"},
                        {"open", "return {}"}});
    auto decide = [&](const std::string& party, HttpRequest req) {
        std::promise<std::optional<HttpResponse>> promise;
        rooms.shard(party, "r")->beforeConnect(std::move(req), [&](std::optional<HttpResponse> r) {
            promise.set_value(std::move(r));
        });
        auto future = promise.get_future();
        REQUIRE(future.wait_for(3s) == std::future_status::ready);
        return future.get();
    };
    HttpRequest good;
    good.query["token"] = "good";
    CHECK(!decide("gate", good).has_value());
    HttpRequest banned;
    banned.headers["x-ban"] = "1";
    CHECK(decide("gate", banned)->status == 403);
    auto refused = decide("gate", {});
    REQUIRE(refused.has_value());
    CHECK(refused->status == 401);
    CHECK(refused->body == "token required");
    CHECK(!decide("open", {}).has_value());  // no handler: everyone may connect
    // Once the room runs, a script without the handler is answered on the calling thread.
    auto open = rooms.shard("open", "r");
    REQUIRE(open->waitUntilReady(3s));
    bool admitted = false;
    open->beforeConnect({}, [&](std::optional<HttpResponse> r) { admitted = !r.has_value(); });
    CHECK(admitted);
}

TEST_CASE("what a script returns is read raw: its metamethods never run outside the handler") {
    // Outside the handler's protected call a metamethod's error would abort the node, and a loop
    // would run without a budget. Every name the shard looks up here would hit the trap.
    Rooms rooms(Scripts{{"trap", R"lua(
local trap = {__index = function(t, k) error("trap " .. k) end}
local Room = setmetatable({}, trap)
rawset(Room, "onRequest", function(room, req)
  return setmetatable({status = 201, body = "raw"}, trap)
end)
rawset(Room, "onBeforeConnect", function(room, req)
  return setmetatable({body = "no status"}, {__index = function() while true do end end})
end)
rawset(Room, "onMessage", function(room, conn, m) conn:send("got " .. m) end)
return Room)lua"}});
    auto shard = rooms.shard("trap", "r");
    HttpRequest req;
    req.method = "GET";
    auto response = rooms.request(shard, req);
    CHECK(response.status == 201);
    CHECK(response.body == "raw");

    std::promise<std::optional<HttpResponse>> decided;
    shard->beforeConnect({}, [&](std::optional<HttpResponse> r) { decided.set_value(std::move(r)); });
    auto decision = decided.get_future();
    REQUIRE(decision.wait_for(3s) == std::future_status::ready);
    CHECK(!decision.get().has_value());  // no raw status: not a refusal

    auto client = std::make_shared<FakeClient>("c");
    shard->connect(client, {});  // onConnect is missing: looked up raw, skipped
    shard->receive(client, "x", false);
    CHECK(texts(client->waitFor(1)) == std::vector<std::string>{"got x"});
    shard->disconnect(client, 1000, "bye");
    CHECK(rooms.request(shard, req).status == 201);
    CHECK(rooms.context->luaErrors.load() == 0);
}

TEST_CASE("a reload swaps the script without dropping connections; a broken one keeps the old") {
    Rooms rooms(Scripts{{"live", R"lua(
local Room = {}
function Room.onMessage(room, conn, m) conn:send("v1:" .. m) end
return Room)lua"}});
    auto shard = rooms.shard("live", "r");
    auto client = std::make_shared<FakeClient>("c");
    shard->connect(client, {});
    shard->receive(client, "a", false);
    REQUIRE(texts(client->waitFor(1)) == std::vector<std::string>{"v1:a"});

    Party* party = rooms.parties->find("live");
    auto path = party->script()->path;
    std::ofstream(path)
        << "local Room = {}\nfunction Room.onMessage(room, conn, m) conn:send('v2:' .. m) end\nreturn Room\n";
    REQUIRE(party->reloadIfChanged(true));
    CHECK(rooms.registry->reload("live", party->script()) == 1);
    shard->receive(client, "b", false);
    CHECK(texts(client->waitFor(2)) == std::vector<std::string>{"v1:a", "v2:b"});

    std::ofstream(path) << "local Room = {\nreturn Room\n";  // a syntax error
    REQUIRE(party->reloadIfChanged(true));
    CHECK(party->loadError().message() == path + ":2: unexpected symbol near 'return'");
    CHECK(party->script()->error.isOk());  // the good version stays the party's
    std::ofstream(path) << "local Room = {}\nerror('half done')\nreturn Room\n";  // compiles, fails to load
    REQUIRE(party->reloadIfChanged(true));
    CHECK(party->loadError().message() == path + ":2: half done");
    CHECK(party->script()->source.find("v2:") != std::string::npos);
    auto broken =
        std::make_shared<Script>(Script{path, "return 42", Status::ok(), {}});  // loads, but is no room
    shard->reload(broken);
    shard->receive(client, "c", false);
    CHECK(texts(client->waitFor(3)) == std::vector<std::string>{"v1:a", "v2:b", "v2:c"});
    CHECK(client->waitForClose(100ms) == 0);  // never dropped
}

TEST_CASE(
    "a message whose write goes past its address's write rate is refused and its connection closed 1008") {
    constexpr const char* kWriter = R"lua(
local Room = {}
local refused = "none"
function Room.onMessage(room, conn, message)
  local seq, err = room:broadcast(message)
  if not seq then refused = err end
end
function Room.onRequest(room, req) return refused end
return Room
)lua";
    Rooms rooms(Scripts{{"w", kWriter}});
    net::WriteRateLimit rate(1000);  // a second's worth: 1000 bytes
    rooms.context->writeRate = &rate;
    auto shard = rooms.shard("w", "r");
    HttpRequest fromA, fromB;
    fromA.remoteAddr = "10.0.0.1";
    fromB.remoteAddr = "10.0.0.2";
    auto a = std::make_shared<FakeClient>("a"), b = std::make_shared<FakeClient>("b");
    shard->connect(a, fromA);
    shard->connect(b, fromB);
    shard->receive(a, std::string(5000, 'x'), false);  // over a second's worth, alone: stored
    REQUIRE(b->waitFor(1).size() == 1);
    shard->receive(a, "more", false);
    CHECK(a->waitForClose() == 1008);
    CHECK(a->closeReason() == "write rate over limits.max_write_bytes_per_second_per_ip (1000 bytes/s)");
    // The refused write is not stored, and the script saw why; another address is served.
    CHECK(rooms.answer(shard, {}) ==
          "write rate over limits.max_write_bytes_per_second_per_ip (1000 bytes/s)");
    shard->receive(b, "from b", false);
    auto got = texts(b->waitFor(2));
    REQUIRE(got.size() == 2);
    CHECK(got[1] == "from b");
    CHECK(b->closeReason().empty());
    CHECK(rate.refused() == 1);
}
