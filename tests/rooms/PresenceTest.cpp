// Presence on its own: two nodes' counts, lists and infos of one room over a MemoryBus, the
// listener's coalesced changes, a lost diff mended by a full list, and counts only.
#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bus/MemoryBus.h"
#include "rooms/Presence.h"
#include "rooms/RoomsTestSupport.h"

namespace partyline {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

// One node's presence in the room, on a strand of its own. Held by a shared_ptr, as a shard
// is: the tasks Presence posts keep their Node alive.
struct Node {
    Node(MemoryBus& bus, Executor& executor, Timer& timer, const Limits& limits, std::string id,
         bool countsOnly = false)
        : context{bus, executor, timer, limits, std::move(id), "partyline"},
          strand(executor.makeStrand()),
          presence(context, *strand, "partyline.presence.chat.lobby", countsOnly) {}
    // Runs `task` on the strand and waits for it.
    template <class F>
    void onStrand(F task) {
        std::promise<void> done;
        strand->post([&] {
            task();
            done.set_value();
        });
        done.get_future().wait();
    }

    ShardContext context;
    std::shared_ptr<Strand> strand;
    Presence presence;
};

}  // namespace

TEST_CASE("presence adds the counts every node announces, and forgets a node that stops") {
    Limits limits;
    MemoryBus bus;
    Timer timer;
    Executor executor{2};
    {
        auto a = std::make_shared<Node>(bus, executor, timer, limits, "node-a");
        auto b = std::make_shared<Node>(bus, executor, timer, limits, "node-b");
        a->presence.setOwner(a);
        b->presence.setOwner(b);
        a->onStrand([&] { a->presence.start(); });
        b->onStrand([&] { b->presence.start(); });
        a->onStrand([&] {
            a->presence.localJoined("a1");
            a->presence.localJoined("a2");
        });
        CHECK(a->presence.totalCount() == 2);  // its own count at once, the others' once heard
        b->onStrand([&] {
            for (const char* id : {"b1", "b2", "b3"}) b->presence.localJoined(id);
        });
        CHECK(eventually([&] { return a->presence.totalCount() == 5 && b->presence.totalCount() == 5; }, 1s));
        CHECK(a->presence.remoteCount() == 3);
        CHECK(b->presence.remoteCount() == 2);

        b->onStrand([&] { b->presence.stop(); });  // an empty list: a forgets b without waiting for expiry
        CHECK(eventually([&] { return a->presence.totalCount() == 2; }, 1s));
        CHECK(a->presence.remoteCount() == 0);
        a->onStrand([&] { a->presence.stop(); });
    }
    executor.stop();
}

TEST_CASE("every node sees every connection with its info, and the listener hears the changes") {
    Limits limits;
    MemoryBus bus;
    Timer timer;
    Executor executor{2};
    {
        auto a = std::make_shared<Node>(bus, executor, timer, limits, "node-a");
        auto b = std::make_shared<Node>(bus, executor, timer, limits, "node-b");
        std::mutex mutex;
        std::vector<PresenceChange> heard;  // by b's listener
        a->presence.setOwner(a);
        b->presence.setOwner(b);
        b->presence.setListener([&](PresenceChange change) {
            std::lock_guard lock(mutex);
            heard.push_back(std::move(change));
        });
        a->onStrand([&] {
            a->presence.start();
            a->presence.localJoined("x");
            a->presence.localInfo("x", R"({"name":"Ann"})");
        });
        // b starts later: its ask brings a's whole list.
        b->onStrand([&] {
            b->presence.start();
            b->presence.localJoined("y");
        });
        auto entriesOf = [](Node& n) {
            std::vector<PresenceEntry> out;
            n.onStrand([&] { out = n.presence.entries(); });
            return out;
        };
        const std::vector<PresenceEntry> both{{"x", "node-a", R"({"name":"Ann"})"}, {"y", "node-b", ""}};
        CHECK(eventually([&] { return entriesOf(*a) == both && entriesOf(*b) == both; }, 2s));
        CHECK(eventually(
            [&] {
                std::lock_guard lock(mutex);
                PresenceView seen;
                for (auto& c : heard) {
                    for (auto& e : c.left) seen.erase({e.node, e.id});
                    for (auto& e : c.joined) seen[{e.node, e.id}] = e.info;
                }
                return seen.size() == 2 && seen[{"node-a", "x"}] == R"({"name":"Ann"})";
            },
            2s));

        // A changed info: a leave of the old entry and a join of the new, in one call.
        size_t calls = 0;
        {
            std::lock_guard lock(mutex);
            calls = heard.size();
        }
        a->onStrand([&] { a->presence.localInfo("x", R"({"name":"Bo"})"); });
        CHECK(eventually(
            [&] {
                std::lock_guard lock(mutex);
                return heard.size() > calls;
            },
            2s));
        {
            std::lock_guard lock(mutex);
            REQUIRE(heard.size() == calls + 1);
            CHECK(heard.back().left == std::vector<PresenceEntry>{{"x", "node-a", R"({"name":"Ann"})"}});
            CHECK(heard.back().joined == std::vector<PresenceEntry>{{"x", "node-a", R"({"name":"Bo"})"}});
            calls = heard.size();
        }

        // A burst of changes within the window reaches the listener as one call.
        a->onStrand([&] {
            for (int i = 0; i < 50; ++i) a->presence.localJoined("burst-" + std::to_string(i));
            for (int i = 0; i < 10; ++i) a->presence.localLeft("burst-" + std::to_string(i));
        });
        CHECK(eventually([&] { return entriesOf(*b).size() == 42; }, 2s));
        CHECK(eventually(
            [&] {
                std::lock_guard lock(mutex);
                size_t joined = 0;
                for (size_t i = calls; i < heard.size(); ++i) joined += heard[i].joined.size();
                return joined == 40;
            },
            2s));
        {
            std::lock_guard lock(mutex);
            CHECK(heard.size() - calls <= 3);  // a few at most: the burst may straddle a window
        }
        a->onStrand([&] { a->presence.stop(); });
        b->onStrand([&] { b->presence.stop(); });
    }
    executor.stop();
}

TEST_CASE("a node that left is gone from the others' view, and a lost diff is mended by a full list") {
    Limits limits;
    MemoryBus bus;
    Timer timer;
    Executor executor{2};
    {
        auto a = std::make_shared<Node>(bus, executor, timer, limits, "node-a");
        auto b = std::make_shared<Node>(bus, executor, timer, limits, "node-b");
        a->presence.setOwner(a);
        b->presence.setOwner(b);
        a->onStrand([&] { a->presence.start(); });
        b->onStrand([&] { b->presence.start(); });
        a->onStrand([&] { a->presence.localJoined("x"); });
        auto sizeAt = [](Node& n) {
            size_t size = 0;
            n.onStrand([&] { size = n.presence.entries().size(); });
            return size;
        };
        CHECK(eventually([&] { return sizeAt(*b) == 1; }, 2s));
        // A diff b cannot place (its base is a version b never heard): b asks a for its list.
        bus.publishEphemeral(
            "partyline.presence.chat.lobby",
            R"({"diff":true,"node":"node-a","epoch":"other","version":9,"base":8,"count":1,"set":[],"gone":[]})");
        a->onStrand([&] { a->presence.localJoined("y"); });
        CHECK(eventually([&] { return sizeAt(*b) == 2; }, 2s));
        a->onStrand([&] { a->presence.localLeft("x"); });
        CHECK(eventually([&] { return sizeAt(*b) == 1; }, 2s));
        a->onStrand([&] { a->presence.stop(); });
        CHECK(eventually([&] { return sizeAt(*b) == 0 && b->presence.totalCount() == 0; }, 2s));
        b->onStrand([&] { b->presence.stop(); });
    }
    executor.stop();
}

TEST_CASE("a room of thousands of connections is announced in parts under the message budget") {
    Limits limits;
    MemoryBus bus;
    Timer timer;
    Executor executor{2};
    {
        auto a = std::make_shared<Node>(bus, executor, timer, limits, "node-a");
        auto b = std::make_shared<Node>(bus, executor, timer, limits, "node-b");
        a->presence.setOwner(a);
        b->presence.setOwner(b);
        std::mutex mutex;
        size_t largest = 0, messages = 0;
        auto watch = bus.subscribeEphemeral("partyline.presence.chat.lobby", [&](std::string m) {
            std::lock_guard lock(mutex);
            largest = std::max(largest, m.size());
            ++messages;
        });
        REQUIRE(watch);
        a->onStrand([&] { a->presence.start(); });
        b->onStrand([&] { b->presence.start(); });
        // 3,000 joins with 200-byte infos in one window: about 700 KB, far over one message.
        const std::string info = R"({"name":")" + std::string(188, 'n') + R"("})";
        a->onStrand([&] {
            for (int i = 0; i < 3000; ++i) {
                const std::string id = "conn-" + std::to_string(i);
                a->presence.localJoined(id);
                a->presence.localInfo(id, info);
            }
        });
        auto sizeAt = [](Node& n) {
            size_t size = 0;
            n.onStrand([&] { size = n.presence.entries().size(); });
            return size;
        };
        CHECK(eventually([&] { return sizeAt(*b) == 3000; }, 3s));
        CHECK(b->presence.totalCount() == 3000);
        {
            std::lock_guard lock(mutex);
            CHECK(largest <= kMaxPresenceMessageBytes);
            CHECK(messages > 10);
        }
        a->onStrand([&] { a->presence.stop(); });
        CHECK(eventually([&] { return sizeAt(*b) == 0; }, 2s));
        b->onStrand([&] { b->presence.stop(); });
    }
    executor.stop();
}

TEST_CASE("counts only: 10,000 connections announce one message of under 200 bytes, and counts add up") {
    Limits limits;
    MemoryBus bus;
    Timer timer;
    Executor executor{2};
    {
        auto a = std::make_shared<Node>(bus, executor, timer, limits, "node-a", true);
        auto b = std::make_shared<Node>(bus, executor, timer, limits, "node-b", true);
        a->presence.setOwner(a);
        b->presence.setOwner(b);
        std::mutex mutex;
        size_t largest = 0, total = 0;
        auto watch = bus.subscribeEphemeral("partyline.presence.chat.lobby", [&](std::string m) {
            std::lock_guard lock(mutex);
            largest = std::max(largest, m.size());
            total += m.size();
        });
        REQUIRE(watch);
        a->onStrand([&] { a->presence.start(); });
        b->onStrand([&] { b->presence.start(); });
        a->onStrand([&] {
            for (int i = 0; i < 10000; ++i) {
                const std::string id = "conn-" + std::to_string(i);
                a->presence.localJoined(id);
                a->presence.localInfo(id, R"({"name":"someone"})");  // kept here, never announced
            }
        });
        b->onStrand([&] { b->presence.localJoined("b1"); });
        CHECK(eventually(
            [&] { return a->presence.totalCount() == 10001 && b->presence.totalCount() == 10001; }, 20s));
        std::map<std::string, size_t> counts;
        b->onStrand([&] {
            counts = b->presence.counts();
            CHECK(b->presence.entries().empty());  // no list is kept, not even this node's
        });
        CHECK(counts == std::map<std::string, size_t>{{"node-a", 10000}, {"node-b", 1}});
        {
            std::lock_guard lock(mutex);
            CHECK(largest < 200);
            CHECK(total < 10 * 200);  // the joins went out coalesced, a count each time
        }
        a->onStrand([&] { a->presence.stop(); });  // a count of 0: b forgets a at once
        CHECK(eventually([&] { return b->presence.totalCount() == 1; }, 20s));
        b->onStrand([&] { b->presence.stop(); });
    }
    executor.stop();
}

}  // namespace partyline
