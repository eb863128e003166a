#include "app/HistoryQuery.h"

#include <set>

#include "app/Router.h"

namespace partyline {
namespace {

// The first parameter name that appears twice (after percent-decoding), if any.
std::optional<std::string> repeatedName(std::string_view query) {
    std::set<std::string> seen;
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        std::string name;
        if (!percentDecode(pair.substr(0, pair.find('=')), name, true)) continue;
        if (!seen.insert(name).second) return name;
    }
    return std::nullopt;
}

}  // namespace

Result<HistoryQuery> HistoryQuery::parse(const std::map<std::string, std::string>& query) {
    HistoryQuery parsed;
    if (auto it = query.find("since"); it != query.end()) {
        auto since = parseDecimal(it->second);
        if (!since || *since > kMaxSince)
            return Status(Code::InvalidArgument,
                          "since must be a non-negative integer below " + std::to_string(kMaxSince + 1));
        parsed.since = *since;
    }
    if (auto it = query.find("limit"); it != query.end()) {
        auto limit = parseDecimal(it->second);
        if (!limit || *limit == 0 || *limit > kMaxHistoryPage)
            return Status(Code::InvalidArgument, "limit must be 1.." + std::to_string(kMaxHistoryPage));
        parsed.limit = size_t(*limit);
    }
    return parsed;
}

Result<HistoryQuery> HistoryQuery::fromQueryString(std::string_view query) {
    if (auto name = repeatedName(query))
        return Status(Code::InvalidArgument, "the query parameter '" + *name + "' is given more than once");
    return parse(parseQuery(query));
}

}  // namespace partyline
