// HistoryQuery: the query of GET /v1/parties/:party/:room/history. Pure, like the Router.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "bus/Bus.h"
#include "core/Status.h"

namespace partyline {

struct HistoryQuery {
    uint64_t since = 0;                  // entries after this log sequence
    size_t limit = kDefaultHistoryPage;  // at most this many, 1..kMaxHistoryPage

    // InvalidArgument, with the message for a 400, for values that are not plain decimal
    // numbers in range ("-1", "5x", " 5" and numbers past 2^64 included).
    static Result<HistoryQuery> parse(const std::map<std::string, std::string>& query);
};

}  // namespace partyline
