// string.find, string.match, string.gmatch and string.gsub for the sandbox: Lua 5.4's pattern
// syntax and results, on a matcher whose work is counted.
//
// Lua's own matcher runs in C, where the instruction hook never fires, and backtracks without
// bound: string.find on 600 characters with ("a*"):rep(30).."b" ran 28 s under a 10M-instruction
// budget. This matcher charges every step to the call's instruction budget (SandboxHost::chargeWork),
// so such a pattern is stopped like a runaway loop. It must not be used outside the sandbox: the
// functions need their SandboxHost.
#pragma once

#include "lua/Sandbox.h"

struct lua_State;

namespace partyline::lua {

// Sets find, match, gmatch and gsub in the table at `stringTable`. `host` must outlive the state.
void setPatternFunctions(lua_State* L, int stringTable, SandboxHost& host);

}  // namespace partyline::lua
