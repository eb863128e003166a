#include <doctest/doctest.h>

#include "bus/Partition.h"

using namespace partyline;

// These values are the layout of every deployment's data: if one changes, rooms lose their history.
TEST_CASE("fnv1a64 gives the published FNV-1a 64 values") {
    CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
    CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("a room's partition is fnv1a64(party, zero byte, room) modulo the count, pinned") {
    using namespace std::string_view_literals;
    CHECK(fnv1a64("chat\0lobby"sv) == 0x19ffa13211845547ULL);
    CHECK(partitionOf("chat", "lobby", 3) == 1);
    CHECK(partitionOf("chat", "lobby", 8) == 7);
    CHECK(partitionOf("chat", "room-1", 3) == 1);
    CHECK(partitionOf("chat", "room-1", 64) == 56);
    CHECK(partitionOf("game", "r42", 3) == 2);
    CHECK(partitionOf("game", "r42", 8) == 3);
    CHECK(partitionOf("chat", "\xC3\xBC", 3) == 0);  // the UTF-8 bytes of "ü", not a token of them
    CHECK(partitionOf("chat", "\xC3\xBC", 64) == 62);
}

TEST_CASE("one partition holds every room") {
    CHECK(partitionOf("chat", "lobby", 1) == 0);
    CHECK(partitionOf("game", "r42", 1) == 0);
}

TEST_CASE("the zero byte keeps party and room apart") {
    CHECK(fnv1a64(std::string_view("ab\0c", 4)) != fnv1a64(std::string_view("a\0bc", 4)));
}

TEST_CASE("rooms spread over every partition") {
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 300; ++i) ++seen[partitionOf("chat", "room-" + std::to_string(i), 3)];
    for (int count : seen) CHECK(count > 50);
}

TEST_CASE("one partition keeps its name; several are numbered from 0") {
    CHECK(partitionName("PARTYLINE", 0, 1) == "PARTYLINE");
    CHECK(partitionName("PARTYLINE", 0, 3) == "PARTYLINE-0");
    CHECK(partitionName("PARTYLINE_STORAGE", 2, 3) == "PARTYLINE_STORAGE-2");
}

TEST_CASE("partitionIndexOf reads back only what partitionName wrote") {
    CHECK(partitionIndexOf("PARTYLINE", "PARTYLINE-0") == 0);
    CHECK(partitionIndexOf("PARTYLINE", "PARTYLINE-63") == 63);
    CHECK_FALSE(partitionIndexOf("PARTYLINE", "PARTYLINE").has_value());
    CHECK_FALSE(partitionIndexOf("PARTYLINE", "PARTYLINE-").has_value());
    CHECK_FALSE(partitionIndexOf("PARTYLINE", "PARTYLINE-01").has_value());
    CHECK_FALSE(partitionIndexOf("PARTYLINE", "PARTYLINE-x").has_value());
    CHECK_FALSE(partitionIndexOf("PARTYLINE", "PARTYLINE_STORAGE-1").has_value());
    CHECK_FALSE(partitionIndexOf("PARTYLINE", "OTHER-1").has_value());
}
