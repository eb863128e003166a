// Helpers for the bus tests: a temporary directory that removes itself, a
// thread-safe collector whose waits are always bounded, and a bounded poll.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace partyline::testing {

class TempDir {
   public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "partyline-bus-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
    }
    ~TempDir() {
        std::error_code ignored;
        if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

   private:
    std::string path_;
};

template <class T>
class Collector {
   public:
    void add(T item) {
        // Notified under the lock: a waiter that returns may destroy the collector.
        std::lock_guard lock(mutex_);
        items_.push_back(std::move(item));
        cv_.notify_all();
    }
    // True when at least `count` items arrived within `timeout`.
    bool waitFor(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return items_.size() >= count; });
    }
    std::vector<T> items() {
        std::lock_guard lock(mutex_);
        return items_;
    }
    size_t size() {
        std::lock_guard lock(mutex_);
        return items_.size();
    }

   private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<T> items_;
};

// Waits until `predicate` holds, polling; bounded.
template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return predicate();
}

}  // namespace partyline::testing
