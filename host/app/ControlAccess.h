// ControlAccess: who may call the control surface (everything under /v1/, and /metrics).
//
// Pure: it decides from the request's Authorization header and the peer's address, so it is
// tested and fuzzed without a server. It answers nothing itself; the HTTP layer turns a refusal
// into its status (401 with WWW-Authenticate: Bearer, or 403).
//
// The rule, in order:
//   - api.insecure: everyone (development only; the node warns at start);
//   - api.keys set: a request must carry `Authorization: Bearer <key>` for one of them, compared
//     in constant time, whatever its address;
//   - no keys: loopback peers only, so `partyline serve` on a laptop works with curl and a node
//     on a public address is closed until the operator sets a key; and never a browser's request
//     (one with an Origin header): a web page open on that laptop could otherwise write to any
//     room through the loopback address (a simple POST needs no preflight).
// It never logs or returns a key.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace partyline {

class ControlAccess {
   public:
    enum class Verdict {
        Allowed,
        MissingKey,   // keys are configured and the request carries none: 401
        WrongKey,     // it carries a bearer token that matches no key, or a malformed header: 401
        NotLoopback,  // no keys are configured and the peer is not on a loopback address: 403
        BrowserPage,  // no keys are configured and the request came from a web page (Origin): 403
    };

    ControlAccess(std::vector<std::string> keys, bool insecure);

    // `authorization`: the Authorization header's value, or nullptr when it was not sent.
    // `peer`: the peer's IP address as text ("127.0.0.1", "::1", "::ffff:127.0.0.1").
    // `fromBrowser`: the request carries an Origin header.
    Verdict check(const std::string* authorization, std::string_view peer, bool fromBrowser = false) const;

    // The one-line description the node logs at start: keys configured, loopback only, insecure.
    std::string describe() const;

    // The body that goes with a refusal: says what is wrong and what to set, never a key.
    static const char* explain(Verdict verdict);
    static int statusFor(Verdict verdict);

    static bool isLoopback(std::string_view peer);

   private:
    bool matchesAKey(std::string_view presented) const;

    std::vector<std::string> keys_;
    bool insecure_;
};

}  // namespace partyline
