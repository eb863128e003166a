// WebhookEvent: one room event for the app's backend (parties.X.webhook), and how it is signed.
//
// Pure: the event's JSON body, the text that is signed and the header values, with no I/O and
// no clock of its own (the caller passes the times). The receiving side recomputes
//     HMAC-SHA-256(secret, X-Partyline-Timestamp + "." + body)
// in lowercase hex and compares it with X-Partyline-Signature after "sha256=", so a body cannot
// be changed nor replayed under another timestamp without the secret.
//
// Must not: send, queue or retry (WebhookSender does), or log a secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace partyline::net {

enum class WebhookEventKind {
    RoomStarted,  // "room.started": a shard of the room started on this node
    RoomIdle,     // "room.idle": this node's shard had no connection and no work, and stopped
    Connect,      // "connect": a WebSocket joined the room on this node
    Close,        // "close": it left (code and reason as the client or the node closed it)
};

// "room.started", "room.idle", "connect", "close": the names of the configuration's events list.
const char* webhookEventName(WebhookEventKind kind);
std::optional<WebhookEventKind> parseWebhookEventName(std::string_view name);

struct WebhookEvent {
    WebhookEventKind kind = WebhookEventKind::RoomStarted;
    std::string id;  // unique per event, the same on every retry: the receiver's idempotency key
    std::string party;
    std::string room;
    std::string node;
    int64_t atMs = 0;        // when it happened, milliseconds since the Unix epoch
    std::string connection;  // connect, close: the connection id
    // connect, close: the verified claims (JSON) of the connection's token; empty: none.
    std::string auth;
    uint16_t code = 0;   // close
    std::string reason;  // close
};

// The JSON body, fields in this order: id, event, party, room, node, at; then for connect and
// close: connection, then for close: code, reason; then auth when the connection had claims.
std::string webhookBody(const WebhookEvent& event);

// The text the signature covers: "<timestamp>.<body>", the timestamp in Unix seconds as the
// X-Partyline-Timestamp header writes it.
std::string webhookSignedText(int64_t timestampSeconds, std::string_view body);

// X-Partyline-Signature's value: "sha256=" and the lowercase hex HMAC-SHA-256 of the signed text.
std::string webhookSignature(std::string_view secret, int64_t timestampSeconds, std::string_view body);

}  // namespace partyline::net
