// StorageApi: room.storage, the room's durable key-value state shared by all
// its shards on all nodes, and the way a handler waits for a blocking call.
//
// Every function here runs on the shard's strand, inside a Lua handler call,
// and never calls the bucket itself: it hands the call to context.blocking
// (HandlerQueue::callBlocking) and yields the handler's coroutine, which the shard
// resumes with the answer. A C function reads every Lua argument before it
// makes a C++ object, so a Lua error (a longjmp) never skips a destructor.
//
// Keys: strings of 1 to 256 bytes, stored as <party>.<room>.<key> with the
// subject-token encoding of Subject.h. Values: a string is stored as 's' and
// its bytes; a number, boolean or table as 'j' and its JSON, and comes back as
// what it was. Bytes with another first byte (written by another client) come
// back as a string, unchanged.
#pragma once

#include <chrono>
#include <string>

extern "C" {
#include <lua.h>
}

#include "core/Status.h"
#include "rooms/HandlerQueue.h"
#include "rooms/ShardView.h"

namespace partyline {

struct StorageApi {
    // How long a storage or alarm call waits for NATS before it raises an
    // error; the same as a publish (NatsBus::kPublishDeadline).
    static constexpr std::chrono::seconds kDeadline{10};

    // An error message for a Lua error, kept where a longjmp cannot leak it.
    struct Error {
        char text[384] = "";
        explicit operator bool() const { return text[0] != '\0'; }
        void set(const char* format, ...) __attribute__((format(printf, 2, 3)));
    };

    // Sets the `storage` field of the room table on the top of the stack.
    static void pushStorage(lua_State* L, ShardView& view);

    // Helpers for the C functions of room.storage and the alarms.
    // False, with `error` set, unless a blocking call may start: the function
    // was called from the handler's own coroutine, on a node that can block.
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

   private:
    static bool begin(lua_State* L, ShardView& view, const char* what, Error& error);
    static int get(lua_State* L);
    static int getDone(lua_State* L, int status, lua_KContext base);
    static int put(lua_State* L);
    static int remove(lua_State* L);
    static int list(lua_State* L);
    static int listDone(lua_State* L, int status, lua_KContext base);
};

}  // namespace partyline
