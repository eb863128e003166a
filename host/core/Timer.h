// Timer: runs callbacks after a delay on its own thread.
//
// Callbacks must be short: they post work to a strand and return. Cancelling
// is by id; a callback that already started is not waited for. The thread
// wakes when a callback is due and at least once a second.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace partyline {

class Timer {
   public:
    using Clock = std::chrono::steady_clock;
    using Callback = std::function<void()>;

    Timer();
    ~Timer();  // drops pending callbacks, joins the thread
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // Any thread. Returns an id for cancel(), never 0.
    uint64_t after(std::chrono::milliseconds delay, Callback callback);
    // Any thread. As after(), due at gridDue(now, step): between one and two steps from now, at
    // the same instant for every callback set within one step of the clock. Many set at nearly
    // the same time (a debounce per room, in a storm of new rooms) run in one wake-up.
    uint64_t afterOnGrid(std::chrono::milliseconds step, Callback callback);
    // The end of the step after the one `now` falls in, counting steps from the clock's epoch.
    static Clock::time_point gridDue(Clock::time_point now, std::chrono::milliseconds step);
    // Any thread but the timer's own. When the callback is running, waits for
    // it to return, so its captures may be destroyed afterwards. Id 0 is no timer.
    void cancel(uint64_t id);

   private:
    uint64_t at(Clock::time_point when, Callback callback);
    void run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable finished_;
    uint64_t running_ = 0;  // the id of the callback running now
    std::multimap<Clock::time_point, std::pair<uint64_t, Callback>> due_;
    // When the sleeping thread wakes by itself; min() while it is awake.
    Clock::time_point wakeAt_ = Clock::time_point::min();
    // The longest the thread sleeps: once a second at most when idle, so a callback due later
    // than that wakes nobody when it is set.
    static constexpr std::chrono::seconds kIdleWake{1};
    uint64_t nextId_ = 1;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace partyline
