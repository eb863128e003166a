#include "net/FetchPolicy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace partyline::net {
namespace {

// libcurl accepts far longer URLs; nothing a room calls needs more, and the check stays cheap.
constexpr size_t kMaxUrlBytes = 16 * 1024;
// An entry is a host and a port: anything longer is a mistake.
constexpr size_t kMaxEntryBytes = 300;
// The longest DNS name (RFC 1035): a longer host names nothing, and an entry always holds one.
constexpr size_t kMaxNameBytes = 253;
// How much of a refused host an error message shows.
constexpr size_t kMaxShownHost = 200;

// The cloud metadata services outside the link-local range (AWS's IPv6 endpoint).
constexpr uint8_t kMetadataV6[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};

struct CurlText {
    char* text = nullptr;
    ~CurlText() { curl_free(text); }
};

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string shown(std::string_view host) {
    std::string out;
    for (char c : host.substr(0, kMaxShownHost)) out += (c > ' ' && c <= '~') ? c : '?';
    return out;
}

uint16_t defaultPort(std::string_view scheme) {
    return scheme == "https" ? 443 : 80;
}

// A DNS name as the list compares it: labels of [a-z0-9-_], none empty (so no trailing dot), at
// most kMaxNameBytes in all.
bool plainName(std::string_view host) {
    if (host.empty() || host.size() > kMaxNameBytes || host.front() == '.' || host.back() == '.')
        return false;
    if (host.find("..") != std::string_view::npos) return false;
    for (char c : host) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

// The host of a parsed URL as the list compares it: lower case, IPv6 in its shortest form without
// brackets. False for a zone id or a host that is not a plain name or address; `raw` is then
// what libcurl gave, for the error message.
bool normalHost(CURLU* url, std::string& host, bool& literal, std::string& raw) {
    CurlText text;
    if (curl_url_get(url, CURLUPART_HOST, &text.text, 0) != CURLUE_OK || !text.text) return false;
    raw = text.text;
    CurlText zone;
    if (curl_url_get(url, CURLUPART_ZONEID, &zone.text, 0) == CURLUE_OK && zone.text) return false;
    if (raw.size() > 2 && raw.front() == '[' && raw.back() == ']') {
        in6_addr address;
        if (inet_pton(AF_INET6, raw.substr(1, raw.size() - 2).c_str(), &address) != 1) return false;
        char buffer[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &address, buffer, sizeof buffer);
        host = buffer;
        literal = true;
        return true;
    }
    host = lower(raw);
    in_addr v4;
    literal = inet_pton(AF_INET, host.c_str(), &v4) == 1;
    return literal || plainName(host);
}

bool parsePort(std::string_view text, int& port) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    return error == std::errc() && end == text.data() + text.size() && port > 0 && port <= 65535;
}

// The address as an allow-list host ("127.0.0.1", "::1"; an IPv4-mapped IPv6 as IPv4) and port.
bool addressText(const sockaddr* address, std::string& host, uint16_t& port) {
    char buffer[INET6_ADDRSTRLEN];
    if (address->sa_family == AF_INET) {
        auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
        inet_ntop(AF_INET, &v4->sin_addr, buffer, sizeof buffer);
        port = ntohs(v4->sin_port);
    } else if (address->sa_family == AF_INET6) {
        auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
            inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], buffer, sizeof buffer);
        else
            inet_ntop(AF_INET6, &v6->sin6_addr, buffer, sizeof buffer);
        port = ntohs(v6->sin6_port);
    } else {
        return false;
    }
    host = buffer;
    return true;
}

bool guardedV4(const uint8_t* a) {
    return a[0] == 127 || a[0] == 0 || (a[0] == 169 && a[1] == 254);  // loopback, "this network", link-local
}

}  // namespace

std::string FetchTarget::authority() const {
    bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

FetchPolicy::FetchPolicy(const std::vector<std::string>& allow) {
    for (const auto& text : allow) {
        Entry entry;
        if (parseEntry(text, entry)) entries_.push_back(std::move(entry));
    }
}

Status FetchPolicy::checkEntry(std::string_view entry) {
    Entry parsed;
    if (parseEntry(entry, parsed)) return Status::ok();
    return {Code::InvalidArgument, "bad fetch.allow entry \"" + shown(entry) +
                                       "\": want host, host:port, *.domain or an IP address (IPv6 in [])"};
}

// The entry is parsed by libcurl as the authority of an http URL, so it is normalised as URLs
// are. Only host characters, ':' and brackets may appear: no path, userinfo, query or escapes.
bool FetchPolicy::parseEntry(std::string_view text, Entry& out) {
    if (text.empty() || text.size() > kMaxEntryBytes) return false;
    bool wildcard = text.substr(0, 2) == "*.";
    std::string_view authority = wildcard ? text.substr(2) : text;
    for (char c : authority) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.' || c == ':' || c == '[' || c == ']';
        if (!ok) return false;
    }
    CurlUrl url(curl_url());
    std::string full = "http://" + std::string(authority) + "/";
    if (!url || curl_url_set(url.get(), CURLUPART_URL, full.c_str(), 0) != CURLUE_OK) return false;
    std::string raw;
    if (!normalHost(url.get(), out.host, out.literal, raw)) return false;
    if (wildcard && out.literal) return false;
    CurlText port;
    if (curl_url_get(url.get(), CURLUPART_PORT, &port.text, 0) == CURLUE_OK && port.text) {
        if (!parsePort(port.text, out.port)) return false;
    } else {
        if (!authority.empty() && authority.back() == ':') return false;  // "host:" with no port
        out.port = -1;
    }
    out.wildcard = wildcard;
    return true;
}

Result<FetchTarget> FetchPolicy::check(std::string_view url) const {
    auto target = parse(url);
    if (target && !listed(target->host, target->port, target->scheme))
        return Status(Code::InvalidArgument, "not allowed: host " + shown(target->host));
    return target;
}

Result<std::shared_ptr<const FetchPolicy>> FetchPolicy::exactly(std::string_view url) {
    auto target = parse(url);
    if (!target) return target.status();
    auto policy = std::make_shared<FetchPolicy>(std::vector<std::string>{});
    Entry entry;
    entry.host = target->host;
    entry.port = target->port;
    entry.anyAddress = true;
    policy->entries_.push_back(std::move(entry));
    return std::shared_ptr<const FetchPolicy>(std::move(policy));
}

Result<FetchTarget> FetchPolicy::parse(std::string_view url) {
    const Status badUrl(Code::InvalidArgument, "bad url");
    if (url.empty() || url.size() > kMaxUrlBytes || url.find('\0') != std::string_view::npos) return badUrl;
    FetchTarget target;
    target.url.reset(curl_url());
    std::string text(url);
    if (!target.url || curl_url_set(target.url.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK)
        return badUrl;
    CurlText scheme, port;
    if (curl_url_get(target.url.get(), CURLUPART_SCHEME, &scheme.text, 0) != CURLUE_OK) return badUrl;
    target.scheme = lower(scheme.text);
    if (target.scheme != "http" && target.scheme != "https") return badUrl;
    int number = 0;
    if (curl_url_get(target.url.get(), CURLUPART_PORT, &port.text, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        !parsePort(port.text, number))
        return badUrl;
    target.port = uint16_t(number);
    bool literal = false;
    std::string raw;
    if (!normalHost(target.url.get(), target.host, literal, raw))
        return Status(Code::InvalidArgument, "not allowed: host " + shown(raw));
    return target;
}

bool FetchPolicy::listed(std::string_view host, uint16_t port, std::string_view scheme) const {
    for (const auto& e : entries_) {
        bool portOk = e.port < 0 ? port == defaultPort(scheme) : port == e.port;
        if (!portOk) continue;
        if (!e.wildcard && host == e.host) return true;
        if (e.wildcard && host.size() > e.host.size() + 1 && host.ends_with(e.host) &&
            host[host.size() - e.host.size() - 1] == '.')
            return true;
    }
    return false;
}

bool FetchPolicy::allowsAddress(const FetchTarget& target, const sockaddr* address) const {
    if (!isGuardedAddress(address)) return true;
    for (const auto& e : entries_) {
        if (e.anyAddress && e.host == target.host && e.port == target.port) return true;
    }
    std::string host;
    uint16_t port = 0;
    if (!addressText(address, host, port)) return false;
    for (const auto& e : entries_) {
        if (e.literal && e.host == host && (e.port < 0 ? port == defaultPort(target.scheme) : port == e.port))
            return true;
    }
    return false;
}

bool FetchPolicy::isGuardedAddress(const sockaddr* address) {
    if (address->sa_family == AF_INET) {
        auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
        return guardedV4(reinterpret_cast<const uint8_t*>(&v4->sin_addr.s_addr));
    }
    if (address->sa_family != AF_INET6) return true;  // not an internet address: never
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_V4COMPAT(&a)) return guardedV4(&a.s6_addr[12]);
    return IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LINKLOCAL(&a) ||
           std::memcmp(a.s6_addr, kMetadataV6, sizeof kMetadataV6) == 0;
}

}  // namespace partyline::net
