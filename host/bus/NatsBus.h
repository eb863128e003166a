// NatsBus: the Bus on NATS JetStream.
//
// It provides the streams of the rooms' logs, one per partition (nats.partitions,
// bus/Partition.h): with one, stream <stream> on <prefix>.room.>, republishing each
// stored message to <prefix>.live.>; with N, stream <stream>-<i> on <prefix>.room.<i>.>,
// republishing to <prefix>.live.<i>.> (Subject.h). Each call on a room's log subject goes to
// its partition's stream, and each stream has its own epoch. It publishes
// asynchronously with a message id and re-sends on a missing acknowledgement;
// delivers each room from one core subscription on its live subject; reads
// the log with direct gets. It is the only unit that sees natsStatus, and it
// owns every nats.c handle it creates.
//
// It must not create a JetStream consumer per room (measured 8k msg/s for
// 1,000 rooms against about 103k for core subscriptions), nor publish
// synchronously, nor call a user callback while holding one of its locks.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bus/Bus.h"
#include "bus/EpochWatch.h"
#include "bus/NatsHandles.h"
#include "config/Config.h"

namespace partyline {

class DirectBatchRead;
class Metrics;
class NatsSubscription;

class NatsBus final : public Bus {
   public:
    // An unacknowledged publish is sent again, with the same message id, after this long.
    static constexpr std::chrono::milliseconds kAckTimeout{2000};
    // A publish that no acknowledgement answered by then fails with Code::Unavailable;
    // within the stream's duplicate window (nats.duplicate_window, at least 10 s), so re-sends
    // stay deduplicated.
    static constexpr std::chrono::milliseconds kPublishDeadline{10000};
    // Publishes sent but not yet acknowledged; more wait, in order, for room.
    // Bounding them keeps acknowledgements prompt under load, so a busy server
    // does not provoke re-sends that make it busier.
    static constexpr size_t kMaxInFlight = 4096;
    static constexpr size_t kMaxInFlightBytes = 32 << 20;

    // Connects (retrying for a few seconds while the server starts), refuses a deployment whose
    // streams are of another partition count (bus/StreamLayout.h), then creates each
    // partition's stream, or updates it when its configuration differs. `url` may list several
    // servers, comma-separated.
    static Result<std::unique_ptr<NatsBus>> connect(const NatsConfig& cfg, const std::string& url,
                                                    const std::string& nodeId);

    // Fails every publish still waiting (Code::Unavailable, on the calling
    // thread), then closes the connection. Subscriptions should be destroyed
    // first; one that outlives the bus is inert and safe to destroy later.
    ~NatsBus() override;

    NatsBus(const NatsBus&) = delete;
    NatsBus& operator=(const NatsBus&) = delete;

    // Sends a write to the log without waiting. `done` runs exactly once: on
    // the NATS delivery thread that received the acknowledgement, or on the
    // bus timer thread for an error or a timeout. Writes published from one
    // thread are stored in that order, unless a re-send was needed.
    // Code::Unavailable leaves the outcome unknown (the write may have been
    // stored): publish again with the same msgId to be sure it is stored once.
    void publish(const std::string& subject, std::string data, PublishOptions options,
                 PublishCallback done) override;
    // The writes in order, with the send and pending locks taken once for all of them.
    void publishAll(std::vector<Publish> writes) override;

    // `subject` is a log subject (<prefix>.room.<party>.<room>). `deliver`
    // runs on a NATS delivery thread (a small pool shared by every room), in
    // log order, with prevSeq known; live messages missed while disconnected
    // or dropped as a slow consumer show up as a gap in prevSeq.
    Result<std::unique_ptr<Subscription>> subscribe(const std::string& subject,
                                                    DeliverCallback deliver) override;

    // Core NATS; `receive` runs on a NATS delivery thread.
    Status publishEphemeral(const std::string& subject, std::string data) override;
    Result<std::unique_ptr<Subscription>> subscribeEphemeral(const std::string& subject,
                                                             EphemeralCallback receive) override;

    Result<uint64_t> lastSequence(const std::string& subject) override;
    // A direct get sent without waiting; `done` runs on the NATS delivery thread that received
    // the answer, or on the bus timer thread for an error or after kApiWait without an answer.
    void lastSequenceAsync(const std::string& subject, SequenceCallback done) override;
    Result<std::vector<LogEntry>> read(const std::string& subject, uint64_t after, size_t limit) override;
    // $JS.API.STREAM.MSG.GET, which only the stream's leader answers (a Direct Get, which read()
    // sends, may be answered by any replica).
    Result<uint64_t> nextSequence(const std::string& subject, uint64_t after) override;
    Result<uint64_t> firstSequence(const std::string& subject) override;

    // Connected, and JetStream answered for every partition's stream within the last second.
    Status ready() override;

    // A NatsKeyValue on this bus's connection; it must be destroyed before the bus.
    Result<std::shared_ptr<KeyValue>> openKeyValue(const KeyValueConfig& config) override;

    // Times the connection was re-established since connect().
    uint64_t reconnects() const override;
    // The creation time of the stream that holds `subject` (nanoseconds since 1970, in decimal),
    // followed every kEpochCheck and after each reconnect; a missing stream is created again.
    // Empty for a subject that is no log subject.
    std::string epoch(const std::string& subject) const override;
    void checkEpoch() override;
    static constexpr std::chrono::milliseconds kEpochCheck{2000};
    // The server this connection reached last (nats://host:port).
    std::string connectedUrl() const;
    // Direct Get requests that read() and firstSequence/lastSequence sent: one per entry, or one
    // per batch on 2.11+ (for metrics and tests).
    uint64_t logReadRequests() const { return logReadRequests_.load(); }
    // Publishes waiting for an acknowledgement (for metrics and tests).
    size_t pendingPublishes() const;
    // Publishes sent again after a missing acknowledgement or a reconnect.
    uint64_t publishResends() const { return resends_.load(); }
    // Any thread: the three above as metrics.
    void writeMetrics(Metrics& out) const;

   private:
    using Clock = std::chrono::steady_clock;

    struct Events;    // connection events, shared with nats.c's callback thread
    struct Outgoing;  // one publish as sent, kept for re-sends
    struct Pending {
        std::shared_ptr<const Outgoing> message;
        PublishCallback done;
        Clock::time_point resendAt;
        Clock::time_point deadline;
        bool queued = false;  // waiting for room in the send window, not yet sent
        bool sent = true;     // false: the last send failed locally; re-send on reconnect
        Status lastError;     // a transient refusal from JetStream, for the final error
        bool resent = false;  // sent more than once: a duplicate answer may be its own first copy
    };

    NatsBus(const NatsConfig& cfg, std::string nodeId);
    void markDuplicate(uint64_t token);

    // A publish ready to send, or the reason it cannot be sent.
    struct Prepared {
        uint64_t token = 0;
        std::shared_ptr<const Outgoing> message;
        Status refusal;
        PublishCallback done;
        bool sendNow = false;
    };
    Prepared prepare(const std::string& subject, std::string data, PublishOptions options,
                     PublishCallback done);
    // Enqueues and sends prepared publishes in order, the send and pending locks taken once.
    void submit(std::span<Prepared> prepared);

    // One partition's log stream.
    struct LogStream {
        std::string name;                 // <stream>, or <stream>-<i> with several partitions
        std::string subjects;             // what it stores: <prefix>.room.[<i>.]>
        std::string live;                 // where it republishes: <prefix>.live.[<i>.]>
        std::string description;          // StreamLayout's streamDescription
        std::atomic<int64_t> created{0};  // the Created of the stream ensureStream last saw
    };

    Status connectWithRetry(const std::string& url);
    // The layout check, then every partition's stream.
    Status ensureStreams();
    Status ensureStream(LogStream& stream);
    // A stream's info, waiting at most kReadyWaitMs.
    natsStatus streamInfo(const LogStream& stream, StreamInfoPtr& info, jsErrCode& jerr);
    // Stream i's epoch now (EpochWatch::Read): its creation time, after creating it if missing.
    Result<std::string> readEpoch(size_t stream);
    // The partition (an index of streams_) whose stream holds a log subject; InvalidArgument for
    // any other subject.
    Result<size_t> streamOf(const std::string& logSubject) const;
    Status startPublisher();

    // Lock order: sendMutex_, then pendingMutex_. Callbacks run under neither.
    // Adds a publish; true when it may be sent now. pendingMutex_ held.
    bool enqueue(uint64_t token, std::shared_ptr<const Outgoing> message, PublishCallback done);
    bool windowHasRoom() const;                            // pendingMutex_ held
    void startFlight(Pending& p, Clock::time_point now);   // pendingMutex_ held
    void endFlight(const Pending& p);                      // pendingMutex_ held
    Status send(uint64_t token, const Outgoing& message);  // sendMutex_ held; an error is final
    void sendQueued();
    // Runs on a NATS delivery thread, for every acknowledgement.
    void onAck(natsMsg* msg);
    // Runs on a NATS delivery thread, for every answer to lastSequenceAsync.
    void onLastSequence(natsMsg* msg);
    // Timer thread: fails the lastSequenceAsync calls that had no answer in time.
    void expireReads();
    // Completes a pending publish; the callback runs after the locks are released.
    // Only on a bus thread: the caller's thread never runs a callback.
    void complete(uint64_t token, Result<uint64_t> result);
    // Completes a pending publish from the timer thread.
    void completeLater(uint64_t token, Status failure);
    void timerLoop();
    void timerTick();
    static Status deadlineFailure(const Pending& p);

    Result<LogEntry> directGet(const LogStream& stream, const std::string& subject, uint64_t sequence,
                               bool last);
    // Whether reads ask for batches (DirectBatch.h): nats.batch_reads and a server of 2.11 or
    // newer, read from its INFO on the first read and again after each reconnect (the servers of
    // a cluster may run different versions). Any thread.
    bool batchReads();
    // read() with one Direct Get per entry (any server), or with batches (2.11 and newer).
    Result<std::vector<LogEntry>> readEach(const LogStream& stream, const std::string& subject,
                                           uint64_t after, size_t limit);
    Result<std::vector<LogEntry>> readBatched(const LogStream& stream, const std::string& subject,
                                              uint64_t after, size_t limit);
    // One batch into `read`: true when more may follow, false when the subject has nothing more.
    Result<bool> askBatch(const LogStream& stream, const std::string& subject, DirectBatchRead& read);
    Result<std::string> liveSubjectFor(const std::string& logSubject) const;

    const NatsConfig config_;
    const std::string nodeId_;

    // Declared in dependency order: the connection outlives the JetStream
    // context and the acknowledgement subscription built on it.
    std::shared_ptr<Events> events_;
    ConnectionPtr connection_;
    JetStreamPtr js_;
    std::string inboxPrefix_;  // "_INBOX.<unique>": replies for acks, and the msg id stem
    std::unique_ptr<NatsSubscription> acks_;
    std::unique_ptr<NatsSubscription> reads_;  // answers to lastSequenceAsync on "<inboxPrefix_>R.*"

    std::atomic<uint64_t> nextToken_{1};
    std::atomic<uint64_t> resends_{0};
    std::atomic<uint64_t> logReadRequests_{0};
    std::mutex sendMutex_;  // orders writes to the connection: the log's order is the publish order
    mutable std::mutex pendingMutex_;
    std::condition_variable timerCv_;
    std::unordered_map<uint64_t, Pending> pending_;
    std::deque<uint64_t> queued_;  // tokens waiting for room in the send window, oldest first
    size_t inFlight_ = 0;
    size_t inFlightBytes_ = 0;
    // Publishes that failed before reaching the server; the timer completes them.
    std::vector<std::pair<PublishCallback, Status>> refused_;
    Clock::time_point nextDue_ = Clock::time_point::max();
    uint64_t seenReconnects_ = 0;  // timer thread only
    bool stopping_ = false;
    std::thread timer_;

    struct PendingRead {
        SequenceCallback done;
        Clock::time_point deadline;
    };
    std::mutex readsMutex_;  // taken alone, never with sendMutex_ or pendingMutex_
    std::unordered_map<uint64_t, PendingRead> pendingReads_;

    // One per partition, index = partition; built in the constructor, never resized.
    std::vector<std::unique_ptr<LogStream>> streams_;
    std::unique_ptr<EpochWatch> epochWatch_;  // from connect() on

    std::mutex readyMutex_;
    Clock::time_point readyCheckedAt_{};
    Status readyStatus_;

    std::mutex versionMutex_;
    bool batchReads_ = false;
    std::optional<uint64_t> versionCheckedAt_;  // the reconnect count when the INFO was read
};

}  // namespace partyline
