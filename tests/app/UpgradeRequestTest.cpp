#include <doctest/doctest.h>

#include "app/UpgradeRequest.h"

using namespace partyline;

namespace {

HttpHeaders goodHeaders() {
    HttpHeaders headers;
    headers.add("Upgrade", "websocket");
    headers.add("Connection", "Upgrade");
    headers.add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    headers.add("Sec-WebSocket-Version", "13");
    return headers;
}

std::string refusal(std::string_view method, const HttpHeaders& headers,
                    const std::map<std::string, std::string>& query = {}) {
    auto upgrade = UpgradeRequest::parse(method, headers, query);
    REQUIRE_FALSE(upgrade.isOk());
    CHECK(upgrade.status().code() == Code::InvalidArgument);
    return upgrade.status().message();
}

HttpHeaders with(std::string_view name, std::string_view value) {
    HttpHeaders good = goodHeaders(), headers;
    for (const auto& [n, v] : good.all())
        if (n != name) headers.add(n, v);
    if (!value.empty()) headers.add(name, value);
    return headers;
}

}  // namespace

TEST_CASE("a valid opening handshake gives its key, subprotocol, id and since") {
    HttpHeaders headers = goodHeaders();
    headers.add("Sec-WebSocket-Protocol", "chat, partyline.v1");
    auto upgrade = UpgradeRequest::parse("GET", headers, {{"_pk", "client-1"}, {"since", "42"}});
    REQUIRE_MESSAGE(upgrade.isOk(), upgrade.status().toString());
    CHECK(upgrade->key == "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK(upgrade->versioned);
    CHECK(upgrade->connectionId == "client-1");
    CHECK(upgrade->since == 42u);

    auto plain = UpgradeRequest::parse("GET", goodHeaders(), {});
    REQUIRE(plain.isOk());
    CHECK_FALSE(plain->versioned);
    CHECK(plain->connectionId.empty());
    CHECK_FALSE(plain->since.has_value());
}

TEST_CASE("isUpgrade: an Upgrade header, or Upgrade in Connection") {
    CHECK(UpgradeRequest::isUpgrade(goodHeaders()));
    HttpHeaders onlyUpgrade;
    onlyUpgrade.add("Upgrade", "h2c");
    CHECK(UpgradeRequest::isUpgrade(onlyUpgrade));
    HttpHeaders onlyConnection;
    onlyConnection.add("Connection", "keep-alive, upgrade");
    CHECK(UpgradeRequest::isUpgrade(onlyConnection));
    HttpHeaders plain;
    plain.add("Connection", "keep-alive");
    CHECK_FALSE(UpgradeRequest::isUpgrade(plain));
}

TEST_CASE("each broken part of the handshake is named") {
    CHECK(refusal("POST", goodHeaders()) == "a WebSocket upgrade must be a GET");
    CHECK(refusal("GET", with("upgrade", "h2c")) == "Upgrade header must be 'websocket'");
    CHECK(refusal("GET", with("connection", "keep-alive")) == "Connection header must contain 'Upgrade'");
    CHECK(refusal("GET", with("sec-websocket-key", "")) == "missing or malformed Sec-WebSocket-Key");
    CHECK(refusal("GET", with("sec-websocket-version", "8")) == "unsupported Sec-WebSocket-Version: use 13");
}

TEST_CASE("the key must be the base64 of 16 bytes") {
    CHECK(UpgradeRequest::parse("GET", with("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="), {}).isOk());
    CHECK(UpgradeRequest::parse("GET", with("sec-websocket-key", "+/+/+/+/+/+/+/+/+/+/+w=="), {}).isOk());
    for (const char* key :
         {"dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===", "dGhlIHNhbXBsZSBub25jZQ:=",
          "dGhlIHNhbXBsZSBub25jZ\r\n=", "dGhlIHNhbXBsZSBub25jZQAA", "dGhlIHNhbXBs ZSBub25jZQ="})
        CHECK_MESSAGE(
            refusal("GET", with("sec-websocket-key", key)) == "missing or malformed Sec-WebSocket-Key", key);
}

TEST_CASE("since must be a plain decimal log sequence") {
    auto zero = UpgradeRequest::parse("GET", goodHeaders(), {{"since", "0"}});
    REQUIRE(zero.isOk());
    CHECK(zero->since == 0u);
    auto largest = UpgradeRequest::parse("GET", goodHeaders(), {{"since", "18446744073709551615"}});
    REQUIRE(largest.isOk());
    CHECK(largest->since == UINT64_MAX);
    // strtoull read "18446744073709551616" as UINT64_MAX and " 5" and "+5" as 5.
    for (const char* since : {"", "-1", "+5", " 5", "5 ", "5x", "0x10", "18446744073709551616", "1e3"})
        CHECK_MESSAGE(refusal("GET", goodHeaders(), {{"since", since}}) ==
                          "since must be a log sequence (a non-negative integer)",
                      since);
}

TEST_CASE("epoch is the log generation a welcome frame gave: 1 to 64 letters, digits, '-', '_' or '.'") {
    auto given =
        UpgradeRequest::parse("GET", goodHeaders(), {{"since", "4"}, {"epoch", "1796589662123456789"}});
    REQUIRE(given.isOk());
    CHECK(given->epoch == "1796589662123456789");
    CHECK(UpgradeRequest::parse("GET", goodHeaders(), {})->epoch.empty());
    CHECK(UpgradeRequest::parse("GET", goodHeaders(), {{"epoch", std::string(64, 'a')}}).isOk());
    for (std::string epoch : {std::string(), std::string(65, 'a'), std::string("has space"),
                              std::string("a/b"), std::string("\"quoted\"")})
        CHECK_MESSAGE(refusal("GET", goodHeaders(), {{"epoch", epoch}}).rfind("epoch must be", 0) == 0,
                      epoch);
}

TEST_CASE("an unusable _pk is ignored, and the node makes an id") {
    for (const char* pk : {"", "has space", "tab\there", "\x7f"}) {
        auto upgrade = UpgradeRequest::parse("GET", goodHeaders(), {{"_pk", pk}});
        REQUIRE(upgrade.isOk());
        CHECK(upgrade->connectionId.empty());
    }
    auto longest =
        UpgradeRequest::parse("GET", goodHeaders(), {{"_pk", std::string(kMaxConnectionIdBytes, 'a')}});
    CHECK(longest->connectionId.size() == kMaxConnectionIdBytes);
    auto tooLong =
        UpgradeRequest::parse("GET", goodHeaders(), {{"_pk", std::string(kMaxConnectionIdBytes + 1, 'a')}});
    CHECK(tooLong->connectionId.empty());
    CHECK(UpgradeRequest::parse("GET", goodHeaders(), {{"_pk", "caf\xc3\xa9"}})->connectionId ==
          "caf\xc3\xa9");
}

TEST_CASE("_resume is the resume secret when it is a usable token, else ignored") {
    auto upgrade = UpgradeRequest::parse("GET", goodHeaders(), {{"_pk", "p"}, {"_resume", "0123abcd"}});
    REQUIRE(upgrade);
    CHECK(upgrade->resume == "0123abcd");
    for (std::string bad : {std::string(), std::string("with space"), std::string(200, 'a')})
        CHECK(UpgradeRequest::parse("GET", goodHeaders(), {{"_resume", bad}})->resume.empty());
    CHECK(UpgradeRequest::parse("GET", goodHeaders(), {})->resume.empty());
}
