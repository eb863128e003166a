// RoomAdmission: whether a client may open a room this node does not hold yet.
//
// Two limits: the node holds at most limits.max_rooms shards, and one client address opens at
// most limits.max_new_rooms_per_ip_per_second new ones on average, with limits.new_room_burst at
// once (a token bucket per address). A room that exists is never refused here. The address is the
// request's client address as the caller determined it.
// Must not: read a clock (time is passed in), create or look up shards (RoomRegistry does, under
// its lock, which is the lock this runs under), or grow without bound: buckets of addresses that
// are back to their burst are forgotten.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

#include "config/Config.h"
#include "core/Status.h"
#include "net/TokenBucket.h"

namespace partyline {

class RoomAdmission {
   public:
    using Clock = std::chrono::steady_clock;

    explicit RoomAdmission(const Limits& limits);

    // Ok when `address` may open one more room, the node holding `rooms` now; the room's token
    // is taken. ResourceExhausted at limits.max_rooms, RateLimited past the address's rate; the
    // message says which limit, for the answer.
    Status admit(size_t rooms, const std::string& address, Clock::time_point now);

    // Addresses with a bucket now (for tests: memory follows the addresses that are busy).
    size_t trackedAddresses() const { return buckets_.size(); }

   private:
    void forgetIdle(Clock::time_point now);

    const size_t maxRooms_;
    const double perSecond_;
    const double burst_;
    std::unordered_map<std::string, net::TokenBucket> buckets_;
    size_t forgetAt_;  // look for idle buckets when this many are held
};

}  // namespace partyline
