// TokenBucket: the per-connection message rate limit, on a clock the test moves.
#include <doctest/doctest.h>

#include "net/TokenBucket.h"

using namespace partyline::net;
using namespace std::chrono_literals;

TEST_CASE("a full bucket lets a burst through, then refuses") {
    auto t = TokenBucket::Clock::time_point{} + 1h;
    TokenBucket bucket(10, 5, t);
    for (int i = 0; i < 5; ++i) CHECK(bucket.take(t));
    CHECK_FALSE(bucket.take(t));
}

TEST_CASE("tokens come back at the rate, never above the burst") {
    auto t = TokenBucket::Clock::time_point{} + 1h;
    TokenBucket bucket(10, 5, t);
    for (int i = 0; i < 5; ++i) REQUIRE(bucket.take(t));
    t += 100ms;  // one token at 10/s
    CHECK(bucket.take(t));
    CHECK_FALSE(bucket.take(t));
    t += 10s;  // far more than the burst's worth
    for (int i = 0; i < 5; ++i) CHECK(bucket.take(t));
    CHECK_FALSE(bucket.take(t));
}

TEST_CASE("a steady sender at the rate is never refused") {
    auto t = TokenBucket::Clock::time_point{} + 1h;
    TokenBucket bucket(100, 1, t);
    for (int i = 0; i < 1000; ++i) {
        t += 10ms;
        REQUIRE(bucket.take(t));
    }
}

TEST_CASE("rate 0 is no limit") {
    auto t = TokenBucket::Clock::time_point{} + 1h;
    TokenBucket bucket(0, 1, t);
    for (int i = 0; i < 100000; ++i) REQUIRE(bucket.take(t));
}

TEST_CASE("full: back to the burst once long enough passed, never while tokens are missing") {
    auto t = TokenBucket::Clock::time_point{} + 1h;
    TokenBucket bucket(10, 5, t);
    CHECK(bucket.full(t));
    REQUIRE(bucket.take(t));
    CHECK_FALSE(bucket.full(t));
    CHECK_FALSE(bucket.full(t + 50ms));
    CHECK(bucket.full(t + 100ms));
}

TEST_CASE("spend takes bytes while the bucket holds any, into debt, and says how long to wait") {
    auto t = TokenBucket::Clock::time_point{} + 1h;
    TokenBucket bucket(1000, 1000, t);  // 1000 bytes/s, one second's worth at once
    CHECK(bucket.waitFor(t) == TokenBucket::Clock::duration::zero());
    CHECK(bucket.spend(t, 600));
    CHECK(bucket.spend(t, 3000));  // larger than the burst: passes, 2600 in debt
    CHECK_FALSE(bucket.spend(t, 1));
    auto wait = bucket.waitFor(t);
    CHECK(wait > 2590ms);
    CHECK(wait < 2610ms);
    t += 2s;
    CHECK_FALSE(bucket.spend(t, 1));  // still 600 in debt
    t += 700ms;
    CHECK(bucket.spend(t, 1));
    CHECK_FALSE(bucket.full(t));
    t += 10s;
    CHECK(bucket.full(t));
}

TEST_CASE("a bucket of rate 0 never refuses a spend") {
    auto t = TokenBucket::Clock::time_point{} + 1h;
    TokenBucket bucket(0, 1, t);
    for (int i = 0; i < 100; ++i) CHECK(bucket.spend(t, 1e9));
    CHECK(bucket.waitFor(t) == TokenBucket::Clock::duration::zero());
}
