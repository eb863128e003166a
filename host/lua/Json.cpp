#include "lua/Json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <lua.hpp>

// Errors are Lua errors raised with luaL_error, which longjmps: the encoder and decoder keep no C++
// object with a destructor alive, and their buffers live in Lua userdata so an error leaks nothing.

namespace partyline::lua {
namespace {

const char kNullTag = 0;  // its address is json.null

// ----- UTF-8 and string literals -----

// Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there are not valid UTF-8:
// overlong forms, surrogates and code points past U+10FFFF are invalid (RFC 3629).
size_t utf8Length(const unsigned char* p, const unsigned char* end) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (static_cast<size_t>(end - p) < n) return 0;
    for (size_t i = 1; i < n; ++i) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

size_t encodeUtf8(unsigned cp, char* out) {
    if (cp < 0x80) {
        out[0] = static_cast<char>(cp);
        return 1;
    }
    if (cp < 0x800) {
        out[0] = static_cast<char>(0xC0 | (cp >> 6));
        out[1] = static_cast<char>(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = static_cast<char>(0xE0 | (cp >> 12));
        out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out[2] = static_cast<char>(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = static_cast<char>(0xF0 | (cp >> 18));
    out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[3] = static_cast<char>(0x80 | (cp & 0x3F));
    return 4;
}

// The escape for a byte that cannot appear raw in a JSON string.
template <class Out>
void escapeByte(Out& out, unsigned c) {
    static constexpr char kHex[] = "0123456789abcdef";
    switch (c) {
        case '"':
            return out("\\\"", 2);
        case '\\':
            return out("\\\\", 2);
        case '\b':
            return out("\\b", 2);
        case '\f':
            return out("\\f", 2);
        case '\n':
            return out("\\n", 2);
        case '\r':
            return out("\\r", 2);
        case '\t':
            return out("\\t", 2);
    }
    if (c >= 0x80) return out("\\ufffd", 6);  // not part of valid UTF-8
    char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
    out(u, 6);
}

// Writes `s` as a JSON string literal through out(const char*, size_t).
template <class Out>
void quoteTo(Out&& out, const char* s, size_t n) {
    const auto* p = reinterpret_cast<const unsigned char*>(s);
    const auto* end = p + n;
    const auto* run = p;  // start of the bytes copied as they are
    out("\"", 1);
    while (p < end) {
        size_t len = (*p >= 0x20 && *p != '"' && *p != '\\') ? utf8Length(p, end) : 0;
        if (len > 0) {
            p += len;
            continue;
        }
        out(reinterpret_cast<const char*>(run), p - run);
        escapeByte(out, *p);
        run = ++p;
    }
    out(reinterpret_cast<const char*>(run), p - run);
    out("\"", 1);
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
    quoteTo([&e](const char* p, size_t k) { e.append(p, k); }, s, n);
}

// Counts the keys of the table at `index`: the array length when they are exactly 1..n, or -1
// when they are all strings. Raises for any other table.
lua_Integer arrayLength(Encoder& e, int index) {
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
    if (integers != largest)
        luaL_error(L,
                   "json.encode: cannot encode a sparse array (keys must be 1..n; use json.null for holes)");
    return strings > 0 ? -1 : integers;
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
        quoteTo([&e](const char* p, size_t k) { e.append(p, k); }, keys[i].text, keys[i].size);
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
    const void* table = lua_topointer(e.L, index);
    for (int i = 0; i < e.depth; ++i)
        if (e.path[i] == table) luaL_error(e.L, "json.encode: cannot encode a table that contains itself");
    if (e.depth == kMaxJsonDepth) luaL_error(e.L, "json.encode: nesting deeper than %d", kMaxJsonDepth);
    luaL_checkstack(e.L, 4, "json.encode");
    e.path[e.depth++] = table;
    lua_Integer length = arrayLength(e, index);
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

struct Decoder {
    lua_State* L;
    const char* begin;
    const char* p;
    const char* end;
    int depth = 0;

    // Raises "json.decode: <what> at byte N", N counting from 1 as Lua's string positions do.
    void fail(const char* what) const {
        if (p >= end) what = "unexpected end of input";
        luaL_error(L, "json.decode: %s at byte %I", what, static_cast<lua_Integer>(p - begin + 1));
    }
    bool at(char c) const { return p < end && *p == c; }
    bool atDigit() const { return p < end && *p >= '0' && *p <= '9'; }
    void skipSpace() {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
    }
    void expect(char c) {
        skipSpace();
        if (!at(c)) fail("unexpected character");
        ++p;
    }
};

void decodeValue(Decoder& d);

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The value of the \uXXXX escape starting at `at` (its backslash), or -1 when there is none.
long hex4(const Decoder& d, const char* at) {
    if (d.end - at < 6 || at[0] != '\\' || at[1] != 'u') return -1;
    long value = 0;
    for (int i = 2; i < 6; ++i) {
        int digit = hexDigit(at[i]);
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

// A \u escape (a surrogate pair takes two) at d.p, added to `b` as UTF-8.
void decodeUnicodeEscape(Decoder& d, luaL_Buffer* b) {
    long cp = hex4(d, d.p);
    if (cp < 0) d.fail("invalid \\u escape");
    if (cp >= 0xDC00 && cp <= 0xDFFF) d.fail("unpaired surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long low = hex4(d, d.p + 6);
        if (low < 0xDC00 || low > 0xDFFF) d.fail("unpaired surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        d.p += 6;
    }
    d.p += 6;
    char utf8[4];
    luaL_addlstring(b, utf8, encodeUtf8(static_cast<unsigned>(cp), utf8));
}

void decodeEscape(Decoder& d, luaL_Buffer* b) {
    static constexpr char kFrom[] = "\"\\/bfnrt";
    static constexpr char kTo[] = "\"\\/\b\f\n\r\t";
    char c = d.p + 1 < d.end ? d.p[1] : '\0';
    if (c == 'u') return decodeUnicodeEscape(d, b);
    const char* known = c ? std::strchr(kFrom, c) : nullptr;
    if (!known) d.fail("invalid escape");
    luaL_addchar(b, kTo[known - kFrom]);
    d.p += 2;
}

// Advances over one raw string byte or UTF-8 sequence; raises on bytes JSON strings cannot hold.
void skipRawChar(Decoder& d) {
    auto c = static_cast<unsigned char>(*d.p);
    if (c < 0x20) d.fail("control character in string");
    size_t n = utf8Length(reinterpret_cast<const unsigned char*>(d.p),
                          reinterpret_cast<const unsigned char*>(d.end));
    if (n == 0) d.fail("invalid UTF-8");
    d.p += n;
}

// The rest of a string with escapes, from d.p; `start` is where its text began.
void decodeEscapedString(Decoder& d, const char* start) {
    luaL_Buffer b;
    luaL_buffinit(d.L, &b);
    luaL_addlstring(&b, start, d.p - start);
    while (!d.at('"')) {
        if (d.p >= d.end) d.fail("unexpected end of input");
        if (*d.p == '\\') {
            decodeEscape(d, &b);
            continue;
        }
        const char* from = d.p;
        skipRawChar(d);
        luaL_addlstring(&b, from, d.p - from);
    }
    ++d.p;
    luaL_pushresult(&b);
}

void decodeString(Decoder& d) {
    luaL_checkstack(d.L, 3, "json.decode");
    const char* start = ++d.p;
    while (!d.at('"')) {
        if (d.p >= d.end) d.fail("unexpected end of input");
        if (*d.p == '\\') return decodeEscapedString(d, start);
        skipRawChar(d);
    }
    lua_pushlstring(d.L, start, d.p - start);
    ++d.p;
}

// from_chars reports overflow and underflow alike; the decimal exponent tells them apart.
bool overflows(const char* s, const char* end) {
    if (*s == '-') ++s;
    while (s < end && *s == '0') ++s;
    long magnitude = 0;
    while (s < end && *s >= '0' && *s <= '9') ++s, ++magnitude;
    if (s < end && *s == '.') {
        ++s;
        if (magnitude == 0)
            while (s < end && *s == '0') ++s, --magnitude;
        while (s < end && *s >= '0' && *s <= '9') ++s;
    }
    long exponent = 0;
    bool negative = false;
    if (s < end && (*s == 'e' || *s == 'E')) {
        ++s;
        if (s < end && (*s == '+' || *s == '-')) negative = *s++ == '-';
        for (; s < end; ++s) exponent = std::min(exponent * 10 + (*s - '0'), 1000000L);
    }
    return magnitude + (negative ? -exponent : exponent) > 0;
}

void pushNumber(Decoder& d, const char* start, bool integral) {
    if (integral) {
        lua_Integer i;
        if (std::from_chars(start, d.p, i).ec == std::errc()) return lua_pushinteger(d.L, i);
    }
    double x = 0;
    if (std::from_chars(start, d.p, x).ec != std::errc()) {
        if (overflows(start, d.p)) {
            d.p = start;
            d.fail("number out of range");
        }
        x = 0;  // too small for a double
    }
    lua_Integer i;
    if (x == std::floor(x) && lua_numbertointeger(x, &i)) return lua_pushinteger(d.L, i);
    lua_pushnumber(d.L, x);
}

// -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
void decodeNumber(Decoder& d) {
    const char* start = d.p;
    if (d.at('-')) ++d.p;
    if (d.at('0')) {
        ++d.p;
    } else {
        if (!d.atDigit()) d.fail("unexpected character");
        while (d.atDigit()) ++d.p;
    }
    bool integral = true;
    if (d.at('.')) {
        integral = false;
        ++d.p;
        if (!d.atDigit()) d.fail("unexpected character");
        while (d.atDigit()) ++d.p;
    }
    if (d.at('e') || d.at('E')) {
        integral = false;
        ++d.p;
        if (d.at('+') || d.at('-')) ++d.p;
        if (!d.atDigit()) d.fail("unexpected character");
        while (d.atDigit()) ++d.p;
    }
    pushNumber(d, start, integral);
}

void decodeLiteral(Decoder& d, std::string_view word) {
    if (static_cast<size_t>(d.end - d.p) < word.size() || std::memcmp(d.p, word.data(), word.size()) != 0)
        d.fail("unexpected character");
    d.p += word.size();
    if (word == "null") {
        lua_pushlightuserdata(d.L, jsonNull());
    } else {
        lua_pushboolean(d.L, word == "true");
    }
}

void enter(Decoder& d) {
    if (d.depth == kMaxJsonDepth)
        luaL_error(d.L, "json.decode: nesting deeper than %d at byte %I", kMaxJsonDepth,
                   static_cast<lua_Integer>(d.p - d.begin + 1));
    ++d.depth;
    luaL_checkstack(d.L, 4, "json.decode");
    ++d.p;
    lua_newtable(d.L);
    d.skipSpace();
}

void decodeArray(Decoder& d) {
    enter(d);
    if (d.at(']')) {
        ++d.p;
    } else {
        for (lua_Integer i = 1;; ++i) {
            decodeValue(d);
            lua_rawseti(d.L, -2, i);
            d.skipSpace();
            if (d.at(']')) break;
            d.expect(',');
        }
        ++d.p;
    }
    --d.depth;
}

void decodeObject(Decoder& d) {
    enter(d);
    if (d.at('}')) {
        ++d.p;
    } else {
        for (;;) {
            d.skipSpace();
            if (!d.at('"')) d.fail("unexpected character");
            decodeString(d);
            d.expect(':');
            decodeValue(d);
            lua_rawset(d.L, -3);  // a repeated key: the last one wins
            d.skipSpace();
            if (d.at('}')) break;
            d.expect(',');
        }
        ++d.p;
    }
    --d.depth;
}

void decodeValue(Decoder& d) {
    d.skipSpace();
    char c = d.p < d.end ? *d.p : '\0';
    switch (c) {
        case '{':
            return decodeObject(d);
        case '[':
            return decodeArray(d);
        case '"':
            return decodeString(d);
        case 't':
            return decodeLiteral(d, "true");
        case 'f':
            return decodeLiteral(d, "false");
        case 'n':
            return decodeLiteral(d, "null");
        default:
            if (c == '-' || (c >= '0' && c <= '9')) return decodeNumber(d);
            d.fail("unexpected character");
    }
}

void decodeText(lua_State* L, const char* text, size_t size) {
    Decoder d{L, text, text, text + size};
    decodeValue(d);
    d.skipSpace();
    if (d.p != d.end) d.fail("unexpected character");
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

int openJson(lua_State* L) {
    lua_createtable(L, 0, 3);
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

std::string jsonQuote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    quoteTo([&out](const char* p, size_t n) { out.append(p, n); }, s.data(), s.size());
    return out;
}

}  // namespace partyline::lua
