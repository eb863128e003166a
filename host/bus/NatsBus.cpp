#include "bus/NatsBus.h"

#include <algorithm>
#include <climits>
#include <string_view>

#include "bus/DirectBatch.h"
#include "bus/DirectGet.h"
#include "bus/NatsCodec.h"
#include "bus/NatsError.h"
#include "bus/NatsHandles.h"
#include "bus/NatsKeyValue.h"
#include "bus/NatsServerVersion.h"
#include "bus/NatsSubscription.h"
#include "bus/Partition.h"
#include "bus/StreamLayout.h"
#include "bus/Subject.h"
#include "core/Log.h"
#include "core/Metrics.h"
#include "core/ThreadName.h"

namespace partyline {
namespace {

using namespace std::chrono_literals;

constexpr auto kConnectRetryFor = 5s;  // long enough for a nats-server started alongside us
constexpr auto kConnectRetryWait = 250ms;
constexpr int64_t kReconnectWaitMs = 250;  // short: every live message missed while away is a gap to fill
constexpr int64_t kReconnectBufBytes = 16 << 20;  // publishes buffered while reconnecting
constexpr int64_t kPingIntervalMs = 5000;  // with 3 pings out, a half-open connection is found in ~15 s
constexpr int kMaxPingsOut = 3;
constexpr int64_t kApiWaitMs = 5000;  // JetStream API requests (stream info, direct get)
constexpr int64_t kReadyWaitMs = 1000;
constexpr auto kReadyCacheFor = 1s;  // /readyz may be polled often; one stream info a second is plenty
constexpr auto kTimerTick = 100ms;
constexpr auto kCloseWait = 2s;
constexpr int kDeliveryThreads = 4;  // shared by every subscription: no thread per room
// Per-room pending limits: bursts must queue, not drop. A drop still only
// delays (the shard fills the gap from the stream), but costs a read.
// How long a read of the log keeps trying across a lost connection.
constexpr auto kReadDeadline = std::chrono::seconds(10);
// How long a starting node waits for JetStream to answer for its stream.
constexpr auto kStreamReadyTimeout = std::chrono::seconds(30);
constexpr int kLivePendingMsgs = 1 << 20;
constexpr int kLivePendingBytes = 256 << 20;
constexpr int kAckPendingMsgs = 1 << 22;
constexpr int kAckPendingBytes = 512 << 20;

// A refusal of the stream configuration is a configuration error.
Status configFailure(natsStatus s, std::string_view what, jsErrCode jsErr) {
    Status failure = natsFailure(s, what, jsErr);
    return jsErr != 0 ? Status(Code::InvalidArgument, failure.message()) : failure;
}

// The headers and data of a republished (live) or directly fetched message.
Result<LogEntry> entryFrom(natsMsg* msg) {
    EntryHeaders headers;
    headers.sequence = headerValue(msg, kHeaderSequence);
    headers.lastSequence = headerValue(msg, kHeaderLastSequence);
    headers.timeStamp = headerValue(msg, kHeaderTimeStamp);
    headers.msgId = headerValue(msg, kHeaderMsgId);
    headers.binary = headerValue(msg, kHeaderBinary);
    headers.exclude = headerValue(msg, kHeaderExclude);
    headers.published = headerValue(msg, kHeaderPublished);
    return decodeEntry(headers, std::string_view(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg))));
}

}  // namespace

// ---------------------------------------------------------------------------
// Connection events. nats.c calls these on its connection-event thread,
// possibly after the bus began to close, so they touch only this struct,
// which the bus keeps alive until the closed event has arrived.

struct NatsBus::Events {
    std::atomic<uint64_t> reconnects{0};
    std::atomic<bool> closing{false};  // the bus closes the connection: a disconnect is expected
    std::mutex mutex;
    std::condition_variable closedCv;
    bool closed = false;
    std::string url;  // the server last connected to, for the disconnect log line

    void noteUrl(natsConnection* nc) {
        char buffer[256] = {};
        if (natsConnection_GetConnectedUrl(nc, buffer, sizeof buffer) != NATS_OK) return;
        std::lock_guard lock(mutex);
        url = buffer;
    }
    std::string lastUrl() {
        std::lock_guard lock(mutex);
        return url;
    }

    // Thread: nats.c's connection-event thread.
    static void onDisconnected(natsConnection*, void* closure) {
        auto* self = static_cast<Events*>(closure);
        if (self->closing) return;
        log::warn("nats", "disconnected from " + self->lastUrl() + "; reconnecting");
    }
    // Thread: nats.c's connection-event thread.
    static void onReconnected(natsConnection* nc, void* closure) {
        auto* self = static_cast<Events*>(closure);
        self->noteUrl(nc);
        uint64_t count = ++self->reconnects;
        log::info("nats", "reconnected to " + self->lastUrl() + " (reconnect " + std::to_string(count) + ")");
    }
    // Thread: nats.c's connection-event thread; the last event of a connection.
    static void onClosed(natsConnection*, void* closure) {
        auto* self = static_cast<Events*>(closure);
        // Notified under the lock: once the bus sees `closed` it may free this.
        std::lock_guard lock(self->mutex);
        self->closed = true;
        self->closedCv.notify_all();
    }
    // Thread: nats.c's connection-event thread.
    static void onError(natsConnection*, natsSubscription* sub, natsStatus err, void*) {
        // A subscription being closed has no subject any more (NULL).
        const char* name = sub != nullptr ? natsSubscription_GetSubject(sub) : nullptr;
        std::string subject = name != nullptr ? name : "";
        if (err == NATS_SLOW_CONSUMER) {
            int64_t dropped = 0;
            if (sub != nullptr) natsSubscription_GetDropped(sub, &dropped);
            log::warn("nats", "slow consumer on " + subject + ": " + std::to_string(dropped) +
                                  " live messages dropped so far; shards fill the gap from the stream");
            return;
        }
        log::warn("nats", std::string("asynchronous error: ") + natsStatus_GetText(err) +
                              (subject.empty() ? "" : " on " + subject));
    }
};

struct NatsBus::Outgoing {
    std::string subject;
    std::string reply;
    // The header block (Nats-Msg-Id, the expected sequence, Pl-Binary, Pl-Published, Pl-Exclude)
    // and the data after it, as the HPUB carries them: encoded once, for every re-send too.
    std::string wire;
    int headerBytes = 0;  // wire's header block
    size_t dataBytes() const { return wire.size() - size_t(headerBytes); }
    std::shared_ptr<std::atomic<bool>> duplicate;  // PublishOptions::duplicate
};

// ---------------------------------------------------------------------------
// Connecting and the stream.

NatsBus::NatsBus(const NatsConfig& cfg, std::string nodeId)
    : config_(cfg), nodeId_(headerSafe(nodeId)), events_(std::make_shared<Events>()) {
    const int count = std::max(1, cfg.partitions);
    for (int i = 0; i < count; ++i) {
        auto stream = std::make_unique<LogStream>();
        stream->name = partitionName(cfg.stream, i, count);
        stream->subjects = logSubjects(cfg.subject_prefix, i, count);
        stream->live = liveSubjects(cfg.subject_prefix, i, count);
        stream->description = streamDescription(i, count);
        streams_.push_back(std::move(stream));
    }
}

Result<std::unique_ptr<NatsBus>> NatsBus::connect(const NatsConfig& cfg, const std::string& url,
                                                  const std::string& nodeId) {
    if (cfg.stream.empty() || !validSubject(cfg.subject_prefix)) {
        return Status(Code::InvalidArgument,
                      "nats: stream name and subject prefix must be valid and non-empty");
    }
    std::unique_ptr<NatsBus> bus(new NatsBus(cfg, nodeId));
    if (Status s = bus->connectWithRetry(url); !s) return s.context("connect to NATS at " + url);
    // A new replicated stream, or a cluster still electing its JetStream
    // leader, answers nothing for a while: keep asking until the deadline.
    auto deadline = std::chrono::steady_clock::now() + kStreamReadyTimeout;
    for (;;) {
        Status s = bus->ensureStreams();
        if (s) break;
        bool transient = s.code() == Code::Timeout || s.code() == Code::Unavailable;
        if (!transient || std::chrono::steady_clock::now() >= deadline)
            return s.context(cfg.partitions > 1 ? "JetStream streams of " + cfg.stream
                                                : "JetStream stream " + cfg.stream);
        log::warn("nats", "JetStream not ready yet (" + s.message() + "); retrying");
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (Status s = bus->startPublisher(); !s) return s.context("start publisher");
    NatsBus* self = bus.get();
    std::vector<std::string> epochs, names;
    for (const auto& stream : bus->streams_) {
        epochs.push_back(std::to_string(stream->created.load()));
        names.push_back(stream->name);
    }
    bus->epochWatch_ = std::make_unique<EpochWatch>(
        std::move(epochs), std::move(names), [self](size_t stream) { return self->readEpoch(stream); },
        kEpochCheck);
    return bus;
}

Status NatsBus::connectWithRetry(const std::string& url) {
    // No spinning on nats.c's locks (its default tries 2,000 times before it blocks): with more
    // busy threads than cores, the holder is often not running, and the spin only burns the core
    // it needs (8% of a node's instructions while it opened rooms).
    natsStatus s;
    {
        ThreadNameScope lib("pl-nats-lib");  // nats.c's timer, callback and collector threads
        s = nats_Open(0);
    }
    if (s == NATS_OK) s = nats_SetMessageDeliveryPoolSize(kDeliveryThreads);
    natsOptions* rawOpts = nullptr;
    if (s == NATS_OK) s = natsOptions_Create(&rawOpts);
    OptionsPtr opts(rawOpts);
    // natsOptions_SetURL takes one URL; a cluster's comma-separated list goes
    // through natsOptions_SetServers (the config already dropped the spaces).
    std::vector<std::string> servers;
    for (size_t start = 0;;) {
        size_t comma = url.find(',', start);
        servers.push_back(url.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    std::vector<const char*> serverList;
    for (const auto& server : servers) serverList.push_back(server.c_str());
    if (s == NATS_OK)
        s = natsOptions_SetServers(rawOpts, serverList.data(), static_cast<int>(serverList.size()));
    if (s == NATS_OK) s = natsOptions_SetName(rawOpts, nodeId_.c_str());
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(rawOpts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(rawOpts, kReconnectWaitMs);
    if (s == NATS_OK) s = natsOptions_SetReconnectJitter(rawOpts, 100, 1000);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(rawOpts, kReconnectBufBytes);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(rawOpts, kPingIntervalMs);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(rawOpts, kMaxPingsOut);
    if (s == NATS_OK) s = natsOptions_SetTimeout(rawOpts, 2000);
    if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(rawOpts, true);
    // Publishes leave on the publishing thread: nats.c's flusher thread otherwise waits 1 ms
    // for more before it writes, which was most of an idle broadcast's latency.
    if (s == NATS_OK) s = natsOptions_SetSendAsap(rawOpts, true);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(rawOpts, Events::onDisconnected, events_.get());
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(rawOpts, Events::onReconnected, events_.get());
    if (s == NATS_OK) s = natsOptions_SetClosedCB(rawOpts, Events::onClosed, events_.get());
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(rawOpts, Events::onError, events_.get());
    if (s != NATS_OK) return natsFailure(s, "options");

    const auto deadline = Clock::now() + kConnectRetryFor;
    while (true) {
        natsConnection* raw = nullptr;
        {
            ThreadNameScope io("pl-nats-io");  // the connection's reader and flusher
            s = natsConnection_Connect(&raw, rawOpts);
        }
        if (s == NATS_OK) {
            connection_.reset(raw);
            break;
        }
        Status failure = natsFailure(s, "connect");
        // Retry only what a server that is still starting would cause.
        if (failure.code() != Code::Unavailable || Clock::now() + kConnectRetryWait >= deadline)
            return failure;
        std::this_thread::sleep_for(kConnectRetryWait);
    }
    events_->noteUrl(connection_.get());
    log::info("nats", "connected to " + events_->lastUrl() + " as " + nodeId_);

    jsOptions jsOpts;
    jsCtx* js = nullptr;
    s = jsOptions_Init(&jsOpts);
    jsOpts.Wait = kApiWaitMs;
    if (s == NATS_OK) s = natsConnection_JetStream(&js, connection_.get(), &jsOpts);
    if (s != NATS_OK) return natsFailure(s, "JetStream context");
    js_.reset(js);
    return Status::ok();
}

namespace {

// What differs between the stream as it is and as configured, in words.
std::vector<std::string> streamDifferences(const jsStreamConfig& have, const jsStreamConfig& want) {
    std::vector<std::string> diffs;
    auto str = [](const char* s) { return std::string(s != nullptr ? s : ""); };
    if (have.SubjectsLen != 1 || str(have.Subjects[0]) != want.Subjects[0]) diffs.push_back("subjects");
    if (have.Storage != want.Storage) diffs.push_back("storage");
    if (have.Replicas != want.Replicas) {
        diffs.push_back("replicas " + std::to_string(have.Replicas) + " -> " + std::to_string(want.Replicas));
    }
    if (have.MaxAge != want.MaxAge) {
        diffs.push_back("max_age " + std::to_string(have.MaxAge / 1000000000) + "s -> " +
                        std::to_string(want.MaxAge / 1000000000) + "s");
    }
    if (have.MaxMsgsPerSubject != want.MaxMsgsPerSubject) {
        diffs.push_back("max_msgs_per_room " + std::to_string(have.MaxMsgsPerSubject) + " -> " +
                        std::to_string(want.MaxMsgsPerSubject));
    }
    if (have.Duplicates != want.Duplicates) diffs.push_back("duplicate window");
    if (have.MaxBytes != want.MaxBytes) {
        diffs.push_back("max_bytes " + std::to_string(have.MaxBytes) + " -> " +
                        std::to_string(want.MaxBytes));
    }
    if (have.MaxMsgSize != want.MaxMsgSize) {
        diffs.push_back("max_msg_size " + std::to_string(have.MaxMsgSize) + " -> " +
                        std::to_string(want.MaxMsgSize));
    }
    if (have.Discard != want.Discard) diffs.push_back("discard old");
    if (want.Description != nullptr && str(have.Description) != want.Description)
        diffs.push_back("description");
    if (have.AllowDirect != want.AllowDirect) diffs.push_back("allow_direct");
    if (have.RePublish == nullptr || str(have.RePublish->Source) != want.RePublish->Source ||
        str(have.RePublish->Destination) != want.RePublish->Destination || have.RePublish->HeadersOnly) {
        diffs.push_back("republish");
    }
    return diffs;
}

// nats-server reserves a stream's MaxBytes from its store (max_file_store, or the account's
// limit) and refuses a stream that does not fit: say which key to change.
Status streamFailure(natsStatus s, const std::string& what, jsErrCode jerr, const NatsConfig& config,
                     const std::string& name) {
    if (jerr == JSStorageResourcesExceededErr || jerr == JSInsufficientResourcesErr)
        return Status(Code::InvalidArgument,
                      "stream " + name + ": " + what + ": nats.max_bytes (" +
                          std::to_string(config.max_bytes) + " bytes" +
                          (config.partitions > 1
                               ? ", " + std::to_string(config.max_bytes / size_t(config.partitions)) +
                                     " for each of " + std::to_string(config.partitions) + " partitions"
                               : std::string()) +
                          ") is more than the NATS server can reserve for it (JetStream error " +
                          std::to_string(int(jerr)) +
                          ", insufficient storage resources); lower nats.max_bytes or raise the "
                          "server's jetstream max_file_store");
    return configFailure(s, what, jerr);
}

std::string joined(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : ", ") + part;
    return out;
}

}  // namespace

Status NatsBus::ensureStreams() {
    if (Status layout = checkStreamLayout(js_.get(), config_); !layout) return layout;
    for (auto& stream : streams_) {
        if (Status s = ensureStream(*stream); !s) return s;
    }
    return Status::ok();
}

Status NatsBus::ensureStream(LogStream& stream) {
    const std::string& subjects = stream.subjects;
    const std::string& live = stream.live;
    const char* subjectList[] = {subjects.c_str()};
    jsRePublish republish;
    jsRePublish_Init(&republish);
    republish.Source = subjects.c_str();
    republish.Destination = live.c_str();
    jsStreamConfig want;
    jsStreamConfig_Init(&want);
    want.Name = stream.name.c_str();
    if (!stream.description.empty()) want.Description = stream.description.c_str();
    want.Subjects = subjectList;
    want.SubjectsLen = 1;
    want.Storage = config_.storage == "memory" ? js_MemoryStorage : js_FileStorage;
    want.Replicas = config_.replicas;
    want.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.max_age).count();
    want.MaxMsgsPerSubject = config_.max_msgs_per_room;
    want.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(config_.duplicate_window).count();
    want.AllowDirect = true;
    want.RePublish = &republish;
    // A bounded log: the oldest writes go first once the stream holds max_bytes.
    // With partitions, the log's cap is shared evenly: each stream holds its part.
    want.MaxBytes = int64_t(config_.max_bytes / streams_.size());
    want.MaxMsgSize = int32_t(config_.max_msg_size);
    want.Discard = js_DiscardOld;

    // Two nodes may start together: whoever loses the race to add re-reads. nats-server 2.9 may
    // answer the loser "subjects overlap with an existing stream" (the winner's) instead of
    // "name already in use"; a real overlap with another stream stays one on the re-read.
    for (int attempt = 0; attempt < 2; ++attempt) {
        jsStreamInfo* raw = nullptr;
        jsErrCode jerr = jsErrCode(0);
        natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream.name.c_str(), nullptr, &jerr);
        StreamInfoPtr info(raw);
        if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
            jsStreamInfo* added = nullptr;
            s = js_AddStream(&added, js_.get(), &want, nullptr, &jerr);
            StreamInfoPtr addedInfo(added);
            if (s == NATS_OK) {
                stream.created = addedInfo->Created;
                log::info("nats", "created stream " + stream.name + " on " + subjects + ", republished to " +
                                      live + ", max_bytes " + std::to_string(want.MaxBytes) +
                                      ", max_msg_size " + std::to_string(config_.max_msg_size));
                return Status::ok();
            }
            if (jerr == JSStreamNameExistErr || (jerr == JSStreamSubjectOverlapErr && attempt == 0)) continue;
            return streamFailure(s, "create", jerr, config_, stream.name);
        }
        if (s != NATS_OK) return natsFailure(s, "read stream info", jerr);
        stream.created = info->Created;
        auto diffs = streamDifferences(*info->Config, want);
        if (diffs.empty()) return Status::ok();
        if (info->Config->Storage != want.Storage) {
            const char* have = info->Config->Storage == js_MemoryStorage ? "memory" : "file";
            return Status(Code::Conflict,
                          "stream " + stream.name + " is stored in " + have + " but nats.storage is " +
                              config_.storage +
                              ": JetStream cannot change a stream's storage. Keep nats.storage: " + have +
                              ", or delete the stream (its writes are lost) to start it again");
        }
        jsStreamInfo* updated = nullptr;
        s = js_UpdateStream(&updated, js_.get(), &want, nullptr, &jerr);
        StreamInfoPtr updatedInfo(updated);
        if (s != NATS_OK)
            return streamFailure(s, "update (" + joined(diffs) + ")", jerr, config_, stream.name);
        log::info("nats", "updated stream " + stream.name + ": " + joined(diffs));
        return Status::ok();
    }
    return Status(Code::Unavailable, "the stream was created and deleted concurrently; try again");
}

natsStatus NatsBus::streamInfo(const LogStream& stream, StreamInfoPtr& info, jsErrCode& jerr) {
    jsOptions options;
    jsOptions_Init(&options);
    options.Wait = kReadyWaitMs;
    jsStreamInfo* raw = nullptr;
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream.name.c_str(), &options, &jerr);
    info.reset(raw);
    return s;
}

Result<std::string> NatsBus::readEpoch(size_t index) {
    LogStream& stream = *streams_.at(index);
    jsErrCode jerr = jsErrCode(0);
    StreamInfoPtr info;
    natsStatus s = streamInfo(stream, info, jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        // Deleted, or lost with NATS's data: the log begins again, here or on another node.
        log::warn("nats", "stream " + stream.name + " is gone; creating it again");
        if (Status created = ensureStream(stream); !created) return created;
        return std::to_string(stream.created.load());
    }
    if (s != NATS_OK) return natsFailure(s, "read stream info", jerr);
    return std::to_string(info->Created);
}

std::string NatsBus::epoch(const std::string& subject) const {
    auto index = streamOf(subject);
    if (!index) return {};
    return epochWatch_ ? epochWatch_->current(*index) : std::to_string(streams_[*index]->created.load());
}

void NatsBus::checkEpoch() {
    if (epochWatch_) epochWatch_->checkSoon();
}

Status NatsBus::startPublisher() {
    natsInbox* raw = nullptr;
    natsStatus s = natsInbox_Create(&raw);
    InboxPtr inbox(raw);
    if (s != NATS_OK) return natsFailure(s, "inbox");
    inboxPrefix_ = inbox.get();
    auto acks = NatsSubscription::create(connection_.get(), inboxPrefix_ + ".*", kAckPendingMsgs,
                                         kAckPendingBytes, [this](natsMsg* msg) { onAck(msg); });
    if (!acks) return acks.status();
    acks_ = std::move(acks.value());
    auto reads = NatsSubscription::create(connection_.get(), inboxPrefix_ + "R.*", kAckPendingMsgs,
                                          kAckPendingBytes, [this](natsMsg* msg) { onLastSequence(msg); });
    if (!reads) return reads.status();
    reads_ = std::move(reads.value());
    timer_ = std::thread([this] {
        nameThisThread("pl-nats-timer");
        timerLoop();
    });
    return Status::ok();
}

NatsBus::~NatsBus() {
    {
        std::lock_guard lock(pendingMutex_);
        stopping_ = true;
    }
    timerCv_.notify_all();
    if (timer_.joinable()) timer_.join();
    epochWatch_.reset();  // its thread asks JetStream: stopped before the connection closes
    acks_.reset();        // no acknowledgement handler runs after this
    reads_.reset();
    std::unordered_map<uint64_t, PendingRead> reads;
    {
        std::lock_guard lock(readsMutex_);
        reads.swap(pendingReads_);
    }
    for (auto& [token, read] : reads)
        read.done(Status(Code::Unavailable, "bus closed before the log answered"));

    std::unordered_map<uint64_t, Pending> pending;
    std::vector<std::pair<PublishCallback, Status>> refused;
    {
        std::lock_guard lock(pendingMutex_);
        pending.swap(pending_);
        refused.swap(refused_);
        queued_.clear();
    }
    for (auto& [callback, status] : refused) {
        if (callback) callback(status);
    }
    for (auto& [token, p] : pending) {
        if (p.done) p.done(Status(Code::Unavailable, "bus closed before JetStream acknowledged the publish"));
    }

    js_.reset();
    if (!connection_) return;
    events_->closing = true;
    natsConnection_Close(connection_.get());
    bool closed = false;
    {
        std::unique_lock lock(events_->mutex);
        closed = events_->closedCv.wait_for(lock, kCloseWait, [&] { return events_->closed; });
    }
    connection_.reset();
    // A closed event still on its way would find freed memory: keep the events alive instead.
    if (!closed) new std::shared_ptr<Events>(events_);
}

std::string NatsBus::connectedUrl() const {
    return events_->lastUrl();
}

uint64_t NatsBus::reconnects() const {
    return events_->reconnects.load();
}

size_t NatsBus::pendingPublishes() const {
    std::lock_guard lock(pendingMutex_);
    return pending_.size();
}

void NatsBus::writeMetrics(Metrics& out) const {
    out.counter("partyline_nats_reconnects_total", "Reconnections to NATS.", reconnects());
    out.counter("partyline_log_read_requests_total",
                "Direct Get requests to read the log: one per entry, or one per batch on nats-server 2.11+.",
                logReadRequests());
    out.counter("partyline_publish_resends_total",
                "Publishes sent again with the same id after no acknowledgement came.", publishResends());
    out.gauge("partyline_publishes_pending", "Publishes waiting for the log's acknowledgement.",
              pendingPublishes());
}

// ---------------------------------------------------------------------------
// Publishing: core publish with a reply inbox, JetStream answers with a PubAck.

void NatsBus::publish(const std::string& subject, std::string data, PublishOptions options,
                      PublishCallback done) {
    Prepared prepared = prepare(subject, std::move(data), std::move(options), std::move(done));
    submit({&prepared, 1});
}

void NatsBus::publishAll(std::vector<Publish> writes) {
    std::vector<Prepared> prepared;
    prepared.reserve(writes.size());
    for (auto& w : writes)
        prepared.push_back(prepare(w.subject, std::move(w.data), std::move(w.options), std::move(w.done)));
    submit(prepared);
}

NatsBus::Prepared NatsBus::prepare(const std::string& subject, std::string data, PublishOptions options,
                                   PublishCallback done) {
    Prepared prepared;
    // A publish that cannot succeed fails without being sent.
    if (auto stream = streamOf(subject); !stream) {
        prepared.refusal = stream.status().withContext("publish");
    } else if (data.size() > size_t(INT_MAX)) {
        prepared.refusal =
            Status(Code::TooLarge, "publish: message of " + std::to_string(data.size()) + " bytes");
    } else if (!options.msgId.empty() && headerSafe(options.msgId) != options.msgId) {
        prepared.refusal = Status(Code::InvalidArgument, "publish: message id holds spaces or control bytes");
    }

    prepared.token = nextToken_.fetch_add(1);
    auto message = std::make_shared<Outgoing>();
    message->subject = subject;
    message->reply = inboxPrefix_ + "." + std::to_string(prepared.token);
    // The inbox's unique part keeps ids distinct across restarts of a node with a fixed node_id.
    const std::string msgId =
        options.msgId.empty() ? nodeId_ + "-" + inboxPrefix_.substr(7) + "-" + std::to_string(prepared.token)
                              : std::move(options.msgId);
    const std::string expect = options.expectLastSeq ? std::to_string(*options.expectLastSeq) : std::string();
    const std::string exclude = options.exclude.empty() ? std::string() : encodeExclude(options.exclude);
    const std::string published = std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                     std::chrono::system_clock::now().time_since_epoch())
                                                     .count());
    message->wire = encodeHeaderBlock({{kHeaderMsgId, msgId},
                                       {kHeaderExpectedLastSubjectSeq, expect},
                                       {kHeaderBinary, options.binary ? "1" : ""},
                                       {kHeaderPublished, published},
                                       {kHeaderExclude, exclude}});
    message->headerBytes = int(message->wire.size());
    message->wire += data;
    message->duplicate = std::move(options.duplicate);
    prepared.message = std::move(message);
    prepared.done = std::move(done);
    return prepared;
}

void NatsBus::submit(std::span<Prepared> prepared) {
    std::vector<PublishCallback> closing;
    std::vector<std::pair<uint64_t, Status>> failures;
    {
        // Held from the decision to the write, so writes leave in publish order.
        std::lock_guard sending(sendMutex_);
        {
            std::lock_guard lock(pendingMutex_);
            for (auto& p : prepared) {
                if (stopping_) {
                    closing.push_back(std::move(p.done));
                } else if (!p.refusal.isOk()) {
                    refused_.emplace_back(std::move(p.done), std::move(p.refusal));
                    timerCv_.notify_one();
                } else {
                    p.sendNow = enqueue(p.token, p.message, std::move(p.done));
                }
            }
        }
        for (const auto& p : prepared) {
            if (!p.sendNow) continue;
            if (Status s = send(p.token, *p.message); !s.isOk()) failures.emplace_back(p.token, std::move(s));
        }
    }
    for (auto& done : closing)
        if (done) done(Status(Code::Unavailable, "publish: bus is closing"));
    for (auto& [token, failure] : failures) completeLater(token, std::move(failure));
}

void NatsBus::completeLater(uint64_t token, Status failure) {
    std::lock_guard lock(pendingMutex_);
    auto it = pending_.find(token);
    if (it == pending_.end()) return;
    refused_.emplace_back(std::move(it->second.done), std::move(failure));
    endFlight(it->second);
    pending_.erase(it);
    timerCv_.notify_one();
}

bool NatsBus::enqueue(uint64_t token, std::shared_ptr<const Outgoing> message, PublishCallback done) {
    const auto now = Clock::now();
    Pending& p = pending_[token];
    p.message = std::move(message);
    p.done = std::move(done);
    p.deadline = now + kPublishDeadline;
    // Earlier publishes still waiting go first.
    if (queued_.empty() && windowHasRoom()) {
        startFlight(p, now);
        return true;
    }
    p.queued = true;
    queued_.push_back(token);
    nextDue_ = std::min(nextDue_, p.deadline);
    return false;
}

bool NatsBus::windowHasRoom() const {
    return inFlight_ == 0 || (inFlight_ < kMaxInFlight && inFlightBytes_ < kMaxInFlightBytes);
}

void NatsBus::startFlight(Pending& p, Clock::time_point now) {
    p.queued = false;
    p.resendAt = now + kAckTimeout;
    ++inFlight_;
    inFlightBytes_ += p.message->dataBytes();
    nextDue_ = std::min(nextDue_, p.resendAt);
}

void NatsBus::endFlight(const Pending& p) {
    if (p.queued) return;
    --inFlight_;
    inFlightBytes_ -= p.message->dataBytes();
}

Status NatsBus::send(uint64_t token, const Outgoing& message) {
    natsMsg* raw = nullptr;
    natsStatus s = createMessage(&raw, message.subject, message.reply, message.wire, message.headerBytes);
    MsgPtr msg(raw);
    if (s == NATS_OK) s = natsConnection_PublishMsg(connection_.get(), raw);
    if (s == NATS_OK) return Status::ok();

    Status failure = natsFailure(s, "publish");
    // A message the server can never take: no point re-sending.
    if (failure.code() != Code::Unavailable) return failure;
    // Disconnected with a full reconnect buffer, or closing: keep it; the
    // timer re-sends after a reconnect or at its ack timeout.
    std::lock_guard lock(pendingMutex_);
    if (auto it = pending_.find(token); it != pending_.end()) {
        it->second.sent = false;
        it->second.lastError = failure;
    }
    return Status::ok();
}

void NatsBus::sendQueued() {
    std::vector<std::pair<uint64_t, Status>> failures;
    {
        std::lock_guard sending(sendMutex_);
        std::vector<std::pair<uint64_t, std::shared_ptr<const Outgoing>>> batch;
        {
            std::lock_guard lock(pendingMutex_);
            const auto now = Clock::now();
            while (!queued_.empty() && windowHasRoom()) {
                const uint64_t token = queued_.front();
                queued_.pop_front();
                auto it = pending_.find(token);
                if (it == pending_.end()) continue;  // expired while it waited
                startFlight(it->second, now);
                batch.emplace_back(token, it->second.message);
            }
        }
        for (const auto& [token, message] : batch) {
            if (Status s = send(token, *message); !s.isOk()) failures.emplace_back(token, s);
        }
    }
    for (auto& [token, status] : failures) complete(token, status);
}

void NatsBus::onAck(natsMsg* msg) {
    std::string_view subject = natsMsg_GetSubject(msg);
    auto token = parseUint(subject.substr(subject.rfind('.') + 1));
    if (!token) return;
    std::string_view body(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg)));

    AckReading ack = readAck(body, headerValue(msg, kHeaderStatus));
    if (ack.outcome == AckOutcome::Stored) {
        if (ack.duplicate) markDuplicate(*token);
        return complete(*token, ack.seq);
    }
    if (ack.outcome == AckOutcome::Refused) return complete(*token, std::move(ack.status));
    // Temporarily unable: leave it pending; it is re-sent at its ack timeout.
    std::lock_guard lock(pendingMutex_);
    if (auto it = pending_.find(*token); it != pending_.end()) it->second.lastError = std::move(ack.status);
}

// A duplicate answer to a publish this bus never re-sent: the log had the id from an earlier
// publish, a client's retried request (a re-send's duplicate is this publish's own first copy).
void NatsBus::markDuplicate(uint64_t token) {
    std::lock_guard lock(pendingMutex_);
    auto it = pending_.find(token);
    if (it != pending_.end() && !it->second.resent && it->second.message->duplicate)
        it->second.message->duplicate->store(true);
}

void NatsBus::complete(uint64_t token, Result<uint64_t> result) {
    PublishCallback done;
    bool waiting = false;
    {
        std::lock_guard lock(pendingMutex_);
        auto it = pending_.find(token);
        if (it == pending_.end()) return;  // already completed: a late or duplicate answer
        done = std::move(it->second.done);
        endFlight(it->second);
        pending_.erase(it);
        waiting = !queued_.empty();
    }
    if (waiting) sendQueued();  // a slot opened in the window
    if (done) done(std::move(result));
}

void NatsBus::timerLoop() {
    std::unique_lock lock(pendingMutex_);
    while (!stopping_) {
        timerCv_.wait_for(lock, kTimerTick, [&] { return stopping_ || !refused_.empty(); });
        if (stopping_) break;
        lock.unlock();
        timerTick();
        lock.lock();
    }
}

void NatsBus::timerTick() {
    std::vector<std::pair<PublishCallback, Status>> finished;
    std::vector<std::pair<uint64_t, Status>> failures;
    {
        std::lock_guard sending(sendMutex_);
        std::vector<std::pair<uint64_t, std::shared_ptr<const Outgoing>>> resend;
        {
            std::lock_guard lock(pendingMutex_);
            finished.swap(refused_);
            const auto now = Clock::now();
            const uint64_t reconnects = events_->reconnects.load();
            const bool reconnected = reconnects != seenReconnects_;
            seenReconnects_ = reconnects;
            // NATS may have come back without its data: the stream, created again, starts over.
            if (reconnected) checkEpoch();
            if (reconnected || now >= nextDue_) {
                nextDue_ = Clock::time_point::max();
                for (auto it = pending_.begin(); it != pending_.end();) {
                    Pending& p = it->second;
                    if (now >= p.deadline) {
                        finished.emplace_back(std::move(p.done), deadlineFailure(p));
                        endFlight(p);
                        it = pending_.erase(it);
                        continue;
                    }
                    if (!p.queued && (now >= p.resendAt || (reconnected && !p.sent))) {
                        p.resendAt = now + kAckTimeout;
                        p.sent = true;
                        p.resent = true;
                        resend.emplace_back(it->first, p.message);
                        ++resends_;
                    }
                    nextDue_ = std::min(nextDue_, p.queued ? p.deadline : std::min(p.resendAt, p.deadline));
                    ++it;
                }
            }
        }
        // Same message, same id: if the first copy was stored, JetStream answers "duplicate".
        std::sort(resend.begin(), resend.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [token, message] : resend) {
            if (Status s = send(token, *message); !s.isOk()) failures.emplace_back(token, s);
        }
    }
    for (auto& [callback, status] : finished) {
        if (callback) callback(status);
    }
    for (auto& [token, status] : failures) complete(token, status);
    sendQueued();  // expired publishes may have opened the window
    expireReads();
}

Status NatsBus::deadlineFailure(const Pending& p) {
    std::string why = "no acknowledgement from JetStream within " +
                      std::to_string(kPublishDeadline.count() / 1000) +
                      " s; the write may still be stored: retry with the same message id, not a new one";
    if (p.queued) why += " (never sent: too many publishes waiting)";
    if (!p.lastError.isOk()) why += "; last error: " + p.lastError.message();
    return Status(Code::Unavailable, why);
}

// ---------------------------------------------------------------------------
// Live delivery and reads.

Result<size_t> NatsBus::streamOf(const std::string& logSubject) const {
    if (!isLogSubject(config_.subject_prefix, logSubject) || !validSubject(logSubject))
        return Status(Code::InvalidArgument, "not a log subject: " + logSubject);
    auto partition = partitionOfLogSubject(config_.subject_prefix, logSubject, int(streams_.size()));
    if (!partition) return partition.status();
    return size_t(partition.value());
}

Result<std::string> NatsBus::liveSubjectFor(const std::string& logSubject) const {
    if (auto stream = streamOf(logSubject); !stream) return stream.status();
    return liveSubjectOf(config_.subject_prefix, logSubject);
}

Result<std::unique_ptr<Subscription>> NatsBus::subscribe(const std::string& subject,
                                                         DeliverCallback deliver) {
    auto live = liveSubjectFor(subject);
    if (!live) return live.status().withContext("subscribe");
    auto handler = [deliver = std::move(deliver), subject](natsMsg* msg) {
        auto entry = entryFrom(msg);
        if (!entry) {
            log::warn("nats", "dropped a live message on " + subject + ": " + entry.status().message());
            return;
        }
        entry->moreQueued = NatsSubscription::moreQueued();
        deliver(std::move(entry.value()));
    };
    // Not flushed: the SUB goes out before any later request on this connection, so the server
    // knows the interest by the time it answers a read of the log (Bus.h). When disconnected,
    // nats.c subscribes on reconnect and the gap is filled.
    auto sub = NatsSubscription::create(connection_.get(), live.value(), kLivePendingMsgs, kLivePendingBytes,
                                        std::move(handler));
    if (!sub) return sub.status();
    return std::unique_ptr<Subscription>(std::move(sub.value()));
}

Status NatsBus::publishEphemeral(const std::string& subject, std::string data) {
    natsStatus s = natsConnection_Publish(connection_.get(), subject.c_str(), data.data(), int(data.size()));
    if (s != NATS_OK)
        return Status(Code::Unavailable, std::string("publish ") + subject + ": " + natsStatus_GetText(s));
    return Status::ok();
}

Result<std::unique_ptr<Subscription>> NatsBus::subscribeEphemeral(const std::string& subject,
                                                                  EphemeralCallback receive) {
    auto handler = [receive = std::move(receive)](natsMsg* msg) {
        receive(std::string(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg))));
    };
    // Counts are small and re-sent: a modest pending limit is plenty.
    auto sub = NatsSubscription::create(connection_.get(), subject, 65536, 16 << 20, std::move(handler));
    if (!sub) return sub.status();
    return std::unique_ptr<Subscription>(std::move(sub.value()));
}

Result<LogEntry> NatsBus::directGet(const LogStream& stream, const std::string& subject, uint64_t sequence,
                                    bool last) {
    jsDirectGetMsgOptions options;
    jsDirectGetMsgOptions_Init(&options);
    if (last) {
        options.LastBySubject = subject.c_str();
    } else {
        options.Sequence = sequence;
        options.NextBySubject = subject.c_str();
    }
    natsMsg* raw = nullptr;
    logReadRequests_++;
    natsStatus s = js_DirectGetMsg(&raw, js_.get(), stream.name.c_str(), nullptr, &options);
    MsgPtr msg(raw);
    if (s == NATS_NOT_FOUND) return Status(Code::NotFound, "no message");
    if (s != NATS_OK) return natsFailure(s, "direct get from " + stream.name);
    auto entry = entryFrom(raw);
    if (entry && entry->timeNs == 0) entry->timeNs = natsMsg_GetTime(raw);
    return entry;
}

Result<uint64_t> NatsBus::lastSequence(const std::string& subject) {
    auto stream = streamOf(subject);
    if (!stream) return stream.status().withContext("lastSequence");
    auto entry = directGet(*streams_[*stream], subject, 0, true);
    if (entry) return entry->seq;
    if (entry.status().code() == Code::NotFound) return uint64_t(0);
    return entry.status().withContext("lastSequence of " + subject);
}

void NatsBus::lastSequenceAsync(const std::string& subject, SequenceCallback done) {
    Status failure;
    const uint64_t token = nextToken_.fetch_add(1);
    if (auto stream = streamOf(subject); !stream) {
        failure = stream.status().withContext("lastSequence");
    } else {
        const std::string& name = streams_[*stream]->name;
        {
            std::lock_guard lock(readsMutex_);
            pendingReads_[token] = {std::move(done), Clock::now() + std::chrono::milliseconds(kApiWaitMs)};
        }
        // The subject is valid (no quote, backslash or control byte), so it needs no escaping.
        const std::string api = "$JS.API.DIRECT.GET." + name;
        const std::string request = "{\"last_by_subj\":\"" + subject + "\"}";
        const std::string reply = inboxPrefix_ + "R." + std::to_string(token);
        natsStatus s = natsConnection_PublishRequest(connection_.get(), api.c_str(), reply.c_str(),
                                                     request.data(), int(request.size()));
        if (s == NATS_OK) return;
        failure = natsFailure(s, "direct get from " + name).withContext("lastSequence of " + subject);
        std::lock_guard lock(readsMutex_);
        auto it = pendingReads_.find(token);
        if (it == pendingReads_.end()) return;  // the timer failed it already
        done = std::move(it->second.done);
        pendingReads_.erase(it);
    }
    // Never on the caller's thread: the timer runs it.
    std::lock_guard lock(pendingMutex_);
    refused_.emplace_back(std::move(done), std::move(failure));
    timerCv_.notify_one();
}

void NatsBus::onLastSequence(natsMsg* msg) {
    std::string_view subject = natsMsg_GetSubject(msg);
    auto token = parseUint(subject.substr(subject.rfind('.') + 1));
    if (!token) return;
    SequenceCallback done;
    {
        std::lock_guard lock(readsMutex_);
        auto it = pendingReads_.find(*token);
        if (it == pendingReads_.end()) return;  // answered after its deadline
        done = std::move(it->second.done);
        pendingReads_.erase(it);
    }
    const char* status = header(msg, kHeaderStatus);
    if (status != nullptr && natsMsg_GetDataLength(msg) == 0) {
        if (std::string_view(status) == "404") return done(uint64_t(0));  // nothing stored for the subject
        return done(Status(Code::Unavailable,
                           std::string("direct get from the log: JetStream answered status ") + status));
    }
    auto entry = entryFrom(msg);
    if (!entry) return done(entry.status().withContext("lastSequence"));
    done(entry->seq);
}

void NatsBus::expireReads() {
    std::vector<SequenceCallback> expired;
    {
        std::lock_guard lock(readsMutex_);
        const auto now = Clock::now();
        for (auto it = pendingReads_.begin(); it != pendingReads_.end();) {
            if (now < it->second.deadline) {
                ++it;
                continue;
            }
            expired.push_back(std::move(it->second.done));
            it = pendingReads_.erase(it);
        }
    }
    for (auto& done : expired)
        done(Status(Code::Timeout,
                    "direct get from the log: no answer within " + std::to_string(kApiWaitMs / 1000) + " s"));
}

Result<uint64_t> NatsBus::nextSequence(const std::string& subject, uint64_t after) {
    auto stream = streamOf(subject);
    if (!stream) return stream.status().withContext("nextSequence");
    logReadRequests_++;
    auto seq = leaderNextSequence(connection_.get(), streams_[*stream]->name, after + 1, subject, kApiWaitMs);
    if (!seq) return seq.status().withContext("nextSequence of " + subject);
    return seq;
}

Result<uint64_t> NatsBus::firstSequence(const std::string& subject) {
    auto stream = streamOf(subject);
    if (!stream) return stream.status().withContext("firstSequence");
    auto entry = directGet(*streams_[*stream], subject, 1, false);
    if (entry) return entry->seq;
    if (entry.status().code() == Code::NotFound) return uint64_t(0);
    return entry.status().withContext("firstSequence of " + subject);
}

// A read asks JetStream and never subscribes to the log: a consumer was faster (2,000 entries in
// 22-35 ms against 0.3-0.8 ms an entry one at a time) but a large room's history pushed through
// one overran the server's pending limit for the node, which cut the connection, mid-read, every
// time. On 2.11 and newer a request asks for a batch of entries (DirectBatch.h), at most
// kDirectBatchMessages entries and about kDirectBatchBytes bytes: the server sends no more than
// that per request, and the next batch is asked for only once this one has ended.
Result<std::vector<LogEntry>> NatsBus::read(const std::string& subject, uint64_t after, size_t limit) {
    auto stream = streamOf(subject);
    if (!stream) return stream.status().withContext("read");
    const LogStream& log = *streams_[*stream];
    if (limit > 0 && batchReads()) return readBatched(log, subject, after, limit);
    return readEach(log, subject, after, limit);
}

bool NatsBus::batchReads() {
    if (!config_.batch_reads) return false;
    std::lock_guard lock(versionMutex_);
    const uint64_t now = reconnects();
    if (versionCheckedAt_ == now) return batchReads_;
    auto version = probeServerVersion(connectedUrl());
    // Unknown: one entry per request, which every server answers.
    batchReads_ = version && version->atLeast(2, 11);
    versionCheckedAt_ = now;
    return batchReads_;
}

// Direct gets, one per entry: each is a request and its answer.
Result<std::vector<LogEntry>> NatsBus::readEach(const LogStream& log, const std::string& subject,
                                                uint64_t after, size_t limit) {
    std::vector<LogEntry> entries;
    uint64_t next = after + 1;
    auto deadline = std::chrono::steady_clock::now() + kReadDeadline;
    while (entries.size() < limit) {
        auto entry = directGet(log, subject, next, false);
        if (!entry) {
            if (entry.status().code() == Code::NotFound) return entries;  // nothing after `next`
            bool transient =
                entry.status().code() == Code::Timeout || entry.status().code() == Code::Unavailable;
            if (!transient || std::chrono::steady_clock::now() >= deadline)
                return entry.status().withContext("read " + subject);
            std::this_thread::sleep_for(std::chrono::milliseconds(200));  // reconnecting: ask again
            continue;
        }
        // Next-by-subject skips other subjects, so the previous entry is this one's predecessor.
        if (!entries.empty()) {
            entry->prevSeq = entries.back().seq;
            entry->prevKnown = true;
        }
        next = entry->seq + 1;
        entries.push_back(std::move(entry.value()));
    }
    return entries;
}

Result<std::vector<LogEntry>> NatsBus::readBatched(const LogStream& log, const std::string& subject,
                                                   uint64_t after, size_t limit) {
    DirectBatchRead reading(after, limit);
    auto deadline = std::chrono::steady_clock::now() + kReadDeadline;
    while (!reading.full()) {
        auto more = askBatch(log, subject, reading);
        if (!more) {
            bool transient =
                more.status().code() == Code::Timeout || more.status().code() == Code::Unavailable;
            if (!transient || std::chrono::steady_clock::now() >= deadline)
                return more.status().withContext("read " + subject);
            // Reconnecting, or the answer was lost: ask again from the last entry got.
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        if (!more.value()) break;
    }
    return reading.take();
}

Result<bool> NatsBus::askBatch(const LogStream& log, const std::string& subject, DirectBatchRead& reading) {
    logReadRequests_++;
    return askDirectBatch(connection_.get(), log.name, reading.nextSeq(), subject, reading.nextBatch(),
                          kApiWaitMs, [&](natsMsg* msg) {
                              auto entry = entryFrom(msg);
                              if (!entry) return entry.status();
                              reading.add(std::move(entry.value()));
                              return Status::ok();
                          });
}

Status NatsBus::ready() {
    if (natsConnection_Status(connection_.get()) != NATS_CONN_STATUS_CONNECTED) {
        return Status(Code::Unavailable, "not connected to NATS");
    }
    std::lock_guard lock(readyMutex_);
    const auto now = Clock::now();
    if (readyCheckedAt_ != Clock::time_point{} && now - readyCheckedAt_ < kReadyCacheFor) return readyStatus_;
    readyStatus_ = Status::ok();
    for (const auto& stream : streams_) {
        jsErrCode jerr = jsErrCode(0);
        StreamInfoPtr info;
        natsStatus s = streamInfo(*stream, info, jerr);
        if (s == NATS_OK) continue;
        readyStatus_ = natsFailure(s, "JetStream stream " + stream->name, jerr);
        if (readyStatus_.code() != Code::Unavailable && readyStatus_.code() != Code::Timeout)
            readyStatus_ = Status(Code::Unavailable, readyStatus_.message());
        break;
    }
    readyCheckedAt_ = now;
    return readyStatus_;
}

Result<std::shared_ptr<KeyValue>> NatsBus::openKeyValue(const KeyValueConfig& config) {
    KeyValueConfig bucket = config;
    if (bucket.republish.empty())
        bucket.republish = bucketChangesSubject(config_.subject_prefix, config.bucket);
    auto kv = NatsKeyValue::open(connection_.get(), bucket,
                                 {[this] { return reconnects(); }, [this] { return batchReads(); }});
    if (!kv) return kv.status();
    return std::shared_ptr<KeyValue>(std::move(kv.value()));
}

}  // namespace partyline
