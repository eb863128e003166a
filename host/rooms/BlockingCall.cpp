#include "rooms/BlockingCall.h"

#include <cstdarg>
#include <cstdio>
#include <string>

extern "C" {
#include <lauxlib.h>
}

namespace partyline {

void BlockingCall::Error::set(const char* format, ...) {
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
}

bool BlockingCall::inHandler(lua_State* L, ShardView& view, const char* what, Error& error) {
    if (!lua_isyieldable(L) || !view.handlers().isRunning(L)) {
        error.set("%s must be called from a handler, not inside a coroutine or a metamethod", what);
        return false;
    }
    return true;
}

bool BlockingCall::mayBlock(lua_State* L, ShardView& view, const char* what, Error& error) {
    if (!inHandler(L, view, what, error)) return false;
    if (!view.handlers().canBlock()) {
        error.set("%s: this node makes no blocking calls", what);
        return false;
    }
    return true;
}

int BlockingCall::yield(lua_State* L, lua_KFunction finish) {
    return lua_yieldk(L, 0, lua_KContext(lua_gettop(L)), finish);
}

int BlockingCall::results(lua_State* L, lua_KContext base) {
    const int ok = int(base) + 1;
    if (lua_toboolean(L, ok)) return ok + 1;
    luaL_where(L, 1);
    lua_pushvalue(L, ok + 1);
    lua_concat(L, 2);
    return lua_error(L);
}

int BlockingCall::allResults(lua_State* L, int, lua_KContext base) {
    const int first = results(L, base);
    return lua_gettop(L) - first + 1;
}

int BlockingCall::raise(lua_State* L, const Error& error) {
    luaL_where(L, 1);
    lua_pushstring(L, error.text);
    lua_concat(L, 2);
    return lua_error(L);
}

HandlerQueue::Resumer BlockingCall::failure(const char* what, const Status& status) {
    std::string message = std::string(what) + ": " + status.toString();
    return [message = std::move(message)](lua_State* co) {
        lua_pushboolean(co, 0);
        lua_pushlstring(co, message.data(), message.size());
        return 2;
    };
}

}  // namespace partyline
