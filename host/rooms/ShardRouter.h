// ShardRouter: spreads the connections of one router room over the rooms
// <room>-1..<room>-N of its target party, the pattern PartyKit's sharding
// example uses for rooms too large for one shard: here every shard room is a
// full room with its own log, so nothing is lost or reordered between them.
//
// Threads: any thread (CivetWeb workers); the counts it reads are atomics
// kept by the shards, so choosing takes no lock but the round-robin counter.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "core/Status.h"
#include "rooms/RoomRegistry.h"

namespace partyline {

class ShardRouter {
   public:
    ShardRouter(const RouterConfig& config, RoomRegistry& rooms) : config_(config), rooms_(rooms) {}

    // The shard room of the target party a new connection from `clientAddress` joins
    // (least-connections opens the shard rooms it compares for that address: RoomRegistry::open).
    Result<std::string> assign(const std::string& room, const std::string& connectionId,
                               const std::string& clientAddress);
    // Every shard room of a router room, in order.
    std::vector<std::string> shardRooms(const std::string& room) const;
    const std::string& target() const { return config_.target; }

   private:
    size_t leastConnected(const std::string& room, const std::string& clientAddress);

    RouterConfig config_;
    RoomRegistry& rooms_;
    std::atomic<uint64_t> next_{0};
};

// The routers of a node's router parties, by party name; built once, before the first request.
using ShardRouters = std::map<std::string, std::unique_ptr<ShardRouter>>;

// FNV-1a: the same on every node and every build, unlike std::hash.
uint64_t stableHash(std::string_view text);

}  // namespace partyline
