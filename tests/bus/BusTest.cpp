// The Bus helpers every backend shares, on the memory bus.
#include <doctest/doctest.h>

#include <chrono>

#include "BusTestSupport.h"
#include "bus/MemoryBus.h"

using namespace partyline;
using partyline::testing::Collector;

namespace {

const std::string kRoom = "partyline.room.chat.a";
const std::string kOther = "partyline.room.chat.b";

void publishAndWait(Bus& bus, const std::string& subject, std::string data) {
    Collector<Result<uint64_t>> acks;
    bus.publish(subject, std::move(data), {}, [&](Result<uint64_t> r) { acks.add(std::move(r)); });
    REQUIRE(acks.waitFor(1));
    REQUIRE(acks.items().front().isOk());
}

std::vector<uint64_t> seqsOf(const std::vector<LogEntry>& entries) {
    std::vector<uint64_t> seqs;
    for (const auto& entry : entries) seqs.push_back(entry.seq);
    return seqs;
}

}  // namespace

TEST_CASE("readThrough asks again while the replica that answers lags behind what was delivered") {
    MemoryBus bus;
    for (int i = 1; i <= 6; ++i) publishAndWait(bus, i % 2 ? kRoom : kOther, "m");  // the room: 1, 3, 5

    bus.lagNextReads(1, 4);  // the first read answers without 3..6
    auto caughtUp = readThrough(bus, kRoom, 0, 5, 100);
    REQUIRE(caughtUp.isOk());
    CHECK(seqsOf(caughtUp.value()) == std::vector<uint64_t>{1, 3, 5});

    bus.lagNextReads(3, 4);  // three reads in a row see nothing after 1
    auto later = readThrough(bus, kRoom, 1, 5, 100);
    REQUIRE(later.isOk());
    CHECK(seqsOf(later.value()) == std::vector<uint64_t>{3, 5});

    bus.lagNextReads(1, 4);  // short of the limit, but as far as the caller asked
    CHECK(seqsOf(readThrough(bus, kRoom, 0, 1, 100).value()) == std::vector<uint64_t>{1});
    bus.lagNextReads(1, 0);  // a full answer is never asked again
    CHECK(seqsOf(readThrough(bus, kRoom, 0, 5, 2).value()) == std::vector<uint64_t>{1, 3});
}

TEST_CASE("readThrough: writes retention dropped are gone, and the short answer is the answer") {
    MemoryBus bus(2);                                              // two writes per subject
    for (int i = 1; i <= 4; ++i) publishAndWait(bus, kRoom, "m");  // keeps 3 and 4
    bus.lagNextReads(1, 2);
    auto gone = readThrough(bus, kRoom, 0, 2, 100);  // 1 and 2 were delivered, then dropped
    REQUIRE(gone.isOk());
    CHECK(gone->empty());
    auto rest = readThrough(bus, kRoom, 0, 4, 100);
    REQUIRE(rest.isOk());
    CHECK(seqsOf(rest.value()) == std::vector<uint64_t>{3, 4});
}

TEST_CASE("readThrough: a replica that stays behind is Unavailable, never a short answer") {
    MemoryBus bus;
    for (int i = 1; i <= 3; ++i) publishAndWait(bus, kRoom, "m");
    bus.lagNextReads(1000, 2);
    auto behind = readThrough(bus, kRoom, 0, 3, 100);
    REQUIRE_FALSE(behind.isOk());
    CHECK(behind.status().code() == Code::Unavailable);
    CHECK(behind.status().message().find("behind its leader at 1 of 3") != std::string::npos);

    bus.lagNextReads(0, 0);
    bus.setAvailable(false);
    CHECK(readThrough(bus, kRoom, 0, 3, 100).status().code() == Code::Unavailable);
}
