#include "rooms/ShardRouter.h"

#include <limits>
#include <random>

namespace partyline {

uint64_t stableHash(std::string_view text) {
    uint64_t hash = 14695981039346656037ull;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
    return hash;
}

std::vector<std::string> ShardRouter::shardRooms(const std::string& room) const {
    std::vector<std::string> rooms;
    for (size_t i = 1; i <= config_.shards; ++i) rooms.push_back(room + "-" + std::to_string(i));
    return rooms;
}

Result<std::string> ShardRouter::assign(const std::string& room, const std::string& connectionId,
                                        const std::string& clientAddress) {
    size_t index;
    if (config_.strategy == "round-robin") {
        index = size_t(next_.fetch_add(1) % config_.shards);
    } else if (config_.strategy == "hash") {
        index = size_t(stableHash(connectionId) % config_.shards);
    } else if (config_.strategy == "least-connections") {
        index = leastConnected(room, clientAddress);
    } else {
        thread_local std::mt19937_64 random{std::random_device{}()};
        index = size_t(random() % config_.shards);
    }
    return room + "-" + std::to_string(index + 1);
}

// Counts come from every node (presence); this node's own connections count
// at once, before the shard has announced them. Ties go to a random one of
// the least connected, so nodes choosing at the same moment spread out.
size_t ShardRouter::leastConnected(const std::string& room, const std::string& clientAddress) {
    thread_local std::mt19937_64 random{std::random_device{}()};
    size_t best = std::numeric_limits<size_t>::max(), chosen = 0, ties = 0;
    auto rooms = shardRooms(room);
    for (size_t i = 0; i < rooms.size(); ++i) {
        // Opened for the joining client, so the limits on new rooms apply to its address; a room
        // it may not open counts as full.
        auto shard = rooms_.open(config_.target, rooms[i], clientAddress);
        size_t count = shard ? shard.value()->connectionCount() + shard.value()->remoteCount()
                             : std::numeric_limits<size_t>::max();
        if (count < best) {
            best = count;
            chosen = i;
            ties = 1;
        } else if (count == best && random() % ++ties == 0) {
            chosen = i;
        }
    }
    return chosen;
}

}  // namespace partyline
