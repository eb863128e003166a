// RoomRegistry: the shards of this node, created on first touch, closed when idle.
//
// A client's request reaches its room through open(), which creates a
// missing shard only when RoomAdmission allows one more room for the client's
// address; the node's own needs (alarms) use shard(), which always creates.
//
// Threads: any thread may look a shard up; the lookup creates it when it is
// missing. The sweep runs on the timer thread and stops shards that have had
// no connection and no work for limits.idle_room_seconds.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "bus/Subject.h"
#include "core/Status.h"
#include "rooms/Party.h"
#include "rooms/RoomAdmission.h"
#include "rooms/Shard.h"

namespace partyline {

class RoomRegistry {
   public:
    RoomRegistry(ShardContext& context, const Parties& parties);
    ~RoomRegistry();  // stops every shard

    // The room's shard on this node, created if needed. NotFound for an
    // unknown party, InvalidArgument for a room id that cannot be a room.
    Result<std::shared_ptr<Shard>> shard(const std::string& party, const std::string& roomId);
    // The same for a client at `clientAddress` (the request's client address): a shard that exists
    // is returned; a missing one is created only if RoomAdmission admits it, else
    // ResourceExhausted (the node holds limits.max_rooms) or RateLimited (the address opened too
    // many rooms lately).
    Result<std::shared_ptr<Shard>> open(const std::string& party, const std::string& roomId,
                                        const std::string& clientAddress);
    // The room's shard on this node if it has one; never creates it.
    std::shared_ptr<Shard> find(const std::string& party, const std::string& roomId) const;
    // The subjects of a room (its log subject among them), without creating a shard.
    Result<RoomSubjects> subjects(const std::string& party, const std::string& roomId) const;

    size_t size() const;
    // Every shard of `party` on this node loads `script` (see Shard::reload).
    size_t reload(const std::string& party, const std::shared_ptr<const Script>& script);
    size_t sweepIdle();  // returns how many shards it stopped
    // After NATS came back, every shard compares its position with the log.
    void catchUpAfterReconnect();
    // Every shard re-announces its connection count when due.
    void heartbeat();

   private:
    void scheduleSweep();
    // With `clientAddress`, the creation is admitted first.
    Result<std::shared_ptr<Shard>> lookUp(const std::string& party, const std::string& roomId,
                                          const std::string* clientAddress);

    ShardContext& context_;
    const Parties& parties_;
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, std::string>, std::shared_ptr<Shard>> shards_;
    RoomAdmission admission_;  // under mutex_
    uint64_t sweepTimer_ = 0;
    bool stopping_ = false;
    uint64_t reconnectsSeen_ = 0;  // timer thread only
};

}  // namespace partyline
