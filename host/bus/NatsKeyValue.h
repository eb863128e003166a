// NatsKeyValue: the KeyValue on a JetStream key-value bucket.
//
// It creates the bucket when missing (history 1, file storage, the configured
// replicas, each change republished once stored to KeyValueConfig::republish)
// and moves an existing one to that configuration. Reads are direct gets, and
// listings read the bucket's stream in order with them (in batches on 2.11
// and newer). Writes are JetStream publishes to the bucket's subjects with a
// message id, an expected last sequence for compare-and-set, and re-sends with
// the same id until the deadline, so a write retried across a lost connection
// is stored once. A watch follows the republished changes and reads what it
// missed from the stream (see Watch in the .cpp); it uses no consumer, so
// nothing of it needs restarting after a lost connection. It owns its
// JetStream context and bucket handle, and borrows the bus's connection.
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
#include "bus/NatsCodec.h"
#include "bus/NatsHandles.h"

namespace partyline {

class NatsKeyValue final : public KeyValue, public std::enable_shared_from_this<NatsKeyValue> {
   public:
    // One request to JetStream waits this long before it is sent again (with
    // the same message id) or given up at the caller's deadline.
    static constexpr std::chrono::milliseconds kAttemptWait{2000};

    // What the bucket asks of the bus that opened it; any thread.
    struct BusView {
        std::function<uint64_t()>
            reconnects;                    // the bus's reconnections: a watch looks at the bucket after one
        std::function<bool()> batchReads;  // whether the server answers batched Direct Gets
    };

    // Blocking: retries for a while when JetStream is not ready yet. `config.republish` is set.
    static Result<std::shared_ptr<NatsKeyValue>> open(natsConnection* connection,
                                                      const KeyValueConfig& config, BusView bus);

    NatsKeyValue(const NatsKeyValue&) = delete;
    NatsKeyValue& operator=(const NatsKeyValue&) = delete;

    Result<KvEntry> get(const std::string& key, Clock::time_point deadline) override;
    Result<uint64_t> put(const std::string& key, std::string_view value, std::optional<uint64_t> expect,
                         Clock::time_point deadline) override;
    Status erase(const std::string& key, std::optional<uint64_t> expect, Clock::time_point deadline) override;
    Result<std::vector<KvEntry>> list(const std::string& parent, size_t maxBytes,
                                      Clock::time_point deadline) override;
    // The watch's thread keeps the bucket alive.
    Result<std::unique_ptr<Subscription>> watch(WatchCallback onChange) override;

   private:
    class Watch;
    // The last message of a key, a delete marker included.
    struct Last {
        uint64_t revision = 0;
        bool deleted = false;
        std::string value;
    };

    // What the watch compares: a stream made again (an empty store) has another creation time.
    struct StreamState {
        int64_t created = 0;   // unix ns
        uint64_t lastSeq = 0;  // the stream's last sequence (its message may have been removed)
    };
    using TakeChange = std::function<Status(KvChangeAt)>;

    NatsKeyValue(natsConnection* connection, const KeyValueConfig& config, BusView bus);

    Status bind(natsConnection* connection);
    Status createOrBind();
    Status create();
    Status reconcile();
    Status update(jsStreamConfig& config, const std::string& change);
    // The stream's republish rule, pointing into this object's strings.
    jsRePublish republishRule() const;
    Result<Last> last(const std::string& key, Clock::time_point deadline);
    Result<Last> lastOnce(const std::string& key);
    // A put, or a delete marker with `erase`, sent until stored, refused or the deadline.
    Result<uint64_t> write(const std::string& key, std::string_view data, bool erase,
                           std::optional<uint64_t> expect, Clock::time_point deadline);
    Result<uint64_t> writeOnce(const std::string& key, std::string_view data, bool erase,
                               const std::string& msgId, std::optional<uint64_t> expect,
                               Clock::time_point deadline);
    // Hands every stored message of `subject` (under the bucket's subjects) from sequence `from`
    // on to `take`, in order and each once, until the stream has no more; asks again from the
    // message after the last one taken when JetStream does not answer, until `deadline`.
    Status scan(uint64_t from, const std::string& subject, Clock::time_point deadline,
                const TakeChange& take);
    Result<bool> scanBatch(uint64_t& from, const std::string& subject, Clock::time_point deadline,
                           const TakeChange& take);
    Result<bool> scanOne(uint64_t& from, const std::string& subject, const TakeChange& take);
    Result<KvChangeAt> changeOf(natsMsg* msg) const;
    Result<StreamState> streamState();
    // The first stored sequence from `from` on, as the stream's leader has it (a direct get may
    // be answered by a replica that is behind); 0 when there is none.
    Result<uint64_t> leaderNext(uint64_t from);

    natsConnection* const connection_;  // the bus's
    const KeyValueConfig config_;
    const std::string stream_;         // "KV_<bucket>"
    const std::string subjectPrefix_;  // "$KV.<bucket>."
    // What the bucket republishes, and where: "$KV.<bucket>.>" to "<config_.republish>.>".
    const std::string republishSource_;
    const std::string republishDestination_;
    const BusView bus_;
    // Whether the bucket's stream republishes its changes to config_.republish; set by open.
    bool republishes_ = true;
    std::string msgIdStem_;
    std::atomic<uint64_t> nextMsgId_{1};
    // Dependency order: the bucket handle holds the JetStream context.
    JetStreamPtr js_;
    KvStorePtr kv_;
};

}  // namespace partyline
