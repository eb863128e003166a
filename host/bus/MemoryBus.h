// MemoryBus: an in-process Bus for unit tests, with no server.
//
// It keeps one ordered log per subject, numbered from one sequence shared by
// all subjects (as a JetStream stream does), honours expectLastSeq and msgId
// deduplication, and runs every callback on its own bus thread, in order, as
// NatsBus does. Test hooks lose live deliveries (so gap filling runs) and
// make the bus unavailable. As with NatsBus, a subscription may outlive the
// bus, and no callback runs after a subscription is destroyed.
//
// It must not be used outside tests: nothing is durable and it never
// forgets the message ids it has seen.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bus/Bus.h"
#include "bus/HoldGate.h"
#include "bus/MemoryKeyValue.h"

namespace partyline {

class MemoryBus final : public Bus {
   public:
    // `maxPerSubject` (at least 1) mimics max_msgs_per_room: older entries are dropped.
    explicit MemoryBus(size_t maxPerSubject = std::numeric_limits<size_t>::max());
    // Runs the callbacks still queued, then stops the bus thread.
    ~MemoryBus() override;

    MemoryBus(const MemoryBus&) = delete;
    MemoryBus& operator=(const MemoryBus&) = delete;

    // `done` runs on the bus thread, after the deliveries of this write.
    void publish(const std::string& subject, std::string data, PublishOptions options,
                 PublishCallback done) override;
    // `deliver` runs on the bus thread, in log order, with prevSeq known.
    Result<std::unique_ptr<Subscription>> subscribe(const std::string& subject,
                                                    DeliverCallback deliver) override;

    Status publishEphemeral(const std::string& subject, std::string data) override;
    Result<std::unique_ptr<Subscription>> subscribeEphemeral(const std::string& subject,
                                                             EphemeralCallback receive) override;
    Result<uint64_t> lastSequence(const std::string& subject) override;
    // `done` runs on the bus thread.
    void lastSequenceAsync(const std::string& subject, SequenceCallback done) override;
    Result<std::vector<LogEntry>> read(const std::string& subject, uint64_t after, size_t limit) override;
    Result<uint64_t> nextSequence(const std::string& subject, uint64_t after) override;
    Result<uint64_t> firstSequence(const std::string& subject) override;
    Status ready() override;
    // A MemoryKeyValue per bucket name, shared by every open of that name.
    Result<std::shared_ptr<KeyValue>> openKeyValue(const KeyValueConfig& config) override;

    // Test hooks.
    // The next `count` live deliveries (to any subscriber) are lost, as when
    // a slow consumer drops messages; the log still holds them.
    void dropNextDeliveries(size_t count);
    // While unavailable, publishes, reads and ready() fail with Code::Unavailable
    // (a publish at once, where NatsBus would keep trying until its deadline).
    void setAvailable(bool available);
    // Counts a reconnect, as NatsBus does when its connection comes back;
    // live writes are not lost by it here, so use dropNextDeliveries as well.
    void simulateReconnect();
    uint64_t reconnects() const override;
    // "1" at first; the next number after each beginAgain().
    std::string epoch(const std::string& subject) const override;
    // The log begins again, as a stream deleted and created again: every write is gone, the
    // sequences start over at 1 and the epoch changes.
    void beginAgain();
    // Times checkEpoch() was called.
    uint64_t epochChecks() const { return epochChecks_.load(); }
    void checkEpoch() override { ++epochChecks_; }
    // The next `reads` calls of read() answer as a replica `writes` behind the leader would:
    // without the log's newest `writes` writes (of any subject). nextSequence() still sees them.
    void lagNextReads(size_t reads, uint64_t writes);
    // While held, read() waits (as a read of a slow NATS server) until released.
    void holdReads(bool held) { readGate_.hold(held); }
    // Reads waiting in holdReads() now.
    size_t readsWaiting() const { return readGate_.waiting(); }
    // While paused, the bus thread runs no callback: what is published meanwhile is delivered
    // in one burst after the pause (each delivery but a subscriber's last with moreQueued).
    void pause(bool paused);
    // Waits until every callback queued so far has run; false on timeout.
    // Never call it from a bus callback.
    bool drain(std::chrono::milliseconds timeout = std::chrono::seconds(5));

   private:
    class MemorySubscription;
    struct Subscriber;

    void post(std::function<void()> task);
    void deliverLater(std::shared_ptr<Subscriber> subscriber, LogEntry entry);
    void run();
    static bool isClosed(Subscriber& subscriber);

    const size_t maxPerSubject_;

    mutable std::mutex mutex_;
    std::map<std::string, std::deque<LogEntry>> logs_;
    std::unordered_map<std::string, uint64_t> seenMsgIds_;
    uint64_t lastSeq_ = 0;
    bool available_ = true;
    size_t dropDeliveries_ = 0;
    size_t laggingReads_ = 0;
    uint64_t readLag_ = 0;
    std::atomic<uint64_t> reconnects_{0};
    uint64_t epoch_ = 1;  // under mutex_
    std::atomic<uint64_t> epochChecks_{0};
    std::multimap<std::string, std::shared_ptr<Subscriber>> subscribers_;
    std::map<std::string, std::shared_ptr<MemoryKeyValue>> buckets_;

    HoldGate readGate_;

    std::mutex queueMutex_;
    std::condition_variable queueCv_;
    std::deque<std::function<void()>> queue_;
    uint64_t posted_ = 0;
    uint64_t ran_ = 0;
    bool stopping_ = false;
    bool paused_ = false;
    std::thread thread_;  // last: started after everything it touches exists
};

}  // namespace partyline
