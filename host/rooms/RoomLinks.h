// RoomLinks: what one room may do to another room of the node's parties (room.parties in Lua):
// call its onRequest on this node, and write into its log.
//
// A call runs the target's onRequest in the target's own shard on this node (created if
// needed), one event at a time there as always; a write is published to the target room's log,
// as a built-in broadcast is, and answered once stored. A router party as target: a write goes
// into the log of every one of its shard rooms. It runs no Lua and never blocks: answers come
// on whatever thread produced them (a shard's strand, a bus thread).
//
// Must not: run Lua, block, or answer a call twice (the answer and its timer race; one wins).
//
// Threads: any thread. Built after the node's RoomRegistry and destroyed before it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "bus/Bus.h"
#include "core/Status.h"
#include "core/Timer.h"
#include "rooms/Http.h"
#include "rooms/Party.h"

namespace partyline {

class RoomRegistry;

class RoomLinks {
   public:
    RoomLinks(RoomRegistry& rooms, const Parties& parties, Bus& bus, Timer& timer, std::string nodeId)
        : rooms_(rooms), parties_(parties), bus_(bus), timer_(timer), nodeId_(std::move(nodeId)) {}

    // The target's onRequest answers `request`; `done` runs once, with its answer (a handler that
    // failed answers 500, as over HTTP) or an error: Timeout "timeout" when no answer came within
    // `timeout`, NotFound "unknown party 'x'", InvalidArgument for a router party or a room id
    // that cannot be a room.
    using Answered = std::function<void(Result<HttpResponse>)>;
    void request(const std::string& party, const std::string& room, HttpRequest request,
                 std::chrono::milliseconds timeout, Answered done);

    // Writes `data` into the target room's log (each shard room's, for a router); `done` gets the
    // sequences, in shard order, once every write is stored, or the first error.
    using Written = std::function<void(Result<std::vector<uint64_t>>)>;
    void broadcast(const std::string& party, const std::string& room, std::string data, bool binary,
                   Written done);

    bool isRouter(const std::string& party) const;
    // Before the RoomRegistry goes: every later call answers Unavailable "stopped" at once.
    void close();

   private:
    struct Call;

    RoomRegistry& rooms_;
    const Parties& parties_;
    Bus& bus_;
    Timer& timer_;
    const std::string nodeId_;
    std::atomic<uint64_t> writes_{0};  // for each write's message id
    std::shared_mutex mutex_;          // held shared by each call, exclusively by close()
    bool closed_ = false;
};

}  // namespace partyline
