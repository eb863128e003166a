// EpochWatch: which generation of the log a node is following.
//
// A log's sequences mean something only within one generation of its stream: a stream deleted
// and created again (by an operator, or because NATS lost its data) starts over at sequence 1,
// and a client that resumes "after 42" would be sent the wrong writes. The epoch names the
// generation (the stream's creation time); clients get it when they join and give it back when
// they resume, and a shard that sees it change treats everything it delivered as gone.
//
// EpochWatch asks for the epoch of each stream it follows (one per partition, bus/Partition.h),
// in turn, on its own thread (`pl-nats-epoch`): every `period`, and soon after checkSoon(). The
// question may block (a JetStream API request); nothing else waits on it.
//
// Threads: any thread, for every method.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/Status.h"

namespace partyline {

class EpochWatch {
   public:
    // `read(i)`: the epoch of stream i now (creating the stream when it is missing), or why not.
    using Read = std::function<Result<std::string>(size_t stream)>;

    // `first[i]`: stream i's epoch when the node started. `names[i]`: its name, for the log line
    // of a change. Both have one entry per stream.
    EpochWatch(std::vector<std::string> first, std::vector<std::string> names, Read read,
               std::chrono::milliseconds period);
    ~EpochWatch();  // stops the thread
    EpochWatch(const EpochWatch&) = delete;
    EpochWatch& operator=(const EpochWatch&) = delete;

    // Stream i's epoch (i below the number of streams).
    std::string current(size_t stream) const;
    // Ask again now (after a reconnect, or a write whose sequence looks like a new log's).
    void checkSoon();
    // How many times an epoch changed since the start.
    uint64_t changes() const;

   private:
    void run();
    // Asks for stream i's epoch; `lock` holds mutex_ and is released while asking.
    void check(size_t stream, std::unique_lock<std::mutex>& lock);

    const std::vector<std::string> names_;
    const Read read_;
    const std::chrono::milliseconds period_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<std::string> epochs_;
    uint64_t changes_ = 0;
    bool soon_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace partyline
