// MemoryKeyValue: an in-process KeyValue for unit tests, with no server.
//
// Revisions come from one counter per bucket, as a JetStream bucket's stream
// sequence does; a delete takes a revision too. Watch callbacks run on the
// thread that made the change, under the bucket's lock, in revision order, so
// they must not call the bucket. Test hooks make the bucket unavailable.
//
// It must not be used outside tests: nothing is durable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bus/HoldGate.h"
#include "bus/KeyValue.h"

namespace partyline {

class MemoryKeyValue final : public KeyValue {
   public:
    MemoryKeyValue() = default;
    MemoryKeyValue(const MemoryKeyValue&) = delete;
    MemoryKeyValue& operator=(const MemoryKeyValue&) = delete;

    Result<KvEntry> get(const std::string& key, Clock::time_point deadline) override;
    Result<uint64_t> put(const std::string& key, std::string_view value, std::optional<uint64_t> expect,
                         Clock::time_point deadline) override;
    Status erase(const std::string& key, std::optional<uint64_t> expect, Clock::time_point deadline) override;
    Result<std::vector<KvEntry>> list(const std::string& parent, size_t maxBytes,
                                      Clock::time_point deadline) override;
    Result<std::unique_ptr<Subscription>> watch(WatchCallback onChange) override;

    // Test hooks.
    // While unavailable every call fails with Code::Unavailable, at once.
    void setAvailable(bool available) { available_ = available; }
    // While held, every call waits (as for a slow server) until released.
    void hold(bool held) { gate_.hold(held); }
    // Calls waiting in hold() now.
    size_t waiting() const { return gate_.waiting(); }
    // Calls made so far (get, put, erase, list), to check what a script did.
    uint64_t calls() const { return calls_.load(); }

   private:
    struct Watcher;
    class WatchSubscription;

    Status admit();
    static Status compare(const std::string& key, uint64_t current, std::optional<uint64_t> expect);
    void notify(const KvChange& change);  // mutex_ held

    std::atomic<bool> available_{true};
    std::atomic<uint64_t> calls_{0};
    HoldGate gate_;
    std::mutex mutex_;
    std::map<std::string, KvEntry> entries_;
    uint64_t lastRevision_ = 0;
    std::map<uint64_t, std::shared_ptr<Watcher>> watchers_;
    uint64_t nextWatcher_ = 1;
};

}  // namespace partyline
