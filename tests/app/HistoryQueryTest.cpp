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
    CHECK(HistoryQuery::parse({{"since", "18446744073709551615"}})->since == UINT64_MAX);
}

TEST_CASE("what std::stoull let through is refused") {
    // stoull read "-1" as 2^64 - 1, "5x" as 5 and " 5" as 5.
    for (const char* since : {"-1", "5x", " 5", "+5", "", "18446744073709551616"}) {
        auto query = HistoryQuery::parse({{"since", since}});
        REQUIRE_MESSAGE(!query.isOk(), since);
        CHECK(query.status().message() == "since must be a non-negative integer");
    }
    for (const char* limit : {"0", "1001", "-1", "10x", "", "99999999999999999999"}) {
        auto query = HistoryQuery::parse({{"limit", limit}});
        REQUIRE_MESSAGE(!query.isOk(), limit);
        CHECK(query.status().message() == "limit must be 1..1000");
    }
}
