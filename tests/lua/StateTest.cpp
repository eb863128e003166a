// The instruction budget, the memory cap and error reporting of lua::State.
#include <chrono>
#include <string>
#include <vector>

#include "LuaTesting.h"

namespace partyline::lua {
namespace {

using testing::call;
using testing::load;
using testing::newState;

constexpr const char* kBudgetStop = "instruction budget of 100000 exceeded";

TEST_CASE("create refuses a zero budget and a cap too small for the sandbox") {
    auto zero = State::create({1 << 20, 0});
    CHECK(zero.status().code() == Code::InvalidArgument);
    auto tiny = State::create({4096, 1000});
    CHECK(tiny.status().code() == Code::ResourceExhausted);
    CHECK(tiny.status().message().rfind("lua: memory cap of 4096 bytes is too small", 0) == 0);
}

TEST_CASE("loadScript leaves the script's return value on the stack") {
    auto state = newState();
    REQUIRE(state->loadScript("local Room = {} function Room.onStart() end return Room", "rooms/chat.lua"));
    CHECK(lua_type(state->L(), -1) == LUA_TTABLE);
    lua_pop(state->L(), 1);
    REQUIRE(state->loadScript("local x = 1", "rooms/none.lua"));
    CHECK(lua_isnil(state->L(), -1));
    lua_pop(state->L(), 1);
    CHECK(lua_gettop(state->L()) == 0);
}

TEST_CASE("a compiled script loads as its text does, and its errors still name file and line") {
    auto chunk =
        State::compile("local Room = {}\nfunction Room.boom() error('bad') end\nreturn Room", "rooms/c.lua");
    REQUIRE(chunk.isOk());
    auto state = newState();
    REQUIRE(state->loadCompiled(chunk.value(), "rooms/c.lua"));
    REQUIRE(lua_type(state->L(), -1) == LUA_TTABLE);
    lua_getfield(state->L(), -1, "boom");
    lua_State* co = lua_newthread(state->L());
    lua_rotate(state->L(), -2, 1);
    lua_xmove(state->L(), co, 1);
    state->beginCall();
    auto result = state->resume(co, 0);
    CHECK(result.run == State::Run::Failed);
    CHECK(result.error.message() == "rooms/c.lua:2: bad");

    auto broken = State::compile("x = = 1", "rooms/broken.lua");
    CHECK(broken.status().code() == Code::InvalidArgument);
    CHECK(broken.status().message() == "rooms/broken.lua:1: unexpected symbol near '='");
    // A script's own bytecode stays refused: only the host's compiled chunk takes the binary path.
    CHECK(state->loadScript(chunk.value(), "rooms/c.lua").code() == Code::InvalidArgument);
}

TEST_CASE("a syntax error names the file and line") {
    auto state = newState();
    Status loaded = state->loadScript("local a = 1\nx = = 2\n", "examples/chat/room.lua");
    CHECK(loaded.code() == Code::InvalidArgument);
    CHECK(loaded.message() == "examples/chat/room.lua:2: unexpected symbol near '='");
    CHECK(lua_gettop(state->L()) == 0);
}

TEST_CASE("a runtime error names the file and line") {
    auto state = newState();
    REQUIRE(load(*state, R"(
function handler()
    local conn = nil
    return conn.id
end
function raw() error("plain", 0) end
function object() error({code = 1}) end)")
                .finished());
    auto outcome = call(*state, "handler");
    CHECK(outcome.failed());
    CHECK(outcome.error.code() == Code::Internal);
    CHECK(outcome.error.message() == "test.lua:4: attempt to index a nil value (local 'conn')");
    CHECK(call(*state, "raw").error.message() == "test.lua:6: plain");
    CHECK(call(*state, "object").error.message() == "test.lua:7: (error object is a table value)");
}

TEST_CASE("a script that yields while loading is refused") {
    auto state = newState();
    Status loaded = state->loadScript("coroutine.yield()", "rooms/y.lua");
    CHECK(loaded.code() == Code::InvalidArgument);
    CHECK(loaded.message() == "rooms/y.lua: the script yielded while loading; it must return its handlers");
    CHECK(lua_gettop(state->L()) == 0);
}

TEST_CASE("the budget stops a plain loop, naming file and line") {
    auto state = newState();
    REQUIRE(load(*state, "function spin()\n    while true do end\nend").finished());
    auto start = std::chrono::steady_clock::now();
    auto outcome = call(*state, "spin");
    CHECK(testing::secondsSince(start) < testing::kStopSeconds);
    CHECK(outcome.failed());
    CHECK(outcome.error.code() == Code::ResourceExhausted);
    CHECK(outcome.error.message() == std::string("test.lua:2: ") + kBudgetStop);
    CHECK(state->budgetStops() == 1);
}

TEST_CASE("the budget stops loading a script that never returns") {
    auto state = newState();
    Status loaded = state->loadScript("local i = 0\nwhile true do i = i + 1 end", "rooms/loop.lua");
    CHECK(loaded.code() == Code::ResourceExhausted);
    CHECK(loaded.message() == std::string("rooms/loop.lua:2: ") + kBudgetStop);
}

TEST_CASE("pcall cannot swallow the budget stop") {
    auto state = newState();
    REQUIRE(load(*state, R"(
function swallow()
    while true do pcall(function() while true do end end) end
end
function swallowErrors()
    for i = 1, math.huge do pcall(error, "x") end
end
function handlerLoops()
    xpcall(function() while true do end end, function(e) while true do end end)
    while true do end
end
function nested()
    while true do
        pcall(pcall, pcall, function() while true do end end)
    end
end)")
                .finished());
    for (const char* name : {"swallow", "swallowErrors", "handlerLoops", "nested"}) {
        std::string shown = name;
        CAPTURE(shown);
        auto start = std::chrono::steady_clock::now();
        auto outcome = call(*state, name);
        CHECK(testing::secondsSince(start) < testing::kStopSeconds);
        CHECK(outcome.error.code() == Code::ResourceExhausted);
        CHECK(outcome.error.message().find(kBudgetStop) != std::string::npos);
    }
    CHECK(state->budgetStops() == 4);
}

TEST_CASE("the budget stops loops inside coroutines, including ones created before the call") {
    auto state = newState();
    REQUIRE(load(*state, R"(
-- Created and started while the script loaded, long before the call that resumes it.
early = coroutine.create(function()
    coroutine.yield()
    while true do end
end)
coroutine.resume(early)
wrapped = coroutine.wrap(function() while true do end end)

function resumeEarly() return coroutine.resume(early) end
function callWrapped() wrapped() end
function fresh()
    local co = coroutine.create(function() while true do end end)
    while true do coroutine.resume(co) end
end
function manyFresh()
    while true do
        pcall(coroutine.wrap(function() for i = 1, 500 do end end))
    end
end
-- A coroutine stopped by the budget dies with hooks off: its __close handlers must not run.
local function closesForever()
    local x <close> = setmetatable({}, {__close = function() while true do end end})
    while true do end
end
function wrapClose() coroutine.wrap(closesForever)() end
function closeAfterStop()
    local co = coroutine.create(closesForever)
    coroutine.resume(co)
    coroutine.close(co)
end
function closeInPcall() pcall(closesForever) end)")
                .finished());
    for (const char* name : {"resumeEarly", "callWrapped", "fresh", "manyFresh", "wrapClose",
                             "closeAfterStop", "closeInPcall"}) {
        std::string shown = name;
        CAPTURE(shown);
        auto start = std::chrono::steady_clock::now();
        auto outcome = call(*state, name);
        CHECK(testing::secondsSince(start) < testing::kStopSeconds);
        CHECK(outcome.error.code() == Code::ResourceExhausted);
    }
}

TEST_CASE("the budget stops loops inside metamethods, table.sort comparators and other callbacks") {
    auto state = newState();
    REQUIRE(load(*state, R"(
local function spin() while true do end end
local looping = setmetatable({}, {
    __index = spin, __newindex = spin, __call = spin, __eq = spin, __lt = spin, __le = spin,
    __concat = spin, __len = spin, __unm = spin, __add = spin, __tostring = spin, __pairs = spin,
    __close = spin,
})
local other = setmetatable({}, getmetatable(looping))
handlers = {
    index = function() return looping.x end,
    newindex = function() looping.x = 1 end,
    call = function() looping() end,
    eq = function() return looping == other end,
    lt = function() return looping < other end,
    le = function() return looping <= other end,
    concat = function() return looping .. "x" end,
    len = function() return #looping end,
    unm = function() return -looping end,
    add = function() return looping + 1 end,
    tostring = function() return tostring(looping) end,
    print = function() print(looping) end,
    pairs = function() for k in pairs(looping) do end end,
    close = function() do local x <close> = looping end return 1 end,
    sortComparator = function() table.sort({3, 1, 2}, spin) end,
    sortMetamethod = function() table.sort({looping, other, setmetatable({}, getmetatable(looping))}) end,
    concatIndex = function() return table.concat(setmetatable({}, {__index = spin, __len = function() return 2 end})) end,
    gsubFunction = function() return ("abc"):gsub("%a", spin) end,
    loadReader = function() return load(spin) end,
}
function run(name) return handlers[name]() end)")
                .finished());
    lua_State* L = state->L();
    lua_getglobal(L, "handlers");
    std::vector<std::string> names;
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) names.push_back(lua_tostring(L, -2));
    lua_pop(L, 1);
    REQUIRE(names.size() == 19);
    for (const std::string& name : names) {
        CAPTURE(name);
        lua_pushstring(L, name.c_str());
        lua_setglobal(L, "which");
        REQUIRE(load(*state, "function current() return run(which) end").finished());
        auto start = std::chrono::steady_clock::now();
        auto outcome = call(*state, "current");
        CHECK(testing::secondsSince(start) < testing::kStopSeconds);
        CHECK(outcome.error.code() == Code::ResourceExhausted);
        CHECK(outcome.error.message() == std::string("test.lua:2: ") + kBudgetStop);
    }
}

TEST_CASE("the processor time limit stops instructions that each cost O(n)") {
    // Each of these loops runs a few instructions per iteration, but one of them takes O(n) time:
    // under the instruction budget alone such a loop ran for minutes.
    auto state = newState({16 << 20, 1000000000, std::chrono::milliseconds(50)});
    // The data is made here, not by the script: loading runs under the same 50 ms.
    lua_State* L = state->L();
    for (const char* name : {"a", "b"}) {
        std::string text = std::string(1000000, 'a') + name;
        lua_pushlstring(L, text.data(), text.size());
        lua_setglobal(L, name);
    }
    lua_createtable(L, 100000, 0);
    for (int i = 1; i <= 100000; ++i) {
        lua_pushinteger(L, i);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "list");
    REQUIRE(load(*state, R"(
function equal() local n = 0 while true do if a == b then n = n + 1 end end end
function less() local n = 0 while true do if a < b then n = n + 1 end end end
function varargs()
    local function count(...) return select("#", ...) end
    local function spin(...) while true do count(...) end end
    spin(table.unpack(list))
end
function plain() local n = 0 for i = 1, 10000 do n = n + i end return n end)")
                .finished());
    const std::string stop = "processor time limit of 50 ms exceeded";
    testing::checkFailures(*state, {{"equal", Code::ResourceExhausted, "test.lua:2: " + stop},
                                    {"less", Code::ResourceExhausted, "test.lua:3: " + stop},
                                    {"varargs", Code::ResourceExhausted, "test.lua:6: " + stop}});
    CHECK(state->budgetStops() == 3);
    CHECK(call(*state, "plain").value == "50005000");  // each call gets its own time
}

TEST_CASE("after a stop the next call gets a fresh budget") {
    auto state = newState();
    REQUIRE(load(*state, R"(
function spin() while true do pcall(function() while true do end end) end end
-- About 40% of the budget: fails if the spent budget or the every-instruction hook leaked.
function work()
    local n = 0
    for i = 1, 10000 do n = n + i end
    return n
end)")
                .finished());
    CHECK(call(*state, "work").value == "50005000");
    CHECK(call(*state, "spin").error.code() == Code::ResourceExhausted);
    for (int i = 0; i < 3; ++i) {
        auto outcome = call(*state, "work");
        CHECK(outcome.finished());
        CHECK(outcome.value == "50005000");
    }
    CHECK(state->budgetStops() == 1);
}

TEST_CASE("instructions are counted across all resumes of one call") {
    auto state = newState();
    REQUIRE(load(*state, R"(
function chatty()
    local i = 0
    while true do
        i = i + 1
        if i % 100 == 0 then coroutine.yield(i) end
    end
end)")
                .finished());
    lua_State* L = state->L();
    state->beginCall();
    lua_State* co = lua_newthread(L);
    lua_getglobal(co, "chatty");
    int resumes = 0;
    State::RunResult result;
    do {
        result = state->resume(co, 0);
        lua_settop(co, 0);
        ++resumes;
    } while (result.run == State::Run::Yielded && resumes < 10000);
    CHECK(result.run == State::Run::Failed);
    CHECK(result.error.code() == Code::ResourceExhausted);
    // About 4 instructions per iteration, 100 iterations per resume: 100000 / 400 resumes.
    CHECK(resumes > 150);
    CHECK(resumes < 400);
    lua_pop(L, 1);
}

TEST_CASE("deep recursion fails as an ordinary error and the state carries on") {
    auto state = newState({1 << 20, 10000000});
    REQUIRE(load(*state, R"(
local function deep(n) return 1 + deep(n + 1) end
function recurse() return deep(1) end
function ok() return "fine" end)")
                .finished());
    auto outcome = call(*state, "recurse");
    CHECK(outcome.failed());
    CHECK(outcome.error.message().rfind("test.lua:2: ", 0) == 0);
    CHECK(call(*state, "ok").value == "fine");
}

TEST_CASE("recursion through C functions and metamethods stops at Lua's C stack limit") {
    auto state = newState({1 << 20, 10000000});
    REQUIRE(load(*state, R"(
function metamethods()
    local t = setmetatable({}, {})
    getmetatable(t).__index = function(t, k) return t[k] end
    return t.x
end
function gsubs()
    local function again(m) return (m:gsub(".", again)) end
    return again("abc")
end
function sorts()
    local function again(a, b) table.sort({2, 1}, again) return a < b end
    table.sort({2, 1}, again)
end
function ok() return "fine" end)")
                .finished());
    testing::checkFailures(*state, {{"metamethods", Code::Internal, "test.lua:4: C stack overflow"},
                                    {"gsubs", Code::Internal, "test.lua:8: C stack overflow"},
                                    {"sorts", Code::Internal, "test.lua:12: C stack overflow"}});
    CHECK(call(*state, "ok").value == "fine");
}

TEST_CASE("the memory cap stops string.rep, naming file and line") {
    auto state = newState({1 << 20, 10000000});
    REQUIRE(
        load(*state,
             "function bomb()\n    return #string.rep('x', 1 << 24)\nend\nfunction ok() return 'fine' end")
            .finished());
    auto outcome = call(*state, "bomb");
    CHECK(outcome.error.code() == Code::ResourceExhausted);
    CHECK(outcome.error.message() == "test.lua:2: memory cap of 1048576 bytes exceeded");
    CHECK(state->memoryStops() == 1);
    CHECK(state->memoryUsed() < (1u << 20));
    CHECK(call(*state, "ok").value == "fine");
}

TEST_CASE("memory bombs of every shape are stopped and the state carries on") {
    auto state = newState({1 << 20, 10000000});
    REQUIRE(load(*state, R"(
function grow()
    local t = {}
    for i = 1, 1e9 do t[i] = i end
end
function double()
    local s = "x"
    while true do s = s .. s end
end
function fill()
    local t = {}
    for i = 1, 1e9 do t["k" .. i] = {i} end
end
function concatLoop()
    local s = ""
    while true do s = s .. "x" end
end
function tableConcat()
    local t, piece = {}, string.rep("x", 1000)
    for i = 1, 2000 do t[i] = piece end
    return #table.concat(t)
end
function repSeparator() return #string.rep("x", 1e8, "yy") end
function format() return #string.format("%s%s", string.rep("x", 600000), string.rep("y", 600000)) end
function pack() return #string.pack("c100000000", "") end
function coroutines()
    local t = {}
    while true do t[#t + 1] = coroutine.create(print) end
end
function closures()
    local t = {}
    while true do local n = #t t[n + 1] = function() return n end end
end
function source() return load("return " .. string.rep("1 + ", 1e6) .. "1") end
function jsonText() return #json.encode({string.rep("\0", 300000)}) end
function ok()
    local t = {}
    for i = 1, 1000 do t[i] = i end
    return #t
end)")
                .finished());
    for (const char* name : {"grow", "double", "fill", "concatLoop", "tableConcat", "repSeparator", "format",
                             "pack", "coroutines", "closures", "source", "jsonText"}) {
        std::string shown = name;
        CAPTURE(shown);
        auto start = std::chrono::steady_clock::now();
        auto outcome = call(*state, name);
        CHECK(testing::secondsSince(start) < testing::kStopSeconds);
        CHECK(outcome.error.code() == Code::ResourceExhausted);
        // The cap, or the budget when copying costs more than the memory it takes (a slow build
        // may reach the processor time limit first): each names the line.
        CHECK_MESSAGE(outcome.error.message().find(" exceeded") != std::string::npos,
                      outcome.error.message());
        CHECK(outcome.error.message().rfind("test.lua:", 0) == 0);
        CHECK(call(*state, "ok").value == "1000");
        lua_gc(state->L(), LUA_GCCOLLECT);
        CHECK(state->memoryUsed() < 256 * 1024);  // nothing of the bomb is kept
    }
    CHECK(state->memoryStops() >= 3);  // grow, double and fill at least hit the cap itself
}

TEST_CASE("allocation counts against the budget, so a loop of big allocations stops") {
    auto state = newState({16 << 20, 100000});
    REQUIRE(load(*state, R"(
function reps() while true do local s = string.rep("x", 100000) end end
function concats()
    local parts = {}
    for i = 1, 1000 do parts[i] = "part" end
    while true do local s = table.concat(parts, ",") end
end)")
                .finished());
    for (const char* name : {"reps", "concats"}) {
        std::string shown = name;
        CAPTURE(shown);
        auto start = std::chrono::steady_clock::now();
        auto outcome = call(*state, name);
        CHECK(testing::secondsSince(start) < testing::kStopSeconds);
        CHECK(outcome.error.code() == Code::ResourceExhausted);
        CHECK(outcome.error.message().find("instruction budget of 100000 exceeded") != std::string::npos);
    }
}

TEST_CASE("library functions that loop in C are charged for their loops") {
    auto state = newState({16 << 20, 1000000});
    REQUIRE(load(*state, R"(
t = {}
for i = 1, 100000 do t[i] = 100000 - i end
s = string.rep("x", 100000)
function sorts() while true do table.sort(t) end end
function inserts() while true do table.insert(t, 1, 0) end end
function removes() while true do table.remove(t, 1) end end
function unpacks() while true do local n = select("#", table.unpack(t)) end end
function moves() while true do table.move(t, 1, #t, 1) end end
function bytes() while true do local n = select("#", s:byte(1, -1)) end end
function lengths() while true do local n = utf8.len(s) end end
-- Lexing a long comment allocates nothing, so load is charged its chunk's length.
comment = "--" .. s
function loads() while true do load(comment) end end
function reads()
    while true do
        local sent = false
        load(function() if sent then return nil end sent = true return comment end)
    end
end
-- The cheap forms stay cheap: appending, popping, reading one byte.
function appends()
    local list = {}
    for i = 1, 50000 do table.insert(list, i) end
    for i = 1, 50000 do table.remove(list) end
    local n = 0
    for i = 1, 20000 do n = n + s:byte(i) end
    return n
end)")
                .finished());
    struct Expect {
        const char* name;
        const char* in;
    } cases[] = {
        {"sorts", "table.sort"},     {"inserts", "table.insert"}, {"removes", "table.remove"},
        {"unpacks", "table.unpack"}, {"moves", "table.move"},     {"bytes", "string.byte"},
        {"lengths", "utf8.len"},     {"loads", "load"},           {"reads", "load"},
    };
    for (const Expect& expect : cases) {
        std::string shown = expect.name;
        CAPTURE(shown);
        auto start = std::chrono::steady_clock::now();
        auto outcome = call(*state, expect.name);
        CHECK(testing::secondsSince(start) < testing::kStopSeconds);
        CHECK(outcome.error.code() == Code::ResourceExhausted);
        CHECK(outcome.error.message().find(std::string("exceeded in ") + expect.in) != std::string::npos);
    }
    auto outcome = call(*state, "appends");
    CHECK(outcome.value == std::to_string(20000 * 'x'));
}

TEST_CASE("a script may catch a refused allocation and carry on") {
    auto state = newState({1 << 20, 10000000});
    auto outcome = load(*state, R"(
local ok, err = pcall(string.rep, "x", 1 << 24)
return tostring(ok) .. " " .. err)");
    CHECK(outcome.value == "false not enough memory");
    CHECK(state->memoryStops() == 0);
}

TEST_CASE("resuming a dead coroutine while allocations are refused does not abort") {
    // Lua builds this answer before it protects the coroutine: a refused allocation there aborted.
    auto state = newState({16 << 20, 100000});
    REQUIRE(load(*state, R"(
dead = coroutine.create(function() end)
coroutine.resume(dead)
function deadAfterSpent()
    local inner = coroutine.wrap(function()
        pcall(string.rep, "x", 7000000)  -- refused: 7 MB is more work than the budget allows
        return coroutine.resume(dead)    -- a nested coroutine runs on until its hook fires
    end)
    local ok, message = inner()
    return message
end)")
                .finished());
    auto outcome = call(*state, "deadAfterSpent");
    CHECK(outcome.error.code() == Code::ResourceExhausted);
    CHECK(outcome.error.message() == "test.lua:10: instruction budget of 100000 exceeded");
}

TEST_CASE("memory a script keeps counts against later calls, and the state still closes") {
    auto state = newState({1 << 20, 10000000});
    REQUIRE(load(*state, R"(
kept = {}
function keep() kept[#kept + 1] = string.rep("x", 100000) .. #kept end
function ok() return "fine" end)")
                .finished());
    int calls = 0;
    testing::Outcome outcome;
    do {
        outcome = call(*state, "keep");
        ++calls;
    } while (outcome.finished() && calls < 100);
    CHECK(calls > 5);
    CHECK(calls < 12);
    CHECK(outcome.error.code() == Code::ResourceExhausted);
    // Small allocations may still fit, and the host's own pushes are never refused.
    CHECK(call(*state, "ok").value == "fine");
    lua_pushstring(state->L(), std::string(1 << 21, 'h').c_str());
    CHECK(state->memoryUsed() > (1u << 21));
    lua_pop(state->L(), 1);
    state.reset();  // lua_close over a state that hit its cap; the sanitizers check the rest
}

TEST_CASE("an empty log sink drops script logs") {
    auto state = newState();
    state->setLogSink(nullptr);
    CHECK(load(*state, "print('dropped') return 1").value == "1");
}

}  // namespace
}  // namespace partyline::lua
