// json.encode / json.decode from scripts, and the C++ side: toJson, pushJson, jsonQuote.
#include "LuaTesting.h"
#include "lua/Json.h"

namespace partyline::lua {
namespace {

using testing::load;
using testing::newState;
using testing::run;

std::string encoded(const char* expression) {
    auto outcome = run(std::string("return json.encode(") + expression + ")");
    REQUIRE_MESSAGE(outcome.finished(), outcome.error.toString());
    return outcome.value;
}

std::string encodeError(const char* expression) {
    auto outcome = run(std::string("return json.encode(") + expression + ")");
    REQUIRE(outcome.failed());
    return outcome.error.message();
}

// Decodes `text` in a script and describes the result with `describe`, a Lua expression over v.
std::string decoded(std::string_view text, const char* describe = "json.encode(v)") {
    auto state = newState();
    lua_pushlstring(state->L(), text.data(), text.size());
    lua_setglobal(state->L(), "text");
    auto outcome = load(*state, std::string("local v = json.decode(text) return ") + describe);
    REQUIRE_MESSAGE(outcome.finished(), outcome.error.toString());
    return outcome.value;
}

std::string decodeError(std::string_view text) {
    auto state = newState();
    lua_pushlstring(state->L(), text.data(), text.size());
    lua_setglobal(state->L(), "text");
    auto outcome = load(*state, "return json.decode(text)");
    REQUIRE(outcome.failed());
    return outcome.error.message();
}

TEST_CASE("json.encode: scalars") {
    CHECK(encoded("1") == "1");
    CHECK(encoded("-9223372036854775807 - 1") == "-9223372036854775808");
    CHECK(encoded("1.5") == "1.5");
    CHECK(encoded("0.1") == "0.1");
    CHECK(encoded("1e300") == "1e+300");
    CHECK(encoded("true") == "true");
    CHECK(encoded("nil") == "null");
    CHECK(encoded("json.null") == "null");
    CHECK(encoded(R"("a\"b\\c\n\t\1/é")") == R"("a\"b\\c\n\t\u0001/é")");
}

TEST_CASE("json.encode: arrays and objects") {
    CHECK(encoded("{1, 2, 'three', {}}") == R"([1,2,"three",{}])");
    CHECK(encoded("{}") == "{}");
    CHECK(encoded("{1, json.null, 3}") == "[1,null,3]");
    CHECK(encoded("{b = 1, a = {c = true}, [''] = 0}") == R"({"":0,"a":{"c":true},"b":1})");
    CHECK(encoded("{ab = 1, a = 2, b = 3}") == R"({"a":2,"ab":1,"b":3})");
    // Metamethods are not consulted: the table is read raw.
    CHECK(encoded("setmetatable({}, {__index = function() error('called') end, __len = function() return 9 "
                  "end})") == "{}");
}

TEST_CASE("json.array and json.empty_array: arrays that stay arrays when empty") {
    CHECK(encoded("json.array()") == "[]");
    CHECK(encoded("json.array({})") == "[]");
    CHECK(encoded("json.array({1, 2})") == "[1,2]");
    CHECK(encoded("{list = json.array(), map = {}}") == R"({"list":[],"map":{}})");
    CHECK(encoded("json.empty_array") == "[]");
    CHECK(encoded("{json.empty_array, json.null}") == "[[],null]");
    // The mark returns the same table, is hidden and cannot be taken off.
    CHECK(run("local t = {} return tostring(json.array(t) == t)").value == "true");
    CHECK(run("return getmetatable(json.array())").value == "json.array");
    CHECK(run("local t = json.array() return tostring(json.array(t) == t)").value == "true");
    CHECK(run("return setmetatable(json.array(), nil)").failed());
    CHECK(run("return json.array(setmetatable({}, {}))")
              .error.message()
              .find("json.array: the table already has a metatable") != std::string::npos);
    CHECK(run("return json.array(5)").failed());
    CHECK(encodeError("json.array({a = 1})").find("json.array table has string keys") != std::string::npos);
    CHECK(encodeError("json.array({[2] = 1})").find("sparse array") != std::string::npos);
}

TEST_CASE("json.decode: [] and {} come back as they were") {
    CHECK(decoded("[]") == "[]");
    CHECK(decoded("{}") == "{}");
    CHECK(decoded(R"({"a":[],"b":{},"c":[[]]})") == R"({"a":[],"b":{},"c":[[]]})");
    CHECK(decoded("[]", "#v") == "0");
    CHECK(decoded("[1,2]", "(function() local t = v; t[3] = 3 return json.encode(t) end)()") == "[1,2,3]");
    CHECK(decoded("[]", "getmetatable(v)") == "json.array");
    CHECK(decoded("{}", "tostring(getmetatable(v))") == "nil");
}

TEST_CASE("json.encode: what JSON cannot hold is an error") {
    CHECK(encodeError("{1, a = 2}") ==
          "test.lua:1: json.encode: cannot encode a table with mixed or non-string keys");
    CHECK(encodeError("{[1.5] = 1}") ==
          "test.lua:1: json.encode: cannot encode a table with mixed or non-string keys");
    CHECK(encodeError("{[true] = 1}") ==
          "test.lua:1: json.encode: cannot encode a table with mixed or non-string keys");
    CHECK(
        encodeError("{1, nil, 3}") ==
        "test.lua:1: json.encode: cannot encode a sparse array (keys must be 1..n; use json.null for holes)");
    CHECK(
        encodeError("{[2] = 1}") ==
        "test.lua:1: json.encode: cannot encode a sparse array (keys must be 1..n; use json.null for holes)");
    CHECK(encodeError("0/0") == "test.lua:1: json.encode: cannot encode NaN");
    CHECK(encodeError("{x = -math.huge}") == "test.lua:1: json.encode: cannot encode infinity");
    CHECK(encodeError("print") == "test.lua:1: json.encode: cannot encode a function value");
    CHECK(encodeError("{co = coroutine.create(print)}") ==
          "test.lua:1: json.encode: cannot encode a thread value");
}

TEST_CASE("json.encode: cycles and depth") {
    auto state = newState();
    CHECK(load(*state, "local t = {} t.self = t return json.encode(t)").error.message() ==
          "test.lua:1: json.encode: cannot encode a table that contains itself");
    CHECK(load(*state, "local t = {} t[1] = {{t}} return json.encode(t)").error.message() ==
          "test.lua:1: json.encode: cannot encode a table that contains itself");
    // The same table twice is not a cycle.
    CHECK(load(*state, "local t = {1} return json.encode({t, t})").value == "[[1],[1]]");
    const char* nest = "local function nest(n) local t = {} for i = 2, n do t = {t} end return t end ";
    CHECK(load(*state, std::string(nest) + "return #json.encode(nest(64))").value == "128");
    CHECK(load(*state, std::string(nest) + "return json.encode(nest(65))").error.message() ==
          "test.lua:1: json.encode: nesting deeper than 64");
}

TEST_CASE("json.decode: values and number types") {
    CHECK(decoded(R"( {"a": [1, 2.5, "x", true, false, null], "b": {}} )") ==
          R"({"a":[1,2.5,"x",true,false,null],"b":{}})");
    CHECK(decoded("1", "math.type(v)") == "integer");
    CHECK(decoded("1.0", "math.type(v)") == "integer");
    CHECK(decoded("-1e3", "math.type(v) .. v") == "integer-1000");
    CHECK(decoded("1.5", "math.type(v)") == "float");
    CHECK(decoded("-9223372036854775808", "math.type(v) .. v") == "integer-9223372036854775808");
    CHECK(decoded("9223372036854775808", "math.type(v)") == "float");
    CHECK(decoded("1e-400", "math.type(v) .. v") == "integer0");
    CHECK(decoded("null", "v == json.null") == "true");
    CHECK(decoded("[null]", "v[1] == json.null and #v") == "1");
    CHECK(decoded(R"({"k": 1, "k": 2})", "v.k") == "2");
}

TEST_CASE("json.decode: strings and escapes") {
    CHECK(decoded(R"("a\"b\\c\/d\b\f\n\r\t")", "v") == "a\"b\\c/d\b\f\n\r\t");
    CHECK(decoded(R"("\u00e9\u20AC")", "v") == "\xC3\xA9\xE2\x82\xAC");
    CHECK(decoded(R"("\ud83d\ude00")", "v") == "\xF0\x9F\x98\x80");
    CHECK(decoded(R"("\u0000")", "#v") == "1");
    CHECK(decoded("\"\xF0\x9F\x98\x80 raw\"", "v") == "\xF0\x9F\x98\x80 raw");
}

TEST_CASE("json.decode: errors say what and where") {
    CHECK(decodeError(R"({"a":1,})") == "test.lua:1: json.decode: unexpected character at byte 8");
    CHECK(decodeError("[1,2") == "test.lua:1: json.decode: unexpected end of input at byte 5");
    CHECK(decodeError("") == "test.lua:1: json.decode: unexpected end of input at byte 1");
    CHECK(decodeError("01") == "test.lua:1: json.decode: unexpected character at byte 2");
    CHECK(decodeError("1 2") == "test.lua:1: json.decode: unexpected character at byte 3");
    CHECK(decodeError("+1") == "test.lua:1: json.decode: unexpected character at byte 1");
    CHECK(decodeError("1.") == "test.lua:1: json.decode: unexpected end of input at byte 3");
    CHECK(decodeError("NaN") == "test.lua:1: json.decode: unexpected character at byte 1");
    CHECK(decodeError("[1e400]") == "test.lua:1: json.decode: number out of range at byte 2");
    CHECK(decodeError("tru") == "test.lua:1: json.decode: unexpected character at byte 1");
    CHECK(decodeError("{1:2}") == "test.lua:1: json.decode: unexpected character at byte 2");
    CHECK(decodeError("[1 2]") == "test.lua:1: json.decode: unexpected character at byte 4");
    CHECK(decodeError("// c\n1") == "test.lua:1: json.decode: unexpected character at byte 1");
    CHECK(decodeError(R"("\x")") == "test.lua:1: json.decode: invalid escape at byte 2");
    CHECK(decodeError(R"("\u12G4")") == "test.lua:1: json.decode: invalid \\u escape at byte 2");
    CHECK(decodeError(R"("ab\ud800")") == "test.lua:1: json.decode: unpaired surrogate at byte 4");
    CHECK(decodeError(R"("\udc00\ud800")") == "test.lua:1: json.decode: unpaired surrogate at byte 2");
    CHECK(decodeError("\"a\tb\"") == "test.lua:1: json.decode: control character in string at byte 3");
    CHECK(decodeError("\"a\xFF\"") == "test.lua:1: json.decode: invalid UTF-8 at byte 3");
    CHECK(decodeError("\"\xC0\xAF\"") == "test.lua:1: json.decode: invalid UTF-8 at byte 2");
    CHECK(decodeError("\"\xED\xA0\x80\"") == "test.lua:1: json.decode: invalid UTF-8 at byte 2");
    CHECK(decodeError("\xEF\xBB\xBF{}") == "test.lua:1: json.decode: unexpected character at byte 1");
    CHECK(decodeError("\"abc") == "test.lua:1: json.decode: unexpected end of input at byte 5");
}

TEST_CASE("json.decode: nesting is bounded") {
    std::string ok = std::string(64, '[') + std::string(64, ']');
    CHECK(decoded(ok, "#json.encode(v)") == "128");
    std::string deep = std::string(65, '[') + std::string(65, ']');
    CHECK(decodeError(deep) == "test.lua:1: json.decode: nesting deeper than 64 at byte 65");
    std::string bomb = std::string(100000, '[');
    CHECK(decodeError(bomb) == "test.lua:1: json.decode: nesting deeper than 64 at byte 65");
}

TEST_CASE("json round trips") {
    const char* texts[] = {
        R"({"a":[1,2.5,"x",true,false,null],"b":{"c":"d"},"e":-0.001})",
        R"(["\u0001","\"\\","é€😀",1e+300,-9223372036854775808])",
        R"([])",
    };
    for (const char* text : texts) {
        std::string shown = text;
        CAPTURE(shown);
        CHECK(decoded(text) == text);
    }
}

TEST_CASE("json respects the memory cap") {
    auto state = newState({1 << 20, 10000000});
    // Three bytes of "[]," become a table each: about 20 times the input.
    auto decodeBomb = load(*state, R"(return json.decode("[" .. string.rep("[],", 40000) .. "[]]"))");
    CHECK(decodeBomb.error.code() == Code::ResourceExhausted);
    CHECK(decodeBomb.error.message() == "test.lua:1: memory cap of 1048576 bytes exceeded");
    // A control character becomes six bytes.
    auto encodeBomb = load(*state, R"(return json.encode(string.rep("\1", 200000)))");
    CHECK(encodeBomb.error.code() == Code::ResourceExhausted);
    CHECK(load(*state, "return json.encode({1, 2})").value == "[1,2]");
}

TEST_CASE("toJson and pushJson from C++") {
    auto state = newState();
    lua_State* L = state->L();
    REQUIRE(pushJson(L, R"({"list":[1,2],"name":"x"})"));
    auto text = toJson(L, -1);
    REQUIRE(text.isOk());
    CHECK(*text == R"({"list":[1,2],"name":"x"})");
    lua_pop(L, 1);
    CHECK(lua_gettop(L) == 0);

    Status bad = pushJson(L, std::string_view("[1,]xyz", 4));  // not NUL-terminated
    CHECK(bad.code() == Code::InvalidArgument);
    CHECK(bad.message() == "json.decode: unexpected character at byte 4");
    CHECK(lua_gettop(L) == 0);

    lua_pushcfunction(L, [](lua_State*) { return 0; });
    auto refused = toJson(L, -1);
    CHECK(refused.status().code() == Code::InvalidArgument);
    CHECK(refused.status().message() == "json.encode: cannot encode a function value");
    CHECK(lua_gettop(L) == 1);
    lua_pop(L, 1);
}

TEST_CASE("jsonQuote escapes and replaces invalid UTF-8") {
    CHECK(jsonQuote("plain") == "\"plain\"");
    CHECK(jsonQuote("a\"b\\c\nd\x01\x7f") == "\"a\\\"b\\\\c\\nd\\u0001\x7f\"");
    CHECK(jsonQuote(std::string_view("\0", 1)) == "\"\\u0000\"");
    CHECK(jsonQuote("\xC3\xA9\xF0\x9F\x98\x80") == "\"\xC3\xA9\xF0\x9F\x98\x80\"");
    CHECK(jsonQuote("a\xFFz") == "\"a\\ufffdz\"");
    CHECK(jsonQuote("\xC3") == "\"\\ufffd\"");                        // truncated sequence
    CHECK(jsonQuote("\xED\xA0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // an encoded surrogate
}

}  // namespace
}  // namespace partyline::lua
