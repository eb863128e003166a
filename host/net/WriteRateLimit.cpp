#include "net/WriteRateLimit.h"

namespace partyline::net {

WriteRateLimit::Clock::duration WriteRateLimit::charge(const std::string& address, size_t bytes,
                                                       Clock::time_point now) {
    if (rate_ == 0) return Clock::duration::zero();
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(address);
    if (it == buckets_.end()) {
        if (buckets_.size() >= kForgetAbove) forgetIdle(now);
        it = buckets_.emplace(address, TokenBucket(double(rate_), double(rate_), now)).first;
    }
    if (it->second.spend(now, double(bytes))) return Clock::duration::zero();
    refused_++;
    return it->second.waitFor(now);
}

size_t WriteRateLimit::addresses() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

// At most once a second, so a table of many busy addresses is not scanned at every new one.
void WriteRateLimit::forgetIdle(Clock::time_point now) {
    if (now - forgotAt_ < std::chrono::seconds(1)) return;
    forgotAt_ = now;
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        if (it->second.full(now))
            it = buckets_.erase(it);
        else
            ++it;
    }
}

}  // namespace partyline::net
