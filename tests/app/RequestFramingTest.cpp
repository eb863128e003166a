#include <doctest/doctest.h>

#include "app/RequestFraming.h"

using namespace partyline;

namespace {

std::optional<FramingRefusal> check(const HeaderFields& fields, size_t maxHeaders = 63) {
    return checkFraming(fields, maxHeaders);
}

}  // namespace

TEST_CASE("a request with one way to find its end passes") {
    CHECK_FALSE(check({}));
    CHECK_FALSE(check({{"Host", "x"}, {"Content-Length", "12"}}));
    CHECK_FALSE(check({{"Host", "x"}, {"content-length", "0"}}));
    CHECK_FALSE(check({{"Transfer-Encoding", "chunked"}}));
    CHECK_FALSE(check({{"Content-Length", "5 \t"}}));  // optional whitespace after the value
}

TEST_CASE("Content-Length and Transfer-Encoding together are refused") {
    auto refused = check({{"Content-Length", "5"}, {"transfer-encoding", "chunked"}});
    REQUIRE(refused);
    CHECK(refused->status == 400);
    CHECK(refused->why == "the request has both Content-Length and Transfer-Encoding");
    CHECK(check({{"Transfer-Encoding", "chunked"}, {"CONTENT-LENGTH", "5"}}));
}

TEST_CASE("several Content-Lengths are refused, equal ones too") {
    for (const char* second : {"5", "6"}) {
        CAPTURE(second);
        auto refused = check({{"Content-Length", "5"}, {"Host", "x"}, {"Content-Length", second}});
        REQUIRE(refused);
        CHECK(refused->status == 400);
        CHECK(refused->why == "the request has more than one Content-Length");
    }
    CHECK(check({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}})->why ==
          "the request has more than one Transfer-Encoding");
}

TEST_CASE("a Content-Length that is not plain digits is refused") {
    for (const char* length : {"", "5x", "+5", "-1", "0x10", "5,5", "5 5", "1e3", " "}) {
        CAPTURE(length);
        auto refused = check({{"Content-Length", length}});
        REQUIRE(refused);
        CHECK(refused->status == 400);
        CHECK(refused->why == "Content-Length must be a number of bytes in decimal digits");
    }
}

TEST_CASE("more header fields than the limit get 431") {
    HeaderFields fields(10, {"X-A", "1"});
    CHECK_FALSE(check(fields, 10));
    fields.emplace_back("X-B", "2");
    auto refused = check(fields, 10);
    REQUIRE(refused);
    CHECK(refused->status == 431);
    CHECK(refused->why == "the request has more than 10 header fields (limits.max_headers)");
}
