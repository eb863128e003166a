// Router: which endpoint a request path names. Pure: no I/O, no CivetWeb.
//
// The path is taken raw (still percent-encoded) so a room id may hold an
// encoded '/', and each segment is decoded on its own.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace partyline {

struct Route {
    // Connect: GET /v1/connect, the multiplexed WebSocket (partyline.mux.v1).
    enum class Kind {
        Room,
        Broadcast,
        History,
        Presence,
        Reload,
        Connect,
        Health,
        Ready,
        Metrics,
        Other,
        BadRequest
    };
    Kind kind = Kind::Other;
    std::string party;
    std::string room;
    std::string rest;   // after /parties/:party/:room, raw ("" or "/...")
    std::string error;  // for BadRequest
};

Route route(std::string_view rawPath);

// Percent-decodes one path segment or query component ('+' stays '+' in paths,
// becomes ' ' in queries). False on a bad escape.
bool percentDecode(std::string_view in, std::string& out, bool plusIsSpace);
std::map<std::string, std::string> parseQuery(std::string_view query);

// A query value that must be a number: decimal digits only (no sign, space or "0x"), at most
// 2^64 - 1. Nothing otherwise, so "-1" or "5x" is refused rather than read as something else.
std::optional<uint64_t> parseDecimal(std::string_view text);

}  // namespace partyline
