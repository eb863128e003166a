// ShardRouter: spreads the connections of one router room over the rooms
// <room>-1..<room>-N of its target party, the pattern PartyKit's sharding
// example uses for rooms too large for one shard: here every shard room is a
// full room with its own log, so nothing is lost or reordered between them.
//
// Threads: any thread (CivetWeb workers, mux join threads). least-connections
// chooses under the router's mutex, so connections of this node choosing at
// the same moment each count the others' choices; the rest take no lock.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/Config.h"
#include "core/Status.h"
#include "rooms/RoomRegistry.h"

namespace partyline {

class ShardRouter;

// The shard room a new connection was given. With least-connections it counts
// in that room from the choice on, while the connection is still on its way
// (auth, the room's start, onBeforeConnect), until the choice is let go: at the
// refusal, or by `connect` when the shard takes the connection.
class ShardChoice {
   public:
    explicit ShardChoice(std::string room, ShardRouter* arriving = nullptr)
        : room_(std::move(room)), arriving_(arriving) {}
    ShardChoice(ShardChoice&& other) noexcept : room_(std::move(other.room_)), arriving_(other.arriving_) {
        other.arriving_ = nullptr;
    }
    ShardChoice& operator=(ShardChoice&&) = delete;
    ShardChoice(const ShardChoice&) = delete;
    ~ShardChoice();

    const std::string& room() const { return room_; }
    // Runs `join` (the Shard::connect that makes the shard count the connection) and lets the
    // choice go with it, under the router's lock: no choice made at that moment counts the
    // connection twice, or not at all. Without a choice, just `join`.
    static void connect(std::optional<ShardChoice>& choice, const std::function<void()>& join);

   private:
    std::string room_;
    ShardRouter* arriving_;  // whose count of arriving connections holds this one, if any
};

class ShardRouter {
   public:
    ShardRouter(const RouterConfig& config, RoomRegistry& rooms) : config_(config), rooms_(rooms) {}

    // The shard room of the target party a new connection from `clientAddress` joins
    // (least-connections opens the shard rooms it compares for that address: RoomRegistry::open).
    Result<ShardChoice> assign(const std::string& room, const std::string& connectionId,
                               const std::string& clientAddress);
    // Every shard room of a router room, in order.
    std::vector<std::string> shardRooms(const std::string& room) const;
    const std::string& target() const { return config_.target; }
    // Connections given `shardRoom` whose choice is still held (least-connections only).
    size_t arriving(const std::string& shardRoom) const;

   private:
    friend class ShardChoice;
    size_t leastConnected(const std::string& room, const std::string& clientAddress);
    void arrived(const std::string& shardRoom);
    void arrivedLocked(const std::string& shardRoom);  // under mutex_

    RouterConfig config_;
    RoomRegistry& rooms_;
    std::atomic<uint64_t> next_{0};
    mutable std::mutex mutex_;
    std::map<std::string, size_t> arriving_;  // under mutex_: held choices by shard room, none at 0
};

// The routers of a node's router parties, by party name; built once, before the first request.
using ShardRouters = std::map<std::string, std::unique_ptr<ShardRouter>>;

}  // namespace partyline
