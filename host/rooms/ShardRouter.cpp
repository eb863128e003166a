#include "rooms/ShardRouter.h"

#include <limits>
#include <random>

#include "bus/Partition.h"

namespace partyline {

std::vector<std::string> ShardRouter::shardRooms(const std::string& room) const {
    std::vector<std::string> rooms;
    for (size_t i = 1; i <= config_.shards; ++i) rooms.push_back(room + "-" + std::to_string(i));
    return rooms;
}

ShardChoice::~ShardChoice() {
    if (arriving_) arriving_->arrived(room_);
}

void ShardChoice::connect(std::optional<ShardChoice>& choice, const std::function<void()>& join) {
    ShardRouter* router = choice ? choice->arriving_ : nullptr;
    if (!router) {
        join();
        choice.reset();
        return;
    }
    std::lock_guard lock(router->mutex_);
    join();
    router->arrivedLocked(choice->room_);
    choice->arriving_ = nullptr;
    choice.reset();
}

Result<ShardChoice> ShardRouter::assign(const std::string& room, const std::string& connectionId,
                                        const std::string& clientAddress) {
    size_t index;
    if (config_.strategy == "round-robin") {
        index = size_t(next_.fetch_add(1) % config_.shards);
    } else if (config_.strategy == "hash") {
        // FNV-1a, as partitions use: the same on every node and every build, unlike std::hash.
        index = size_t(fnv1a64(connectionId) % config_.shards);
    } else if (config_.strategy == "least-connections") {
        index = leastConnected(room, clientAddress);
        return ShardChoice(room + "-" + std::to_string(index + 1), this);
    } else {
        thread_local std::mt19937_64 random{std::random_device{}()};
        index = size_t(random() % config_.shards);
    }
    return ShardChoice(room + "-" + std::to_string(index + 1));
}

size_t ShardRouter::arriving(const std::string& shardRoom) const {
    std::lock_guard lock(mutex_);
    auto it = arriving_.find(shardRoom);
    return it == arriving_.end() ? 0 : it->second;
}

void ShardRouter::arrived(const std::string& shardRoom) {
    std::lock_guard lock(mutex_);
    arrivedLocked(shardRoom);
}

void ShardRouter::arrivedLocked(const std::string& shardRoom) {
    auto it = arriving_.find(shardRoom);
    if (it != arriving_.end() && --it->second == 0) arriving_.erase(it);
}

// Each node evens out its own connections first: this node's count (its
// connections, with the choices still on their way: ShardChoice), then the
// count on all nodes (presence) among the rooms tied on it. Nodes that chose
// by the count on all nodes alone would each fill the same emptiest room at
// once, before presence tells them of the others' choices, and overshoot
// together; evened out per node, the rooms differ by at most one connection
// per node while connections only arrive. Ties left go to a random one.
// Chosen under the mutex: handshakes choosing at once count each other.
size_t ShardRouter::leastConnected(const std::string& room, const std::string& clientAddress) {
    thread_local std::mt19937_64 random{std::random_device{}()};
    auto rooms = shardRooms(room);
    // Opened for the joining client, so the limits on new rooms apply to its address; a room it
    // may not open counts as full. Opened before the lock: a room's start takes its time.
    std::vector<std::shared_ptr<Shard>> shards;
    for (const auto& name : rooms) {
        auto shard = rooms_.open(config_.target, name, clientAddress);
        shards.push_back(shard ? shard.value() : nullptr);
    }
    constexpr size_t kFull = std::numeric_limits<size_t>::max();
    std::lock_guard lock(mutex_);
    std::pair<size_t, size_t> best{kFull, kFull};  // (this node's, all nodes')
    size_t chosen = 0, ties = 0;
    for (size_t i = 0; i < rooms.size(); ++i) {
        std::pair<size_t, size_t> count{kFull, kFull};
        if (shards[i]) {
            auto held = arriving_.find(rooms[i]);
            count.first = shards[i]->connectionCount() + (held == arriving_.end() ? 0 : held->second);
            count.second = count.first + shards[i]->remoteCount();
        }
        if (count < best) {
            best = count;
            chosen = i;
            ties = 1;
        } else if (count == best && random() % ++ties == 0) {
            chosen = i;
        }
    }
    arriving_[rooms[chosen]]++;
    return chosen;
}

}  // namespace partyline
