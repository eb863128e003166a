// UpgradeRequest: what a WebSocket upgrade request asks for, checked before any room is involved.
// Pure: reads the method, headers and decoded query the node got, so it can be fuzzed without a
// server. Must not: decide anything about the room (the room's onBeforeConnect does that).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "app/HttpHeaders.h"
#include "core/Status.h"

namespace partyline {

// Longer `_pk` connection ids are replaced by a generated one: ids appear in every event.
inline constexpr size_t kMaxConnectionIdBytes = 128;

struct UpgradeRequest {
    std::string key;           // Sec-WebSocket-Key, the base64 of 16 bytes
    std::string connectionId;  // `_pk` when it is a usable id, else empty: the node makes one
    // `_resume`: the resume secret a partyline.v1 client was given in its welcome frame, to take
    // its id back while the old connection lingers (rooms/ConnectionIds.h); empty when none.
    std::string resume;
    bool versioned = false;         // the client asked for the partyline.v1 subprotocol
    std::optional<uint64_t> since;  // `?since=`: replay the log after this sequence
    // `?epoch=`: the log generation `since` is of, as a welcome frame gave it; empty: not given.
    std::string epoch;

    // True when the request asks for an upgrade at all (an Upgrade header, or Upgrade in
    // Connection): such a request is answered as an upgrade, never as plain HTTP.
    static bool isUpgrade(const HttpHeaders& headers);

    // InvalidArgument, with the message to send back with a 400, when the request is not a valid
    // RFC 6455 opening handshake or its query is malformed.
    static Result<UpgradeRequest> parse(std::string_view method, const HttpHeaders& headers,
                                        const std::map<std::string, std::string>& query);
};

// A `_pk` the node can use as the connection's id: 1 to kMaxConnectionIdBytes visible bytes.
bool isValidConnectionId(std::string_view id);

}  // namespace partyline
