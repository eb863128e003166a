// RunState: what the main thread and the worker threads of one run share.
//
// Provides the run's phase (the main thread moves it forward, workers follow), the per-room
// counts the main thread needs to know when every expected delivery has arrived, the live
// counters behind the progress lines, and WriteLedger, the record of which writes count as
// expected.
// Must not: hold anything a worker changes without an atomic; everything else a worker owns is
// read by the main thread only after joining it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "Endpoint.h"
#include "Options.h"

namespace partyline::bench {

enum class Phase : int {
    Connect,  // clients open at --connect-rate
    Hold,     // every client open or given up; settle, RSS, health
    Write,    // writes go out at --rate
    Drain,    // no new writes; answers and deliveries still arrive
    Stop,     // close everything and return
};

// Counters a worker increments and the main thread reads while the run goes on.
struct alignas(64) LiveCounters {
    std::atomic<uint64_t> opened{0};
    std::atomic<uint64_t> failed{0};
    std::atomic<uint64_t> delivered{0};  // distinct writes of this run received, over all clients
    std::atomic<uint64_t> sent{0};
    std::atomic<uint64_t> acknowledged{0};
    std::atomic<uint64_t> inFlight{0};
};

struct RunState {
    RunState(const Options& opts, std::vector<Endpoint> nodes, std::string run);

    // Writers: HTTP connections (post) or writer clients (ws).
    uint32_t writerCount() const;
    // The highest counter a (room, writer) can reach in this run; larger ones are not ours.
    uint64_t maxCounter() const;
    std::string roomName(uint32_t room) const;
    // A path template with {party}, {room} and {id} replaced.
    std::string expandPath(const std::string& pattern, uint32_t room, uint32_t client) const;

    Phase phase() const { return phase_.load(std::memory_order_acquire); }
    void setPhase(Phase phase) { phase_.store(phase, std::memory_order_release); }

    const Options& options;
    const std::vector<Endpoint> endpoints;
    const std::string runId;                   // 8 hex digits, in every payload of this run
    std::atomic<uint64_t> writeStartNanos{0};  // set before the phase becomes Write
    // Per room: clients that opened (final once the phase leaves Connect), and writes that count
    // as expected (acknowledged POSTs, or frames sent).
    std::unique_ptr<std::atomic<uint64_t>[]> openedPerRoom;
    std::unique_ptr<std::atomic<uint64_t>[]> expectedWritesPerRoom;

   private:
    std::atomic<Phase> phase_{Phase::Connect};
};

// Which counters of each (room, writer) count as expected. Kept by the one thread that makes those
// writes; ledgers of several threads are merged after they are joined.
class WriteLedger {
   public:
    void add(uint32_t room, uint32_t writer, uint64_t counter);
    void merge(const WriteLedger& other);
    // The counter bits of one (room, writer), or nullptr when it made no expected write.
    const std::vector<uint64_t>* find(uint32_t room, uint32_t writer) const;
    // Calls f(room, writer, bits) for every (room, writer) with expected writes.
    template <typename F>
    void forEach(F f) const {
        for (const auto& [k, bits] : bits_) f(uint32_t(k >> 32), uint32_t(k), bits);
    }

   private:
    static uint64_t key(uint32_t room, uint32_t writer) { return uint64_t(room) << 32 | writer; }
    std::unordered_map<uint64_t, std::vector<uint64_t>> bits_;
};

// Sets bit `index` of a growable bitset; returns whether it was already set.
bool testAndSet(std::vector<uint64_t>& bits, uint64_t index);

}  // namespace partyline::bench
