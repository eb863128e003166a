#include "net/WebhookEvent.h"

#include "core/Crypto.h"
#include "core/Json.h"

namespace partyline::net {
namespace {

constexpr std::pair<WebhookEventKind, const char*> kNames[] = {
    {WebhookEventKind::RoomStarted, "room.started"},
    {WebhookEventKind::RoomIdle, "room.idle"},
    {WebhookEventKind::Connect, "connect"},
    {WebhookEventKind::Close, "close"},
};

bool hasConnection(WebhookEventKind kind) {
    return kind == WebhookEventKind::Connect || kind == WebhookEventKind::Close;
}

}  // namespace

const char* webhookEventName(WebhookEventKind kind) {
    for (const auto& [k, name] : kNames)
        if (k == kind) return name;
    return "";
}

std::optional<WebhookEventKind> parseWebhookEventName(std::string_view name) {
    for (const auto& [kind, text] : kNames)
        if (name == text) return kind;
    return std::nullopt;
}

std::string webhookBody(const WebhookEvent& event) {
    std::string out = "{\"id\":" + jsonQuote(event.id) +
                      ",\"event\":" + jsonQuote(webhookEventName(event.kind)) +
                      ",\"party\":" + jsonQuote(event.party) + ",\"room\":" + jsonQuote(event.room) +
                      ",\"node\":" + jsonQuote(event.node) + ",\"at\":" + std::to_string(event.atMs);
    if (hasConnection(event.kind)) out += ",\"connection\":" + jsonQuote(event.connection);
    if (event.kind == WebhookEventKind::Close)
        out += ",\"code\":" + std::to_string(event.code) + ",\"reason\":" + jsonQuote(event.reason);
    // The claims are JSON the token's verification already parsed: written as they came.
    if (hasConnection(event.kind) && !event.auth.empty()) out += ",\"auth\":" + event.auth;
    return out + "}";
}

std::string webhookSignedText(int64_t timestampSeconds, std::string_view body) {
    std::string text = std::to_string(timestampSeconds) + ".";
    text.append(body);
    return text;
}

std::string webhookSignature(std::string_view secret, int64_t timestampSeconds, std::string_view body) {
    unsigned char mac[crypto::kMaxDigestBytes];
    constexpr size_t kSize = 32;
    std::string out = "sha256=";
    if (!crypto::hmac(crypto::Digest::Sha256, secret, webhookSignedText(timestampSeconds, body), mac))
        return out;  // libcrypto failed: a signature no receiver accepts
    char hex[2 * kSize];
    crypto::hexTo(mac, kSize, hex);
    return out.append(hex, sizeof hex);
}

}  // namespace partyline::net
