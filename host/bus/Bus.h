// The bus: a room's log in, and the room's writes back out.
//
// `publish` sends a write to the log (JetStream) and reports the sequence the
// log gave it; `subscribe` receives each write the log stores for one subject,
// as it is stored. Nothing here knows about rooms or Lua. NatsBus is the real
// implementation; MemoryBus is an in-process one for unit tests.
//
// Threads: every method may be called from any thread. Callbacks run on a bus
// thread: they must copy what they need, post work elsewhere and return; they
// must never block or call back into the bus synchronously.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/Status.h"

namespace partyline {

class KeyValue;
struct KeyValueConfig;

// One write as stored in the log.
struct LogEntry {
    uint64_t seq = 0;        // the stream sequence
    uint64_t prevSeq = 0;    // the previous stream sequence of the same subject (0: first, or unknown)
    bool prevKnown = false;  // prevSeq came from the log (live delivery) rather than being guessed
    std::string data;
    bool binary = false;
    std::vector<std::string> exclude;  // connection ids that must not receive it
    std::string msgId;
    int64_t timeNs = 0;  // when the log stored it (unix ns), 0 if unknown
    int64_t publishedNs =
        0;  // when its publisher first sent it (unix ns, the publisher's clock), 0 if unknown
    // Live delivery: more writes of the same subscription are already queued behind this one, so
    // the next delivery follows at once (frames to a client may wait for it and go out together).
    bool moreQueued = false;
};

struct PublishOptions {
    std::string msgId;  // Nats-Msg-Id: a retried publish is stored once
    // Set to true before the callback runs when the log answered that it already held `msgId`
    // from an earlier publish (a client's retried request), not from the bus's own re-send.
    std::shared_ptr<std::atomic<bool>> duplicate;
    std::optional<uint64_t> expectLastSeq;  // Nats-Expected-Last-Subject-Sequence
    bool binary = false;
    std::vector<std::string> exclude;
};

// History pages (the HTTP history endpoint and room:history): entries per
// page when none is asked for, and at most, so one request cannot pin a node.
constexpr size_t kDefaultHistoryPage = 100;
constexpr size_t kMaxHistoryPage = 1000;

// Called once per publish, on a bus thread, with the sequence or the error
// (Code::Conflict when expectLastSeq did not match, Code::Unavailable/Timeout
// when the log could not be reached).
using PublishCallback = std::function<void(Result<uint64_t>)>;
using DeliverCallback = std::function<void(LogEntry)>;

// A live subscription; destroying it unsubscribes. No callback runs after the
// destructor returns.
class Subscription {
   public:
    virtual ~Subscription() = default;
};

// One write of publishAll.
struct Publish {
    std::string subject;
    std::string data;
    PublishOptions options;
    PublishCallback done;
};

class Bus {
   public:
    virtual ~Bus() = default;

    virtual void publish(const std::string& subject, std::string data, PublishOptions options,
                         PublishCallback done) = 0;
    // Several writes, as publish() would send them one after another from this thread; a bus may
    // take its locks once for all of them. Each `done` runs once, as for publish().
    virtual void publishAll(std::vector<Publish> writes) {
        for (auto& w : writes) publish(w.subject, std::move(w.data), std::move(w.options), std::move(w.done));
    }

    // Live writes for one log subject, in log order. Returns without waiting for the server:
    // the subscription is in place for every write stored after the answer to any later read of
    // this bus (lastSequence, read), so read the log's position after subscribing.
    virtual Result<std::unique_ptr<Subscription>> subscribe(const std::string& subject,
                                                            DeliverCallback deliver) = 0;

    // Blocking reads of the log. Call them from an executor thread, never from
    // a bus callback.
    // The last sequence stored for the subject; 0 when it has none.
    virtual Result<uint64_t> lastSequence(const std::string& subject) = 0;
    // The same without blocking: `done` runs once, on a bus thread, with the answer or the error
    // (Code::Timeout when the log did not answer in time).
    using SequenceCallback = std::function<void(Result<uint64_t>)>;
    virtual void lastSequenceAsync(const std::string& subject, SequenceCallback done) = 0;
    // Up to `limit` entries of the subject with seq > after, in order. Entries
    // carry prevSeq when it is known. In a cluster the answer may come from a
    // replica that lags behind the log's leader: it can end short of the newest
    // writes (readThrough below does not).
    virtual Result<std::vector<LogEntry>> read(const std::string& subject, uint64_t after, size_t limit) = 0;
    // The sequence of the subject's first write after `after`, 0 when the log holds none, asked
    // of the log's leader: never behind, unlike read(), and one request whatever the answer.
    virtual Result<uint64_t> nextSequence(const std::string& subject, uint64_t after) = 0;
    // The first sequence the log still holds for the subject (retention may
    // have dropped earlier ones); 0 when it holds none.
    virtual Result<uint64_t> firstSequence(const std::string& subject) = 0;

    // Ok when the bus can publish now (NATS connected, JetStream answering).
    virtual Status ready() = 0;

    // Ephemeral messages: plain NATS publish/subscribe, not stored and not
    // ordered with the log, for state that is re-sent periodically anyway
    // (connection counts of every node). Best effort: a lost one is replaced
    // by the next. The callback runs on a bus thread.
    using EphemeralCallback = std::function<void(std::string data)>;
    virtual Status publishEphemeral(const std::string& subject, std::string data) = 0;
    virtual Result<std::unique_ptr<Subscription>> subscribeEphemeral(const std::string& subject,
                                                                     EphemeralCallback receive) = 0;

    // Opens the key-value bucket `config.bucket`, created when missing
    // (room storage, alarms). Blocking: call it when the node starts. Every
    // open of one bucket on one bus shares its entries.
    virtual Result<std::shared_ptr<KeyValue>> openKeyValue(const KeyValueConfig& config) = 0;

    // How often the connection to the log was re-established. Live writes
    // stored while it was down are never delivered live: a change tells
    // every shard to compare its position with the log's.
    virtual uint64_t reconnects() const { return 0; }

    // Any thread: the generation of the log that holds `subject`, which changes when its stream
    // was created again and its sequences started over (bus/EpochWatch.h). Empty: no generations.
    virtual std::string epoch(const std::string& subject) const {
        (void)subject;
        return {};
    }
    // Any thread, without waiting: find out soon whether the log began again (a shard was sent a
    // write at or before the last one it delivered, as a new generation's would be).
    virtual void checkEpoch() {}
};

// True when the log still holds write `since` of `subject`, so nothing after
// it was dropped, or holds nothing at or after it. Retention drops a
// subject's oldest writes first, and sequences are the stream's, not the
// subject's, so the write itself is the only exact witness. since 0: true.
Result<bool> logHolds(Bus& bus, const std::string& subject, uint64_t since);

// read(), for a caller that knows the log stored every write of `subject` up to `upTo` (it was
// delivered them live): when the answer ends short of `upTo` and of `limit`, the log's leader is
// asked whether anything up to `upTo` is still held (nextSequence). If it is, a replica that lags
// answered the read, and it is asked again, a few times over about a second; if nothing is, the
// writes are gone (retention) and the short answer is the whole answer. Unavailable when the
// replica stays behind, so the caller tries again later rather than skip writes the log holds.
// Blocking, as read().
// A read answered short by a replica that lags is asked again after 20 ms, doubling, this many
// times (about 1.3 s in all). The key-value watch follows the same rule (NatsKeyValue).
inline constexpr int kReplicaLagRetries = 6;
inline constexpr std::chrono::milliseconds kReplicaLagFirstWait{20};
Result<std::vector<LogEntry>> readThrough(Bus& bus, const std::string& subject, uint64_t after, uint64_t upTo,
                                          size_t limit);

}  // namespace partyline
