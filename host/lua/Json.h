// JSON for room scripts (json.encode, json.decode, json.null) and for the host's C++ code that
// holds Lua values. The syntax and string quoting are core/Json's; this unit maps them to Lua.
//
// Values are read and built through the Lua API, so every decoded value and every byte of encoded
// output is allocated by Lua and counts against the state's memory cap, and nesting is bounded by
// kMaxJsonDepth both ways. Encoding reads tables raw: it never calls metamethods or other Lua code.
//
// Mapping: a table whose keys are exactly 1..n (n > 0) is an array; a table whose keys are all
// strings is an object, written with its keys in byte order so the same table always gives the
// same text; the empty table is an object ({}), as lua-cjson encodes it; any other table is an
// error. json.array(t) marks a table as an array (a protected metatable), so it encodes as []
// even when empty, and every decoded array carries the mark, so [] decodes and encodes back to
// []; json.empty_array is a value that encodes as []. json.null stands for JSON null, which Lua's
// nil cannot (nil cannot sit in a table); decoding gives json.null for every null, top level
// included. Decoded numbers are integers when integral and within int64, floats otherwise. Parsing
// is strict RFC 8259: UTF-8 only, no comments, no trailing commas, no lone surrogates.
//
// It must not be included only to quote a string: core/Json.h has jsonQuote.
#pragma once

#include <string>
#include <string_view>

#include "core/Json.h"
#include "core/Status.h"

struct lua_State;

namespace partyline::lua {

// core/Json's bound, for both directions.
using partyline::kMaxJsonDepth;

// Pushes the `json` table {encode, decode, null, array, empty_array}. Raises a Lua error when out of memory.
int openJson(lua_State* L);

// The json.null sentinel, a light userdata.
void* jsonNull();

// Pushes a new table marked as a JSON array (as json.array does), with room for `size` elements:
// for the lists the host hands to scripts, so they encode as [] when empty.
void pushArray(lua_State* L, int size);

// Encodes the value at `index`. Runs in protected mode: errors come back as a Status
// (InvalidArgument for a value JSON cannot hold, ResourceExhausted for the memory cap).
Result<std::string> toJson(lua_State* L, int index);

// Decodes `text` and pushes the value; pushes nothing on error. Runs in protected mode.
Status pushJson(lua_State* L, std::string_view text);

}  // namespace partyline::lua
