#include "app/ClientAddress.h"

namespace partyline {
namespace {

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

}  // namespace

TrustedProxies::TrustedProxies(const std::vector<std::string>& ranges) {
    for (const auto& text : ranges)
        if (auto range = AddressRange::parse(text)) ranges_.push_back(*range);
}

bool TrustedProxies::contains(std::string_view address) const {
    for (const auto& range : ranges_)
        if (range.contains(address)) return true;
    return false;
}

std::string TrustedProxies::clientOf(std::string_view peer, const std::string* forwardedFor) const {
    std::string_view client = peer;
    if (!forwardedFor || !contains(peer)) return std::string(client);
    std::string_view rest = *forwardedFor;
    while (!rest.empty()) {
        size_t comma = rest.rfind(',');
        std::string_view entry = trimmed(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
        if (!parseAddress(entry)) break;  // "unknown", a port, garbage: the hop before it is all we know
        client = entry;
        if (!contains(entry)) break;
    }
    return std::string(client);
}

}  // namespace partyline
