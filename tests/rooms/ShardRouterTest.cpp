// ShardRouter's least-connections over one node's rooms: handshakes that
// choose at the same moment count each other's choices, and a choice counts
// until it is let go.
#include <doctest/doctest.h>

#include <barrier>
#include <optional>
#include <thread>

#include "RoomsTestSupport.h"
#include "rooms/ShardRouter.h"

using namespace partyline;
using namespace partyline::testing;

namespace {

const char* kQuiet = "return { onMessage = function(room, conn, message) end }\n";

RouterConfig leastConnections(size_t shards) {
    return {"main", shards, "least-connections"};
}

}  // namespace

TEST_CASE("least-connections: choices made at once on one node spread exactly") {
    Rooms rooms(Scripts{{"main", kQuiet}});
    ShardRouter router(leastConnections(5), *rooms.registry);
    constexpr size_t kThreads = 8, kEach = 25;
    std::vector<std::vector<ShardChoice>> held(kThreads);
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            for (size_t i = 0; i < kEach; ++i)
                held[t].push_back(router.assign("big", "id", "127.0.0.1").value());
        });
    for (auto& thread : threads) thread.join();
    // Nobody has joined yet: only the held choices count, and they are even.
    for (const auto& shardRoom : router.shardRooms("big"))
        CHECK(router.arriving(shardRoom) == kThreads * kEach / 5);
    held.clear();
    for (const auto& shardRoom : router.shardRooms("big")) CHECK(router.arriving(shardRoom) == 0);
}

TEST_CASE("least-connections: a joined connection counts in its shard once its choice is let go") {
    Rooms rooms(Scripts{{"main", kQuiet}});
    ShardRouter router(leastConnections(2), *rooms.registry);
    std::vector<std::shared_ptr<FakeClient>> clients;
    // Four connections join the room each was given, handed over as the upgrade does.
    for (int i = 0; i < 4; ++i) {
        std::optional<ShardChoice> choice(router.assign("big", "c" + std::to_string(i), "127.0.0.1").value());
        auto client = std::make_shared<FakeClient>("c" + std::to_string(i));
        auto shard = rooms.shard("main", choice->room());
        ShardChoice::connect(choice, [&] { shard->connect(client, {}); });
        CHECK_FALSE(choice.has_value());
        CHECK(router.arriving(shard->roomId()) == 0);  // counted by the shard alone now
        clients.push_back(client);
    }
    CHECK(rooms.shard("main", "big-1")->connectionCount() == 2);
    CHECK(rooms.shard("main", "big-2")->connectionCount() == 2);
    // One more held (not joined yet) on either: the next goes to the other one.
    std::optional<ShardChoice> held(router.assign("big", "c4", "127.0.0.1").value());
    auto next = router.assign("big", "c5", "127.0.0.1").value();
    CHECK(next.room() != held->room());
    CHECK(router.arriving(held->room()) == 1);
    held.reset();
    CHECK(router.arriving("big-1") + router.arriving("big-2") == 1);  // `next` only
}

TEST_CASE("the other strategies hold nothing") {
    Rooms rooms(Scripts{{"main", kQuiet}});
    for (const char* strategy : {"random", "round-robin", "hash"}) {
        ShardRouter router({"main", 3, strategy}, *rooms.registry);
        auto choice = router.assign("big", "id", "127.0.0.1").value();
        CHECK(choice.room().rfind("big-", 0) == 0);
        for (const auto& shardRoom : router.shardRooms("big")) CHECK(router.arriving(shardRoom) == 0);
    }
}

TEST_CASE("least-connections: this node's own count first, the count on all nodes among its ties") {
    Rooms rooms(Scripts{{"main", kQuiet}});
    OtherNode other(rooms, "node-b");
    ShardRouter router(leastConnections(2), *rooms.registry);
    auto here = rooms.shard("main", "big-1");
    rooms.shard("main", "big-2");
    // Node b holds 3 connections in big-1; node a has none in either room.
    std::vector<std::shared_ptr<FakeClient>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_shared<FakeClient>("b" + std::to_string(i)));
        other.shard("main", "big-1")->connect(clients.back(), {});
    }
    REQUIRE(eventually([&] { return here->remoteCount() == 3; }));
    // Tied here (0 and 0): the count on all nodes decides, twice in a row.
    auto first = router.assign("big", "a0", "127.0.0.1").value();
    CHECK(first.room() == "big-2");
    // Now 0 here in big-1 against 1 in big-2: this node evens out its own first, although big-1
    // holds more connections on all nodes (node b evens out its own the same way).
    auto second = router.assign("big", "a1", "127.0.0.1").value();
    CHECK(second.room() == "big-1");
}
