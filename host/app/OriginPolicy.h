// OriginPolicy: which web pages may open a room's WebSocket or call its HTTP handler from a
// visitor's browser (the `origins` configuration), and the CORS answers that go with it.
//
// Pure: it decides from the Origin and Host headers. A request without Origin is not a browser's
// and is admitted (curl, servers, native clients). A browser's request is admitted when its
// origin is the node's own (the Host it asked for, over http or https: behind a TLS proxy the
// node cannot see the scheme) or is listed: exactly (`https://app.example.com`,
// `http://localhost:5173`) or by a subdomain wildcard (`https://*.example.com` matches
// `https://a.example.com` and `https://a.b.example.com`, not `https://example.com`). Scheme and
// host compare without case; the port must be the same; `null` and anything that is not
// `scheme://host[:port]` is refused. The control API never answers CORS: that is the HTTP
// layer's rule, not this class's.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace partyline {

class HttpHeaders;

class OriginPolicy {
   public:
    enum class Verdict {
        NoOrigin,    // not a browser request: admitted, no CORS
        SameOrigin,  // the page was served by this host: admitted, no CORS needed
        Listed,      // an allowed other origin: admitted, with CORS headers
        Refused,     // 403
    };

    explicit OriginPolicy(std::vector<std::string> origins);

    Verdict check(const HttpHeaders& headers) const;
    Verdict check(const std::string* origin, const std::string* host) const;

    // The 403 body for a refused origin: names it (bounded, printable) and the key to set.
    static std::string explainRefusal(const std::string* origin);

    using Headers = std::vector<std::pair<std::string, std::string>>;
    // CORS headers for an answer to a Listed origin.
    static Headers corsHeaders(const std::string& origin);
    // The preflight answer's headers: allowed methods and the headers the request asked for
    // (Access-Control-Request-Headers, kept only when it is a plain list of header names).
    static Headers preflightHeaders(const std::string& origin, const std::string* requestedHeaders);

   private:
    struct Pattern {
        std::string scheme;  // lower case
        std::string host;    // lower case; for a wildcard, the suffix after "*." with its dot: ".example.com"
        std::string port;    // as written, empty when none
        bool wildcard = false;
    };
    static bool parse(std::string_view origin, Pattern& out, bool allowWildcard);
    bool listed(const Pattern& origin) const;

    std::vector<Pattern> patterns_;
};

}  // namespace partyline
