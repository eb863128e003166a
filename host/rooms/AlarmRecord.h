// AlarmRecord: a room's pending alarm as the alarm bucket holds it.
//
// The value of key <party>.<room> is "<due>" while the alarm waits, and
// "<due> <lease> <node>" once a node has claimed it to run onAlarm: the claim
// holds until <lease>, then any node may claim it again. Times are
// milliseconds since the Unix epoch, by the clock of the node that wrote them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace partyline {

struct AlarmRecord {
    int64_t dueMs = 0;
    int64_t leaseUntilMs = 0;  // 0: not claimed
    std::string node;          // the claiming node

    bool claimed() const { return leaseUntilMs != 0; }
    // When someone must act on it: the due time, or the end of the claim.
    int64_t wakeMs() const { return claimed() ? leaseUntilMs : dueMs; }

    std::string text() const;
    // Nothing when `text` is not a record (written by something else).
    static std::optional<AlarmRecord> parse(std::string_view text);
};

// Milliseconds since the Unix epoch, now.
int64_t unixMillis();

}  // namespace partyline
