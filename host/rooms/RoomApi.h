// RoomApi: the `room` and `conn` objects a script sees, and the request and
// response tables of onRequest.
//
// Every function here runs on the shard's strand, inside a Lua handler call,
// and sees the shard only through its ShardView. C functions raise Lua errors
// only after their C++ locals are gone (the Lua library is C: an error is a
// longjmp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/Status.h"
#include "rooms/Client.h"
#include "rooms/Http.h"
#include "rooms/PresenceRoster.h"

struct lua_State;

namespace partyline {

class ShardView;

struct RoomApi {
    static void pushRoom(lua_State* L, ShardView& view);
    static void pushConn(lua_State* L, ShardView& view, const std::string& id);
    static void pushRequest(lua_State* L, const HttpRequest& request);
    static void pushAuth(lua_State* L, const std::string& claims, const char* what);
    // The handler's return value: a table {status=, body=, headers=}, a string body, or nothing (204).
    static HttpResponse toResponse(lua_State* L, int nresults);
    // onBeforeConnect's return value: false refuses with 403, a table
    // {status=, body=} refuses with that answer, anything else accepts.
    static std::optional<HttpResponse> toRefusal(lua_State* L, int nresults);
    // Pushes table[name] without calling metamethods and returns its type. The host reads what a
    // script returns (its handler table, a handler's answer) outside the protected call: there a
    // metamethod's error could not be caught and would abort the process.
    static int rawField(lua_State* L, int table, const char* name);
    // The conn table at `conn`'s conn.presence (a raw read) as JSON text; empty for nil or
    // json.null. InvalidArgument when JSON cannot hold it, TooLarge over kMaxPresenceInfoBytes.
    static Result<std::string> readPresence(lua_State* L, int conn);
    // Pushes a list of {id=, node=, info=} (info decoded; nil when there is none).
    static void pushPresenceList(lua_State* L, const std::vector<PresenceEntry>& entries);

   private:
    static int publishWrite(lua_State* L, bool append);
    static int roomBroadcast(lua_State* L);
    static int roomAppend(lua_State* L);
    static int roomCount(lua_State* L);
    static int roomConnection(lua_State* L);
    static int roomConnections(lua_State* L);
    static int roomPresence(lua_State* L);
    static int roomHistory(lua_State* L);
    static int historyRead(lua_State* L, int status, intptr_t context);
    static bool inHandler(lua_State* L, ShardView& view);
    static int connSend(lua_State* L);
    static int connClose(lua_State* L);
    static Client* clientOf(lua_State* L, ShardView& view);
};

}  // namespace partyline
