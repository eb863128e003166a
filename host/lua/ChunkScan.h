// ChunkScan: what a compiled Lua chunk reads and writes as globals, and which methods it calls on
// locals of given names, each with its line, for `partyline check`.
//
// The source is compiled by Lua itself (luaL_loadbufferx) and the function is written out with
// lua_dump, debug information kept; this unit reads that binary chunk (Lua 5.4's format: header,
// then each function's code, constants, upvalues, nested functions and debug information) and
// looks at four instructions: GETTABUP and SETTABUP on the upvalue _ENV (a global read or
// write), SELF (a method call `x:name(...)`, whose receiver is named when it is a local or an
// upvalue just loaded), and GETUPVAL (to name an upvalue's register). Nothing runs.
//
// Must not: run the chunk, or accept a dump of a Lua other than 5.4 (the header is checked).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/Status.h"

struct lua_State;

namespace partyline::lua {

struct ChunkUse {
    enum class Kind { GlobalRead, GlobalWrite, MethodCall };
    Kind kind;
    std::string name;      // the global, or the method
    std::string receiver;  // MethodCall: the local or upvalue it is called on; empty when unnamed
    int line = 0;          // 0 when unknown
};

// Compiles `source` (named `path` in errors, "path:line: message" for a syntax error) in `L`,
// leaving L's stack as it was, and lists its uses in code order, nested functions after their
// parent's code.
Result<std::vector<ChunkUse>> scanChunk(lua_State* L, std::string_view source, const std::string& path);

}  // namespace partyline::lua
