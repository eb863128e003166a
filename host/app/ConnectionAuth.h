// ConnectionAuth: a party's built-in connection auth (parties.X.auth.jwt), checked before anything
// of the room runs: before onBeforeConnect, before a ?since= replay, before onRequest.
//
// The token comes from the `token` query parameter (what PartySocket's `query` sends) or from
// `Authorization: Bearer`. It is verified with core/Jwt (signature, alg from the configured list,
// exp/nbf/iat with leeway, aud, iss) and its claims decoded with core/Json (bounded depth and
// size). A `rooms` claim, when present, must be a list of strings, each a room id, `party/room`
// or `party/*`, and must name the room asked for.
// Must not: log a token or a secret, or call into a room.
//
// Threads: any; a ConnectionAuth is immutable once made.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/Config.h"
#include "core/Jwt.h"
#include "core/Status.h"
#include "rooms/Http.h"

namespace partyline {

class ConnectionAuth {
   public:
    // What a verified token says about its holder.
    struct Identity {
        std::string claims;                  // the payload's JSON text, as the token carried it
        std::optional<std::string> subject;  // "sub"
        std::optional<double> expires;       // "exp" plus leeway: when the connection must close
    };
    struct Outcome {
        int status = 0;                    // 0: admitted; else 401 or 403
        std::string reason;                // for the refusal's body: "token required", "expired", ...
        std::optional<Identity> identity;  // none: anonymous (no token, auth not required)
    };

    static Result<std::unique_ptr<ConnectionAuth>> make(const AuthConfig& config);

    // `nowSeconds`: the node's clock, seconds since the epoch.
    Outcome check(const HttpRequest& request, const std::string& party, const std::string& room,
                  double nowSeconds) const;

    bool required() const { return required_; }

    // The token of a request: ?token= first, then Authorization: Bearer; nullopt when none.
    static std::optional<std::string> tokenOf(const HttpRequest& request);

   private:
    ConnectionAuth(jwt::Key key, jwt::AlgorithmSet algorithms, jwt::Expected expected, bool required)
        : key_(std::move(key)),
          algorithms_(algorithms),
          expected_(std::move(expected)),
          required_(required) {}

    jwt::Key key_;
    jwt::AlgorithmSet algorithms_;
    jwt::Expected expected_;
    bool required_;
};

// The answer to a refused token: 401 with WWW-Authenticate (RFC 6750) and the reason, or 403.
HttpResponse refusalOf(const ConnectionAuth::Outcome& outcome);
// The node's clock in seconds since the epoch, as tokens count time; and back.
double epochSeconds();
std::chrono::system_clock::time_point epochTime(double seconds);

// Every party's ConnectionAuth, made once at start. Threads: any, read-only.
class PartyAuths {
   public:
    static Result<PartyAuths> make(const std::map<std::string, PartyConfig>& parties);
    // What guards a request to `party`: its own auth, else (a router's request) its `target`'s;
    // null when neither has auth.
    const ConnectionAuth* authFor(const std::string& party, const std::string& target) const;

   private:
    std::map<std::string, std::shared_ptr<const ConnectionAuth>> auths_;
};

}  // namespace partyline
