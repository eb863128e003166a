// One sandboxed Lua 5.4 state: a capped allocator, the sandbox (Sandbox.h), json, log, now(),
// and an instruction budget per handler call that pcall cannot swallow.
//
// A State belongs to one shard and is used only on that shard's executor thread; nothing here is
// thread-safe. It turns every Lua error into a Status and never lets one escape as a longjmp. It
// must not run a script without a budget: every entry into Lua goes through loadScript() or
// beginCall() + resume().
//
// The memory cap is enforced while Lua runs in protected mode (loadScript, resume, json calls made
// from scripts): there a refusal becomes a Lua error. Allocations the host makes between calls
// (pushing arguments, creating threads) are counted but never refused, because a refusal outside
// protected mode would abort the process; they count against the script's next allocation.
// C functions that scripts call (written in host/rooms) may be interrupted by a Lua error at any
// allocation: they must hold no C++ object with a destructor across Lua API calls that allocate.
// Never give lua_pcall a Lua function as message handler: Lua runs it with hooks off when the
// budget stop raised the error, so it could run forever.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/Log.h"
#include "core/Status.h"
#include "lua/Sandbox.h"

struct lua_State;
struct lua_Debug;

namespace partyline::lua {

struct Budget {
    size_t memoryBytes;  // per state: everything the script and its data allocate
    // Per handler call, summed over all resumes of that call. Counts VM instructions, plus work
    // done in C that the hook cannot see: pattern-matching steps, the elements that library loops
    // such as table.sort go over (Sandbox.cpp), and one per 64 bytes allocated.
    uint64_t instructionsPerCall;
    // Per handler call, summed over all resumes: the thread's processor time while the call runs.
    // A backstop for single instructions that cost O(n) yet count as one (comparing two long
    // strings that share a long prefix, passing a long vararg list along): a loop of them ran for
    // minutes within the instruction budget. Checked every 1,000 instructions at most once a
    // millisecond; time waiting for a core or for the log does not count.
    std::chrono::milliseconds processorTimePerCall{1000};
};

class State final : private SandboxHost {
   public:
    // The count hook is set here and never cleared: a thread created before a hook was set would
    // run uncounted, and new threads copy their creator's hook.
    static Result<std::unique_ptr<State>> create(const Budget& budget);
    ~State();
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    // The main thread. Its globals table is the sandbox environment.
    lua_State* L() const { return state_.get(); }

    // Compiles a text chunk named by `path` (errors read "path:line: msg") and runs it under a
    // fresh budget; on success leaves its single return value (nil if none) on the top of L().
    // Binary chunks are refused (InvalidArgument), as are syntax errors.
    Status loadScript(std::string_view source, const std::string& path);
    // As loadScript, from a chunk compile() made of the script's text in this process: loading
    // it skips the parse. Never pass bytecode from elsewhere: Lua does not verify it, and crafted
    // bytecode crashes the VM.
    Status loadCompiled(std::string_view chunk, const std::string& path);
    // Compiles a text chunk, running nothing, into bytecode with its line information for
    // loadCompiled; a syntax error reads "path:line: message" (InvalidArgument).
    static Result<std::string> compile(std::string_view source, const std::string& path);

    // Starts a fresh budget for one handler call: instructions are counted across all resumes
    // until the next beginCall().
    void beginCall();

    enum class Run { Finished, Yielded, Failed };
    struct RunResult {
        Run run = Run::Finished;
        int nresults = 0;  // values on top of the coroutine's stack (Finished, Yielded)
        Status error;      // Failed only
    };
    // lua_resume(co, L(), nargs) under the current budget. Failed: the message names the script's
    // file and line; Code::ResourceExhausted when the instruction budget, the processor time limit
    // or the memory cap stopped the call (the message says which; a budget stop that the script
    // caught still fails the call), Code::Internal for the script's own errors. After Failed drop
    // the coroutine, and do not lua_resetthread it: its __close handlers could run with hooks off.
    // The State stays usable for the next call.
    RunResult resume(lua_State* co, int nargs);

    size_t memoryUsed() const { return memoryUsed_; }
    // Calls stopped by the instruction budget and by the memory cap, for metrics.
    uint64_t budgetStops() const { return budgetStops_; }
    uint64_t memoryStops() const { return memoryStops_; }

    // Where log.info/warn/error(...) and print(...) go; `where` is "file:line" of the calling
    // script line. Called on the state's thread; must not call into Lua. Default: core/Log with
    // component "lua". An empty sink drops script logs.
    using LogSink = std::function<void(log::Level, std::string_view where, std::string_view message)>;
    void setLogSink(LogSink sink) { sink_ = std::move(sink); }

   private:
    struct Closer {
        void operator()(lua_State* L) const;
    };
    struct CapScope;

    explicit State(const Budget& budget);
    static void* allocate(void* ud, void* ptr, size_t oldSize, size_t newSize);
    static void countHook(lua_State* L, lua_Debug* ar);
    static State& owner(lua_State* L);
    bool admit(size_t oldSize, size_t newSize);
    bool overBudget() const;
    bool overTime() const;
    void startClock();
    void readClock();

    void chargeWork(lua_State* L, uint64_t units, const char* what) override;
    void scriptLog(log::Level level, std::string_view where, std::string_view message) override;
    [[noreturn]] void stopForBudget(lua_State* L, const char* what);
    void recordBudgetStop(lua_State* L, const char* what);
    Status failure(lua_State* co, int rc);
    Status load(std::string_view chunk, const std::string& path, const char* mode);
    Status finishLoad(lua_State* co, const std::string& path);

    Budget budget_;
    int hookInterval_;            // instructions between two runs of the count hook
    size_t memoryUsed_ = 0;       // bytes Lua holds now
    int enforcing_ = 0;           // > 0 while Lua runs in protected mode: the cap applies
    bool memoryRefused_ = false;  // the cap refused an allocation since beginCall()
    uint64_t instructions_ = 0;   // counted since beginCall(), with work charged by C functions
    uint64_t allocated_ = 0;      // bytes allocated by Lua code since beginCall()
    bool budgetSpent_ = false;    // since beginCall(); every thread's hook then raises
    std::chrono::nanoseconds processorTime_{0};          // used by the call since beginCall()
    std::chrono::steady_clock::time_point clockReadAt_;  // when readClock() last read...
    std::chrono::nanoseconds threadTimeAt_{0};           // ...the thread's processor clock
    lua_State* running_ = nullptr;                       // the coroutine resume() runs
    std::string budgetMessage_;  // "file:line: instruction budget of N exceeded" (or time limit)
    uint64_t budgetStops_ = 0;
    uint64_t memoryStops_ = 0;
    LogSink sink_;
    std::unique_ptr<lua_State, Closer> state_;  // last: closed first, while the fields above live
};

}  // namespace partyline::lua
