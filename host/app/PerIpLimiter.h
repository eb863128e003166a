// PerIpLimiter: the connections each client address holds, and how fast it opens new ones:
// limits.max_connections_per_ip and limits.max_new_connections_per_ip_per_second. Pure: time is
// passed in, so tests need no clock.
//
// A connection is counted from its admission until release(), HTTP and WebSocket alike (an
// upgraded connection keeps its count until its WebSocket closes). Every attempt takes a token
// of its address's bucket, refused ones too, so a client that keeps hammering stays refused.
// Memory is bounded by the addresses that hold a connection or opened one within the last
// second or so: an address with nothing open is forgotten once its bucket would be full again
// (the table is swept when it doubled, or a second after the last sweep).
// Must not: answer or close anything; the caller does.
//
// Threads: any (one mutex; each call is a map lookup).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/TokenBucket.h"

namespace partyline {

class PerIpLimiter {
   public:
    using Clock = std::chrono::steady_clock;
    enum class Verdict { Admitted, TooManyConnections, TooFast };

    // 0 for either: no limit of that kind.
    PerIpLimiter(size_t maxConnections, size_t newPerSecond)
        : maxConnections_(maxConnections), newPerSecond_(newPerSecond) {}

    // One more connection from `address`, counted when Admitted.
    Verdict admit(const std::string& address, Clock::time_point now);
    // A connection admitted from `address` is gone. An address with none counted is left alone.
    void release(std::string_view address);

    size_t connectionsOf(std::string_view address) const;
    size_t addressesHeld() const;  // entries in the table, for tests and the metric

   private:
    struct Entry {
        size_t open = 0;
        net::TokenBucket bucket;
        Clock::time_point lastAttempt;
    };
    // Drops the addresses with nothing open whose bucket is full again at `now`.
    void sweep(Clock::time_point now);

    const size_t maxConnections_;
    const size_t newPerSecond_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
    size_t sweepAt_ = kFirstSweep;   // a sweep at this size, at the latest...
    Clock::time_point lastSweep_{};  // ...or once a bucket refilled since the last one
    static constexpr size_t kFirstSweep = 1024;
};

}  // namespace partyline
