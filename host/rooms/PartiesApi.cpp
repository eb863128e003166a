#include "rooms/PartiesApi.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <lauxlib.h>
}

#include "bus/Subject.h"
#include "lua/Json.h"
#include "rooms/BlockingCall.h"
#include "rooms/HandlerQueue.h"
#include "rooms/RoomLinks.h"

namespace partyline {
namespace {

// A call that waits longer is stuck: the same bound as a call to NATS.
constexpr int kDefaultTimeoutMs = int(std::chrono::milliseconds(BlockingCall::kDeadline).count());
constexpr int kMaxTimeoutMs = 600000;
constexpr const char* kOptionNames = "method, headers, query, body, timeout_ms";

ShardView& viewOf(lua_State* L) {
    return *static_cast<ShardView*>(lua_touserdata(L, lua_upvalueindex(1)));
}

std::string stringAt(lua_State* L, int index) {
    size_t size = 0;
    const char* data = lua_tolstring(L, index, &size);
    return std::string(data, size);
}

// A table of string = string (headers, query); raw reads only.
bool checkStrings(lua_State* L, int table, const char* what, BlockingCall::Error& error) {
    lua_pushnil(L);
    while (lua_next(L, table)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            error.set("room.parties fetch: %s must be a table of string = string", what);
        lua_pop(L, 1);
        if (error) {
            lua_pop(L, 1);
            return false;
        }
    }
    return true;
}

bool checkOption(lua_State* L, const char* name, BlockingCall::Error& error) {
    const int type = lua_type(L, -1);
    if (!strcmp(name, "method") || !strcmp(name, "body")) {
        if (type != LUA_TSTRING)
            error.set("room.parties fetch: %s must be a string, got %s", name, luaL_typename(L, -1));
    } else if (!strcmp(name, "headers") || !strcmp(name, "query")) {
        if (type != LUA_TTABLE)
            error.set("room.parties fetch: %s must be a table, got %s", name, luaL_typename(L, -1));
        else
            checkStrings(L, lua_gettop(L), name, error);
    } else if (!strcmp(name, "timeout_ms")) {
        int isInteger = 0;
        lua_Integer ms = type == LUA_TNUMBER ? lua_tointegerx(L, -1, &isInteger) : 0;
        if (!isInteger || ms <= 0 || ms > kMaxTimeoutMs)
            error.set("room.parties fetch: timeout_ms must be an integer from 1 to %d", kMaxTimeoutMs);
    } else {
        error.set("room.parties fetch: unknown option '%s' (%s)", name, kOptionNames);
    }
    return !error;
}

bool checkOptions(lua_State* L, int index, BlockingCall::Error& error) {
    if (lua_isnoneornil(L, index)) return true;
    if (!lua_istable(L, index)) {
        error.set("room.parties fetch: options must be a table such as {method = \"POST\"}, got %s",
                  luaL_typename(L, index));
        return false;
    }
    lua_pushnil(L);
    while (lua_next(L, index)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            error.set("room.parties fetch: option names are strings (%s)", kOptionNames);
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

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return text;
}

// The request of checked arguments, and its timeout. Reads strings only.
HttpRequest requestOf(lua_State* L, int options, int& timeoutMs) {
    HttpRequest request;
    request.method = "GET";
    request.rest = stringAt(L, 2);
    timeoutMs = kDefaultTimeoutMs;
    if (lua_istable(L, options)) {
        lua_pushnil(L);
        while (lua_next(L, options)) {
            std::string name = stringAt(L, -2);
            if (name == "method") request.method = stringAt(L, -1);
            if (name == "body") request.body = stringAt(L, -1);
            if (name == "timeout_ms") timeoutMs = int(lua_tointeger(L, -1));
            if (name == "headers" || name == "query") {
                const int table = lua_gettop(L);
                lua_pushnil(L);
                while (lua_next(L, table)) {
                    if (name == "headers")
                        request.headers[lower(stringAt(L, -2))] = stringAt(L, -1);
                    else
                        request.query[stringAt(L, -2)] = stringAt(L, -1);
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
        }
    }
    return request;
}

// A stub's party and room, fields of the table at 1.
bool stubOf(lua_State* L, const char* what, std::string& party, std::string& room,
            BlockingCall::Error& error) {
    if (!lua_istable(L, 1)) {
        error.set("call %s(...) with a colon", what);
        return false;
    }
    lua_getfield(L, 1, "party");
    lua_getfield(L, 1, "id");
    bool ok = lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING;
    if (ok) {
        party = stringAt(L, -2);
        room = stringAt(L, -1);
    } else {
        error.set("call %s(...) on a room of room.parties.<party>:get(id)", what);
    }
    lua_pop(L, 2);
    return ok;
}

HandlerQueue::Resumer answered(Result<HttpResponse> result) {
    if (!result) {
        return [reason = result.status().message()](lua_State* co) {
            lua_pushboolean(co, 1);
            lua_pushnil(co);
            lua_pushlstring(co, reason.data(), reason.size());
            return 3;
        };
    }
    return [response = std::move(result.value())](lua_State* co) {
        lua_checkstack(co, 6);
        lua_pushboolean(co, 1);
        lua_createtable(co, 0, 3);
        lua_pushinteger(co, response.status);
        lua_setfield(co, -2, "status");
        lua_createtable(co, 0, int(response.headers.size()));
        for (const auto& [name, value] : response.headers) {
            std::string key = lower(name);
            lua_pushlstring(co, key.data(), key.size());
            lua_pushlstring(co, value.data(), value.size());
            lua_rawset(co, -3);
        }
        lua_setfield(co, -2, "headers");
        lua_pushlstring(co, response.body.data(), response.body.size());
        lua_setfield(co, -2, "body");
        return 2;
    };
}

HandlerQueue::Resumer written(Result<std::vector<uint64_t>> result, bool router) {
    if (!result) {
        return [reason = result.status().message()](lua_State* co) {
            lua_pushboolean(co, 1);
            lua_pushnil(co);
            lua_pushlstring(co, reason.data(), reason.size());
            return 3;
        };
    }
    return [sequences = std::move(result.value()), router](lua_State* co) {
        lua_pushboolean(co, 1);
        if (!router) {
            lua_pushinteger(co, lua_Integer(sequences.front()));
            return 2;
        }
        lua_createtable(co, int(sequences.size()), 0);
        for (size_t i = 0; i < sequences.size(); ++i) {
            lua_pushinteger(co, lua_Integer(sequences[i]));
            lua_rawseti(co, -2, lua_Integer(i + 1));
        }
        return 2;
    };
}

}  // namespace

// room.parties.<name>: a party of this node's configuration, whose rooms :get(id) gives.
int PartiesApi::party(lua_State* L) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "name");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, get, 1);
    lua_setfield(L, -2, "get");
    return 1;
}

// room.parties.<name>:get(id) -> a room of that party, with :fetch and :broadcast.
int PartiesApi::get(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t size = 0;
    luaL_checklstring(L, 2, &size);
    if (size == 0 || size > kMaxRoomIdBytes)
        return luaL_error(L, "room.parties: a room id is 1 to %d bytes, got %d", int(kMaxRoomIdBytes),
                          int(size));
    lua_createtable(L, 0, 4);
    lua_getfield(L, 1, "name");
    lua_setfield(L, -2, "party");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "id");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, fetch, 1);
    lua_setfield(L, -2, "fetch");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, broadcast, 1);
    lua_setfield(L, -2, "broadcast");
    return 1;
}

// stub:fetch(path [, {method, headers, query, body, timeout_ms}]) -> {status, headers, body}, or
// nil and why.
int PartiesApi::fetch(lua_State* L) {
    static constexpr const char* kWhat = "room.parties fetch";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    if (!BlockingCall::inHandler(L, view, kWhat, error)) return BlockingCall::raise(L, error);
    if (!view.links()) {
        error.set("%s: this node calls no other rooms", kWhat);
        return BlockingCall::raise(L, error);
    }
    if (lua_type(L, 2) != LUA_TSTRING || (lua_rawlen(L, 2) > 0 && lua_tostring(L, 2)[0] != '/') ||
        strchr(lua_tostring(L, 2), '?')) {
        error.set("%s: the path must be a string starting with / and without a query (give opts.query)",
                  kWhat);
        return BlockingCall::raise(L, error);
    }
    if (!checkOptions(L, 3, error)) return BlockingCall::raise(L, error);
    bool cycle = false;
    {
        std::string party, room;
        if (stubOf(L, kWhat, party, room, error)) {
            int timeoutMs = 0;
            HttpRequest request = requestOf(L, 3, timeoutMs);
            request.path = "/parties/" + party + "/" + room + request.rest;
            request.url = request.path;
            request.callers = view.handlers().callers();
            request.callers.push_back(view.partyName() + "/" + view.roomId());
            const auto& callers = request.callers;
            cycle = std::find(callers.begin(), callers.end(), party + "/" + room) != callers.end();
            if (!cycle)
                view.links()->request(party, room, std::move(request), std::chrono::milliseconds(timeoutMs),
                                      [resume = view.handlers().resumeLater()](Result<HttpResponse> result) {
                                          resume(answered(std::move(result)));
                                      });
        }
    }
    if (error) return BlockingCall::raise(L, error);
    if (cycle) {  // it would wait for a room that waits for this one
        lua_pushnil(L);
        lua_pushliteral(L, "cycle");
        return 2;
    }
    return BlockingCall::yield(L, BlockingCall::allResults);
}

// stub:broadcast(data [, {binary = bool}]) -> the sequence once stored (a list of them for a
// router party's room), or nil and why.
int PartiesApi::broadcast(lua_State* L) {
    static constexpr const char* kWhat = "room.parties broadcast";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    if (!BlockingCall::inHandler(L, view, kWhat, error)) return BlockingCall::raise(L, error);
    if (!view.links()) {
        error.set("%s: this node calls no other rooms", kWhat);
        return BlockingCall::raise(L, error);
    }
    int type = lua_type(L, 2);
    if (type != LUA_TSTRING && type != LUA_TTABLE) {
        error.set("%s: data must be a string or a table, got %s", kWhat, luaL_typename(L, 2));
        return BlockingCall::raise(L, error);
    }
    bool binary = false;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "binary");
        binary = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    {
        std::string party, room, data;
        if (stubOf(L, kWhat, party, room, error)) {
            if (type == LUA_TSTRING) {
                data = stringAt(L, 2);
            } else if (auto json = lua::toJson(L, 2)) {
                data = std::move(json.value());
            } else {
                error.set("%s: %s", kWhat, json.status().message().c_str());
            }
            if (!error && data.size() > view.limits().max_message_bytes)
                error.set("%s: data of %zu bytes is over limits.max_message_bytes (%zu)", kWhat, data.size(),
                          view.limits().max_message_bytes);
        }
        if (!error) {
            bool router = view.links()->isRouter(party);
            view.links()->broadcast(
                party, room, std::move(data), binary,
                [resume = view.handlers().resumeLater(), router](Result<std::vector<uint64_t>> result) {
                    resume(written(std::move(result), router));
                });
        }
    }
    if (error) return BlockingCall::raise(L, error);
    return BlockingCall::yield(L, BlockingCall::allResults);
}

void PartiesApi::pushParties(lua_State* L, ShardView& view) {
    lua_createtable(L, 0, 0);
    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, &view);
    lua_pushcclosure(L, party, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "room.parties");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "parties");
}

}  // namespace partyline
