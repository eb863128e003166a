#include <doctest/doctest.h>

#include "app/HttpHeaders.h"

using namespace partyline;

TEST_CASE("header names are found in lower case, whatever case they were sent in") {
    HttpHeaders headers;
    headers.add("Sec-WebSocket-Key", "abc");
    REQUIRE(headers.find("sec-websocket-key"));
    CHECK(*headers.find("sec-websocket-key") == "abc");
    CHECK(headers.find("Sec-WebSocket-Key") == nullptr);
    CHECK(headers.find("host") == nullptr);
}

TEST_CASE("a name sent twice has its values joined with a comma") {
    HttpHeaders headers;
    headers.add("Connection", "keep-alive");
    headers.add("connection", "Upgrade");
    CHECK(*headers.find("connection") == "keep-alive, Upgrade");
    CHECK(headers.hasToken("connection", "upgrade"));
    CHECK(headers.all().size() == 1);
}

TEST_CASE("tokens are comma-separated, compared without case, around spaces and tabs") {
    HttpHeaders headers;
    headers.add("Connection", " keep-alive ,\tUPGRADE\t");
    CHECK(headers.hasToken("connection", "upgrade"));
    CHECK(headers.hasToken("connection", "keep-alive"));
    CHECK_FALSE(headers.hasToken("connection", "keep"));
    CHECK_FALSE(headers.hasToken("connection", "close"));
    CHECK_FALSE(headers.hasToken("upgrade", "websocket"));
}

TEST_CASE("an empty value and empty list items are no token") {
    HttpHeaders headers;
    headers.add("Upgrade", "");
    headers.add("X-List", ",,");
    CHECK_FALSE(headers.hasToken("upgrade", "websocket"));
    CHECK(headers.hasToken("x-list", ""));  // the empty item is there, and only it
    CHECK_FALSE(headers.hasToken("x-list", ","));
}
