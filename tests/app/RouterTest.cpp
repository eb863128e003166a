#include <doctest/doctest.h>

#include "app/Router.h"

using namespace partyline;

TEST_CASE("room URLs name party, room and the rest") {
    Route r = route("/parties/chat/lobby");
    CHECK(r.kind == Route::Kind::Room);
    CHECK(r.party == "chat");
    CHECK(r.room == "lobby");
    CHECK(r.rest == "");

    r = route("/parties/chat/lobby/api/items");
    CHECK(r.kind == Route::Kind::Room);
    CHECK(r.rest == "/api/items");
}

TEST_CASE("/party/:room is the default party main") {
    Route r = route("/party/lobby");
    CHECK(r.kind == Route::Kind::Room);
    CHECK(r.party == "main");
    CHECK(r.room == "lobby");
}

TEST_CASE("room ids are percent-decoded one segment at a time") {
    Route r = route("/parties/chat/a%2Fb%20c.d%E2%9C%93");
    CHECK(r.kind == Route::Kind::Room);
    CHECK(r.room == "a/b c.d\xE2\x9C\x93");
    CHECK(route("/parties/chat/a+b").room == "a+b");
}

TEST_CASE("bad escapes and empty ids are bad requests") {
    CHECK(route("/parties/chat/%zz").kind == Route::Kind::BadRequest);
    CHECK(route("/parties/chat/%4").kind == Route::Kind::BadRequest);
    CHECK(route("/parties//lobby").kind == Route::Kind::BadRequest);
    CHECK(route("/parties/chat/").kind == Route::Kind::BadRequest);
}

TEST_CASE("built-in endpoints") {
    CHECK(route("/healthz").kind == Route::Kind::Health);
    CHECK(route("/readyz").kind == Route::Kind::Ready);
    CHECK(route("/metrics").kind == Route::Kind::Metrics);
    Route b = route("/v1/parties/chat/lobby/broadcast");
    CHECK(b.kind == Route::Kind::Broadcast);
    CHECK(b.party == "chat");
    CHECK(b.room == "lobby");
    CHECK(route("/v1/parties/chat/lobby/history").kind == Route::Kind::History);
    Route p = route("/v1/parties/chat/a%2Fb/presence");
    CHECK(p.kind == Route::Kind::Presence);
    CHECK(p.room == "a/b");
    CHECK(route("/v1/parties/chat/lobby/presence/x").kind == Route::Kind::Other);
    CHECK(route("/v1/parties/chat/reload").kind == Route::Kind::Reload);
    CHECK(route("/v1/parties/chat/lobby/other").kind == Route::Kind::Other);
    CHECK(route("/index.html").kind == Route::Kind::Other);
    CHECK(route("/parties/chat").kind == Route::Kind::Other);
}

TEST_CASE("query strings decode '+' as space and skip malformed pairs") {
    auto q = parseQuery("_pk=abc&name=a+b%21&bad=%zz&flag&=empty");
    CHECK(q["_pk"] == "abc");
    CHECK(q["name"] == "a b!");
    CHECK(q.count("bad") == 0);
    CHECK(q["flag"] == "");
}

TEST_CASE("parseDecimal: digits only, up to 2^64 - 1") {
    CHECK(parseDecimal("0") == 0u);
    CHECK(parseDecimal("0042") == 42u);
    CHECK(parseDecimal("18446744073709551615") == UINT64_MAX);
    for (const char* text : {"", "-1", "+1", " 1", "1 ", "1x", "0x1", "1.0", "18446744073709551616"})
        CHECK_MESSAGE(!parseDecimal(text).has_value(), text);
}
