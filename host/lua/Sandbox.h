// The environment room scripts run in: which globals and library functions exist, and the rules
// the replaced ones enforce. The list itself is data at the top of Sandbox.cpp, one screen long.
//
// The sandbox bounds what a script can reach and how long a C call may run; it is a resource limit,
// not a security boundary against a hostile tenant. It must not own the state or keep any state of
// its own: budgets, counters and log routing belong to the SandboxHost (the State).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/Log.h"
#include "core/Status.h"

struct lua_State;

namespace partyline::lua {

// What the sandbox needs from the owner of the state. Called on the state's thread, from inside
// Lua C functions: an implementation leaves the Lua stack as it found it, and may raise a Lua error
// (chargeWork does when the budget is spent), so it keeps no C++ object with a destructor alive
// across lua_error.
class SandboxHost {
   public:
    // Counts `units` of work done inside a C function (pattern matching), which the instruction
    // hook cannot see, against the current call's instruction budget; `what` names the function
    // for the error. Raises the budget error when the budget is spent.
    virtual void chargeWork(lua_State* L, uint64_t units, const char* what) = 0;
    // A script's log.info/warn/error(...) or print(...); `where` is "file:line" of the calling line.
    // Must not throw and must not call into Lua.
    virtual void scriptLog(log::Level level, std::string_view where, std::string_view message) = 0;

   protected:
    ~SandboxHost() = default;
};

// Turns a state fresh from lua_newstate (no library opened) into the sandbox: the globals table
// becomes the sandbox environment, which is also the default `_ENV` of every chunk loaded later.
// `host` must outlive the state. Runs in protected mode: an error (out of memory under the cap)
// comes back as a Status and leaves the state unusable.
Status installSandbox(lua_State* L, SandboxHost& host);

// "file:line" of the innermost Lua function running on L, or "" when no Lua function is running.
// Allocates nothing in Lua, so it is safe outside protected mode and after a failed resume.
std::string scriptLocation(lua_State* L);

}  // namespace partyline::lua
