// RawSender: the fan-out floor. A WebSocket server with nothing behind it (no NATS, no Lua, no
// partyline rooms): what loopback TCP itself costs per delivery, measured with partyline-bench.
//
// One epoll thread accepts every connection. A WebSocket upgrade gets its 101 answer (the accept
// key from net/WebSocketProtocol, no subprotocol) and the client joins the one room there is. A
// `POST .../broadcast` is answered 200 `{"seq":N}` and its body goes, encoded once as a text
// frame, to every open client: the same bytes written to each socket, once per round of epoll
// events (the frames of several broadcasts in one round go out in one send, as the node's Sender
// batches what queued up meanwhile). `GET /healthz` answers 200.
// Anything else is refused with a status that says why (400, 404, 405, 413, 415, 431), and a bad
// frame from a client with the close code net::FrameReader gives.
// Threads: run() on one thread; stop() from any thread. Must not: block (every socket is
// non-blocking), or do anything per delivery beyond one send() of the shared frame.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace partyline::bench {

struct RawSenderLimits {
    uint32_t maxClients = 20000;        // the bench's largest runs, and the node's max_connections
    size_t maxRequestHeadBytes = 8192;  // an upgrade or POST head is a few hundred bytes
    size_t maxBodyBytes = 1 << 20;      // the node's default max_message_bytes
    size_t maxPendingBytes = 16 << 20;  // unsent frames of one slow client before it is closed (1013)
};

struct RawSenderCounts {
    std::atomic<uint64_t> upgrades{0};    // 101 answers
    std::atomic<uint64_t> broadcasts{0};  // POSTs answered 200
    std::atomic<uint64_t> frames{0};      // frames handed to sockets (deliveries)
    std::atomic<uint64_t> refused{0};     // requests answered 4xx, connections 503
    std::atomic<uint64_t> dropped{0};     // clients closed for falling behind
};

class RawSender {
   public:
    explicit RawSender(RawSenderLimits limits);
    ~RawSender();
    RawSender(const RawSender&) = delete;
    RawSender& operator=(const RawSender&) = delete;

    // Binds and listens on host:port (port 0: the kernel picks one). Returns the bound port, or 0
    // with `error` set.
    uint16_t listen(const std::string& host, uint16_t port, std::string& error);

    // The epoll loop, on the calling thread, until stop(). Closes every socket before returning.
    void run();
    // Any thread (a signal handler too: it only writes an eventfd).
    void stop();

    const RawSenderCounts& counts() const { return counts_; }

   private:
    struct Connection;

    void accept();
    void onEvent(Connection& c, uint32_t events);
    void readHttp(Connection& c);
    void drain(Connection& c);
    void finish(Connection& c);
    void handleRequest(Connection& c, std::string_view head);
    void readFrames(Connection& c);
    void broadcast(std::string_view body);
    void answer(Connection& c, int status, std::string_view reason, std::string_view body, bool close);
    void refuse(Connection& c, int status, std::string_view reason, std::string_view why);
    void queue(Connection& c, std::string_view bytes);
    void flush(Connection& c);
    void watchWritable(Connection& c, bool on);
    void closeConnection(Connection& c);

    const RawSenderLimits limits_;
    int listener_ = -1;
    int epoll_ = -1;
    int wake_ = -1;  // eventfd: stop()
    std::unordered_map<int, std::unique_ptr<Connection>> connections_;
    std::vector<Connection*> clients_;  // open WebSockets, in fan-out order
    std::vector<Connection*> dirty_;    // clients with frames appended during this round of events
    std::vector<int> closing_;          // closed during this round of events, freed after it
    std::string readBuffer_;
    uint64_t seq_ = 0;
    RawSenderCounts counts_;
};

}  // namespace partyline::bench
