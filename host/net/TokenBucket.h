// TokenBucket: a per-connection message rate limit, and a byte rate limit (spend).
//
// Holds up to `burst` tokens and gains `ratePerSecond` of them each second; each message takes
// one. A connection that has none left sends faster than its limit allows. Time is passed in, so
// tests need no clock. Not thread-safe: one connection's bucket lives on the Reactor's thread,
// and a shared one needs its owner's lock (the addresses' buckets of new rooms: RoomRegistry's).
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
        std::chrono::duration<double> elapsed = now - refilled_;
        if (elapsed.count() > 0) {
            tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
            refilled_ = now;
        }
        if (tokens_ < 1) return false;
        tokens_ -= 1;
        return true;
    }

    // Takes `count` tokens (bytes) while the bucket holds any; it may go into debt, so one spend
    // larger than the burst still passes, and the next waits until the debt is paid back. False,
    // taking none, when the bucket is empty or in debt at `now`.
    bool spend(Clock::time_point now, double count) {
        if (rate_ <= 0) return true;
        refill(now);
        if (tokens_ <= 0) return false;
        tokens_ -= count;
        return true;
    }
    // How long until spend() passes again (zero when it would pass at `now`).
    Clock::duration waitFor(Clock::time_point now) {
        if (rate_ <= 0) return Clock::duration::zero();
        refill(now);
        if (tokens_ > 0) return Clock::duration::zero();
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / rate_)) +
               Clock::duration(1);
    }
    // Full at `now`: it forgot everything spent from it.
    bool full(Clock::time_point now) {
        refill(now);
        return tokens_ >= burst_;
    }

   private:
    void refill(Clock::time_point now) {
        std::chrono::duration<double> elapsed = now - refilled_;
        if (elapsed.count() > 0) {
            tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
            refilled_ = now;
        }
    }

    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point refilled_;
};

}  // namespace partyline::net
