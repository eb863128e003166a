#include "app/OriginPolicy.h"

#include "app/HttpHeaders.h"

namespace partyline {
namespace {

constexpr size_t kMaxOrigin = 1024;  // an Origin is scheme://host:port; anything longer is not one

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool isHostChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

bool isDigits(std::string_view text) {
    if (text.empty() || text.size() > 5) return false;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

// A host that is a name or an IPv4 address (labels of host characters, no empty label, so no
// trailing dot), or a bracketed IPv6 literal.
bool validHost(std::string_view host) {
    if (host.empty()) return false;
    if (host.front() == '[') {
        if (host.back() != ']' || host.size() < 3) return false;
        for (char c : host.substr(1, host.size() - 2)) {
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                  c == '.')) {
                return false;
            }
        }
        return true;
    }
    if (host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos) return false;
    for (char c : host) {
        if (!isHostChar(c)) return false;
    }
    return true;
}

// "host[:port]" split at the port's colon (after an IPv6 literal's bracket).
void splitHostPort(std::string_view authority, std::string_view& host, std::string_view& port) {
    size_t colon = authority.rfind(':');
    size_t bracket = authority.rfind(']');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    } else {
        host = authority;
        port = {};
    }
}

// Header names as RFC 9110 tokens, comma-separated: what a preflight may ask for.
bool plainHeaderList(std::string_view list) {
    if (list.size() > 1024) return false;
    for (char c : list) {
        bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '_';
        if (!token && c != ',' && c != ' ') return false;
    }
    return true;
}

}  // namespace

OriginPolicy::OriginPolicy(std::vector<std::string> origins) {
    for (const auto& origin : origins) {
        Pattern pattern;
        if (parse(origin, pattern, true)) patterns_.push_back(std::move(pattern));
    }
}

bool OriginPolicy::parse(std::string_view origin, Pattern& out, bool allowWildcard) {
    if (origin.size() > kMaxOrigin) return false;
    size_t sep = origin.find("://");
    if (sep == std::string_view::npos) return false;
    std::string scheme = lower(origin.substr(0, sep));
    if (scheme != "http" && scheme != "https") return false;
    std::string_view authority = origin.substr(sep + 3);
    if (authority.empty() || authority.back() == ':') return false;  // no host, or "host:" with no port
    std::string_view host, port;
    splitHostPort(authority, host, port);
    if (!port.empty() && !isDigits(port)) return false;
    bool wildcard = allowWildcard && host.substr(0, 2) == "*.";
    if (wildcard) host.remove_prefix(1);  // keep the dot: ".example.com"
    if (!validHost(wildcard ? host.substr(1) : host)) return false;
    out.scheme = std::move(scheme);
    out.host = lower(host);
    out.port = std::string(port);
    out.wildcard = wildcard;
    return true;
}

bool OriginPolicy::listed(const Pattern& origin) const {
    for (const auto& p : patterns_) {
        if (p.scheme != origin.scheme || p.port != origin.port) continue;
        if (!p.wildcard && p.host == origin.host) return true;
        if (p.wildcard && origin.host.size() > p.host.size() &&
            origin.host.compare(origin.host.size() - p.host.size(), p.host.size(), p.host) == 0) {
            return true;
        }
    }
    return false;
}

OriginPolicy::Verdict OriginPolicy::check(const HttpHeaders& headers) const {
    return check(headers.find("origin"), headers.find("host"));
}

OriginPolicy::Verdict OriginPolicy::check(const std::string* origin, const std::string* host) const {
    if (!origin) return Verdict::NoOrigin;
    Pattern parsed;
    if (!parse(*origin, parsed, false)) return Verdict::Refused;  // "null", a path, a trailing dot...
    if (host) {
        std::string authority = parsed.host + (parsed.port.empty() ? "" : ":" + parsed.port);
        if (authority == lower(*host)) return Verdict::SameOrigin;
    }
    return listed(parsed) ? Verdict::Listed : Verdict::Refused;
}

std::string OriginPolicy::explainRefusal(const std::string* origin) {
    std::string shown;
    for (char c : origin ? origin->substr(0, 200) : std::string()) shown += (c >= ' ' && c <= '~') ? c : '?';
    return "origin " + shown + " is not allowed: add it to origins in the configuration\n";
}

OriginPolicy::Headers OriginPolicy::corsHeaders(const std::string& origin) {
    return {{"Access-Control-Allow-Origin", origin}, {"Vary", "Origin"}};
}

OriginPolicy::Headers OriginPolicy::preflightHeaders(const std::string& origin,
                                                     const std::string* requestedHeaders) {
    Headers out = corsHeaders(origin);
    out.push_back({"Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"});
    if (requestedHeaders && plainHeaderList(*requestedHeaders)) {
        out.push_back({"Access-Control-Allow-Headers", *requestedHeaders});
    }
    out.push_back({"Access-Control-Max-Age", "600"});
    return out;
}

}  // namespace partyline
