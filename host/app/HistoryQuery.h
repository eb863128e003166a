// HistoryQuery: the query of GET /v1/parties/:party/:room/history. Pure, like the Router.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "bus/Bus.h"
#include "core/Status.h"

namespace partyline {

struct HistoryQuery {
    // The largest `since`: entries start at since + 1, which must still be a sequence. nats.c
    // sends a sequence as a signed 64-bit number (JetStream answered 2^64 - 1 "Malformed
    // Request"), so the last one is 2^63 - 1.
    static constexpr uint64_t kMaxSince = uint64_t(INT64_MAX) - 1;

    uint64_t since = 0;                  // entries after this log sequence, 0..kMaxSince
    size_t limit = kDefaultHistoryPage;  // at most this many, 1..kMaxHistoryPage

    // InvalidArgument, with the message for a 400, for values that are not plain decimal
    // numbers in range ("-1", "5x", " 5", 2^63 - 1 and numbers past it included).
    static Result<HistoryQuery> parse(const std::map<std::string, std::string>& query);
    // The query string as the client sent it (percent-encoded, without '?'): as parse(), and
    // InvalidArgument for a parameter given twice, whose meaning a client and a proxy in front
    // of the node could read differently.
    static Result<HistoryQuery> fromQueryString(std::string_view query);
};

}  // namespace partyline
