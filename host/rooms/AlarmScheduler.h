// AlarmScheduler: runs each room's alarm once, on some node, when it is due.
//
// Every node watches the whole alarm bucket and keeps the alarms in memory.
// When one is due, a node claims it with a compare-and-set on its revision
// (the claim holds for a lease), wakes the room (creating the shard when this
// node has none), runs onAlarm, and then deletes the alarm with a
// compare-and-set on the claim's revision, so an alarm set meanwhile (by
// onAlarm itself, say) stays. A node with a live shard of the room claims at
// the due time; the others wait a grace period more, so the room's own node usually
// runs it. A claim whose node died before deleting it is taken over when its
// lease ends: onAlarm then runs again (at least once, not exactly once, when
// a node dies in that window).
//
// Threads: the watch thread records changes; the timer thread finds due
// alarms; claims and deletions run on context.blocking; onAlarm runs on the
// shard's strand. It never blocks the timer thread or a strand.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "bus/KeyValue.h"
#include "rooms/AlarmRecord.h"
#include "rooms/RoomRegistry.h"
#include "rooms/Shard.h"

namespace partyline {

class AlarmScheduler : public std::enable_shared_from_this<AlarmScheduler> {
   public:
    struct Timing {
        // How often due alarms are looked for: the timing resolution of an
        // alarm on a node with a live shard of its room.
        std::chrono::milliseconds tick{100};
        // How long past the due time a node without a live shard of the room
        // waits before it claims the alarm: time enough for the room's own node.
        std::chrono::milliseconds grace{2000};
        // A claim lasts this long: onAlarm runs well within it (a handler's
        // waits for NATS are bounded by 10 s each) unless its node dies.
        std::chrono::milliseconds lease{30000};
        // After a failed claim, the alarm waits this long before the next try.
        std::chrono::milliseconds retryPause{1000};
    };

    // Starts watching context.alarms; context.alarms and context.blocking must be set.
    static Result<std::shared_ptr<AlarmScheduler>> start(ShardContext& context, RoomRegistry& rooms,
                                                         Timing timing);
    static Result<std::shared_ptr<AlarmScheduler>> start(ShardContext& context, RoomRegistry& rooms) {
        return start(context, rooms, Timing{});
    }
    ~AlarmScheduler();

    // Any thread but the timer's. No alarm is claimed or handed to a shard
    // after it returns. Call it before the RoomRegistry and the Timer go; a
    // second call does nothing.
    void stop();

    // Alarms this node handed to a shard to run.
    uint64_t fired() const { return fired_.load(); }

   private:
    struct Known {
        AlarmRecord record;
        uint64_t revision = 0;
        std::string party;
        std::string room;
    };

    AlarmScheduler(ShardContext& context, RoomRegistry& rooms, Timing timing)
        : context_(context), rooms_(rooms), timing_(timing) {}

    void onChange(KvChange change);                                                // the watch's thread
    void forget(const std::string& key);                                           // mutex_ held
    void tick();                                                                   // the timer thread
    void claim(const std::string& key, const Known& known);                        // blocking thread
    void run(const std::string& key, const Known& known, uint64_t claimRevision);  // blocking thread
    void finish(const std::string& key, const Known& known, uint64_t claimRevision, bool taken);  // blocking
    // The alarm may be claimed again, at once or after timing_.retryPause.
    void release(const std::string& key, bool pause);
    // Runs `task` on context.blocking while this scheduler lives.
    void onBlocking(std::function<void(AlarmScheduler&)> task);

    ShardContext& context_;
    RoomRegistry& rooms_;
    const Timing timing_;
    std::atomic<uint64_t> fired_{0};

    std::mutex mutex_;
    std::map<std::string, Known> known_;                // by key <party>.<room>
    std::set<std::pair<int64_t, std::string>> byWake_;  // (wakeMs, key)
    std::set<std::string> busy_;                        // a claim, onAlarm or deletion is under way
    bool stopping_ = false;
    uint64_t timer_ = 0;
    std::unique_ptr<Subscription> watch_;
};

}  // namespace partyline
