// ClientLoop: one thread's share of the WebSocket clients, on one epoll.
//
// Provides the clients' whole life: opening at the connect rate (TCP connect, upgrade request
// offering partyline.v1, checking Sec-WebSocket-Accept), reading and checking every delivery
// (duplicates, order, latency), answering pings, sending the writes of its writer clients in ws
// mode, and closing with 1000 at the end.
// Must not: block (every socket is non-blocking), or be touched by another thread while it runs:
// the main thread reads only RunState's atomics until run() has returned and the thread is joined.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ClientFrames.h"
#include "Percentiles.h"
#include "RunState.h"

namespace partyline::bench {

// What one client has received from one writer.
struct StreamSeen {
    uint64_t lastCounter = 0;
    std::vector<uint64_t> bits;  // counters received
};

struct Client {
    enum class State : uint8_t { Waiting, Connecting, Handshake, Open, Closed, Failed };

    explicit Client(size_t maxMessageBytes) : reader(maxMessageBytes) {}

    uint32_t index = 0;
    uint32_t room = 0;
    uint32_t node = 0;
    int fd = -1;
    State state = State::Waiting;
    bool enveloped = false;         // the node chose partyline.v1
    bool wantsWritable = false;     // EPOLLOUT is registered
    bool openAtWriteStart = false;  // counted in the room's expected deliveries
    std::string key;                // Sec-WebSocket-Key
    std::string handshake;          // bytes of the upgrade answer so far
    std::string out;                // bytes not yet written
    size_t outSent = 0;
    ServerFrameReader reader;
    uint64_t lastSeq = 0;
    std::vector<StreamSeen> streams;  // by writer
    int32_t writer = -1;              // ws mode: this client's writer index
    uint64_t writes = 0;              // ws mode: frames it sent
    uint16_t closeCode = 0;           // the server's close code, 1006 when the socket just ended
};

struct ClientLoopResult {
    Percentiles latency;
    uint64_t duplicates = 0;
    uint64_t orderViolations = 0;
    uint64_t foreign = 0;
    uint64_t misrouted = 0;  // a write of another room
    uint64_t enveloped = 0;  // clients whose node chose partyline.v1
    uint64_t firstOpenNanos = 0, lastOpenNanos = 0;
    uint64_t lastDeliveryNanos = 0;
    uint64_t planned = 0;          // ws: this thread's share of rate x duration
    uint64_t maxSendLagNanos = 0;  // ws: how far behind its schedule a write left
    std::map<std::string, uint64_t> connectErrors;
    std::map<uint16_t, uint64_t> serverCloses;  // closes while the run went on, by code
    WriteLedger ledger;                         // ws: frames sent
};

class ClientLoop {
   public:
    // Owns the clients with index % threads == thread.
    ClientLoop(RunState& run, LiveCounters& live, uint32_t thread);
    ~ClientLoop();
    ClientLoop(const ClientLoop&) = delete;
    ClientLoop& operator=(const ClientLoop&) = delete;

    // The thread's body: returns once the phase is Stop and every socket is closed.
    void run();

    // After the thread is joined.
    const std::vector<Client>& clients() const { return clients_; }
    ClientLoopResult& result() { return result_; }

   private:
    class Sink;

    void openDueClients(uint64_t now);
    void startClient(Client& client);
    void onEvent(Client& client, uint32_t events, uint64_t now);
    void onConnected(Client& client);
    void readHandshake(Client& client, uint64_t now);
    void readFrames(Client& client);
    void finishHandshake(Client& client, std::string_view head);
    void deliver(Client& client, std::string_view payload, uint64_t now);
    void sendDueWrites(uint64_t now);
    void send(Client& client);
    void watchWritable(Client& client, bool on);
    void fail(Client& client, const std::string& why);
    void closeClient(Client& client, uint16_t code);
    void giveUpPending();
    void markOpenAtWriteStart();
    void closeAll();
    uint32_t nextMask();

    RunState& run_;
    LiveCounters& live_;
    const uint32_t thread_;
    int epoll_ = -1;
    std::vector<Client> clients_;
    std::vector<uint32_t> writers_;  // indexes into clients_ of this thread's writer clients
    size_t nextToOpen_ = 0;
    uint64_t connectStartNanos_ = 0;
    double connectRate_ = 0;  // this thread's share
    double writeRate_ = 0;    // this thread's share (ws mode)
    uint64_t writesDone_ = 0;
    size_t nextWriter_ = 0;
    bool openCounted_ = false;
    uint64_t random_;
    std::string readBuffer_;
    ClientLoopResult result_;
};

}  // namespace partyline::bench
