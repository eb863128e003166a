#include "rooms/AlarmApi.h"

#include <cmath>

extern "C" {
#include <lauxlib.h>
}

#include "rooms/AlarmRecord.h"
#include "rooms/BlockingCall.h"
#include "rooms/HandlerQueue.h"
#include "rooms/ShardView.h"

namespace partyline {
namespace {

ShardView& viewOf(lua_State* L) {
    return *static_cast<ShardView*>(lua_touserdata(L, lua_upvalueindex(1)));
}

KeyValue::Clock::time_point deadline() {
    return KeyValue::Clock::now() + BlockingCall::kDeadline;
}

HandlerQueue::Resumer returning(int64_t value) {
    return [value](lua_State* co) {
        lua_pushboolean(co, 1);
        lua_pushinteger(co, lua_Integer(value));
        return 2;
    };
}

}  // namespace

bool AlarmApi::begin(lua_State* L, ShardView& view, const char* what, BlockingCall::Error& error) {
    if (!lua_istable(L, 1)) {
        error.set("call %s(...) with a colon", what);
        return false;
    }
    if (!view.alarms()) {
        error.set("%s: alarms are not available on this node", what);
        return false;
    }
    return BlockingCall::mayBlock(L, view, what, error);
}

// room:setAlarm(ms) -> the due time (ms since the epoch); replaces the room's alarm.
int AlarmApi::setAlarm(lua_State* L) {
    static constexpr const char* kWhat = "room:setAlarm";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    if (!begin(L, view, kWhat, error)) return BlockingCall::raise(L, error);
    if (lua_type(L, 2) != LUA_TNUMBER) {
        error.set("%s: the delay must be a number of milliseconds, got %s", kWhat, luaL_typename(L, 2));
        return BlockingCall::raise(L, error);
    }
    const lua_Number ms = lua_tonumber(L, 2);
    if (!(ms >= 0 && ms <= lua_Number(kMaxDelayMs))) {
        error.set("%s: the delay must be 0 to %lld milliseconds (a year), got %g", kWhat,
                  static_cast<long long>(kMaxDelayMs), double(ms));
        return BlockingCall::raise(L, error);
    }
    {
        AlarmRecord record;
        record.dueMs = unixMillis() + int64_t(std::llround(ms));
        view.handlers().callBlocking([kv = view.alarms(), key = view.keyPrefix(), record,
                                      deadline = deadline()]() -> HandlerQueue::Resumer {
            auto stored = kv->put(key, record.text(), std::nullopt, deadline);
            if (!stored) return BlockingCall::failure(kWhat, stored.status());
            return returning(record.dueMs);
        });
    }
    return BlockingCall::yield(L, done);
}

// room:cancelAlarm() -> true; the room has no alarm afterwards.
int AlarmApi::cancelAlarm(lua_State* L) {
    static constexpr const char* kWhat = "room:cancelAlarm";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    if (!begin(L, view, kWhat, error)) return BlockingCall::raise(L, error);
    view.handlers().callBlocking(
        [kv = view.alarms(), key = view.keyPrefix(), deadline = deadline()]() -> HandlerQueue::Resumer {
            Status erased = kv->erase(key, std::nullopt, deadline);
            if (!erased) return BlockingCall::failure(kWhat, erased);
            return [](lua_State* co) {
                lua_pushboolean(co, 1);
                lua_pushboolean(co, 1);
                return 2;
            };
        });
    return BlockingCall::yield(L, done);
}

// room:getAlarm() -> the due time (ms since the epoch), or nil when the room has no alarm.
int AlarmApi::getAlarm(lua_State* L) {
    static constexpr const char* kWhat = "room:getAlarm";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    if (!begin(L, view, kWhat, error)) return BlockingCall::raise(L, error);
    view.handlers().callBlocking(
        [kv = view.alarms(), key = view.keyPrefix(), deadline = deadline()]() -> HandlerQueue::Resumer {
            auto entry = kv->get(key, deadline);
            std::optional<AlarmRecord> record;
            if (entry) record = AlarmRecord::parse(entry->value);
            if (!entry && entry.status().code() != Code::NotFound)
                return BlockingCall::failure(kWhat, entry.status());
            if (!record)
                return [](lua_State* co) {
                    lua_pushboolean(co, 1);
                    lua_pushnil(co);
                    return 2;
                };
            return returning(record->dueMs);
        });
    return BlockingCall::yield(L, done);
}

int AlarmApi::done(lua_State* L, int, lua_KContext base) {
    const int first = BlockingCall::results(L, base);
    return lua_gettop(L) - first + 1;
}

void AlarmApi::addMethods(lua_State* L, ShardView& view) {
    static const luaL_Reg methods[] = {
        {"setAlarm", setAlarm}, {"cancelAlarm", cancelAlarm}, {"getAlarm", getAlarm}, {nullptr, nullptr}};
    lua_pushlightuserdata(L, &view);
    luaL_setfuncs(L, methods, 1);
}

}  // namespace partyline
