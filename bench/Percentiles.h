// Percentiles: a log-linear histogram of durations in nanoseconds, for latency percentiles.
//
// Provides constant-time recording into fixed buckets (128 per power of two, so a reported
// percentile is within 0.8% of the true value), merging, and percentile lookup. Millions of
// samples cost the same 59 KB as one.
// Must not: allocate while recording, or be shared between threads (each thread keeps its own
// and the results are merged at the end).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace partyline::bench {

class Percentiles {
   public:
    Percentiles();

    void record(uint64_t nanos);
    void merge(const Percentiles& other);

    uint64_t count() const { return count_; }
    uint64_t max() const { return max_; }
    // The value below which a fraction `q` (0..1) of the samples lie; 0 when empty.
    uint64_t percentile(double q) const;

   private:
    static constexpr int kSubBits = 7;  // 128 sub-buckets per power of two
    static size_t bucketOf(uint64_t value);
    static uint64_t midpointOf(size_t bucket);

    std::vector<uint64_t> counts_;
    uint64_t count_ = 0;
    uint64_t max_ = 0;
};

}  // namespace partyline::bench
