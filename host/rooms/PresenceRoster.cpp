#include "rooms/PresenceRoster.h"

namespace partyline {

PresenceChange diffViews(const PresenceView& before, const PresenceView& after) {
    PresenceChange change;
    auto entry = [](const PresenceView::value_type& v) {
        return PresenceEntry{v.first.second, v.first.first, v.second};
    };
    for (const auto& old : before) {
        auto now = after.find(old.first);
        if (now == after.end() || now->second != old.second) change.left.push_back(entry(old));
    }
    for (const auto& now : after) {
        auto old = before.find(now.first);
        if (old == before.end() || old->second != now.second) change.joined.push_back(entry(now));
    }
    return change;
}

PresenceRoster::Heard PresenceRoster::receive(const PresenceMessage& message, Clock::time_point now) {
    if (message.kind == PresenceMessage::Kind::Ask || message.node == self_) return Heard::Nothing;
    Node& node = nodes_[message.node];
    node.seen = now;
    node.count = message.count;
    if (message.kind == PresenceMessage::Kind::Count) {
        bool listed = !node.entries.empty();
        node.entries.clear();
        node.staged.reset();
        node.listed = false;
        if (node.count == 0) nodes_.erase(message.node);
        return listed ? Heard::Changed : Heard::Nothing;
    }
    Heard heard =
        message.kind == PresenceMessage::Kind::Full ? receiveFull(node, message) : receiveDiff(node, message);
    // An empty full list is a node with no connection left (or stopping): forgotten now. (After
    // a diff that empties it, it is kept, so its next diff still follows.)
    if (message.kind == PresenceMessage::Kind::Full && node.listed && node.count == 0 &&
        node.entries.empty() && !node.staged)
        nodes_.erase(message.node);
    return heard;
}

PresenceRoster::Heard PresenceRoster::receiveFull(Node& node, const PresenceMessage& m) {
    if (m.part == 0)
        node.staged = Staged{m.epoch, m.version, 0, {}};
    else if (!node.staged || node.staged->epoch != m.epoch || node.staged->version != m.version ||
             node.staged->next != m.part) {
        node.staged.reset();  // a part went missing: wait for the next full list
        return Heard::Nothing;
    }
    for (const auto& item : m.set) node.staged->entries[item.id] = item.info;
    node.staged->next = m.part + 1;
    if (node.staged->next < m.parts) return Heard::Nothing;
    bool changed = !node.listed || node.staged->entries != node.entries;
    node.entries = std::move(node.staged->entries);
    node.staged.reset();
    node.epoch = m.epoch;
    node.version = m.version;
    node.listed = true;
    return changed ? Heard::Changed : Heard::Nothing;
}

PresenceRoster::Heard PresenceRoster::receiveDiff(Node& node, const PresenceMessage& m) {
    if (!node.listed || node.epoch != m.epoch || node.version != m.base) {
        // A diff lost on the way, or a node heard first by its diff: its list waits for a full one.
        if (node.listed && node.epoch == m.epoch && node.version >= m.version) return Heard::Nothing;
        return Heard::OutOfStep;
    }
    bool changed = false;
    for (const auto& id : m.gone) changed |= node.entries.erase(id) > 0;
    // A diff sets only entries that joined or changed.
    for (const auto& item : m.set) node.entries[item.id] = item.info;
    changed |= !m.set.empty();
    node.version = m.version;
    return changed ? Heard::Changed : Heard::Nothing;
}

bool PresenceRoster::forgetSilent(Clock::time_point now, Clock::duration expiry) {
    bool changed = false;
    for (auto it = nodes_.begin(); it != nodes_.end();) {
        if (now - it->second.seen <= expiry) {
            ++it;
            continue;
        }
        changed |= !it->second.entries.empty();
        it = nodes_.erase(it);
    }
    return changed;
}

size_t PresenceRoster::count() const {
    size_t total = 0;
    for (const auto& [id, node] : nodes_) total += node.count;
    return total;
}

std::map<std::string, size_t> PresenceRoster::counts() const {
    std::map<std::string, size_t> out;
    for (const auto& [name, node] : nodes_) out.emplace(name, node.count);
    return out;
}

void PresenceRoster::addTo(PresenceView& view) const {
    for (const auto& [name, node] : nodes_)
        for (const auto& [id, info] : node.entries) view.emplace(std::make_pair(name, id), info);
}

}  // namespace partyline
