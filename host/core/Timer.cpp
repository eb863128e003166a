#include "core/Timer.h"

#include <algorithm>

#include "core/ThreadName.h"

namespace partyline {

Timer::Timer()
    : thread_([this] {
          nameThisThread("pl-timer");
          run();
      }) {}

Timer::~Timer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        due_.clear();
    }
    wake_.notify_all();
    thread_.join();
}

uint64_t Timer::after(std::chrono::milliseconds delay, Callback callback) {
    return at(Clock::now() + delay, std::move(callback));
}

uint64_t Timer::afterOnGrid(std::chrono::milliseconds step, Callback callback) {
    return at(gridDue(Clock::now(), step), std::move(callback));
}

Timer::Clock::time_point Timer::gridDue(Clock::time_point now, std::chrono::milliseconds step) {
    const auto width =
        std::chrono::duration_cast<Clock::duration>(std::max(step, std::chrono::milliseconds(1)));
    return Clock::time_point((now.time_since_epoch() / width + 2) * width);
}

uint64_t Timer::at(Clock::time_point when, Callback callback) {
    uint64_t id;
    bool sooner;
    {
        std::lock_guard lock(mutex_);
        id = nextId_++;
        due_.emplace(when, std::make_pair(id, std::move(callback)));
        sooner = when < wakeAt_;
    }
    // Only a callback due before the thread wakes anyway needs it woken. A deadline set and
    // cancelled per request (BodyReader, 10 s) is later than that, and wakes nobody.
    if (sooner) wake_.notify_all();
    return id;
}

void Timer::cancel(uint64_t id) {
    if (id == 0) return;  // no timer has id 0: waiting for it to stop running would never end
    std::unique_lock lock(mutex_);
    finished_.wait(lock, [&] { return running_ != id; });
    for (auto it = due_.begin(); it != due_.end(); ++it) {
        if (it->second.first == id) {
            due_.erase(it);
            return;
        }
    }
}

void Timer::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        const Clock::time_point now = Clock::now();
        if (due_.empty() || due_.begin()->first > now) {
            // Until the first callback is due, and at most kIdleWake: a callback due later than
            // that is set without waking the thread (after), and seen at the next wake.
            wakeAt_ = due_.empty() ? now + kIdleWake : std::min(due_.begin()->first, now + kIdleWake);
            wake_.wait_until(lock, wakeAt_);
            wakeAt_ = Clock::time_point::min();  // awake: nothing set now needs a wake-up
            continue;
        }
        auto first = due_.begin();
        Callback callback = std::move(first->second.second);
        running_ = first->second.first;
        due_.erase(first);
        lock.unlock();
        callback();
        callback = nullptr;
        lock.lock();
        running_ = 0;
        finished_.notify_all();
    }
}

}  // namespace partyline
