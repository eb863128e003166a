// Executor and Strand: tasks of one strand run one at a time and in post order; tryRun runs on the
// calling thread only when the strand is idle, and what is posted meanwhile still runs in order.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "core/Executor.h"

namespace partyline {
namespace {

using namespace std::chrono_literals;

// Waits until every task posted to `strand` before this call has run.
void drain(Strand& strand) {
    std::promise<void> done;
    strand.post([&] { done.set_value(); });
    REQUIRE(done.get_future().wait_for(5s) == std::future_status::ready);
}

// tryRun, again until the strand is idle: the thread that ran drain()'s task marks the strand idle
// a moment after that task woke the caller.
bool tryRunOnceIdle(Strand& strand, const std::function<void()>& task) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!strand.tryRun(task)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace

TEST_SUITE("rooms.Executor") {
    TEST_CASE("tryRun on an idle strand runs the task at once, on the calling thread") {
        Executor executor{2};
        auto strand = executor.makeStrand();
        std::thread::id ranOn;
        CHECK(strand->tryRun([&] { ranOn = std::this_thread::get_id(); }));
        CHECK(ranOn == std::this_thread::get_id());
    }

    TEST_CASE("tryRun refuses while a task runs or waits, and runs nothing then") {
        Executor executor{2};
        auto strand = executor.makeStrand();
        std::promise<void> started, release;
        auto released = release.get_future().share();
        strand->post([&, released] {
            started.set_value();
            released.wait();
        });
        started.get_future().wait();
        bool ran = false;
        CHECK_FALSE(strand->tryRun([&] { ran = true; }));
        strand->post([] {});
        release.set_value();
        CHECK_FALSE(ran);
        drain(*strand);
        CHECK(tryRunOnceIdle(*strand, [&] { ran = true; }));
        CHECK(ran);
    }

    TEST_CASE("tasks posted during tryRun run after it, in order, on the executor") {
        Executor executor{2};
        auto strand = executor.makeStrand();
        std::mutex mutex;
        std::vector<int> order;
        auto record = [&](int i) {
            std::lock_guard lock(mutex);
            order.push_back(i);
        };
        const auto caller = std::this_thread::get_id();
        std::atomic<bool> postedRanHere{false};
        CHECK(strand->tryRun([&] {
            record(0);
            for (int i = 1; i <= 100; ++i)
                strand->post([&, i] {
                    if (std::this_thread::get_id() == caller) postedRanHere = true;
                    record(i);
                });
            std::this_thread::sleep_for(5ms);  // the posted tasks must wait for this one
            record(-1);
        }));
        drain(*strand);
        std::lock_guard lock(mutex);
        REQUIRE(order.size() == 102);
        CHECK(order[0] == 0);
        CHECK(order[1] == -1);
        for (int i = 1; i <= 100; ++i) CHECK(order[size_t(i) + 1] == i);
        CHECK_FALSE(postedRanHere.load());
    }

    TEST_CASE("after stop, a posted task is dropped, not run, and what it holds is released") {
        Executor executor{2};
        auto strand = executor.makeStrand();
        drain(*strand);
        executor.stop();
        auto held = std::make_shared<int>(1);
        std::weak_ptr<int> watch = held;
        bool ran = false;
        strand->post([&ran, held = std::move(held)] { ran = true; });
        CHECK(watch.expired());
        strand->post([&ran] { ran = true; });  // the strand was not left scheduled
        CHECK_FALSE(ran);
        executor.stop();  // again: nothing to do
    }

    TEST_CASE("two executors whose tasks post to each other both stop before either is destroyed") {
        Executor a{1}, b{1};
        auto onA = a.makeStrand(), onB = b.makeStrand();
        std::atomic<int> hops{0};
        std::function<void(int)> bounce = [&](int side) {
            hops++;
            (side == 0 ? onB : onA)->post([&bounce, side] { bounce(1 - side); });
        };
        onA->post([&] { bounce(0); });
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (hops.load() < 100 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        REQUIRE(hops.load() >= 100);
        a.stop();
        b.stop();
        const int stopped = hops.load();
        std::this_thread::sleep_for(20ms);
        CHECK(hops.load() == stopped);
    }

    TEST_CASE("tryRun from many threads never runs two tasks of one strand at once") {
        Executor executor{2};
        auto strand = executor.makeStrand();
        std::atomic<int> inside{0}, overlaps{0}, ran{0};
        auto task = [&] {
            if (inside.fetch_add(1) != 0) overlaps++;
            std::this_thread::yield();
            inside.fetch_sub(1);
            ran++;
        };
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 2000; ++i)
                    if (!strand->tryRun(task)) strand->post(task);
            });
        for (auto& t : threads) t.join();
        drain(*strand);
        CHECK(overlaps.load() == 0);
        CHECK(ran.load() == 8000);
    }
}

}  // namespace partyline
