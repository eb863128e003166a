// WebhookEvent: the body of each event kind, the signed text and the signature, checked against
// a digest computed apart (openssl dgst -sha256 -hmac). No network.
#include <doctest/doctest.h>

#include "core/Json.h"
#include "net/WebhookEvent.h"

namespace partyline::net {
namespace {

WebhookEvent base(WebhookEventKind kind) {
    WebhookEvent event;
    event.kind = kind;
    event.id = "ab-1";
    event.party = "game";
    event.room = "r1";
    event.node = "node-a";
    event.atMs = 1767225600123;
    return event;
}

TEST_CASE("event names: the configuration's spelling, both ways") {
    for (auto kind : {WebhookEventKind::RoomStarted, WebhookEventKind::RoomIdle, WebhookEventKind::Connect,
                      WebhookEventKind::Close}) {
        CAPTURE(webhookEventName(kind));
        CHECK(parseWebhookEventName(webhookEventName(kind)) == kind);
    }
    CHECK(std::string(webhookEventName(WebhookEventKind::RoomStarted)) == "room.started");
    CHECK(std::string(webhookEventName(WebhookEventKind::RoomIdle)) == "room.idle");
    CHECK_FALSE(parseWebhookEventName("open").has_value());
    CHECK_FALSE(parseWebhookEventName("").has_value());
}

TEST_CASE("room.started and room.idle carry the room and the node only") {
    CHECK(
        webhookBody(base(WebhookEventKind::RoomStarted)) ==
        R"({"id":"ab-1","event":"room.started","party":"game","room":"r1","node":"node-a","at":1767225600123})");
    auto idle = base(WebhookEventKind::RoomIdle);
    idle.connection = "ignored";
    idle.auth = R"({"sub":"ignored"})";
    CHECK(
        webhookBody(idle) ==
        R"({"id":"ab-1","event":"room.idle","party":"game","room":"r1","node":"node-a","at":1767225600123})");
}

TEST_CASE("connect carries the connection, and auth only with verified claims") {
    auto event = base(WebhookEventKind::Connect);
    event.connection = "c-7";
    CHECK(
        webhookBody(event) ==
        R"({"id":"ab-1","event":"connect","party":"game","room":"r1","node":"node-a","at":1767225600123,"connection":"c-7"})");
    event.auth = R"({"sub":"alice","exp":2000000000})";
    CHECK(
        webhookBody(event) ==
        R"({"id":"ab-1","event":"connect","party":"game","room":"r1","node":"node-a","at":1767225600123,"connection":"c-7","auth":{"sub":"alice","exp":2000000000}})");
}

TEST_CASE("close carries the code and the reason, quoted as JSON") {
    auto event = base(WebhookEventKind::Close);
    event.connection = "c-7";
    event.code = 1001;
    event.reason = "going \"away\"\n";
    std::string body = webhookBody(event);
    CHECK(
        body ==
        R"({"id":"ab-1","event":"close","party":"game","room":"r1","node":"node-a","at":1767225600123,"connection":"c-7","code":1001,"reason":"going \"away\"\n"})");
    CHECK(parseJson(body).isOk());
    event.room = "caf\xc3\xa9 \x01";
    CHECK(parseJson(webhookBody(event)).isOk());
}

TEST_CASE("the signature: sha256= and the lowercase hex HMAC-SHA-256 of timestamp.body") {
    CHECK(webhookSignedText(1767225600, R"({"a":1})") == R"(1767225600.{"a":1})");
    // printf '1767225600.{"a":1}' | openssl dgst -sha256 -hmac secret
    CHECK(webhookSignature("secret", 1767225600, R"({"a":1})") ==
          "sha256=96a067a1c95eb143fc00b9097bcfcbcd5456adda508c443ff219748e764dbed7");
    std::string signature = webhookSignature("secret", 1767225600, R"({"a":1})");
    CHECK(signature.size() == 7 + 64);
    CHECK(signature.find_first_not_of("0123456789abcdef", 7) == std::string::npos);
    CHECK(signature != webhookSignature("secret", 1767225601, R"({"a":1})"));
    CHECK(signature != webhookSignature("secreT", 1767225600, R"({"a":1})"));
    CHECK(signature != webhookSignature("secret", 1767225600, R"({"a":2})"));
}

}  // namespace
}  // namespace partyline::net
