// WebSocketSession: the read side of one upgraded connection, run on the thread that accepted it
// (a CivetWeb worker) for the connection's whole life.
//
// Provides the loop that reads frames, keeps the connection alive with ping/pong, finds half-open
// connections, and runs the close handshake. Everything it sends goes through the connection's
// Outbox, so the Sender's thread stays the only writer of the socket.
// Must not: write to the socket itself, block in a handler, or close the fd (its owner, CivetWeb,
// closes it after the request handler returns).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/Config.h"
#include "net/Sender.h"

namespace partyline::net {

// Receives what a session reads. Called on the session's thread, one call at a time.
class SessionHandler {
   public:
    virtual ~SessionHandler() = default;
    // A complete message; text was checked as UTF-8. Must not block long: copy and post.
    virtual void onMessage(std::string payload, bool binary) = 0;
    // Exactly once, when the session ends: the code and reason of whoever closed first (the peer's
    // Close, this side's close or protocol error, 1006 when the connection just ended).
    virtual void onClosed(uint16_t code, std::string_view reason) = 0;
};

struct SessionLimits {
    size_t maxMessageBytes;
    std::chrono::milliseconds pingInterval;  // silence before the server pings
    std::chrono::milliseconds pingTimeout;   // silence before the connection counts as dead

    static SessionLimits from(const Limits& limits) {
        return {limits.max_message_bytes, limits.ping_interval_seconds, limits.ping_timeout_seconds};
    }
};

// The session's thread. Reads from `fd` (already upgraded; `alreadyBuffered` holds bytes read past
// the HTTP request) until the connection ends:
// - answers pings (a pong queued on `outbox`); pings after `pingInterval` of silence and ends the
//   session with 1006, sending nothing, after `pingTimeout` without a single byte;
// - answers a client Close with a Close echo; on a protocol error sends a Close with its code;
// - when `stopping` becomes true, closes 1001 "server shutting down";
// - ends, too, when the outbox closes (slow consumer, or a close asked for by the room).
// It then waits briefly for the Close to be written, calls outbox.detach(), calls
// handler.onClosed() and returns. The caller closes the fd afterwards.
void runWebSocketSession(int fd, std::string_view alreadyBuffered, Outbox& outbox, SessionHandler& handler,
                         const SessionLimits& limits, const std::atomic<bool>& stopping);

}  // namespace partyline::net
