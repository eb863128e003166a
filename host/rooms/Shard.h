// Shard: the copy of one room that runs on this node — the log-and-fan-out
// machine.
//
// A shard follows the room's log: it publishes writes to the log and delivers
// to its connections only what comes back from the log, in log order, once:
// it tracks the last sequence it delivered and fills any gap from the log
// before delivering a newer write. A client that reconnects with the last
// sequence it saw is replayed from the log before it joins the live fan-out.
// The room's script runs in its HandlerQueue, and who is in the room on every
// node (ids, conn.presence, counts) comes from its Presence; the shard itself
// runs no Lua.
//
// Threads: the public methods may be called from any thread; each posts a
// task to the shard's strand. Everything else, the Lua state above all, is
// touched only on that strand. One task runs on a bus thread instead, when
// the strand is idle (Strand::tryRun): delivering the log's next write, which
// neither blocks nor runs Lua.
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

#include "bus/Subject.h"
#include "net/Sender.h"
#include "rooms/Client.h"
#include "rooms/ConnectionIds.h"
#include "rooms/HandlerQueue.h"
#include "rooms/Http.h"
#include "rooms/Party.h"
#include "rooms/Presence.h"
#include "rooms/ShardContext.h"
#include "rooms/ShardView.h"

namespace partyline {

class Shard final : public std::enable_shared_from_this<Shard>, private ShardView {
   public:
    using Clock = std::chrono::steady_clock;

    // Creates the shard and starts it: subscribe, read the log's position, load
    // the script, run onStart.
    static std::shared_ptr<Shard> create(ShardContext& context, const Party& party, std::string roomId,
                                         RoomSubjects subjects);
    ~Shard();

    const std::string& roomId() const override { return roomId_; }
    const std::string& partyName() const override { return partyName_; }
    const RoomSubjects& subjects() const { return subjects_; }
    const std::map<std::string, std::string>& env() const override { return *env_; }

    // Any thread, below.
    // `since`: the client's last seen sequence; it first gets every later write from the log.
    // `epoch`: the log generation that sequence is of (empty: not given); from another
    // generation, the client is told its writes are gone and gets the whole log.
    void connect(std::shared_ptr<Client> client, HttpRequest request, std::optional<uint64_t> since = {},
                 std::string epoch = {});
    // Any thread: the generation of the room's log (what a partyline.v1 client is welcomed with).
    std::string logEpoch() const { return context_.bus.epoch(subjects_.log); }
    // A frame the client sent: onMessage.
    void receive(std::shared_ptr<Client> client, std::string payload, bool binary);
    void disconnect(std::shared_ptr<Client> client, uint16_t code, std::string reason);
    void request(HttpRequest request, Respond respond);
    // Runs onBeforeConnect for a WebSocket about to be accepted: `decide` gets
    // nothing to accept it, or the answer that refuses it. A script without
    // onBeforeConnect accepts at once, on the calling thread.
    void beforeConnect(HttpRequest request, std::function<void(std::optional<HttpResponse>)> decide);
    // Unsubscribes and closes the Lua state; connections still open are closed 1001.
    void stop();
    // Loads `script` once the running handler finished (HandlerQueue::reload).
    void reload(std::shared_ptr<const Script> script);
    // Runs onAlarm once the handlers before it finished. `done` runs on the
    // strand, once: true when the alarm was taken (onAlarm ran or failed, the
    // script has no onAlarm, or it does not load), false when the shard was
    // stopping and the alarm must be offered again.
    void runAlarm(std::function<void(bool taken)> done);
    // Reads the log's last sequence and delivers whatever this shard missed
    // (after NATS came back: live writes of that time were never delivered).
    void catchUp();

    // Any thread: waits until the shard knows the log's position, so a client
    // admitted after it returns true receives every write stored from then on.
    bool waitUntilReady(std::chrono::milliseconds timeout) const;

    // Any thread: who holds which connection id here; a connection claims its id before it
    // connects and releases it once it is gone.
    ConnectionIds& ids() { return ids_; }

    // Any thread: connections of this shard, those still replaying included.
    size_t connectionCount() const { return connectionCount_.load(); }
    // Any thread: connections of this room on every node, as last announced
    // (each node announces its count on change and every few seconds).
    size_t totalCount() const override { return presence_.totalCount(); }
    // Any thread: the part of totalCount() on other nodes.
    size_t remoteCount() const { return presence_.remoteCount(); }
    // Any thread: `answer` gets every connection of the room on every node (Presence::snapshot),
    // on the shard's strand.
    void presenceSnapshot(std::function<void(std::vector<PresenceEntry>)> answer);
    // Any thread: `answer` gets the room's connection count on each node (Presence::countSnapshot).
    void presenceCounts(std::function<void(std::map<std::string, size_t>)> answer);
    // Timer thread, about once a second: re-announce, forget silent nodes, follow the log's epoch.
    void heartbeat();
    // Any thread: true when the shard has had no connection and no work for `idle`.
    bool idleFor(std::chrono::seconds idle) const;

   private:
    // "party/room": the room field of this shard's log lines.
    std::string logName() const { return partyName_ + "/" + roomId_; }
    struct Connection {
        std::shared_ptr<Client> client;
        uint64_t after = 0;     // writes up to this sequence reached the client otherwise (replay, or before)
        std::string address{};  // the client's address, which its writes are charged to
    };
    // A client catching up from the log before it joins the live fan-out.
    struct Replay {
        std::shared_ptr<Client> client;
        HttpRequest request;
        uint64_t next;  // the last sequence sent (or the client's since)
    };

    Shard(ShardContext& context, const Party& party, std::string roomId, RoomSubjects subjects);

    // ShardView, for the bindings: strand only, inside a handler call.
    const std::string& nodeId() const override { return context_.nodeId; }
    const std::string& keyPrefix() const override { return subjects_.keyPrefix; }
    const Limits& limits() const override { return context_.limits; }
    KeyValue* storage() const override { return storage_; }
    KeyValue* alarms() const override { return context_.alarms; }
    net::Fetcher* fetcher() const override { return context_.fetcher; }
    const std::shared_ptr<const net::FetchPolicy>& fetchAllow() const override { return fetchAllow_; }
    RoomLinks* links() const override { return context_.links; }
    Client* client(const std::string& id) const override;
    std::vector<PresenceEntry> presence() const override { return presence_.entries(); }
    bool presenceCountsOnly() const override { return presence_.countsOnly(); }
    void setPresence(const std::string& id, std::string info) override {
        presence_.localInfo(id, std::move(info));
    }
    void publish(std::string data, PublishOptions options) override;
    void readHistory(uint64_t since, size_t limit) override;
    HandlerQueue& handlers() override { return handlers_; }

    // Strand only, below.
    // Charges a write of the running handler to the address of the connection whose message it
    // handles; past limits.max_write_bytes_per_second_per_ip the connection is closed 1008.
    Status chargeWrite(size_t bytes);
    void start();
    void subscribe();
    void readLogPosition();
    void handleLogPosition(Result<uint64_t> last, const std::string& epoch);
    // Compares the log's generation with the one this shard follows; beginAgain when it changed.
    void followEpoch();
    void beginAgain(std::string epoch);
    void scheduleRetry(void (Shard::*what)());
    void catchUpNow();
    // A live write from the log, in three steps: handleLiveNow on a bus thread holding the
    // strand (Strand::tryRun) delivers it at once when nothing waits before it; else
    // handleLiveLater (any thread) posts handleLive to the strand, counted as waiting.
    void handleLiveNow(LogEntry& entry);
    void handleLiveLater(LogEntry entry);
    void handleLive(LogEntry entry);
    void deliverPending();
    bool fillGap(uint64_t upTo);
    // The write in the client's shape; a multiplexed client's frame names this room.
    FramePtr frameOf(const Client& client, const LogEntry& entry) const;
    // Fans one write out to the connections, then queues onWrite. Strand, or handleLiveNow's thread.
    void deliver(const LogEntry& entry);
    // Writes what cork_ holds back. Strand, or handleLiveNow's thread.
    void flushCork();
    // Any thread: the shard had work now (idleFor).
    void touch() { lastActive_.store(Clock::now().time_since_epoch().count()); }
    void closeAll(uint16_t code, std::string_view reason);
    void join(const std::shared_ptr<Client>& client, HttpRequest request, uint64_t after);
    void startReplay(const std::shared_ptr<Client>& client, HttpRequest request, uint64_t since);
    void continueReplay(const std::shared_ptr<Replay>& job);
    void failReplay(const std::shared_ptr<Client>& client, const Status& why);

    ShardContext& context_;
    const std::string partyName_;
    const std::string roomId_;
    const RoomSubjects subjects_;
    const std::shared_ptr<const std::map<std::string, std::string>> env_;  // the party's, shared
    KeyValue* const storage_;                                   // null unless the party has storage: true
    const std::shared_ptr<const net::FetchPolicy> fetchAllow_;  // the party's, shared; null: none
    std::shared_ptr<Strand> strand_;
    // Declared before the log subscription, which calls into the shard: destroyed after it.
    HandlerQueue handlers_;
    Presence presence_;

    std::unique_ptr<Subscription> subscription_;
    bool logReady_ = false;       // lastDelivered_ holds the log's position
    bool positionAsked_ = false;  // a lastSequenceAsync is on its way
    std::promise<void> readyPromise_;
    std::shared_future<void> ready_ = readyPromise_.get_future().share();
    uint64_t lastDelivered_ = 0;    // the last sequence delivered to connections
    std::string epoch_;             // the log generation lastDelivered_ is of
    std::deque<LogEntry> pending_;  // live writes not delivered yet (log not ready, or a gap not filled)
    bool retryScheduled_ = false;
    uint64_t publishCounter_ = 0;
    bool stopped_ = false;

    ConnectionIds ids_;
    std::map<std::string, Connection> connections_;
    // connections_ in its order, for deliver(): a fan-out walks a vector, not the tree. Made
    // again on the first delivery after a join or a leave (std::map's elements stay put).
    std::vector<std::map<std::string, Connection>::value_type*> fanout_;
    bool fanoutStale_ = true;
    // Outboxes whose frames wait for the end of a burst of live writes (LogEntry::moreQueued),
    // to go out in one write per socket: flushCork() writes them on this thread.
    net::SendBatch cork_;
    size_t corked_ = 0;       // deliveries held in cork_
    size_t corkedBytes_ = 0;  // their frames' bytes, one frame per delivery
    std::map<std::string, std::shared_ptr<Replay>> replays_;
    std::atomic<size_t> connectionCount_{0};
    std::atomic<Clock::rep> lastActive_;
};

}  // namespace partyline
