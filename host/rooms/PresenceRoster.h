// PresenceRoster: who is in one room on the other nodes, rebuilt from their presence messages,
// and the difference between two views of the room (for onPresence).
//
// Each node's list is replaced by a full list (all its parts, in order) and moved on by diffs
// against the version it holds; a diff against another version leaves the list as it was and
// says so (the caller asks that node for its full list). A node's count follows every
// announcement, so it is exact even while its list waits for a full one. A node that announces
// an empty full list, or is silent past the expiry, is forgotten. A count-only announcement
// (Count) keeps the node's count and no list; a count of 0 forgets the node.
//
// Pure: no I/O, no threads, no Lua; its owner (Presence) calls it on one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rooms/PresenceMessage.h"

namespace partyline {

// One connection of the room: its id, its node and its conn.presence as JSON text (empty: nil).
struct PresenceEntry {
    std::string id;
    std::string node;
    std::string info;
    bool operator==(const PresenceEntry&) const = default;
};

// What changed between two views: a changed info is a leave of the old entry and a join of the new.
struct PresenceChange {
    std::vector<PresenceEntry> joined;
    std::vector<PresenceEntry> left;
    bool empty() const { return joined.empty() && left.empty(); }
};

// A whole view of the room: (node, id) -> info.
using PresenceView = std::map<std::pair<std::string, std::string>, std::string>;

PresenceChange diffViews(const PresenceView& before, const PresenceView& after);

class PresenceRoster {
   public:
    using Clock = std::chrono::steady_clock;

    enum class Heard {
        Nothing,    // not an announcement of another node, or nothing in it changed the list
        Changed,    // the node's list changed
        OutOfStep,  // a diff against a version this roster does not hold: ask the node for its list
    };

    // `self`: this node's id; its own announcements are ignored.
    explicit PresenceRoster(std::string self) : self_(std::move(self)) {}

    // An announcement (Full or Diff) heard at `now`.
    Heard receive(const PresenceMessage& message, Clock::time_point now);
    // Forgets nodes silent for longer than `expiry`; true when a list changed.
    bool forgetSilent(Clock::time_point now, Clock::duration expiry);

    // Connections on other nodes, as last announced.
    size_t count() const;
    // Each other node's count, by node.
    std::map<std::string, size_t> counts() const;
    // Adds every other node's entries to `view`.
    void addTo(PresenceView& view) const;
    // The nodes heard from.
    size_t nodes() const { return nodes_.size(); }

   private:
    struct Staged {
        std::string epoch;
        uint64_t version;
        size_t next;  // the part expected next
        std::map<std::string, std::string> entries;
    };
    struct Node {
        std::string epoch;
        uint64_t version = 0;
        bool listed = false;  // `entries` is the node's list at `version`
        size_t count = 0;
        Clock::time_point seen;
        std::map<std::string, std::string> entries;  // id -> info
        std::optional<Staged> staged;                // a full list whose parts are arriving
    };

    Heard receiveFull(Node& node, const PresenceMessage& message);
    Heard receiveDiff(Node& node, const PresenceMessage& message);

    std::string self_;
    std::map<std::string, Node> nodes_;
};

}  // namespace partyline
