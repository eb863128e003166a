// HoldGate: the test hook of the in-memory bus and bucket that makes calls wait, as on a slow
// server, until a test releases them; and tells the test how many wait.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace partyline {

class HoldGate {
   public:
    // Any thread. While held, pass() waits.
    void hold(bool held) {
        std::lock_guard lock(mutex_);
        held_ = held;
        released_.notify_all();
    }
    // Any thread. Callers waiting in pass() now.
    size_t waiting() const {
        std::lock_guard lock(mutex_);
        return waiting_;
    }
    // Returns at once unless held; then when released.
    void pass() {
        std::unique_lock lock(mutex_);
        ++waiting_;
        released_.wait(lock, [&] { return !held_; });
        --waiting_;
    }

   private:
    mutable std::mutex mutex_;
    std::condition_variable released_;
    bool held_ = false;
    size_t waiting_ = 0;
};

}  // namespace partyline
