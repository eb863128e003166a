// LogEndpoints' pure part: how a batch broadcast's body is cut into writes.
#include <doctest/doctest.h>

#include "app/LogEndpoints.h"

using namespace partyline;

using Lines = std::vector<std::string>;

TEST_CASE("a batch is one write per line, in order, without its line end") {
    CHECK(splitLines("a\nb\nc") == Lines{"a", "b", "c"});
    CHECK(splitLines("a\nb\n") == Lines{"a", "b"});
    CHECK(splitLines("{\"x\":1}\r\n{\"x\":2}\r\n") == Lines{"{\"x\":1}", "{\"x\":2}"});
}

TEST_CASE("empty lines are no writes") {
    CHECK(splitLines("").empty());
    CHECK(splitLines("\n\r\n\n").empty());
    CHECK(splitLines("\na\n\n\r\nb") == Lines{"a", "b"});
}

TEST_CASE("only a line end's carriage return is taken off") {
    CHECK(splitLines("a\rb\n") == Lines{"a\rb"});
    CHECK(splitLines(" a \n") == Lines{" a "});
}
