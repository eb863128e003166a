#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "rooms/ScriptCheck.h"

using namespace partyline;

namespace {
std::vector<std::string> check(const std::string& source) {
    auto path = (std::filesystem::temp_directory_path() / "partyline-check.lua").string();
    std::ofstream(path) << source;
    auto problems = checkRoomScript(path);
    for (auto& p : problems) p.replace(0, path.size(), "room.lua");
    std::filesystem::remove(path);
    return problems;
}
}  // namespace

TEST_CASE("a correct script has no problems") {
    CHECK(check("local R = {}\nfunction R.onMessage(room, conn, m) end\nreturn R\n").empty());
    CHECK(check(starterScript("demo")).empty());
}

TEST_CASE("syntax errors name the line") {
    CHECK(check("local R = {\nreturn R\n") ==
          std::vector<std::string>{"room.lua:2: unexpected symbol near 'return'"});
}

TEST_CASE("unknown handlers name their line and the closest known name") {
    CHECK(check("local R = {}\n\nfunction R.onMesage(room, conn, m) end\nreturn R\n") ==
          std::vector<std::string>{"room.lua:3: unknown handler 'onMesage'; did you mean 'onMessage'?"});
    CHECK(check("return {handleThings = function() end}\n") ==
          std::vector<std::string>{"room.lua:1: unknown handler 'handleThings'"});
}

TEST_CASE("handlers must be functions, and the script must return a table") {
    CHECK(check("return {onClose = 5}\n") ==
          std::vector<std::string>{"room.lua:1: handler 'onClose' must be a function, it is a number"});
    // The line is where the name is given its value, in either form of assignment, when the name
    // and its value are on one line; an assignment split over lines gets the file's name alone.
    CHECK(check("local R = {}\n-- R.onMessage = 1\nR.onMessage = 'hi'\nR[\"onClose\"] = true\n"
                "R.onStart\n  = {}\nreturn R\n") ==
          std::vector<std::string>{"room.lua: handler 'onStart' must be a function, it is a table",
                                   "room.lua:3: handler 'onMessage' must be a function, it is a string",
                                   "room.lua:4: handler 'onClose' must be a function, it is a boolean"});
    CHECK(check("return 42\n") ==
          std::vector<std::string>{
              "room.lua: the script must return a table of handlers, it returned a number"});
}

TEST_CASE("an error while the script runs names its line") {
    CHECK(check("local R = {}\nlocal x = nil\nx.y = 1\nreturn R\n") ==
          std::vector<std::string>{"room.lua:3: attempt to index a nil value (local 'x')"});
    CHECK(check("local R = {}\nerror('not yet')\nreturn R\n") ==
          std::vector<std::string>{"room.lua:2: not yet"});
}

TEST_CASE("a main chunk that never ends is stopped by the budget") {
    auto problems = check("while true do end\n");
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("room.lua:1:") == 0);
    CHECK(problems[0].find("budget") != std::string::npos);
}
