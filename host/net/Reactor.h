// Reactor: one epoll thread that reads every open WebSocket of the node.
//
// CivetWeb would hold a worker thread per WebSocket for its whole life (and
// starts all of them up front: 20,000 threads took 12-30 s and 300 MB here),
// so once an upgrade is answered the connection's socket is handed to the
// Reactor and the CivetWeb worker is free again. The Reactor parses frames
// (FrameReader), answers pings, pings silent clients and drops dead ones,
// runs the close handshake, and hands complete messages to the connection's
// SessionHandler. Writes go through the connection's Outbox (the Sender).
// It also holds clients to their limits: a message rate that pings and pongs
// count against (1008), a deadline for a message begun (1008), and the node's
// InputBudget for bytes of unfinished messages (the newest holder is closed
// 1013).
//
// Must not: block, write to a socket other than through the Outbox, or call
// into Lua; handlers copy and post.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/InputBudget.h"
#include "net/Sender.h"
#include "net/SessionHandler.h"
#include "net/WebSocketProtocol.h"

namespace partyline::net {

class Reactor {
   public:
    // `maxPendingInputBytes`: the node's budget for bytes of unfinished messages, all
    // connections together (limits.max_pending_input_bytes).
    explicit Reactor(size_t maxPendingInputBytes = SIZE_MAX);
    // Closes every connection still open (1001), then joins the thread.
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Any thread. Takes the upgraded socket `fd` (the Reactor closes it when
    // the session ends) with its outbox and handler. The handler's calls
    // come on the Reactor's thread; onClosed exactly once.
    void adopt(int fd, std::shared_ptr<Outbox> outbox, std::unique_ptr<SessionHandler> handler,
               const SessionLimits& limits);

    // Any thread. Asks every connection to close with 1001 so clients reconnect elsewhere.
    void drain();

    // Any thread but the Reactor's. Returns once the Reactor has read what every socket held for
    // it when this was called (a Close a client sent just before, say), or after `timeout`.
    void settle(std::chrono::milliseconds timeout);

    // Any thread. Sessions open now.
    size_t size() const { return open_.load(); }

    struct Stats {
        uint64_t rateLimited = 0;      // closed 1008 for sending over limits.max_messages_per_second
        uint64_t pingTimeouts = 0;     // dropped for silence past limits.ping_timeout_seconds
        uint64_t messageTimeouts = 0;  // closed 1008 for a message unfinished past limits.message_timeout_ms
        uint64_t inputBudgetCloses = 0;  // closed 1013 past limits.max_pending_input_bytes
        size_t pendingInputBytes = 0;    // held in unfinished messages now
    };
    // Any thread.
    Stats stats() const {
        return {rateLimited_.load(), pingTimeouts_.load(), messageTimeouts_.load(), inputBudgetCloses_.load(),
                pendingInputBytes_.load()};
    }
    // Any thread: the stats as metrics.
    void writeMetrics(Metrics& out) const;

   private:
    struct Connection;
    void run();
    void takeAdopted();
    void readFrom(Connection& c);
    void handle(Connection& c, std::vector<FrameReader::Event>& events);
    // False, and the connection is closing 1008, when `c` has no token left for one more frame.
    bool withinRate(Connection& c);
    // After a read: what `c`'s reader holds goes into the budget, and its deadline starts or
    // ends; past the budget, the newest holders are closed 1013.
    void account(Connection& c);
    void release(Connection& c);
    void checkAll();
    void forgiveStall(std::chrono::steady_clock::time_point now);
    void check(Connection& c);
    // Queues a Close with `code` and `sentReason`; `reason` is the result onClosed reports, unless
    // an earlier cause was already recorded.
    void startClose(Connection& c, uint16_t code, std::string_view reason, std::string_view sentReason);
    void enterClosing(Connection& c);
    // Ends the session: detaches the outbox, closes the fd, calls onClosed.
    void finish(int fd);
    void wake();

    int epoll_ = -1;
    int wakeFd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> draining_{false};
    std::atomic<size_t> open_{0};
    std::atomic<uint64_t> rateLimited_{0};
    std::atomic<uint64_t> pingTimeouts_{0};
    std::atomic<uint64_t> messageTimeouts_{0};
    std::atomic<uint64_t> inputBudgetCloses_{0};
    std::atomic<size_t> pendingInputBytes_{0};
    InputBudget budget_;                                 // reactor thread only
    std::chrono::steady_clock::time_point lastChecked_;  // reactor thread only: the last checkAll
    std::mutex mutex_;                                   // guards adopted_; open_ changes under it too
    std::condition_variable allClosed_;                  // open_ went down: the destructor waits for 0
    std::vector<std::unique_ptr<Connection>> adopted_;   // handed over, not yet in epoll
    // settle() calls waiting for a round of epoll that began after them; under mutex_.
    std::vector<std::shared_ptr<std::promise<void>>> settles_;
    std::unordered_map<int, std::unique_ptr<Connection>> connections_;  // reactor thread only
    std::thread thread_;
};

}  // namespace partyline::net
