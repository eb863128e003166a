// AlarmApi: room:setAlarm(ms), room:cancelAlarm() and room:getAlarm().
//
// A room has at most one alarm, as a Durable Object does: setting one replaces
// it. The alarm lives in the alarm bucket under <party>.<room>, not in the
// shard, so it survives the shard closing and the node dying; AlarmScheduler
// runs onAlarm when it is due. These functions run on the shard's strand and
// wait for the bucket as a BlockingCall, as room.storage does.
#pragma once

#include <cstdint>

extern "C" {
#include <lua.h>
}

#include "rooms/BlockingCall.h"
#include "rooms/ShardView.h"

namespace partyline {

struct AlarmApi {
    // The longest delay room:setAlarm takes: a year, in milliseconds.
    static constexpr int64_t kMaxDelayMs = 366LL * 24 * 3600 * 1000;

    // Adds setAlarm, cancelAlarm and getAlarm to the room table on the top of the stack.
    static void addMethods(lua_State* L, ShardView& view);

   private:
    static bool begin(lua_State* L, ShardView& view, const char* what, BlockingCall::Error& error);
    static int setAlarm(lua_State* L);
    static int cancelAlarm(lua_State* L);
    static int getAlarm(lua_State* L);
    static int done(lua_State* L, int status, lua_KContext base);
};

}  // namespace partyline
