// WriteRateLimit: bytes of writes per client address, on a clock the test moves.
#include <doctest/doctest.h>

#include "net/WriteRateLimit.h"

using namespace partyline::net;
using namespace std::chrono_literals;

namespace {
constexpr auto kZero = WriteRateLimit::Clock::duration::zero();
}

TEST_CASE("each address has its own byte rate; past it the wait until it may write again") {
    auto t = WriteRateLimit::Clock::time_point{} + 1h;
    WriteRateLimit limit(1000);
    CHECK(limit.charge("10.0.0.1", 800, t) == kZero);
    CHECK(limit.charge("10.0.0.1", 800, t) == kZero);  // into debt: 600
    CHECK(limit.refused() == 0);
    auto wait = limit.charge("10.0.0.1", 1, t);
    CHECK(limit.refused() == 1);
    CHECK(wait > 590ms);
    CHECK(wait < 700ms);
    // Another address is served meanwhile.
    CHECK(limit.charge("10.0.0.2", 1000, t) == kZero);
    t += 700ms;
    CHECK(limit.charge("10.0.0.1", 1, t) == kZero);
}

TEST_CASE("one write larger than a second's worth passes alone") {
    auto t = WriteRateLimit::Clock::time_point{} + 1h;
    WriteRateLimit limit(1000);
    CHECK(limit.charge("a", 1 << 20, t) == kZero);
    CHECK(limit.charge("a", 1, t) != kZero);
}

TEST_CASE("0 bytes per second is no limit") {
    WriteRateLimit limit(0);
    for (int i = 0; i < 1000; ++i) CHECK(limit.charge("a", 1 << 30) == kZero);
    CHECK(limit.addresses() == 0);
}

TEST_CASE("addresses whose buckets refilled are forgotten once many are known") {
    auto t = WriteRateLimit::Clock::time_point{} + 1h;
    WriteRateLimit limit(1000);
    for (size_t i = 0; i < WriteRateLimit::kForgetAbove; ++i)
        limit.charge("idle-" + std::to_string(i), 10, t);
    CHECK(limit.addresses() == WriteRateLimit::kForgetAbove);
    limit.charge("busy", 10000, t);  // a full table, none refilled yet: kept
    CHECK(limit.addresses() == WriteRateLimit::kForgetAbove + 1);
    t += 5s;
    CHECK(limit.charge("new", 10, t) == kZero);
    CHECK(limit.addresses() == 2);               // "busy" still owes 4000 bytes; "new"
    CHECK(limit.charge("busy", 1, t) != kZero);  // and is still refused
}
