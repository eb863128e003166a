#include "app/PerIpLimiter.h"

#include <algorithm>

namespace partyline {
namespace {

// A bucket of one second's worth refills in a second; a little more covers rounding.
constexpr auto kRefilled = std::chrono::milliseconds(1100);

}  // namespace

PerIpLimiter::Verdict PerIpLimiter::admit(const std::string& address, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= sweepAt_ || (entries_.size() >= kFirstSweep && now - lastSweep_ >= kRefilled))
        sweep(now);
    auto it = entries_.find(address);
    if (it == entries_.end()) {
        // The bucket holds one second's worth: a page opening its few sockets at once passes.
        double rate = double(newPerSecond_);
        it = entries_.emplace(address, Entry{0, net::TokenBucket(rate, rate, now), now}).first;
    }
    Entry& entry = it->second;
    entry.lastAttempt = now;
    if (!entry.bucket.take(now)) return Verdict::TooFast;
    if (maxConnections_ && entry.open >= maxConnections_) return Verdict::TooManyConnections;
    entry.open++;
    return Verdict::Admitted;
}

void PerIpLimiter::release(std::string_view address) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(address));
    if (it != entries_.end() && it->second.open > 0) it->second.open--;
}

size_t PerIpLimiter::connectionsOf(std::string_view address) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(address));
    return it == entries_.end() ? 0 : it->second.open;
}

size_t PerIpLimiter::addressesHeld() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void PerIpLimiter::sweep(Clock::time_point now) {
    lastSweep_ = now;
    std::erase_if(entries_, [&](const auto& item) {
        return item.second.open == 0 && (newPerSecond_ == 0 || now - item.second.lastAttempt >= kRefilled);
    });
    sweepAt_ = std::max(kFirstSweep, entries_.size() * 2);
}

}  // namespace partyline
