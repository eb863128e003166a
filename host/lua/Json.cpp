#include "lua/Json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <lua.hpp>

#include "lua/ReadOnly.h"

// Errors are Lua errors raised with luaL_error, which longjmps: the encoder and decoder keep no C++
// object with a destructor alive, and their buffers live in Lua so an error leaks nothing. The
// syntax is core/Json's reader; this file turns what it reads into Lua values.

namespace partyline::lua {
namespace {

const char kNullTag = 0;        // its address is json.null
const char kEmptyArrayTag = 0;  // its address is json.empty_array
const char kArrayMetaKey = 0;   // the registry key of the array metatable

// Pushes the metatable that marks a table as a JSON array (json.array, and every decoded array),
// made once per state. Its __metatable field hides and protects it: getmetatable gives the string
// "json.array", and setmetatable cannot take it off.
void pushArrayMeta(lua_State* L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMetaKey) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kArrayMetaKey);
}

// True when the table at `index` carries the array metatable (read raw: no metamethod runs).
bool markedArray(lua_State* L, int index) {
    if (!lua_getmetatable(L, index)) return false;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayMetaKey);
    bool marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

// ----- encoding -----

struct Encoder {
    lua_State* L;
    int bufferSlot;  // stack slot of the userdata holding `data`, so an error cannot leak it
    char* data = nullptr;
    size_t size = 0;
    size_t capacity = 0;
    int depth = 0;
    const void* path[kMaxJsonDepth] = {};  // the tables being encoded, outermost first

    void append(const char* s, size_t n) {
        if (n == 0) return;
        if (capacity - size < n) grow(n);
        std::memcpy(data + size, s, n);
        size += n;
    }

    void grow(size_t n) {
        size_t fresh = std::max({capacity * 2, size + n, size_t{256}});
        char* bigger = static_cast<char*>(lua_newuserdatauv(L, fresh, 0));
        if (size > 0) std::memcpy(bigger, data, size);
        lua_replace(L, bufferSlot);
        data = bigger;
        capacity = fresh;
    }
};

void encodeValue(Encoder& e, int index);

void encodeNumber(Encoder& e, int index) {
    char text[32];
    std::to_chars_result r;
    if (lua_isinteger(e.L, index)) {
        r = std::to_chars(text, text + sizeof text, lua_tointeger(e.L, index));
    } else {
        double d = lua_tonumber(e.L, index);
        if (!std::isfinite(d))
            luaL_error(e.L, "json.encode: cannot encode %s", std::isnan(d) ? "NaN" : "infinity");
        r = std::to_chars(text, text + sizeof text, d);  // shortest text that reads back the same
    }
    e.append(text, r.ptr - text);
}

void encodeString(Encoder& e, int index) {
    size_t n;
    const char* s = lua_tolstring(e.L, index, &n);
    quoteJsonTo([&e](const char* p, size_t k) { e.append(p, k); }, std::string_view(s, n));
}

// Counts the keys of the table at `index`: the array length when they are exactly 1..n (0 for
// an empty table marked as an array), or -1 when they are all strings (an unmarked empty table
// too: an object). Raises for any other table.
lua_Integer arrayLength(Encoder& e, int index, bool marked) {
    lua_State* L = e.L;
    lua_Integer integers = 0, largest = 0, strings = 0, others = 0;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            ++strings;
        } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
            ++integers;
            largest = std::max(largest, lua_tointeger(L, -1));
        } else {
            ++others;
        }
    }
    if (others > 0 || (strings > 0 && integers > 0))
        luaL_error(L, "json.encode: cannot encode a table with mixed or non-string keys");
    if (marked && strings > 0) luaL_error(L, "json.encode: a json.array table has string keys");
    if (integers != largest)
        luaL_error(L,
                   "json.encode: cannot encode a sparse array (keys must be 1..n; use json.null for holes)");
    return strings > 0 || (integers == 0 && !marked) ? -1 : integers;
}

void encodeArray(Encoder& e, int index, lua_Integer length) {
    e.append("[", 1);
    for (lua_Integer i = 1; i <= length; ++i) {
        if (i > 1) e.append(",", 1);
        lua_rawgeti(e.L, index, i);
        encodeValue(e, lua_gettop(e.L));
        lua_pop(e.L, 1);
    }
    e.append("]", 1);
}

struct Key {
    const char* text;
    size_t size;
    bool operator<(const Key& o) const {
        int c = std::memcmp(text, o.text, std::min(size, o.size));
        return c < 0 || (c == 0 && size < o.size);
    }
};

// The string keys of the table at `index`, sorted, in a userdata left on the stack. The key
// strings stay alive because the table holds them and nothing changes the table meanwhile.
Key* sortedKeys(Encoder& e, int index, size_t& count) {
    lua_State* L = e.L;
    count = 0;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_pop(L, 1);
        ++count;
    }
    auto* keys = static_cast<Key*>(lua_newuserdatauv(L, count * sizeof(Key), 0));
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_pop(L, 1);
        keys[i].text = lua_tolstring(L, -1, &keys[i].size);
        ++i;
    }
    std::sort(keys, keys + count);
    return keys;
}

void encodeObject(Encoder& e, int index) {
    lua_State* L = e.L;
    size_t count;
    const Key* keys = sortedKeys(e, index, count);
    e.append("{", 1);
    for (size_t i = 0; i < count; ++i) {
        if (i > 0) e.append(",", 1);
        quoteJsonTo([&e](const char* p, size_t k) { e.append(p, k); },
                    std::string_view(keys[i].text, keys[i].size));
        e.append(":", 1);
        lua_pushlstring(L, keys[i].text, keys[i].size);
        lua_rawget(L, index);
        encodeValue(e, lua_gettop(L));
        lua_pop(L, 1);
    }
    e.append("}", 1);
    lua_pop(L, 1);  // the keys
}

void encodeTable(Encoder& e, int index) {
    if (pushViewed(e.L, index)) {  // a read-only view (room.env, conn.auth): the table it shows
        encodeTable(e, lua_gettop(e.L));
        lua_pop(e.L, 1);
        return;
    }
    const void* table = lua_topointer(e.L, index);
    for (int i = 0; i < e.depth; ++i)
        if (e.path[i] == table) luaL_error(e.L, "json.encode: cannot encode a table that contains itself");
    if (e.depth == kMaxJsonDepth) luaL_error(e.L, "json.encode: nesting deeper than %d", kMaxJsonDepth);
    luaL_checkstack(e.L, 4, "json.encode");
    e.path[e.depth++] = table;
    lua_Integer length = arrayLength(e, index, markedArray(e.L, index));
    if (length >= 0) {
        encodeArray(e, index, length);
    } else {
        encodeObject(e, index);
    }
    --e.depth;
}

void encodeValue(Encoder& e, int index) {
    switch (lua_type(e.L, index)) {
        case LUA_TNIL:
            return e.append("null", 4);
        case LUA_TBOOLEAN:
            return lua_toboolean(e.L, index) ? e.append("true", 4) : e.append("false", 5);
        case LUA_TNUMBER:
            return encodeNumber(e, index);
        case LUA_TSTRING:
            return encodeString(e, index);
        case LUA_TTABLE:
            return encodeTable(e, index);
        case LUA_TLIGHTUSERDATA:
            if (lua_touserdata(e.L, index) == jsonNull()) return e.append("null", 4);
            if (lua_touserdata(e.L, index) == &kEmptyArrayTag) return e.append("[]", 2);
            break;
    }
    luaL_error(e.L, "json.encode: cannot encode a %s value", luaL_typename(e.L, index));
}

int encode(lua_State* L) {
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    lua_pushnil(L);  // slot 2: the output buffer
    Encoder e{L, 2};
    encodeValue(e, 1);
    lua_pushlstring(L, e.data ? e.data : "", e.size);
    return 1;
}

// ----- decoding -----

// Pushes each value core/Json's reader reports, allocated by Lua. Every error is a Lua error:
// luaL_error longjmps out of the reader, which keeps nothing that needs destroying.
class Decoder final : public JsonHandler {
   public:
    explicit Decoder(lua_State* L) : L(L) {}

    void null() override { lua_pushlightuserdata(L, jsonNull()); }
    void boolean(bool value) override { lua_pushboolean(L, value); }
    void integer(int64_t value) override { lua_pushinteger(L, value); }
    void number(double value) override { lua_pushnumber(L, value); }
    void stringPart(std::string_view part, bool last) override {
        if (!buffering_) {
            luaL_checkstack(L, 3, "json.decode");
            if (last) {
                lua_pushlstring(L, part.data(), part.size());
                return;
            }
            luaL_buffinit(L, &buffer_);
            buffering_ = true;
        }
        luaL_addlstring(&buffer_, part.data(), part.size());
        if (!last) return;
        luaL_pushresult(&buffer_);
        buffering_ = false;
    }
    void beginArray() override {
        open();
        pushArrayMeta(L);
        lua_setmetatable(L, -2);
    }
    void addElement() override { lua_rawseti(L, -2, next_[depth_ - 1]++); }
    void endArray() override { --depth_; }
    void beginObject() override { open(); }
    void addMember() override { lua_rawset(L, -3); }  // a repeated key: the last one wins
    void endObject() override { --depth_; }
    void fail(const char* what, size_t offset) override {
        // "json.decode: <what> at byte N", N counting from 1 as Lua's string positions do.
        luaL_error(L, "json.decode: %s at byte %I", what, static_cast<lua_Integer>(offset + 1));
    }

   private:
    void open() {
        luaL_checkstack(L, 4, "json.decode");
        lua_newtable(L);
        next_[depth_++] = 1;
    }

    lua_State* L;
    luaL_Buffer buffer_;  // the string being read, when it holds escapes
    bool buffering_ = false;
    int depth_ = 0;                         // arrays and objects open
    lua_Integer next_[kMaxJsonDepth] = {};  // the next index of each open array
};

void decodeText(lua_State* L, const char* text, size_t size) {
    Decoder decoder(L);
    readJson(std::string_view(text, size), decoder);
}

int decode(lua_State* L) {
    size_t size;
    const char* text = luaL_checklstring(L, 1, &size);
    decodeText(L, text, size);
    return 1;
}

// pushJson's body, run by lua_pcall; argument 1 is a light userdata to the text.
int decodeProtected(lua_State* L) {
    const auto* text = static_cast<const std::string_view*>(lua_touserdata(L, 1));
    lua_pop(L, 1);
    decodeText(L, text->data(), text->size());
    return 1;
}

Status errorStatus(lua_State* L, int rc) {
    std::string message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "json: error";
    lua_pop(L, 1);
    return Status(rc == LUA_ERRMEM ? Code::ResourceExhausted : Code::InvalidArgument, message);
}

}  // namespace

void* jsonNull() {
    return const_cast<char*>(&kNullTag);
}

void pushArray(lua_State* L, int size) {
    lua_createtable(L, size, 0);
    pushArrayMeta(L);
    lua_setmetatable(L, -2);
}

// json.array(t): marks `t` (a new table when absent) as an array, so it encodes as [] when empty,
// and returns it. A table with another metatable cannot be marked.
int markArray(lua_State* L) {
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
        if (lua_getmetatable(L, 1)) {
            lua_pop(L, 1);
            if (!markedArray(L, 1)) luaL_error(L, "json.array: the table already has a metatable");
            return 1;
        }
    }
    pushArrayMeta(L);
    lua_setmetatable(L, 1);
    return 1;
}

int openJson(lua_State* L) {
    lua_createtable(L, 0, 5);
    lua_pushcfunction(L, markArray);
    lua_setfield(L, -2, "array");
    lua_pushlightuserdata(L, const_cast<char*>(&kEmptyArrayTag));
    lua_setfield(L, -2, "empty_array");
    lua_pushcfunction(L, encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, decode);
    lua_setfield(L, -2, "decode");
    lua_pushlightuserdata(L, jsonNull());
    lua_setfield(L, -2, "null");
    return 1;
}

Result<std::string> toJson(lua_State* L, int index) {
    index = lua_absindex(L, index);
    if (!lua_checkstack(L, 3)) return Status(Code::ResourceExhausted, "json.encode: Lua stack is full");
    lua_pushcfunction(L, encode);
    lua_pushvalue(L, index);
    int rc = lua_pcall(L, 1, 1, 0);
    if (rc != LUA_OK) return errorStatus(L, rc);
    size_t size;
    const char* text = lua_tolstring(L, -1, &size);
    std::string out(text, size);
    lua_pop(L, 1);
    return out;
}

Status pushJson(lua_State* L, std::string_view text) {
    if (!lua_checkstack(L, 3)) return Status(Code::ResourceExhausted, "json.decode: Lua stack is full");
    lua_pushcfunction(L, decodeProtected);
    lua_pushlightuserdata(L, &text);
    int rc = lua_pcall(L, 1, 1, 0);
    if (rc != LUA_OK) return errorStatus(L, rc);
    return Status::ok();
}

}  // namespace partyline::lua
