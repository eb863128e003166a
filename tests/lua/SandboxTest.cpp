// One test per sandbox rule: each runs a script that tries the forbidden thing and checks the
// exact outcome.
#include <chrono>
#include <vector>

#include "LuaTesting.h"

namespace partyline::lua {
namespace {

using testing::load;
using testing::newState;
using testing::run;

// Lists the keys of a table, sorted, as one comma-separated string.
constexpr const char* kKeysOf = R"(
    local function keys(t)
        local names = {}
        for k in pairs(t) do names[#names + 1] = tostring(k) end
        table.sort(names)
        return table.concat(names, ",")
    end
)";

// Compiles `source` in a plain Lua state and returns the bytecode, as a tool outside could.
std::string binaryChunk(const char* source) {
    lua_State* plain = luaL_newstate();
    REQUIRE(luaL_loadstring(plain, source) == LUA_OK);
    std::string out;
    auto writer = [](lua_State*, const void* p, size_t n, void* ud) {
        static_cast<std::string*>(ud)->append(static_cast<const char*>(p), n);
        return 0;
    };
    lua_dump(plain, writer, &out, 0);
    lua_close(plain);
    return out;
}

TEST_CASE("the environment holds exactly the allowed globals") {
    auto outcome = run(std::string(kKeysOf) + "return keys(_G)");
    REQUIRE(outcome.finished());
    CHECK(outcome.value ==
          "_G,_VERSION,assert,base64,collectgarbage,coroutine,crypto,error,getmetatable,ipairs,json,jwt,load,"
          "log,"
          "math,next,now,"
          "os,pairs,pcall,print,rawequal,rawget,rawlen,rawset,select,setmetatable,string,table,tonumber,"
          "tostring,type,utf8,xpcall");
}

TEST_CASE("io is absent") {
    auto outcome = run(R"(return io.open("/etc/passwd"))");
    CHECK(outcome.error.message() == "test.lua:1: attempt to index a nil value (global 'io')");
}

TEST_CASE("os offers only time and clock") {
    auto state = newState();
    CHECK(load(*state, std::string(kKeysOf) + "return keys(os)").value == "clock,time");
    CHECK(load(*state, R"(return os.execute("true"))").error.message() ==
          "test.lua:1: attempt to call a nil value (field 'execute')");
    CHECK(load(*state, R"(return os.getenv("HOME"))").error.message() ==
          "test.lua:1: attempt to call a nil value (field 'getenv')");
    CHECK(load(*state, R"(return math.type(os.time()) .. " " .. math.type(os.clock()))").value ==
          "integer float");
}

TEST_CASE("debug is absent") {
    auto outcome = run("return debug.getregistry()");
    CHECK(outcome.error.message() == "test.lua:1: attempt to index a nil value (global 'debug')");
}

TEST_CASE("package, require, dofile and loadfile are absent") {
    auto state = newState();
    CHECK(load(*state, R"(return require("os"))").error.message() ==
          "test.lua:1: attempt to call a nil value (global 'require')");
    CHECK(load(*state, R"(return package.loaded)").error.message() ==
          "test.lua:1: attempt to index a nil value (global 'package')");
    CHECK(load(*state, R"(return dofile("/etc/passwd"))").error.message() ==
          "test.lua:1: attempt to call a nil value (global 'dofile')");
    CHECK(load(*state, R"(return loadfile("/etc/passwd"))").error.message() ==
          "test.lua:1: attempt to call a nil value (global 'loadfile')");
}

TEST_CASE("warn is absent") {
    CHECK(run(R"(warn("@on"))").error.message() == "test.lua:1: attempt to call a nil value (global 'warn')");
}

TEST_CASE("string.dump is absent, also through the string metatable") {
    auto state = newState();
    CHECK(load(*state, "return string.dump(function() end)").error.message() ==
          "test.lua:1: attempt to call a nil value (field 'dump')");
    CHECK(load(*state, R"(return ("x"):dump())").error.message() ==
          "test.lua:1: attempt to call a nil value (method 'dump')");
    CHECK(load(*state, std::string(kKeysOf) + "return keys(string)").value ==
          "byte,char,find,format,gmatch,gsub,len,lower,match,pack,packsize,rep,reverse,sub,unpack,upper");
}

TEST_CASE("the string metatable is protected") {
    auto state = newState();
    CHECK(load(*state, R"(return getmetatable(""))").value == "false");
    CHECK(load(*state, R"(getmetatable("").__index = {})").error.message() ==
          "test.lua:1: attempt to index a boolean value");
    // Methods on strings are the sandbox's own functions.
    CHECK(load(*state, R"(return ("abc"):upper() .. ("abc"):find("c"))").value == "ABC3");
    CHECK(load(*state, R"(return ("x").find == string.find)").value == "true");
}

TEST_CASE("load compiles text only") {
    auto state = newState();
    std::string bytecode = binaryChunk("return 42");
    lua_pushlstring(state->L(), bytecode.data(), bytecode.size());
    lua_setglobal(state->L(), "bytecode");

    CHECK(load(*state, "local f, err = load(bytecode) return err").value ==
          "attempt to load a binary chunk (mode is 't')");
    CHECK(load(*state, R"(local f, err = load(bytecode, "x", "b") return err)").value ==
          "attempt to load a binary chunk (mode is 't')");
    // A reader function cannot slip the bytecode in either.
    CHECK(load(*state, R"(
        local sent = false
        local f, err = load(function() if sent then return nil end sent = true return bytecode end)
        return err)")
              .value == "attempt to load a binary chunk (mode is 't')");
    CHECK(load(*state, R"(return load("return 1 + 1")())").value == "2");
}

TEST_CASE("load defaults to the sandbox environment and honours an explicit one") {
    auto state = newState();
    CHECK(load(*state, R"(secret = 7 return load("return secret, io")())").value == "7");
    CHECK(load(*state, R"(return select("#", load("return io")()))").value == "1");
    CHECK(load(*state, R"(return load("return x", "chunk", "t", {x = 5})())").value == "5");
}

TEST_CASE("State::loadScript refuses a binary chunk") {
    auto state = newState();
    Status loaded = state->loadScript(binaryChunk("return 42"), "rooms/evil.lua");
    CHECK(loaded.code() == Code::InvalidArgument);
    CHECK(loaded.message() == "rooms/evil.lua: binary chunks are not allowed; load Lua source text");
}

TEST_CASE("setmetatable refuses __gc") {
    auto state = newState();
    CHECK(load(*state, "setmetatable({}, {__gc = function() while true do end end})").error.message() ==
          "test.lua:1: partyline: __gc is not allowed in room scripts");
    // Lua marks an object for finalization when __gc holds any value, even false.
    CHECK(load(*state, "setmetatable({}, {__gc = false})").error.message() ==
          "test.lua:1: partyline: __gc is not allowed in room scripts");
}

TEST_CASE("a __gc added to a metatable later, or found through its __index, never runs") {
    // Lua marks an object for finalization only when setmetatable finds __gc in the metatable
    // itself, so these finalizers are dead code: a full collection and closing the state run none.
    auto state = newState();
    REQUIRE(load(*state, R"(
local mt = {}
kept = setmetatable({}, mt)
mt.__gc = function() ran = "later" while true do end end
kept = nil  -- collectable now: a finalizer, had it been marked, would run in the collections below
setmetatable({}, setmetatable({}, {__index = {__gc = function() ran = "inherited" while true do end end}}))
local other = {}
setmetatable({}, other)
rawset(other, "__gc", function() ran = "rawset" while true do end end))")
                .finished());
    lua_gc(state->L(), LUA_GCCOLLECT);
    lua_gc(state->L(), LUA_GCCOLLECT);
    CHECK(load(*state, "return tostring(ran)").value == "nil");
    state.reset();  // lua_close runs pending finalizers: none, or this would never return
}

TEST_CASE("setmetatable otherwise works as in Lua") {
    auto state = newState();
    CHECK(load(*state, "return setmetatable({}, {__index = {a = 1}}).a").value == "1");
    CHECK(load(*state, "local t = setmetatable({}, {}) return getmetatable(setmetatable(t, nil))").value ==
          "nil");
    CHECK(load(*state, "local t = setmetatable({}, {__metatable = 'no'}) setmetatable(t, {})")
              .error.message() == "test.lua:1: cannot change a protected metatable");
    CHECK(load(*state, "setmetatable('s', {})").error.message() ==
          "test.lua:1: bad argument #1 to 'setmetatable' (table expected, got string)");
    // A __gc added after setmetatable does not mark the object, so it is harmless.
    CHECK(load(*state, "local mt = {} setmetatable({}, mt) mt.__gc = function() end return 1").value == "1");
}

// Compares a script's result in the sandbox with plain Lua's.
void checkSameAsLua(const char* body) {
    std::string script = std::string(testing::kShowFunction) + body;
    std::string shown = body;
    CAPTURE(shown);
    CHECK(testing::runInSandbox(script, "test.lua") == testing::runInPlainLua(script, "test.lua"));
}

TEST_CASE("xpcall calls its handler after unwinding, with Lua's results") {
    checkSameAsLua("return show(xpcall(function(a, b) return a + b, a * b end, print, 2, 3))");
    checkSameAsLua("return show(xpcall(error, function(m) return 'handled: ' .. m end, 'boom', 0))");
    checkSameAsLua("return show(xpcall(error, function(m) return type(m) end, {}))");
    checkSameAsLua("return show(pcall(xpcall, print))");
    checkSameAsLua(R"(
        local co = coroutine.wrap(function()
            return xpcall(function() local v = coroutine.yield(1) return v * 2 end, print)
        end)
        local first = co()
        return show(first, co(21)))");
    checkSameAsLua(R"(
        local co = coroutine.wrap(function()
            return xpcall(function() coroutine.yield(1) error("late", 0) end, function(m) return "h:" .. m end)
        end)
        co()
        return show(co()))");
    // A failing handler: Lua answers with its own error chain, the sandbox with the handler's error.
    CHECK(run("return select(2, xpcall(error, function() error('again', 0) end))").value == "again");
}

TEST_CASE("coroutine.wrap and coroutine.close behave as Lua's") {
    checkSameAsLua(R"(
        local f = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
        return show(f(1), f(5)))");
    checkSameAsLua(R"(local f = coroutine.wrap(function() error("x") end) return show(pcall(f)))");
    checkSameAsLua(
        R"(local f = coroutine.wrap(function() error("x") end) local ok, e = pcall(function() f() end) return e)");
    checkSameAsLua(
        R"(local f = coroutine.wrap(function() error({}) end) local ok, e = pcall(f) return show(ok, type(e)))");
    checkSameAsLua(R"(local f = coroutine.wrap(function() return 1 end) f() return show(pcall(f)))");
    checkSameAsLua(R"(local f f = coroutine.wrap(function() return f() end) return show(pcall(f)))");
    checkSameAsLua(R"(return show(pcall(coroutine.wrap, 1)))");
    checkSameAsLua(R"(
        local co = coroutine.create(function() coroutine.yield() end)
        coroutine.resume(co)
        return show(coroutine.close(co), coroutine.status(co)))");
    checkSameAsLua(R"(
        local co = coroutine.create(function() error("boom") end)
        coroutine.resume(co)
        return show(coroutine.close(co)))");
    checkSameAsLua(R"(
        local log = {}
        local co = coroutine.create(function()
            local x <close> = setmetatable({}, {__close = function() log[#log + 1] = "closed" end})
            coroutine.yield()
        end)
        coroutine.resume(co)
        coroutine.close(co)
        return log[1])");
    checkSameAsLua(R"(return show(pcall(coroutine.close, coroutine.running())))");
    checkSameAsLua(R"(return show(pcall(coroutine.close, 1)))");
}

TEST_CASE("library functions charged for their loops behave as Lua's") {
    checkSameAsLua(
        "local t = {3, 1, 2} table.sort(t, function(a, b) return a > b end) return show(table.unpack(t))");
    checkSameAsLua("local t = {1, 2} table.insert(t, 3) table.insert(t, 1, 0) return show(table.unpack(t))");
    checkSameAsLua("local t = {1, 2, 3} return show(table.remove(t), table.remove(t, 1), t[1], #t)");
    checkSameAsLua("return show(table.concat({1, 2, 3}, '-', 2, 3), table.concat({}, 'x'))");
    checkSameAsLua("return show(table.unpack({1, 2, 3}, 2), table.unpack({1, 2, 3}, -1, 1))");
    checkSameAsLua("return show(table.unpack(table.move({1, 2, 3}, 1, 3, 2)))");
    checkSameAsLua("return show(string.byte('abc', 1, -1), ('abc'):byte(-1), ('abc'):byte(10))");
    checkSameAsLua(
        R"(return show(utf8.len('h\u{e9}!'), utf8.len('\xff'), utf8.codepoint('h\u{e9}', 1, -1)))");
    checkSameAsLua(R"(return show(utf8.offset('h\u{e9}!', 3), utf8.offset('abc', -1)))");
    // Errors name the function and the script line, as Lua's do.
    checkSameAsLua("local ok, e = pcall(function() table.insert(nil, 1) end) return e");
    checkSameAsLua("local ok, e = pcall(function() table.insert({}, 1, 2, 3) end) return e");
    checkSameAsLua("local ok, e = pcall(function() table.concat({1, {}}) end) return e");
    checkSameAsLua("local ok, e = pcall(function() ('x'):byte({}) end) return e");
    checkSameAsLua("return show(pcall(table.sort, 1))");
    checkSameAsLua("local ok, e = pcall(function() load(1) end) return e");
    checkSameAsLua("local ok, e = pcall(function() coroutine.close(1) end) return e");
}

TEST_CASE("collectgarbage answers count only") {
    auto state = newState();
    CHECK(
        load(*state, "collectgarbage()").error.message() ==
        "test.lua:1: partyline: collectgarbage(\"collect\") is not allowed in room scripts; only \"count\"");
    for (const char* option : {"stop", "restart", "collect", "step", "isrunning", "incremental",
                               "generational", "setpause", "setstepmul"}) {
        std::string shown = option;
        CAPTURE(shown);
        CHECK(load(*state, std::string("collectgarbage('") + option + "', 1000)").error.message() ==
              std::string("test.lua:1: partyline: collectgarbage(\"") + option +
                  "\") is not allowed in room scripts; only \"count\"");
    }
    CHECK(load(*state, "local kb = collectgarbage('count') return kb > 0 and kb < 1024").value == "true");
}

struct LogLine {
    log::Level level;
    std::string where, message;
};

TEST_CASE("print and log.* go to the log sink with the script's file and line") {
    auto state = newState();
    std::vector<LogLine> lines;
    state->setLogSink([&](log::Level level, std::string_view where, std::string_view message) {
        lines.push_back({level, std::string(where), std::string(message)});
    });
    auto outcome = load(*state, R"(
print("hello", 1, nil, true)
log.info("info")
log.warn("careful", {} ~= nil)
log.error(setmetatable({}, {__tostring = function() return "custom" end}))
pcall(print, "through pcall"))");
    REQUIRE(outcome.finished());
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].level == log::Level::Info);
    CHECK(lines[0].where == "test.lua:2");
    CHECK(lines[0].message == "hello 1 nil true");
    CHECK(lines[1].message == "info");
    CHECK(lines[2].level == log::Level::Warn);
    CHECK(lines[2].message == "careful true");
    CHECK(lines[3].level == log::Level::Error);
    CHECK(lines[3].where == "test.lua:5");
    CHECK(lines[3].message == "custom");
    CHECK(lines[4].where == "test.lua:6");
}

TEST_CASE("a log sink that throws does not take the script down") {
    auto state = newState();
    state->setLogSink(
        [](log::Level, std::string_view, std::string_view) { throw std::runtime_error("sink"); });
    CHECK(load(*state, "print('x') return 'after'").value == "after");
}

TEST_CASE("now() is the wall clock in milliseconds since the epoch") {
    auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto outcome = run("return math.type(now()) .. ' ' .. now()");
    REQUIRE(outcome.finished());
    CHECK(outcome.value.substr(0, 8) == "integer ");
    long long ms = std::stoll(outcome.value.substr(8));
    CHECK(ms >= before);
    CHECK(ms < before + 5000);
}

TEST_CASE("each state has its own environment") {
    auto a = newState();
    auto b = newState();
    CHECK(load(*a, "string.upper = nil x = 1 return x").value == "1");
    CHECK(load(*b, "return tostring(x) .. string.upper('y')").value == "nilY");
}

TEST_CASE("string methods, _G and _ENV changed by one room's state do not reach another's") {
    // Every shard has its own state, so the string metatable's __index (the state's string table)
    // is per room: replacing string functions changes method calls in this state only.
    auto a = newState();
    auto b = newState();
    REQUIRE(load(*a, R"(
string.rep = function() return "tampered" end
string.upper = nil
rawset(_G, "print", function() end)
setmetatable(_G, {__index = function(_, name) return "ghost " .. name end})
rawset(string, "format", function() return "tampered" end))")
                .finished());
    CHECK(load(*a, R"(return ("x"):rep(3) .. " " .. tostring(("x").upper) .. " " .. anything)").value ==
          "tampered nil ghost anything");
    CHECK(
        load(*b, R"(return ("x"):rep(3) .. ("y"):upper() .. ("%d"):format(7) .. tostring(anything))").value ==
        "xxxY7nil");
    CHECK(load(*b, "return tostring(getmetatable(_G))").value == "nil");
}

TEST_CASE("_ENV tricks reach nothing outside the sandbox") {
    auto state = newState();
    // A chunk's _ENV is the sandbox table: no other globals table exists to switch to.
    CHECK(load(*state, "return _ENV == _G").value == "true");
    CHECK(load(*state, "local _ENV = {} return io").value == "nil");
    CHECK(load(*state, "_ENV = nil return 1").value == "1");  // this chunk's upvalue only
    CHECK(load(*state, "return type(_ENV)").value == "table");
    CHECK(load(*state, "return load('return io, debug, require', 'x', 't', nil)()").error.message() ==
          "[string \"x\"]:1: attempt to index a nil value (upvalue '_ENV')");
    CHECK(load(*state, "return load('return _G.io or _ENV.os.execute', 'x', 't', _ENV)()").value == "nil");
    // Functions carry no environment to reach: the sandbox's own C functions see the same table.
    CHECK(load(*state, "local f = load('return _ENV') return f() == _G").value == "true");
}

TEST_CASE("nothing a script can reach is named like a way to the host") {
    // Walks every table reachable from the globals and through every visible metatable.
    auto outcome = run(R"(
local forbidden = {}
for name in ([[io debug package require dofile loadfile loadstring loadlib searchpath searchers
               dump execute getenv remove rename exit tmpname setlocale date difftime popen
               warn newproxy setfenv getfenv module gcinfo getregistry sethook upvalueid
               setupvalue getupvalue]]):gmatch("%a+") do
    forbidden[name] = true
end
-- Named alike, and harmless.
local allowed = {["_G.log.warn"] = true, ["_G.table.remove"] = true}
local seen, found = {}, {}
local function walk(value, path)
    if type(value) ~= "table" or seen[value] then return end
    seen[value] = true
    for key, item in next, value do
        local name = path .. "." .. tostring(key)
        if forbidden[key] and not allowed[name] then found[#found + 1] = name end
        walk(item, name)
    end
    walk(getmetatable(value), path .. "<meta>")
end
walk(_G, "_G")
for _, sample in ipairs({"", 1, print, coroutine.create(print), true}) do
    walk(getmetatable(sample), type(sample) .. "<meta>")
end
table.sort(found)
return #found == 0 and "none" or table.concat(found, " "))");
    REQUIRE(outcome.finished());
    CHECK(outcome.value == "none");
}

}  // namespace
}  // namespace partyline::lua
