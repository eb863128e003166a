// FetchApi: `fetch(url [, opts])`, a room script's HTTP call to the world (the app's backend,
// an API), through the node's Fetcher.
//
//     local res, err = fetch("https://api.example.com/games/" .. room.id,
//                            {method = "POST", headers = {...}, body = "...", timeout_ms = 2000})
//     -- res.status, res.headers (names in lower case), res.body; or nil and why
//
// The calling handler waits as for room.storage (BlockingCall), from any handler, never at load
// time, inside a coroutine of the script or in a metamethod; the shard's deliveries and every
// other room go on. A script's mistake (a wrong type, an unknown option) raises an error; what
// the call meets (a URL that does not parse, a host not allowed, a header with CR or LF, a body
// over limits.max_message_bytes, a timeout, an answer over fetch.max_response_bytes) returns nil
// and the Fetcher's reason.
//
// Must not: wait on the strand, call into Lua off it, or reach a host the Fetcher's list (and the
// party's) does not allow: every call goes through the node's Fetcher.
//
// Threads: fetch runs on the shard's strand, inside a handler call. The Fetcher's answer arrives
// on its own thread, where it is only copied into a Resumer and posted back to the strand
// (HandlerQueue::resumeLater): no Lua runs there. A C function reads every Lua argument before it
// makes a C++ object, so a Lua error (a longjmp) never skips a destructor.
#pragma once

extern "C" {
#include <lua.h>
}

#include "rooms/ShardView.h"

namespace partyline {

struct FetchApi {
    // Sets the global `fetch` of the state's sandbox environment, before its script is loaded.
    // `view` null (a script checked without a shard): fetch raises that it needs a handler.
    static void install(lua_State* L, ShardView* view);

   private:
    static int fetch(lua_State* L);
};

}  // namespace partyline
