// PresenceMessage: what the nodes of a room say to each other on its presence subject, and its
// JSON wire form.
//
// A node announces its connections of the room: the whole list (Full, split into parts of at
// most a byte budget each), or what changed since its last announcement (Diff, against the
// version `base`); any node may ask the others to announce their whole list (Ask). Every
// announcement carries the node's connection count, so counts stay exact whatever happens to
// the lists. A party that announces counts only (presence: count) sends Count: the header and
// nothing else, whatever the number of connections. A connection's info travels as its JSON text, inside a
// JSON string.
//
// Pure: no I/O, no threads, no Lua.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/Status.h"

namespace partyline {

// A room's presence messages: at most this many bytes each, so a room with thousands of
// connections announces its list in parts, far under NATS's payload limit (1 MiB by default).
inline constexpr size_t kMaxPresenceMessageBytes = 64 * 1024;

// A connection's conn.presence, as JSON: at most this many bytes (1 KiB: a name, a status, a
// cursor; not a document), so a node's list of a few hundred connections fits one message.
inline constexpr size_t kMaxPresenceInfoBytes = 1024;

// One connection as announced: its id and its conn.presence as JSON text (empty: nil).
struct PresenceItem {
    std::string id;
    std::string info;
    bool operator==(const PresenceItem&) const = default;
};

struct PresenceMessage {
    enum class Kind { Ask, Full, Diff, Count };
    Kind kind = Kind::Full;
    std::string node;   // the sender (for Ask: the node asking)
    std::string of;     // Ask: the one node asked to announce; empty: every node
    std::string epoch;  // the sender's presence instance: versions count within it
    uint64_t version = 0;
    uint64_t base = 0;  // Diff: the version it applies to
    size_t count = 0;   // the sender's connections of the room
    size_t part = 0;    // Full: this part's index, of `parts`
    size_t parts = 1;
    std::vector<PresenceItem> set;  // Full: this part's entries; Diff: entries that joined or changed
    std::vector<std::string> gone;  // Diff: ids that left
};

std::string encodePresence(const PresenceMessage& message);
// InvalidArgument for anything that is not a presence message.
Result<PresenceMessage> decodePresence(std::string_view text);

// The whole list `entries` (id -> info) as Full messages of at most `maxBytes` each (one entry
// always fits: ids and infos are bounded far below it). An empty list is one message.
std::vector<std::string> encodeFullList(const std::string& node, const std::string& epoch, uint64_t version,
                                        const std::map<std::string, std::string>& entries,
                                        size_t maxBytes = kMaxPresenceMessageBytes);

}  // namespace partyline
