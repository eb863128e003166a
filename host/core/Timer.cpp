#include "core/Timer.h"

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
    uint64_t id;
    bool first;
    {
        std::lock_guard lock(mutex_);
        id = nextId_++;
        auto it = due_.emplace(Clock::now() + delay, std::make_pair(id, std::move(callback)));
        first = it == due_.begin();
    }
    // The thread sleeps until the earliest callback is due: only a new earliest one changes that.
    // A deadline set and cancelled per request (BodyReader) wakes nobody.
    if (first) wake_.notify_all();
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
        if (due_.empty()) {
            wake_.wait(lock);
            continue;
        }
        auto first = due_.begin();
        if (first->first > Clock::now()) {
            // A copy: the entry may be gone (cancelled, or the timer stopping) when the wait ends.
            const Clock::time_point when = first->first;
            wake_.wait_until(lock, when);
            continue;
        }
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
