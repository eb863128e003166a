// types/partyline.lua, the editor annotations of the room API: it loads in the sandbox, and every
// name the host gives a script (globals beyond standard Lua, the functions of partyline's
// libraries, room and conn methods, room.storage's methods) is annotated there.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <lua.hpp>
#include <set>
#include <sstream>
#include <string>

#include "lua/State.h"
#include "rooms/ScriptCheck.h"

namespace partyline {
namespace {

std::string typesFile() {
    std::ifstream in(std::string(PARTYLINE_SOURCE_DIR) + "/types/partyline.lua");
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::set<std::string> stringKeys(lua_State* L, int index) {
    std::set<std::string> keys;
    index = lua_absindex(L, index);
    lua_pushnil(L);
    while (lua_next(L, index)) {
        if (lua_type(L, -2) == LUA_TSTRING) keys.insert(lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return keys;
}

}  // namespace

TEST_CASE("types/partyline.lua loads in the sandbox and annotates every name the host gives a script") {
    const std::string types = typesFile();
    // A state as a shard's: the sandbox and the globals the rooms layer adds (fetch).
    auto state = loadRoomScript("return {}", "empty.lua", Limits{});
    REQUIRE(state);
    lua_settop(state.value()->L(), 0);
    lua_State* L = state.value()->L();

    // Standard Lua's names need no annotation: lua-language-server knows them.
    lua_State* plain = luaL_newstate();
    luaL_openlibs(plain);
    lua_pushglobaltable(plain);
    const std::set<std::string> standard = stringKeys(plain, -1);
    lua_close(plain);

    lua_pushglobaltable(L);
    const std::set<std::string> globals = stringKeys(L, -1);
    size_t checked = 0;
    for (const auto& name : globals) {
        if (standard.count(name)) continue;
        lua_getfield(L, -1, name.c_str());
        if (lua_istable(L, -1)) {
            CHECK_MESSAGE(types.find("\n" + name + " = {}") != std::string::npos, name);
            for (const auto& key : stringKeys(L, -1)) {
                std::string dotted = name + "." + key;
                bool annotated = types.find("function " + dotted + "(") != std::string::npos ||
                                 types.find("\n" + dotted + " = ") != std::string::npos;
                CHECK_MESSAGE(annotated, dotted);
                ++checked;
            }
        } else {
            CHECK_MESSAGE(types.find("function " + name + "(") != std::string::npos, name);
            ++checked;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    CHECK(checked > 20);  // json, log, crypto, base64, jwt and now at least

    for (const auto& method : roomMethodNames())
        CHECK_MESSAGE(types.find("function Room:" + method + "(") != std::string::npos,
                      (std::string("room:") + method));
    for (const auto& method : connMethodNames())
        CHECK_MESSAGE(types.find("function Connection:" + method + "(") != std::string::npos,
                      (std::string("conn:") + method));
    for (const char* method : {"get", "put", "delete", "list"})
        CHECK_MESSAGE(types.find(std::string("function Storage:") + method + "(") != std::string::npos,
                      method);
    CHECK(roomMethodNames().count("broadcast") == 1);
    CHECK(connMethodNames().count("send") == 1);
    for (const auto& handler : kHandlerNames)
        CHECK_MESSAGE(types.find("---@field " + handler + " fun(") != std::string::npos, handler);

    // Annotations only: the file defines its tables and functions and runs nothing else.
    REQUIRE_MESSAGE(state.value()->loadScript(types, "types/partyline.lua"),
                    "types/partyline.lua must load in the sandbox");
}

}  // namespace partyline
