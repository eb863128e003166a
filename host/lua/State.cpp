#include "lua/State.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iterator>
#include <lua.hpp>
#include <utility>

namespace partyline::lua {
namespace {

// Instructions between two runs of the count hook: often enough to stop within a millisecond,
// rarely enough that counting costs nothing measurable.
constexpr int kHookInterval = 1000;

// Bytes allocated that count as one instruction: copying or clearing 64 bytes costs about as much
// as one VM instruction, so a loop of string.rep or table.concat is stopped like any loop.
constexpr uint64_t kBytesPerInstruction = 64;

// Wall time between two readings of the thread's processor clock, which is a system call: plain
// code runs about 100,000 instructions in this time, so the readings cost nothing measurable.
constexpr std::chrono::microseconds kClockInterval{1000};

std::chrono::nanoseconds threadTime() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

// Lua's message for a refused allocation; a script can catch it and raise it again.
constexpr std::string_view kNotEnoughMemory = "not enough memory";

// Messages Lua creates outside protected mode: lua_resume's refusals, run on the target coroutine
// before it is protected, and the error-in-error-handling message. Were their allocation refused
// (memory cap, budget) Lua would abort the process. Kept alive from the start, they are found in
// Lua's table of short strings and never allocated again.
constexpr const char* kUnprotectedMessages[] = {
    "cannot resume dead coroutine",
    "cannot resume non-suspended coroutine",
    "C stack overflow",
    "error in error handling",
};

void logToCore(log::Level level, std::string_view where, std::string_view message) {
    std::string line;
    line.reserve(where.size() + message.size() + 2);
    line.append(where).append(": ").append(message);
    log::write(level, "lua", line);
}

// Runs before the cap applies, so it cannot be refused.
void pinUnprotectedMessages(lua_State* L) {
    lua_createtable(L, static_cast<int>(std::size(kUnprotectedMessages)), 0);
    for (size_t i = 0; i < std::size(kUnprotectedMessages); ++i) {
        lua_pushstring(L, kUnprotectedMessages[i]);
        lua_rawseti(L, -2, static_cast<lua_Integer>(i) + 1);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "partyline.unprotectedMessages");
}

// Only reached on a bug (a Lua error outside protected mode); Lua aborts when this returns.
int panic(lua_State* L) {
    const char* message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    log::error("lua", std::string("unprotected Lua error: ") + message);
    return 0;
}

// The error object as text, without calling Lua (no __tostring): it may be read outside
// protected mode and after the memory cap was hit.
std::string errorText(lua_State* L, int index) {
    switch (lua_type(L, index)) {
        case LUA_TSTRING:
            return lua_tostring(L, index);
        case LUA_TNUMBER: {
            char text[48];
            if (lua_isinteger(L, index)) {
                std::snprintf(text, sizeof text, LUA_INTEGER_FMT, lua_tointeger(L, index));
            } else {
                std::snprintf(text, sizeof text, LUA_NUMBER_FMT, lua_tonumber(L, index));
            }
            return text;
        }
        default:
            return std::string("(error object is a ") + luaL_typename(L, index) + " value)";
    }
}

// Prefixes "file:line: " unless the message already starts with the failing script's name.
std::string withLocation(const std::string& where, const std::string& message) {
    if (where.empty()) return message;
    std::string file = where.substr(0, where.rfind(':') + 1);
    if (message.compare(0, file.size(), file) == 0) return message;
    return where + ": " + message;
}

bool endsWith(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

// The memory cap applies inside this scope: Lua runs in protected mode there.
struct State::CapScope {
    explicit CapScope(State& s) : state(s) { ++state.enforcing_; }
    ~CapScope() { --state.enforcing_; }
    State& state;
};

void State::Closer::operator()(lua_State* L) const {
    lua_close(L);
}

State::State(const Budget& budget)
    : budget_(budget),
      hookInterval_(static_cast<int>(std::min<uint64_t>(kHookInterval, budget.instructionsPerCall))),
      sink_(logToCore) {}

State::~State() = default;

Result<std::unique_ptr<State>> State::create(const Budget& budget) {
    if (budget.instructionsPerCall == 0)
        return Status(Code::InvalidArgument, "lua: instruction budget must be positive");
    std::unique_ptr<State> self(new State(budget));
    lua_State* L = lua_newstate(&State::allocate, self.get());
    if (!L) return Status(Code::ResourceExhausted, "lua: cannot create a state");
    self->state_.reset(L);
    *static_cast<State**>(lua_getextraspace(L)) = self.get();  // new threads copy it
    lua_atpanic(L, panic);
    lua_sethook(L, &State::countHook, LUA_MASKCOUNT, self->hookInterval_);
    pinUnprotectedMessages(L);
    Status installed;
    {
        CapScope cap(*self);
        installed = installSandbox(L, *self);
    }
    if (installed.code() == Code::ResourceExhausted) {
        return installed.context("lua: memory cap of " + std::to_string(budget.memoryBytes) +
                                 " bytes is too small for a sandboxed state");
    }
    if (!installed) return installed;
    return self;
}

State& State::owner(lua_State* L) {
    return **static_cast<State**>(lua_getextraspace(L));
}

// Lua's allocator contract: free when newSize is 0, never fail when shrinking. Refusing to grow
// past the cap makes Lua raise "not enough memory" in the running code.
void* State::allocate(void* ud, void* ptr, size_t oldSize, size_t newSize) {
    auto* self = static_cast<State*>(ud);
    size_t old = ptr ? oldSize : 0;  // without ptr, oldSize encodes the object's type
    if (newSize == 0) {
        std::free(ptr);
        self->memoryUsed_ -= old;
        return nullptr;
    }
    if (newSize > old && self->enforcing_ > 0 && !self->admit(old, newSize)) return nullptr;
    void* block = std::realloc(ptr, newSize);
    if (!block) return newSize <= old ? ptr : nullptr;
    self->memoryUsed_ = self->memoryUsed_ - old + newSize;
    return block;
}

// Whether a block may grow from `old` to `newSize` bytes under the memory cap and the budget. Past
// the budget the allocation is refused: the script gets "not enough memory" now, and the budget
// error at the next instruction of the coroutine the host resumed.
bool State::admit(size_t old, size_t newSize) {
    size_t cap = budget_.memoryBytes;
    if (newSize > cap || memoryUsed_ - old > cap - newSize) {
        memoryRefused_ = true;
        return false;
    }
    allocated_ += newSize - old;
    if (!budgetSpent_ && !overBudget()) return true;
    if (running_) lua_sethook(running_, &State::countHook, LUA_MASKCOUNT, 1);  // safe at any time
    return false;
}

bool State::overBudget() const {
    return instructions_ + allocated_ / kBytesPerInstruction > budget_.instructionsPerCall;
}

bool State::overTime() const {
    return processorTime_ > budget_.processorTimePerCall;
}

void State::startClock() {
    clockReadAt_ = std::chrono::steady_clock::now();
    threadTimeAt_ = threadTime();
}

// Adds the processor time the thread used since the last reading to the call's, reading the
// processor clock only once kClockInterval of wall time passed.
void State::readClock() {
    auto now = std::chrono::steady_clock::now();
    if (now - clockReadAt_ < kClockInterval) return;
    auto time = threadTime();
    processorTime_ += time - threadTimeAt_;
    clockReadAt_ = now;
    threadTimeAt_ = time;
}

void State::beginCall() {
    instructions_ = 0;
    allocated_ = 0;
    processorTime_ = {};
    budgetSpent_ = false;
    memoryRefused_ = false;
    budgetMessage_.clear();
}

// Counts instructions into the State, whichever thread runs them. Threads left firing on every
// instruction by an earlier call's stop are put back on the normal interval.
void State::countHook(lua_State* L, lua_Debug*) {
    State& self = owner(L);
    int counted = lua_gethookcount(L);
    self.instructions_ += static_cast<uint64_t>(counted);
    self.readClock();
    if (!self.budgetSpent_ && !self.overBudget() && !self.overTime()) {
        if (counted != self.hookInterval_)
            lua_sethook(L, &State::countHook, LUA_MASKCOUNT, self.hookInterval_);
        return;
    }
    self.stopForBudget(L, nullptr);
}

void State::chargeWork(lua_State* L, uint64_t units, const char* what) {
    instructions_ += units;
    if (budgetSpent_ || overBudget()) stopForBudget(L, what);
}

void State::recordBudgetStop(lua_State* L, const char* what) {
    budgetSpent_ = true;
    std::string limit =
        overTime() && !overBudget()
            ? "processor time limit of " + std::to_string(budget_.processorTimePerCall.count()) + " ms"
            : "instruction budget of " + std::to_string(budget_.instructionsPerCall);
    budgetMessage_ = withLocation(scriptLocation(L), limit + " exceeded");
    if (what) budgetMessage_.append(" in ").append(what);
}

// Raises the budget error, and makes this thread's hook fire on every instruction so that a
// pcall in the script that catches the error is interrupted again at once.
void State::stopForBudget(lua_State* L, const char* what) {
    if (!budgetSpent_) recordBudgetStop(L, what);
    lua_sethook(L, &State::countHook, LUA_MASKCOUNT, 1);
    lua_pushlstring(L, budgetMessage_.data(), budgetMessage_.size());
    lua_error(L);
    std::abort();  // lua_error does not return
}

void State::scriptLog(log::Level level, std::string_view where, std::string_view message) {
    if (!sink_) return;
    try {
        sink_(level, where, message);
    } catch (...) {
        // An exception must not unwind through Lua's C frames; the line is lost.
    }
}

State::RunResult State::resume(lua_State* co, int nargs) {
    CapScope cap(*this);
    lua_State* outer = std::exchange(running_, co);
    startClock();  // time suspended, waiting for the log, does not count
    int nresults = 0;
    int rc = lua_resume(co, L(), nargs, &nresults);
    running_ = outer;
    // A stop caught by a script's pcall or coroutine.resume still fails the call.
    if (budgetSpent_ || overBudget()) return {Run::Failed, 0, failure(co, rc)};
    if (rc == LUA_OK) return {Run::Finished, nresults, {}};
    if (rc == LUA_YIELD) return {Run::Yielded, nresults, {}};
    return {Run::Failed, 0, failure(co, rc)};
}

// Reads the error of a failed resume. The coroutine's stack is not unwound, so the location of
// a memory error (whose message has none) is still there to read.
Status State::failure(lua_State* co, int rc) {
    if (budgetSpent_ || overBudget()) {  // not spent yet: an allocation past the budget was refused
        if (!budgetSpent_) recordBudgetStop(co, nullptr);
        ++budgetStops_;
        return Status(Code::ResourceExhausted, budgetMessage_);
    }
    std::string message = errorText(co, -1);
    std::string where = scriptLocation(co);
    if (rc == LUA_ERRMEM || (memoryRefused_ && endsWith(message, kNotEnoughMemory))) {
        ++memoryStops_;
        return Status(
            Code::ResourceExhausted,
            withLocation(where, "memory cap of " + std::to_string(budget_.memoryBytes) + " bytes exceeded"));
    }
    return Status(Code::Internal, withLocation(where, message));
}

Status State::loadScript(std::string_view source, const std::string& path) {
    if (!source.empty() && source[0] == LUA_SIGNATURE[0])
        return Status(Code::InvalidArgument, path + ": binary chunks are not allowed; load Lua source text");
    return load(source, path, "t");
}

Result<std::string> State::compile(std::string_view source, const std::string& path) {
    // A bare state only parses: nothing of the script runs here.
    std::unique_ptr<lua_State, decltype(&lua_close)> L(luaL_newstate(), &lua_close);
    if (!L) return Status(Code::Internal, "cannot create a Lua state");
    std::string name = "@" + path;
    if (luaL_loadbufferx(L.get(), source.data(), source.size(), name.c_str(), "t") != LUA_OK)
        return Status(Code::InvalidArgument, lua_tostring(L.get(), -1));
    std::string chunk;
    auto append = [](lua_State*, const void* bytes, size_t size, void* out) {
        static_cast<std::string*>(out)->append(static_cast<const char*>(bytes), size);
        return 0;
    };
    if (lua_dump(L.get(), append, &chunk, 0) != 0 || chunk.empty())
        return Status(Code::Internal, path + ": the compiled script could not be kept");
    return chunk;
}

Status State::loadCompiled(std::string_view chunk, const std::string& path) {
    return load(chunk, path, "b");
}

Status State::load(std::string_view chunk, const std::string& path, const char* mode) {
    beginCall();
    lua_State* L = this->L();
    if (!lua_checkstack(L, 3)) return Status(Code::ResourceExhausted, path + ": Lua stack is full");
    lua_State* co = lua_newthread(L);  // outside the cap: a refusal here would not be protected
    std::string chunkname = "@" + path;
    int rc;
    {
        CapScope cap(*this);
        rc = luaL_loadbufferx(co, chunk.data(), chunk.size(), chunkname.c_str(), mode);
    }
    if (rc != LUA_OK) {
        Status error(rc == LUA_ERRMEM ? Code::ResourceExhausted : Code::InvalidArgument, errorText(co, -1));
        lua_pop(L, 1);
        return error;
    }
    return finishLoad(co, path);
}

// Runs the compiled chunk on `co` (on L's top) and leaves its first result in co's place.
Status State::finishLoad(lua_State* co, const std::string& path) {
    lua_State* L = this->L();
    RunResult result = resume(co, 0);
    if (result.run == Run::Failed) {
        lua_pop(L, 1);
        return result.error;
    }
    if (result.run == Run::Yielded) {
        lua_pop(L, 1);
        return Status(Code::InvalidArgument,
                      path + ": the script yielded while loading; it must return its handlers");
    }
    lua_settop(co, result.nresults > 0 ? lua_gettop(co) - result.nresults + 1 : 0);
    if (result.nresults == 0) lua_pushnil(co);
    lua_xmove(co, L, 1);
    lua_remove(L, -2);
    return Status::ok();
}

}  // namespace partyline::lua
