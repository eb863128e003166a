// TokenBucket: a rate limit, such as a connection's messages or an address's new rooms.
//
// Holds up to `burst` tokens and gains `ratePerSecond` of them each second; each message takes
// one. A connection that has none left sends faster than its limit allows. Time is passed in, so
// tests need no clock. Not thread-safe: one connection's bucket lives on the Reactor's thread,
// the addresses' buckets of new rooms under RoomRegistry's lock.
#pragma once

#include <algorithm>
#include <chrono>

namespace partyline::net {

class TokenBucket {
   public:
    using Clock = std::chrono::steady_clock;

    // ratePerSecond 0: no limit, take() always succeeds.
    TokenBucket(double ratePerSecond, double burst, Clock::time_point now)
        : rate_(ratePerSecond), burst_(std::max(burst, 1.0)), tokens_(burst_), refilled_(now) {}

    // Takes a token; false when none is left at `now`.
    bool take(Clock::time_point now) {
        if (rate_ <= 0) return true;
        refill(now);
        if (tokens_ < 1) return false;
        tokens_ -= 1;
        return true;
    }

    // True when the bucket is back to its burst at `now`: forgetting it changes nothing.
    bool full(Clock::time_point now) {
        if (rate_ <= 0) return true;
        refill(now);
        return tokens_ >= burst_;
    }

   private:
    void refill(Clock::time_point now) {
        std::chrono::duration<double> elapsed = now - refilled_;
        if (elapsed.count() <= 0) return;
        tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
        refilled_ = now;
    }

    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point refilled_;
};

}  // namespace partyline::net
