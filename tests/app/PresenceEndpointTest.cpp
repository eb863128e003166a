// The presence endpoint's answer: the room, and each connection with its node and info (JSON as
// the host encoded it, null for none).
#include <doctest/doctest.h>

#include "app/PresenceEndpoint.h"
#include "core/Json.h"

namespace partyline {

TEST_CASE("the presence answer lists each connection with its node and info") {
    std::string json =
        presenceJson("chat/lo\"bby", {{"a", "node-1", R"({"name":"Ann"})"}, {"b\n", "node-2", ""}});
    CHECK(json == R"({"room":"chat/lo\"bby","connections":[{"id":"a","node":"node-1","info":{"name":"Ann"}},)"
                  R"({"id":"b\n","node":"node-2","info":null}]})");
    CHECK(parseJson(json).isOk());
    CHECK(presenceJson("chat/x", {}) == R"({"room":"chat/x","connections":[]})");
}

TEST_CASE("a count party's presence answer is each node's count and their sum") {
    CHECK(
        presenceCountsJson("big/game", {{"node-1", 40000}, {"node-\"2", 2}}) ==
        R"({"room":"big/game","count":40002,"nodes":[{"node":"node-\"2","count":2},{"node":"node-1","count":40000}]})");
    CHECK(presenceCountsJson("big/x", {}) == R"({"room":"big/x","count":0,"nodes":[]})");
}

}  // namespace partyline
