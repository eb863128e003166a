// ScriptCheck: what `partyline check SCRIPT` reports about a room script,
// without a node: it loads the script in the same sandbox a shard uses and
// looks at the table of handlers it returns.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/Config.h"
#include "core/Status.h"
#include "lua/State.h"

namespace partyline {

// The handler names a room script may define.
extern const std::vector<std::string> kHandlerNames;

// Loads `source` in a fresh sandboxed state under `limits`, as a shard does,
// with the script's own logs dropped, and leaves the table of handlers it
// returns on top of the state's stack. The error a shard would get, naming
// the file and line: a syntax error, an error or the budget while the script
// runs, or a value other than a table.
Result<std::unique_ptr<lua::State>> loadRoomScript(const std::string& source, const std::string& path,
                                                   const Limits& limits);

// Problems found, each "path:line: message" (line when known); empty when the
// script is fine.
std::vector<std::string> checkRoomScript(const std::string& path, const Limits& limits = {});

// The methods a handler finds on `room` and on a `conn`, read from the tables RoomApi builds.
std::set<std::string> roomMethodNames();
std::set<std::string> connMethodNames();

// The text of a starter room script for `partyline new NAME`.
std::string starterScript(const std::string& name);

}  // namespace partyline
