#include "app/HistoryQuery.h"

#include "app/Router.h"

namespace partyline {

Result<HistoryQuery> HistoryQuery::parse(const std::map<std::string, std::string>& query) {
    HistoryQuery parsed;
    if (auto it = query.find("since"); it != query.end()) {
        auto since = parseDecimal(it->second);
        if (!since) return Status(Code::InvalidArgument, "since must be a non-negative integer");
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

}  // namespace partyline
