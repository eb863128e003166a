// FetchPolicy: which URLs a room's fetch may call (the `fetch.allow` list), and which addresses
// a listed name may connect to.
//
// Pure: no I/O. URLs are parsed by libcurl's URL API, so the host checked here is the host libcurl
// connects to (the Fetcher hands libcurl the very CURLU handle that was checked). Two checks:
//
// - By name, before anything is sent: the scheme is http or https and the host (and port) matches
//   an entry. Entries are `host`, `host:port`, `*.domain` (subdomains at any depth, not the bare
//   domain), and IPv4 or bracketed IPv6 literals with or without a port (`127.0.0.1:8080`,
//   `[::1]:8080`). An entry without a port allows the scheme's default port only (80 for http,
//   443 for https): a listed backend on 443 does not open every other service of that host; a
//   port written in the entry is allowed over either scheme. Names compare without case; a name
//   longer than DNS allows (253 bytes), a trailing dot, an IPv6 zone id, userinfo that names
//   another host, and anything libcurl refuses are not the listed host.
// - By address, on each connection just before connect (the Fetcher calls allowsAddress from
//   libcurl's open-socket callback, after resolution, so DNS rebinding cannot slip between check
//   and connect): loopback (127/8, ::1), link-local (169.254/16, fe80::/10), unspecified (0/8, ::)
//   and the cloud metadata addresses (169.254.169.254, fd00:ec2::254) are refused unless that
//   address literal is itself listed (with the connection's port). Private ranges (10/8,
//   172.16/12, 192.168/16, fc00::/7, 100.64/10) are allowed: backends live there, and the name
//   must be on the list anyway.
//
// Must not: resolve names, open sockets, or hold a libcurl easy or multi handle.
#pragma once

#include <curl/curl.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/Status.h"

namespace partyline::net {

struct CurlUrlDeleter {
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

// A URL that passed the check by name: what the Fetcher connects to.
struct FetchTarget {
    CurlUrl url;         // the parsed URL itself, handed to libcurl (CURLOPT_CURLU)
    std::string scheme;  // "http" or "https"
    std::string host;    // lower case; an IPv6 literal without brackets, in its shortest form
    uint16_t port = 0;   // the explicit port, else the scheme's default

    // "host:port" as compared by the policy ("[::1]:8080" for IPv6).
    std::string authority() const;
};

class FetchPolicy {
   public:
    // Entries that fail checkEntry are dropped: they allow nothing.
    explicit FetchPolicy(const std::vector<std::string>& allow);

    // Ok when `entry` is a valid allow-list entry, else why not (for the configuration's error).
    static Status checkEntry(std::string_view entry);

    // The check by name. Errors: InvalidArgument "bad url" (does not parse, no host, port 0, a
    // scheme other than http/https) or InvalidArgument "not allowed: host <host>".
    Result<FetchTarget> check(std::string_view url) const;

    // A list of exactly the host and port of `url` (its scheme's default port when it names none),
    // which may connect to whatever address that name resolves to, loopback included: the
    // operator's own target (a party's webhook URL), never a script's. Errors as check's "bad url".
    static Result<std::shared_ptr<const FetchPolicy>> exactly(std::string_view url);

    // The check by address: may `target` connect to `address`? A listed name still may not reach
    // loopback, link-local, unspecified or metadata addresses unless the address is listed.
    bool allowsAddress(const FetchTarget& target, const sockaddr* address) const;

    // True when the address itself (IPv4-mapped IPv6 taken as IPv4) is one a name may not reach.
    static bool isGuardedAddress(const sockaddr* address);

   private:
    struct Entry {
        std::string host;  // lower case, without "*." for a wildcard; IPv6 without brackets
        int port = -1;     // -1: the scheme's default port only
        bool wildcard = false;
        bool literal = false;     // an IPv4 or IPv6 address
        bool anyAddress = false;  // exactly(): the name may reach guarded addresses too
    };
    // The URL's scheme, host and port, not checked against the list. Errors: "bad url", or
    // "not allowed: host <host>" for a host that is never a listed one.
    static Result<FetchTarget> parse(std::string_view url);
    static bool parseEntry(std::string_view text, Entry& out);
    bool listed(std::string_view host, uint16_t port, std::string_view scheme) const;

    std::vector<Entry> entries_;
};

}  // namespace partyline::net
