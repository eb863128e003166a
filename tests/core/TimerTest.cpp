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

TEST_CASE("gridDue: one due instant for a whole step of the clock, one to two steps ahead") {
    using Clock = Timer::Clock;
    const Clock::time_point start(Clock::duration(std::chrono::milliseconds(1000)));  // a grid line
    const auto due = Timer::gridDue(start, 10ms);
    CHECK(due == start + 20ms);
    for (std::chrono::nanoseconds offset : {1ns, 1000ns, 5000000ns, 9999000ns, 9999999ns})
        CHECK(Timer::gridDue(start + offset, 10ms) == due);
    CHECK(Timer::gridDue(start + 10ms, 10ms) == due + 10ms);
    for (std::chrono::nanoseconds offset : {0ns, 1000ns, 9000000ns}) {
        const auto at = start + offset;
        CHECK(Timer::gridDue(at, 10ms) - at > 10ms - 1ns);
        CHECK(Timer::gridDue(at, 10ms) - at <= 20ms);
    }
    CHECK(Timer::gridDue(start, 0ms) > start);  // a step under 1 ms counts as 1 ms
}

TEST_CASE("callbacks on the grid run no earlier than one step after they were set, in order") {
    Timer timer;
    std::mutex mutex;
    std::vector<std::pair<int, Timer::Clock::time_point>> ran;
    std::promise<void> all;
    std::vector<Timer::Clock::time_point> set;
    constexpr int kCallbacks = 20;
    for (int i = 0; i < kCallbacks; ++i) {
        set.push_back(Timer::Clock::now());
        timer.afterOnGrid(30ms, [&, i] {
            std::lock_guard lock(mutex);
            ran.emplace_back(i, Timer::Clock::now());
            if (ran.size() == kCallbacks) all.set_value();
        });
    }
    REQUIRE(all.get_future().wait_for(5s) == std::future_status::ready);
    std::lock_guard lock(mutex);
    for (int i = 0; i < kCallbacks; ++i) {
        CHECK(ran[size_t(i)].first == i);  // set one after the other onto due instants that never decrease
        CHECK(ran[size_t(i)].second - set[size_t(ran[size_t(i)].first)] >= 30ms);
    }
}
