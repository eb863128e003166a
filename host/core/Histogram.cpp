#include "core/Histogram.h"

#include <algorithm>

namespace partyline {

void Histogram::observe(std::chrono::nanoseconds duration) {
    int64_t nanos = std::max<int64_t>(0, duration.count());
    double seconds = double(nanos) / 1e9;
    size_t bucket = 0;
    while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    sumNanos_.fetch_add(uint64_t(nanos), std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot snapshot;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        snapshot.cumulative[i] = cumulative;
    }
    // The count is the +Inf bucket's rather than count_, so buckets and count agree; the sum may
    // already hold an observation that a bucket does not yet.
    snapshot.count = cumulative;
    snapshot.sumSeconds = double(sumNanos_.load(std::memory_order_relaxed)) / 1e9;
    return snapshot;
}

}  // namespace partyline
