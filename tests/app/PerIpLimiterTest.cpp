#include <doctest/doctest.h>

#include "app/PerIpLimiter.h"

using namespace partyline;
using namespace std::chrono_literals;
using Verdict = PerIpLimiter::Verdict;

namespace {
const PerIpLimiter::Clock::time_point t0{};
}

TEST_CASE("each address holds at most max_connections_per_ip; a release frees a slot") {
    PerIpLimiter limiter(3, 0);
    for (int i = 0; i < 3; ++i) CHECK(limiter.admit("10.0.0.1", t0) == Verdict::Admitted);
    CHECK(limiter.admit("10.0.0.1", t0) == Verdict::TooManyConnections);
    CHECK(limiter.admit("10.0.0.2", t0) == Verdict::Admitted);  // another address is not affected
    CHECK(limiter.connectionsOf("10.0.0.1") == 3);
    limiter.release("10.0.0.1");
    CHECK(limiter.admit("10.0.0.1", t0) == Verdict::Admitted);
    CHECK(limiter.connectionsOf("10.0.0.1") == 3);
}

TEST_CASE("new connections per second: a second's worth at once, then the rate") {
    PerIpLimiter limiter(0, 5);
    for (int i = 0; i < 5; ++i) CHECK(limiter.admit("10.0.0.1", t0) == Verdict::Admitted);
    CHECK(limiter.admit("10.0.0.1", t0) == Verdict::TooFast);
    CHECK(limiter.admit("10.0.0.2", t0) == Verdict::Admitted);
    CHECK(limiter.admit("10.0.0.1", t0 + 200ms) == Verdict::Admitted);  // one token back
    CHECK(limiter.admit("10.0.0.1", t0 + 200ms) == Verdict::TooFast);
    // Refused attempts take tokens too: a client that keeps trying stays refused.
    PerIpLimiter hammered(1, 5);
    CHECK(hammered.admit("a", t0) == Verdict::Admitted);
    for (int i = 0; i < 4; ++i) CHECK(hammered.admit("a", t0) == Verdict::TooManyConnections);
    CHECK(hammered.admit("a", t0) == Verdict::TooFast);
}

TEST_CASE("0 means no limit of that kind") {
    PerIpLimiter limiter(0, 0);
    for (int i = 0; i < 10000; ++i) REQUIRE(limiter.admit("10.0.0.1", t0) == Verdict::Admitted);
    CHECK(limiter.connectionsOf("10.0.0.1") == 10000);
}

TEST_CASE("a release never counts below zero") {
    PerIpLimiter limiter(1, 0);
    limiter.release("10.0.0.9");
    limiter.release("10.0.0.9");
    CHECK(limiter.admit("10.0.0.9", t0) == Verdict::Admitted);
    limiter.release("10.0.0.9");
    limiter.release("10.0.0.9");
    CHECK(limiter.connectionsOf("10.0.0.9") == 0);
    CHECK(limiter.admit("10.0.0.9", t0) == Verdict::Admitted);
    CHECK(limiter.admit("10.0.0.9", t0) == Verdict::TooManyConnections);
}

TEST_CASE("addresses with nothing open are forgotten once their bucket refilled, so the table stays small") {
    PerIpLimiter limiter(0, 10);
    for (int i = 0; i < 5000; ++i) {
        std::string address = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
        REQUIRE(limiter.admit(address, t0) == Verdict::Admitted);
        limiter.release(address);
    }
    CHECK(limiter.admit("10.200.0.1", t0) == Verdict::Admitted);  // holds one open
    // A second later every idle address is full again: the next sweep drops them.
    for (int i = 0; i < 3000; ++i) limiter.admit("192.168.0." + std::to_string(i % 200), t0 + 2s);
    CHECK(limiter.addressesHeld() < 2000);
    CHECK(limiter.connectionsOf("10.200.0.1") == 1);  // one still open is kept
}
