#include "bus/NatsKeyValue.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "bus/DirectBatch.h"
#include "bus/DirectGet.h"
#include "bus/NatsCodec.h"
#include "bus/NatsError.h"
#include "bus/NatsSubscription.h"
#include "core/Log.h"
#include "core/ThreadName.h"

namespace partyline {
namespace {

using namespace std::chrono_literals;
using Clock = KeyValue::Clock;

// A bucket that does not answer (reconnecting, JetStream electing a leader)
// is asked again after this pause, until the caller's deadline.
constexpr auto kRetryPause = 200ms;
// How long a starting node waits for JetStream to answer for the bucket.
constexpr auto kOpenTimeout = 30s;
// A watch that could not read the bucket tries again after this pause.
constexpr auto kWatchRestart = 1s;
// A watch asks the bucket's stream for its last sequence and creation time this often.
constexpr auto kWatchCheck = 5s;
// After a write seen by the watch of a bucket that cannot republish, the stream is asked for its
// last sequence at once, and until it has more, 5 more times 10 ms later doubling (310 ms in all).
constexpr int kPokeChecks = 5;
constexpr auto kPokePause = 10ms;

bool transient(const Status& s) {
    return s.code() == Code::Timeout || s.code() == Code::Unavailable;
}

int64_t waitMs(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return std::clamp<int64_t>(left.count(), 1, NatsKeyValue::kAttemptWait.count());
}

// Runs `attempt` until it succeeds, fails for good, or the deadline passes.
template <class Attempt>
auto untilDeadline(Clock::time_point deadline, Attempt attempt) -> decltype(attempt()) {
    for (;;) {
        auto result = attempt();
        if (result.isOk() || !transient(result.status()) || Clock::now() + kRetryPause >= deadline)
            return result;
        std::this_thread::sleep_for(kRetryPause);
    }
}

}  // namespace

// ---------------------------------------------------------------------------
// Watch: follows every change of the bucket.
//
// The bucket republishes each change once stored, with its stream sequence. Every message of the
// bucket's stream is a change, and a stream numbers its messages one after another, so the
// change after sequence N is N + 1: a republished change further on means some were missed (a
// lost connection, a full queue), and the watch reads them from the stream before it goes on
// (a read skips messages a later value of their key has removed). After each reconnection and
// every kWatchCheck it also asks the stream for its last sequence, to catch up on a change
// whose copy never came, and for its creation time: a stream made again (nats-server restarted
// on an empty store) starts the watch over with a Reset. No JetStream consumer is involved, so
// a lost connection leaves nothing to restart or clean up.
//
// A bucket that cannot republish (made by an older node on a server before 2.10) sends no
// copies: the watch then listens to the writes themselves, which come before JetStream has
// stored them (or refused them), and after each it asks the stream for its last sequence until
// the stream has something new (kPokeChecks).

class NatsKeyValue::Watch final : public Subscription {
   public:
    static Result<std::unique_ptr<Subscription>> start(std::shared_ptr<NatsKeyValue> owner,
                                                       WatchCallback onChange) {
        std::unique_ptr<Watch> watch(new Watch(std::move(owner), std::move(onChange)));
        Watch* raw = watch.get();
        const NatsKeyValue& kv = *raw->owner_;
        const std::string& subject = kv.republishes_ ? kv.republishDestination_ : kv.republishSource_;
        auto sub = NatsSubscription::create(kv.connection_, subject, kLivePendingMsgs, kLivePendingBytes,
                                            [raw](natsMsg* msg) { raw->receive(msg); });
        if (!sub) return sub.status().withContext("watch bucket " + kv.config_.bucket);
        raw->sub_ = std::move(sub.value());
        raw->thread_ = std::thread([raw] {
            nameThisThread("pl-kv-watch");
            raw->run();
        });
        return std::unique_ptr<Subscription>(std::move(watch));
    }

    ~Watch() override {
        sub_.reset();  // no receive() after this
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

   private:
    // Beyond these nats.c drops copies (and the watch reads them from the stream).
    static constexpr int kLivePendingMsgs = 65536;
    static constexpr int kLivePendingBytes = 64 << 20;
    // Copies waiting for the watch thread; beyond this they are dropped the same way.
    static constexpr size_t kLiveQueue = 65536;

    Watch(std::shared_ptr<NatsKeyValue> owner, WatchCallback onChange)
        : owner_(std::move(owner)), onChange_(std::move(onChange)) {}

    // A NATS delivery thread: one republished change, or a write to a bucket that cannot republish.
    void receive(natsMsg* msg) {
        if (!owner_->republishes_) {
            {
                std::lock_guard lock(mutex_);
                poked_ = true;
            }
            wake_.notify_all();
            return;
        }
        auto change = owner_->changeOf(msg);
        // Not a copy of this bucket's stream: the gap it leaves, if any, is read from the stream.
        if (!change || headerValue(msg, kHeaderStream) != std::string_view(owner_->stream_)) return;
        bool first = false;  // the watch thread waits only for an empty queue to fill
        {
            std::lock_guard lock(mutex_);
            if (live_.size() >= kLiveQueue) return;  // the same
            first = live_.empty();
            live_.push_back(std::move(change.value()));
        }
        if (first) wake_.notify_all();
    }

    // Watch thread. False when the watch is stopping.
    bool pause(std::chrono::milliseconds length) {
        std::unique_lock lock(mutex_);
        return !wake_.wait_for(lock, length, [&] { return stopping_; });
    }
    bool stopping() {
        std::lock_guard lock(mutex_);
        return stopping_;
    }
    void warnOnce(const Status& failure) {
        if (!warned_) log::warn("nats", failure.message() + "; trying again");
        warned_ = true;
    }

    void deliver(KvChangeAt&& at) {
        next_ = at.seq + 1;
        onChange_(std::move(at.change));
    }

    // Watch thread: the changes from next_ on until at least `mustReach`, from the stream.
    Status catchUp(uint64_t mustReach) {
        for (int attempt = 0;; ++attempt) {
            Status read = owner_->scan(next_, owner_->republishSource_, Clock::now() + kAttemptWait,
                                       [&](KvChangeAt at) {
                                           if (stopping())
                                               return Status(Code::Unavailable, "the watch is stopping");
                                           if (at.seq >= next_) deliver(std::move(at));
                                           return Status::ok();
                                       });
            if (!read) return read;
            if (next_ > mustReach) return Status::ok();
            // Short: the replica that answered may be behind the leader, or what is missing was
            // removed (a later value of its key, or a purge).
            auto leader = owner_->leaderNext(next_);
            if (!leader) return leader.status();
            if (leader.value() == 0 || leader.value() > mustReach) {
                next_ = mustReach + 1;  // everything from next_ to mustReach was removed
                return Status::ok();
            }
            if (attempt == kReplicaLagRetries || !pause(kReplicaLagFirstWait * (1 << attempt)))
                return Status(Code::Unavailable, "the bucket " + owner_->config_.bucket +
                                                     " answered reads from a replica that stays behind");
        }
    }

    void run() {
        bool fresh = true;  // next: a Reset and the bucket from its start
        int64_t created = 0;
        uint64_t mustReach = 0;
        uint64_t seen = owner_->bus_.reconnects();
        int pokes = 0;  // stream checks left after a write seen (a bucket that cannot republish)
        auto checkAt = Clock::now() + kWatchCheck;
        while (!stopping()) {
            if (fresh) {
                {
                    std::lock_guard lock(mutex_);
                    live_.clear();  // copies of the stream as it was
                }
                auto state = owner_->streamState();
                if (!state) {
                    warnOnce(state.status());
                    pause(kWatchRestart);
                    continue;
                }
                created = state->created;
                mustReach = state->lastSeq;
                next_ = 1;
                fresh = false;
                onChange_({KvChange::Kind::Reset, {}});
            }
            bool failed = false;  // the stream is still checked below, then the catch-up tried again
            if (mustReach >= next_) {
                if (Status caught = catchUp(mustReach); !caught) {
                    if (stopping()) break;
                    warnOnce(caught);
                    failed = pause(kWatchRestart);
                } else {
                    warned_ = false;
                }
            }
            std::deque<KvChangeAt> copies;
            {
                std::unique_lock lock(mutex_);
                if (!failed)
                    wake_.wait_until(lock, checkAt, [&] { return stopping_ || poked_ || !live_.empty(); });
                copies.swap(live_);
                if (poked_) pokes = kPokeChecks, checkAt = Clock::now();
                poked_ = false;
            }
            for (auto& at : copies) {
                if (at.seq == next_) {
                    deliver(std::move(at));
                } else if (at.seq > next_) {
                    mustReach = std::max(mustReach, at.seq);  // missed some: read them, and this one
                }
            }
            if (const uint64_t reconnects = owner_->bus_.reconnects(); reconnects != seen) {
                seen = reconnects;
                checkAt = Clock::now();  // at once, and (failing) every kWatchRestart
            }
            if (Clock::now() < checkAt) continue;
            auto state = owner_->streamState();
            if (!state) {
                checkAt = Clock::now() + kWatchRestart;
                continue;
            }
            checkAt = Clock::now() + kWatchCheck;
            if (pokes > 0 && state->lastSeq < next_) {
                checkAt = Clock::now() + kPokePause * (1 << (kPokeChecks - pokes));  // not stored yet
                --pokes;
            } else {
                pokes = 0;
            }
            // Made again on an empty store, or restored from a backup older than what was seen.
            if (state->created != created || state->lastSeq + 1 < next_) {
                log::info("nats",
                          "bucket " + owner_->config_.bucket +
                              " was created again or restored; its watch starts over from what it holds");
                fresh = true;
                continue;
            }
            mustReach = std::max(mustReach, state->lastSeq);
        }
    }

    const std::shared_ptr<NatsKeyValue> owner_;
    const WatchCallback onChange_;
    uint64_t next_ = 1;    // watch thread: the sequence of the next change to deliver
    bool warned_ = false;  // watch thread
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::deque<KvChangeAt> live_;  // republished changes not yet taken by the watch thread
    bool poked_ = false;           // a write was seen (a bucket that cannot republish)
    std::unique_ptr<NatsSubscription> sub_;
    std::thread thread_;
};

// ---------------------------------------------------------------------------
// Opening the bucket.

NatsKeyValue::NatsKeyValue(natsConnection* connection, const KeyValueConfig& config, BusView bus)
    : connection_(connection),
      config_(config),
      stream_("KV_" + config.bucket),
      subjectPrefix_("$KV." + config.bucket + "."),
      republishSource_(subjectPrefix_ + ">"),
      republishDestination_(config.republish + ".>"),
      bus_(std::move(bus)) {}

jsRePublish NatsKeyValue::republishRule() const {
    jsRePublish rule;
    jsRePublish_Init(&rule);
    rule.Source = republishSource_.c_str();
    rule.Destination = republishDestination_.c_str();
    return rule;
}

Result<std::shared_ptr<NatsKeyValue>> NatsKeyValue::open(natsConnection* connection,
                                                         const KeyValueConfig& config, BusView bus) {
    std::shared_ptr<NatsKeyValue> kv(new NatsKeyValue(connection, config, std::move(bus)));
    if (Status s = kv->bind(connection); !s) return s.context("bucket " + config.bucket);
    const auto deadline = Clock::now() + kOpenTimeout;
    for (;;) {
        Status s = kv->createOrBind();
        if (s) s = kv->reconcile();
        if (s) break;
        if (!transient(s) || Clock::now() >= deadline) return s.context("bucket " + config.bucket);
        log::warn("nats", "bucket " + config.bucket + " not ready yet (" + s.message() + "); retrying");
        std::this_thread::sleep_for(1s);
    }
    return kv;
}

Status NatsKeyValue::bind(natsConnection* connection) {
    natsInbox* raw = nullptr;
    natsStatus s = natsInbox_Create(&raw);
    InboxPtr inbox(raw);
    if (s != NATS_OK) return natsFailure(s, "inbox");
    const std::string_view name(inbox.get());
    msgIdStem_ = std::string(name.substr(name.rfind('.') + 1));
    jsOptions options;
    jsOptions_Init(&options);
    options.Wait = kAttemptWait.count();
    jsCtx* js = nullptr;
    s = natsConnection_JetStream(&js, connection, &options);
    if (s != NATS_OK) return natsFailure(s, "JetStream context");
    js_.reset(js);
    return Status::ok();
}

// Binds to the bucket, or creates it. Two nodes may create it at once: the same configuration
// twice is accepted, and a create that loses the race otherwise (nats-server 2.9 can answer it
// "subjects overlap with an existing stream", the winner's) binds to the winner's bucket.
Status NatsKeyValue::createOrBind() {
    kvStore* raw = nullptr;
    natsStatus s = js_KeyValue(&raw, js_.get(), config_.bucket.c_str());
    if (s == NATS_OK) {
        kv_.reset(raw);
        return Status::ok();
    }
    if (s != NATS_NOT_FOUND) return natsFailure(s, "bind");
    if (Status created = create(); !created) {
        if (js_KeyValue(&raw, js_.get(), config_.bucket.c_str()) != NATS_OK) return created;
        kv_.reset(raw);
        log::info("nats", "key-value bucket " + config_.bucket + " was created by another node at once");
    }
    return Status::ok();
}

Status NatsKeyValue::create() {
    kvStore* raw = nullptr;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = config_.bucket.c_str();
    cfg.History = 1;
    cfg.StorageType = js_FileStorage;
    cfg.Replicas = config_.replicas;
    jsRePublish republish = republishRule();
    cfg.RePublish = &republish;
    natsStatus s = js_CreateKeyValue(&raw, js_.get(), &cfg);
    if (s != NATS_OK) return natsFailure(s, "create");
    kv_.reset(raw);
    log::info("nats", "created key-value bucket " + config_.bucket + " (replicas " +
                          std::to_string(config_.replicas) + ")");
    return Status::ok();
}

// Moves an existing bucket to the configured replicas, lets it answer direct gets (buckets made
// by old clients do not) and republish its changes (buckets made by older nodes do not; servers
// before 2.10 cannot add that to a stream, and its watches then read the stream after each write
// they see, see Watch).
Status NatsKeyValue::reconcile() {
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = jsErrCode(0);
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream_.c_str(), nullptr, &jerr);
    StreamInfoPtr info(raw);
    if (s != NATS_OK) return natsFailure(s, "read stream info", jerr);
    jsStreamConfig& have = *info->Config;
    auto same = [](const char* a, const std::string& b) { return a != nullptr && b == a; };
    republishes_ = have.RePublish != nullptr && same(have.RePublish->Source, republishSource_) &&
                   same(have.RePublish->Destination, republishDestination_) && !have.RePublish->HeadersOnly;
    std::string change;
    if (have.Replicas != config_.replicas)
        change = "replicas " + std::to_string(have.Replicas) + " -> " + std::to_string(config_.replicas);
    if (!have.AllowDirect) change += std::string(change.empty() ? "" : ", ") + "direct gets";
    have.Replicas = config_.replicas;
    have.AllowDirect = true;
    if (!republishes_) {
        jsRePublish republish = republishRule();
        jsRePublish* const owned = have.RePublish;  // nats.c frees it with `info`: put back after
        have.RePublish = &republish;
        std::string withRepublish =
            change + (change.empty() ? "" : ", ") + "republish to " + republishDestination_;
        if (owned != nullptr && owned->Destination != nullptr)
            withRepublish += std::string(" (was ") + owned->Destination + ")";
        Status updated = update(have, withRepublish);
        have.RePublish = owned;
        if (updated) {
            republishes_ = true;
            return updated;
        }
        if (updated.code() != Code::InvalidArgument) return updated;  // a config refusal: see update()
        log::info("nats", "bucket " + config_.bucket + " cannot republish its changes (" + updated.message() +
                              "); its watches read the bucket after each write they see");
    }
    return change.empty() ? Status::ok() : update(have, change);
}

// Refused by JetStream: InvalidArgument.
Status NatsKeyValue::update(jsStreamConfig& config, const std::string& change) {
    jsErrCode jerr = jsErrCode(0);
    jsStreamInfo* raw = nullptr;
    natsStatus s = js_UpdateStream(&raw, js_.get(), &config, nullptr, &jerr);
    StreamInfoPtr updated(raw);
    if (s != NATS_OK) {
        Status failure = natsFailure(s, "update (" + change + ")", jerr);
        if (jerr == kJsErrClusterNotAvailable) return Status(Code::Unavailable, failure.message());
        if (jerr == kJsErrStreamInvalidConfig) return Status(Code::InvalidArgument, failure.message());
        return jerr != 0 ? Status(Code::Internal, failure.message()) : failure;
    }
    log::info("nats", "updated key-value bucket " + config_.bucket + ": " + change);
    return Status::ok();
}

Result<std::unique_ptr<Subscription>> NatsKeyValue::watch(WatchCallback onChange) {
    return Watch::start(shared_from_this(), std::move(onChange));
}

// ---------------------------------------------------------------------------
// Reads.

Result<NatsKeyValue::Last> NatsKeyValue::lastOnce(const std::string& key) {
    const std::string subject = subjectPrefix_ + key;
    jsDirectGetMsgOptions options;
    jsDirectGetMsgOptions_Init(&options);
    options.LastBySubject = subject.c_str();
    natsMsg* raw = nullptr;
    natsStatus s = js_DirectGetMsg(&raw, js_.get(), stream_.c_str(), nullptr, &options);
    MsgPtr msg(raw);
    if (s == NATS_NOT_FOUND) return Status(Code::NotFound, "no value for key " + key);
    if (s != NATS_OK) return natsFailure(s, "get " + key + " from bucket " + config_.bucket);
    const char* seq = header(raw, kHeaderSequence);
    auto revision = seq != nullptr ? parseUint(seq) : std::nullopt;
    if (!revision)
        return Status(Code::Internal, "bucket " + config_.bucket + " answered without Nats-Sequence");
    Last last;
    last.revision = *revision;
    last.deleted = header(raw, kHeaderKvOperation) != nullptr;
    if (!last.deleted) last.value.assign(natsMsg_GetData(raw), size_t(natsMsg_GetDataLength(raw)));
    return last;
}

Result<NatsKeyValue::Last> NatsKeyValue::last(const std::string& key, Clock::time_point deadline) {
    return untilDeadline(deadline, [&] { return lastOnce(key); });
}

Result<KvEntry> NatsKeyValue::get(const std::string& key, Clock::time_point deadline) {
    auto found = last(key, deadline);
    if (!found) return found.status();
    if (found->deleted) return Status(Code::NotFound, "no value for key " + key);
    return KvEntry{key, std::move(found->value), found->revision};
}

Result<std::vector<KvEntry>> NatsKeyValue::list(const std::string& parent, size_t maxBytes,
                                                Clock::time_point deadline) {
    std::vector<KvEntry> entries;
    size_t bytes = 0;
    Status tooLarge;
    Status scanned = scan(1, subjectPrefix_ + parent + ".*", deadline, [&](KvChangeAt at) {
        if (Clock::now() >= deadline) return Status(Code::Timeout, "the deadline passed");
        if (at.change.kind != KvChange::Kind::Put) return Status::ok();
        bytes += at.change.entry.value.size();
        if (bytes > maxBytes) {
            tooLarge = Status(Code::TooLarge, "the values under " + parent + " exceed " +
                                                  std::to_string(maxBytes) + " bytes");
            return tooLarge;
        }
        entries.push_back(std::move(at.change.entry));
        return Status::ok();
    });
    if (!tooLarge) return tooLarge;
    if (!scanned) return scanned.withContext("list " + parent + " in bucket " + config_.bucket);
    std::sort(entries.begin(), entries.end(),
              [](const KvEntry& a, const KvEntry& b) { return a.key < b.key; });
    return entries;
}

// ---------------------------------------------------------------------------
// Reading the bucket's stream in order.

Status NatsKeyValue::scan(uint64_t from, const std::string& subject, Clock::time_point deadline,
                          const TakeChange& take) {
    for (;;) {
        auto more =
            bus_.batchReads() ? scanBatch(from, subject, deadline, take) : scanOne(from, subject, take);
        if (more && !more.value()) return Status::ok();
        if (more) continue;
        if (!transient(more.status()) || Clock::now() + kRetryPause >= deadline) return more.status();
        std::this_thread::sleep_for(kRetryPause);  // reconnecting: ask again from the last one taken
    }
}

// One batched Direct Get (nats-server 2.11 and newer): true when the stream has more.
Result<bool> NatsKeyValue::scanBatch(uint64_t& from, const std::string& subject, Clock::time_point deadline,
                                     const TakeChange& take) {
    return askDirectBatch(connection_, stream_, from, subject, kDirectBatchMessages, waitMs(deadline),
                          [&](natsMsg* msg) {
                              auto at = changeOf(msg);
                              if (!at) return at.status();
                              if (at->seq < from) return Status::ok();  // asked for from `from` on
                              from = at->seq + 1;
                              return take(std::move(at.value()));
                          });
}

// One Direct Get of the next message (any server): true when there was one.
Result<bool> NatsKeyValue::scanOne(uint64_t& from, const std::string& subject, const TakeChange& take) {
    jsDirectGetMsgOptions options;
    jsDirectGetMsgOptions_Init(&options);
    options.Sequence = from;
    options.NextBySubject = subject.c_str();
    natsMsg* raw = nullptr;
    natsStatus s = js_DirectGetMsg(&raw, js_.get(), stream_.c_str(), nullptr, &options);
    MsgPtr msg(raw);
    if (s == NATS_NOT_FOUND) return false;
    if (s != NATS_OK) return natsFailure(s, "direct get from " + stream_);
    auto at = changeOf(raw);
    if (!at) return at.status().withContext("direct get from " + stream_);
    if (at->seq < from)
        return Status(Code::Internal, "direct get from " + stream_ + " answered an earlier message");
    from = at->seq + 1;
    if (Status taken = take(std::move(at.value())); !taken) return taken;
    return true;
}

Result<KvChangeAt> NatsKeyValue::changeOf(natsMsg* msg) const {
    KvHeaders headers{headerValue(msg, kHeaderSequence), headerValue(msg, kHeaderSubject),
                      headerValue(msg, kHeaderKvOperation)};
    return decodeKvChange(subjectPrefix_, headers,
                          std::string_view(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg))));
}

Result<NatsKeyValue::StreamState> NatsKeyValue::streamState() {
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = jsErrCode(0);
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream_.c_str(), nullptr, &jerr);
    StreamInfoPtr info(raw);
    if (s != NATS_OK) return natsFailure(s, "stream info of bucket " + config_.bucket, jerr);
    return StreamState{info->Created, info->State.LastSeq};
}

Result<uint64_t> NatsKeyValue::leaderNext(uint64_t from) {
    return leaderNextSequence(connection_, stream_, from, republishSource_, kAttemptWait.count());
}

// ---------------------------------------------------------------------------
// Writes.

Result<uint64_t> NatsKeyValue::writeOnce(const std::string& key, std::string_view data, bool erase,
                                         const std::string& msgId, std::optional<uint64_t> expect,
                                         Clock::time_point deadline) {
    const std::string subject = subjectPrefix_ + key;
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, data.data(), int(data.size()));
    MsgPtr msg(raw);
    if (s == NATS_OK && erase) s = natsMsgHeader_Set(raw, kHeaderKvOperation, "DEL");
    if (s != NATS_OK) return natsFailure(s, "message for key " + key);
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = msgId.c_str();
    options.MaxWait = waitMs(deadline);
    if (expect && *expect == 0) options.ExpectNoMessage = true;
    if (expect && *expect > 0) options.ExpectLastSubjectSeq = *expect;
    jsPubAck* ack = nullptr;
    jsErrCode jerr = jsErrCode(0);
    s = js_PublishMsg(&ack, js_.get(), raw, &options, &jerr);
    PubAckPtr owned(ack);
    if (s == NATS_OK) return ack->Sequence;  // a duplicate (a re-send that was stored before) has the first's
    if (jerr == kJsErrWrongLastSequence)
        return Status(Code::Conflict,
                      "key " + key + " is not at revision " + std::to_string(expect.value_or(0)));
    return natsFailure(s, std::string(erase ? "delete " : "put ") + key + " in bucket " + config_.bucket,
                       jerr);
}

Result<uint64_t> NatsKeyValue::write(const std::string& key, std::string_view data, bool erase,
                                     std::optional<uint64_t> expect, Clock::time_point deadline) {
    const std::string msgId = msgIdStem_ + "-" + std::to_string(nextMsgId_++);
    for (;;) {
        auto stored =
            untilDeadline(deadline, [&] { return writeOnce(key, data, erase, msgId, expect, deadline); });
        if (stored || stored.status().code() != Code::Conflict || expect != uint64_t(0) || erase) {
            if (!stored && transient(stored.status()))
                stored.context("no answer from JetStream before the deadline; the write may still be stored");
            return stored;
        }
        // "Must not exist", and something is there: a delete marker counts as a
        // message to JetStream, but not as a value here.
        auto marker = last(key, deadline);
        if (!marker) return marker.status().code() == Code::NotFound ? stored : marker.status();
        if (!marker->deleted) return stored;
        expect = marker->revision;
    }
}

Result<uint64_t> NatsKeyValue::put(const std::string& key, std::string_view value,
                                   std::optional<uint64_t> expect, Clock::time_point deadline) {
    return write(key, value, false, expect, deadline);
}

Status NatsKeyValue::erase(const std::string& key, std::optional<uint64_t> expect,
                           Clock::time_point deadline) {
    if (expect && *expect == 0)
        return Status(Code::InvalidArgument, "an expected revision to delete must be at least 1");
    auto stored = write(key, {}, true, expect, deadline);
    return stored ? Status::ok() : stored.status();
}

}  // namespace partyline
