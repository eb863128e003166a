// Helpers for the host/lua tests: make a sandboxed State, load an inline script as "test.lua", call
// one of its global functions as a handler call, and read results without running Lua code.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <initializer_list>
#include <lua.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "lua/State.h"

namespace partyline::lua::testing {

// Small enough that a runaway script stops in well under a second.
inline constexpr Budget kSmallBudget{1 << 20, 100000};
// The configuration's defaults, for tests about what those defaults allow.
inline constexpr Budget kDefaultBudget{16 << 20, 10000000};

// How long stopping a runaway script may take. The budget stops it in milliseconds; the bound
// only tells "stopped by the budget" from "ran unbounded" (minutes to hours), so it is wide:
// the machine may be loaded, and ThreadSanitizer slows this code more than ten times.
#if defined(__SANITIZE_THREAD__)
inline constexpr double kStopSeconds = 30.0;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr double kStopSeconds = 10.0;
#else
inline constexpr double kStopSeconds = 3.0;
#endif

inline double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline std::unique_ptr<State> newState(Budget budget = kSmallBudget) {
    auto created = State::create(budget);
    REQUIRE_MESSAGE(created.isOk(), created.status().toString());
    return std::move(created).value();
}

// A value as text, without calling Lua code: strings as they are, other scalars like tostring.
inline std::string show(lua_State* L, int index) {
    switch (lua_type(L, index)) {
        case LUA_TNIL:
            return "nil";
        case LUA_TBOOLEAN:
            return lua_toboolean(L, index) ? "true" : "false";
        case LUA_TSTRING:
            return std::string(lua_tostring(L, index), lua_rawlen(L, index));
        case LUA_TNUMBER:
            if (lua_isinteger(L, index)) return std::to_string(lua_tointeger(L, index));
            return std::to_string(lua_tonumber(L, index));
        default:
            return luaL_typename(L, index);
    }
}

struct Outcome {
    State::Run run = State::Run::Finished;
    Status error;
    std::string value;  // the first result, when Finished or Yielded with one

    bool finished() const { return run == State::Run::Finished; }
    bool failed() const { return run == State::Run::Failed; }
};

// Loads `source` as test.lua under a fresh budget and pops its return value.
inline Outcome load(State& state, std::string_view source) {
    Status loaded = state.loadScript(source, "test.lua");
    if (!loaded) return {State::Run::Failed, loaded, ""};
    Outcome outcome{State::Run::Finished, {}, show(state.L(), -1)};
    lua_pop(state.L(), 1);
    return outcome;
}

// A fresh state running `source` once, as the loading of test.lua.
inline Outcome run(std::string_view source, Budget budget = kSmallBudget) {
    auto state = newState(budget);
    return load(*state, source);
}

// Calls the global function `name` as one handler call: a fresh budget, a new coroutine.
inline Outcome call(State& state, const char* name) {
    lua_State* L = state.L();
    state.beginCall();
    lua_State* co = lua_newthread(L);
    lua_getglobal(co, name);
    State::RunResult result = state.resume(co, 0);
    Outcome outcome{result.run, result.error, ""};
    if (result.run != State::Run::Failed && result.nresults > 0) outcome.value = show(co, -result.nresults);
    lua_pop(L, 1);
    return outcome;
}

// How calling a global function as a handler must fail: the error's code and exact message.
struct Failure {
    const char* name;
    Code code;
    std::string message;
};

// Calls each function as one handler call; each must fail as expected, within kStopSeconds.
inline void checkFailures(State& state, std::initializer_list<Failure> failures) {
    for (const Failure& failure : failures) {
        std::string shown = failure.name;
        CAPTURE(shown);
        auto start = std::chrono::steady_clock::now();
        Outcome outcome = call(state, failure.name);
        CHECK(secondsSince(start) < kStopSeconds);
        CHECK(outcome.failed());
        CHECK(outcome.error.code() == failure.code);
        CHECK(outcome.error.message() == failure.message);
    }
}

// A Lua function `show(...)` that describes all its arguments as one string, for comparing
// results between a plain Lua state and the sandbox.
inline constexpr const char* kShowFunction = R"~(
    local function show(...)
        local out = {}
        for i = 1, select("#", ...) do
            local v = select(i, ...)
            out[#out + 1] = type(v) == "string" and string.format("%q", v) or tostring(v)
        end
        return table.concat(out, ",")
    end
)~";

// Runs `script` in a plain Lua state with every library, as chunk `name`: its first result as
// text, or "error: " and the message.
inline std::string runInPlainLua(const std::string& script, const char* name) {
    lua_State* L = luaL_newstate();
    luaL_openlibs(L);
    std::string chunkname = std::string("@") + name;
    std::string out;
    if (luaL_loadbuffer(L, script.data(), script.size(), chunkname.c_str()) == LUA_OK &&
        lua_pcall(L, 0, 1, 0) == LUA_OK) {
        out = show(L, -1);
    } else {
        out = "error: " + show(L, -1);
    }
    lua_close(L);
    return out;
}

// The same in a sandboxed State with `budget`.
inline std::string runInSandbox(const std::string& script, const char* name, Budget budget = kDefaultBudget) {
    auto state = newState(budget);
    Status loaded = state->loadScript(script, name);
    if (!loaded) return "error: " + loaded.message();
    std::string out = show(state->L(), -1);
    lua_pop(state->L(), 1);
    return out;
}

}  // namespace partyline::lua::testing
