// NatsKeyValue: the KeyValue on a JetStream key-value bucket.
//
// It creates the bucket when missing (history 1, file storage, the configured
// replicas) and moves an existing one to the configured replicas. Reads are
// direct gets; writes are JetStream publishes to the bucket's subjects with a
// message id, an expected last sequence for compare-and-set, and re-sends with
// the same id until the deadline, so a write retried across a lost connection
// is stored once. It owns its JetStream context and bucket handle, and
// borrows the bus's connection.
//
// It must not outlive the NatsBus that opened it, nor run a call on a thread
// that must not block (see KeyValue.h).
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "bus/KeyValue.h"
#include "bus/NatsHandles.h"

namespace partyline {

class NatsKeyValue final : public KeyValue, public std::enable_shared_from_this<NatsKeyValue> {
   public:
    // One request to JetStream waits this long before it is sent again (with
    // the same message id) or given up at the caller's deadline.
    static constexpr std::chrono::milliseconds kAttemptWait{2000};

    // `reconnects` counts the bus's reconnections: a watch starts over after one.
    // Blocking: retries for a while when JetStream is not ready yet.
    static Result<std::shared_ptr<NatsKeyValue>> open(natsConnection* connection,
                                                      const KeyValueConfig& config,
                                                      std::function<uint64_t()> reconnects);

    NatsKeyValue(const NatsKeyValue&) = delete;
    NatsKeyValue& operator=(const NatsKeyValue&) = delete;

    Result<KvEntry> get(const std::string& key, Clock::time_point deadline) override;
    Result<uint64_t> put(const std::string& key, std::string_view value, std::optional<uint64_t> expect,
                         Clock::time_point deadline) override;
    Status erase(const std::string& key, std::optional<uint64_t> expect, Clock::time_point deadline) override;
    Result<std::vector<KvEntry>> list(const std::string& parent, size_t maxBytes,
                                      Clock::time_point deadline) override;
    // The watch's thread polls kvWatcher_Next; it keeps the bucket handle alive.
    Result<std::unique_ptr<Subscription>> watch(WatchCallback onChange) override;

   private:
    class Watch;
    // The last message of a key, a delete marker included.
    struct Last {
        uint64_t revision = 0;
        bool deleted = false;
        std::string value;
    };

    NatsKeyValue(const KeyValueConfig& config, std::function<uint64_t()> reconnects);

    Status bind(natsConnection* connection);
    Status createOrBind();
    Status reconcile();
    Result<Last> last(const std::string& key, Clock::time_point deadline);
    Result<Last> lastOnce(const std::string& key);
    // A put, or a delete marker with `erase`, sent until stored, refused or the deadline.
    Result<uint64_t> write(const std::string& key, std::string_view data, bool erase,
                           std::optional<uint64_t> expect, Clock::time_point deadline);
    Result<uint64_t> writeOnce(const std::string& key, std::string_view data, bool erase,
                               const std::string& msgId, std::optional<uint64_t> expect,
                               Clock::time_point deadline);
    Result<std::vector<KvEntry>> listOnce(const std::string& parent, size_t maxBytes,
                                          Clock::time_point deadline);

    const KeyValueConfig config_;
    const std::string stream_;         // "KV_<bucket>"
    const std::string subjectPrefix_;  // "$KV.<bucket>."
    const std::function<uint64_t()> reconnects_;
    std::string msgIdStem_;
    std::atomic<uint64_t> nextMsgId_{1};
    // Dependency order: the bucket handle holds the JetStream context.
    JetStreamPtr js_;
    KvStorePtr kv_;
};

}  // namespace partyline
