#include "rooms/RoomAdmission.h"

#include <algorithm>

namespace partyline {
namespace {

// Idle buckets are looked for when the map doubled since the last look, starting here: the
// cost of a sweep is spread over as many admissions as it found buckets.
constexpr size_t kFirstSweep = 1024;

}  // namespace

RoomAdmission::RoomAdmission(const Limits& limits)
    : maxRooms_(limits.max_rooms),
      perSecond_(double(limits.max_new_rooms_per_ip_per_second)),
      burst_(double(limits.new_room_burst)),
      forgetAt_(kFirstSweep) {}

Status RoomAdmission::admit(size_t rooms, const std::string& address, Clock::time_point now) {
    if (rooms >= maxRooms_)
        return Status(Code::ResourceExhausted, "this node holds its limit of " + std::to_string(maxRooms_) +
                                                   " rooms (limits.max_rooms)");
    if (perSecond_ <= 0) return {};
    auto it = buckets_.find(address);
    if (it == buckets_.end()) {
        if (buckets_.size() >= forgetAt_) forgetIdle(now);
        it = buckets_.emplace(address, net::TokenBucket(perSecond_, burst_, now)).first;
    }
    if (!it->second.take(now))
        return Status(Code::RateLimited,
                      "too many new rooms from this address (limits.max_new_rooms_per_ip_per_second: " +
                          std::to_string(size_t(perSecond_)) + ")");
    return {};
}

void RoomAdmission::forgetIdle(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        if (it->second.full(now)) {
            it = buckets_.erase(it);
        } else {
            ++it;
        }
    }
    forgetAt_ = std::max(kFirstSweep, buckets_.size() * 2);
}

}  // namespace partyline
