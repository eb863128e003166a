// The JSON codec as room scripts call it: json.decode on arbitrary bytes, run in a sandboxed
// State under its memory cap and instruction budget, then json.encode of what decoded.
// Checks: no crash or UB; a decode either gives a value or fails as a script error; the C++ entry
// (pushJson) agrees with json.decode; whatever decoded encodes, as valid UTF-8, and decodes again
// to an equal value (same types, integers stay integers), whose encoding is the same text.
#include <cstddef>
#include <cstdint>
#include <lua.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "lua/Json.h"
#include "lua/State.h"
#include "net/WebSocketProtocol.h"

using namespace partyline;
using lua::State;

namespace {

// The configuration's defaults: what a room's script gets.
constexpr lua::Budget kBudget{16 << 20, 10000000};

// Calls json.<function>(value at `index` of L) as one handler call. On success the result is
// left on the top of L and true is returned; on failure L is as it was.
bool callJson(State& state, const char* function, int index) {
    lua_State* L = state.L();
    index = lua_absindex(L, index);
    state.beginCall();
    lua_State* co = lua_newthread(L);
    lua_getglobal(co, "json");
    lua_getfield(co, -1, function);
    lua_remove(co, -2);
    lua_pushvalue(L, index);
    lua_xmove(L, co, 1);
    State::RunResult result = state.resume(co, 1);
    if (result.run == State::Run::Failed) {
        FUZZ_CHECK(result.error.code() == Code::Internal, "json call failed other than as a script error");
        lua_pop(L, 1);  // the coroutine
        return false;
    }
    FUZZ_CHECK(result.run == State::Run::Finished && result.nresults == 1,
               "json call did not return one value");
    lua_xmove(co, L, 1);
    lua_remove(L, -2);  // the coroutine
    return true;
}

// Raw, deep equality that also tells integers from floats.
bool sameValue(lua_State* L, int a, int b, int depth = 0) {
    a = lua_absindex(L, a), b = lua_absindex(L, b);
    if (lua_type(L, a) != lua_type(L, b)) return false;
    switch (lua_type(L, a)) {
        case LUA_TNUMBER:
            return lua_isinteger(L, a) == lua_isinteger(L, b) && lua_rawequal(L, a, b);
        case LUA_TTABLE:
            break;
        default:
            return lua_rawequal(L, a, b);
    }
    FUZZ_CHECK(depth <= lua::kMaxJsonDepth, "decoded value nested deeper than the limit");
    FUZZ_CHECK(lua_checkstack(L, 4), "Lua stack cannot grow");
    if (lua_rawlen(L, a) != lua_rawlen(L, b)) return false;
    size_t keys = 0;
    lua_pushnil(L);
    while (lua_next(L, a)) {  // key at -2, value at -1
        ++keys;
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        bool same = sameValue(L, -2, -1, depth + 1);
        lua_pop(L, 2);
        if (!same) {
            lua_pop(L, 1);
            return false;
        }
    }
    lua_pushnil(L);
    while (lua_next(L, b)) lua_pop(L, 1), --keys;
    return keys == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto created = State::create(kBudget);
    FUZZ_CHECK(created.isOk(), "cannot create a Lua state");
    std::unique_ptr<State> state = std::move(created).value();
    state->setLogSink({});
    lua_State* L = state->L();
    std::string_view text(reinterpret_cast<const char*>(data), size);

    lua_pushlstring(L, text.data(), text.size());
    bool decoded = callJson(*state, "decode", -1);
    Status fromCpp = lua::pushJson(L, text);
    FUZZ_CHECK(fromCpp.isOk() == decoded, "pushJson and json.decode disagree");
    if (!decoded) return 0;
    // Stack: text, decoded (script), decoded (C++).
    FUZZ_CHECK(sameValue(L, -1, -2), "pushJson and json.decode decode to different values");
    lua_pop(L, 1);

    FUZZ_CHECK(callJson(*state, "encode", -1), "a decoded value does not encode");
    std::string encoded(lua_tostring(L, -1), lua_rawlen(L, -1));
    FUZZ_CHECK(net::isValidUtf8(encoded), "encoded JSON is not UTF-8");
    FUZZ_CHECK(callJson(*state, "decode", -1), "encoded JSON does not decode");
    FUZZ_CHECK(sameValue(L, -1, -3), "decode(encode(v)) differs from v");
    FUZZ_CHECK(callJson(*state, "encode", -1), "a value decoded twice does not encode");
    FUZZ_CHECK(std::string_view(lua_tostring(L, -1), lua_rawlen(L, -1)) == encoded, "encoding is not stable");
    return 0;
}
