// PostWriter: the writes of post mode, as HTTP/1.1 POSTs over keep-alive connections.
//
// Provides one thread that keeps --http-conns connections to the nodes (connection i to node
// i mod U), sends each write as soon as the schedule (--rate) allows and a connection is free,
// one request in flight per connection, and records which writes the nodes acknowledged (2xx)
// and how long each acknowledgement took. Connection i is writer i; its k-th request goes to room
// (i + k) mod K, so every writer writes to every room in turn. With --batch a request carries up to
// B writes of one room, one per line (the node's batch broadcast), acknowledged together.
// Must not: pipeline (an answer is matched to its request by being the next one), retry a write
// (a retried write could be stored twice and would hide a failure), or block.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "Percentiles.h"
#include "RunState.h"

namespace partyline::bench {

struct PostWriterResult {
    Percentiles ackLatency;
    uint64_t planned = 0;  // rate x duration
    uint64_t sent = 0;
    uint64_t acknowledged = 0;
    uint64_t failed = 0;
    uint64_t firstSendNanos = 0, lastAckNanos = 0;
    uint64_t maxSendLagNanos = 0;  // how far behind its schedule a write left (no free connection)
    std::map<std::string, uint64_t> failures;  // "HTTP 503", "timeout", "connection closed", ...
    WriteLedger ledger;                        // acknowledged writes
};

class PostWriter {
   public:
    PostWriter(RunState& run, LiveCounters& live);
    ~PostWriter();
    PostWriter(const PostWriter&) = delete;
    PostWriter& operator=(const PostWriter&) = delete;

    // The thread's body: connects at once, writes while the phase is Write, then waits for the
    // answers still due (at most --request-timeout) and returns.
    void run();

    // After the thread is joined.
    const PostWriterResult& result() const { return result_; }

   private:
    struct Connection {
        uint32_t index = 0;
        uint32_t node = 0;
        int fd = -1;
        enum class State : uint8_t { Down, Connecting, Idle, Busy } state = State::Down;
        bool wantsWritable = false;
        std::string out;
        size_t outSent = 0;
        std::string in;
        uint64_t retryAtNanos = 0;
        uint32_t nextRoom = 0;
        // The request in flight: writes firstCounter .. firstCounter + writes - 1 of one room.
        uint32_t room = 0;
        uint64_t firstCounter = 0;
        uint32_t writes = 0;
        uint64_t sentNanos = 0;
    };

    void connect(Connection& c, uint64_t now);
    void onEvent(Connection& c, uint32_t events, uint64_t now);
    void sendDueWrites(uint64_t now);
    void issue(Connection& c, uint32_t writes);
    void flush(Connection& c);
    void readAnswer(Connection& c, uint64_t now);
    void finish(Connection& c, int status, bool keepAlive, uint64_t now);
    void drop(Connection& c, const std::string& why, uint64_t now);
    void watch(Connection& c, uint32_t events);
    void expireRequests(uint64_t now);
    uint64_t& counterOf(uint32_t connection, uint32_t room);

    RunState& run_;
    LiveCounters& live_;
    int epoll_ = -1;
    std::vector<Connection> connections_;
    std::vector<uint32_t> idle_;
    std::vector<uint64_t> counters_;  // per (connection, room): the last counter used
    std::vector<std::string> paths_;  // per room
    std::string readBuffer_;
    PostWriterResult result_;
};

}  // namespace partyline::bench
