// Timer: callbacks after a delay, cancelled by id.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

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
