#include "bus/NatsKeyValue.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "bus/NatsCodec.h"
#include "bus/NatsError.h"
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
// The watch thread looks at its stop flag and at reconnections this often.
constexpr auto kWatchPoll = 250ms;
// A watch that could not start is tried again after this pause.
constexpr auto kWatchRestart = 1s;
// A watch is started over this long after a reconnection or a failure, once
// nats.c has finished restarting its consumer (one JetStream request).
constexpr auto kWatchSettle = 5s;

constexpr const char* kHeaderOperation = "KV-Operation";  // DEL or PURGE on a delete marker

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
// Watch: one thread that follows every change of the bucket.

class NatsKeyValue::Watch final : public Subscription {
   public:
    Watch(std::shared_ptr<NatsKeyValue> owner, WatchCallback onChange)
        : owner_(std::move(owner)), onChange_(std::move(onChange)), thread_([this] {
              nameThisThread("pl-kv-watch");
              run();
          }) {}

    ~Watch() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }

   private:
    // Watch thread. False when the watch is stopping.
    bool pause(std::chrono::milliseconds length) {
        std::unique_lock lock(mutex_);
        return !wake_.wait_for(lock, length, [&] { return stopping_; });
    }
    bool stopping() {
        std::lock_guard lock(mutex_);
        return stopping_;
    }

    Result<KvWatcherPtr> start() {
        kvWatchOptions options;
        kvWatchOptions_Init(&options);
        kvWatcher* raw = nullptr;
        natsStatus s = kvStore_WatchAll(&raw, owner_->kv_.get(), &options);
        KvWatcherPtr watcher(raw);
        if (s != NATS_OK) return natsFailure(s, "watch bucket " + owner_->config_.bucket);
        return watcher;
    }

    // Watch thread: follows the bucket; starts over (with a Reset) some time
    // after a reconnection, in case nats.c's own restart of the watcher's
    // consumer did not take. Never right at a reconnection: nats.c 3.4.1
    // restarts every ordered consumer on a thread of its own then, and a
    // watcher destroyed meanwhile reads the consumer name that thread frees
    // (AddressSanitizer saw it).
    void run() {
        KvWatcherPtr watcher;
        uint64_t seen = 0;
        bool warned = false;
        std::chrono::steady_clock::time_point reconnectedAt{};
        bool settling = false;  // a reconnection was seen at reconnectedAt
        while (!stopping()) {
            const uint64_t reconnects = owner_->reconnects_();
            if (watcher && reconnects != seen) {
                const auto now = std::chrono::steady_clock::now();
                if (!settling) reconnectedAt = now, settling = true;
                if (now - reconnectedAt >= kWatchSettle) watcher.reset();
            }
            if (!watcher) {
                seen = reconnects;
                settling = false;
                auto started = start();
                if (!started) {
                    if (!warned) log::warn("nats", started.status().message() + "; trying again");
                    warned = true;
                    pause(kWatchRestart);
                    continue;
                }
                warned = false;
                watcher = std::move(started.value());
                onChange_({KvChange::Kind::Reset, {}});
            }
            kvEntry* raw = nullptr;
            natsStatus s = kvWatcher_Next(&raw, watcher.get(), kWatchPoll.count());
            KvEntryPtr entry(raw);
            if (s == NATS_TIMEOUT) continue;
            if (s != NATS_OK) {
                log::warn("nats", natsFailure(s, "watch of bucket " + owner_->config_.bucket).message() +
                                      "; starting it again");
                pause(kWatchSettle);  // a reconnection may be what failed it: see run()
                watcher.reset();
                continue;
            }
            if (!entry) continue;  // every entry there was at the start has been seen
            KvChange change;
            change.kind = kvEntry_Operation(raw) == kvOp_Put ? KvChange::Kind::Put : KvChange::Kind::Delete;
            change.entry.key = kvEntry_Key(raw);
            change.entry.revision = kvEntry_Revision(raw);
            if (change.kind == KvChange::Kind::Put)
                change.entry.value.assign(static_cast<const char*>(kvEntry_Value(raw)),
                                          size_t(kvEntry_ValueLen(raw)));
            onChange_(std::move(change));
        }
    }

    std::shared_ptr<NatsKeyValue> owner_;
    WatchCallback onChange_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;  // last: started once everything it touches exists
};

// ---------------------------------------------------------------------------
// Opening the bucket.

NatsKeyValue::NatsKeyValue(const KeyValueConfig& config, std::function<uint64_t()> reconnects)
    : config_(config),
      stream_("KV_" + config.bucket),
      subjectPrefix_("$KV." + config.bucket + "."),
      reconnects_(std::move(reconnects)) {}

Result<std::shared_ptr<NatsKeyValue>> NatsKeyValue::open(natsConnection* connection,
                                                         const KeyValueConfig& config,
                                                         std::function<uint64_t()> reconnects) {
    std::shared_ptr<NatsKeyValue> kv(new NatsKeyValue(config, std::move(reconnects)));
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

// Binds to the bucket, or creates it. Two nodes may create it at once: the
// same configuration twice is accepted, and the loser binds.
Status NatsKeyValue::createOrBind() {
    kvStore* raw = nullptr;
    natsStatus s = js_KeyValue(&raw, js_.get(), config_.bucket.c_str());
    if (s == NATS_OK) {
        kv_.reset(raw);
        return Status::ok();
    }
    if (s != NATS_NOT_FOUND) return natsFailure(s, "bind");
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = config_.bucket.c_str();
    cfg.History = 1;
    cfg.StorageType = js_FileStorage;
    cfg.Replicas = config_.replicas;
    s = js_CreateKeyValue(&raw, js_.get(), &cfg);
    if (s != NATS_OK) return natsFailure(s, "create");
    kv_.reset(raw);
    log::info("nats", "created key-value bucket " + config_.bucket + " (replicas " +
                          std::to_string(config_.replicas) + ")");
    return Status::ok();
}

// Moves an existing bucket to the configured replicas, and lets it answer
// direct gets (buckets made by old clients do not).
Status NatsKeyValue::reconcile() {
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr = jsErrCode(0);
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream_.c_str(), nullptr, &jerr);
    StreamInfoPtr info(raw);
    if (s != NATS_OK) return natsFailure(s, "read stream info", jerr);
    jsStreamConfig& have = *info->Config;
    if (have.Replicas == config_.replicas && have.AllowDirect) return Status::ok();
    const std::string change =
        "replicas " + std::to_string(have.Replicas) + " -> " + std::to_string(config_.replicas);
    have.Replicas = config_.replicas;
    have.AllowDirect = true;
    jsStreamInfo* updated = nullptr;
    s = js_UpdateStream(&updated, js_.get(), &have, nullptr, &jerr);
    StreamInfoPtr updatedInfo(updated);
    if (s != NATS_OK) {
        Status failure = natsFailure(s, "update (" + change + ")", jerr);
        return jerr != 0 ? Status(Code::InvalidArgument, failure.message()) : failure;
    }
    log::info("nats", "updated key-value bucket " + config_.bucket + ": " + change);
    return Status::ok();
}

Result<std::unique_ptr<Subscription>> NatsKeyValue::watch(WatchCallback onChange) {
    return std::unique_ptr<Subscription>(new Watch(shared_from_this(), std::move(onChange)));
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
    last.deleted = header(raw, kHeaderOperation) != nullptr;
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

Result<std::vector<KvEntry>> NatsKeyValue::listOnce(const std::string& parent, size_t maxBytes,
                                                    Clock::time_point deadline) {
    kvWatchOptions options;
    kvWatchOptions_Init(&options);
    options.IgnoreDeletes = true;
    const std::string filter = parent + ".*";
    const uint64_t reconnects = reconnects_();
    kvWatcher* raw = nullptr;
    natsStatus s = kvStore_Watch(&raw, kv_.get(), filter.c_str(), &options);
    KvWatcherPtr watcher(raw);
    // Runs before `watcher` is destroyed: a watcher that lived through a reconnection is destroyed
    // only once nats.c has restarted its consumer (see Watch::run); rare, and on a storage thread.
    struct Settle {
        const NatsKeyValue& kv;
        const KvWatcherPtr& watcher;
        uint64_t reconnects;
        ~Settle() {
            if (watcher && kv.reconnects_() != reconnects) std::this_thread::sleep_for(kWatchSettle);
        }
    } settle{*this, watcher, reconnects};
    if (s != NATS_OK) return natsFailure(s, "list " + filter + " in bucket " + config_.bucket);
    std::vector<KvEntry> entries;
    size_t bytes = 0;
    for (;;) {
        kvEntry* rawEntry = nullptr;
        s = kvWatcher_Next(&rawEntry, watcher.get(), waitMs(deadline));
        KvEntryPtr entry(rawEntry);
        if (s != NATS_OK) return natsFailure(s, "list " + filter + " in bucket " + config_.bucket);
        if (!entry) break;  // the last current entry was delivered
        bytes += size_t(kvEntry_ValueLen(rawEntry));
        if (bytes > maxBytes) {
            return Status(Code::TooLarge,
                          "the values under " + parent + " exceed " + std::to_string(maxBytes) + " bytes");
        }
        entries.push_back({kvEntry_Key(rawEntry),
                           std::string(static_cast<const char*>(kvEntry_Value(rawEntry)),
                                       size_t(kvEntry_ValueLen(rawEntry))),
                           kvEntry_Revision(rawEntry)});
    }
    std::sort(entries.begin(), entries.end(),
              [](const KvEntry& a, const KvEntry& b) { return a.key < b.key; });
    return entries;
}

Result<std::vector<KvEntry>> NatsKeyValue::list(const std::string& parent, size_t maxBytes,
                                                Clock::time_point deadline) {
    return untilDeadline(deadline, [&] { return listOnce(parent, maxBytes, deadline); });
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
    if (s == NATS_OK && erase) s = natsMsgHeader_Set(raw, kHeaderOperation, "DEL");
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
