// ClientAddress: who the client of a request is. The TCP peer, unless the peer is one of
// trusted_proxies: then X-Forwarded-For, read from its end (each proxy appends the address it
// got the request from), gives the last address that is not itself a trusted proxy. Pure. The
// control surface's loopback rule asks it, so a remote client through a local proxy is not local.
//
// Anyone can send X-Forwarded-For, so it is read only from listed proxies, and only as far back as
// trusted hops reach: the entries before that are whatever the client wrote.
// Must not: resolve names, or believe an entry that is not a numeric address (it stops the walk).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/AddressRange.h"

namespace partyline {

class TrustedProxies {
   public:
    TrustedProxies() = default;
    // Each an address or CIDR block, as the configuration checked them; others are skipped.
    explicit TrustedProxies(const std::vector<std::string>& ranges);

    bool empty() const { return ranges_.empty(); }
    bool contains(std::string_view address) const;

    // The client of a request from `peer` that carried `forwardedFor` (every X-Forwarded-For
    // field joined with ", ", or nullptr when none was sent).
    std::string clientOf(std::string_view peer, const std::string* forwardedFor) const;

   private:
    std::vector<AddressRange> ranges_;
};

}  // namespace partyline
