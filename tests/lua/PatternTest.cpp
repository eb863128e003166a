// The counted pattern matcher: it stops catastrophic patterns fast, and otherwise gives exactly
// what Lua 5.4's own string library gives (checked against a plain Lua state).
#include <chrono>

#include "LuaTesting.h"

namespace partyline::lua {
namespace {

using testing::call;
using testing::kDefaultBudget;
using testing::load;
using testing::newState;

// Helpers for the cases, defined the same way in both states.
constexpr const char* kPrelude = R"~(
    function gm(s, p, init)
        local out = {}
        for a, b in string.gmatch(s, p, init) do out[#out + 1] = show(a, b) end
        return table.concat(out, ";")
    end
    function try(f)
        local results = table.pack(pcall(f))
        return show(table.unpack(results, 1, results.n))
    end
)~";

// Each case is a Lua expression; both states must give the same text for it.
constexpr const char* kCases[] = {
    // find: plain, special characters, init, anchors
    R"~(string.find("hello world", "o w"))~",
    R"~(string.find("hello world", "o", 6))~",
    R"~(string.find("hello world", "o", -3))~",
    R"~(string.find("hello world", "o", -100))~",
    R"~(string.find("hello", "l", 10))~",
    R"~(string.find("hello", "", 6))~",
    R"~(string.find("hello", "", 7))~",
    R"~(string.find("a.b", ".", 1, true))~",
    R"~(string.find("a+b", "+", 1, true))~",
    R"~(string.find("hello", "^h"))~",
    R"~(string.find("hello", "^e"))~",
    R"~(string.find("hello", "lo$"))~",
    R"~(string.find("hel$lo", "l$l"))~",
    R"~(string.find("hello", "(l)(l)"))~",
    R"~(string.find("hello", "()ll()"))~",
    R"~(string.find("aaa", "a-", 2))~",
    R"~(string.find("", ""))~",
    R"~(string.find("abc", "[a-"))~",
    // match: classes, sets, quantifiers, captures
    R"~(string.match("key = value", "(%w+)%s*=%s*(%w+)"))~",
    R"~(string.match("  trim me  ", "^%s*(.-)%s*$"))~",
    R"~(string.match("2024-05-01", "(%d+)-(%d%d)-(%d%d)"))~",
    R"~(string.match("THE (quick) fox", "%((%a+)%)"))~",
    R"~(string.match("f(a(b)c)d", "%b()"))~",
    R"~(string.match("THE (quick) fox", "%f[%a]%a+", 5))~",
    R"~(string.match("hello", ".-"))~",
    R"~(string.match("hello", ".-l"))~",
    R"~(string.match("hello", "l+"))~",
    R"~(string.match("hello", "x*"))~",
    R"~(string.match("hello", "h?e"))~",
    R"~(string.match("hello", "x?h"))~",
    R"~(string.match("abc]", "[]]"))~",
    R"~(string.match("a-b", "[a-]+"))~",
    R"~(string.match("a]b%", "[%]%%]+"))~",
    R"~(string.match("x^y", "[x^]+"))~",
    R"~(string.match("hello123", "[^%d]+"))~",
    R"~(string.match("Hello World", "%u%l+$"))~",
    R"~(string.match("tab\there", "%c"))~",
    R"~(string.match("a.b", "%."))~",
    R"~(string.match("\0a\0", "%z"))~",
    R"~(string.match("a\0b", "a%zb"))~",
    R"~(string.match("x\0y", "[\0]"))~",
    R"~(string.match("\255\128", "[\128-\255]+"))~",
    R"~(string.match("abab", "(ab)%1"))~",
    R"~(string.match("aXa", "(.)X%1"))~",
    R"~(string.match("hello", "(h)(e)(l)(l)(o)"))~",
    R"~(string.match("hello", "()"))~",
    R"~(string.match("hello", "h()e()"))~",
    R"~(string.match("hello", "^(h)$"))~",
    R"~(string.match("hello", "o$", 5))~",
    R"~(string.match("THE END", "%f[%w]%w+$"))~",
    R"~(string.match("[[x]]", "%[(%b[])%]"))~",
    R"~(string.match("((a)", "%b()"))~",
    R"~(string.match("aaa", "%bab"))~",
    R"~(string.match("a,b,,c", "^(.-),(.*)$"))~",
    // gmatch
    R"~(gm("one two  three", "%a+"))~",
    R"~(gm("a,b,,c", "([^,]*)"))~",
    R"~(gm("k1=v1, k2=v2", "(%w+)=(%w+)"))~",
    R"~(gm("abc", "x*"))~",
    R"~(gm("abc", ""))~",
    R"~(gm("hello world", "%a+", 3))~",
    R"~(gm("hello", "l", -2))~",
    R"~(gm("hello", ".", 10))~",
    R"~(gm("^a^a", "^a"))~",
    R"~(gm("abc", "()"))~",
    // gsub: strings, %0-%9, tables, functions, limits, anchors, empty matches
    R"~(string.gsub("hello world", "o", "0"))~",
    R"~(string.gsub("hello world", "(%w+)", "<%1>"))~",
    R"~(string.gsub("hello world", "%w+", "%0 %0", 1))~",
    R"~(string.gsub("abc", "", "-"))~",
    R"~(string.gsub("abc", "x*", "-"))~",
    R"~(string.gsub("abc", "b*", "-"))~",
    R"~(string.gsub("hello", "^h", "H"))~",
    R"~(string.gsub("hhh", "^h", "H"))~",
    R"~(string.gsub("50%", "%%", "%%%%"))~",
    R"~(string.gsub("abc", "%w", "%1"))~",
    R"~(string.gsub("abc", "(b)()", "%2"))~",
    R"~(string.gsub("$name is $age", "%$(%w+)", {name = "Ann", age = 7}))~",
    R"~(string.gsub("$name $missing", "%$(%w+)", {name = "Ann"}))~",
    R"~(string.gsub("hello", "l", function(c) return c:upper() end))~",
    R"~(string.gsub("hello", "(l)(l)", function(a, b) return b .. "+" .. a end))~",
    R"~(string.gsub("hello", "l", function() return false end))~",
    R"~(string.gsub("hello", "l", function() return nil end))~",
    R"~(string.gsub("a b", "%w", 1))~",
    R"~(string.gsub("hello", "l", "L", 0))~",
    R"~(string.gsub("hello", "l", "L", -1))~",
    R"~(string.gsub("", "", "x"))~",
    R"~(string.gsub("abc", ".", {a = 1, b = true}))~",
    // errors
    R"~(try(function() return string.find("abc", "%") end))~",
    R"~(try(function() return string.find("abc", "[a") end))~",
    R"~(try(function() return string.find("abc", "[^") end))~",
    R"~(try(function() return string.find("abc", "[%") end))~",
    R"~(try(function() return string.find("abc", "(a") end))~",
    R"~(try(function() return string.find("abc", "a)") end))~",
    R"~(try(function() return string.find("abc", "%1") end))~",
    R"~(try(function() return string.find("abc", "(a%1)") end))~",
    R"~(try(function() return string.find("abc", "%b") end))~",
    R"~(try(function() return string.find("abc", "%ba") end))~",
    R"~(try(function() return string.find("abc", "%f") end))~",
    R"~(try(function() return string.find("abc", "%fa") end))~",
    R"~(try(function() return string.find("abc", string.rep("(", 40) .. "a" .. string.rep(")", 40)) end))~",
    R"~(try(function() return string.find(string.rep("a", 300), string.rep("a?", 250)) end))~",
    R"~(try(function() return string.gsub("abc", "b", "%2") end))~",
    R"~(try(function() return string.gsub("abc", "b", "%x") end))~",
    R"~(try(function() return string.gsub("abc", "b", "x%") end))~",
    R"~(try(function() return string.gsub("abc", "(b)", "%2") end))~",
    R"~(try(function() return string.gsub("abc", "b", function() return {} end) end))~",
    R"~(try(function() return string.gsub("abc", "b") end))~",
    R"~(try(function() return string.gsub("abc", "b", true) end))~",
    R"~(try(function() return string.find({}, "b") end))~",
    R"~(try(function() return string.match("abc") end))~",
    R"~(try(function() return string.gmatch("abc") end))~",
    R"~(try(function() return string.find("abc", "b", "x") end))~",
};

TEST_CASE("patterns give what Lua's own string library gives") {
    for (const char* expression : kCases) {
        std::string script =
            std::string(testing::kShowFunction) + kPrelude + "return show(" + expression + ")";
        std::string shown = expression;
        CAPTURE(shown);
        CHECK(testing::runInSandbox(script, "case") == testing::runInPlainLua(script, "case"));
    }
}

TEST_CASE("pattern functions are the sandbox's, with method syntax too") {
    auto state = newState();
    CHECK(load(*state, R"~(return ("key=val"):match("(%w+)=(%w+)"))~").value == "key");
    CHECK(load(*state, R"~(return (("a b c"):gsub(" ", "_")))~").value == "a_b_c");
}

TEST_CASE("the known catastrophic string.find stops fast under the default budget") {
    auto state = newState(kDefaultBudget);
    REQUIRE(load(*state, R"~(
subject = string.rep("a", 600)
pattern = string.rep("a*", 30) .. "b"
function find() return string.find(subject, pattern) end
function swallowed()
    while true do pcall(string.find, subject, pattern) end
end
function ok() return string.find(subject, "a+b?$") end)~")
                .finished());
    testing::checkFailures(*state, {{"find", Code::ResourceExhausted,
                                     "test.lua:4: instruction budget of 10000000 exceeded in string.find"},
                                    {"swallowed", Code::ResourceExhausted,
                                     "test.lua:6: instruction budget of 10000000 exceeded in string.find"}});
    CHECK(call(*state, "ok").value == "1");
}

TEST_CASE("every pattern function is bounded, whatever the subject length") {
    auto state = newState({16 << 20, 1000000});
    REQUIRE(load(*state, R"~(
subject = string.rep("a", 600)
pattern = string.rep("a*", 30) .. "b"
function method() return subject:match(pattern) end
function gsub() return string.gsub(subject, pattern, "") end
function gmatch() for m in subject:gmatch(pattern) do end end
function short() return string.find(string.rep("a", 25), pattern) end)~")
                .finished());
    const std::string stop = "instruction budget of 1000000 exceeded in ";
    testing::checkFailures(
        *state, {{"method", Code::ResourceExhausted, "test.lua:4: " + stop + "string.match"},
                 {"gsub", Code::ResourceExhausted, "test.lua:5: " + stop + "string.gsub"},
                 {"gmatch", Code::ResourceExhausted, "test.lua:6: " + stop + "string.gmatch"},
                 // Bounding the subject length would not help: 25 characters already backtrack for hours.
                 {"short", Code::ResourceExhausted, "test.lua:7: " + stop + "string.find"}});
}

TEST_CASE("a plain find with a long needle is charged too") {
    auto state = newState(kDefaultBudget);
    REQUIRE(load(*state, R"~(
hay = string.rep("a", 1000000)
needle = string.rep("a", 500000) .. "b"
function find() return string.find(hay, needle, 1, true) end)~")
                .finished());
    auto start = std::chrono::steady_clock::now();
    auto outcome = call(*state, "find");
    CHECK(testing::secondsSince(start) < testing::kStopSeconds);
    CHECK(outcome.error.message() == "test.lua:4: instruction budget of 10000000 exceeded in string.find");
}

TEST_CASE("pattern work counts against the call's budget") {
    auto state = newState({1 << 20, 100000});
    REQUIRE(load(*state, R"~(
subject = string.rep("a", 2000)
function cheap() return #subject:gsub("a", "b") end
function costly() for i = 1, 100 do subject:gsub("a", "b") end end)~")
                .finished());
    CHECK(call(*state, "cheap").value == "2000");
    auto outcome = call(*state, "costly");
    CHECK(outcome.error.code() == Code::ResourceExhausted);
    CHECK(outcome.error.message() == "test.lua:4: instruction budget of 100000 exceeded in string.gsub");
}

}  // namespace
}  // namespace partyline::lua
