#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <thread>

#include "BusTestSupport.h"
#include "bus/MemoryBus.h"

using namespace partyline;
using partyline::testing::Collector;

namespace {

const std::string kRoomA = "partyline.room.chat.a";
const std::string kRoomB = "partyline.room.chat.b";

// Publishes and waits for the answer.
Result<uint64_t> publishAndWait(Bus& bus, const std::string& subject, std::string data,
                                PublishOptions options = {}) {
    Collector<Result<uint64_t>> acks;
    bus.publish(subject, std::move(data), std::move(options),
                [&](Result<uint64_t> r) { acks.add(std::move(r)); });
    REQUIRE(acks.waitFor(1));
    return acks.items().front();
}

}  // namespace

TEST_CASE("MemoryBus delivers each write to the subject's subscribers with chained prevSeq") {
    MemoryBus bus;
    Collector<LogEntry> a, b;
    auto subA = bus.subscribe(kRoomA, [&](LogEntry e) { a.add(std::move(e)); });
    auto subB = bus.subscribe(kRoomB, [&](LogEntry e) { b.add(std::move(e)); });
    REQUIRE(subA.isOk());
    REQUIRE(subB.isOk());

    CHECK(publishAndWait(bus, kRoomA, "a1").value() == 1);
    CHECK(publishAndWait(bus, kRoomB, "b1").value() == 2);
    CHECK(publishAndWait(bus, kRoomA, "a2").value() == 3);
    REQUIRE(a.waitFor(2));
    REQUIRE(b.waitFor(1));
    auto as = a.items();
    CHECK(as[0].seq == 1);
    CHECK(as[0].prevSeq == 0);
    CHECK(as[0].prevKnown);
    CHECK(as[1].seq == 3);
    CHECK(as[1].prevSeq == 1);
    CHECK(as[1].data == "a2");
    CHECK(b.items()[0].prevSeq == 0);
}

TEST_CASE("MemoryBus runs callbacks on its own thread") {
    MemoryBus bus;
    Collector<std::thread::id> threads;
    auto sub = bus.subscribe(kRoomA, [&](LogEntry) { threads.add(std::this_thread::get_id()); });
    bus.publish(kRoomA, "x", {}, [&](Result<uint64_t>) { threads.add(std::this_thread::get_id()); });
    REQUIRE(threads.waitFor(2));
    for (auto id : threads.items()) CHECK(id != std::this_thread::get_id());
}

TEST_CASE("MemoryBus refuses a write whose expected last sequence is stale") {
    MemoryBus bus;
    PublishOptions expectEmpty;
    expectEmpty.expectLastSeq = 0;
    CHECK(publishAndWait(bus, kRoomA, "first", expectEmpty).value() == 1);
    auto stale = publishAndWait(bus, kRoomA, "second", expectEmpty);
    REQUIRE_FALSE(stale.isOk());
    CHECK(stale.status().code() == Code::Conflict);
    PublishOptions expectOne;
    expectOne.expectLastSeq = 1;
    CHECK(publishAndWait(bus, kRoomA, "second", expectOne).value() == 2);
}

TEST_CASE("MemoryBus stores a message id once and answers a retry with the same sequence") {
    MemoryBus bus;
    Collector<LogEntry> live;
    auto sub = bus.subscribe(kRoomA, [&](LogEntry e) { live.add(std::move(e)); });
    PublishOptions options;
    options.msgId = "m-1";
    CHECK(publishAndWait(bus, kRoomA, "x", options).value() == 1);
    CHECK(publishAndWait(bus, kRoomA, "x", options).value() == 1);
    REQUIRE(bus.drain());
    CHECK(live.size() == 1);
    CHECK(bus.read(kRoomA, 0, 10).value().size() == 1);
}

TEST_CASE("MemoryBus reads after a sequence, with headers, and knows first and last sequences") {
    MemoryBus bus(3);
    CHECK(bus.lastSequence(kRoomA).value() == 0);
    CHECK(bus.firstSequence(kRoomA).value() == 0);
    PublishOptions options;
    options.binary = true;
    options.exclude = {"c1", "c,2"};
    for (int i = 1; i <= 5; ++i)
        publishAndWait(bus, kRoomA, "m" + std::to_string(i), i == 5 ? options : PublishOptions{});
    publishAndWait(bus, kRoomB, "other");
    CHECK(bus.lastSequence(kRoomA).value() == 5);
    CHECK(bus.firstSequence(kRoomA).value() == 3);  // retention kept the last three
    std::promise<Result<uint64_t>> asked;
    bus.lastSequenceAsync(kRoomA, [&](Result<uint64_t> r) { asked.set_value(std::move(r)); });
    CHECK(asked.get_future().get().value() == 5);

    auto entries = bus.read(kRoomA, 3, 10).value();
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].seq == 4);
    CHECK_FALSE(entries[0].prevKnown);
    CHECK(entries[1].seq == 5);
    CHECK(entries[1].prevKnown);
    CHECK(entries[1].prevSeq == 4);
    CHECK(entries[1].binary);
    CHECK(entries[1].exclude == std::vector<std::string>{"c1", "c,2"});
    CHECK(bus.read(kRoomA, 0, 1).value().front().seq == 3);
    CHECK(bus.read(kRoomA, 5, 10).value().empty());
}

TEST_CASE("MemoryBus reads as a lagging replica on request; nextSequence is never behind") {
    MemoryBus bus(3);
    for (int i = 1; i <= 5; ++i) publishAndWait(bus, kRoomA, "m" + std::to_string(i));
    publishAndWait(bus, kRoomB, "other");             // 6
    CHECK(bus.nextSequence(kRoomA, 0).value() == 3);  // retention kept 3..5
    CHECK(bus.nextSequence(kRoomA, 3).value() == 4);
    CHECK(bus.nextSequence(kRoomA, 5).value() == 0);
    CHECK(bus.nextSequence("partyline.room.chat.nobody", 0).value() == 0);

    bus.lagNextReads(2, 2);  // two reads without writes 5 and 6
    auto behind = bus.read(kRoomA, 0, 10).value();
    REQUIRE(behind.size() == 2);
    CHECK(behind.back().seq == 4);
    CHECK(bus.read(kRoomA, 4, 10).value().empty());
    CHECK(bus.nextSequence(kRoomA, 4).value() == 5);
    CHECK(bus.read(kRoomA, 4, 10).value().size() == 1);  // caught up
}

TEST_CASE("MemoryBus loses live deliveries on request, but not the log") {
    MemoryBus bus;
    Collector<LogEntry> live;
    auto sub = bus.subscribe(kRoomA, [&](LogEntry e) { live.add(std::move(e)); });
    bus.dropNextDeliveries(2);
    for (int i = 0; i < 4; ++i) publishAndWait(bus, kRoomA, "m");
    REQUIRE(live.waitFor(2));
    auto got = live.items();
    CHECK(got[0].seq == 3);
    CHECK(got[0].prevSeq == 2);  // the gap is visible to the receiver
    CHECK(bus.read(kRoomA, 0, 10).value().size() == 4);
}

TEST_CASE("MemoryBus can be made unavailable") {
    MemoryBus bus;
    bus.setAvailable(false);
    CHECK(bus.ready().code() == Code::Unavailable);
    CHECK(publishAndWait(bus, kRoomA, "x").status().code() == Code::Unavailable);
    CHECK(bus.read(kRoomA, 0, 1).status().code() == Code::Unavailable);
    bus.setAvailable(true);
    CHECK(bus.ready().isOk());
    CHECK(publishAndWait(bus, kRoomA, "x").isOk());
}

TEST_CASE("MemoryBus: no delivery after the subscription is destroyed, even from its own callback") {
    MemoryBus bus;
    std::unique_ptr<Subscription> sub;
    Collector<LogEntry> live;
    auto created = bus.subscribe(kRoomA, [&](LogEntry e) {
        live.add(std::move(e));
        sub.reset();  // destroying itself from inside the callback must not deadlock
    });
    sub = std::move(created.value());
    publishAndWait(bus, kRoomA, "one");
    publishAndWait(bus, kRoomA, "two");
    REQUIRE(bus.drain());
    CHECK(live.size() == 1);
}

TEST_CASE("MemoryBus: a subscription may outlive the bus") {
    std::unique_ptr<Subscription> sub;
    {
        MemoryBus bus;
        sub = std::move(bus.subscribe(kRoomA, [](LogEntry) {}).value());
        publishAndWait(bus, kRoomA, "x");
    }
    sub.reset();
}

TEST_CASE("MemoryBus counts simulated reconnects") {
    MemoryBus bus;
    CHECK(bus.reconnects() == 0);
    bus.simulateReconnect();
    CHECK(bus.reconnects() == 1);
}

TEST_CASE("publishAll publishes its writes in order, each answered once (the Bus default)") {
    MemoryBus bus;
    Collector<std::pair<int, uint64_t>> answers;
    std::vector<Publish> writes;
    for (int i = 0; i < 5; ++i)
        writes.push_back({i % 2 ? kRoomB : kRoomA, "w" + std::to_string(i), {}, [&, i](Result<uint64_t> r) {
                              answers.add({i, r.isOk() ? r.value() : 0});
                          }});
    bus.publishAll(std::move(writes));
    REQUIRE(answers.waitFor(5));
    auto items = answers.items();
    std::sort(items.begin(), items.end());
    for (int i = 0; i < 5; ++i) CHECK(items[i] == std::pair<int, uint64_t>{i, uint64_t(i + 1)});
    auto a = bus.read(kRoomA, 0, 10);
    REQUIRE(a.isOk());
    REQUIRE(a->size() == 3);
    CHECK((*a)[2].data == "w4");
}
