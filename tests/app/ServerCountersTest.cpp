// ServerCounters: the rule of limits.max_connections, WebSockets and HTTP connections together.
#include <doctest/doctest.h>

#include "app/ServerCounters.h"

using namespace partyline;

TEST_CASE("the caller's own HTTP connection does not count against the limit") {
    ServerCounters counters;
    counters.http = 1;  // the connection asking
    CHECK_FALSE(counters.atLimit(1));
    counters.webSockets = 1;
    CHECK(counters.atLimit(1));
    counters.webSockets = 0;
    counters.http = 2;
    CHECK(counters.atLimit(1));
}

TEST_CASE("an upgrade is admitted while a slot is free, and a refused one counts nothing") {
    ServerCounters counters;
    counters.http = 1;
    CHECK(counters.admitWebSocket(2));
    CHECK(counters.webSockets == 1u);
    CHECK(counters.admitWebSocket(2));
    CHECK(counters.webSockets == 2u);
    CHECK_FALSE(counters.admitWebSocket(2));
    CHECK(counters.webSockets == 2u);
}
