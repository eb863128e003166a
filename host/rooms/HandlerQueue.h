// HandlerQueue: the room's script on one shard — its sandboxed Lua state,
// loaded and reloaded, and the calls of its handlers, one at a time, in the
// order they were queued.
//
// It builds every Lua value a handler is given (room, conn, req, the write of
// onWrite, the change of onPresence), resumes a handler that waits for the log
// or a blocking call, and, when a handler returns, reads the conn.presence of
// the connections it had and hands a change to the shard (ShardView::setPresence).
// It neither reads nor writes the log and sends nothing to connections: the
// shard does, and the bindings reach it through ShardView.
//
// Threads: strand only (the shard's), every method unless it says otherwise.
// A handler that waits (room:broadcast waits for the log's acknowledgement)
// holds back the next handler, not deliveries to connections.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/Status.h"
#include "rooms/HistoryPage.h"
#include "rooms/Http.h"
#include "rooms/Party.h"
#include "rooms/PresenceRoster.h"
#include "rooms/ShardContext.h"
#include "rooms/ShardView.h"

struct lua_State;

namespace partyline {

namespace lua {
class State;
}

class HandlerQueue {
   public:
    // Pushes the results of a blocking call (room.storage, alarms) onto the
    // waiting handler's coroutine; returns how many.
    using Resumer = std::function<int(lua_State* co)>;

    // `view`: the shard, which holds this. `strand`: the shard's.
    HandlerQueue(ShardContext& context, ShardView& view, Strand& strand,
                 std::shared_ptr<const Script> script);
    ~HandlerQueue();
    HandlerQueue(const HandlerQueue&) = delete;
    HandlerQueue& operator=(const HandlerQueue&) = delete;

    // Before the first blocking call: the object whose life holds this one (the shard).
    void setOwner(std::weak_ptr<const void> owner) { owner_ = std::move(owner); }

    // Loads the script unless it is loaded or failed already, and queues onStart.
    void load();
    // Loads `script` into a new Lua state once the running handler finished;
    // on success it replaces the old state, keeps every connection (their
    // conn.state starts empty) and runs onStart again. A script that fails to
    // load leaves the running version in place and is logged.
    void reload(std::shared_ptr<const Script> script);
    // The script loaded: handlers can run.
    bool canRun() const { return lua_ && scriptError_.isOk(); }
    // The strand, or a bus thread holding it (Strand::tryRun).
    bool hasOnWrite() const { return hasOnWrite_; }
    // The running script has onPresence.
    bool hasOnPresence() const { return hasOnPresence_; }
    // Any thread: the running script has no onBeforeConnect, so every WebSocket is admitted.
    bool admitsAll() const { return admitsAll_.load(); }

    // Queue a call of the script's handler; a handler the script lacks is skipped.
    // Makes the conn table of `id` (replacing one of the same id), then onConnect(room, conn, req).
    void callOnConnect(const std::string& id, HttpRequest request);
    // onMessage(room, conn, payload); skipped when `id` has closed meanwhile.
    void callOnMessage(const std::string& id, std::string payload, bool binary);
    // Drops the conn table of `id`, then onClose(room, conn, code, reason).
    void callOnClose(const std::string& id, uint16_t code, std::string reason);
    // onRequest(room, req); `respond` gets its answer (500 when the script cannot run).
    void callOnRequest(HttpRequest request, Respond respond);
    // onBeforeConnect(room, req); `decide` gets nothing to accept, or the refusal.
    void callOnBeforeConnect(HttpRequest request, std::function<void(std::optional<HttpResponse>)> decide);
    // onAlarm(room); `done(true)` once it ran or failed, or the script does not load.
    void callOnAlarm(std::function<void(bool taken)> done);
    // onWrite(room, {seq=, data=, binary=}), when the script has onWrite.
    void callOnWrite(const LogEntry& entry);
    // onPresence(room, {joined = {...}, left = {...}}), each entry {id=, node=, info=}.
    void callOnPresence(PresenceChange change);

    // Resume the running handler with what it waited for.
    void resumeAfterPublish(Result<uint64_t> result);
    void resumeAfterRead(Result<HistoryPage> page);

    // For the bindings, inside a handler call.
    // Whether `co` is the running handler's own coroutine (a waiting call may only be made there).
    bool isRunning(lua_State* co) const { return running_ && running_->co == co; }
    // The connection whose message the running handler handles (onMessage); empty otherwise.
    const std::string& messageFrom() const {
        static const std::string none;
        return running_ ? running_->call.from : none;
    }
    // The rooms whose handlers wait for the running handler (HttpRequest::callers of the
    // onRequest it runs); empty for every other handler.
    const std::vector<std::string>& callers() const { return callers_; }
    // The page a resumed room:history reads; null when none came.
    const Result<HistoryPage>* history() const { return history_ ? &*history_ : nullptr; }
    // Pushes the conn table of `id` and returns 1, or pushes nothing and returns 0. The running
    // handler had it: its conn.presence is read when the handler returns.
    int pushConnection(lua_State* L, const std::string& id);
    // The running handler had every conn table (room:connections): each conn.presence is read
    // when it returns.
    void touchedAll() { touchedAll_ = true; }
    // Every conn table in the Lua registry, by connection id.
    const std::map<std::string, int>& connectionRefs() const { return connections_; }
    // This node makes blocking calls (room.storage, alarms): callBlocking may be used.
    bool canBlock() const { return context_.blocking != nullptr; }
    // Runs `work` on the blocking executor; back on the strand, resumes the
    // running handler with what the Resumer it returned pushes.
    void callBlocking(std::function<Resumer()> work);
    // For a call answered on another thread (fetch): any thread may call the function returned,
    // once, with the Resumer; it posts it to the strand, which resumes the running handler with
    // what it pushes. It only copies and posts. Until then it holds the shard alive.
    using Resume = std::function<void(Resumer)>;
    Resume resumeLater();

   private:
    // One Lua handler call waiting for its turn.
    struct LuaCall {
        const char* handler;  // null: not a handler but work that waits for the calls before it
        std::function<int(lua_State* co)> pushArgs;                                  // returns nargs
        std::function<void(lua_State* co, int nresults, const Status& error)> done;  // may be empty
        std::string from{};  // onMessage: the connection whose message it handles
    };
    struct Running {
        lua_State* co;
        int ref;
        LuaCall call;
    };

    void loadScript();
    Status loadState(const std::shared_ptr<const Script>& script);
    void swapScript(std::shared_ptr<const Script> script);
    void enqueue(LuaCall call);
    void pump();
    void startCall(LuaCall call);
    void resume(int nargs);
    void finishCall(int nresults, const Status& error);
    void resumeWith(const Resumer& push);
    void respondBroken(const Respond& respond) const;
    void pushRoomAndRequest(lua_State* co, const HttpRequest& request) const;
    // After a handler: the conn.presence of each connection it had, announced when it changed,
    // refused (logged, and set back) when it is not JSON or over kMaxPresenceInfoBytes.
    void readPresence(const char* handler);
    void readPresenceOf(lua_State* L, const std::string& id, int ref, const char* handler);
    std::string room() const;

    ShardContext& context_;
    ShardView& view_;
    Strand& strand_;
    std::weak_ptr<const void> owner_;
    std::shared_ptr<const Script> script_;

    std::unique_ptr<lua::State> lua_;
    Status scriptError_;       // why the script cannot run on this shard
    int moduleRef_ = 0;        // the table the script returned
    int roomRef_ = 0;          // the `room` table
    uint64_t generation_ = 0;  // bumped when a reload replaces the Lua state
    bool hasOnWrite_ = false;
    bool hasOnPresence_ = false;
    // The running script loaded and has no onBeforeConnect. Any thread reads it; the strand writes it.
    std::atomic<bool> admitsAll_{false};
    std::map<std::string, int> connections_;  // connection id -> its conn table in the registry
    std::deque<LuaCall> calls_;
    std::optional<Running> running_;
    std::optional<Result<HistoryPage>> history_;  // for the handler waiting in room:history
    std::vector<std::string> callers_;            // of the running handler, see callers()
    // Connections whose conn table the running handler had, for readPresence.
    std::set<std::string> touched_;
    bool touchedAll_ = false;
    std::map<std::string, std::string> presence_;  // connection id -> its conn.presence as announced (JSON)
};

}  // namespace partyline
