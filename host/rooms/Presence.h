// Presence: who is in one room on every node — each connection's id, node and conn.presence —
// and how many.
//
// Each node's shard of the room announces its connections on the room's presence subject: what
// changed (a diff) within a short window of a change, and its whole list every few seconds and
// whenever a node asks (a node asks when its shard starts, and when a diff does not follow the
// version it holds). It hears the others' announcements (PresenceRoster) and forgets a node that
// stays silent. Changes of the whole view, anywhere, go to the listener coalesced, for the
// script's onPresence. Presence sends nothing to clients and never touches the Lua state.
//
// Counts only (a party's presence: count, for rooms of very many connections): a node announces
// its number of connections (a Count message of a few dozen bytes) on change and as its
// heartbeat, never its list; it keeps the others' counts only, entries() holds no connection,
// and the listener is never called.
//
// Threads: strand only (the owning shard's), except where a method says "any thread". Bus and
// timer callbacks post to the strand; each keeps the owning shard alive until its task has run.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "rooms/PresenceRoster.h"
#include "rooms/ShardContext.h"

namespace partyline {

class Presence {
   public:
    using Clock = std::chrono::steady_clock;
    // Strand: what changed in the room's view since the listener was last called.
    using Listener = std::function<void(PresenceChange change)>;

    // A node re-announces its whole list this often, and is forgotten after three missed
    // announcements.
    static constexpr auto kAnnounceEvery = std::chrono::seconds(5);
    static constexpr auto kRemoteExpiry = std::chrono::seconds(15);
    // Connection changes go out as one announcement, due on the timer's grid of this step: 10-20
    // ms after the first change.
    static constexpr std::chrono::milliseconds kAnnounceDelay{10};
    // Changes of the view within this window reach the listener as one call.
    static constexpr std::chrono::milliseconds kNotifyDelay{50};
    // A node out of step is asked for its whole list at most this often, so a burst of diffs it
    // cannot place brings one list, not one per diff.
    static constexpr std::chrono::milliseconds kAskEvery{1000};
    // A shard that just started has asked every node for its list: answers about the whole room
    // (snapshot) wait this long after start for theirs to arrive.
    static constexpr std::chrono::milliseconds kGatherWindow{250};

    // `subject`: the room's presence subject. `strand`: the owning shard's. `countsOnly`: the
    // party's presence: count.
    Presence(ShardContext& context, Strand& strand, std::string subject, bool countsOnly = false);
    ~Presence();
    Presence(const Presence&) = delete;
    Presence& operator=(const Presence&) = delete;

    // Before start(): the object whose life holds this one (the shard).
    void setOwner(std::weak_ptr<const void> owner) { owner_ = std::move(owner); }
    // Before start(): who hears the view's changes, while `wanted` says so (the script has
    // onPresence); none: nobody, and no change is worked out.
    void setListener(Listener listener, std::function<bool()> wanted = {}) {
        listener_ = std::move(listener);
        wanted_ = std::move(wanted);
    }

    // Strand only, below.
    // Subscribes and asks every node to announce; does nothing once subscribed or stopped.
    void start();
    // A connection of this node joined (its info nil), left, or changed its info (JSON text,
    // empty: nil). Counted at once, announced soon (changes within kAnnounceDelay go out as one).
    void localJoined(const std::string& id);
    void localLeft(const std::string& id);
    void localInfo(const std::string& id, std::string info);
    // About once a second: forgets silent nodes, re-announces when due.
    void heartbeat();
    // Announces an empty list, so other nodes forget this one now, and unsubscribes.
    void stop();
    // Every connection of the room on every node, as last announced, by node then id.
    std::vector<PresenceEntry> entries() const;
    // `answer` gets entries() once this shard had kGatherWindow since start to hear the others.
    void snapshot(std::function<void(std::vector<PresenceEntry>)> answer);

    // Connections of the room on each node, this one included, by node.
    std::map<std::string, size_t> counts() const;
    // `answer` gets counts() once this shard had kGatherWindow since start to hear the others.
    void countSnapshot(std::function<void(std::map<std::string, size_t>)> answer);
    // Any thread: constructed with countsOnly.
    bool countsOnly() const { return countsOnly_; }

    // Any thread: connections of this room on every node, as last announced.
    size_t totalCount() const { return totalCount_.load(); }
    // Any thread: the part of totalCount() on other nodes.
    size_t remoteCount() const { return remoteCount_.load(); }

   private:
    void receive(const std::string& text);
    void localChanged(const std::string& id);
    void announce();
    void announceFull();
    void announceCount();
    void ask(const std::string& of);
    void recount();
    void viewChanged();
    void notify();
    PresenceView view() const;
    // Runs `task` on the strand after `delay`, keeping the owner alive until it ran.
    void after(std::chrono::milliseconds delay, std::function<void()> task);
    // The same, on the timer's grid of `step` (Timer::afterOnGrid): one to two steps from now.
    void afterOnGrid(std::chrono::milliseconds step, std::function<void()> task);
    std::function<void()> onStrand(std::function<void()> task);
    void afterGathered(std::function<void()> then);

    ShardContext& context_;
    Strand& strand_;
    const std::string subject_;
    const std::string epoch_;  // this instance: versions count within it
    const bool countsOnly_;
    std::weak_ptr<const void> owner_;
    Listener listener_;
    std::function<bool()> wanted_;
    std::unique_ptr<Subscription> subscription_;
    PresenceRoster roster_;
    std::map<std::string, std::string> local_;      // id -> info, now
    std::map<std::string, std::string> announced_;  // id -> info, as last announced
    std::set<std::string> dirty_;                   // ids changed since the last announcement
    uint64_t version_ = 0;                          // of the last announcement
    size_t announcedCount_ = 0;                     // counts only: the count last announced
    bool announcedOnce_ = false;
    bool announceScheduled_ = false;
    bool notifyScheduled_ = false;
    bool stopped_ = false;
    Clock::time_point started_;
    Clock::time_point lastFull_;                      // the last whole list sent
    PresenceView notified_;                           // the view as the listener last heard it
    std::map<std::string, Clock::time_point> asked_;  // node -> when it was last asked for its list
    std::atomic<size_t> totalCount_{0};
    std::atomic<size_t> remoteCount_{0};
};

}  // namespace partyline
