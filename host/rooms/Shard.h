// Shard: the copy of one room that runs on this node.
//
// A shard owns the room's sandboxed Lua state, its local connections and its
// subscription to the room's log. It publishes writes to the log and delivers
// to its connections only what comes back from the log, in log order, once:
// it tracks the last sequence it delivered and fills any gap from the log
// before delivering a newer write.
//
// Threads: the public methods may be called from any thread; each posts a
// task to the shard's strand. Everything else, the Lua state above all, is
// touched only on that strand. One task runs on a bus thread instead, when
// the strand is idle (Strand::tryRun): delivering the log's next write, which
// neither blocks nor runs Lua. Lua handlers run one at a time: a handler that
// waits (room:broadcast waits for the log's acknowledgement) holds back the
// next handler, but not deliveries to connections.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus/Bus.h"
#include "bus/KeyValue.h"
#include "config/Config.h"
#include "core/Histogram.h"
#include "rooms/Client.h"
#include "rooms/Executor.h"
#include "rooms/Http.h"
#include "rooms/Party.h"
#include "rooms/Timer.h"

struct lua_State;

namespace partyline {

namespace lua {
class State;
}

// What all shards of a node share. Outlives every shard.
struct ShardContext {
    Bus& bus;
    Executor& executor;
    Timer& timer;
    const Limits& limits;
    std::string nodeId;
    std::string subjectPrefix;
    // Blocking NATS calls (room.storage, alarms, room:history) run on this executor, never on
    // a shard's strand, so a slow or absent NATS server holds back only the
    // handler that waits for it. Null: scripts get an error for storage and
    // alarms; room:history reads on `executor` instead.
    Executor* blocking = nullptr;
    KeyValue* storage = nullptr;  // room.storage of parties with storage: true; null when none has it
    KeyValue* alarms = nullptr;   // every room's pending alarm; null: room:setAlarm is an error

    std::atomic<uint64_t> luaErrors{0};
    std::atomic<uint64_t> deliveries{0};  // frames handed to connections
    std::atomic<uint64_t> writesIn{0};    // writes received from the log
    std::atomic<uint64_t> gapsFilled{0};  // writes read back from the log to close a gap
    std::atomic<uint64_t> publishes{0};
    std::atomic<uint64_t> publishErrors{0};
    std::atomic<uint64_t> luaBudgetStops{0};  // handler calls stopped by the budget, time limit or memory cap
    std::atomic<int64_t> waitingWrites{0};    // writes from the log not yet delivered: the node's log lag
    Histogram publishSeconds{};               // a script's publish until the log's acknowledgement
    Histogram deliverySeconds{};              // the log storing a write until its frames are queued here
};

class Shard : public std::enable_shared_from_this<Shard> {
   public:
    using Clock = std::chrono::steady_clock;
    // Pushes the results of a blocking call (room.storage, alarms) onto the
    // waiting handler's coroutine; returns how many.
    using Resumer = std::function<int(lua_State* co)>;

    // Creates the shard and starts it: subscribe, read the log's position, load
    // the script, run onStart.
    static std::shared_ptr<Shard> create(ShardContext& context, const Party& party, std::string roomId,
                                         std::string subject);
    ~Shard();

    const std::string& roomId() const { return roomId_; }
    const std::string& partyName() const { return partyName_; }
    const std::string& subject() const { return subject_; }

    // Any thread.
    // `since`: the client's last seen sequence; it first gets every later write from the log.
    void connect(std::shared_ptr<Client> client, HttpRequest request, std::optional<uint64_t> since = {});
    void message(std::shared_ptr<Client> client, std::string payload, bool binary);
    void disconnect(std::shared_ptr<Client> client, uint16_t code, std::string reason);
    void request(HttpRequest request, Respond respond);
    // Runs onBeforeConnect for a WebSocket about to be accepted: `decide` gets
    // nothing to accept it, or the answer that refuses it. A script without
    // onBeforeConnect accepts at once, on the calling thread.
    void beforeConnect(HttpRequest request, std::function<void(std::optional<HttpResponse>)> decide);
    // Unsubscribes and closes the Lua state; connections still open are closed 1001.
    void stop();
    // Loads `script` into a new Lua state once the running handler finished;
    // on success it replaces the old state, keeps every connection (their
    // conn.state starts empty) and runs onStart again. A script that fails to
    // load leaves the running version in place and is logged.
    void reload(std::shared_ptr<const Script> script);
    // Runs onAlarm once the handlers before it finished. `done` runs on the
    // strand, once: true when the alarm was taken (onAlarm ran or failed, the
    // script has no onAlarm, or it does not load), false when the shard was
    // stopping and the alarm must be offered again.
    void alarm(std::function<void(bool taken)> done);
    // Reads the log's last sequence and delivers whatever this shard missed
    // (after NATS came back: live writes of that time were never delivered).
    void catchUp();

    // Any thread: waits until the shard knows the log's position, so a client
    // admitted after it returns true receives every write stored from then on.
    bool waitUntilReady(std::chrono::milliseconds timeout) const;

    size_t connectionCount() const { return connectionCount_.load(); }
    // Any thread: connections of this room on every node, as last announced
    // (each node announces its count on change and every few seconds).
    size_t totalCount() const { return totalCount_.load(); }
    // Any thread: the part of totalCount() on other nodes.
    size_t remoteCount() const { return remoteCount_.load(); }
    // Timer thread, about once a second: re-announce and forget silent nodes.
    void heartbeat();
    // True when the shard has had no connection and no work for `idle`.
    bool idleFor(std::chrono::seconds idle) const;

   private:
    friend struct RoomApi;
    friend struct StorageApi;
    friend struct AlarmApi;

    struct Connection {
        std::shared_ptr<Client> client;
        int ref = 0;         // the Lua conn table in the registry
        uint64_t after = 0;  // writes up to this sequence reached the client otherwise (replay, or before)
    };
    // A client catching up from the log before it joins the live fan-out.
    struct Replay {
        std::shared_ptr<Client> client;
        HttpRequest request;
        uint64_t next;  // the last sequence sent (or the client's since)
    };
    // One Lua handler call waiting for its turn.
    struct LuaCall {
        const char* handler;
        std::function<int(lua_State* co)> pushArgs;                                  // returns nargs
        std::function<void(lua_State* co, int nresults, const Status& error)> done;  // may be empty
    };
    struct Running {
        lua_State* co;
        int ref;
        LuaCall call;
    };
    // A page of the log for room:history.
    struct HistoryPage {
        std::vector<LogEntry> entries;
        bool truncated = false;  // retention dropped writes after the page's `since`
    };

    Shard(ShardContext& context, const Party& party, std::string roomId, std::string subject);

    // Strand only, below.
    void start();
    void subscribe();
    void readLogPosition();
    void onLogPosition(Result<uint64_t> last);
    void loadScript();
    Status loadState(const std::shared_ptr<const Script>& script);
    void swapScript(std::shared_ptr<const Script> script);
    void onLiveHere(LogEntry& entry);  // a bus thread, holding the strand (Strand::tryRun)
    void postLive(LogEntry entry);     // any thread: onLive on the strand, counted as waiting
    void onLive(LogEntry entry);
    void deliverPending();
    bool fillGap(uint64_t upTo);
    void deliver(const LogEntry& entry);
    void enqueue(LuaCall call);
    void pump();
    void startCall(LuaCall call);
    void resume(int nargs);
    void finishCall(int nresults, const Status& error);
    void touch() { lastActive_.store(Clock::now().time_since_epoch().count()); }
    void respondBroken(const Respond& respond) const;
    int pushConn(lua_State* L, const std::string& id);
    int pushRequest(lua_State* L, const HttpRequest& request);
    std::function<int(lua_State*)> roomAndRequest(HttpRequest request);
    void publish(std::string data, PublishOptions options);
    void resumeAfterPublish(Result<uint64_t> result);
    void readHistory(uint64_t since, size_t limit);
    static Result<HistoryPage> readHistoryPage(Bus& bus, const std::string& subject, uint64_t since,
                                               size_t limit, size_t maxBytes);
    void resumeAfterRead(Result<HistoryPage> page);
    // Runs `work` on context_.blocking; back on the strand, resumes the
    // running handler with what the Resumer it returned pushes.
    void callBlocking(std::function<Resumer()> work);
    void resumeWith(const Resumer& push);
    void closeAll(uint16_t code, std::string_view reason);
    void scheduleRetry(void (Shard::*what)());
    void subscribePresence();
    void onPresence(const std::string& message);
    void announce();
    void scheduleAnnounce();
    void recount();
    void catchUpNow();
    void join(const std::shared_ptr<Client>& client, HttpRequest request, uint64_t after);
    void startReplay(const std::shared_ptr<Client>& client, HttpRequest request, uint64_t since);
    void continueReplay(const std::shared_ptr<Replay>& job);
    void failReplay(const std::shared_ptr<Client>& client, const Status& why);

    ShardContext& context_;
    std::shared_ptr<const Script> script_;
    const std::string partyName_;
    const std::string roomId_;
    const std::string subject_;
    const std::string keyPrefix_;  // "<party token>.<room token>": the room's keys in storage and alarms
    const bool storageEnabled_;
    std::shared_ptr<Strand> strand_;

    std::unique_ptr<Subscription> subscription_;
    bool logReady_ = false;       // lastDelivered_ holds the log's position
    bool positionAsked_ = false;  // a lastSequenceAsync is on its way
    std::promise<void> readyPromise_;
    std::shared_future<void> ready_ = readyPromise_.get_future().share();
    uint64_t lastDelivered_ = 0;    // the last sequence delivered to connections
    std::deque<LogEntry> pending_;  // live writes not delivered yet (log not ready, or a gap not filled)
    bool retryScheduled_ = false;

    std::unique_ptr<lua::State> lua_;
    Status scriptError_;       // why the script cannot run on this shard
    int moduleRef_ = 0;        // the table the script returned
    int roomRef_ = 0;          // the `room` table
    uint64_t generation_ = 0;  // bumped when a reload replaces the Lua state
    bool hasOnWrite_ = false;
    // The running script loaded and has no onBeforeConnect: every WebSocket is admitted. Any
    // thread reads it; the strand writes it.
    std::atomic<bool> admitsAll_{false};
    std::deque<LuaCall> calls_;
    std::optional<Running> running_;
    uint64_t publishCounter_ = 0;
    std::optional<Result<HistoryPage>> history_;  // for the handler waiting in room:history
    bool stopped_ = false;

    std::map<std::string, Connection> connections_;
    std::map<std::string, std::shared_ptr<Replay>> replays_;

    // Presence: how many connections the room has on other nodes.
    struct Remote {
        size_t count;
        Clock::time_point seen;
    };
    std::string presenceSubject_;
    std::unique_ptr<Subscription> presence_;
    std::map<std::string, Remote> remotes_;
    bool announceScheduled_ = false;
    Clock::time_point lastAnnounce_;
    std::atomic<size_t> totalCount_{0};
    std::atomic<size_t> remoteCount_{0};
    std::atomic<size_t> connectionCount_{0};
    std::atomic<Clock::rep> lastActive_;
};

}  // namespace partyline
