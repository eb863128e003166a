#include "rooms/Shard.h"

#include <algorithm>

#include "core/Log.h"
#include "net/Sender.h"
#include "rooms/ClientFrames.h"
#include "rooms/RoomEvents.h"

namespace partyline {
namespace {

// How long a shard waits before it asks the log again after NATS failed it.
constexpr std::chrono::milliseconds kLogRetry{250};
// A replay that is half a send buffer ahead of the client's socket waits this long.
constexpr std::chrono::milliseconds kReplayPause{5};
// Entries read from the log per step of a replay.
constexpr size_t kReplayBatch = 64;
// Entries read from the log per request while closing a gap.
constexpr size_t kGapReadBatch = 256;
// Up to this many connections, a delivery writes to the sockets itself (Client::sendNow): a few
// non-blocking writes cost less than waking the Sender; more would hold the strand and lose the
// Sender's batching of several frames per write.
constexpr size_t kWriteNowConnections = 16;
// A burst of live writes to such a room (more already queued behind the one delivered) holds its
// frames back until its last write, so each socket gets one write for the burst, but never more
// than this many deliveries or bytes: the client's send buffer must not fill with what is held.
constexpr size_t kMaxCorked = 32;
constexpr size_t kMaxCorkedBytes = 64 * 1024;

bool excluded(const LogEntry& entry, const std::string& id) {
    for (const auto& e : entry.exclude)
        if (e == id) return true;
    return false;
}

}  // namespace

std::shared_ptr<Shard> Shard::create(ShardContext& context, const Party& party, std::string roomId,
                                     RoomSubjects subjects) {
    std::shared_ptr<Shard> shard(new Shard(context, party, std::move(roomId), std::move(subjects)));
    // Their bus and timer callbacks keep the shard alive until the task they post has run.
    shard->handlers_.setOwner(shard);
    shard->presence_.setOwner(shard);
    // Strand: the view's changes, coalesced, for the script's onPresence.
    shard->presence_.setListener(
        [raw = shard.get()](PresenceChange change) {
            if (!raw->stopped_) raw->handlers_.callOnPresence(std::move(change));
        },
        [raw = shard.get()] { return raw->handlers_.hasOnPresence(); });
    shard->strand_->post([shard] { shard->start(); });
    return shard;
}

Shard::Shard(ShardContext& context, const Party& party, std::string roomId, RoomSubjects subjects)
    : context_(context),
      partyName_(party.name()),
      roomId_(std::move(roomId)),
      subjects_(std::move(subjects)),
      env_(party.env()),
      storage_(party.storage() ? context.storage : nullptr),
      fetchAllow_(party.fetchAllow()),
      strand_(context.executor.makeStrand()),
      handlers_(context, *this, *strand_, party.script()),
      presence_(context, *strand_, subjects_.presence, party.presenceCounts()) {
    touch();
}

Shard::~Shard() {
    context_.waitingWrites -= int64_t(pending_.size());  // never delivered now
    // The log subscription goes before the Lua state it would call into.
    subscription_.reset();
}

bool Shard::waitUntilReady(std::chrono::milliseconds timeout) const {
    return ready_.wait_for(timeout) == std::future_status::ready;
}

bool Shard::idleFor(std::chrono::seconds idle) const {
    if (connectionCount_.load() > 0) return false;
    return Clock::now() - Clock::time_point(Clock::duration(lastActive_.load())) >= idle;
}

// ---- start -----------------------------------------------------------------

void Shard::start() {
    presence_.start();
    subscribe();
    readLogPosition();
    handlers_.load();
}

void Shard::subscribe() {
    if (stopped_ || subscription_) return;
    std::weak_ptr<Shard> weak = weak_from_this();
    // NATS delivery thread: delivers here when the strand is idle, else posts.
    auto sub = context_.bus.subscribe(subjects_.log, [weak](LogEntry entry) {
        auto self = weak.lock();
        if (!self || self->strand_->tryRun([&] { self->handleLiveNow(entry); })) return;
        self->handleLiveLater(std::move(entry));
    });
    if (!sub) {
        log::warn("shard", "cannot subscribe: " + sub.status().message(), {{"room", logName()}});
        return;
    }
    subscription_ = std::move(sub.value());
}

// The subscription exists before the position is asked for, so no write can fall
// between the two: anything already stored is skipped as a duplicate. The
// question goes out without waiting (no executor thread sits through a NATS
// round trip per new room); the answer comes back through the strand.
void Shard::readLogPosition() {
    if (stopped_ || logReady_ || positionAsked_) return;
    if (!subscription_) return scheduleRetry(&Shard::start);
    positionAsked_ = true;
    // The generation first: a position read after it belongs to it or to a later one, which the
    // next check then finds (a position of an older one would pass for the newer's).
    std::string epoch = context_.bus.epoch(subjects_.log);
    std::weak_ptr<Shard> weak = weak_from_this();
    context_.bus.lastSequenceAsync(subjects_.log, [weak, epoch](Result<uint64_t> last) {
        if (auto self = weak.lock())
            self->strand_->post([self, epoch, last = std::move(last)]() mutable {
                self->handleLogPosition(std::move(last), epoch);
            });
    });
}

void Shard::handleLogPosition(Result<uint64_t> last, const std::string& epoch) {
    positionAsked_ = false;
    if (stopped_ || logReady_) return;
    if (!last) {
        log::warn("shard", "cannot read the log: " + last.status().message(), {{"room", logName()}});
        return scheduleRetry(&Shard::start);
    }
    epoch_ = epoch;
    lastDelivered_ = last.value();
    logReady_ = true;
    readyPromise_.set_value();
    deliverPending();
}

void Shard::scheduleRetry(void (Shard::*what)()) {
    if (retryScheduled_ || stopped_) return;
    retryScheduled_ = true;
    std::weak_ptr<Shard> weak = weak_from_this();
    context_.timer.after(kLogRetry, [weak, what] {
        if (auto self = weak.lock())
            self->strand_->post([self, what] {
                self->retryScheduled_ = false;
                ((*self).*what)();
            });
    });
}

void Shard::heartbeat() {
    strand_->post([self = shared_from_this()] {
        // A burst whose last message nats.c dropped or could not be read ends here at the latest.
        self->flushCork();
        self->presence_.heartbeat();
        self->followEpoch();
    });
}

void Shard::followEpoch() {
    if (stopped_ || !logReady_) return;
    std::string now = context_.bus.epoch(subjects_.log);
    if (now != epoch_) beginAgain(std::move(now));
}

// The stream was created again: the sequences this shard and its clients know name writes that
// are gone. Every partyline.v1 client is told so (a truncation with the new epoch), then the new
// log's writes are delivered from its start.
void Shard::beginAgain(std::string epoch) {
    log::warn("shard",
              "the room's log began again (epoch " + epoch_ + " -> " + epoch + "); writes up to " +
                  std::to_string(lastDelivered_) + " are gone",
              {{"room", logName()}});
    const uint64_t before = lastDelivered_;
    epoch_ = std::move(epoch);
    lastDelivered_ = 0;
    context_.waitingWrites -= int64_t(pending_.size());  // the catch-up below reads them again
    pending_.clear();
    // A replay was reading the old log: its client reconnects and is told then.
    for (auto& [id, job] : replays_) {
        job->client->close(1012, "the room's log began again; reconnect");
        connectionCount_--;
    }
    replays_.clear();
    auto first = context_.bus.nextSequence(subjects_.log, 0);
    const uint64_t firstSeq = first ? first.value() : 0;
    FramePtr notice = truncatedFrame(before, firstSeq, epoch_);
    FramePtr muxNotice = truncatedFrame(before, firstSeq, epoch_, logName());
    for (auto& [id, conn] : connections_) {
        conn.after = 0;
        if (conn.client->multiplexed())
            conn.client->send(muxNotice);
        else if (conn.client->versioned())
            conn.client->send(notice);
    }
    catchUpNow();
}

void Shard::presenceCounts(std::function<void(std::map<std::string, size_t>)> answer) {
    strand_->post([self = shared_from_this(), answer = std::move(answer)]() mutable {
        self->presence_.countSnapshot(std::move(answer));
    });
}

void Shard::presenceSnapshot(std::function<void(std::vector<PresenceEntry>)> answer) {
    strand_->post([self = shared_from_this(), answer = std::move(answer)]() mutable {
        self->presence_.snapshot(std::move(answer));
    });
}

void Shard::catchUp() {
    strand_->post([self = shared_from_this()] { self->catchUpNow(); });
}

void Shard::catchUpNow() {
    if (stopped_ || !logReady_) return;
    auto last = context_.bus.lastSequence(subjects_.log);
    if (!last) return scheduleRetry(&Shard::catchUpNow);
    if (last.value() > lastDelivered_ && !fillGap(last.value())) return scheduleRetry(&Shard::catchUpNow);
    deliverPending();
}

void Shard::reload(std::shared_ptr<const Script> script) {
    strand_->post([self = shared_from_this(), script = std::move(script)]() mutable {
        if (!self->stopped_) self->handlers_.reload(std::move(script));
    });
}

// ---- the log, coming back --------------------------------------------------

// The next write of the log, with nothing waiting before it, goes to the connections at once, on
// the bus thread that received it (one thread hand-off less per write). Anything else may read
// the log or run Lua, which a bus thread must not do: it takes the strand's usual path.
void Shard::handleLiveNow(LogEntry& entry) {
    const bool next = logReady_ && pending_.empty() && entry.seq > lastDelivered_ &&
                      !(entry.prevKnown && entry.prevSeq > lastDelivered_);
    if (!next || handlers_.hasOnWrite()) return handleLiveLater(std::move(entry));
    context_.writesIn++;
    deliver(entry);
}

void Shard::handleLiveLater(LogEntry entry) {
    context_.waitingWrites++;  // until deliverPending() takes it off pending_
    strand_->post([self = shared_from_this(), entry = std::move(entry)]() mutable {
        self->handleLive(std::move(entry));
    });
}

void Shard::handleLive(LogEntry entry) {
    context_.writesIn++;
    const bool more = entry.moreQueued;
    pending_.push_back(std::move(entry));
    deliverPending();
    // The burst's last write may not have been delivered (a duplicate, a gap still open).
    if (!more) flushCork();
}

void Shard::deliverPending() {
    if (!logReady_) return readLogPosition();
    while (!pending_.empty()) {
        LogEntry& entry = pending_.front();
        if (entry.seq > lastDelivered_) {
            if (entry.prevKnown && entry.prevSeq > lastDelivered_ && !fillGap(entry.prevSeq)) {
                // The log is out of reach: keep the order, try again soon.
                return scheduleRetry(&Shard::deliverPending);
            }
            deliver(entry);
        } else {
            // A duplicate, or the first writes of a log that began again: the bus finds out which.
            context_.bus.checkEpoch();
        }
        pending_.pop_front();
        context_.waitingWrites--;
    }
}

// Reads every write after lastDelivered_ up to and including `upTo` from the log.
bool Shard::fillGap(uint64_t upTo) {
    while (lastDelivered_ < upTo) {
        // Through upTo: a replica that lags must not pass for retention.
        auto entries = readThrough(context_.bus, subjects_.log, lastDelivered_, upTo, kGapReadBatch);
        if (!entries) {
            log::warn(
                "shard",
                "gap after " + std::to_string(lastDelivered_) + " not filled: " + entries.status().message(),
                {{"room", logName()}});
            return false;
        }
        if (entries->empty()) {
            // Retention dropped the missing writes: nothing left to deliver before upTo.
            log::warn("shard",
                      "writes " + std::to_string(lastDelivered_ + 1) + ".." + std::to_string(upTo) +
                          " are no longer in the log",
                      {{"room", logName()}});
            lastDelivered_ = upTo;
            return true;
        }
        for (const auto& e : entries.value()) {
            if (e.seq > upTo) break;
            context_.gapsFilled++;
            deliver(e);
        }
        if (entries->back().seq >= upTo) break;
    }
    return true;
}

FramePtr Shard::frameOf(const Client& client, const LogEntry& entry) const {
    return client.multiplexed() ? muxWriteFrame(entry, logName()) : writeFrameFor(client, entry);
}

void Shard::deliver(const LogEntry& entry) {
    lastDelivered_ = entry.seq;
    touch();
    // From the publisher's clock: this machine, or another one to NTP's accuracy in a cluster.
    if (int64_t published = entry.publishedNs ? entry.publishedNs : entry.timeNs; published > 0)
        context_.deliverySeconds.observe(std::chrono::system_clock::now().time_since_epoch() -
                                         std::chrono::nanoseconds(published));
    FramePtr raw, versioned, mux;  // one per shape, encoded for its first recipient
    uint64_t sent = 0;
    // A write to a few connections is written to their sockets on this thread, saving the
    // Sender's wake-up; a big room's fan-out goes to the Sender, which batches frames per socket,
    // woken once for all of them when `batch` is flushed (below, or on leaving).
    const bool writeNow = connections_.size() <= kWriteNowConnections;
    const bool hold = writeNow && entry.moreQueued && corked_ < kMaxCorked && corkedBytes_ < kMaxCorkedBytes;
    net::SendBatch batch;
    if (fanoutStale_) {
        fanout_.clear();
        for (auto& item : connections_) fanout_.push_back(&item);
        fanoutStale_ = false;
    }
    for (auto* item : fanout_) {
        const std::string& id = item->first;
        Connection& conn = item->second;
        if (entry.seq <= conn.after) continue;  // it reached this client by replay, or the client had it
        if (!entry.exclude.empty() && excluded(entry, id)) continue;
        const Client& client = *conn.client;
        FramePtr& frame = client.multiplexed() ? mux : client.versioned() ? versioned : raw;
        if (!frame) frame = frameOf(client, entry);
        if (hold)
            conn.client->send(frame, cork_);
        else if (writeNow)
            conn.client->sendNow(frame);  // behind what cork_ holds for the client, if anything
        else
            conn.client->send(frame, batch);
        ++sent;
    }
    batch.flush();  // before the script's onWrite, which may take its time
    if (hold && sent > 0) {
        ++corked_;
        for (const FramePtr* frame : {&raw, &versioned, &mux})
            if (*frame) corkedBytes_ += (*frame)->size();
    }
    if (!hold) flushCork();
    context_.deliveries += sent;
    handlers_.callOnWrite(entry);
}

void Shard::flushCork() {
    cork_.flushHere();
    corked_ = 0;
    corkedBytes_ = 0;
}

// ---- events from the network -----------------------------------------------

void Shard::connect(std::shared_ptr<Client> client, HttpRequest request, std::optional<uint64_t> since,
                    std::string epoch) {
    connectionCount_++;
    touch();
    strand_->post([self = shared_from_this(), client = std::move(client), request = std::move(request), since,
                   epoch = std::move(epoch)]() mutable {
        if (self->stopped_ || !self->handlers_.canRun()) {
            client->close(1011, self->stopped_ ? "room is stopping" : "room script failed to load");
            self->connectionCount_--;
            return;
        }
        client->admitted();
        self->followEpoch();
        if (since && !epoch.empty() && epoch != self->epoch_) {
            // Its sequences are of an older log: everything it had is gone, and it gets all there is.
            auto first = self->context_.bus.nextSequence(self->subjects_.log, 0);
            if (!first) return self->failReplay(client, first.status());
            if (client->versioned() || client->multiplexed())
                client->send(truncatedFrame(*since, first.value(), self->epoch_,
                                            client->multiplexed() ? self->logName() : ""));
            since = 0;
        }
        if (since && *since < self->lastDelivered_)
            return self->startReplay(client, std::move(request), *since);
        // Nothing to replay; a client ahead of this shard skips what it saw.
        self->join(client, std::move(request), since.value_or(0));
    });
}

void Shard::join(const std::shared_ptr<Client>& client, HttpRequest request, uint64_t after) {
    const std::string id = client->id();
    // Same connection id twice: the newer one proved it is the same client (ConnectionIds), so it
    // wins, as a reconnecting client expects; the older one may still be replaying.
    auto old = connections_.find(id);
    if (old != connections_.end()) {
        old->second.client->close(1000, "replaced by a new connection with the same id");
        connections_.erase(old);
        fanoutStale_ = true;
        connectionCount_--;
    }
    if (auto replay = replays_.find(id); replay != replays_.end() && replay->second->client != client) {
        replay->second->client->close(1000, "replaced by a new connection with the same id");
        replays_.erase(replay);
        connectionCount_--;
    }
    connections_.emplace(id, Connection{client, after, request.remoteAddr});
    fanoutStale_ = true;
    presence_.localJoined(id);
    postConnectionEvent(context_, net::WebhookEventKind::Connect, partyName_, roomId_, *client);
    handlers_.callOnConnect(id, std::move(request));
}

// ---- replay ------------------------------------------------------------------

void Shard::startReplay(const std::shared_ptr<Client>& client, HttpRequest request, uint64_t since) {
    auto holds = logHolds(context_.bus, subjects_.log, since);
    if (!holds) return failReplay(client, holds.status());
    if (!holds.value() && (client->versioned() || client->multiplexed())) {
        auto first = context_.bus.nextSequence(subjects_.log, since);
        const uint64_t firstSeq = first ? first.value() : 0;
        client->send(truncatedFrame(since, firstSeq, {}, client->multiplexed() ? logName() : ""));
    }
    auto job = std::make_shared<Replay>(Replay{client, std::move(request), since});
    if (auto old = replays_.find(client->id()); old != replays_.end()) {
        old->second->client->close(1000, "replaced by a new connection with the same id");
        connectionCount_--;
    }
    replays_[client->id()] = job;
    continueReplay(job);
}

void Shard::failReplay(const std::shared_ptr<Client>& client, const Status& why) {
    log::warn("shard", "replay failed: " + why.message(), {{"room", logName()}});
    client->close(1013, "the room's log cannot be read now; reconnect with the same since");
    connectionCount_--;
}

// Sends the client the log between its `since` and what this shard delivered,
// a batch at a time, never more than half its send buffer ahead of the
// socket; then it joins the live fan-out exactly where the replay ended.
void Shard::continueReplay(const std::shared_ptr<Replay>& job) {
    const std::string& id = job->client->id();
    if (auto it = replays_.find(id); it == replays_.end() || it->second != job) return;  // replaced or gone
    if (stopped_ || job->client->closed()) {
        replays_.erase(id);
        connectionCount_--;
        return;
    }
    while (job->next < lastDelivered_) {
        // Through lastDelivered_: a replica that lags must not end the replay short of it.
        auto entries = readThrough(context_.bus, subjects_.log, job->next, lastDelivered_, kReplayBatch);
        if (!entries) {
            replays_.erase(id);
            return failReplay(job->client, entries.status());
        }
        if (entries->empty()) break;
        for (const auto& e : entries.value()) {
            if (e.seq > lastDelivered_) break;  // the live fan-out brings it
            if (job->client->queuedBytes() > context_.limits.send_buffer_bytes / 2) {
                std::weak_ptr<Shard> weak = weak_from_this();
                context_.timer.after(kReplayPause, [weak, job] {
                    if (auto self = weak.lock())
                        self->strand_->post([self, job] { self->continueReplay(job); });
                });
                return;
            }
            if (e.exclude.empty() || !excluded(e, id)) job->client->send(frameOf(*job->client, e));
            job->next = e.seq;
        }
        if (entries->back().seq >= lastDelivered_) break;
    }
    std::shared_ptr<Replay> done = job;
    replays_.erase(id);
    join(done->client, std::move(done->request), lastDelivered_);
}

void Shard::receive(std::shared_ptr<Client> client, std::string payload, bool binary) {
    touch();
    strand_->post([self = shared_from_this(), client = std::move(client), payload = std::move(payload),
                   binary]() mutable {
        auto it = self->connections_.find(client->id());
        if (it == self->connections_.end() || it->second.client != client) return;
        self->handlers_.callOnMessage(client->id(), std::move(payload), binary);
    });
}

void Shard::disconnect(std::shared_ptr<Client> client, uint16_t code, std::string reason) {
    touch();
    strand_->post(
        [self = shared_from_this(), client = std::move(client), code, reason = std::move(reason)]() mutable {
            auto it = self->connections_.find(client->id());
            if (it == self->connections_.end() || it->second.client != client) {
                auto replay = self->replays_.find(client->id());
                if (replay != self->replays_.end() && replay->second->client == client) {
                    self->replays_.erase(replay);  // gone before it joined
                    self->connectionCount_--;
                }
                return;
            }
            self->connections_.erase(it);
            self->fanoutStale_ = true;
            self->connectionCount_--;
            self->touch();
            self->presence_.localLeft(client->id());
            postConnectionEvent(self->context_, net::WebhookEventKind::Close, self->partyName_, self->roomId_,
                                *client, code, reason);
            self->handlers_.callOnClose(client->id(), code, std::move(reason));
        });
}

void Shard::request(HttpRequest request, Respond respond) {
    touch();
    strand_->post(
        [self = shared_from_this(), request = std::move(request), respond = std::move(respond)]() mutable {
            self->handlers_.callOnRequest(std::move(request), std::move(respond));
        });
}

void Shard::beforeConnect(HttpRequest request, std::function<void(std::optional<HttpResponse>)> decide) {
    // Without onBeforeConnect there is nothing to decide: no trip through the strand.
    if (handlers_.admitsAll()) return decide(std::nullopt);
    strand_->post(
        [self = shared_from_this(), request = std::move(request), decide = std::move(decide)]() mutable {
            self->handlers_.callOnBeforeConnect(std::move(request), std::move(decide));
        });
}

void Shard::runAlarm(std::function<void(bool taken)> done) {
    touch();
    strand_->post([self = shared_from_this(), done = std::move(done)]() mutable {
        if (self->stopped_) return done(false);
        self->handlers_.callOnAlarm(std::move(done));
    });
}

void Shard::stop() {
    strand_->post([self = shared_from_this()] {
        if (self->stopped_) return;
        self->stopped_ = true;
        self->subscription_.reset();
        self->flushCork();
        self->presence_.stop();
        self->closeAll(1001, "room closed");
    });
}

void Shard::closeAll(uint16_t code, std::string_view reason) {
    for (auto& [id, conn] : connections_) conn.client->close(code, reason);
}

Client* Shard::client(const std::string& id) const {
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.client.get();
}

// ---- room:broadcast ----------------------------------------------------------

void Shard::publish(std::string data, PublishOptions options) {
    if (Status allowed = chargeWrite(data.size()); !allowed) {
        // Answered as the log's answers are: later, on the strand.
        strand_->post([self = shared_from_this(), allowed] { self->handlers_.resumeAfterPublish(allowed); });
        return;
    }
    context_.publishes++;
    options.msgId = context_.nodeId + "-" + std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" +
                    std::to_string(++publishCounter_);
    std::weak_ptr<Shard> weak = weak_from_this();
    // Bus thread: post the answer back to the strand. The context outlives the shard, not the bus.
    auto done = [weak, start = Clock::now()](Result<uint64_t> result) {
        auto self = weak.lock();
        if (!self) return;
        self->context_.publishSeconds.observe(Clock::now() - start);
        self->strand_->post([self, result = std::move(result)]() mutable {
            self->handlers_.resumeAfterPublish(std::move(result));
        });
    };
    context_.bus.publish(subjects_.log, std::move(data), std::move(options), std::move(done));
}

// A write that a connection's message makes is charged to the connection's address
// (limits.max_write_bytes_per_second_per_ip). Past the rate the write is refused and, as past the
// message rate, the connection is closed 1008: its client sends faster than its limit allows.
Status Shard::chargeWrite(size_t bytes) {
    if (!context_.writeRate) return Status::ok();
    auto it = connections_.find(handlers_.messageFrom());
    if (it == connections_.end() || it->second.address.empty()) return Status::ok();
    if (context_.writeRate->charge(it->second.address, bytes) == net::WriteRateLimit::Clock::duration::zero())
        return Status::ok();
    const std::string why = "write rate over limits.max_write_bytes_per_second_per_ip (" +
                            std::to_string(context_.writeRate->bytesPerSecond()) + " bytes/s)";
    log::warn("shard", why + ": closing connection", {{"room", logName()}, {"conn", it->first}});
    it->second.client->close(1008, why);
    return Status(Code::ResourceExhausted, why);
}

// ---- room:history ------------------------------------------------------------

// Log reads block, so they run on a blocking thread (the pool of room.storage),
// not on the shard's strand nor on the few executor threads every room shares:
// deliveries to connections go on meanwhile. The handler that asked waits, as
// for a publish, and is resumed on the strand with the page.
void Shard::readHistory(uint64_t since, size_t limit) {
    std::weak_ptr<Shard> weak = weak_from_this();
    Executor& pool = context_.blocking ? *context_.blocking : context_.executor;
    // The read holds no reference to the shard: a room that closes meanwhile is not kept.
    // The page budget of the history endpoint, and at most half the memory cap: a page the script
    // could not hold is not worth reading.
    const size_t maxBytes =
        std::min(context_.limits.max_history_page_bytes, context_.limits.lua_memory_bytes / 2);
    pool.makeStrand()->post([weak, &bus = context_.bus, subject = subjects_.log, since, limit, maxBytes] {
        auto page = HistoryReader::readAll(bus, subject, since, limit, maxBytes);
        if (auto self = weak.lock())
            self->strand_->post([self, page = std::move(page)]() mutable {
                self->handlers_.resumeAfterRead(std::move(page));
            });
    });
}

}  // namespace partyline
