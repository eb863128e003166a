#include "app/ConnectionAuth.h"

#include <strings.h>

#include "core/Json.h"

namespace partyline {
namespace {

using Outcome = ConnectionAuth::Outcome;

Outcome refused(int status, std::string reason) {
    return {status, std::move(reason), std::nullopt};
}

// The registered claims, read from the decoded payload; `malformed` when one has the wrong type.
jwt::Claims claimsOf(const JsonValue& payload) {
    jwt::Claims claims;
    auto number = [&](const char* name, std::optional<double>& out) {
        const JsonValue* value = payload.find(name);
        if (!value) return;
        if (auto n = value->asNumber())
            out = *n;
        else
            claims.malformed = true;
    };
    number("exp", claims.exp);
    number("nbf", claims.nbf);
    number("iat", claims.iat);
    if (const JsonValue* iss = payload.find("iss")) {
        if (iss->asString())
            claims.issuer = *iss->asString();
        else
            claims.malformed = true;
    }
    if (const JsonValue* aud = payload.find("aud")) {
        claims.hasAudience = true;
        if (aud->asString()) {
            claims.audience.push_back(*aud->asString());
        } else if (aud->asArray()) {
            for (const auto& item : *aud->asArray()) {
                if (!item.asString())
                    claims.malformed = true;
                else
                    claims.audience.push_back(*item.asString());
            }
        } else {
            claims.malformed = true;
        }
    }
    return claims;
}

// The `rooms` claim: absent (every room), or a list of room ids, "party/room" or "party/*".
std::optional<Outcome> checkRooms(const JsonValue& payload, const std::string& party,
                                  const std::string& room) {
    const JsonValue* rooms = payload.find("rooms");
    if (!rooms) return std::nullopt;
    if (!rooms->asArray()) return refused(401, "malformed: the rooms claim is not a list");
    for (const auto& item : *rooms->asArray()) {
        const std::string* entry = item.asString();
        if (!entry) return refused(401, "malformed: the rooms claim holds something that is not a string");
        if (*entry == room || *entry == party + "/" + room || *entry == party + "/*") return std::nullopt;
    }
    return refused(403, "the token's rooms claim does not include " + party + "/" + room);
}

}  // namespace

Result<std::unique_ptr<ConnectionAuth>> ConnectionAuth::make(const AuthConfig& config) {
    const JwtConfig& jwtConfig = config.jwt;
    auto key = jwtConfig.secret.empty() ? jwt::Key::publicKey(jwtConfig.public_key_pem)
                                        : jwt::Key::secret(jwtConfig.secret.reveal());
    if (!key) return Status(key.status()).context("auth.jwt");
    jwt::AlgorithmSet algorithms;
    for (const auto& name : jwtConfig.algorithms) {
        auto algorithm = jwt::algorithmNamed(name);
        if (!algorithm)
            return Status(Code::InvalidArgument, "auth.jwt.algorithms: unknown algorithm " + name);
        algorithms.add(*algorithm);
    }
    jwt::Expected expected;
    if (!jwtConfig.audience.empty()) expected.audience = jwtConfig.audience;
    if (!jwtConfig.issuer.empty()) expected.issuer = jwtConfig.issuer;
    expected.leewaySeconds = jwtConfig.leeway_seconds.count();
    return std::unique_ptr<ConnectionAuth>(
        new ConnectionAuth(std::move(key.value()), algorithms, std::move(expected), config.required));
}

std::optional<std::string> ConnectionAuth::tokenOf(const HttpRequest& request) {
    if (auto it = request.query.find("token"); it != request.query.end()) return it->second;
    if (auto it = request.headers.find("authorization"); it != request.headers.end()) {
        const std::string& value = it->second;
        if (value.size() > 7 && strncasecmp(value.c_str(), "Bearer ", 7) == 0) return value.substr(7);
    }
    return std::nullopt;
}

ConnectionAuth::Outcome ConnectionAuth::check(const HttpRequest& request, const std::string& party,
                                              const std::string& room, double nowSeconds) const {
    auto token = tokenOf(request);
    if (!token) return required_ ? refused(401, "token required") : Outcome{};
    jwt::Token parts;
    if (auto reason = jwt::parse(*token, parts); reason != jwt::Reason::Ok)
        return refused(401, jwt::reasonText(reason));
    auto header = parseJson(parts.header, jwt::kMaxTokenBytes);
    if (!header || !header->asObject()) return refused(401, "malformed");
    jwt::Header read;
    if (const JsonValue* alg = header->find("alg"); alg && alg->asString()) read.alg = *alg->asString();
    read.critical = header->find("crit") != nullptr;
    if (auto reason = jwt::verifySignature(parts, read, key_, algorithms_); reason != jwt::Reason::Ok)
        return refused(401, jwt::reasonText(reason));
    // Only a signed payload is decoded: its depth and size are bounded all the same.
    auto payload = parseJson(parts.payload, jwt::kMaxTokenBytes);
    if (!payload || !payload->asObject()) return refused(401, "malformed");
    jwt::Claims claims = claimsOf(*payload);
    if (auto reason = jwt::checkClaims(claims, expected_, nowSeconds); reason != jwt::Reason::Ok)
        return refused(401, jwt::reasonText(reason));
    if (auto refusal = checkRooms(*payload, party, room)) return *refusal;
    Identity identity;
    identity.claims = parts.payload;
    if (const JsonValue* sub = payload->find("sub"); sub && sub->asString())
        identity.subject = *sub->asString();
    if (claims.exp) identity.expires = *claims.exp + double(expected_.leewaySeconds);
    return {0, {}, std::move(identity)};
}

HttpResponse refusalOf(const ConnectionAuth::Outcome& outcome) {
    HttpResponse answer = HttpResponse::text(outcome.status, outcome.reason + "\n");
    if (outcome.status == 401) {
        answer.headers.push_back(
            {"WWW-Authenticate", "Bearer realm=\"partyline\", error=\"invalid_token\", error_description=\"" +
                                     outcome.reason + "\""});
    }
    return answer;
}

double epochSeconds() {
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::chrono::system_clock::time_point epochTime(double seconds) {
    using namespace std::chrono;
    return system_clock::time_point(duration_cast<system_clock::duration>(duration<double>(seconds)));
}

Result<PartyAuths> PartyAuths::make(const std::map<std::string, PartyConfig>& parties) {
    PartyAuths out;
    for (const auto& [name, party] : parties) {
        if (!party.auth) continue;
        auto auth = ConnectionAuth::make(*party.auth);
        if (!auth) return Status(auth.status()).context("parties." + name);
        out.auths_.emplace(name, std::move(auth.value()));
    }
    return out;
}

const ConnectionAuth* PartyAuths::authFor(const std::string& party, const std::string& target) const {
    if (auto it = auths_.find(party); it != auths_.end()) return it->second.get();
    if (auto it = auths_.find(target); it != auths_.end()) return it->second.get();
    return nullptr;
}

}  // namespace partyline
