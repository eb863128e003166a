#include "Percentiles.h"

#include <bit>
#include <cmath>

namespace partyline::bench {

namespace {
constexpr size_t kBuckets = (64 - 7 + 1) << 7;  // every uint64_t has a bucket
}

Percentiles::Percentiles() : counts_(kBuckets, 0) {}

// Values below 128 get a bucket each; above, a power of two [2^k, 2^(k+1)) is cut into 128
// equal buckets, so the bucket width is under 1/128 of the value.
size_t Percentiles::bucketOf(uint64_t value) {
    constexpr uint64_t kLinear = uint64_t(1) << kSubBits;
    if (value < kLinear) return size_t(value);
    int shift = (63 - std::countl_zero(value)) - kSubBits;
    return (size_t(shift + 1) << kSubBits) + size_t((value >> shift) - kLinear);
}

uint64_t Percentiles::midpointOf(size_t bucket) {
    constexpr size_t kLinear = size_t(1) << kSubBits;
    if (bucket < kLinear) return bucket;
    int shift = int(bucket >> kSubBits) - 1;
    uint64_t low = uint64_t(kLinear + (bucket & (kLinear - 1))) << shift;
    return low + ((uint64_t(1) << shift) >> 1);
}

void Percentiles::record(uint64_t nanos) {
    ++counts_[bucketOf(nanos)];
    ++count_;
    if (nanos > max_) max_ = nanos;
}

void Percentiles::merge(const Percentiles& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    if (other.max_ > max_) max_ = other.max_;
}

uint64_t Percentiles::percentile(double q) const {
    if (count_ == 0) return 0;
    auto rank = uint64_t(std::ceil(q * double(count_)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            uint64_t value = midpointOf(i);
            return value > max_ ? max_ : value;
        }
    }
    return max_;
}

}  // namespace partyline::bench
