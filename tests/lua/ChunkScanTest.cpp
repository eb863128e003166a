// ChunkScan: globals read and written and method calls named by receiver, with their lines, read
// from chunks Lua compiles here.
#include <doctest/doctest.h>

#include <lua.hpp>
#include <memory>
#include <string>

#include "lua/ChunkScan.h"

namespace partyline::lua {
namespace {

struct Lua {
    lua_State* L = luaL_newstate();
    ~Lua() { lua_close(L); }
};

std::vector<ChunkUse> uses(const std::string& source) {
    Lua lua;
    auto found = scanChunk(lua.L, source, "room.lua");
    REQUIRE_MESSAGE(found, found.status().toString());
    CHECK(lua_gettop(lua.L) == 0);
    return *found;
}

std::string describe(const std::vector<ChunkUse>& found) {
    std::string out;
    for (const auto& use : found) {
        const char* kind = use.kind == ChunkUse::Kind::GlobalRead    ? "read"
                           : use.kind == ChunkUse::Kind::GlobalWrite ? "write"
                                                                     : "call";
        out += std::string(kind) + " " + (use.receiver.empty() ? "" : use.receiver + ":") + use.name + "@" +
               std::to_string(use.line) + "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("globals read and written, at their lines; locals and fields are not globals") {
    std::string source =
        "local x = 1\n"               // 1
        "print(x)\n"                  // 2
        "counter = counter + 1\n"     // 3
        "local t = {}\n"              // 4
        "t.field = json.encode(t)\n"  // 5
        "return t\n";
    CHECK(describe(uses(source)) ==
          "read print@2\n"
          "read counter@3\n"
          "write counter@3\n"
          "read json@5\n");
}

TEST_CASE("method calls name their receiver: a parameter, a local, an upvalue") {
    std::string source =
        "local Room = {}\n"                                 // 1
        "function Room.onMessage(room, conn, m)\n"          // 2
        "  room:brodcast(m)\n"                              // 3
        "  conn:send(m)\n"                                  // 4
        "  local other = room:connection('x')\n"            // 5
        "  other:close()\n"                                 // 6
        "  room.storage:get('k')\n"                         // 7
        "end\n"                                             // 8
        "local saved\n"                                     // 9
        "function Room.onStart(room) saved = room end\n"    // 10
        "function Room.onAlarm() saved:setAlarm(10) end\n"  // 11
        "return Room\n";
    CHECK(describe(uses(source)) ==
          "call room:brodcast@3\n"
          "call conn:send@4\n"
          "call room:connection@5\n"
          "call other:close@6\n"
          "call get@7\n"
          "call saved:setAlarm@11\n");
}

TEST_CASE("lines past the delta table's reach and deep nesting still come out right") {
    std::string source;
    for (int i = 0; i < 300; ++i) source += "\n";
    source += "function f() return function() return missing end end\n";  // line 301
    auto found = uses(source);
    REQUIRE(found.size() == 2);
    CHECK(found[0].kind == ChunkUse::Kind::GlobalWrite);
    CHECK(found[0].name == "f");
    CHECK(found[0].line == 301);
    CHECK(found[1].name == "missing");
    CHECK(found[1].line == 301);
    std::string far = "local a = 1\n";
    for (int i = 0; i < 400; ++i) far += "a = a + 1 -- " + std::string(size_t(i % 7), 'x') + "\n";
    far += "return nothere\n";  // line 402
    auto last = uses(far);
    REQUIRE(!last.empty());
    CHECK(last.back().name == "nothere");
    CHECK(last.back().line == 402);
}

TEST_CASE("a syntax error is the compiler's message, with the file and line") {
    Lua lua;
    auto found = scanChunk(lua.L, "local x = = 1", "room.lua");
    REQUIRE(!found);
    CHECK(found.status().message().starts_with("room.lua:1:"));
    CHECK(lua_gettop(lua.L) == 0);
}

}  // namespace partyline::lua
