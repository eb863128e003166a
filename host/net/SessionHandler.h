// SessionHandler: what the Reactor calls for one WebSocket connection, and SessionLimits, the limits
// it reads that connection under.
//
// Provides the interface a room's connection implements to receive complete messages and the end of
// the session, and the per-connection limits, taken from the configuration.
// Must not: block or write to the socket in a handler call (they run on the Reactor's one thread,
// which reads every WebSocket of the node): copy and post, and send through the Outbox.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/Config.h"

namespace partyline::net {

// Receives what the Reactor reads on one connection. Called on the Reactor's thread, one call at a
// time; the Reactor owns the handler and destroys it after onClosed.
class SessionHandler {
   public:
    virtual ~SessionHandler() = default;
    // A complete message; text was checked as UTF-8. Must not block: copy and post.
    virtual void onMessage(std::string payload, bool binary) = 0;
    // The peer sent its Close: it sends nothing more, so what it held (its place in a room, its
    // id) can be given up now, before its end of the stream arrives. At most once, before onClosed,
    // with the code and reason onClosed will report.
    virtual void onPeerClosed(uint16_t /*code*/, std::string_view /*reason*/) {}
    // Exactly once, when the session ends: the code and reason of whoever closed first (the peer's
    // Close, this side's close, slow-consumer close or protocol error, 1006 when the connection just
    // ended or went silent).
    virtual void onClosed(uint16_t code, std::string_view reason) = 0;
};

struct SessionLimits {
    size_t maxMessageBytes;                  // larger messages are refused with 1009
    std::chrono::milliseconds pingInterval;  // silence before the server pings
    std::chrono::milliseconds pingTimeout;   // silence before the connection counts as dead (1006)
    // Messages, pings and pongs per second: past it (and the burst) the connection is closed 1008;
    // 0: none.
    double messagesPerSecond = 0;
    double messageBurst = 1;
    // A message (or frame) begun must end within this, else the connection is closed 1008.
    std::chrono::milliseconds messageTimeout{std::chrono::milliseconds::max()};
    // When the connection's token expires (its exp plus leeway): closed 4001 "token expired" then,
    // so the client fetches a new token and reconnects. None: the connection has no expiry.
    std::optional<std::chrono::system_clock::time_point> expiresAt{};

    static SessionLimits from(const Limits& limits) {
        return {limits.max_message_bytes,     limits.ping_interval_seconds,
                limits.ping_timeout_seconds,  double(limits.max_messages_per_second),
                double(limits.message_burst), limits.message_timeout_ms};
    }
};

}  // namespace partyline::net
