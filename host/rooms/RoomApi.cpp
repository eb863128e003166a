#include "rooms/RoomApi.h"

#include <string.h>
#include <strings.h>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "lua/Json.h"
#include "lua/ReadOnly.h"
#include "lua/State.h"
#include "rooms/AlarmApi.h"
#include "rooms/ClientFrames.h"
#include "rooms/HandlerQueue.h"
#include "rooms/PartiesApi.h"
#include "rooms/ShardView.h"
#include "rooms/StorageApi.h"

namespace partyline {
namespace {

ShardView& viewOf(lua_State* L) {
    return *static_cast<ShardView*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// A string argument, or a table encoded as JSON. Pushes an error message and
// returns false on failure (the caller raises it once its locals are gone).
bool dataArgument(lua_State* L, int index, size_t limit, std::string& out) {
    if (lua_type(L, index) == LUA_TSTRING) {
        size_t len;
        const char* s = lua_tolstring(L, index, &len);
        out.assign(s, len);
    } else if (lua_type(L, index) == LUA_TTABLE) {
        auto json = lua::toJson(L, index);
        if (!json) {
            lua_pushstring(L, json.status().message().c_str());
            return false;
        }
        out = std::move(json.value());
    } else {
        lua_pushfstring(L, "data must be a string or a table, got %s", luaL_typename(L, index));
        return false;
    }
    if (out.size() > limit) {
        lua_pushfstring(L, "data of %d bytes is over limits.max_message_bytes (%d)", int(out.size()),
                        int(limit));
        return false;
    }
    return true;
}

bool boolField(lua_State* L, int table, const char* name) {
    if (!lua_istable(L, table)) return false;
    lua_getfield(L, table, name);
    bool value = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return value;
}

// An optional integer field of an options table; raises a Lua error when it is not one.
lua_Integer integerField(lua_State* L, int table, const char* name, lua_Integer fallback) {
    lua_getfield(L, table, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return fallback;
    }
    int isInteger = 0;
    lua_Integer value = lua_tointegerx(L, -1, &isInteger);
    if (!isInteger) luaL_error(L, "%s must be an integer, got %s", name, luaL_typename(L, -1));
    lua_pop(L, 1);
    return value;
}

// Whether the conn table at `conn` lists `tag` in conn.tags (raw reads: no script code runs).
bool hasTag(lua_State* L, int conn, const char* tag, size_t tagLen) {
    lua_pushliteral(L, "tags");
    lua_rawget(L, conn);
    bool found = false;
    if (lua_istable(L, -1)) {
        lua_Unsigned n = lua_rawlen(L, -1);
        for (lua_Unsigned i = 1; i <= n && !found; ++i) {
            if (lua_rawgeti(L, -1, lua_Integer(i)) == LUA_TSTRING) {
                size_t len;
                const char* s = lua_tolstring(L, -1, &len);
                found = len == tagLen && memcmp(s, tag, len) == 0;
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return found;
}

void setFunctions(lua_State* L, ShardView& view, const luaL_Reg* functions) {
    lua_pushlightuserdata(L, &view);
    luaL_setfuncs(L, functions, 1);
}

void setString(lua_State* L, const char* key, const std::string& value) {
    lua_pushlstring(L, value.data(), value.size());
    lua_setfield(L, -2, key);
}

}  // namespace

// room:broadcast(data [, {exclude = {ids}, binary = bool}]) and
// room:append(data, {expect = seq}): publish to the log, wait for its
// acknowledgement, return the sequence (or nil and the reason).
int RoomApi::publishWrite(lua_State* L, bool append) {
    ShardView& view = viewOf(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    bool failed = false;
    {
        PublishOptions options;
        std::string data;
        if (!inHandler(L, view)) {
            lua_pushstring(
                L,
                "room:broadcast and room:append must be called from a handler, not inside a coroutine "
                "or a metamethod");
            failed = true;
        } else if (!dataArgument(L, 2, view.limits().max_message_bytes, data)) {
            failed = true;
        } else {
            options.binary = boolField(L, 3, "binary");
            if (lua_istable(L, 3)) {
                lua_getfield(L, 3, "exclude");
                if (lua_istable(L, -1)) {
                    lua_Integer n = luaL_len(L, -1);
                    for (lua_Integer i = 1; i <= n; ++i) {
                        lua_rawgeti(L, -1, i);
                        if (const char* id = lua_tostring(L, -1)) options.exclude.emplace_back(id);
                        lua_pop(L, 1);
                    }
                }
                lua_pop(L, 1);
                lua_getfield(L, 3, "expect");
                if (lua_isinteger(L, -1)) options.expectLastSeq = uint64_t(lua_tointeger(L, -1));
                lua_pop(L, 1);
            }
            if (append && !options.expectLastSeq) {
                lua_pushstring(L, "room:append needs {expect = seq}");
                failed = true;
            } else {
                view.publish(std::move(data), std::move(options));
            }
        }
    }
    if (failed) return lua_error(L);
    return lua_yield(L, 0);  // resumed with the sequence by HandlerQueue::resumeAfterPublish
}

// The calls that wait (broadcast, append, history) may only be made from the
// handler's own coroutine: the shard resumes that one with the answer.
bool RoomApi::inHandler(lua_State* L, ShardView& view) {
    return lua_isyieldable(L) && view.handlers().isRunning(L);
}

int RoomApi::roomBroadcast(lua_State* L) {
    return publishWrite(L, false);
}
int RoomApi::roomAppend(lua_State* L) {
    return publishWrite(L, true);
}

int RoomApi::roomCount(lua_State* L) {
    lua_pushinteger(L, lua_Integer(viewOf(L).totalCount()));
    return 1;
}

int RoomApi::roomConnection(lua_State* L) {
    ShardView& view = viewOf(L);
    const char* id = luaL_checkstring(L, 2);
    if (!view.handlers().pushConnection(L, id)) lua_pushnil(L);
    return 1;
}

// room:connections([tag]): this shard's connections, or those whose conn.tags lists `tag`.
int RoomApi::roomConnections(lua_State* L) {
    ShardView& view = viewOf(L);
    size_t tagLen = 0;
    const char* tag = luaL_optlstring(L, 2, nullptr, &tagLen);
    const std::map<std::string, int>& refs = view.handlers().connectionRefs();
    view.handlers().touchedAll();
    lua_createtable(L, tag ? 0 : int(refs.size()), 0);
    int list = lua_gettop(L);
    lua_Integer i = 0;
    for (const auto& [id, ref] : refs) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        if (tag && !hasTag(L, lua_gettop(L), tag, tagLen))
            lua_pop(L, 1);
        else
            lua_rawseti(L, list, ++i);
    }
    return 1;
}

// room:presence(): every connection of the room on every node, as last announced. A party that
// announces counts only has no list: an error, so a script does not take an empty room for real.
int RoomApi::roomPresence(lua_State* L) {
    ShardView& view = viewOf(L);
    if (view.presenceCountsOnly())
        return luaL_error(L,
                          "room:presence: party '%s' announces presence counts only (presence: count); "
                          "use room:count()",
                          view.partyName().c_str());
    pushPresenceList(L, view.presence());
    return 1;
}

void RoomApi::pushPresenceList(lua_State* L, const std::vector<PresenceEntry>& entries) {
    lua::pushArray(L, int(entries.size()));
    lua_Integer i = 0;
    for (const auto& e : entries) {
        lua_createtable(L, 0, 3);
        setString(L, "id", e.id);
        setString(L, "node", e.node);
        if (!e.info.empty() && lua::pushJson(L, e.info)) lua_setfield(L, -2, "info");
        lua_rawseti(L, -2, ++i);
    }
}

Result<std::string> RoomApi::readPresence(lua_State* L, int conn) {
    conn = lua_absindex(L, conn);
    int type = rawField(L, conn, "presence");
    if (type == LUA_TNIL || (type == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == lua::jsonNull())) {
        lua_pop(L, 1);
        return std::string();
    }
    auto json = lua::toJson(L, -1);
    lua_pop(L, 1);
    if (!json)
        return Status(Code::InvalidArgument,
                      "conn.presence must be a value JSON can hold (a table of strings, "
                      "numbers, booleans and tables): " +
                          json.status().message());
    if (json->size() > kMaxPresenceInfoBytes)
        return Status(Code::TooLarge, "conn.presence is " + std::to_string(json->size()) +
                                          " bytes as JSON, over the limit of " +
                                          std::to_string(kMaxPresenceInfoBytes));
    return json;
}

// room:history{since = seq, limit = n} -> a list of {seq=, data=, binary=},
// whether retention dropped writes after `since`, and whether the log holds more after the page
// (HistoryPage.h: where a page ends); or nil and the reason.
// The handler waits while the log is read off the strand (ShardView::readHistory).
int RoomApi::roomHistory(lua_State* L) {
    ShardView& view = viewOf(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer since = 0, limit = lua_Integer(kDefaultHistoryPage);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        since = integerField(L, 2, "since", since);
        limit = integerField(L, 2, "limit", limit);
    }
    if (since < 0) return luaL_error(L, "room:history: since must be 0 or a sequence, got %I", since);
    if (limit < 1 || limit > lua_Integer(kMaxHistoryPage))
        return luaL_error(L, "room:history: limit must be 1..%d, got %I", int(kMaxHistoryPage), limit);
    if (!inHandler(L, view))
        return luaL_error(
            L, "room:history must be called from a handler, not inside a coroutine or a metamethod");
    view.readHistory(uint64_t(since), size_t(limit));
    return lua_yieldk(L, 0, 0, historyRead);
}

// The continuation of room:history, run inside the resumed coroutine so that
// the memory cap applies to the result it builds.
int RoomApi::historyRead(lua_State* L, int, intptr_t) {
    ShardView& view = viewOf(L);
    const Result<HistoryPage>* page = view.handlers().history();
    if (!page) return luaL_error(L, "room:history resumed without an answer");
    if (!page->isOk()) {
        const std::string& why = page->status().message();
        lua_pushnil(L);
        lua_pushlstring(L, why.data(), why.size());
        return 2;
    }
    const auto& entries = page->value().entries;
    lua::pushArray(L, int(entries.size()));
    for (size_t i = 0; i < entries.size(); ++i) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, lua_Integer(entries[i].seq));
        lua_setfield(L, -2, "seq");
        lua_pushlstring(L, entries[i].data.data(), entries[i].data.size());
        lua_setfield(L, -2, "data");
        lua_pushboolean(L, entries[i].binary);
        lua_setfield(L, -2, "binary");
        lua_rawseti(L, -2, lua_Integer(i + 1));
    }
    lua_pushboolean(L, page->value().truncated);
    lua_pushboolean(L, page->value().more);
    return 3;
}

// The Client behind a conn table, or nullptr when it has closed.
Client* RoomApi::clientOf(lua_State* L, ShardView& view) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "id");
    const char* id = lua_tostring(L, -1);
    lua_pop(L, 1);
    return id ? view.client(id) : nullptr;
}

// conn:send(data [, {binary = bool}]): to this connection only, not through the log.
int RoomApi::connSend(lua_State* L) {
    ShardView& view = viewOf(L);
    bool failed = false;
    {
        Client* client = clientOf(L, view);
        std::string data;
        if (!dataArgument(L, 2, view.limits().max_message_bytes, data)) {
            failed = true;
        } else if (client && client->multiplexed()) {
            client->sendMessage(data, boolField(L, 3, "binary"));
        } else if (client) {  // sending to a closed connection is a no-op, as in the browser
            client->send(directFrameFor(*client, data, boolField(L, 3, "binary")));
        }
    }
    if (failed) return lua_error(L);
    return 0;
}

// conn:close([code [, reason]])
int RoomApi::connClose(lua_State* L) {
    ShardView& view = viewOf(L);
    lua_Integer code = luaL_optinteger(L, 2, 1000);
    size_t len = 0;
    const char* reason = luaL_optlstring(L, 3, "", &len);
    if (code != 1000 && (code < 3000 || code > 4999))
        return luaL_error(L, "close code must be 1000 or 3000-4999, got %d", int(code));
    if (Client* client = clientOf(L, view)) client->close(uint16_t(code), std::string_view(reason, len));
    return 0;
}

void RoomApi::pushRoom(lua_State* L, ShardView& view) {
    static const luaL_Reg methods[] = {{"broadcast", roomBroadcast},
                                       {"append", roomAppend},
                                       {"count", roomCount},
                                       {"connection", roomConnection},
                                       {"connections", roomConnections},
                                       {"presence", roomPresence},
                                       {"history", roomHistory},
                                       {nullptr, nullptr}};
    lua_createtable(L, 0, 9);
    setString(L, "id", view.roomId());
    setString(L, "party", view.partyName());
    setString(L, "node", view.nodeId());
    lua_createtable(L, 0, int(view.env().size()));
    for (const auto& [name, value] : view.env()) setString(L, name.c_str(), value);
    lua::makeReadOnly(L, "room.env");
    lua_setfield(L, -2, "env");
    setFunctions(L, view, methods);
    StorageApi::pushStorage(L, view);
    PartiesApi::pushParties(L, view);
    AlarmApi::addMethods(L, view);
}

void RoomApi::pushConn(lua_State* L, ShardView& view, const std::string& id) {
    static const luaL_Reg methods[] = {{"send", connSend}, {"close", connClose}, {nullptr, nullptr}};
    lua_createtable(L, 0, 6);
    setString(L, "id", id);
    lua_newtable(L);
    lua_setfield(L, -2, "state");
    lua::pushArray(L, 0);
    lua_setfield(L, -2, "tags");
    lua_pushboolean(L, false);
    lua_setfield(L, -2, "binary");
    if (Client* client = view.client(id); client && !client->auth().empty())
        pushAuth(L, client->auth(), "conn.auth");
    setFunctions(L, view, methods);
}

void RoomApi::pushRequest(lua_State* L, const HttpRequest& request) {
    lua_createtable(L, 0, 8);
    setString(L, "method", request.method);
    setString(L, "url", request.url);
    setString(L, "path", request.path);
    setString(L, "rest", request.rest);
    setString(L, "body", request.body);
    lua_createtable(L, 0, int(request.query.size()));
    for (const auto& [k, v] : request.query) setString(L, k.c_str(), v);
    lua_setfield(L, -2, "query");
    lua_createtable(L, 0, int(request.headers.size()));
    for (const auto& [k, v] : request.headers) setString(L, k.c_str(), v);
    lua_setfield(L, -2, "headers");
    if (!request.auth.empty()) pushAuth(L, request.auth, "req.auth");
}

// Sets field `auth` of the table on top to a read-only table of the token's claims (JSON the node
// verified and decoded once already, so within the bounds of the decoder).
void RoomApi::pushAuth(lua_State* L, const std::string& claims, const char* what) {
    if (!lua::pushJson(L, claims)) return;  // cannot fail for claims the node decoded
    lua::makeReadOnly(L, what);
    lua_setfield(L, -2, "auth");
}

std::optional<HttpResponse> RoomApi::toRefusal(lua_State* L, int nresults) {
    if (nresults < 1) return std::nullopt;
    int index = lua_absindex(L, -nresults);
    if (lua_isboolean(L, index) && !lua_toboolean(L, index))
        return HttpResponse::text(403, "connection refused by the room\n");
    if (!lua_istable(L, index)) return std::nullopt;
    HttpResponse response = toResponse(L, nresults);
    if (response.status < 300) return std::nullopt;  // only a refusal refuses
    return response;
}

int RoomApi::rawField(lua_State* L, int table, const char* name) {
    table = lua_absindex(L, table);
    lua_pushstring(L, name);
    return lua_rawget(L, table);
}

HttpResponse RoomApi::toResponse(lua_State* L, int nresults) {
    if (nresults < 1 || lua_isnil(L, -nresults)) return {204, {}, {}};
    int index = lua_absindex(L, -nresults);
    if (lua_type(L, index) == LUA_TSTRING) {
        size_t len;
        const char* body = lua_tolstring(L, index, &len);
        return HttpResponse::text(200, std::string(body, len));
    }
    if (!lua_istable(L, index))
        return HttpResponse::text(500,
                                  "onRequest must return a table {status=, body=, headers=} or a string\n");
    HttpResponse response;
    rawField(L, index, "status");
    if (lua_isinteger(L, -1)) response.status = int(lua_tointeger(L, -1));
    lua_pop(L, 1);
    if (response.status < 100 || response.status > 599)
        return HttpResponse::text(500, "onRequest returned an invalid status\n");
    rawField(L, index, "headers");
    bool hasType = false;
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                std::string name = lua_tostring(L, -2), value = lua_tostring(L, -1);
                // Header injection: a value may not break the response.
                if (name.find_first_of("\r\n:") == std::string::npos &&
                    value.find_first_of("\r\n") == std::string::npos) {
                    hasType |= strcasecmp(name.c_str(), "content-type") == 0;
                    response.headers.emplace_back(std::move(name), std::move(value));
                }
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    rawField(L, index, "body");
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t len;
        const char* body = lua_tolstring(L, -1, &len);
        response.body.assign(body, len);
        if (!hasType) response.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
    } else if (lua_istable(L, -1)) {
        auto json = lua::toJson(L, -1);
        if (!json) return HttpResponse::text(500, "onRequest body: " + json.status().message() + "\n");
        response.body = std::move(json.value());
        if (!hasType) response.headers.emplace_back("Content-Type", "application/json");
    }
    lua_pop(L, 1);
    return response;
}

}  // namespace partyline
