// ScriptCheck: what `partyline check SCRIPT` reports about a room script,
// without a node: it loads the script in the same sandbox a shard uses and
// looks at the table of handlers it returns.
#pragma once

#include <string>
#include <vector>

#include "config/Config.h"

namespace partyline {

// The handler names a room script may define.
extern const std::vector<std::string> kHandlerNames;

// Problems found, each "path:line: message" (line when known); empty when the
// script is fine.
std::vector<std::string> checkRoomScript(const std::string& path, const Limits& limits = {});

// The text of a starter room script for `partyline new NAME`.
std::string starterScript(const std::string& name);

}  // namespace partyline
