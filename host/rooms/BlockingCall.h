// BlockingCall: how a Lua C function of a room waits for a blocking call
// (room.storage, the alarms) or an answer from another thread (fetch) without
// blocking the shard's strand.
//
// Everything here runs on the shard's strand, inside a Lua handler call. The
// C function checks that it may block (mayBlock), hands the call to
// HandlerQueue::callBlocking (or starts it with HandlerQueue::resumeLater) and yields the handler's coroutine
// (yield); the shard resumes it with what the call's Resumer pushed, which `finish` reads (results). It never
// calls the blocking function itself. Errors are kept in an Error, which has no destructor, so a Lua error (a
// longjmp) leaks nothing.
#pragma once

#include <chrono>

extern "C" {
#include <lua.h>
}

#include "core/Status.h"
#include "rooms/HandlerQueue.h"
#include "rooms/ShardView.h"

namespace partyline {

struct BlockingCall {
    // How long a storage or alarm call waits for NATS before it raises an
    // error; the same as a publish (NatsBus::kPublishDeadline).
    static constexpr std::chrono::seconds kDeadline{10};

    // An error message for a Lua error, kept where a longjmp cannot leak it.
    struct Error {
        char text[384] = "";
        explicit operator bool() const { return text[0] != '\0'; }
        void set(const char* format, ...) __attribute__((format(printf, 2, 3)));
    };

    // False, with `error` set, unless the function was called from the handler's own coroutine
    // (not at load time, inside a coroutine of the script or in a metamethod): only there can it wait.
    static bool inHandler(lua_State* L, ShardView& view, const char* what, Error& error);
    // False, with `error` set, unless a blocking call may start: inHandler, on a node that can block.
    static bool mayBlock(lua_State* L, ShardView& view, const char* what, Error& error);
    // Yields the handler until the shard resumes it; `finish` then gets the
    // Resumer's values.
    static int yield(lua_State* L, lua_KFunction finish);
    // In `finish`: raises the call's error, or returns the index of its first result.
    static int results(lua_State* L, lua_KContext base);
    // A `finish` that returns every result as it is.
    static int allResults(lua_State* L, int status, lua_KContext base);
    // Raises `error`, prefixed with the script's file and line.
    static int raise(lua_State* L, const Error& error);
    // What a Resumer pushes: (true, results...) or (false, "what: why").
    static HandlerQueue::Resumer failure(const char* what, const Status& status);
};

}  // namespace partyline
