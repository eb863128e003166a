// Presence on its own: two nodes' counts of one room over a MemoryBus.
#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <thread>

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
    Node(MemoryBus& bus, Executor& executor, Timer& timer, const Limits& limits, std::string id)
        : context{bus, executor, timer, limits, std::move(id), "partyline"},
          strand(executor.makeStrand()),
          presence(context, *strand, "partyline.presence.chat.lobby") {}
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
        a->onStrand([&] { a->presence.localChanged(2); });
        CHECK(a->presence.totalCount() == 2);  // its own count at once, the others' once heard
        b->onStrand([&] { b->presence.localChanged(3); });
        CHECK(eventually([&] { return a->presence.totalCount() == 5 && b->presence.totalCount() == 5; }, 1s));
        CHECK(a->presence.remoteCount() == 3);
        CHECK(b->presence.remoteCount() == 2);

        b->onStrand([&] { b->presence.stop(); });  // announces 0: a forgets b without waiting for expiry
        CHECK(eventually([&] { return a->presence.totalCount() == 2; }, 1s));
        CHECK(a->presence.remoteCount() == 0);
        a->onStrand([&] { a->presence.stop(); });
    }
    executor.stop();
}

}  // namespace partyline
