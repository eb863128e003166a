// Timer: callbacks after a delay, cancelled by id.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "core/Timer.h"

using namespace partyline;
using namespace std::chrono_literals;

TEST_CASE("a callback runs after its delay, once") {
    Timer timer;
    std::promise<void> ran;
    std::atomic<int> calls{0};
    uint64_t id = timer.after(10ms, [&] {
        if (calls++ == 0) ran.set_value();
    });
    CHECK(id != 0);
    REQUIRE(ran.get_future().wait_for(5s) == std::future_status::ready);
    std::this_thread::sleep_for(50ms);
    CHECK(calls == 1);
}

TEST_CASE("a cancelled callback never runs") {
    Timer timer;
    std::atomic<bool> ran{false};
    uint64_t id = timer.after(200ms, [&] { ran = true; });
    timer.cancel(id);
    std::this_thread::sleep_for(400ms);
    CHECK_FALSE(ran);
}

TEST_CASE("cancelling id 0, which no timer has, returns at once") {
    // A node that failed to start before it armed its script watch cancels id 0 on the way out;
    // this waited forever for callback 0 to stop running, and the process never exited.
    Timer timer;
    auto cancelled = std::async(std::launch::async, [&] { timer.cancel(0); });
    CHECK(cancelled.wait_for(5s) == std::future_status::ready);
}

TEST_CASE("callbacks run in the order they are due, whichever was set first") {
    // Only a new earliest callback wakes the timer's thread; the others wait for their turn.
    Timer timer;
    std::mutex mutex;
    std::vector<int> order;
    std::promise<void> done;
    auto record = [&](int which) {
        std::lock_guard lock(mutex);
        order.push_back(which);
        if (order.size() == 4) done.set_value();
    };
    timer.after(60s, [] {});  // far off: the thread sleeps until then, unless woken
    timer.after(300ms, [&] { record(3); });
    timer.after(400ms, [&] { record(4); });  // later than the earliest: no wake-up needed
    timer.after(10ms, [&] { record(1); });   // a new earliest: must wake the thread
    timer.after(150ms, [&] { record(2); });
    REQUIRE(done.get_future().wait_for(10s) == std::future_status::ready);
    CHECK(order == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("a cancelled earliest callback leaves the next one due on time") {
    Timer timer;
    std::promise<void> ran;
    uint64_t first = timer.after(50ms, [] {});
    timer.after(100ms, [&] { ran.set_value(); });
    timer.cancel(first);
    CHECK(ran.get_future().wait_for(10s) == std::future_status::ready);
}
