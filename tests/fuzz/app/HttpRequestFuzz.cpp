// The parts of an HTTP request partyline parses itself (CivetWeb has split it into method, raw
// path, query string and header fields by then): Router (path and percent-decoding), parseQuery,
// HttpHeaders, UpgradeRequest (the WebSocket opening handshake) and HistoryQuery.
// Input: a request as text, "METHOD TARGET ...\r\n" then "Name: value" lines; this harness splits
// it the way CivetWeb does, so seeds are readable requests.
// Checks: no crash or UB; a route names what its kind promises and percent-encoding its party and
// room gives the same route back; a query encoded again parses to the same parameters; every
// listed header token is found; an accepted upgrade has a well-formed key, a usable connection id
// and the since it was sent, and its 101 answer is one header block; history bounds hold.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "app/HistoryQuery.h"
#include "app/HttpHeaders.h"
#include "app/Router.h"
#include "app/UpgradeRequest.h"
#include "net/WebSocketProtocol.h"

using namespace partyline;

namespace {

struct RawRequest {
    std::string_view method, path, query;
    std::vector<std::pair<std::string_view, std::string_view>> headers;
};

std::string_view takeLine(std::string_view& text) {
    size_t end = text.find("\r\n");
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 2);
    return line;
}

RawRequest split(std::string_view text) {
    RawRequest request;
    std::string_view line = takeLine(text);
    size_t space = line.find(' ');
    request.method = line.substr(0, space);
    std::string_view target = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    target = target.substr(0, target.find(' '));
    size_t question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string_view::npos) request.query = target.substr(question + 1);
    while (!text.empty()) {
        line = takeLine(text);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        request.headers.emplace_back(line.substr(0, colon), value);
    }
    return request;
}

// Every byte but the unreserved ones (RFC 3986) as %XX.
std::string percentEncode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += char(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

void checkRoute(std::string_view path) {
    Route r = route(path);
    switch (r.kind) {
        case Route::Kind::Room: {
            FUZZ_CHECK(!r.party.empty() && !r.room.empty(), "room route without party or room");
            FUZZ_CHECK(r.rest.empty() || r.rest[0] == '/', "rest does not start with '/'");
            Route again = route("/parties/" + percentEncode(r.party) + "/" + percentEncode(r.room) + r.rest);
            FUZZ_CHECK(again.kind == Route::Kind::Room && again.party == r.party && again.room == r.room &&
                           again.rest == r.rest,
                       "re-encoded room URL routes elsewhere");
            break;
        }
        case Route::Kind::Broadcast:
        case Route::Kind::History:
            FUZZ_CHECK(!r.party.empty() && !r.room.empty(), "endpoint route without party or room");
            break;
        case Route::Kind::Reload:
            FUZZ_CHECK(!r.party.empty(), "reload route without party");
            break;
        case Route::Kind::BadRequest:
            FUZZ_CHECK(!r.error.empty(), "bad request without a reason");
            break;
        default:
            break;
    }
}

std::map<std::string, std::string> checkQuery(std::string_view query) {
    auto params = parseQuery(query);
    std::string encoded;
    for (const auto& [key, value] : params) {
        if (!encoded.empty()) encoded += '&';
        encoded += percentEncode(key) + "=" + percentEncode(value);
    }
    FUZZ_CHECK(parseQuery(encoded) == params, "query parameters change when encoded again");
    return params;
}

void checkHeaders(const RawRequest& raw, const HttpHeaders& headers) {
    for (const auto& [name, value] : raw.headers) {
        std::string lower(name);
        for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
        FUZZ_CHECK(headers.find(lower), "a header that was sent is not found");
        // Each comma-separated item that has no comma, space or tab inside is found as a token.
        std::string_view rest = value;
        while (!rest.empty()) {
            size_t comma = rest.find(',');
            std::string_view item = rest.substr(0, comma);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
            if (!item.empty() && item.find_first_of(" \t") == std::string_view::npos)
                FUZZ_CHECK(headers.hasToken(lower, item), "a listed token is not found");
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
}

// `text` without leading zeros, as std::to_string writes the number it stands for.
std::string canonicalNumber(const std::string& text) {
    size_t zeros = text.find_first_not_of('0');
    return zeros == std::string::npos ? "0" : text.substr(zeros);
}

void checkUpgrade(const RawRequest& raw, const HttpHeaders& headers,
                  const std::map<std::string, std::string>& query) {
    auto upgrade = UpgradeRequest::parse(raw.method, headers, query);
    if (!upgrade) {
        FUZZ_CHECK(upgrade.status().code() == Code::InvalidArgument && !upgrade.status().message().empty(),
                   "an upgrade refusal without a message");
        return;
    }
    FUZZ_CHECK(UpgradeRequest::isUpgrade(headers), "accepted an upgrade that is not one");
    FUZZ_CHECK(upgrade->key.size() == 24, "accepted a malformed key");
    FUZZ_CHECK(upgrade->connectionId.empty() || isValidConnectionId(upgrade->connectionId), "unusable id");
    if (auto since = query.find("since"); since != query.end())
        FUZZ_CHECK(upgrade->since && std::to_string(*upgrade->since) == canonicalNumber(since->second),
                   "since is not the number that was sent");
    std::string answer = net::upgradeResponse(upgrade->key, upgrade->versioned ? "partyline.v1" : "");
    FUZZ_CHECK(answer.find("\r\n\r\n") == answer.size() - 4, "the 101 answer is not one header block");
}

void checkHistory(const std::map<std::string, std::string>& query) {
    auto history = HistoryQuery::parse(query);
    if (!history) return;
    FUZZ_CHECK(history->limit >= 1 && history->limit <= kMaxHistoryPage, "history limit out of range");
    if (auto since = query.find("since"); since != query.end())
        FUZZ_CHECK(std::to_string(history->since) == canonicalNumber(since->second),
                   "history since is not the number that was sent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    RawRequest raw = split(std::string_view(reinterpret_cast<const char*>(data), size));
    checkRoute(raw.path);
    std::string decoded;
    if (percentDecode(raw.path, decoded, false)) {
        std::string again;
        FUZZ_CHECK(percentDecode(percentEncode(decoded), again, false) && again == decoded,
                   "percent-decoding is not the inverse of encoding");
    }
    auto query = checkQuery(raw.query);
    HttpHeaders headers;
    for (const auto& [name, value] : raw.headers) headers.add(name, value);
    checkHeaders(raw, headers);
    checkUpgrade(raw, headers, query);
    checkHistory(query);
    return 0;
}
