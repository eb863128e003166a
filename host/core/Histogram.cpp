#include "core/Histogram.h"

#include <algorithm>
#include <cstdio>

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

std::string Histogram::render(const std::string& name, const std::string& help) const {
    std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cumulative = 0;
    char line[160];
    for (size_t i = 0; i <= kBounds.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        if (i < kBounds.size())
            std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name.c_str(), kBounds[i],
                          (unsigned long long)cumulative);
        else
            std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", name.c_str(),
                          (unsigned long long)cumulative);
        out += line;
    }
    // The count is the +Inf bucket's, so one scrape is consistent; the sum may already hold an
    // observation that a bucket does not yet.
    std::snprintf(line, sizeof line, "%s_sum %.9g\n%s_count %llu\n", name.c_str(),
                  double(sumNanos_.load(std::memory_order_relaxed)) / 1e9, name.c_str(),
                  (unsigned long long)cumulative);
    out += line;
    return out;
}

}  // namespace partyline
