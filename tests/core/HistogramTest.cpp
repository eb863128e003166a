// Histogram: buckets, sum and count of observations (their text is MetricsTest's).
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "core/Histogram.h"

using namespace partyline;
using namespace std::chrono_literals;

TEST_CASE("an empty histogram has every bucket, the sum and the count at 0") {
    Histogram h;
    Histogram::Snapshot s = h.snapshot();
    CHECK(s.cumulative.size() == Histogram::kBounds.size() + 1);
    for (uint64_t bucket : s.cumulative) CHECK(bucket == 0);
    CHECK(s.sumSeconds == 0);
    CHECK(s.count == 0);
}

TEST_CASE("observations land in the first bucket at or above them, and buckets are cumulative") {
    Histogram h;
    h.observe(200us);  // <= 0.0005
    h.observe(1ms);    // <= 0.001 (bounds are inclusive)
    h.observe(30ms);   // <= 0.05
    h.observe(20s);    // +Inf only
    h.observe(-5ms);   // clock skew: 0
    Histogram::Snapshot s = h.snapshot();
    CHECK(s.cumulative[0] == 2);   // 0.0005
    CHECK(s.cumulative[1] == 3);   // 0.001
    CHECK(s.cumulative[5] == 3);   // 0.025
    CHECK(s.cumulative[6] == 4);   // 0.05
    CHECK(s.cumulative[13] == 4);  // 10
    CHECK(s.cumulative[14] == 5);  // +Inf
    CHECK(s.count == 5);
    CHECK(s.sumSeconds == doctest::Approx(20.0312));
    CHECK(h.count() == 5);
}

TEST_CASE("observations from many threads are all counted") {
    Histogram h;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) h.observe(std::chrono::microseconds(i));
        });
    for (auto& thread : threads) thread.join();
    CHECK(h.count() == 40000);
    CHECK(h.snapshot().count == 40000);
    CHECK(h.snapshot().cumulative.back() == 40000);
}
