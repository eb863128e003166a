#include "lua/Sandbox.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <lua.hpp>

#include "lua/CryptoApi.h"
#include "lua/Json.h"
#include "lua/JwtApi.h"
#include "lua/Pattern.h"

namespace partyline::lua {
namespace {

// ---------------------------------------------------------------------------------------------
// The sandbox. A script sees exactly the names listed here; everything else is absent.
// ---------------------------------------------------------------------------------------------

// clang-format off
// Base functions a script gets as Lua ships them.
constexpr const char* kBaseFunctions[] = {
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
    "rawlen", "rawset", "select", "tonumber", "tostring", "type", "_VERSION",
};

// Libraries a script gets; `keep` is "*" for every function or the space-separated ones kept.
struct Library {
    const char* name;
    lua_CFunction open;
    const char* keep;
};
constexpr Library kLibraries[] = {
    {"string", luaopen_string, "*"},        // minus dump; find/match/gmatch/gsub replaced (below)
    {"table", luaopen_table, "*"},          // comparators of table.sort are Lua code: counted
    {"math", luaopen_math, "*"},            // math.random is per state and reveals nothing
    {"utf8", luaopen_utf8, "*"},            // loops in len, codepoint, offset are charged (below)
    {"coroutine", luaopen_coroutine, "*"},  // new threads copy the count hook; wrap, close replaced
    {"os", luaopen_os, "time clock"},       // the rest reaches the host's files, processes, env
};

// Functions taken out of libraries that are otherwise kept whole.
constexpr std::pair<const char*, const char*> kRemoved[] = {
    {"string", "dump"},  // bytecode is not verified: crafted bytecode crashes the VM
};

// Refused outright, so absent (listed for the audit, not used by the code):
//   io                         the host's files
//   debug                      reaches every upvalue, metatable, hook and the registry
//   package, require, dofile, loadfile    load code from the host's disk
//   warn                       writes to the host's stderr
//   binary chunks              see string.dump; `load` and State::loadScript accept text only

// Functions replaced by partyline's own (defined below):
//   print            goes to log.info, not stdout
//   load             text chunks only (mode "t" forced); env defaults to the sandbox env. The
//                    chunk's bytes are charged: lexing a long comment allocates nothing.
//   setmetatable     refuses a metatable with __gc: finalizers run with hooks off and hung the host
//   collectgarbage   "count" only: stopping or retuning the collector would slow the whole shard
//   xpcall           runs the message handler after the failed call unwound. Lua runs it at the
//                    error point, and with hooks off when the error came from the count hook (the
//                    budget stop), so a looping handler was never stopped.
//   coroutine.wrap, coroutine.close   never run the __close handlers of a coroutine that died of
//                    an error: it may have died in the count hook, with hooks off (as above).
// The string metatable's __index is the sandbox's string table and the metatable is protected
// (__metatable), so ("").dump and friends stay out of reach.
// string.find/match/gmatch/gsub: Lua's matcher runs in C where the hook never fires and
// backtracks exponentially; Pattern.cpp's matcher charges each step to the call's budget.

// Library functions that loop over their input in C without allocating (allocations are charged
// by the State): each is charged its loop count before it runs, so a loop of them is stopped by
// the instruction budget like any loop. `cost` reads the arguments without raising.
lua_Integer sortCost(lua_State* L);       // n log n comparisons
lua_Integer insertCost(lua_State* L);     // elements moved up by insert at a position
lua_Integer removeCost(lua_State* L);     // elements moved down by remove at a position
lua_Integer concatCost(lua_State* L);     // elements i..j
lua_Integer unpackCost(lua_State* L);     // elements i..j
lua_Integer moveCost(lua_State* L);       // elements f..e
lua_Integer byteRangeCost(lua_State* L);  // bytes i..j, j defaulting to i (string.byte, codepoint)
lua_Integer stringCost(lua_State* L);     // the whole string (utf8.len)
lua_Integer offsetCost(lua_State* L);     // characters skipped (utf8.offset)
struct Charged {
    const char* lib;
    const char* name;
    const char* label;  // for the budget error
    lua_Integer (*cost)(lua_State* L);
};
constexpr Charged kCharged[] = {
    {"table", "sort", "table.sort", sortCost},
    {"table", "insert", "table.insert", insertCost},
    {"table", "remove", "table.remove", removeCost},
    {"table", "concat", "table.concat", concatCost},
    {"table", "unpack", "table.unpack", unpackCost},
    {"table", "move", "table.move", moveCost},
    {"string", "byte", "string.byte", byteRangeCost},
    {"utf8", "codepoint", "utf8.codepoint", byteRangeCost},
    {"utf8", "len", "utf8.len", stringCost},
    {"utf8", "offset", "utf8.offset", offsetCost},
};
// Not charged, and able to cost O(n) for one instruction: comparing two long strings that share a
// long prefix, and passing a long vararg list along. The memory cap bounds n, and the processor
// time limit of each call (State.h, Budget) stops a loop of them.

// Added by partyline: log.info/warn/error, now(), json.encode/decode/null, and these libraries,
// whose functions run in C and charge their work to the call's budget:
struct Addition {
    const char* name;
    int (*open)(lua_State* L, SandboxHost& host);
};
constexpr Addition kAdditions[] = {
    {"crypto", openCrypto},  // sha256, hmac_sha256 (hex; _raw), random, equal: libcrypto, per byte
    {"base64", openBase64},  // encode, decode, urlencode, urldecode: per byte
    {"jwt", openJwt},        // verify, sign: per byte, and per public-key operation
};
// Added by the shard that loads the script, not here: the global `fetch` (rooms/FetchApi), which
// reaches only the hosts of fetch.allow and waits off the shard's thread.

// A log line, not a data dump: keeps one script from flooding the host's log.
constexpr size_t kMaxLogMessageBytes = 8192;
// clang-format on

// ---------------------------------------------------------------------------------------------

SandboxHost& hostOf(lua_State* L) {
    return *static_cast<SandboxHost*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// A wrapper calls Lua's own function directly, in its own call frame, so that errors name the
// function and the script's line as they would without the wrapper.
lua_CFunction originalOf(lua_State* L, int upvalue) {
    return reinterpret_cast<lua_CFunction>(lua_touserdata(L, lua_upvalueindex(upvalue)));
}

// Pushes Lua's C function table[name] as a light userdata, for originalOf.
void pushOriginal(lua_State* L, int table, const char* name) {
    lua_getfield(L, table, name);
    lua_CFunction fn = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    lua_pushlightuserdata(L, reinterpret_cast<void*>(fn));
}

// ----- costs of the charged functions -----

// Argument `index` as an integer, or `otherwise` when absent or not an integer (the function
// itself then raises the proper error).
lua_Integer intArg(lua_State* L, int index, lua_Integer otherwise) {
    int isInteger = 0;
    lua_Integer value = lua_tointegerx(L, index, &isInteger);
    return isInteger ? value : otherwise;
}

// Count of from..to, without overflow; 0 when empty.
lua_Integer span(lua_Integer from, lua_Integer to) {
    if (to < from) return 0;
    lua_Unsigned n = static_cast<lua_Unsigned>(to) - static_cast<lua_Unsigned>(from);
    return n >= static_cast<lua_Unsigned>(LUA_MAXINTEGER) ? LUA_MAXINTEGER : static_cast<lua_Integer>(n) + 1;
}

lua_Integer tableLength(lua_State* L) {
    return lua_type(L, 1) == LUA_TTABLE ? static_cast<lua_Integer>(lua_rawlen(L, 1)) : 0;
}

lua_Integer stringLength(lua_State* L) {
    return lua_type(L, 1) == LUA_TSTRING ? static_cast<lua_Integer>(lua_rawlen(L, 1)) : 0;
}

lua_Integer sortCost(lua_State* L) {
    lua_Integer n = tableLength(L);
    lua_Integer log2 = 1;
    while ((lua_Integer{1} << log2) < n) ++log2;
    return n * log2;
}

// insert(t, v) appends and remove(t) pops, moving nothing; with a position, the rest moves.
lua_Integer insertCost(lua_State* L) {
    lua_Integer n = tableLength(L);
    return lua_gettop(L) == 3 ? span(intArg(L, 2, n + 1), n) + 1 : 1;
}

lua_Integer removeCost(lua_State* L) {
    lua_Integer n = tableLength(L);
    return lua_gettop(L) >= 2 ? span(intArg(L, 2, n), n) + 1 : 1;
}

lua_Integer concatCost(lua_State* L) {
    return span(intArg(L, 3, 1), intArg(L, 4, tableLength(L)));
}

lua_Integer unpackCost(lua_State* L) {
    return span(intArg(L, 2, 1), intArg(L, 3, tableLength(L)));
}

lua_Integer moveCost(lua_State* L) {
    return span(intArg(L, 2, 1), intArg(L, 3, 0));
}

// Lua's rule for string positions: negative counts from the end.
lua_Integer position(lua_Integer pos, lua_Integer len) {
    if (pos >= 0) return pos;
    return pos < -len ? 0 : len + pos + 1;
}

lua_Integer byteRangeCost(lua_State* L) {
    lua_Integer len = stringLength(L);
    lua_Integer i = std::max<lua_Integer>(position(intArg(L, 2, 1), len), 1);
    lua_Integer j = std::min(position(intArg(L, 3, i), len), len);
    return span(i, j);
}

lua_Integer stringCost(lua_State* L) {
    return stringLength(L);
}

lua_Integer offsetCost(lua_State* L) {
    lua_Integer n = intArg(L, 2, 0);
    return n == LUA_MININTEGER ? LUA_MAXINTEGER : (n < 0 ? -n : n) + 1;
}

// upvalues: host, Lua's function, index in kCharged.
int chargedCall(lua_State* L) {
    const Charged& charged = kCharged[lua_tointeger(L, lua_upvalueindex(3))];
    lua_Integer units = charged.cost(L);
    if (units > 0) hostOf(L).chargeWork(L, static_cast<uint64_t>(units), charged.label);
    return originalOf(L, 2)(L);
}

// Wraps the charged functions of the library copy at `table`.
void chargeLibrary(lua_State* L, const char* lib, int table, SandboxHost* host) {
    for (size_t i = 0; i < std::size(kCharged); ++i) {
        const Charged& charged = kCharged[i];
        if (std::strcmp(charged.lib, lib) != 0) continue;
        lua_pushlightuserdata(L, host);
        pushOriginal(L, table, charged.name);
        lua_pushinteger(L, static_cast<lua_Integer>(i));
        lua_pushcclosure(L, chargedCall, 3);
        lua_setfield(L, table, charged.name);
    }
}

// log.info/warn/error and print: upvalue 1 is the host, upvalue 2 the level.
int scriptLog(lua_State* L) {
    auto level = static_cast<log::Level>(lua_tointeger(L, lua_upvalueindex(2)));
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; ++i) {
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t size = 0;
    const char* text = lua_tolstring(L, -1, &size);
    std::string_view message(text, std::min(size, kMaxLogMessageBytes));
    hostOf(L).scriptLog(level, scriptLocation(L), message);
    return 0;
}

int now(lua_State* L) {
    auto sinceEpoch = std::chrono::system_clock::now().time_since_epoch();
    lua_pushinteger(L, std::chrono::duration_cast<std::chrono::milliseconds>(sinceEpoch).count());
    return 1;
}

// Lua's setmetatable, but a metatable with a __gc field is refused.
int setmetatableNoGc(lua_State* L) {
    int type = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
    if (type == LUA_TTABLE) {
        // Raw: Lua itself looks __gc up raw when it marks an object for finalization.
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "partyline: __gc is not allowed in room scripts");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

// A reader function of load, wrapped: upvalue 1 is the host, 2 the script's reader. Each piece it
// returns is charged before Lua lexes it.
int chargedReader(lua_State* L) {
    lua_settop(L, 0);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_call(L, 0, 1);
    if (lua_type(L, 1) == LUA_TSTRING && lua_rawlen(L, 1) > 0)
        hostOf(L).chargeWork(L, lua_rawlen(L, 1), "load");
    return 1;
}

// Lua's load with mode "t" whatever the script asks, the chunk charged by its length; upvalue 1 is
// the host, 2 Lua's load.
int loadTextOnly(lua_State* L) {
    lua_settop(L, lua_isnone(L, 4) ? 3 : 4);  // an explicit nil env is honoured, as in Lua
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    if (lua_type(L, 1) == LUA_TSTRING) {
        hostOf(L).chargeWork(L, lua_rawlen(L, 1), "load");
    } else if (lua_type(L, 1) == LUA_TFUNCTION) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushvalue(L, 1);
        lua_pushcclosure(L, chargedReader, 2);
        lua_replace(L, 1);
    }
    return originalOf(L, 2)(L);
}

// After the protected call: its results, or false and the handler's answer to the error.
int finishXpcall(lua_State* L, int status, lua_KContext extra) {
    if (status == LUA_OK || status == LUA_YIELD) return lua_gettop(L) - static_cast<int>(extra);
    lua_pushvalue(L, 2);  // the handler
    lua_insert(L, -2);
    lua_pcall(L, 1, 1, 0);  // an error in the handler becomes its answer
    lua_pushboolean(L, false);
    lua_insert(L, -2);
    return 2;
}

// xpcall(f, handler, ...) as pcall, then the handler; yields inside f work as in Lua's.
int xpcallUnwound(lua_State* L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, true);  // f, handler, args..., true, f
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);  // f, handler, true, f, args...
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 0, 2, finishXpcall);
    return finishXpcall(L, status, 2);
}

// The function coroutine.wrap returns; upvalue 1 is the coroutine. Errors propagate as in Lua's,
// with the caller's position, but the dead coroutine is not reset.
int resumeWrapped(lua_State* L) {
    lua_State* co = lua_tothread(L, lua_upvalueindex(1));
    int n = lua_gettop(L);
    if (!lua_checkstack(co, n)) return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, n);
    int nresults = 0;
    int status = lua_resume(co, L, n, &nresults);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nresults + 1)) return luaL_error(L, "too many results to resume");
        lua_xmove(co, L, nresults);
        return nresults;
    }
    lua_xmove(co, L, 1);
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

int wrapCoroutine(lua_State* L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State* co = lua_newthread(L);  // copies L's count hook
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, resumeWrapped, 1);
    return 1;
}

// coroutine.close; upvalue 1 is Lua's. A coroutine that died of an error answers false and its
// error without running its __close handlers.
int closeCoroutine(lua_State* L) {
    lua_State* co = lua_tothread(L, 1);
    int status = co ? lua_status(co) : LUA_OK;
    if (status == LUA_OK || status == LUA_YIELD) return originalOf(L, 1)(L);
    lua_pushboolean(L, false);
    if (!lua_checkstack(co, 1)) return 1;
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    return 2;
}

int collectgarbageCountOnly(lua_State* L) {
    const char* option = luaL_optstring(L, 1, "collect");
    if (std::strcmp(option, "count") != 0)
        return luaL_error(
            L, "partyline: collectgarbage(\"%s\") is not allowed in room scripts; only \"count\"", option);
    lua_pushnumber(L, lua_gc(L, LUA_GCCOUNT) + lua_gc(L, LUA_GCCOUNTB) / 1024.0);
    return 1;
}

// Leaves a table holding the allowed functions of `lib` on the stack: the library's own table,
// opened without registering it anywhere, minus what kRemoved takes out; or, when `keep` names
// functions, a new table of just those.
void pushLibrary(lua_State* L, const Library& lib) {
    lua_pushcfunction(L, lib.open);
    lua_call(L, 0, 1);
    int opened = lua_gettop(L);
    if (std::strcmp(lib.keep, "*") == 0) {
        for (const auto& [l, name] : kRemoved) {
            if (std::strcmp(l, lib.name) != 0) continue;
            lua_pushnil(L);
            lua_setfield(L, opened, name);
        }
        return;
    }
    lua_createtable(L, 0, 4);
    for (const char* word = lib.keep; *word;) {
        size_t n = std::strcspn(word, " ");
        lua_pushlstring(L, word, n);
        lua_pushvalue(L, -1);
        lua_rawget(L, opened);
        lua_rawset(L, -3);
        word += n;
        while (*word == ' ') ++word;
    }
    lua_remove(L, opened);
}

void setClosure(lua_State* L, int env, const char* name, lua_CFunction fn, int upvalues) {
    lua_pushcclosure(L, fn, upvalues);
    lua_setfield(L, env, name);
}

void setBase(lua_State* L, int env, SandboxHost* host) {
    lua_pushcfunction(L, luaopen_base);
    lua_call(L, 0, 1);  // fills and returns the state's first globals table, which the env replaces
    int base = lua_gettop(L);
    for (const char* name : kBaseFunctions) {
        lua_getfield(L, base, name);
        lua_setfield(L, env, name);
    }
    lua_pushlightuserdata(L, host);
    pushOriginal(L, base, "load");
    setClosure(L, env, "load", loadTextOnly, 2);
    setClosure(L, env, "setmetatable", setmetatableNoGc, 0);
    setClosure(L, env, "collectgarbage", collectgarbageCountOnly, 0);
    setClosure(L, env, "xpcall", xpcallUnwound, 0);
    lua_pushlightuserdata(L, host);
    lua_pushinteger(L, static_cast<lua_Integer>(log::Level::Info));
    setClosure(L, env, "print", scriptLog, 2);
    lua_pop(L, 1);
}

void replaceCoroutineFunctions(lua_State* L, int coroutine) {
    setClosure(L, coroutine, "wrap", wrapCoroutine, 0);
    pushOriginal(L, coroutine, "close");
    setClosure(L, coroutine, "close", closeCoroutine, 1);
}

// Also lists each library in the registry's "loaded" table, where Lua looks up function names for
// messages such as "bad argument #1 to 'coroutine.wrap'"; scripts cannot reach the registry.
void setLibraries(lua_State* L, int env, SandboxHost* host) {
    lua_createtable(L, 0, int(std::size(kLibraries)) + 1);
    int loaded = lua_gettop(L);
    lua_pushvalue(L, env);
    lua_setfield(L, loaded, "_G");
    for (const Library& lib : kLibraries) {
        pushLibrary(L, lib);
        lua_pushvalue(L, -1);
        lua_setfield(L, loaded, lib.name);
        if (std::strcmp(lib.name, "string") == 0) setPatternFunctions(L, lua_gettop(L), *host);
        if (std::strcmp(lib.name, "coroutine") == 0) replaceCoroutineFunctions(L, lua_gettop(L));
        chargeLibrary(L, lib.name, lua_gettop(L), host);
        lua_setfield(L, env, lib.name);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
}

// Points the metatable every string shares at the sandbox's string table, and protects it.
void protectStringMetatable(lua_State* L, int env) {
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_getfield(L, env, "string");
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, false);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
}

void setAdditions(lua_State* L, int env, SandboxHost* host) {
    lua_createtable(L, 0, 3);
    const std::pair<const char*, log::Level> levels[] = {
        {"info", log::Level::Info}, {"warn", log::Level::Warn}, {"error", log::Level::Error}};
    for (const auto& [name, level] : levels) {
        lua_pushlightuserdata(L, host);
        lua_pushinteger(L, static_cast<lua_Integer>(level));
        lua_pushcclosure(L, scriptLog, 2);
        lua_setfield(L, -2, name);
    }
    lua_setfield(L, env, "log");
    setClosure(L, env, "now", now, 0);
    openJson(L);
    lua_setfield(L, env, "json");
    // Listed in "loaded" too, as the libraries are (setLibraries).
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    int loaded = lua_gettop(L);
    for (const Addition& addition : kAdditions) {
        addition.open(L, *host);
        lua_pushvalue(L, -1);
        lua_setfield(L, loaded, addition.name);
        lua_setfield(L, env, addition.name);
    }
    lua_pop(L, 1);
}

int install(lua_State* L) {
    auto* host = static_cast<SandboxHost*>(lua_touserdata(L, 1));
    lua_settop(L, 0);
    // Sized for every name below at once: growing a table rehashes it each time it doubles.
    lua_createtable(L, 0, 40);
    const int env = 1;
    setBase(L, env, host);
    setLibraries(L, env, host);
    protectStringMetatable(L, env);
    setAdditions(L, env, host);
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_pushvalue(L, env);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    return 0;
}

}  // namespace

Status installSandbox(lua_State* L, SandboxHost& host) {
    if (!lua_checkstack(L, 2)) return Status(Code::ResourceExhausted, "lua sandbox: stack is full");
    lua_pushcfunction(L, install);
    lua_pushlightuserdata(L, &host);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc == LUA_OK) return Status::ok();
    std::string message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error";
    lua_pop(L, 1);
    return Status(rc == LUA_ERRMEM ? Code::ResourceExhausted : Code::Internal, "lua sandbox: " + message);
}

std::string scriptLocation(lua_State* L) {
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); ++level) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
            return std::string(ar.short_src) + ":" + std::to_string(ar.currentline);
    }
    return "";
}

}  // namespace partyline::lua
