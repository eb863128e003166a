#include "rooms/FetchApi.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>

extern "C" {
#include <lauxlib.h>
}

#include "net/Fetcher.h"
#include "rooms/BlockingCall.h"
#include "rooms/HandlerQueue.h"

namespace partyline {
namespace {

constexpr const char* kWhat = "fetch";
constexpr const char* kOptionNames = "method, headers, body, timeout_ms";

ShardView* viewOf(lua_State* L) {
    return static_cast<ShardView*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// The table `headers` = {name = value}: string names and string values. Raw reads only.
bool checkHeaders(lua_State* L, int headers, BlockingCall::Error& error) {
    lua_pushnil(L);
    while (lua_next(L, headers)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            error.set("fetch: header names must be strings, got %s", luaL_typename(L, -2));
        } else if (lua_type(L, -1) != LUA_TSTRING) {
            error.set("fetch: header '%s' must be a string, got %s", lua_tostring(L, -2),
                      luaL_typename(L, -1));
        }
        lua_pop(L, 1);
        if (error) {
            lua_pop(L, 1);
            return false;
        }
    }
    return true;
}

// One option: a known name, a value of its type.
bool checkOption(lua_State* L, const char* name, BlockingCall::Error& error) {
    const int type = lua_type(L, -1);
    if (strcmp(name, "method") == 0 || strcmp(name, "body") == 0) {
        if (type == LUA_TSTRING) return true;
        error.set("fetch: %s must be a string%s, got %s", name,
                  strcmp(name, "body") == 0 ? " (json.encode a table)" : "", luaL_typename(L, -1));
        return false;
    }
    if (strcmp(name, "timeout_ms") == 0) {
        int isInteger = 0;
        lua_Integer ms = type == LUA_TNUMBER ? lua_tointegerx(L, -1, &isInteger) : 0;
        if (isInteger && ms > 0) return true;
        error.set("fetch: timeout_ms must be a positive integer of milliseconds");
        return false;
    }
    if (strcmp(name, "headers") == 0) {
        if (type == LUA_TTABLE) return checkHeaders(L, lua_gettop(L), error);
        error.set("fetch: headers must be a table of name = value, got %s", luaL_typename(L, -1));
        return false;
    }
    error.set("fetch: unknown option '%s' (%s)", name, kOptionNames);
    return false;
}

// The options table at `index`, or nothing: only known names, each of its type. Reads raw, so no
// script code runs, and makes no C++ object.
bool checkOptions(lua_State* L, int index, BlockingCall::Error& error) {
    if (lua_isnoneornil(L, index)) return true;
    if (!lua_istable(L, index)) {
        error.set("fetch: options must be a table such as {method = \"POST\"}, got %s",
                  luaL_typename(L, index));
        return false;
    }
    lua_pushnil(L);
    while (lua_next(L, index)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            error.set("fetch: option names are strings (%s), got %s", kOptionNames, luaL_typename(L, -2));
        else
            checkOption(L, lua_tostring(L, -2), error);
        lua_pop(L, 1);
        if (error) {
            lua_pop(L, 1);
            return false;
        }
    }
    return true;
}

std::string stringAt(lua_State* L, int index) {
    size_t size = 0;
    const char* data = lua_tolstring(L, index, &size);
    return std::string(data, size);
}

// The request of checked arguments. Only reads strings and numbers already checked, which
// neither allocates in Lua nor raises.
net::FetchRequest requestOf(lua_State* L, int options) {
    net::FetchRequest request;
    request.url = stringAt(L, 1);
    if (!lua_istable(L, options)) return request;
    lua_pushnil(L);
    while (lua_next(L, options)) {
        std::string name = stringAt(L, -2);
        if (name == "method") request.method = stringAt(L, -1);
        if (name == "body") request.body = stringAt(L, -1);
        if (name == "timeout_ms")
            request.timeout_ms = int(std::min<lua_Integer>(lua_tointeger(L, -1), INT32_MAX));
        if (name == "headers") {
            const int headers = lua_gettop(L);
            lua_pushnil(L);
            while (lua_next(L, headers)) {
                request.headers.emplace_back(stringAt(L, -2), stringAt(L, -1));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    return request;
}

// What the handler gets back, built on the Fetcher's thread: (true, response) or (true, nil, why).
HandlerQueue::Resumer answer(Result<net::FetchResponse> result) {
    if (!result) {
        return [reason = result.status().message()](lua_State* co) {
            lua_pushboolean(co, 1);
            lua_pushnil(co);
            lua_pushlstring(co, reason.data(), reason.size());
            return 3;
        };
    }
    // A name sent more than once becomes one value joined with ", " (RFC 9110, 5.3).
    std::map<std::string, std::string> headers;
    for (auto& [name, value] : result->headers) {
        auto [it, fresh] = headers.try_emplace(name, value);
        if (!fresh) it->second += ", " + value;
    }
    return [status = result->status, headers = std::move(headers),
            body = std::move(result.value().body)](lua_State* co) {
        lua_checkstack(co, 6);
        lua_pushboolean(co, 1);
        lua_createtable(co, 0, 3);
        lua_pushinteger(co, status);
        lua_setfield(co, -2, "status");
        lua_createtable(co, 0, int(headers.size()));
        for (const auto& [name, value] : headers) {
            lua_pushlstring(co, name.data(), name.size());
            lua_pushlstring(co, value.data(), value.size());
            lua_rawset(co, -3);
        }
        lua_setfield(co, -2, "headers");
        lua_pushlstring(co, body.data(), body.size());
        lua_setfield(co, -2, "body");
        return 2;
    };
}

}  // namespace

// fetch(url [, {method =, headers =, body =, timeout_ms =}]) -> {status, headers, body}, or nil
// and why.
int FetchApi::fetch(lua_State* L) {
    ShardView* view = viewOf(L);
    BlockingCall::Error error;
    if (!view) {
        error.set("%s must be called from a handler", kWhat);
        return BlockingCall::raise(L, error);
    }
    if (!BlockingCall::inHandler(L, *view, kWhat, error)) return BlockingCall::raise(L, error);
    if (!view->fetcher()) {
        error.set("%s: this node makes no outgoing calls", kWhat);
        return BlockingCall::raise(L, error);
    }
    if (lua_type(L, 1) != LUA_TSTRING) {
        error.set("%s: the url must be a string, got %s", kWhat, luaL_typename(L, 1));
        return BlockingCall::raise(L, error);
    }
    if (!checkOptions(L, 2, error)) return BlockingCall::raise(L, error);
    {
        net::FetchRequest request = requestOf(L, 2);
        request.narrow = view->fetchAllow();
        // The Fetcher's thread: copy the answer and post it to the strand.
        view->fetcher()->fetch(std::move(request),
                               [resume = view->handlers().resumeLater()](Result<net::FetchResponse> result) {
                                   resume(answer(std::move(result)));
                               });
    }
    return BlockingCall::yield(L, BlockingCall::allResults);
}

void FetchApi::install(lua_State* L, ShardView* view) {
    lua_pushlightuserdata(L, view);
    lua_pushcclosure(L, fetch, 1);
    lua_setglobal(L, "fetch");
}

}  // namespace partyline
