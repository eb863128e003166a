#include <doctest/doctest.h>

#include "app/HistoryQuery.h"

using namespace partyline;

TEST_CASE("history defaults: from the start, 100 entries") {
    auto query = HistoryQuery::parse({});
    REQUIRE(query.isOk());
    CHECK(query->since == 0u);
    CHECK(query->limit == 100u);
}

TEST_CASE("since and limit are read as decimal numbers") {
    auto query = HistoryQuery::parse({{"since", "007"}, {"limit", "1000"}});
    REQUIRE(query.isOk());
    CHECK(query->since == 7u);
    CHECK(query->limit == 1000u);
    CHECK(HistoryQuery::parse({{"since", "9223372036854775806"}})->since == uint64_t(INT64_MAX) - 1);
}

TEST_CASE("what std::stoull let through is refused") {
    // stoull read "-1" as 2^64 - 1, "5x" as 5 and " 5" as 5.
    for (const char* since : {"-1", "5x", " 5", "+5", "", "9223372036854775807", "18446744073709551616"}) {
        auto query = HistoryQuery::parse({{"since", since}});
        REQUIRE_MESSAGE(!query.isOk(), since);
        CHECK(query.status().message() == "since must be a non-negative integer below 9223372036854775807");
    }
    for (const char* limit : {"0", "1001", "-1", "10x", "", "99999999999999999999"}) {
        auto query = HistoryQuery::parse({{"limit", limit}});
        REQUIRE_MESSAGE(!query.isOk(), limit);
        CHECK(query.status().message() == "limit must be 1..1000");
    }
}

TEST_CASE("since 2^64 - 1 is refused: entries after it would start at a sequence that wrapped to 0") {
    auto query = HistoryQuery::parse({{"since", "18446744073709551615"}});
    REQUIRE_FALSE(query.isOk());
    CHECK(query.status().code() == Code::InvalidArgument);
}

TEST_CASE("a query string: decoded, and a parameter given twice is refused") {
    auto query = HistoryQuery::fromQueryString("since=%34%32&limit=5&other=x");
    REQUIRE(query.isOk());
    CHECK(query->since == 42u);
    CHECK(query->limit == 5u);
    CHECK(HistoryQuery::fromQueryString("")->since == 0u);
    for (const char* twice : {"since=1&since=1", "limit=5&since=1&limit=6", "since=1&%73ince=2", "x&x"}) {
        auto refused = HistoryQuery::fromQueryString(twice);
        REQUIRE_MESSAGE(!refused.isOk(), twice);
        CHECK(refused.status().message().find("is given more than once") != std::string::npos);
    }
    CHECK(HistoryQuery::fromQueryString("since=1&since=1").status().message() ==
          "the query parameter 'since' is given more than once");
    CHECK_FALSE(HistoryQuery::fromQueryString("since=18446744073709551615").isOk());
}
