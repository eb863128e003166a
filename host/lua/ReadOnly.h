// Read-only views of Lua tables, for what the host hands a script and the script must not change
// (room.env, conn.auth, req.auth).
//
// A view is an empty table whose metatable reads through to the real table: indexing, pairs,
// ipairs and # work; assigning raises "<what> is read-only"; getmetatable answers false, so a
// script cannot reach the real table nor change the metatable. Nested tables are views too.
// json.encode encodes a view as the table it shows.
// Must not: be used for anything a script is meant to change; rawset on a view writes to the
// empty view itself, which changes nothing of the real table.
#pragma once

struct lua_State;

namespace partyline::lua {

// Replaces the table at the top of the stack with a read-only view of it.
void makeReadOnly(lua_State* L, const char* what);

// If the value at `index` is a read-only view, pushes the table it shows and returns true.
bool pushViewed(lua_State* L, int index);

}  // namespace partyline::lua
