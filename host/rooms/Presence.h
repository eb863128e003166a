// Presence: how many connections one room has on every node.
//
// Each node's shard of the room announces its local count on the room's
// presence subject when it changes and every few seconds, and hears the
// others' announcements; a node that stays silent is forgotten. Presence
// keeps the counts, not the connections: it sends nothing to clients and
// never touches the Lua state.
//
// Threads: strand only (the owning shard's), except where a method says
// "any thread". Bus and timer callbacks post to the strand; each keeps the
// owning shard alive until its task has run.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "rooms/ShardContext.h"

namespace partyline {

class Presence {
   public:
    using Clock = std::chrono::steady_clock;

    // `subject`: the room's presence subject. `strand`: the owning shard's.
    Presence(ShardContext& context, Strand& strand, std::string subject);
    ~Presence();
    Presence(const Presence&) = delete;
    Presence& operator=(const Presence&) = delete;

    // Before start(): the object whose life holds this one (the shard).
    void setOwner(std::weak_ptr<const void> owner) { owner_ = std::move(owner); }

    // Strand only, below.
    // Subscribes and asks every node to announce; does nothing once subscribed or stopped.
    void start();
    // This node's connection count changed: recounts now and announces soon
    // (changes within a short window go out as one announcement).
    void localChanged(size_t count);
    // About once a second: forgets silent nodes, re-announces when due.
    void heartbeat();
    // Announces 0, so other nodes forget this one now, and unsubscribes.
    void stop();

    // Any thread: connections of this room on every node, as last announced.
    size_t totalCount() const { return totalCount_.load(); }
    // Any thread: the part of totalCount() on other nodes.
    size_t remoteCount() const { return remoteCount_.load(); }

   private:
    struct Remote {
        size_t count;
        Clock::time_point seen;
    };

    void receive(const std::string& message);
    void announce();
    void recount();

    ShardContext& context_;
    Strand& strand_;
    const std::string subject_;
    std::weak_ptr<const void> owner_;
    std::unique_ptr<Subscription> subscription_;
    std::map<std::string, Remote> remotes_;  // by node id
    size_t local_ = 0;
    bool announceScheduled_ = false;
    bool stopped_ = false;
    Clock::time_point lastAnnounce_;
    std::atomic<size_t> totalCount_{0};
    std::atomic<size_t> remoteCount_{0};
};

}  // namespace partyline
