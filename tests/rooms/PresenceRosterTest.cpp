// PresenceRoster on its own: full lists in parts, diffs against the version held, a diff out of
// step, counts that follow every announcement, expiry of silent nodes, and diffViews.
#include <doctest/doctest.h>

#include "rooms/PresenceRoster.h"

namespace partyline {
namespace {

using Clock = PresenceRoster::Clock;
using namespace std::chrono_literals;

PresenceMessage full(const std::string& node, uint64_t version, std::vector<PresenceItem> set,
                     size_t part = 0, size_t parts = 1, size_t count = SIZE_MAX) {
    PresenceMessage m;
    m.kind = PresenceMessage::Kind::Full;
    m.node = node;
    m.epoch = "e-" + node;
    m.version = version;
    m.count = count == SIZE_MAX ? set.size() : count;
    m.part = part;
    m.parts = parts;
    m.set = std::move(set);
    return m;
}

PresenceMessage diff(const std::string& node, uint64_t base, size_t count, std::vector<PresenceItem> set,
                     std::vector<std::string> gone) {
    PresenceMessage m;
    m.kind = PresenceMessage::Kind::Diff;
    m.node = node;
    m.epoch = "e-" + node;
    m.base = base;
    m.version = base + 1;
    m.count = count;
    m.set = std::move(set);
    m.gone = std::move(gone);
    return m;
}

PresenceView viewOf(const PresenceRoster& roster) {
    PresenceView view;
    roster.addTo(view);
    return view;
}

}  // namespace

TEST_CASE("a roster merges each node's full list and its diffs") {
    PresenceRoster roster("self");
    auto now = Clock::now();
    CHECK(roster.receive(full("a", 1, {{"x", ""}, {"y", R"({"n":1})"}}), now) ==
          PresenceRoster::Heard::Changed);
    CHECK(roster.receive(full("b", 3, {{"z", ""}}), now) == PresenceRoster::Heard::Changed);
    CHECK(roster.count() == 3);
    CHECK(roster.receive(diff("a", 1, 2, {{"w", "\"hi\""}, {"y", R"({"n":2})"}}, {"x"}), now) ==
          PresenceRoster::Heard::Changed);
    PresenceView expected{{{"a", "w"}, "\"hi\""}, {{"a", "y"}, R"({"n":2})"}, {{"b", "z"}, ""}};
    CHECK(viewOf(roster) == expected);
    // The same full list again changes nothing; its own node's messages are not its business.
    CHECK(roster.receive(full("b", 4, {{"z", ""}}), now) == PresenceRoster::Heard::Nothing);
    CHECK(roster.receive(full("self", 1, {{"q", ""}}), now) == PresenceRoster::Heard::Nothing);
    CHECK(roster.count() == 3);
}

TEST_CASE("a diff against another version is out of step: the list waits, the count follows") {
    PresenceRoster roster("self");
    auto now = Clock::now();
    roster.receive(full("a", 1, {{"x", ""}}), now);
    // Version 2 went missing: the diff from 2 to 3 cannot apply.
    CHECK(roster.receive(diff("a", 2, 5, {{"y", ""}}, {}), now) == PresenceRoster::Heard::OutOfStep);
    CHECK(roster.count() == 5);
    CHECK(viewOf(roster).size() == 1);
    // A node first heard by its diff is out of step too.
    CHECK(roster.receive(diff("b", 7, 1, {{"q", ""}}, {}), now) == PresenceRoster::Heard::OutOfStep);
    // The full list that answers the ask puts both right.
    CHECK(roster.receive(full("a", 3, {{"x", ""}, {"y", ""}}, 0, 1, 2), now) ==
          PresenceRoster::Heard::Changed);
    CHECK(roster.receive(diff("a", 3, 1, {}, {"x"}), now) == PresenceRoster::Heard::Changed);
    CHECK(viewOf(roster) == PresenceView{{{"a", "y"}, ""}});
}

TEST_CASE("a full list in parts replaces the node's list once its last part arrived, in order") {
    PresenceRoster roster("self");
    auto now = Clock::now();
    roster.receive(full("a", 1, {{"old", ""}}), now);
    CHECK(roster.receive(full("a", 2, {{"p", ""}}, 0, 3, 3), now) == PresenceRoster::Heard::Nothing);
    CHECK(roster.receive(full("a", 2, {{"q", ""}}, 1, 3, 3), now) == PresenceRoster::Heard::Nothing);
    CHECK(viewOf(roster) == PresenceView{{{"a", "old"}, ""}});  // not yet
    CHECK(roster.receive(full("a", 2, {{"r", ""}}, 2, 3, 3), now) == PresenceRoster::Heard::Changed);
    CHECK(viewOf(roster).size() == 3);
    // A missing part drops the list being assembled; the one held stays.
    CHECK(roster.receive(full("a", 3, {{"s", ""}}, 0, 3, 3), now) == PresenceRoster::Heard::Nothing);
    CHECK(roster.receive(full("a", 3, {{"u", ""}}, 2, 3, 3), now) == PresenceRoster::Heard::Nothing);
    CHECK(viewOf(roster).size() == 3);
    CHECK(viewOf(roster).count({"a", "s"}) == 0);
}

TEST_CASE("a node that announces an empty list, or goes silent past the expiry, is forgotten") {
    PresenceRoster roster("self");
    auto start = Clock::now();
    roster.receive(full("a", 1, {{"x", ""}}), start);
    roster.receive(full("b", 1, {{"y", ""}}), start + 10s);
    CHECK(roster.receive(full("a", 2, {}), start + 1s) == PresenceRoster::Heard::Changed);
    CHECK(roster.nodes() == 1);
    // A diff that empties b's list keeps b, so its next diff still follows.
    CHECK(roster.receive(diff("b", 1, 0, {}, {"y"}), start + 10s) == PresenceRoster::Heard::Changed);
    CHECK(roster.nodes() == 1);
    CHECK(roster.receive(diff("b", 2, 1, {{"y", ""}}, {}), start + 10s) == PresenceRoster::Heard::Changed);
    CHECK(roster.count() == 1);
    CHECK_FALSE(roster.forgetSilent(start + 20s, 15s));  // b was heard 10 s ago
    CHECK(roster.forgetSilent(start + 26s, 15s));
    CHECK(roster.nodes() == 0);
    CHECK(roster.count() == 0);
    CHECK(viewOf(roster).empty());
}

TEST_CASE("count announcements keep each node's count and no list; a count of 0 forgets the node") {
    PresenceRoster roster("self");
    auto now = Clock::now();
    PresenceMessage count;
    count.kind = PresenceMessage::Kind::Count;
    count.node = "a";
    count.epoch = "e-a";
    count.version = 1;
    count.count = 40000;
    CHECK(roster.receive(count, now) == PresenceRoster::Heard::Nothing);
    count.node = "b";
    count.count = 2;
    roster.receive(count, now);
    CHECK(roster.count() == 40002);
    CHECK(roster.counts() == std::map<std::string, size_t>{{"a", 40000}, {"b", 2}});
    CHECK(viewOf(roster).empty());
    count.count = 0;
    roster.receive(count, now);
    CHECK(roster.nodes() == 1);
    CHECK(roster.count() == 40000);
}

TEST_CASE("diffViews gives a changed info as a leave of the old entry and a join of the new") {
    PresenceView before{{{"a", "x"}, ""}, {{"a", "y"}, "1"}, {{"b", "z"}, ""}};
    PresenceView after{{{"a", "y"}, "2"}, {{"b", "z"}, ""}, {{"c", "w"}, ""}};
    auto change = diffViews(before, after);
    CHECK(change.left == std::vector<PresenceEntry>{{"x", "a", ""}, {"y", "a", "1"}});
    CHECK(change.joined == std::vector<PresenceEntry>{{"y", "a", "2"}, {"w", "c", ""}});
    CHECK(diffViews(after, after).empty());
}

}  // namespace partyline
