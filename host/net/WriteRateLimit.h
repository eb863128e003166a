// WriteRateLimit: how many bytes of writes each client address may put into the log per second
// (limits.max_write_bytes_per_second_per_ip), over built-in broadcasts and WebSocket writes alike.
//
// One TokenBucket of bytes per address, holding one second's worth; a write passes while its
// address's bucket is not in debt, so a write larger than a second's worth still passes alone.
// Buckets that refilled are forgotten once many addresses are known, so the table holds only
// addresses that wrote in about the last second. The address is whatever the caller names the
// client by (the peer address today). Must not: know about HTTP, WebSockets or rooms; callers
// answer a refusal their own way.
//
// Threads: any; one lock, held only to update one bucket (and, now and then, to forget the idle).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "net/TokenBucket.h"

namespace partyline::net {

class WriteRateLimit {
   public:
    using Clock = TokenBucket::Clock;
    // Past this many addresses, buckets that refilled are dropped.
    static constexpr size_t kForgetAbove = 4096;

    // bytesPerSecond 0: no limit.
    explicit WriteRateLimit(size_t bytesPerSecond) : rate_(bytesPerSecond) {}

    // Charges `bytes` written by `address` at `now`: zero when it may write them, else how long
    // it must wait before writing again (nothing is charged then).
    Clock::duration charge(const std::string& address, size_t bytes, Clock::time_point now = Clock::now());

    size_t bytesPerSecond() const { return rate_; }
    // Writes refused so far (partyline_write_rate_refused_total).
    uint64_t refused() const { return refused_.load(); }
    size_t addresses() const;

   private:
    void forgetIdle(Clock::time_point now);

    const size_t rate_;
    std::atomic<uint64_t> refused_{0};
    mutable std::mutex mutex_;
    std::unordered_map<std::string, TokenBucket> buckets_;
    Clock::time_point forgotAt_{};
};

}  // namespace partyline::net
