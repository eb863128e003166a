#include "rooms/AlarmScheduler.h"

#include <tuple>

#include "bus/Subject.h"
#include "core/Log.h"
#include "rooms/BlockingCall.h"

namespace partyline {
namespace {

KeyValue::Clock::time_point deadline() {
    return KeyValue::Clock::now() + BlockingCall::kDeadline;
}

// A claim NATS does not answer quickly is given up and tried again later: a
// waiting claim holds one of the blocking threads that room.storage needs.
constexpr auto kClaimDeadline = std::chrono::seconds(2);
// Alarms one node works on at once (claims, onAlarm, clearing): a burst of
// due alarms queues here, not in front of the rooms' storage calls.
constexpr size_t kMaxBusy = 64;

}  // namespace

Result<std::shared_ptr<AlarmScheduler>> AlarmScheduler::start(ShardContext& context, RoomRegistry& rooms,
                                                              Timing timing) {
    if (!context.alarms || !context.blocking)
        return Status(Code::InvalidArgument, "alarms need an alarm bucket and a blocking executor");
    std::shared_ptr<AlarmScheduler> self(new AlarmScheduler(context, rooms, timing));
    // The watch is gone (stop) before the scheduler is.
    auto watch =
        context.alarms->watch([raw = self.get()](KvChange change) { raw->onChange(std::move(change)); });
    if (!watch) return watch.status().withContext("watch alarms");
    std::lock_guard lock(self->mutex_);
    self->watch_ = std::move(watch.value());
    self->timer_ = context.timer.after(timing.tick, [raw = self.get()] { raw->tick(); });
    return self;
}

// Stopped already, unless start() failed half-way.
AlarmScheduler::~AlarmScheduler() {
    stop();
}

void AlarmScheduler::stop() {
    uint64_t timer = 0;
    std::unique_ptr<Subscription> watch;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
        timer = timer_;
        watch = std::move(watch_);
    }
    if (timer) context_.timer.cancel(timer);
    watch.reset();  // outside the lock: a callback that is running takes it
}

void AlarmScheduler::forget(const std::string& key) {
    auto it = known_.find(key);
    if (it == known_.end()) return;
    byWake_.erase({it->second.record.wakeMs(), key});
    known_.erase(it);
}

void AlarmScheduler::onChange(KvChange change) {
    std::lock_guard lock(mutex_);
    if (change.kind == KvChange::Kind::Reset) {
        known_.clear();
        byWake_.clear();
        return;
    }
    const std::string& key = change.entry.key;
    forget(key);
    if (change.kind == KvChange::Kind::Delete) return;
    Known known;
    auto record = AlarmRecord::parse(change.entry.value);
    auto room = roomOfKeyPrefix(key);
    if (!record || !room) {
        log::warn("alarms", "ignored key " + key + " of the alarm bucket: not an alarm");
        return;
    }
    std::tie(known.party, known.room) = std::move(room.value());
    known.record = std::move(*record);
    known.revision = change.entry.revision;
    byWake_.emplace(known.record.wakeMs(), key);
    known_.emplace(key, std::move(known));
}

// Posts the claims under the lock, as release() arms its timer: once this
// tick has set the next one, stop() cancels that and does not wait for this
// tick, so after the lock is released this tick must not touch the scheduler.
void AlarmScheduler::tick() {
    const int64_t now = unixMillis();
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    for (auto it = byWake_.begin(); it != byWake_.end() && it->first <= now && busy_.size() < kMaxBusy;
         ++it) {
        const std::string& key = it->second;
        if (busy_.count(key)) continue;
        const Known& known = known_.at(key);
        // Pending, this node has no shard of the room: leave it to a node that has one, for a while.
        if (!known.record.claimed() && known.record.dueMs + timing_.grace.count() > now &&
            !rooms_.find(known.party, known.room))
            continue;
        busy_.insert(key);
        onBlocking([key, known](AlarmScheduler& self) { self.claim(key, known); });
    }
    timer_ = context_.timer.after(timing_.tick, [this] { tick(); });
}

void AlarmScheduler::onBlocking(std::function<void(AlarmScheduler&)> task) {
    std::weak_ptr<AlarmScheduler> weak = weak_from_this();
    context_.blocking->makeStrand()->post([weak, task = std::move(task)] {
        if (auto self = weak.lock()) task(*self);
    });
}

void AlarmScheduler::claim(const std::string& key, const Known& known) {
    AlarmRecord claimed = known.record;
    claimed.leaseUntilMs = unixMillis() + timing_.lease.count();
    claimed.node = context_.nodeId;
    auto revision =
        context_.alarms->put(key, claimed.text(), known.revision, KeyValue::Clock::now() + kClaimDeadline);
    if (revision) return run(key, known, revision.value());
    // A conflict: another node claimed it, or the room changed its alarm; the watch tells which.
    const bool conflict = revision.status().code() == Code::Conflict;
    if (!conflict)
        log::warn("alarms", "cannot claim the alarm of room " + known.party + "/" + known.room + ": " +
                                revision.status().message());
    release(key, !conflict);
}

void AlarmScheduler::run(const std::string& key, const Known& known, uint64_t claimRevision) {
    Result<std::shared_ptr<Shard>> shard = Status(Code::Internal, "stopping");
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;  // the claim runs out, and some node takes the alarm over
        shard = rooms_.shard(known.party, known.room);
    }
    if (!shard) {
        log::error("alarms", "alarm of room " + known.party + "/" + known.room +
                                 " dropped: " + shard.status().message());
        return finish(key, known, claimRevision, true);
    }
    ++fired_;
    std::weak_ptr<AlarmScheduler> weak = weak_from_this();
    // The shard's strand: the deletion goes back to a blocking thread.
    shard.value()->runAlarm([weak, key, known, claimRevision](bool taken) {
        if (auto self = weak.lock())
            self->onBlocking([key, known, claimRevision, taken](AlarmScheduler& scheduler) {
                scheduler.finish(key, known, claimRevision, taken);
            });
    });
}

void AlarmScheduler::finish(const std::string& key, const Known& known, uint64_t claimRevision, bool taken) {
    const std::string room = known.party + "/" + known.room;
    if (taken) {
        // A conflict means the room set or cancelled its alarm meanwhile: that one stands.
        Status erased = context_.alarms->erase(key, claimRevision, deadline());
        if (!erased && erased.code() != Code::Conflict)
            log::warn("alarms", "onAlarm of room " + room + " ran, but the alarm was not cleared (" +
                                    erased.message() + "); it runs again when its claim ends");
        return release(key, false);
    }
    // The shard was closing: offer the alarm again, unclaimed.
    auto offered = context_.alarms->put(key, known.record.text(), claimRevision, deadline());
    if (!offered && offered.status().code() != Code::Conflict)
        log::warn("alarms", "alarm of room " + room + " not offered again (" + offered.status().message() +
                                "); it is taken over when its claim ends");
    release(key, !offered);
}

void AlarmScheduler::release(const std::string& key, bool pause) {
    if (!pause) {
        std::lock_guard lock(mutex_);
        busy_.erase(key);
        return;
    }
    std::weak_ptr<AlarmScheduler> weak = weak_from_this();
    // Under the lock: stop() cannot return, and the timer go, meanwhile.
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    context_.timer.after(timing_.retryPause, [weak, key] {
        if (auto self = weak.lock()) {
            std::lock_guard lock(self->mutex_);
            self->busy_.erase(key);
        }
    });
}

}  // namespace partyline
