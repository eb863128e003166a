// The instruction budget, the memory cap and error reporting of lua::State.
#include <chrono>

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

TEST_CASE("the memory cap stops table growth and string doubling") {
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
function ok()
    local t = {}
    for i = 1, 1000 do t[i] = i end
    return #t
end)")
                .finished());
    for (const char* name : {"grow", "double", "fill"}) {
        std::string shown = name;
        CAPTURE(shown);
        auto outcome = call(*state, name);
        CHECK(outcome.error.code() == Code::ResourceExhausted);
        CHECK(outcome.error.message().find("memory cap of 1048576 bytes exceeded") != std::string::npos);
        CHECK(call(*state, "ok").value == "1000");
    }
    CHECK(state->memoryStops() == 3);
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
        {"lengths", "utf8.len"},
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
