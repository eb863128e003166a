#include "rooms/AlarmRecord.h"

#include <charconv>
#include <chrono>

namespace partyline {
namespace {

std::optional<int64_t> parseMillis(std::string_view text) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0)
        return std::nullopt;
    return value;
}

}  // namespace

std::string AlarmRecord::text() const {
    std::string out = std::to_string(dueMs);
    if (claimed()) out += " " + std::to_string(leaseUntilMs) + " " + node;
    return out;
}

std::optional<AlarmRecord> AlarmRecord::parse(std::string_view text) {
    AlarmRecord record;
    size_t space = text.find(' ');
    auto due = parseMillis(text.substr(0, space));
    if (!due) return std::nullopt;
    record.dueMs = *due;
    if (space == std::string_view::npos) return record;
    std::string_view rest = text.substr(space + 1);
    size_t second = rest.find(' ');
    auto lease = parseMillis(rest.substr(0, second));
    if (!lease || *lease == 0 || second == std::string_view::npos || second + 1 == rest.size())
        return std::nullopt;
    record.leaseUntilMs = *lease;
    record.node = std::string(rest.substr(second + 1));
    return record;
}

int64_t unixMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace partyline
