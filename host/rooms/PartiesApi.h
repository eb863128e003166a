// PartiesApi: room.parties, a room script's way to other rooms of the node's parties, as
// PartyKit's context.parties:
//
//     local lobby = room.parties.lobby:get("main")
//     local res, err = lobby:fetch("/players", {method = "GET"})   -- that room's onRequest, here
//     local seq, err = lobby:broadcast(json.encode({type = "started", id = room.id}))   -- its log
//
// `fetch` runs the target's onRequest in the target's shard on this node (created if needed),
// one event at a time there as always, and answers {status, headers, body} or nil and why
// ("unknown party 'x'", "timeout", "cycle"); a call that would wait for a room that is itself
// waiting for this one (a room calling itself, A to B to A) answers nil, "cycle" at once instead
// of deadlocking. `broadcast` writes into the target room's log as a built-in broadcast does and
// answers the sequence once stored (a router party's room: the list of its shard rooms'
// sequences). Both wait as room.storage does (BlockingCall), from any handler.
//
// Must not: wait on the strand, run the target's Lua (its own shard does), or reach a room by
// any other way than RoomLinks.
//
// Threads: strand only, inside a handler call; answers come back through HandlerQueue::resumeLater.
// A C function reads every Lua argument before it makes a C++ object.
#pragma once

extern "C" {
#include <lua.h>
}

#include "rooms/ShardView.h"

namespace partyline {

struct PartiesApi {
    // Sets the `parties` field of the room table on the top of the stack.
    static void pushParties(lua_State* L, ShardView& view);

   private:
    static int party(lua_State* L);
    static int get(lua_State* L);
    static int fetch(lua_State* L);
    static int broadcast(lua_State* L);
};

}  // namespace partyline
