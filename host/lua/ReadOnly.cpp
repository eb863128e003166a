#include "lua/ReadOnly.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "lua/Json.h"

namespace partyline::lua {
namespace {

// A metatable field no script can read (views hide their metatable): marks a view's metatable.
constexpr const char* kMarker = "__partyline_read_only";

int refuseWrite(lua_State* L) {
    return luaL_error(L, "%s is read-only", lua_tostring(L, lua_upvalueindex(1)));
}

// The `next` of pairs(view): walks the real table, whatever the script did to its globals.
int viewNext(lua_State* L) {
    lua_settop(L, 2);
    if (lua_next(L, 1)) return 2;
    lua_pushnil(L);
    return 1;
}

int viewPairs(lua_State* L) {
    lua_pushcfunction(L, viewNext);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushnil(L);
    return 3;
}

int viewLength(lua_State* L) {
    lua_pushinteger(L, lua_Integer(lua_rawlen(L, lua_upvalueindex(1))));
    return 1;
}

void makeView(lua_State* L, const char* what, int depth) {
    int target = lua_gettop(L);
    luaL_checkstack(L, 8, "read-only view");
    if (depth < kMaxJsonDepth) {
        lua_pushnil(L);
        while (lua_next(L, target)) {
            if (lua_istable(L, -1)) {
                makeView(L, what, depth + 1);
                lua_pushvalue(L, -2);  // the key
                lua_insert(L, -2);
                lua_rawset(L, target);  // an existing field: allowed while traversing
            } else {
                lua_pop(L, 1);
            }
        }
    }
    lua_newtable(L);
    lua_createtable(L, 0, 6);
    lua_pushvalue(L, target);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, what);
    lua_pushcclosure(L, refuseWrite, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, target);
    lua_pushcclosure(L, viewPairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushvalue(L, target);
    lua_pushcclosure(L, viewLength, 1);
    lua_setfield(L, -2, "__len");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, kMarker);
    lua_setmetatable(L, -2);
    lua_replace(L, target);
}

}  // namespace

void makeReadOnly(lua_State* L, const char* what) {
    makeView(L, what, 0);
}

bool pushViewed(lua_State* L, int index) {
    if (!lua_istable(L, index) || !lua_getmetatable(L, index)) return false;
    lua_pushstring(L, kMarker);
    bool view = lua_rawget(L, -2) == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!view) {
        lua_pop(L, 1);
        return false;
    }
    lua_pushstring(L, "__index");
    lua_rawget(L, -2);
    lua_remove(L, -2);  // the metatable
    return true;
}

}  // namespace partyline::lua
