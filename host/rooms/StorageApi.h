// StorageApi: room.storage, the room's durable key-value state shared by all
// its shards on all nodes.
//
// Every function here runs on the shard's strand, inside a Lua handler call,
// and never calls the bucket itself: it waits for it as a BlockingCall. A C
// function reads every Lua argument before it makes a C++ object, so a Lua
// error (a longjmp) never skips a destructor.
//
// Keys: strings of 1 to 256 bytes, stored as <party>.<room>.<key> with the
// subject-token encoding of Subject.h. Values: a string is stored as 's' and
// its bytes; a number, boolean or table as 'j' and its JSON, and comes back as
// what it was. Bytes with another first byte (written by another client) come
// back as a string, unchanged.
#pragma once

extern "C" {
#include <lua.h>
}

#include "rooms/BlockingCall.h"
#include "rooms/ShardView.h"

namespace partyline {

struct StorageApi {
    // Sets the `storage` field of the room table on the top of the stack.
    static void pushStorage(lua_State* L, ShardView& view);

   private:
    static bool begin(lua_State* L, ShardView& view, const char* what, BlockingCall::Error& error);
    static int get(lua_State* L);
    static int getDone(lua_State* L, int status, lua_KContext base);
    static int put(lua_State* L);
    static int remove(lua_State* L);
    static int list(lua_State* L);
    static int listDone(lua_State* L, int status, lua_KContext base);
};

}  // namespace partyline
