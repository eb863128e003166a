// Histogram: a Prometheus histogram of durations, recorded from any thread without a lock.
//
// Fixed buckets from 0.5 ms to 10 s, a count and a sum; observe() is a few relaxed atomic
// increments, so it may sit on a hot path once per write (never once per recipient). Metrics
// writes it in the text format (cumulative `_bucket{le="..."}` lines, `_sum` in seconds and
// `_count`) from a snapshot().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace partyline {

class Histogram {
   public:
    // Upper bounds in seconds; one more bucket, +Inf, takes the rest.
    static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};

    // Any thread. A negative duration (clocks of two machines) counts as 0.
    void observe(std::chrono::nanoseconds duration);

    struct Snapshot {
        std::array<uint64_t, kBounds.size() + 1> cumulative{};  // observations <= each bound; the last: +Inf
        double sumSeconds = 0;
        uint64_t count = 0;  // the +Inf bucket's, so one snapshot is consistent
    };
    // Any thread.
    Snapshot snapshot() const;

    uint64_t count() const { return count_.load(std::memory_order_relaxed); }

   private:
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // not cumulative
    std::atomic<uint64_t> count_{0};
    std::atomic<uint64_t> sumNanos_{0};
};

}  // namespace partyline
